"""Tasks through the public API (``session.tasks``), on every backend."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from _cursors import forge

from opencrm import (
    ALERT_OFFSETS,
    CRM,
    Conflict,
    NotFound,
    PermissionDenied,
    Task,
    ValidationError,
)

DUE = dt.datetime(2030, 1, 2, 9, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
TABLES = ("tasks", "history_events", "audit_log")
CATEGORIES = [
    "Phone call",
    "Opportunity",
    "Demo",
    "Email",
    "Fax",
    "Execution control",
    "Lunch",
    "Appointment",
    "Note",
    "Delivery",
    "Social networks",
    "Expression of gratitude",
]


def counts(crm: CRM) -> dict[str, int]:
    with crm.engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES}


def titles(page) -> list[str]:
    return [t.title for t in page]


def category_id(session, title: str) -> int:
    (item,) = [i for i in session.lists.items("task_category") if i.title == title]
    return item.id


def history_category_id(session, title: str) -> int:
    (item,) = [i for i in session.lists.items("history_category") if i.title == title]
    return item.id


def task_actions(admin) -> list[str]:
    """The audited task events, oldest first."""
    return [e.action for e in reversed(admin.settings.audit_trail(entity_type="task"))]


def paged(session, sort: str, limit: int = 2, **filters) -> list[str]:
    got: list[str] = []
    cursor = None
    for _ in range(50):
        page = session.tasks.list(sort=sort, limit=limit, after=cursor, **filters)
        assert len(page) <= limit
        got.extend(titles(page))
        cursor = page.next_cursor
        if cursor is None:
            return got
    raise AssertionError("paging never ended")


def refusals(cases: dict[str, tuple[object, str]], attempt) -> list[str]:
    """Call ``attempt(value)`` for every case; list those not refused with a ValidationError
    naming the case's key (so one test reports every case that goes wrong)."""
    wrong = []
    for name, (value, key) in cases.items():
        try:
            attempt(value)
        except ValidationError as exc:
            if key not in exc.errors:
                wrong.append(f"{name}: errors {dict(exc.errors)}")
        except Exception as exc:
            wrong.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{name}: accepted")
    return wrong


def forged(crm: CRM, sort: str, values: object) -> str:
    """A task list cursor carrying ``values``, signed as opencrm signs its own."""
    return forge(crm, "tasks", sort, values)


# --- create and read ---------------------------------------------------------------------


def test_add_round_trip_and_defaults(admin, alice):
    items = admin.lists.items("task_category")
    assert [i.title for i in items] == CATEGORIES  # the reference's twelve, in order
    assert not any(i.system for i in items)

    made = alice.tasks.add("  Call   Joe ", DUE)
    got = alice.tasks.get(made.id)
    assert isinstance(got, Task)
    assert got == made
    assert (got.title, got.due_at, got.responsible, got.description) == (
        "Call Joe",
        DUE,
        "alice",
        "",
    )
    assert got.category_id == category_id(alice, "Phone call")  # the first category
    assert (got.contact_id, got.opportunity_id, got.case_id) == (None, None, None)
    assert (got.alert_minutes, got.remind_at) == (1440, DUE - DAY)
    assert (got.closed, got.closed_at, got.reminded_at) == (False, None, None)
    assert (got.created_by, got.updated_by) == ("alice", "alice")

    for offset in ALERT_OFFSETS:
        task = alice.tasks.add(f"Alert {offset}", DUE, alert=offset)
        got = alice.tasks.get(task.id)
        assert got.alert_minutes == offset
        assert got.remind_at == (None if offset == 0 else DUE - dt.timedelta(minutes=offset))
    assert tuple(ALERT_OFFSETS) == (0, 5, 15, 30, 60, 120, 1440)


def test_add_with_every_field(alice, users):
    acme = alice.contacts.add_company("Acme", access="read")
    deal = alice.opportunities.add("Deal", contact=acme)
    local_due = dt.datetime(2030, 1, 2, 11, tzinfo=PLUS_TWO)  # the same instant as DUE
    made = alice.tasks.add(
        "Demo",
        local_due,
        category="  demo ",
        responsible=users["bob"],
        description="  line one\nline two  ",
        contact=acme,
        opportunity=deal.id,
        alert=0,
        notify=False,
    )
    got = alice.tasks.get(made.id)
    assert got == made
    assert got.due_at == DUE
    assert got.due_at.utcoffset() == dt.timedelta(0)
    assert got.category_id == category_id(alice, "Demo")
    assert (got.responsible, got.description) == ("bob", "line one\nline two")
    assert (got.contact_id, got.opportunity_id, got.case_id) == (acme.id, deal.id, None)
    assert (got.alert_minutes, got.remind_at) == (0, None)

    items = {i.title: i for i in alice.lists.items("task_category")}
    by_item = alice.tasks.add("By item", DUE, category=items["Lunch"])
    by_id = alice.tasks.add("By id", DUE, category=items["Fax"].id)
    assert (by_item.category_id, by_id.category_id) == (items["Lunch"].id, items["Fax"].id)


