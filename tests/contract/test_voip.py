"""VoIP (S9) on every backend, with the real twilio client against a fake Twilio REST
server on 127.0.0.1 and webhooks signed with the library's RequestValidator."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest
from moneyed import Money

from opencrm import CRM
from opencrm.core.entities.voip import OperatorStatus
from opencrm.errors import NotFound, PermissionDenied, ValidationError
from voip_fakes import ACCOUNT, PUBLIC, TOKEN, FakeTwilio, TwilioAt, running_fake, sign

CALLER = "+14155550100"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from running_fake()


@pytest.fixture
def vcrm(engine, directory, fake) -> CRM:  # type: ignore[no-untyped-def]
    return CRM(engine, load_entrypoints=False, directory=directory, plugins=[TwilioAt(fake)])


@pytest.fixture
def boss(vcrm, users):  # type: ignore[no-untyped-def]
    return vcrm.session(users["admin"])


@pytest.fixture
def line(boss, fake):  # type: ignore[no-untyped-def]
    """A connected account and one bought number, answered by alice (online)."""
    boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=PUBLIC)
    number = boss.voip.buy_number(fake.available[0], alias="Sales")
    boss.voip.add_operator(number.id, "alice")
    boss.voip.update_operator("alice", status="online")
    return number


def hook(crm: CRM, kind: str, params: dict[str, str], query: str = "", **kw: Any) -> str:
    url = f"{PUBLIC}/voip/webhooks/{kind}" + (f"?{query}" if query else "")
    signature = kw.pop("signature", None) or sign(url, params)
    content_type, body = crm.voip_webhook(kind, query, params, signature)
    assert content_type == "application/xml"
    return body.decode()


def verbs(twiml: str) -> list[str]:
    return [child.tag for child in ElementTree.fromstring(twiml)]


# --- the account ----------------------------------------------------------------------------


def test_the_token_is_never_read_back_logged_or_audited(boss, vcrm, users, caplog):
    caplog.set_level(logging.DEBUG)
    account = boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=PUBLIC + "/")
    assert (account.account_sid, account.public_url, account.has_token) == (ACCOUNT, PUBLIC, True)
    assert boss.voip.account() == account
    assert "token" not in repr(account).replace("has_token", "")
    boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN + "2", public_url=PUBLIC)
    trail = boss.settings.audit_trail(entity_type="voip_account")
    assert [e.action for e in trail] == ["voip_account.changed", "voip_account.changed"]
    assert TOKEN not in repr(trail)
    boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=PUBLIC)
    boss.voip.available_numbers("US")  # a REST request, logged by the library
    assert TOKEN not in caplog.text


def test_only_admins_manage_voip(vcrm, users, boss):
    alice = vcrm.session(users["alice"])
    with pytest.raises(PermissionDenied):
        alice.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=PUBLIC)
    boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=PUBLIC)
    for call in (alice.voip.account, alice.voip.numbers, alice.voip.owned_numbers):
        with pytest.raises(PermissionDenied):
            call()


@pytest.mark.parametrize(
    "url", ["ftp://crm.example.com", "https://crm.example.com/?a=1", "http://["]
)
def test_the_public_url_is_an_http_url_without_a_query(boss, url):
    with pytest.raises(ValidationError) as refused:
        boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=url)
    assert list(refused.value.errors) == ["public_url"]
    with pytest.raises(NotFound):
        boss.voip.account()


def test_bad_credentials_and_a_missing_account_fail_closed(boss, fake):
    from opencrm.errors import Conflict, ProviderError

    with pytest.raises(Conflict, match="connect a telephony account first"):
        boss.voip.available_numbers("US")
    boss.voip.connect(account_sid=ACCOUNT, auth_token="wrong", public_url=PUBLIC)
    with pytest.raises(ProviderError, match="401"):
        boss.voip.available_numbers("US")


# --- numbers --------------------------------------------------------------------------------


def test_buy_link_and_release_numbers_through_the_twilio_api(boss, fake):
    boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=PUBLIC)
    offered = boss.voip.available_numbers("US", contains="0007")
    assert [n.number for n in offered] == ["+15005550007"]
    bought = boss.voip.buy_number("+15005550007", alias="Support", queue_size=3)
    assert (bought.number, bought.alias, bought.queue_size, bought.queue_wait) == (
        "+15005550007",
        "Support",
        3,
        300,
    )
    assert fake.owned[bought.sid]["voice_url"] == f"{PUBLIC}/voip/webhooks/voice"
    assert fake.owned[bought.sid]["status_callback"] == f"{PUBLIC}/voip/webhooks/status"
    with pytest.raises(ValidationError, match="not available"):
        boss.voip.buy_number("+15005550099")
    # three more owned numbers: the owned list spans two pages of the fake's API
    sids = [fake.own(f"+1500555010{i}") for i in range(3)]
    owned = {n.sid for n in boss.voip.owned_numbers()}
    assert owned >= {bought.sid, *sids}
    linked = boss.voip.link_number(sids[0])
    assert linked.number == "+15005550100"
    assert fake.owned[sids[0]]["voice_url"] == f"{PUBLIC}/voip/webhooks/voice"
    with pytest.raises(NotFound):
        boss.voip.link_number("PN" + "f" * 32)
    boss.voip.delete_number(linked.id)
    assert sids[0] in fake.owned  # only forgotten by the CRM
    boss.voip.release_number(bought.id)
    assert bought.sid not in fake.owned
    assert [n.id for n in boss.voip.numbers()] == []


def test_number_settings_are_validated(boss, line):
    changed = boss.voip.update_number(
        line.id,
        working_hours={"start": "09:00", "end": "17:30", "timezone": "Europe/Paris"},
        greeting_audio="https://cdn.example/hello.mp3",
        queue_wait=60,
    )
    assert changed.working_hours is not None
    assert (changed.working_hours.start, changed.working_hours.timezone) == (
        "09:00",
        "Europe/Paris",
    )
    assert boss.voip.get_number(line.id) == changed
    for bad in (
        {"queue_size": -1},
        {"queue_wait": 10**6},
        {"greeting_audio": "javascript:alert(1)"},
        {"hold_audio": "http://["},  # a malformed host (urlsplit's ValueError)
        {"working_hours": {"start": "09:00", "end": "10:00", "timezone": "America"}},  # a folder
        {"working_hours": {"start": "9", "end": "x"}},
        {"working_hours": {"start": "09:00", "end": "10:00", "timezone": "Mars/Base"}},
        {"outgoing": "yes"},
        {"number": "+1"},
    ):
        with pytest.raises(ValidationError):
            boss.voip.update_number(line.id, **bad)
    assert boss.voip.get_number(line.id) == changed


# --- operators ------------------------------------------------------------------------------


def test_operator_rules(boss, vcrm, users, line, fake):
    second = boss.voip.buy_number(fake.available[0])
    with pytest.raises(ValidationError, match="operates a number already"):
        boss.voip.add_operator(second.id, "alice")
    with pytest.raises(ValidationError, match="unknown users"):
        boss.voip.add_operator(second.id, "nobody")
    boss.voip.update_number(second.id, recording=False)
    bob = boss.voip.add_operator(second.id, "bob", recording=True, outgoing=True)
    assert (bob.recording, bob.outgoing, bob.status) == (False, True, OperatorStatus.OFFLINE)
    boss.voip.update_number(second.id, outgoing=False)
    assert boss.voip.get_operator("bob").outgoing is False
    assert boss.voip.update_operator("bob", outgoing=True).outgoing is False
    bob_s = vcrm.session(users["bob"])
    assert bob_s.voip.set_status("paused").status is OperatorStatus.PAUSED
    with pytest.raises(PermissionDenied):
        bob_s.voip.update_operator("bob", recording=True)
    with pytest.raises(PermissionDenied):
        bob_s.voip.update_operator("alice", status="offline")
    with pytest.raises(ValidationError):
        bob_s.voip.set_status("busy")
    assert [o.user_id for o in boss.voip.operators(second.id)] == ["bob"]
    boss.voip.remove_operator("bob")
    assert [o.user_id for o in boss.voip.operators()] == ["alice"]


# --- a full incoming call -------------------------------------------------------------------


def _leg_of(fake: FakeTwilio, to: str) -> str:
    found = [sid for sid, c in fake.calls.items() if c.get("to") == to]
    assert len(found) == 1, fake.calls
    return found[0]


def test_a_full_call_is_one_row_one_history_event_and_the_right_cost(boss, vcrm, users, line, fake):
    alice = vcrm.session(users["alice"])
    ann = alice.contacts.add_person("Ann", "Caller", phone="+1 415 555 0100")
    params = {
        "CallSid": "CA" + "1" * 32,
        "From": CALLER,
        "To": line.number,
        "CallStatus": "ringing",
        "AccountSid": ACCOUNT,
    }
    sid = params["CallSid"]
    answer = hook(vcrm, "voice", params)
    assert verbs(answer) == ["Enqueue"]
    assert f'waitUrl="{PUBLIC}/voip/webhooks/wait"' in answer
    leg = _leg_of(fake, "client:alice")
    assert fake.calls[leg]["url"] == f"{PUBLIC}/voip/webhooks/connect?call={sid}"

    waiting = hook(vcrm, "wait", {"CallSid": sid, "QueueTime": "12", "QueuePosition": "1"})
    assert verbs(waiting) == ["Say"]
    connect = hook(vcrm, "connect", {"CallSid": leg, "CallStatus": "in-progress"}, f"call={sid}")
    assert verbs(connect) == ["Dial"]
    assert 'record="record-from-answer"' in connect
    assert f">{line.number}</Queue>" in connect
    hook(vcrm, "dequeued", {"CallSid": sid, "DequeingCallSid": leg}, f"leg={leg}")
    hook(vcrm, "queue-result", {"CallSid": sid, "QueueResult": "bridged"})
    fake.bill(leg, duration=61, price="-0.0085")
    fake.bill(sid, duration=75, price="-0.0200")
    fake.record("RE" + "1" * 32, duration=58, price="-0.0025")
    hook(vcrm, "status", {"CallSid": leg, "CallStatus": "completed", "CallDuration": "61"})
    hook(vcrm, "status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "75"})
    recording = {
        "CallSid": leg,
        "RecordingSid": "RE" + "1" * 32,
        "RecordingUrl": "https://api.twilio.com/rec/RE1",
        "RecordingDuration": "58",
    }
    hook(vcrm, "recording", recording)

    calls = list(boss.voip.calls())
    assert len(calls) == 1
    call = calls[0]
    assert (call.sid, call.contact_id, call.answered_by, call.missed, call.status) == (
        sid,
        ann.id,
        "alice",
        False,
        "completed",
    )
    assert (call.duration, call.recording_duration, call.recording_url) == (
        75,
        58,
        "https://api.twilio.com/rec/RE1",
    )
    assert call.cost == Money(Decimal("0.0310"), "USD")
    events = list(alice.history.list(contact=ann.id))
    assert [(e.content, e.created_by) for e in events] == [
        (f"Incoming call from {CALLER}. Duration: 75 s", "alice")
    ]
    assert call.history_event_id == events[0].id

    # Replays and late callbacks change nothing.
    for kind, p, q in (
        ("status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "75"}, ""),
        ("status", {"CallSid": sid, "CallStatus": "ringing"}, ""),
        ("status", {"CallSid": leg, "CallStatus": "ringing"}, ""),
        ("recording", recording, ""),
        ("dequeued", {"CallSid": sid, "DequeingCallSid": leg}, f"leg={leg}"),
        ("voice", params, ""),
    ):
        hook(vcrm, kind, p, q)
    assert list(boss.voip.calls()) == [call]
    assert len(list(alice.history.list(contact=ann.id))) == 1


def test_an_unknown_caller_becomes_a_private_person_of_the_operator_who_answers(
    boss, vcrm, users, line, fake
):
    boss.voip.add_operator(line.id, "bob")
    boss.voip.update_operator("bob", status="online")
    sid = "CA" + "2" * 32
    hook(vcrm, "voice", {"CallSid": sid, "From": CALLER, "To": line.number})
    bob_leg = _leg_of(fake, "client:bob")
    assert _leg_of(fake, "client:alice")  # nobody manages an unknown caller: all ring
    hook(vcrm, "dequeued", {"CallSid": sid}, f"leg={bob_leg}")
    call = boss.voip.get_call(next(iter(boss.voip.calls())).id)
    bob = vcrm.session(users["bob"])
    person = bob.contacts.get(call.contact_id)
    assert (person.first_name, person.managers, person.access.value) == (
        CALLER,
        frozenset({"bob"}),
        "private",
    )
    assert person.phone == CALLER
    with pytest.raises(NotFound):
        vcrm.session(users["alice"]).contacts.get(person.id)
    # the other operator's leg, answered late, is told the call was taken
    alice_leg = _leg_of(fake, "client:alice")
    late = hook(vcrm, "connect", {"CallSid": alice_leg}, f"call={sid}")
    assert verbs(late) == ["Say", "Hangup"]


def test_the_contacts_managers_are_rung_first(boss, vcrm, users, line, fake):
    boss.voip.add_operator(line.id, "bob")
    boss.voip.update_operator("bob", status="online")
    vcrm.session(users["bob"]).contacts.add_person("Known", phone=CALLER)
    hook(vcrm, "voice", {"CallSid": "CA" + "3" * 32, "From": CALLER, "To": line.number})
    rung = [c["to"] for c in fake.calls.values() if c.get("url", "").endswith("3" * 32)]
    assert rung == ["client:bob"]
    # a replayed voice webhook (Twilio retrying) answers the same and rings nobody again
    again = hook(vcrm, "voice", {"CallSid": "CA" + "3" * 32, "From": CALLER, "To": line.number})
    assert verbs(again) == ["Enqueue"]
    assert len(fake.calls) == 1


@pytest.mark.parametrize("why", ["closed", "nobody_online", "queue_full"])
def test_voicemail_when_closed_nobody_online_or_the_queue_is_full(boss, vcrm, line, fake, why):
    if why == "closed":
        now = dt.datetime.now(dt.UTC)
        start = (now + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
        end = (now + dt.timedelta(hours=3)).time().replace(second=0, microsecond=0)
        boss.voip.update_number(
            line.id, working_hours={"start": start.isoformat(), "end": end.isoformat()}
        )
    elif why == "nobody_online":
        boss.voip.update_operator("alice", status="paused")
    else:
        boss.voip.update_number(line.id, queue_size=1)
        hook(vcrm, "voice", {"CallSid": "CA" + "4" * 32, "From": "+14155550111", "To": line.number})
    answer = hook(vcrm, "voice", {"CallSid": "CA" + "5" * 32, "From": CALLER, "To": line.number})
    assert verbs(answer) == ["Say", "Record", "Hangup"]
    assert 'maxLength="30"' in answer
    assert f'recordingStatusCallback="{PUBLIC}/voip/webhooks/recording"' in answer
    missed = list(boss.voip.calls(kind="missed"))
    assert [c.sid for c in missed] == ["CA" + "5" * 32]


def test_a_caller_waiting_too_long_leaves_for_voicemail(boss, vcrm, users, line, fake):
    boss.voip.update_number(line.id, queue_wait=60)
    sid = "CA" + "6" * 32
    hook(vcrm, "voice", {"CallSid": sid, "From": CALLER, "To": line.number})
    assert verbs(hook(vcrm, "wait", {"CallSid": sid, "QueueTime": "59"})) == ["Say"]
    assert verbs(hook(vcrm, "wait", {"CallSid": sid, "QueueTime": "60"})) == ["Leave"]
    # so does a caller whose every operator rejected the call
    other = "CA" + "c" * 32
    hook(vcrm, "voice", {"CallSid": other, "From": "+14155550177", "To": line.number})
    rejected = [s for s, c in fake.calls.items() if c["url"].endswith(other)]
    assert verbs(hook(vcrm, "wait", {"CallSid": other, "QueueTime": "5"})) == ["Say"]
    fake.bill(rejected[0], status="busy", duration=0, price="0")
    hook(vcrm, "status", {"CallSid": rejected[0], "CallStatus": "busy"})
    assert verbs(hook(vcrm, "wait", {"CallSid": other, "QueueTime": "6"})) == ["Leave"]
    hook(vcrm, "queue-result", {"CallSid": other, "QueueResult": "leave"})
    after = hook(vcrm, "queue-result", {"CallSid": sid, "QueueResult": "leave"})
    assert verbs(after) == ["Say", "Record", "Hangup"]
    alice_missed = [c.sid for c in boss.voip.calls(kind="missed")]
    assert alice_missed == [other, sid]
    # the voicemail's recording lands on the call
    fake.record("RE" + "6" * 32, duration=12, price="-0.0025")
    voicemail = {
        "CallSid": sid,
        "RecordingSid": "RE" + "6" * 32,
        "RecordingUrl": "https://api.twilio.com/rec/RE6",
        "RecordingDuration": "12",
    }
    hook(vcrm, "recording", voicemail)
    assert verbs(hook(vcrm, "done", {"CallSid": sid})) == ["Hangup"]
    fake.bill(sid, duration=40, price="-0.0170")
    hook(vcrm, "status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "40"})
    call = next(c for c in boss.voip.calls() if c.sid == sid)
    assert (call.recording_url, call.recording_duration, call.missed) == (
        "https://api.twilio.com/rec/RE6",
        12,
        True,
    )
    assert call.cost == Money(Decimal("0.0195"), "USD")
    alice = vcrm.session(users["alice"])
    assert [c.sid for c in alice.voip.missed_calls()] == [other, sid]


# --- security -------------------------------------------------------------------------------


def test_signatures_are_checked_against_the_public_url(boss, vcrm, line):
    params = {"CallSid": "CA" + "7" * 32, "From": CALLER, "To": line.number}
    url = f"{PUBLIC}/voip/webhooks/voice"
    tampered = {**params, "From": "+14155550999"}
    for signature, sent in (
        (sign(url, params), tampered),  # tampered
        (sign(url, params, token="other"), params),  # another account's token
        (sign("https://crm.example.com:8443/crm/voip/webhooks/voice", params), params),
        (sign("http://internal:8000/crm/voip/webhooks/voice", params), params),
        ("", params),  # missing
    ):
        with pytest.raises(PermissionDenied):
            vcrm.voip_webhook("voice", "", sent, signature)
    assert list(boss.voip.calls()) == []
    # Twilio may sign the URL with the default port written out: both forms pass.
    with_port = sign("https://crm.example.com:443/crm/voip/webhooks/voice", params)
    vcrm.voip_webhook("voice", "", params, with_port)
    assert len(list(boss.voip.calls())) == 1


def test_a_public_url_with_an_explicit_port(boss, vcrm, line):
    public = "https://crm.example.com:8443/crm"
    boss.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url=public)
    params = {"CallSid": "CA" + "8" * 32, "From": CALLER, "To": line.number}
    with pytest.raises(PermissionDenied):  # signed for the default port
        vcrm.voip_webhook("voice", "", params, sign(f"{PUBLIC}/voip/webhooks/voice", params))
    good = sign(f"{public}/voip/webhooks/voice", params)
    assert verbs(vcrm.voip_webhook("voice", "", params, good)[1].decode()) == ["Enqueue"]


def test_unknown_calls_and_missing_credentials_are_refused(boss, vcrm, line):
    with pytest.raises(NotFound):
        hook(vcrm, "status", {"CallSid": "CA" + "9" * 32, "CallStatus": "completed"})
    with pytest.raises(NotFound):
        hook(vcrm, "voice", {"CallSid": "CA" + "9" * 32, "From": CALLER, "To": "+15550001111"})
    boss.voip.disconnect()
    params = {"CallSid": "CA" + "9" * 32, "From": CALLER, "To": line.number}
    with pytest.raises(PermissionDenied):
        hook(vcrm, "voice", params)
    assert list(boss.voip.calls()) == []


# --- outgoing calls and the calls list ------------------------------------------------------


def test_outgoing_calls(boss, vcrm, users, line, fake):
    alice = vcrm.session(users["alice"])
    known = alice.contacts.add_person("Otto", phone="+33 1 23 45 67 89")
    call = alice.voip.call("+33123456789")
    assert (call.contact_id, call.operator, call.direction.value) == (known.id, "alice", "outgoing")
    assert fake.calls[call.sid]["to"] == "client:alice"
    assert fake.calls[call.sid]["url"] == f"{PUBLIC}/voip/webhooks/outgoing"
    dial = hook(vcrm, "outgoing", {"CallSid": call.sid, "CallStatus": "in-progress"})
    assert verbs(dial) == ["Dial"]
    assert "<Number>+33123456789</Number>" in dial
    assert f'callerId="{line.number}"' in dial
    dialled = "CA" + "d" * 32
    fake.bill(dialled, duration=25, price="-0.0400")
    after_dial = {
        "CallSid": call.sid,
        "DialCallStatus": "completed",
        "DialCallSid": dialled,
        "DialCallDuration": "25",
    }
    hook(vcrm, "done", after_dial)
    hook(vcrm, "done", after_dial)  # replayed
    fake.bill(call.sid, duration=30, price="-0.0130")
    hook(vcrm, "status", {"CallSid": call.sid, "CallStatus": "completed", "CallDuration": "30"})
    done = alice.voip.get_call(call.id)
    assert (done.answered_by, done.cost) == ("alice", Money(Decimal("0.0530"), "USD"))
    assert [(leg.sid, leg.duration, leg.price) for leg in done.legs] == [
        (dialled, 25, Decimal("0.0400"))
    ]
    assert [c.id for c in alice.voip.calls(kind="outgoing")] == [call.id]
    assert [c.id for c in alice.voip.calls(kind="answered")] == [call.id]
    assert [e.content for e in alice.history.list(contact=known.id)] == [
        "Outgoing call to +33123456789. Duration: 30 s"
    ]

    fresh = alice.voip.call("+44 20 7946 0958")
    person = alice.contacts.get(fresh.contact_id)
    assert (person.first_name, person.managers) == ("+442079460958", frozenset({"alice"}))

    boss.voip.update_operator("alice", outgoing=False)
    with pytest.raises(PermissionDenied):
        alice.voip.call("+442079460958")
    with pytest.raises(PermissionDenied):
        vcrm.session(users["bob"]).voip.call("+442079460958")


def test_the_calls_list_is_filtered_like_contacts(boss, vcrm, users, line, fake):
    alice = vcrm.session(users["alice"])
    bob = vcrm.session(users["bob"])
    mine = alice.contacts.add_person("Private", phone=CALLER)
    hook(vcrm, "voice", {"CallSid": "CA" + "a" * 32, "From": CALLER, "To": line.number})
    boss.voip.update_operator("alice", status="offline")
    hook(vcrm, "voice", {"CallSid": "CA" + "b" * 32, "From": "+14155550123", "To": line.number})
    assert [c.sid for c in alice.voip.calls()] == ["CA" + "a" * 32]
    assert list(bob.voip.calls()) == []
    with pytest.raises(NotFound):
        bob.voip.get_call(next(iter(alice.voip.calls())).id)
    assert boss.voip.count_calls() == 2
    assert boss.voip.count_calls(contact=mine.id) == 1
    assert boss.voip.count_calls(kind="missed") == 1
    assert boss.voip.count_calls(text="0123") == 1
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert boss.voip.count_calls(started_from=tomorrow) == 0
    first = boss.voip.calls(limit=1)
    second = boss.voip.calls(limit=1, after=first.next_cursor)
    assert [c.sid for c in [*first, *second]] == ["CA" + "b" * 32, "CA" + "a" * 32]
    with pytest.raises(ValidationError):
        boss.voip.calls(kind="lost")
    with pytest.raises(ValidationError):
        boss.voip.calls(sort="caller")
    assert [c.sid for c in alice.voip.missed_calls()] == ["CA" + "b" * 32]
    assert [c.sid for c in boss.voip.missed_calls()] == []  # not an operator
