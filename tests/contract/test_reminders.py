"""Task reminders (``CRM.due_reminders``): which reminders are due, and that each one is
claimed exactly once, even when two app servers run the claim at the same moment."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import pytest
import sqlalchemy as sa

from opencrm import (
    ALERT_OFFSETS,
    CRM,
    Event,
    InMemoryUserDirectory,
    OpenCRMError,
    Task,
    User,
    ValidationError,
    hookimpl,
)
from opencrm.storage.sqlalchemy.engine import create_engine_for

NOW = dt.datetime(2031, 3, 14, 9, 30, tzinfo=dt.UTC)
TICK = dt.timedelta(microseconds=1)
MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
OFFSETS = [a for a in ALERT_OFFSETS if a]  # 5, 15, 30, 60, 120, 1440

ROUNDS = 5
CONTACTS = 50  # tasks are made with add_for_contacts: one per contact and call
PER_ROUND = CONTACTS * len(OFFSETS)  # 300 due reminders per round


def ids(tasks: Iterable[Task]) -> list[int]:
    return sorted(t.id for t in tasks)


class EventLog:
    """Records the committed events (from any thread, of any CRM it is registered with)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    @hookimpl
    def opencrm_event_committed(self, crm: CRM, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def named(self, name: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.name == name]


# --- which reminders are due --------------------------------------------------------------


def test_a_reminder_is_due_at_due_time_minus_alert_offset(crm: CRM, alice) -> None:  # type: ignore[no-untyped-def]
    before, at, after = [], [], []
    for minutes in OFFSETS:
        due = NOW + dt.timedelta(minutes=minutes)  # remind_at == NOW
        before.append(
            alice.tasks.add(f"before {minutes}", due - dt.timedelta(seconds=1), alert=minutes)
        )
        at.append(alice.tasks.add(f"at {minutes}", due, alert=minutes))
        after.append(alice.tasks.add(f"after {minutes}", due + TICK, alert=minutes))
    never = alice.tasks.add("no alert", NOW - MINUTE, alert=0)

    claimed = crm.due_reminders(NOW)
    assert ids(claimed) == ids([*before, *at])
    assert [(t.due_at, t.id) for t in claimed] == sorted((t.due_at, t.id) for t in claimed)
    assert all(t.reminded_at == NOW and not t.closed for t in claimed)
    assert alice.tasks.get(at[0].id).reminded_at == NOW  # stored, not just returned
    assert alice.tasks.get(after[0].id).reminded_at is None

    assert list(crm.due_reminders(NOW)) == []  # a second call: nothing left
    assert ids(crm.due_reminders(NOW + TICK)) == ids(after)  # a microsecond later
    assert list(crm.due_reminders(NOW + DAY)) == []
    assert alice.tasks.get(never.id).reminded_at is None  # alert 0: never reminded


def test_closed_tasks_are_not_reminded_and_reopened_ones_are_again(crm: CRM, alice) -> None:  # type: ignore[no-untyped-def]
    kept = alice.tasks.add("kept open", NOW + 15 * MINUTE, alert=15)
    done = alice.tasks.add("closed before its reminder", NOW + 15 * MINUTE, alert=15)
    alice.tasks.close(done.id)
    assert ids(crm.due_reminders(NOW)) == [kept.id]
    assert alice.tasks.get(done.id).reminded_at is None

    alice.tasks.close(kept.id)  # reminded, closed, then reopened: it is due again
    assert list(crm.due_reminders(NOW + MINUTE)) == []
    alice.tasks.reopen(kept.id)
    alice.tasks.reopen(done.id)
    assert alice.tasks.get(kept.id).reminded_at is None
    assert ids(crm.due_reminders(NOW + MINUTE)) == ids([kept, done])
    assert list(crm.due_reminders(NOW + 2 * MINUTE)) == []


def test_changing_due_time_or_alert_makes_the_reminder_due_again(crm: CRM, alice) -> None:  # type: ignore[no-untyped-def]
    task = alice.tasks.add("moving target", NOW + 15 * MINUTE, alert=15)
    assert ids(crm.due_reminders(NOW)) == [task.id]

    alice.tasks.update(task.id, title="renamed", description="other changes: no new reminder")
    assert list(crm.due_reminders(NOW + MINUTE)) == []
    assert alice.tasks.get(task.id).reminded_at == NOW

    alice.tasks.update(task.id, due=NOW + 16 * MINUTE)  # now reminded at NOW + 1 min
    assert alice.tasks.get(task.id).reminded_at is None
    assert list(crm.due_reminders(NOW + MINUTE - TICK)) == []
    assert ids(crm.due_reminders(NOW + MINUTE)) == [task.id]

    alice.tasks.update(task.id, alert=30)  # reminded at NOW - 14 min: due at once
    assert ids(crm.due_reminders(NOW + MINUTE)) == [task.id]

    alice.tasks.update(task.id, alert=0)  # no reminder at all
    assert list(crm.due_reminders(NOW + 16 * MINUTE)) == []
    alice.tasks.update(task.id, alert=5)
    assert ids(crm.due_reminders(NOW + 16 * MINUTE)) == [task.id]


def test_reminders_of_tasks_due_more_than_a_day_ago_are_dropped(crm: CRM, alice) -> None:  # type: ignore[no-untyped-def]
    edge = alice.tasks.add("due exactly a day ago", NOW - DAY, alert=5)
    late = alice.tasks.add("due a day and a microsecond ago", NOW - DAY - TICK, alert=5)
    week = alice.tasks.add("due a week ago", NOW - 7 * DAY, alert=1440)
    overdue = alice.tasks.add("an hour overdue", NOW - dt.timedelta(hours=1), alert=60)
    assert ids(crm.due_reminders(NOW)) == ids([edge, overdue])
    for dropped in (late, week):  # not sent, and not sent later either
        assert alice.tasks.get(dropped.id).reminded_at is None
    assert list(crm.due_reminders(NOW + MINUTE)) == []

    alice.tasks.update(late.id, due=NOW + 5 * MINUTE)  # rescheduled: due again
    assert ids(crm.due_reminders(NOW + MINUTE)) == [late.id]


@pytest.mark.parametrize(
    "now",
    [NOW.replace(tzinfo=None), "2031-03-14T09:30:00+00:00", NOW.date()],
    ids=["naive", "string", "date"],
)
def test_now_must_be_a_timezone_aware_datetime(crm: CRM, alice, now: object) -> None:  # type: ignore[no-untyped-def]
    task = alice.tasks.add("waiting", NOW, alert=5)
    with pytest.raises(ValidationError, match="timezone-aware"):
        crm.due_reminders(now)  # type: ignore[arg-type]
    assert alice.tasks.get(task.id).reminded_at is None
    assert ids(crm.due_reminders(NOW.astimezone(dt.timezone(dt.timedelta(hours=2))))) == [task.id]


def test_without_now_the_crm_clock_decides(
    engine: sa.Engine, directory: InMemoryUserDirectory, users: dict[str, User]
) -> None:
    clock = [NOW]
    crm = CRM(engine, load_entrypoints=False, directory=directory, clock=lambda: clock[0])
    alice = crm.session(users["alice"])
    task = alice.tasks.add("by the clock", NOW + 30 * MINUTE, alert=30)
    soon = alice.tasks.add("later", NOW + 31 * MINUTE, alert=30)
    assert ids(crm.due_reminders()) == [task.id]
    assert alice.tasks.get(task.id).reminded_at == NOW
    clock[0] = NOW + MINUTE
    assert ids(crm.due_reminders()) == [soon.id]


def test_each_claimed_task_emits_a_reminder_event(
    engine: sa.Engine, directory: InMemoryUserDirectory, users: dict[str, User]
) -> None:
    log = EventLog()
    crm = CRM(engine, plugins=[log], load_entrypoints=False, directory=directory)
    alice = crm.session(users["alice"])
    company = alice.contacts.add_company("Reminded Ltd", managers={"alice", "bob"})
    category = alice.lists.items("task_category")[-1]
    for_bob = alice.tasks.add(
        "Call back", NOW, alert=15, responsible="bob", contact=company, category=category
    )
    own = alice.tasks.add("Write offer", NOW + MINUTE, alert=60)
    log.events.clear()

    claimed = crm.due_reminders(NOW)
    assert ids(claimed) == ids([for_bob, own])
    reminders = log.events
    assert [e.name for e in reminders] == ["task.reminder"] * 2
    assert [e.entity_id for e in reminders] == [t.id for t in claimed]
    first = reminders[0]
    assert (first.actor_id, first.entity_type) == ("opencrm", "task")
    assert first.entity == claimed[0]
    assert first.data == {
        "responsible": "bob",
        "category": category.title,
        "due_at": NOW.isoformat(),
        "contact": "Reminded Ltd",
        "opportunity": "",
        "case": "",
    }
    assert reminders[1].data["responsible"] == "alice"
    log.events.clear()
    crm.due_reminders(NOW)
    assert log.events == []  # nothing claimed, nothing emitted


def test_a_vetoed_claim_leaves_the_reminders_due(
    engine: sa.Engine, directory: InMemoryUserDirectory, users: dict[str, User]
) -> None:
    class Veto:
        active = True

        @hookimpl
        def opencrm_before_commit(self, crm: CRM, uow: object, events: Sequence[Event]) -> None:
            if self.active and any(e.name == "task.reminder" for e in events):
                raise OpenCRMError("not now")

    veto, log = Veto(), EventLog()
    crm = CRM(engine, plugins=[veto, log], load_entrypoints=False, directory=directory)
    alice = crm.session(users["alice"])
    task = alice.tasks.add("vetoed", NOW, alert=5)
    with pytest.raises(OpenCRMError, match="not now"):
        crm.due_reminders(NOW)
    assert alice.tasks.get(task.id).reminded_at is None  # rolled back: not lost
    assert log.named("task.reminder") == []
    veto.active = False
    assert ids(crm.due_reminders(NOW)) == [task.id]
    assert [e.entity_id for e in log.named("task.reminder")] == [task.id]


# --- the acceptance test: two app servers, the same moment -----------------------------


@pytest.fixture
def second_engine(
    backend: str, engine: sa.Engine, request: pytest.FixtureRequest
) -> Iterator[sa.Engine]:
    """Another engine on the fixture's database: a second app server."""
    if backend == "sqlite":
        other = create_engine_for(engine.url.render_as_string(hide_password=False))
    else:
        other = request.getfixturevalue("pg_database").make_engine()
    yield other
    other.dispose()


def race(servers: Sequence[CRM], now: dt.datetime) -> tuple[list[Sequence[Task]], bool]:
    """Run ``due_reminders(now)`` on every server at once; return what each claimed and
    whether the calls overlapped in time."""
    barrier = threading.Barrier(len(servers))
    results: list[Sequence[Task]] = [() for _ in servers]
    spans = [(0.0, 0.0) for _ in servers]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            started = time.perf_counter()
            results[i] = servers[i].due_reminders(now)
            spans[i] = (started, time.perf_counter())
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a runner hung"
    if errors:
        raise errors[0]
    overlapped = max(s for s, _ in spans) < min(e for _, e in spans)
    return results, overlapped


def test_two_servers_racing_claim_each_reminder_exactly_once(
    engine: sa.Engine,
    second_engine: sa.Engine,
    directory: InMemoryUserDirectory,
    users: dict[str, User],
    request: pytest.FixtureRequest,
) -> None:
    log = EventLog()
    servers = [
        CRM(e, plugins=[log], load_entrypoints=False, directory=directory)
        for e in (engine, second_engine)
    ]
    admin = servers[0].session(users["admin"])
    companies = [admin.contacts.add_company(f"Race {i:02}") for i in range(CONTACTS)]
    responsibles = ["alice", "bob", "carol"]

    def add(title: str, due: dt.datetime, alert: int, responsible: str) -> list[Task]:
        return admin.tasks.add_for_contacts(
            companies, title, due, alert=alert, responsible=responsible, notify=False
        )

    # never due in any round: no alert, reminder still ahead (then too late), due too long ago
    add("no alert", NOW - MINUTE, 0, "alice")
    add("ahead", NOW + 15 * MINUTE + TICK, 15, "bob")
    add("too late", NOW - DAY - TICK, 5, "carol")
    expected_all: list[int] = []
    figures, overlaps = [], []
    for r in range(ROUNDS):
        now = NOW + r * 10 * DAY  # earlier rounds' tasks are long past by the next round
        expected: list[Task] = []
        for k, minutes in enumerate(OFFSETS):
            due = now + dt.timedelta(minutes=minutes) - k * dt.timedelta(seconds=7)  # <= now
            expected += add(f"due {r}/{minutes}", due, minutes, responsibles[k % 3])
        assert len(expected) == PER_ROUND

        results, overlapped = race(servers, now)
        claimed = [set(ids(result)) for result in results]
        assert sum(len(result) for result in results) == PER_ROUND  # nobody got one twice
        assert claimed[0] & claimed[1] == set()
        assert claimed[0] | claimed[1] == set(ids(expected))
        assert all(t.reminded_at == now for result in results for t in result)
        figures.append(f"{len(results[0])}+{len(results[1])}")
        overlaps.append(overlapped)
        expected_all += ids(expected)
        assert [list(s.due_reminders(now)) for s in servers] == [[], []]

    sent = [e.entity_id for e in log.named("task.reminder")]
    assert Counter(sent) == Counter(expected_all)  # every reminder sent, each exactly once
    assert len(sent) == ROUNDS * PER_ROUND
    assert any(overlaps), "the runners never ran at the same time: not a race"
    # the figures, for a JUnit XML report (nothing is printed)
    request.node.user_properties += [
        ("claimed per round (server 1 + server 2)", " ".join(figures)),
        ("overlapping rounds", f"{sum(overlaps)}/{ROUNDS}"),
        ("reminders sent / expected", f"{len(sent)}/{ROUNDS * PER_ROUND}"),
    ]
