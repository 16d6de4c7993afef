"""Edge cases found in review: what messages may name, what cursors may carry, reminder
claims racing edits, and input that must be a typed error."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from _cursors import payload

from opencrm import (
    CRM,
    InMemoryUserDirectory,
    LocalFileStore,
    OutboxNotifier,
    User,
    ValidationError,
    hookimpl,
)

PEOPLE = [
    User(id="ada", name="Ada", email="ada@example.com"),
    User(id="bob", name="Bob", email="bob@example.com"),
]
DUE = dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC)


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


@pytest.fixture
def rcrm(engine: sa.Engine, outbox: OutboxNotifier) -> CRM:
    return CRM(
        engine, load_entrypoints=False, directory=InMemoryUserDirectory(PEOPLE), notifier=outbox
    )


def test_messages_name_only_records_the_recipient_may_read(
    rcrm: CRM, outbox: OutboxNotifier
) -> None:
    ada = rcrm.session(PEOPLE[0])
    joe = ada.contacts.add_person("Joseph", "Secretname")  # private to Ada
    deal = ada.opportunities.add("Project Nightingale", restricted=True)
    ada.tasks.add("Prepare", DUE, responsible="bob", contact=joe, opportunity=deal, alert=15)
    (assigned,) = outbox.take()
    assert "Secretname" not in assigned.text
    assert "Nightingale" not in assigned.text
    assert [t.title for t in rcrm.due_reminders(DUE)] == ["Prepare"]
    (reminder,) = outbox.take()
    assert "Secretname" not in reminder.text
    assert "Nightingale" not in reminder.text
    # Once Bob may read them, they are named.
    ada.contacts.set_access(joe.id, access="read")
    ada.opportunities.set_access(deal.id, access_list=["bob"])
    outbox.take()  # Bob is told he was given access
    ada.tasks.add("Follow up", DUE, responsible="bob", contact=joe, opportunity=deal)
    (named,) = outbox.take()
    assert "Joseph Secretname" in named.text
    assert "Project Nightingale" in named.text


def test_a_contact_sort_cursor_never_carries_an_unreadable_name(rcrm: CRM) -> None:
    ada, bob = rcrm.session(PEOPLE[0]), rcrm.session(PEOPLE[1])
    joe = ada.contacts.add_person("Joseph", "Secretname")
    ada.tasks.add("Call him", DUE, responsible="bob", contact=joe)
    ada.tasks.add("Call him again", DUE, responsible="bob", contact=joe)
    cursor = bob.tasks.list(sort="contact", limit=1).next_cursor
    assert cursor is not None
    decoded = payload(cursor)
    assert decoded[1][0] == ""
    assert "secretname" not in json.dumps(decoded)
    assert len(bob.tasks.list(sort="contact", limit=1, after=cursor).items) == 1


def test_an_edit_racing_a_claim_does_not_re_arm_the_reminder(rcrm: CRM) -> None:
    ada = rcrm.session(PEOPLE[0])
    task = ada.tasks.add("Call", DUE, alert=60, notify=False)
    # The edit read the task before the claim and writes after it.
    stale = ada.tasks.get(task.id)
    assert [t.id for t in rcrm.due_reminders(DUE)] == [task.id]
    ada.tasks.update(stale.id, description="more notes")
    assert rcrm.due_reminders(DUE) == []
    ada.tasks.update(task.id, alert=15)  # a new reminder time re-arms it
    assert [t.id for t in rcrm.due_reminders(DUE)] == [task.id]


def test_a_concurrent_edit_and_claim_send_the_reminder_once(rcrm: CRM) -> None:
    ada = rcrm.session(PEOPLE[0])
    tasks = [ada.tasks.add(f"T{i}", DUE, alert=60, notify=False) for i in range(20)]
    barrier = threading.Barrier(2)
    claimed: list[int] = []

    def edit() -> None:
        barrier.wait()
        for t in tasks:
            ada.tasks.update(t.id, description="edited")

    def claim() -> None:
        barrier.wait()
        claimed.extend(t.id for t in rcrm.due_reminders(DUE))

    threads = [threading.Thread(target=edit), threading.Thread(target=claim)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    claimed.extend(t.id for t in rcrm.due_reminders(DUE))
    assert sorted(claimed) == sorted(t.id for t in tasks)


def test_reminders_at_the_start_of_the_calendar_are_a_validation_error(rcrm: CRM) -> None:
    for when in (dt.datetime(1, 1, 1, 12, tzinfo=dt.UTC), dt.datetime(1, 1, 2, 12, tzinfo=dt.UTC)):
        with pytest.raises(ValidationError) as info:
            rcrm.due_reminders(when)
        assert "now" in info.value.errors


def test_notify_must_be_a_collection_of_user_ids(rcrm: CRM) -> None:
    ada = rcrm.session(PEOPLE[0])
    joe = ada.contacts.add_person("Joe")
    for bad in ("bob", PEOPLE[1], 5):
        with pytest.raises(ValidationError) as info:
            ada.history.add("x", "Note", contact=joe, notify=bad)  # type: ignore[arg-type]
        assert "notify" in info.value.errors
    assert ada.history.count() == 0


def test_deleting_a_contact_while_a_file_is_added_leaves_no_file(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """An upload in flight when its contact is deleted: the deletion waits for it and then
    deletes its file too (without the row lock the file stayed on disk, its row cascaded)."""
    paused, go = threading.Event(), threading.Event()

    class Pause:
        @hookimpl
        def opencrm_before_commit(self, crm, uow, events):  # type: ignore[no-untyped-def]
            if any(e.name == "history.created" for e in events):
                paused.set()
                go.wait(10)

    store_dir = tmp_path / "files"
    crm = CRM(
        engine,
        load_entrypoints=False,
        plugins=[Pause()],
        file_store=LocalFileStore(store_dir),
    )
    ada = crm.session(PEOPLE[0])
    joe = ada.contacts.add_person("Joe")
    errors: list[BaseException] = []

    def add() -> None:
        try:
            ada.history.add("minutes", "Note", contact=joe, files=[("m.txt", b"notes\n")])
        except BaseException as exc:
            errors.append(exc)

    adder = threading.Thread(target=add)
    adder.start()
    assert paused.wait(10)
    deleter = threading.Thread(target=lambda: ada.contacts.delete(joe.id))
    deleter.start()
    time.sleep(0.5)  # the deletion is now waiting for the upload's transaction
    go.set()
    adder.join(20)
    deleter.join(20)
    assert errors == []
    assert ada.history.count() == 0
    assert [p for p in store_dir.rglob("*") if p.is_file()] == []
