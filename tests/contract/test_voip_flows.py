"""VoIP call flows against the core's own fake provider (no twilio): the neutral answers,
working hours, and status callbacks in any order on every backend."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencrm import CRM
from opencrm.core.entities.voip import WorkingHours
from opencrm.core.services._telephony import is_open
from opencrm.core.telephony import CallDetails, parse_webhook, status_rank
from voip_fakes import FakeProvider

PUBLIC = "https://crm.example.org"
CALLER = "+4930123456"
NUMBER = "+15550000001"


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def fcrm(engine, directory, provider) -> CRM:  # type: ignore[no-untyped-def]
    crm = CRM(engine, load_entrypoints=False, directory=directory, plugins=[provider])
    return crm


@pytest.fixture
def number(fcrm, users):  # type: ignore[no-untyped-def]
    admin = fcrm.session(users["admin"])
    admin.voip.connect(provider="fake", account_sid="acct", auth_token="t", public_url=PUBLIC)
    line = admin.voip.buy_number(NUMBER)
    admin.voip.add_operator(line.id, "alice")
    admin.voip.update_operator("alice", status="online")
    return line


def send(crm: CRM, kind: str, params: dict[str, str], query: str = "") -> list[dict[str, object]]:
    url = f"{PUBLIC}/voip/webhooks/{kind}" + (f"?{query}" if query else "")
    content_type, body = crm.voip_webhook(kind, query, params, "sig:" + url)
    assert content_type == "application/json"
    return json.loads(body)  # type: ignore[no-any-return]


def test_the_neutral_answers(fcrm, provider, number):
    steps = send(fcrm, "voice", {"CallSid": "CA1", "From": CALLER, "To": NUMBER})
    assert steps == [
        {
            "step": "Enqueue",
            "queue": NUMBER,
            "wait_url": f"{PUBLIC}/voip/webhooks/wait",
            "action_url": f"{PUBLIC}/voip/webhooks/queue-result",
        }
    ]
    (rung,) = provider.telephony.started
    assert (rung["to"], rung["url"]) == ("client:alice", f"{PUBLIC}/voip/webhooks/connect?call=CA1")
    connect = send(fcrm, "connect", {"CallSid": rung["sid"]}, "call=CA1")
    assert connect[0]["step"] == "Dial"
    assert (connect[0]["queue"], connect[0]["record"]) == (NUMBER, True)
    # a leg of another call cannot connect to this one
    send(fcrm, "voice", {"CallSid": "CA2", "From": "+4930999999", "To": NUMBER})
    from opencrm.errors import NotFound

    with pytest.raises(NotFound):
        send(fcrm, "connect", {"CallSid": provider.telephony.started[1]["sid"]}, "call=CA1")


@given(
    order=st.lists(
        st.sampled_from(["queued", "ringing", "in-progress", "completed", "no-answer"]),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_statuses_only_move_forward_whatever_the_order(fcrm, provider, number, users, order):
    """Any sequence of status callbacks, replays included, leaves the first status of the
    highest rank seen, and at most one history event."""
    sid = f"CA-{len(provider.telephony.billed)}-{'-'.join(order)}"[:64]
    provider.telephony.billed[sid] = CallDetails(
        sid=sid, status="completed", duration=9, price=Decimal("0.01")
    )
    fcrm.session(users["alice"]).contacts.add_person("Known", phone=CALLER)
    send(fcrm, "voice", {"CallSid": sid, "From": CALLER, "To": NUMBER, "CallStatus": "ringing"})
    for status in order:
        send(fcrm, "status", {"CallSid": sid, "CallStatus": status, "CallDuration": "9"})
    admin = fcrm.session(users["admin"])
    call = next(c for c in admin.voip.calls(limit=100) if c.sid == sid)
    seen = ["ringing", *order]
    top = max(status_rank(s) for s in seen)
    assert call.status == next(s for s in seen if status_rank(s) == top)
    final = top == 4
    assert (call.history_event_id is not None) == final
    assert call.ended_at is not None if final else call.ended_at is None


@pytest.mark.parametrize(
    ("start", "end", "local", "expected"),
    [
        ("09:00", "17:00", "08:59", False),
        ("09:00", "17:00", "09:00", True),
        ("09:00", "17:00", "17:00", False),
        ("22:00", "06:00", "23:30", True),
        ("22:00", "06:00", "05:59", True),
        ("22:00", "06:00", "12:00", False),
    ],
)
def test_working_hours(start: str, end: str, local: str, expected: bool) -> None:
    hours = WorkingHours(start=start, end=end, timezone="Asia/Tokyo")  # UTC+9, no DST
    hh, mm = map(int, local.split(":"))
    utc = dt.datetime(2026, 1, 15, hh, mm, tzinfo=dt.UTC) - dt.timedelta(hours=9)
    assert is_open(hours, utc) is expected
    assert is_open(None, utc) is True


def test_webhook_parameters_are_read_and_bounded() -> None:
    hook = parse_webhook(
        {"CallSid": "CA" + "x" * 100, "CallDuration": "12", "QueueTime": "-3", "From": "+1"}
    )
    assert (len(hook.call_sid), hook.duration, hook.queue_time, hook.from_number) == (
        64,
        12,
        None,
        "+1",
    )
    assert status_rank("completed") > status_rank("in-progress") > status_rank("ringing")
    assert status_rank("made-up") == -1