def test_ids_out_of_range_are_validation_errors(crm, alice):
    before = counts(crm)
    for call, field in (
        (lambda: alice.tasks.get(2**63), "task_id"),
        (lambda: alice.tasks.close(2**63), "task_id"),
        (lambda: alice.tasks.delete(2**40), "task_id"),
        (lambda: alice.tasks.get(0), "task_id"),
        (lambda: alice.tasks.add("Linked", DUE, contact=2**63), "contact"),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert field in info.value.errors
    with pytest.raises(NotFound):
        alice.tasks.get(2**31 - 1)  # in range, but no such task
    assert counts(crm) == before


# --- change, close, reopen, delete --------------------------------------------------------


def test_update_fields_and_links(admin, alice):
    acme = alice.contacts.add_company("Acme", access="read")
    deal = alice.opportunities.add("Deal")
    claim = alice.cases.add("Claim")
    task = alice.tasks.add("Call", DUE, contact=acme, opportunity=deal)

    got = alice.tasks.update(
        task.id, title=" Call  back ", category="Email", description="Ask about pricing"
    )
    assert (got.title, got.category_id, got.description) == (
        "Call back",
        category_id(alice, "Email"),
        "Ask about pricing",
    )
    assert alice.tasks.get(task.id) == got

    # Linking a case replaces the opportunity; None unlinks the contact.
    got = alice.tasks.update(task.id, case=claim, contact=None)
    assert (got.contact_id, got.opportunity_id, got.case_id) == (None, None, claim.id)
    got = alice.tasks.update(task.id, opportunity=deal.id)
    assert (got.opportunity_id, got.case_id) == (deal.id, None)

    with pytest.raises(ValidationError) as info:
        alice.tasks.update(task.id, opportunity=deal, case=claim)
    assert "case" in info.value.errors
    assert alice.tasks.get(task.id) == got

    # A change to nothing is no change: no event, no new stamp.
    before = task_actions(admin)
    assert alice.tasks.update(task.id, title="Call back") == got
    assert task_actions(admin) == before


def test_close_and_reopen(alice):
    task = alice.tasks.add("Follow up", DUE)
    closed = alice.tasks.close(task.id)
    assert closed.closed is True
    assert closed.closed_at is not None
    assert (closed.remind_at, closed.updated_by) == (None, "alice")
    assert alice.tasks.get(task.id) == closed
    assert alice.tasks.close(task.id) == closed  # closing a closed task changes nothing

    reopened = alice.tasks.reopen(task.id)
    assert (reopened.closed, reopened.closed_at) == (False, None)
    assert reopened.remind_at == DUE - DAY
    assert alice.tasks.get(task.id) == reopened
    assert alice.tasks.reopen(task.id) == reopened  # reopening an open one changes nothing


def test_delete_and_missing_ids(crm, alice):
    keep = alice.tasks.add("Keep", DUE)
    doomed = alice.tasks.add("Doomed", DUE)
    alice.tasks.delete(doomed.id)
    with pytest.raises(NotFound):
        alice.tasks.get(doomed.id)
    with pytest.raises(NotFound):
        alice.tasks.delete(doomed.id)
    assert titles(alice.tasks.list()) == ["Keep"]
    assert alice.tasks.get(keep.id) == keep
    assert counts(crm)["tasks"] == 1
    with pytest.raises(NotFound):
        alice.tasks.get(999_999)
    for bad in ("1", 1.0, True, None):
        with pytest.raises(ValidationError) as info:
            alice.tasks.get(bad)
        assert "task_id" in info.value.errors


def test_events_land_in_the_audit_trail(admin, alice):
    task = alice.tasks.add("Mine", DUE, notify=False)
    alice.tasks.update(task.id, title="Mine 2")
    alice.tasks.update(task.id, responsible="bob")  # notify by default
    alice.tasks.update(task.id, responsible="carol", notify=False)
    alice.tasks.close(task.id)
    alice.tasks.reopen(task.id)
    alice.tasks.delete(task.id)
    assert task_actions(admin) == [
        "task.created",
        "task.updated",
        "task.updated",
        "task.assigned",
        "task.updated",
        "task.closed",
        "task.reopened",
        "task.deleted",
    ]
    trail = admin.settings.audit_trail(entity_type="task")
    assert {e.actor_id for e in trail} == {"alice"}
    assert {e.entity_id for e in trail} == {str(task.id)}
    by_action = {e.action: e for e in trail}
    closed = by_action["task.closed"]
    assert (closed.before["closed"], closed.after["closed"]) == (False, True)
    assert by_action["task.assigned"].data["responsible"] == "bob"
    assert by_action["task.deleted"].before["title"] == "Mine 2"

    # Creating: task.assigned follows task.created only with notify.
    acme = alice.contacts.add_company("Acme", access="read")
    told = alice.tasks.add("Told", DUE, responsible="bob", contact=acme, category="Demo")
    alice.tasks.add("Quiet", DUE, responsible="bob", notify=False)
    newest = admin.settings.audit_trail(entity_type="task", limit=3)
    assert [e.action for e in newest] == ["task.created", "task.assigned", "task.created"]
    assert newest[1].entity_id == str(told.id)
    assert dict(newest[1].data) == {
        "responsible": "bob",
        "category": "Demo",
        "due_at": DUE.isoformat(),
        "contact": "Acme",
        "opportunity": "",
        "case": "",
    }


# --- access ---------------------------------------------------------------------------------


def test_unlinked_task_is_read_by_all_and_changed_by_admin_responsible_creator(
    crm, admin, alice, bob, users
):
    carol = crm.session(users["carol"])
    task = alice.tasks.add("Shared", DUE, responsible="carol", notify=False)
    assert bob.tasks.get(task.id) == task
    assert titles(bob.tasks.list()) == ["Shared"]
    before = counts(crm)
    for call in (
        lambda: bob.tasks.update(task.id, title="Hijacked"),
        lambda: bob.tasks.close(task.id),
        lambda: bob.tasks.reopen(task.id),
        lambda: bob.tasks.delete(task.id),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert counts(crm) == before
    assert alice.tasks.get(task.id) == task

    assert carol.tasks.update(task.id, title="By carol").title == "By carol"  # responsible
    assert alice.tasks.close(task.id).closed is True  # creator
    assert admin.tasks.reopen(task.id).closed is False  # admin
    admin.tasks.delete(task.id)
    with pytest.raises(NotFound):
        alice.tasks.get(task.id)


def test_task_on_a_private_contact_is_hidden_and_not_found(crm, admin, alice, bob):
    joe = alice.contacts.add_person("Joe", "Private")
    task = alice.tasks.add("Secret call", DUE, contact=joe)
    before = counts(crm)
    for call in (
        lambda: bob.tasks.get(task.id),
        lambda: bob.tasks.update(task.id, title="x"),
        lambda: bob.tasks.close(task.id),
        lambda: bob.tasks.reopen(task.id),
        lambda: bob.tasks.delete(task.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert counts(crm) == before
    assert (titles(bob.tasks.list()), bob.tasks.count()) == ([], 0)
    assert admin.tasks.get(task.id) == task

    alice.contacts.set_access(joe.id, access="read")
    assert bob.tasks.get(task.id) == task
    assert bob.tasks.count() == 1
    with pytest.raises(PermissionDenied):
        bob.tasks.close(task.id)


def test_read_rule_list_count_and_get_agree(crm, admin, alice, bob, users):
    carol = crm.session(users["carol"])
    pub = alice.contacts.add_company("Public Co", access="read")
    priv = alice.contacts.add_company("Private Co")
    secret_deal = alice.opportunities.add("Secret deal", restricted=True, access_list=["carol"])
    secret_case = alice.cases.add("Secret case", restricted=True)

    everything: list[Task] = [
        alice.tasks.add("T1 unlinked", DUE),
        alice.tasks.add("T2 public", DUE + HOUR, contact=pub),
        alice.tasks.add("T3 private", DUE + 2 * HOUR, contact=priv),
        alice.tasks.add("T4 private for bob", DUE + 3 * HOUR, contact=priv, responsible="bob"),
        alice.tasks.add("T5 public+deal", DUE + 4 * HOUR, contact=pub, opportunity=secret_deal),
        carol.tasks.add("T6 carol's deal", DUE + 5 * HOUR, opportunity=secret_deal),
        alice.tasks.add("T7 case", DUE + 6 * HOUR, case=secret_case),
        bob.tasks.add("T8 bob's", DUE + 7 * HOUR, contact=pub),
    ]

    def check(session, want: list[str]) -> None:
        assert titles(session.tasks.list()) == want
        assert session.tasks.count() == len(want)
        for task in everything:
            if task.title in want:
                assert session.tasks.get(task.id) == task
            else:
                with pytest.raises(NotFound):
                    session.tasks.get(task.id)

    all_titles = [t.title for t in everything]
    check(admin, all_titles)
    check(alice, all_titles)
    check(bob, ["T1 unlinked", "T2 public", "T4 private for bob", "T8 bob's"])
    check(
        carol,
        ["T1 unlinked", "T2 public", "T5 public+deal", "T6 carol's deal", "T8 bob's"],
    )

    # The public contact goes private: only what the user is responsible for or created stays.
    alice.contacts.set_access(pub.id, access="private")
    check(bob, ["T1 unlinked", "T4 private for bob", "T8 bob's"])
    check(carol, ["T1 unlinked", "T6 carol's deal"])
    assert bob.tasks.close(everything[3].id).closed is True  # the responsible closes it


def test_linking_needs_read_access(crm, alice, bob):
    priv = alice.contacts.add_company("Private Co")
    deal = alice.opportunities.add("Deal", restricted=True)
    claim = alice.cases.add("Claim", restricted=True)
    mine = bob.tasks.add("Mine", DUE)
    before = counts(crm)
    for field, value in (
        ("contact", priv.id),
        ("opportunity", deal),
        ("case", claim.id),
        ("contact", 999_999),
        ("opportunity", 999_999),
        ("case", 999_999),
    ):
        with pytest.raises(ValidationError) as info:
            bob.tasks.add("Linked", DUE, **{field: value})
        assert field in info.value.errors
        with pytest.raises(ValidationError) as info:
            bob.tasks.update(mine.id, **{field: value})
        assert field in info.value.errors
    assert counts(crm) == before
    assert bob.tasks.get(mine.id) == mine


# --- the same task for many contacts -------------------------------------------------------


def test_add_for_contacts_creates_one_task_per_contact(admin, alice):
    acme = alice.contacts.add_company("Acme", access="read")
    joe = alice.contacts.add_person("Joe", "Smith")
    deal = alice.opportunities.add("Deal")
    made = alice.tasks.add_for_contacts(
        [acme, joe.id, acme.id],
        "Send catalogue",
        DUE,
        category="Delivery",
        responsible="bob",
        opportunity=deal,
        alert=60,
    )
    assert [t.contact_id for t in made] == [acme.id, joe.id]
    assert len({t.id for t in made}) == 2
    for task in made:
        assert alice.tasks.get(task.id) == task
        assert (task.title, task.due_at, task.responsible) == ("Send catalogue", DUE, "bob")
        assert (task.category_id, task.opportunity_id, task.alert_minutes) == (
            category_id(alice, "Delivery"),
            deal.id,
            60,
        )
    assert titles(alice.tasks.list(contact=joe)) == ["Send catalogue"]
    assert task_actions(admin) == ["task.created", "task.assigned"] * 2


def test_add_for_contacts_refuses_everything_when_one_contact_is_unreadable(crm, alice, bob):
    mine = bob.contacts.add_company("Bob's", access="read")
    hidden = alice.contacts.add_company("Alice's private")
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        bob.tasks.add_for_contacts([mine, hidden, 999_999], "Call", DUE)
    assert str(hidden.id) in info.value.errors["contacts"]
    assert "999999" in info.value.errors["contacts"]
    assert counts(crm) == before
    assert bob.tasks.count() == 0


def test_add_for_contacts_bad_input(crm, alice):
    acme = alice.contacts.add_company("Acme")
    cases = {
        "no contacts": (([], {}), "contacts"),
        "one string": (("1", {}), "contacts"),
        "one int": ((1, {}), "contacts"),
        "one contact": ((acme, {}), "contacts"),
        "bool id": (([True], {}), "contacts"),
        "contact field": (([acme], {"contact": acme}), "contact"),
        "bad alert": (([acme], {"alert": 7}), "alert"),
        "unknown category": (([acme], {"category": "Nope"}), "category"),
        "naive due": (([acme], {"due": dt.datetime(2030, 1, 2)}), "due"),
    }

    def attempt(value) -> None:
        contacts, fields = value
        fields = {"due": DUE, **fields}
        alice.tasks.add_for_contacts(contacts, "T", fields.pop("due"), **fields)

    before = counts(crm)
    assert refusals(cases, attempt) == []
    assert counts(crm) == before


# --- filters ----------------------------------------------------------------------------------


def test_filters(alice, users):
    acme = alice.contacts.add_company("Acme", access="read")
    deal = alice.opportunities.add("Deal")
    claim = alice.cases.add("Claim")
    alice.tasks.add("Call Acme", DUE, contact=acme)
    alice.tasks.add(
        "Demo for Acme",
        DUE + HOUR,
        category="Demo",
        contact=acme,
        opportunity=deal,
        responsible="bob",
    )
    alice.tasks.add("Send invoice", DUE + 2 * HOUR, category="Email", case=claim)
    lunch = alice.tasks.add("Lunch", DUE + DAY, category="Lunch", responsible="bob")
    alice.tasks.add("50% discount", DUE + 2 * DAY, category="Note")
    alice.tasks.add("500 units", DUE + 3 * DAY, category="Note")
    alice.tasks.close(lunch.id)
    every = ["Call Acme", "Demo for Acme", "Send invoice", "Lunch", "50% discount", "500 units"]
    cases = [
        ({}, every),
        ({"text": "acme"}, ["Call Acme", "Demo for Acme"]),
        ({"text": "  ACME  "}, ["Call Acme", "Demo for Acme"]),
        ({"text": "ca"}, ["Call Acme"]),  # one or two characters: the title starts with them
        ({"text": "50%"}, ["50% discount"]),
        ({"text": "voic"}, ["Send invoice"]),
        ({"responsible": "bob"}, ["Demo for Acme", "Lunch"]),
        (
            {"responsible": users["alice"]},
            ["Call Acme", "Send invoice", "50% discount", "500 units"],
        ),
        ({"responsible": "nobody"}, []),
        ({"category": "demo"}, ["Demo for Acme"]),
        ({"category": category_id(alice, "Note")}, ["50% discount", "500 units"]),
        ({"closed": True}, ["Lunch"]),
        ({"closed": False}, [t for t in every if t != "Lunch"]),
        ({"due_from": DUE + HOUR}, every[1:]),
        ({"due_to": DUE + 2 * HOUR}, ["Call Acme", "Demo for Acme"]),
        (
            {
                "due_from": dt.datetime(2030, 1, 2, 12, tzinfo=PLUS_TWO),  # DUE + HOUR
                "due_to": DUE + DAY + dt.timedelta(microseconds=1),
            },
            ["Demo for Acme", "Send invoice", "Lunch"],
        ),
        ({"contact": acme}, ["Call Acme", "Demo for Acme"]),
        ({"contact": acme.id, "responsible": "alice"}, ["Call Acme"]),
        ({"opportunity": deal}, ["Demo for Acme"]),
        ({"case": claim.id}, ["Send invoice"]),
        ({"text": "discount", "closed": False, "category": "Note"}, ["50% discount"]),
        ({"text": None, "closed": None}, every),
    ]
    for filters, want in cases:
        assert titles(alice.tasks.list(**filters)) == want, filters
        assert alice.tasks.count(**filters) == len(want), filters


def test_text_filter_follows_renames_and_takes_special_characters_literally(alice):
    task = alice.tasks.add("Quarterly review", DUE)
    alice.tasks.add("a_b test", DUE + HOUR)
    alice.tasks.add("axb test", DUE + 2 * HOUR)
    alice.tasks.update(task.id, title="Annual report")
    assert titles(alice.tasks.list(text="quarter")) == []
    assert titles(alice.tasks.list(text="report")) == ["Annual report"]
    assert titles(alice.tasks.list(text="a_b")) == ["a_b test"]
    assert titles(alice.tasks.list(text='"x')) == []
    alice.tasks.delete(task.id)
    assert titles(alice.tasks.list(text="report")) == []

    # Case is folded beyond ASCII, in the title and in the text searched for.
    alice.tasks.add("Größe prüfen", DUE + 3 * HOUR)
    assert titles(alice.tasks.list(text="GRÖSSE")) == ["Größe prüfen"]
    assert titles(alice.tasks.list(text="PRÜF")) == ["Größe prüfen"]
    assert titles(alice.tasks.list(text="gr")) == ["Größe prüfen"]


BAD_FILTERS: dict[str, tuple[object, str]] = {
    "unknown filter": ({"shoe_size": 42}, "shoe_size"),
    "history filter": ({"author": "alice"}, "author"),
    "naive due_from": ({"due_from": dt.datetime(2030, 1, 1)}, "due_from"),
    "date due_to": ({"due_to": dt.date(2030, 1, 1)}, "due_to"),
    "closed as string": ({"closed": "yes"}, "closed"),
    "closed as int": ({"closed": 1}, "closed"),
    "empty responsible": ({"responsible": ""}, "responsible"),
    "responsible as int": ({"responsible": 5}, "responsible"),
    "unknown category": ({"category": "Nope"}, "category"),
    "history category": ({"category": "Task closed"}, "category"),
    "long text": ({"text": "x" * 256}, "text"),
    "text as int": ({"text": 5}, "text"),
    "text with NUL": ({"text": "abc\x00def"}, "text"),
    "contact as string": ({"contact": "1"}, "contact"),
    "case as bool": ({"case": True}, "case"),
}


def test_bad_filters_are_validation_errors_and_unreadable_records_not_found(alice, bob):
    alice.tasks.add("Task", DUE)
    assert refusals(BAD_FILTERS, lambda filters: alice.tasks.list(**filters)) == []
    assert refusals(BAD_FILTERS, lambda filters: alice.tasks.count(**filters)) == []

    # Filtering on a record the user may not read is NotFound, as on the record's own page.
    priv = alice.contacts.add_company("Private Co")
    deal = alice.opportunities.add("Deal", restricted=True)
    claim = alice.cases.add("Claim", restricted=True)
    for filters in (
        {"contact": priv},
        {"opportunity": deal.id},
        {"case": claim},
        {"contact": 999_999},
        {"opportunity": 999_999},
        {"case": 999_999},
    ):
        with pytest.raises(NotFound):
            bob.tasks.list(**filters)
        with pytest.raises(NotFound):
            bob.tasks.count(**filters)


# --- sorts and paging -----------------------------------------------------------------------


def test_sorts_and_keyset_paging(admin, alice):
    acme = alice.contacts.add_company("Acme", access="read")
    beta = alice.contacts.add_company("Beta Co", access="read")
    alice.tasks.add("delta", DUE + 3 * HOUR, category="Email", contact=beta)
    alice.tasks.add("Alpha", DUE + HOUR, category="Demo")
    alice.tasks.add("charlie", DUE, category="Phone call", contact=acme)
    alice.tasks.add("Bravo", DUE + 2 * HOUR, category="Demo", contact=acme)
    alice.tasks.add("echo", DUE + HOUR, category="Phone call")
    expected = {
        "due": ["charlie", "Alpha", "echo", "Bravo", "delta"],
        "title": ["Alpha", "Bravo", "charlie", "delta", "echo"],
        "category": ["charlie", "echo", "Alpha", "Bravo", "delta"],
        "contact": ["Alpha", "echo", "charlie", "Bravo", "delta"],
        "created": ["delta", "Alpha", "charlie", "Bravo", "echo"],
    }
    for sort, want in expected.items():
        for name, order in ((sort, want), (f"-{sort}", want[::-1])):
            assert titles(alice.tasks.list(sort=name)) == order, name
            assert paged(alice, name, limit=2) == order, name
            assert paged(alice, name, limit=1) == order, name
    assert titles(alice.tasks.list()) == expected["due"]  # the default sort
    # Paging with a filter keeps the filter.
    assert paged(alice, "title", limit=1, contact=acme) == ["Bravo", "charlie"]
    last = alice.tasks.list(sort="due", limit=5)
    assert last.next_cursor is None

    # The category sort follows the list order the admin sets.
    admin.lists.update(category_id(admin, "Email"), sort_order=0)
    reordered = ["delta", "charlie", "echo", "Alpha", "Bravo"]
    assert titles(alice.tasks.list(sort="category")) == reordered
    assert paged(alice, "-category", limit=1) == reordered[::-1]


def test_bad_sort_and_limit(alice):
    alice.tasks.add("Task", DUE)
    cases: dict[str, tuple[object, str]] = {
        "unknown sort": ({"sort": "priority"}, "sort"),
        "two dashes": ({"sort": "--due"}, "sort"),
        "sort None": ({"sort": None}, "sort"),
        "limit 0": ({"limit": 0}, "limit"),
        "limit 501": ({"limit": 501}, "limit"),
        "limit bool": ({"limit": True}, "limit"),
        "cursor as int": ({"after": 5}, "after"),
    }
    assert refusals(cases, lambda kwargs: alice.tasks.list(**kwargs)) == []


def test_forged_cursors_are_validation_errors(crm, alice):
    for i in range(3):
        alice.tasks.add(f"T{i}", DUE + i * HOUR)
    due_cursor = alice.tasks.list(sort="due", limit=1).next_cursor
    title_cursor = alice.tasks.list(sort="title", limit=1).next_cursor
    contact_cursor = alice.tasks.list(sort="contact", limit=1).next_cursor
    assert None not in (due_cursor, title_cursor, contact_cursor)
    stamp = {"dt": DUE.isoformat()}
    bad = [
        ("title", due_cursor),
        ("-due", due_cursor),
        ("due", title_cursor),
        ("contact", due_cursor),
        ("due", "!!!not base64!!!"),
        ("due", base64.urlsafe_b64encode(b"[1, 2").decode()),
        ("due", base64.urlsafe_b64encode(b'"due"').decode()),
        ("due", forged(crm, "due", {"a": 1})),
        ("due", forged(crm, "due", [1, 2])),
        ("due", forged(crm, "due", [stamp])),
        ("due", forged(crm, "due", [stamp, 1, 2])),
        ("due", forged(crm, "due", [stamp, "1"])),
        ("due", forged(crm, "due", [stamp, True])),
        ("due", forged(crm, "due", [stamp, 1.5])),
        ("due", forged(crm, "due", [stamp, None])),
        ("due", forged(crm, "due", [{"dt": "2030-01-02T09:00:00"}, 1])),
        ("due", forged(crm, "due", [{"dt": "not a date"}, 1])),
        ("due", forged(crm, "due", [{"dt": 5}, 1])),
        ("title", forged(crm, "title", [5, 1])),
        ("contact", forged(crm, "contact", [None, stamp, 1])),
        ("created", forged(crm, "created", ["2030-01-02", 1])),
    ]
    for sort, cursor in bad:
        with pytest.raises(ValidationError) as info:
            alice.tasks.list(sort=sort, after=cursor)
        assert "after" in info.value.errors, (sort, cursor)
    # A well-formed forged cursor is just a position.
    assert titles(alice.tasks.list(after=forged(crm, "due", [stamp, 0]))) == ["T0", "T1", "T2"]


def test_cursors_with_out_of_range_values_are_validation_errors(crm, alice):
    alice.tasks.add("T", DUE)
    for values in (
        [{"dt": DUE.isoformat()}, 2**70],
        [{"dt": "9999-12-31T23:00:00-05:00"}, 1],
    ):
        with pytest.raises(ValidationError) as info:
            alice.tasks.list(sort="due", after=forged(crm, "due", values))
        assert "after" in info.value.errors, values


# --- closing writes history ----------------------------------------------------------------


def test_closing_a_linked_task_writes_a_task_closed_event(crm, admin, alice, bob):
    acme = alice.contacts.add_company("Acme", access="read")
    deal = alice.opportunities.add("Deal")
    task = alice.tasks.add("Send offer", DUE, contact=acme, opportunity=deal)
    unlinked = alice.tasks.add("Water plants", DUE)

    before = counts(crm)["history_events"]
    alice.tasks.close(unlinked.id)
    assert counts(crm)["history_events"] == before  # nothing to write history on

    alice.tasks.close(task.id)
    (event,) = bob.history.list(contact=acme)
    assert (event.content, event.category_id, event.task_id) == (
        "Send offer",
        history_category_id(admin, "Task closed"),
        task.id,
    )
    assert (event.contact_id, event.opportunity_id, event.case_id) == (acme.id, deal.id, None)
    assert event.created_by == "alice"
    (written,) = admin.settings.audit_trail(entity_type="history", limit=1)
    assert (written.action, written.entity_id) == ("history.created", str(event.id))
    assert (written.data["category"], written.data["parent"]) == ("Task closed", "Acme / Deal")
    assert [e.id for e in alice.history.list(opportunity=deal)] == [event.id]
    alice.tasks.close(task.id)  # already closed: no second event
    assert alice.history.count(contact=acme) == 1

    # Deleting the task keeps its history, no longer pointing at it.
    alice.tasks.delete(task.id)
    (event,) = alice.history.list(contact=acme)
    assert (event.content, event.task_id) == ("Send offer", None)

    claim = alice.cases.add("Claim")
    on_case = alice.tasks.add("Inspect pump", DUE, case=claim)
    alice.tasks.close(on_case.id)
    (event,) = alice.history.list(case=claim)
    assert (event.content, event.task_id, event.contact_id) == ("Inspect pump", on_case.id, None)


# --- task categories ------------------------------------------------------------------------


def test_deleting_a_task_category_moves_its_tasks(admin, alice):
    lunch, demo = category_id(admin, "Lunch"), category_id(admin, "Demo")
    eat = alice.tasks.add("Eat", DUE, category="Lunch")
    dine = alice.tasks.add("Dine", DUE + HOUR, category=lunch)
    show = alice.tasks.add("Show", DUE + 2 * HOUR, category="Demo")
    admin.lists.delete(lunch, move_to=demo)
    assert [i.title for i in alice.lists.items("task_category")] == [
        c for c in CATEGORIES if c != "Lunch"
    ]
    for task in (eat, dine, show):
        assert alice.tasks.get(task.id).category_id == demo
    assert titles(alice.tasks.list(category="Demo")) == ["Eat", "Dine", "Show"]
    with pytest.raises(ValidationError) as info:
        alice.tasks.list(category="Lunch")
    assert "category" in info.value.errors
    with pytest.raises(ValidationError) as info:
        alice.tasks.add("Later", DUE, category=lunch)
    assert "category" in info.value.errors


def test_deleting_a_category_in_use(crm, admin, alice):
    lunch = category_id(admin, "Lunch")
    task = alice.tasks.add("Eat", DUE, category="Lunch")
    before = counts(crm)
    for move_to, error in (
        (None, ValidationError),
        (lunch, ValidationError),
        (history_category_id(admin, "Note"), ValidationError),
        (999_999, NotFound),
    ):
        with pytest.raises(error) as info:
            admin.lists.delete(lunch, move_to=move_to)
        if error is ValidationError:
            assert "move_to" in info.value.errors
    with pytest.raises(PermissionDenied):
        alice.lists.delete(lunch, move_to=category_id(admin, "Demo"))
    assert counts(crm) == before
    assert "Lunch" in [i.title for i in admin.lists.items("task_category")]
    assert alice.tasks.get(task.id) == task

    admin.lists.delete(category_id(admin, "Fax"))  # unused: no move_to needed
    assert "Fax" not in [i.title for i in admin.lists.items("task_category")]

    # A history category in use, or a system one, cannot be deleted at all.
    acme = alice.contacts.add_company("Acme")
    alice.history.add("Met them", "Note", contact=acme)
    with pytest.raises(Conflict):
        admin.lists.delete(history_category_id(admin, "Note"))
    with pytest.raises(Conflict):
        admin.lists.delete(history_category_id(admin, "Note"), move_to=None)
    with pytest.raises(Conflict):  # a system category never goes
        admin.lists.delete(history_category_id(admin, "Task closed"))
    assert {"Note", "Task closed"} <= {i.title for i in admin.lists.items("history_category")}


# --- deleting what a task is linked to -----------------------------------------------------


def test_deleting_a_contact_opportunity_or_case_deletes_its_tasks(crm, alice):
    acme = alice.contacts.add_company("Acme", access="read")
    deal = alice.opportunities.add("Deal")
    claim = alice.cases.add("Claim")
    on_contact = alice.tasks.add("On contact", DUE, contact=acme)
    on_both = alice.tasks.add("On contact and deal", DUE, contact=acme, opportunity=deal)
    on_deal = alice.tasks.add("On deal", DUE, opportunity=deal)
    on_case = alice.tasks.add("On case", DUE, case=claim)
    alice.tasks.add("Free", DUE)

    alice.opportunities.delete(deal.id)
    assert titles(alice.tasks.list()) == ["On contact", "On case", "Free"]
    alice.cases.delete(claim.id)
    alice.contacts.delete(acme.id)
    assert titles(alice.tasks.list(text="on")) == []
    assert titles(alice.tasks.list()) == ["Free"]
    for task in (on_contact, on_both, on_deal, on_case):
        with pytest.raises(NotFound):
            alice.tasks.get(task.id)
    assert counts(crm)["tasks"] == 1


# --- reminders ------------------------------------------------------------------------------


def test_changing_due_or_alert_or_reopening_resets_the_reminder(crm, alice):
    task = alice.tasks.add("Call", DUE, alert=60)

    def remind(now: dt.datetime) -> dt.datetime:
        assert [t.id for t in crm.due_reminders(now)] == [task.id]
        assert alice.tasks.get(task.id).reminded_at == now
        return now

    remind(DUE - 30 * dt.timedelta(minutes=1))
    assert alice.tasks.update(task.id, title="Call Joe").reminded_at is not None
    assert alice.tasks.update(task.id, category="Demo").reminded_at is not None

    assert alice.tasks.update(task.id, due=DUE + HOUR).reminded_at is None
    assert alice.tasks.get(task.id).reminded_at is None
    remind(DUE + HOUR - dt.timedelta(minutes=10))

    assert alice.tasks.update(task.id, alert=15).reminded_at is None
    assert alice.tasks.get(task.id).reminded_at is None
    remind(DUE + HOUR - dt.timedelta(minutes=5))

    closed = alice.tasks.close(task.id)
    assert closed.reminded_at is not None
    assert alice.tasks.reopen(task.id).reminded_at is None
    assert alice.tasks.get(task.id).reminded_at is None


# --- bad input -------------------------------------------------------------------------------


CREATE_CASES: dict[str, tuple[object, str]] = {
    "naive due": ({"due": dt.datetime(2030, 1, 2, 9)}, "due"),
    "date due": ({"due": dt.date(2030, 1, 2)}, "due"),
    "string due": ({"due": "2030-01-02T09:00:00+00:00"}, "due"),
    "none due": ({"due": None}, "due"),
    "out of range due": ({"due": dt.datetime(1, 1, 1, 0, 30, tzinfo=PLUS_TWO)}, "due"),
    "unknown category": ({"category": "Nope"}, "category"),
    "unknown category id": ({"category": 999_999}, "category"),
    "system history category": ({"category": "Task closed"}, "category"),
    "history category by id": ({"category": "history:Note"}, "category"),
    "bool category": ({"category": True}, "category"),
    "float category": ({"category": 1.0}, "category"),
    "alert 7": ({"alert": 7}, "alert"),
    "alert negative": ({"alert": -5}, "alert"),
    "alert bool": ({"alert": True}, "alert"),
    "alert false": ({"alert": False}, "alert"),
    "alert string": ({"alert": "15"}, "alert"),
    "alert none": ({"alert": None}, "alert"),
    "empty title": ({"title": "   "}, "title"),
    "none title": ({"title": None}, "title"),
    "long title": ({"title": "t" * 256}, "title"),
    "title as int": ({"title": 5}, "title"),
    "title with control": ({"title": "bell\x07"}, "title"),
    "description as int": ({"description": 5}, "description"),
    "long description": ({"description": "d" * 65_001}, "description"),
    "opportunity and case": ({"opportunity": "deal", "case": "claim"}, "case"),
    "contact as string": ({"contact": "1"}, "contact"),
    "unknown field": ({"closed": True}, "closed"),
    "read-only field": ({"created_by": "mallory"}, "created_by"),
    "read-only id": ({"id": 7}, "id"),
    "reminded_at": ({"reminded_at": DUE}, "reminded_at"),
    "unknown responsible": ({"responsible": "mallory"}, "responsible"),
    "empty responsible": ({"responsible": ""}, "responsible"),
    "none responsible": ({"responsible": None}, "responsible"),
    "responsible as int": ({"responsible": 5}, "responsible"),
}


def test_bad_create_is_a_validation_error_and_writes_nothing(crm, admin, alice):
    stand_ins = {
        "deal": alice.opportunities.add("Deal"),
        "claim": alice.cases.add("Claim"),
        "history:Note": history_category_id(admin, "Note"),
    }

    def attempt(fields) -> None:
        values = {"title": "Task", "due": DUE, **fields}
        for name, value in values.items():
            if isinstance(value, str) and value in stand_ins:
                values[name] = stand_ins[value]
        alice.tasks.add(values.pop("title"), values.pop("due"), **values)

    before = counts(crm)
    assert refusals(CREATE_CASES, attempt) == []
    assert counts(crm) == before


def test_float_alert_is_a_validation_error(crm, alice):
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.tasks.add("Task", DUE, alert=5.0)
    assert "alert" in info.value.errors
    assert counts(crm) == before


def test_due_outside_the_accepted_dates_is_a_validation_error(crm, alice):
    before = counts(crm)
    for due in (
        dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.UTC),
        dt.datetime(1899, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime.max.replace(tzinfo=dt.UTC),
        dt.datetime(9001, 1, 1, tzinfo=dt.UTC),
    ):
        for alert in (0, 1440):
            with pytest.raises(ValidationError) as info:
                alice.tasks.add("Ancient", due, alert=alert)
            assert info.value.errors == {"due": "must be from 1900-01-01 to 9000-12-31"}
    assert counts(crm) == before
    task = alice.tasks.add("Early", dt.datetime(1900, 1, 1, 0, 30, tzinfo=dt.UTC))
    assert alice.tasks.get(task.id).due_at == task.due_at


UPDATE_CASES: dict[str, tuple[object, str]] = {
    "naive due": ({"due": dt.datetime(2030, 1, 2, 9)}, "due"),
    "none due": ({"due": None}, "due"),
    "unknown category": ({"category": "Nope"}, "category"),
    "system history category": ({"category": "Task closed"}, "category"),
    "none category": ({"category": None}, "category"),
    "alert 7": ({"alert": 7}, "alert"),
    "alert bool": ({"alert": True}, "alert"),
    "empty title": ({"title": ""}, "title"),
    "long title": ({"title": "t" * 256}, "title"),
    "unknown field": ({"closed": True}, "closed"),
    "read-only field": ({"updated_by": "mallory"}, "updated_by"),
    "unknown responsible": ({"responsible": "mallory"}, "responsible"),
    "none responsible": ({"responsible": None}, "responsible"),
    "contact missing": ({"contact": 999_999}, "contact"),
}


def test_bad_update_is_a_validation_error_and_changes_nothing(crm, alice):
    task = alice.tasks.add("Task", DUE, responsible="bob")
    before = counts(crm)
    assert refusals(UPDATE_CASES, lambda changes: alice.tasks.update(task.id, **changes)) == []
    assert counts(crm) == before
    assert alice.tasks.get(task.id) == task


def test_responsible_is_checked_only_against_a_directory(engine, users):
    crm = CRM(engine, load_entrypoints=False)  # no user directory
    alice = crm.session(users["alice"])
    task = alice.tasks.add("Ghostly", DUE, responsible="ghost")
    assert alice.tasks.get(task.id).responsible == "ghost"
    assert titles(alice.tasks.list(responsible="ghost")) == ["Ghostly"]
