"""Global search (``s.search.everything``) and the cursors of the per-service searches,
on every backend."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencrm import ValidationError
from opencrm.core.search import SearchHit

DUE = dt.datetime(2030, 1, 2, 9, tzinfo=dt.UTC)


def _pairs(page) -> list[tuple[str, str, int]]:
    return [(h.kind, h.label, h.rank) for h in page]


@pytest.fixture
def world(admin, alice, crm, users):
    """A small CRM where "pump" appears in every kind, some of it hidden from bob."""
    pump = admin.contacts.add_company("Pump", access="read")
    pumpkin = admin.contacts.add_person("Pumpkin", "Pie", access="read")
    secret = admin.contacts.add_company("Secret Pumps", access="private", managers=["alice"])
    deal = alice.opportunities.add("New pump line")
    hidden_deal = alice.opportunities.add("Pump upgrade", restricted=True)
    case = alice.cases.add("Pump broken")
    hidden_case = alice.cases.add("Pump leaks", restricted=True, access_list=["carol"])
    task = alice.tasks.add("Call about the pump", DUE, responsible="alice")
    hidden_task = alice.tasks.add("Quote pumps", DUE, responsible="alice", contact=secret)
    line = [admin.invoices.line("x", price="1")]
    invoice = admin.invoices.add(client=pump, lines=line)
    hidden_invoice = admin.invoices.add(client=secret, lines=line)
    note = alice.history.add("Talked about a new PUMP for the garden", "Note", contact=pumpkin)
    hidden_note = alice.history.add("The pump order is late", "Note", opportunity=hidden_deal)
    return {
        "pump": pump,
        "pumpkin": pumpkin,
        "secret": secret,
        "deal": deal,
        "hidden_deal": hidden_deal,
        "case": case,
        "hidden_case": hidden_case,
        "task": task,
        "hidden_task": hidden_task,
        "invoice": invoice,
        "hidden_invoice": hidden_invoice,
        "note": note,
        "hidden_note": hidden_note,
    }


def test_hits_of_every_kind_ranked_then_by_kind_and_id(world, alice):
    found = alice.search.everything("pump")
    inv, hidden_inv = world["invoice"].number, world["hidden_invoice"].number
    assert _pairs(found) == [
        ("contact", "Pump", 3),
        ("contact", "Pumpkin Pie", 2),
        ("opportunity", "Pump upgrade", 2),
        ("case", "Pump broken", 2),
        ("case", "Pump leaks", 2),  # alice made it: she is on its access list
        ("contact", "Secret Pumps", 1),  # private, managed by alice
        ("opportunity", "New pump line", 1),
        ("task", "Call about the pump", 1),
        ("task", "Quote pumps", 1),
        ("invoice", inv, 0),
        ("invoice", hidden_inv, 0),
        ("history", "The pump order is late", 0),  # history: newest first
        ("history", "Talked about a new PUMP for the garden", 0),
    ]
    assert found.next_cursor is None
    assert found.items[0] == SearchHit("contact", world["pump"].id, "Pump", "", 3)
    assert found.items[9].snippet == "Pump"  # an invoice's client
    assert found.items[10].snippet == "Secret Pumps"
    assert found.items[12].snippet == "Talked about a new PUMP for the garden"


def test_a_user_never_sees_what_they_may_not_read(world, alice, bob, users, crm):
    carol = crm.session(users["carol"])
    inv = world["invoice"].number
    assert _pairs(bob.search.everything("pump")) == [
        ("contact", "Pump", 3),
        ("contact", "Pumpkin Pie", 2),
        ("case", "Pump broken", 2),
        ("opportunity", "New pump line", 1),
        ("task", "Call about the pump", 1),  # linked to nothing: everyone reads it
        ("invoice", inv, 0),
        ("history", "Talked about a new PUMP for the garden", 0),
    ]
    # carol reads the restricted case she is on, not the task of alice's private contact
    assert [(h.kind, h.id) for h in carol.search.everything("pump", kinds=["case", "task"])] == [
        ("case", world["case"].id),
        ("case", world["hidden_case"].id),
        ("task", world["task"].id),
    ]


def test_kinds_narrow_the_search(world, alice):
    found = alice.search.everything("pump", kinds=["history", "invoice"])
    assert [h.kind for h in found] == ["invoice", "invoice", "history", "history"]
    assert [h.kind for h in alice.search.everything("pump", kinds="task")] == ["task", "task"]


def test_invoices_by_number(world, alice):
    number = world["invoice"].number
    found = alice.search.everything(number, kinds=["invoice"])
    assert [(h.id, h.rank) for h in found] == [(world["invoice"].id, 3)]


def test_short_text_is_a_prefix_and_skips_history(world, alice):
    assert _pairs(alice.search.everything("pu")) == [
        ("contact", "Pump", 2),
        ("contact", "Pumpkin Pie", 2),
        ("opportunity", "Pump upgrade", 2),
        ("case", "Pump broken", 2),
        ("case", "Pump leaks", 2),
        ("invoice", world["invoice"].number, 0),  # its client's name starts with "pu"
    ]


def test_cursor_pages_the_merged_order_without_gaps_or_repeats(world, alice):
    whole = [(h.kind, h.id) for h in alice.search.everything("pump", limit=100)]
    for size in (1, 2, 5):
        seen: list[tuple[str, int]] = []
        after = None
        while True:
            page = alice.search.everything("pump", limit=size, after=after)
            seen.extend((h.kind, h.id) for h in page)
            after = page.next_cursor
            if after is None:
                break
        assert seen == whole


def test_a_cursor_of_another_list_or_edited_is_refused(world, alice):
    first = alice.search.everything("pump", limit=1)
    other = alice.contacts.list(limit=1).next_cursor
    for bad in (other, first.next_cursor + "x", "nonsense"):
        with pytest.raises(ValidationError) as err:
            alice.search.everything("pump", after=bad)
        assert set(err.value.errors) == {"after"}


@pytest.mark.parametrize(
    ("text", "kinds", "limit", "fields"),
    [
        ("", None, 20, {"text"}),
        ("   ", None, 20, {"text"}),
        ("x" * 256, None, 20, {"text"}),
        ("a\nb", None, 20, {"text"}),
        (None, None, 20, {"text"}),
        ("pump", ["contact", "deal"], 20, {"kinds"}),
        ("pump", [], 20, {"kinds"}),
        ("pump", 7, 20, {"kinds"}),
        ("pump", None, 0, {"limit"}),
        ("pump", None, 1001, {"limit"}),
    ],
)
def test_bad_input_is_a_validation_error(alice, text, kinds, limit, fields):
    with pytest.raises(ValidationError) as err:
        alice.search.everything(text, kinds=kinds, limit=limit)
    assert set(err.value.errors) == fields


@pytest.mark.parametrize(
    "text",
    [
        '"pump',
        "pump*",
        "pump OR x",
        "NEAR(a b)",
        "a:b",
        "^pu",
        "100%",
        "_",
        "\\",
        "pu\x00mp",
        "x" * 255,
    ],
)
def test_hostile_text_is_plain_text(world, alice, text):
    if "\x00" in text:
        with pytest.raises(ValidationError):
            alice.search.everything(text)
        return
    assert list(alice.search.everything(text)) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=1, max_size=12))
def test_any_text_searches_or_is_refused(alice, text):
    try:
        found = list(alice.search.everything(text))
    except ValidationError as exc:
        problems = set(exc.errors)
    else:
        problems = set()
        assert found == []  # the fixture holds no records
    assert problems <= {"text"}


def test_per_service_searches_page_with_a_cursor(alice):
    for n in range(5):
        alice.contacts.add_person(f"Zed{n}")
        alice.opportunities.add(f"Zed deal {n}")
        alice.cases.add(f"Zed case {n}")
    for service in (alice.contacts, alice.opportunities, alice.cases):
        first = service.search("zed", limit=3)
        rest = service.search("zed", limit=3, after=first.next_cursor)
        assert (len(first), len(rest)) == (3, 2)
        assert first.next_cursor is not None
        assert rest.next_cursor is None
        ids = [r.id for r in first] + [r.id for r in rest]
        assert ids == [r.id for r in service.search("zed", limit=10)]
        assert first[0].id == ids[0]  # a page still reads as a sequence
