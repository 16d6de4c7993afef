"""The tasks calendar feed (``session.tasks.calendar()``), read back with ``icalendar``: what
it holds, and that it is iCalendar (RFC 5545) a calendar client accepts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import icalendar
import sqlalchemy as sa

from opencrm import CRM, InMemoryUserDirectory, Task, User

DUE = dt.datetime(2031, 3, 14, 9, 30, tzinfo=dt.UTC)
CEST = dt.timezone(dt.timedelta(hours=2))
TRICKY = (
    "Bring: contract, offer; price list\n"
    "Second line — Zoë, Łódź, 東京, 🙂\n"
    'Path C:\\offers\\2031 and "quotes"'
)


def feed(session: Any) -> tuple[bytes, icalendar.Calendar]:
    raw: bytes = session.tasks.calendar()
    return raw, icalendar.Calendar.from_ical(raw)


def uid(engine: sa.Engine, task: Task) -> str:
    """A task's UID: its id and the database's random instance id (unique across installs)."""
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT value FROM settings WHERE key = 'instance_id'"))
        instance = json.loads(raw.scalar_one())
    assert len(instance) == 32
    return f"task-{task.id}.{instance}@opencrm"


def todos(cal: icalendar.Calendar) -> dict[str, icalendar.Todo]:
    """The VTODOs by UID."""
    found = {str(todo["uid"]): todo for todo in cal.walk("VTODO")}
    assert len(found) == len(cal.walk("VTODO")), "duplicate UIDs"
    return found


def todo_of(cal: icalendar.Calendar, task: Task) -> icalendar.Todo:
    (match,) = [t for t in cal.walk("VTODO") if str(t["summary"]) == task.title]
    return match


def test_only_the_actors_open_tasks_where_they_are_responsible(alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    mine = alice.tasks.add("Mine", DUE)
    given = bob.tasks.add("Given to alice by bob", DUE + dt.timedelta(hours=1), responsible="alice")
    delegated = alice.tasks.add("Delegated to bob", DUE, responsible="bob")
    closed = alice.tasks.add("Closed", DUE)
    alice.tasks.close(closed.id)
    reopened = alice.tasks.add("Reopened", DUE)
    alice.tasks.close(reopened.id)
    alice.tasks.reopen(reopened.id)
    admin.tasks.add("The admin's own", DUE)

    _, cal = feed(alice)
    assert sorted(str(t["summary"]) for t in cal.walk("VTODO")) == sorted(
        t.title for t in (mine, given, reopened)
    )
    _, cal = feed(bob)
    assert [str(t["summary"]) for t in cal.walk("VTODO")] == [delegated.title]
    _, cal = feed(admin)  # a CRM admin reads every task, but the feed is their own
    assert [str(t["summary"]) for t in cal.walk("VTODO")] == ["The admin's own"]


def test_a_vtodo_per_task_with_exact_fields(engine, alice, admin) -> None:  # type: ignore[no-untyped-def]
    category = admin.lists.add("task_category", "Calls, visits; misc")
    call = alice.tasks.add(
        "Call Zoë back, re: offer; today",
        DUE.astimezone(CEST),
        category=category,
        description=TRICKY,
        alert=15,
    )
    plain = alice.tasks.add("No alert", DUE + dt.timedelta(days=1), alert=0)
    daily = alice.tasks.add("A day ahead", DUE + dt.timedelta(days=2), alert=1440)
    raw, cal = feed(alice)

    assert str(cal["version"]) == "2.0"
    assert str(cal["prodid"]).startswith("-//opencrm//")
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
    assert raw.endswith(b"END:VCALENDAR\r\n")
    assert set(todos(cal)) == {uid(engine, t) for t in (call, plain, daily)}

    todo = todo_of(cal, call)
    assert str(todo["uid"]) == uid(engine, call)
    assert str(todo["summary"]) == "Call Zoë back, re: offer; today"
    assert todo["due"].dt == DUE
    assert todo["due"].dt.utcoffset() == dt.timedelta(0)
    assert b"\r\nDUE:20310314T093000Z\r\n" in raw  # a UTC time, not the CEST one it was given
    assert [str(c) for c in todo["categories"].cats] == ["Calls, visits; misc"]
    assert b"CATEGORIES:Calls\\, visits\\; misc\r\n" in raw  # one category, escaped
    assert str(todo["description"]) == TRICKY
    assert str(todo["status"]) == "NEEDS-ACTION"
    assert todo["dtstamp"].dt == todo["last-modified"].dt  # the last revision (RFC 5545)
    (alarm,) = todo.walk("VALARM")
    assert str(alarm["action"]) == "DISPLAY"
    assert str(alarm["description"]) == call.title
    assert alarm["trigger"].dt == -dt.timedelta(minutes=15)
    assert alarm["trigger"].params["RELATED"] == "END"  # relative to DUE
    assert b"\r\nTRIGGER;RELATED=END:-PT15M\r\n" in raw

    todo = todo_of(cal, plain)
    assert todo.walk("VALARM") == []
    assert "description" not in todo
    assert [str(c) for c in todo["categories"].cats] == [
        alice.lists.items("task_category")[0].title
    ]
    (alarm,) = todo_of(cal, daily).walk("VALARM")
    assert alarm["trigger"].dt == -dt.timedelta(days=1)


def test_uids_are_stable_and_an_unchanged_feed_is_identical(
    engine: sa.Engine, directory: InMemoryUserDirectory, users: dict[str, User]
) -> None:
    clock = [dt.datetime(2031, 3, 1, 8, 0, tzinfo=dt.UTC)]
    crm = CRM(engine, load_entrypoints=False, directory=directory, clock=lambda: clock[0])
    alice = crm.session(users["alice"])
    first = alice.tasks.add("First", DUE, alert=5)
    second = alice.tasks.add("Second", DUE + dt.timedelta(minutes=30))
    raw1, cal1 = feed(alice)
    raw2, cal2 = feed(alice)
    assert set(todos(cal1)) == set(todos(cal2))
    assert raw1 == raw2  # nothing in it changes between refreshes of unchanged tasks

    clock[0] += dt.timedelta(minutes=10)
    alice.tasks.update(first.id, title="First, renamed", due=DUE + dt.timedelta(hours=1))
    alice.tasks.add("Third", DUE)
    _, cal3 = feed(alice)
    by_uid = todos(cal3)
    assert set(todos(cal1)) < set(by_uid)
    renamed = by_uid[uid(engine, first)]
    assert str(renamed["summary"]) == "First, renamed"
    assert renamed["due"].dt == DUE + dt.timedelta(hours=1)
    assert renamed["dtstamp"].dt == renamed["last-modified"].dt == clock[0]
    untouched = uid(engine, second)
    assert by_uid[untouched].to_ical() == todos(cal1)[untouched].to_ical()


def test_long_lines_are_folded_at_75_octets(alice) -> None:  # type: ignore[no-untyped-def]
    title = ("Überprüfung des Angebots für Ōsaka — 東京 " * 8)[:255].strip()
    description = "Ж" * 500 + "\n" + "a, b; c " * 100
    task = alice.tasks.add(title, DUE, description=description)
    raw, cal = feed(alice)
    lines = raw.split(b"\r\n")
    assert lines[-1] == b""  # every line ends with CRLF
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    assert sum(line.startswith(b" ") for line in lines) > 10  # folded, not cut
    for line in lines:
        line.decode("utf-8")  # no line ends inside a multi-byte character
    todo = todo_of(cal, task)
    assert str(todo["summary"]) == title
    assert str(todo["description"]) == task.description == description.strip()


def test_a_user_without_open_tasks_gets_an_empty_calendar(alice, bob) -> None:  # type: ignore[no-untyped-def]
    alice.tasks.add("Not bob's", DUE)
    raw, cal = feed(bob)
    assert cal.walk("VTODO") == []
    assert (str(cal["version"]), str(cal["prodid"])) == ("2.0", "-//opencrm//tasks//EN")
    assert b"Bob" in raw  # the calendar's name


def test_a_full_feed_keeps_what_is_coming_before_what_is_long_overdue(  # type: ignore[no-untyped-def]
    engine, directory, users, monkeypatch
) -> None:
    import opencrm.core.services.tasks as task_service

    monkeypatch.setattr(task_service, "CALENDAR_LIMIT", 2)
    now = dt.datetime(2031, 3, 1, 8, 0, tzinfo=dt.UTC)
    crm = CRM(engine, load_entrypoints=False, directory=directory, clock=lambda: now)
    alice = crm.session(users["alice"])
    alice.tasks.add("forgotten 2027", dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    alice.tasks.add("overdue yesterday", now - dt.timedelta(days=1))
    alice.tasks.add("tomorrow", now + dt.timedelta(days=1))
    _, cal = feed(alice)
    assert sorted(str(t["summary"]) for t in cal.walk("VTODO")) == [
        "overdue yesterday",
        "tomorrow",
    ]
