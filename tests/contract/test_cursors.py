"""List cursors are signed and type-checked: a forged, foreign or damaged cursor is a
ValidationError naming ``after`` on every backend, and nothing else happens."""

from __future__ import annotations

import datetime as dt

import pytest
from _cursors import forge, payload, sign_payload

from opencrm import CRM, ValidationError

NOT_A_CURSOR = {"after": "is not a cursor of this list and sort"}
DUE = dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC)
STAMP = {"dt": DUE.isoformat()}


def _fill(s) -> None:  # type: ignore[no-untyped-def]
    """Three records in every paged list, so each has a next page at limit 1."""
    for n in range(3):
        joe = s.contacts.add_person(f"Joe{n}", tags={"t"})
        s.opportunities.add(f"Deal {n}", contact=joe, tags={"t"})
        s.cases.add(f"Case {n}", tags={"t"})
        s.tasks.add(f"Task {n}", DUE + dt.timedelta(hours=n))
        s.history.add(f"Note {n}", "Note", contact=joe)
        s.invoices.add(client=joe, lines=[s.invoices.line("Work", quantity=1, price="10")])


#: list -> sort -> well-typed values of its keys (the last one the record id).
GOOD = {
    "contacts": {"name": ["joe1", 2], "created": [STAMP, 2], "type": [1, "joe1", 2]},
    "opportunities": {"title": ["deal 1", 2], "expected_close": [{"d": "2030-01-01"}, 2]},
    "cases": {"title": ["case 1", 2], "created": [STAMP, 2]},
    "tasks": {"due": [STAMP, 2], "title": ["task 1", 2]},
    "history": {"-date": [STAMP, 2]},
    "invoices": {"-issue_date": [{"d": "2030-01-01"}, 2], "number": ["X", 2]},
}
#: Values of the wrong type for a key of each kind: text, integer id, datetime, date.
WRONG = {
    "text": [5, True, 1.5, {"dt": DUE.isoformat()}, ["a"], {"a": 1}],
    "id": ["2", True, 1.5, 2**31, -(2**31) - 1, 2**70, STAMP, None, [2]],
    "datetime": [5, "2030-01-01T09:00:00+00:00", {"dt": "2030-01-01T09:00:00"}, None],
    "date": [5, "2030-01-01", STAMP, {"d": "not a date"}],
}
#: (list, sort, index of the key, kind of key)
KEYS = [
    ("contacts", "name", 0, "text"),
    ("contacts", "name", 1, "id"),
    ("contacts", "created", 0, "datetime"),
    ("contacts", "type", 0, "id"),
    ("opportunities", "title", 1, "id"),
    ("opportunities", "expected_close", 0, "date"),
    ("cases", "created", 0, "datetime"),
    ("tasks", "due", 0, "datetime"),
    ("tasks", "title", 0, "text"),
    ("history", "-date", 1, "id"),
    ("invoices", "-issue_date", 0, "date"),
    ("invoices", "number", 1, "id"),
]


def _refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.errors == NOT_A_CURSOR


@pytest.mark.parametrize(("name", "sort", "index", "kind"), KEYS)
def test_forged_values_of_the_wrong_type_are_refused(crm: CRM, admin, name, sort, index, kind):
    _fill(admin)
    lister = getattr(admin, name).list
    good = GOOD[name][sort]
    assert len(lister(sort=sort, after=forge(crm, name, sort, good))) >= 0  # a position
    for value in WRONG[kind]:
        values = list(good)
        values[index] = value
        _refused(lambda v=values: lister(sort=sort, after=forge(crm, name, sort, v)))
    for values in (good[:-1], [*good, 1], {"a": 1}, "x"):
        _refused(lambda v=values: lister(sort=sort, after=forge(crm, name, sort, v)))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_foreign_damaged_and_unsigned_cursors_are_refused(crm: CRM, admin, name):
    _fill(admin)
    lister = getattr(admin, name).list
    sort = next(iter(GOOD[name]))
    cursor = lister(sort=sort, limit=1).next_cursor
    assert cursor is not None
    second = lister(sort=sort, limit=1, after=cursor)
    assert len(second) == 1  # the real one works
    other_list = "tasks" if name != "tasks" else "contacts"
    body, _, mac = cursor.partition(".")
    for bad in (
        forge(crm, other_list, sort, GOOD[name][sort]),  # signed for another list
        getattr(admin, other_list).list(limit=1).next_cursor,  # handed out by another list
        body,  # signature cut off
        f"{body}.{mac[:-2]}",  # truncated signature
        cursor[:-1],
        cursor[: len(body) // 2],  # truncated payload
        f"{body}x.{mac}",  # payload changed
        "garbage",
        "!!!.???",
        "",
        ".",
        "x" * 20_000,
        "\x00",
        "\ud800",
        sign_payload(crm, name, "not base64!"),
        sign_payload(crm, name, "W1s"),  # valid base64, broken JSON
    ):
        if bad == "":
            assert list(lister(sort=sort, after=bad)) == list(lister(sort=sort))  # no cursor
            continue
        _refused(lambda b=bad: lister(sort=sort, after=b))
    # The same list in another sort, and the same sort in the other direction.
    flipped = sort[1:] if sort.startswith("-") else f"-{sort}"
    others = [s for s in GOOD[name] if s != sort]
    for other_sort in [flipped, *others]:
        assert lister(sort=other_sort, limit=1).next_cursor is not None
        _refused(lambda o=other_sort: lister(sort=o, after=cursor))


def test_a_cursor_of_another_database_is_refused(crm: CRM, admin):
    _fill(admin)
    cursor = admin.contacts.list(limit=1).next_cursor
    with crm.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE settings SET value = '\"" + "ab" * 32 + "\"' WHERE key = 'cursor_secret'"
        )
    _refused(lambda: admin.contacts.list(after=cursor))


def test_the_secret_is_made_on_first_use_when_missing(crm: CRM, admin):
    _fill(admin)
    with crm.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM settings WHERE key = 'cursor_secret'")
    cursor = admin.contacts.list(limit=1).next_cursor
    assert cursor is not None
    assert len(admin.contacts.list(limit=1, after=cursor)) == 1
    assert payload(cursor)[0] == "name"
