"""VoIP over HTTP, through Flask and Django: admin routes, calls, and the public webhooks
signed with twilio's RequestValidator (valid, tampered, missing, wrong port, behind a
proxy, replayed, out of order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from crm_client import Client, Reply

from opencrm import CRM
from voip_fakes import ACCOUNT, PUBLIC, TOKEN, FakeTwilio, TwilioAt, running_fake, sign

CALLER = "+14155550100"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from running_fake()


@pytest.fixture
def web_crm(engine, directory, fake) -> CRM:  # type: ignore[no-untyped-def]
    return CRM(engine, load_entrypoints=False, directory=directory, plugins=[TwilioAt(fake)])


@pytest.fixture
def line(api: Client, fake: FakeTwilio) -> dict[str, Any]:
    admin = api.as_("admin")
    connected = admin.put(
        "/voip/account",
        json={"account_sid": ACCOUNT, "auth_token": TOKEN, "public_url": PUBLIC},
    )
    assert connected.status == 200, connected.json
    bought = admin.post("/voip/numbers", json={"number": fake.available[0], "alias": "Sales"})
    assert bought.status == 201, bought.json
    added = admin.post("/voip/operators", json={"number": bought.json["id"], "user": "alice"})
    assert added.status == 201, added.json
    assert api.put("/voip/status", json={"status": "online"}).json["status"] == "online"
    return bought.json  # type: ignore[no-any-return]


def webhook(
    api: Client,
    kind: str,
    params: dict[str, str],
    query: dict[str, str] | None = None,
    *,
    signed_for: str | None = None,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    qs = f"?{urlencode(query)}" if query else ""
    url = signed_for or f"{PUBLIC}/voip/webhooks/{kind}{qs}"
    sent = {"Content-Type": FORM, **(headers or {})}
    sent["X-Twilio-Signature"] = sign(url, params) if signature is None else signature
    return api.as_(None).post(
        f"/voip/webhooks/{kind}", data=urlencode(params).encode(), headers=sent, query=query
    )


def test_the_admin_routes(api: Client, fake: FakeTwilio, line: dict[str, Any]) -> None:
    admin = api.as_("admin")
    account = admin.get("/voip/account").json
    assert account["account_sid"] == ACCOUNT
    assert "auth_token" not in account
    assert TOKEN not in admin.get("/voip/account").body.decode()
    assert api.get("/voip/account").status == 403
    offered = admin.get("/voip/available-numbers", query={"contains": "0007"}).json["items"]
    assert [n["number"] for n in offered] == ["+15005550007"]
    assert {n["sid"] for n in admin.get("/voip/owned-numbers").json["items"]} == {line["sid"]}
    patched = admin.patch(
        f"/voip/numbers/{line['id']}",
        json={"working_hours": {"start": "08:00", "end": "20:00", "timezone": "UTC"}},
    )
    assert patched.json["working_hours"] == {"start": "08:00", "end": "20:00", "timezone": "UTC"}
    assert admin.patch(f"/voip/numbers/{line['id']}", json={"queue_size": -1}).status == 422
    assert (
        admin.patch("/voip/operators/alice", json={"recording": False}).json["recording"] is False
    )
    assert api.patch("/voip/operators/alice", json={"recording": True}).status == 403
    assert api.get("/voip/operators/alice").json["status"] == "online"
    assert [o["user_id"] for o in admin.get("/voip/operators").json["items"]] == ["alice"]
    assert admin.post("/voip/numbers", json={"alias": "x"}).status == 422
    assert admin.delete("/voip/operators/alice").status == 204
    assert admin.delete(f"/voip/numbers/{line['id']}", query={"release": "true"}).status == 204
    assert fake.owned == {}
    assert admin.delete("/voip/account").status == 204


def test_a_call_through_the_webhooks(api: Client, fake: FakeTwilio, line: dict[str, Any]) -> None:
    sid = "CA" + "1" * 32
    voice = {"CallSid": sid, "From": CALLER, "To": line["number"], "CallStatus": "ringing"}
    answered = webhook(api, "voice", voice)
    assert answered.status == 200, answered.body
    assert answered.headers["Content-Type"].startswith("application/xml")
    assert b"<Enqueue" in answered.body
    leg = next(s for s, c in fake.calls.items() if c.get("to") == "client:alice")
    assert webhook(api, "connect", {"CallSid": leg}, {"call": sid}).status == 200
    assert webhook(api, "dequeued", {"CallSid": sid}, {"leg": leg}).status == 200
    fake.bill(sid, duration=20, price="-0.0100")
    done = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "20"}
    assert webhook(api, "status", done).status == 200
    # Replayed and out of order: nothing changes.
    assert webhook(api, "status", done).status == 200
    assert webhook(api, "status", {"CallSid": sid, "CallStatus": "ringing"}).status == 200
    assert webhook(api, "voice", voice).status == 200
    calls = api.get("/voip/calls", query={"count": "true"}).json
    assert calls["count"] == 1
    (call,) = calls["items"]
    assert (call["status"], call["answered_by"], call["duration"]) == ("completed", "alice", 20)
    assert call["cost"] == {"amount": "0.0100", "currency": "USD"}
    assert api.get(f"/voip/calls/{call['id']}").json["sid"] == sid
    assert api.as_("bob").get(f"/voip/calls/{call['id']}").status == 404
    assert api.get("/voip/calls/missed").json["items"] == []
    assert api.get("/voip/calls", query={"kind": "missed"}).json["items"] == []


def test_webhook_signatures(api: Client, line: dict[str, Any]) -> None:
    params = {"CallSid": "CA" + "2" * 32, "From": CALLER, "To": line["number"]}
    url = f"{PUBLIC}/voip/webhooks/voice"
    refused = [
        webhook(api, "voice", {**params, "From": "+14155550999"}, signature=sign(url, params)),
        webhook(api, "voice", params, signature=""),
        webhook(
            api, "voice", params, signed_for="https://crm.example.com:8443/crm/voip/webhooks/voice"
        ),
        webhook(api, "voice", params, signed_for="http://localhost/crm/voip/webhooks/voice"),
    ]
    assert [r.status for r in refused] == [403, 403, 403, 403]
    assert refused[0].json["code"] == "permission_denied"
    assert api.as_("admin").get("/voip/calls").json["items"] == []
    # Behind a proxy the request reaches the app as http://localhost with forwarded headers;
    # the signature is checked against the configured public URL (here with :443 written).
    proxied = webhook(
        api,
        "voice",
        params,
        signed_for="https://crm.example.com:443/crm/voip/webhooks/voice",
        headers={"X-Forwarded-Host": "crm.example.com", "X-Forwarded-Proto": "https"},
    )
    assert proxied.status == 200, proxied.body
    unknown = webhook(api, "status", {"CallSid": "CA" + "3" * 32, "CallStatus": "completed"})
    assert unknown.status == 404
    assert webhook(api, "nonsense", params).status == 404
    wrong_type = api.as_(None).post(
        "/voip/webhooks/voice", json=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    assert wrong_type.status == 415


def test_webhooks_fail_closed_without_an_account(api: Client) -> None:
    params = {"CallSid": "CA" + "4" * 32, "From": CALLER, "To": "+15005550006"}
    assert webhook(api, "voice", params).status == 403


def test_outgoing_calls_over_http(api: Client, fake: FakeTwilio, line: dict[str, Any]) -> None:
    started = api.post("/voip/calls", json={"to": "+44 20 7946 0958"})
    assert started.status == 201, started.json
    assert started.headers["Location"].endswith(f"/voip/calls/{started.json['id']}")
    assert fake.calls[started.json["sid"]]["to"] == "client:alice"
    assert api.as_("bob").post("/voip/calls", json={"to": "+442079460958"}).status == 403
