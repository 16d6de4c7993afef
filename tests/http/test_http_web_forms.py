"""Website contact forms over HTTP, through Flask and Django: the admin routes, and the
public post route refusing the five abuse cases with nothing stored."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from crm_client import Client, Reply

from opencrm import CRM, User
from opencrm.http import API, Headers, Request

FORM = "application/x-www-form-urlencoded"
THANKS = "https://www.example.com/thanks"
ACTION = "https://crm.example/crm/web-forms/post"


@pytest.fixture
def form(api: Client) -> dict[str, Any]:
    made = api.as_("admin").post(
        "/web-forms",
        json={
            "name": "Contact us",
            "fields": ["last_name", "email", "about"],
            "required": ["email"],
            "tags": ["web"],
            "notify": ["alice"],
            "return_urls": [THANKS],
            "rate_limit": 3,
        },
    )
    assert made.status == 201, made.json
    assert made.headers["Location"] == f"/crm/web-forms/{made.json['id']}"
    return made.json  # type: ignore[no-any-return]


def send(
    api: Client, form: dict[str, Any], headers: dict[str, str] | None = None, **values: str
) -> Reply:
    fields = {"opencrm_form": str(form["id"]), "opencrm_key": form["key"], **values}
    return api.as_(None).post(
        "/web-forms/post",
        data=urlencode(fields).encode(),
        headers={"Content-Type": FORM, **(headers or {})},
    )


def stored(api: Client) -> tuple[int, int]:
    admin = api.as_("admin")
    contacts = admin.get("/contacts", query={"count": "true"}).json["count"]
    return contacts, len(admin.get("/history-events").json["items"])


ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}


def test_the_admin_routes(api: Client, form: dict[str, Any]) -> None:
    admin = api.as_("admin")
    one = f"/web-forms/{form['id']}"
    assert form["fields"] == ["first_name", "last_name", "email", "about"]
    assert [f["id"] for f in admin.get("/web-forms").json["items"]] == [form["id"]]
    assert admin.get(one).json == form
    patched = admin.patch(one, json={"name": "Write to us"})
    assert (patched.status, patched.json["name"]) == (200, "Write to us")
    rotated = admin.post(f"{one}/rotate-key")
    assert rotated.status == 200
    assert rotated.json["key"] != form["key"]
    snippet = admin.get(f"{one}/snippet", query={"action": ACTION}).json
    assert snippet["form_id"] == form["id"]
    assert f'action="{ACTION}"' in snippet["html"]
    assert f'value="{rotated.json["key"]}"' in snippet["html"]
    assert admin.get(f"{one}/snippet").status == 422
    assert api.get("/web-forms").status == 403
    assert api.get(f"{one}/snippet", query={"action": ACTION}).status == 403
    assert admin.delete(one).status == 204
    assert admin.get(one).status == 404


def test_a_post_creates_the_contact_and_redirects(api: Client, form: dict[str, Any]) -> None:
    reply = send(api, form, **ANN, about="Call me")
    assert reply.status == 303, reply.body
    assert reply.headers["Location"] == THANKS
    (ann,) = api.as_("admin").get("/contacts").json["items"]
    assert (ann["first_name"], ann["tags"]) == ("Ann", ["web"])
    # the same person again: a history event on the contact, no twin
    assert send(api, form, **ANN, about="Again").status == 303
    assert stored(api) == (1, 2)


def test_without_return_urls_a_thank_you_page(api: Client) -> None:
    form = api.as_("admin").post("/web-forms", json={"name": "Plain"}).json
    reply = send(api, form, first_name="Ann")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"Thank you" in reply.body


def test_a_cross_site_browser_post_is_taken(api: Client, form: dict[str, Any]) -> None:
    """The form lives on another site; the visitor may even hold a CRM session cookie."""
    cross = {"Origin": "https://www.example.com", "Cookie": "sessionid=abc"}
    assert send(api, form, cross, **ANN).status == 303
    assert stored(api) == (1, 1)


def test_the_five_abuse_cases_are_refused_with_nothing_stored(
    api: Client, form: dict[str, Any]
) -> None:
    admin = api.as_("admin")
    old = dict(form)
    admin.post(f"/web-forms/{form['id']}/rotate-key")
    # 1. a stolen old key
    reply = send(api, old, **ANN)
    assert (reply.status, reply.json["code"]) == (403, "permission_denied")
    form = admin.get(f"/web-forms/{form['id']}").json
    # 2. an oversized post
    reply = send(api, form, **ANN, about="x" * 70_000)
    assert (reply.status, reply.json["code"]) == (413, "too_large")
    reply = send(api, form, **ANN, about="x" * 30_000)
    assert (reply.status, reply.json["errors"]) == (
        422,
        [{"field": "form", "message": "a post may hold at most 20000 characters"}],
    )
    # 3. a return URL on another host
    reply = send(api, form, **ANN, opencrm_return="https://evil.example/")
    assert (reply.status, reply.json["errors"][0]["field"]) == (422, "opencrm_return")
    # 4. the honeypot: answered like a success
    reply = send(api, form, **ANN, opencrm_homepage="http://spam.example")
    assert (reply.status, reply.headers["Location"]) == (303, THANKS)
    assert stored(api) == (0, 0)
    # 5. the rate limit: 3 posts an hour from one address, and the three above that came
    # with the form's key (the 422s and the honeypot) count
    reply = send(api, form, **ANN)
    assert reply.status == 429
    assert int(reply.headers["Retry-After"]) > 0
    assert stored(api) == (0, 0)


def test_only_form_posts_are_taken(api: Client, form: dict[str, Any]) -> None:
    reply = api.as_(None).post("/web-forms/post", json={"opencrm_form": form["id"]})
    assert reply.status == 415
    assert stored(api) == (0, 0)


# --- the client address behind proxies --------------------------------------------------------


def _request(client: str, forwarded: str | None = None) -> Request:
    headers = Headers({"X-Forwarded-For": forwarded} if forwarded else {})
    return Request(method="POST", path="/web-forms/post", headers=headers, client=client)


def test_the_client_address_trusts_only_configured_proxies(crm: CRM) -> None:
    plain = API(crm)
    assert plain.client_address(_request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"
    proxied = API(crm, trusted_proxies=["10.0.0.0/8", "192.0.2.1"])
    # the right-most address no trusted proxy added is the client; what the client itself
    # put in the header (left of it) is not believed
    assert (
        proxied.client_address(_request("10.1.2.3", "6.6.6.6, 198.51.100.1, 192.0.2.1"))
        == "198.51.100.1"
    )
    assert proxied.client_address(_request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"
    assert proxied.client_address(_request("10.1.2.3")) == "10.1.2.3"


def test_users_are_not_needed_to_post(users: dict[str, User]) -> None:
    from opencrm.http.routes import ROUTES

    public = sorted((r.method, r.path) for r in ROUTES if r.public and r.method == "POST")
    assert ("POST", "/web-forms/post") in public
