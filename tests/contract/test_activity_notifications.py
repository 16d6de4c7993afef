"""Task and history notifications end to end: through the services and ``due_reminders`` on
both backends, sent only after commit, never for a refused change."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from opencrm import CRM, InMemoryUserDirectory, OutboxNotifier, User, ValidationError

PEOPLE = [
    User(id="ada", name="Ada", email="ada@example.com", crm_admin=True),
    User(id="alice", name="Alice", email="alice@example.com"),
    User(id="bob", name="Bob", email="bob@example.com", language="de"),
    User(id="carol", name="Carol"),  # no address
]
DUE = dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC)


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


@pytest.fixture
def ncrm(engine: sa.Engine, outbox: OutboxNotifier) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(PEOPLE),
        notifier=outbox,
    )


def test_assigning_a_task_tells_the_responsible_in_their_language(
    ncrm: CRM, outbox: OutboxNotifier
) -> None:
    alice = ncrm.session(PEOPLE[1])
    joe = alice.contacts.add_person("Joe", "Smith", access="read")
    alice.tasks.add("Call Joe", DUE, responsible="bob", contact=joe, category="Phone call")
    (message,) = outbox.take()
    assert message.to == ("bob@example.com",)
    assert message.language == "de"
    assert "Call Joe" in message.subject
    assert "Alice" in message.subject
    assert "Joe Smith" in message.text
    assert "04.03.2030, 14:30:00 UTC" in message.text


def test_no_message_for_self_assignment_notify_off_or_a_refused_change(
    ncrm: CRM, outbox: OutboxNotifier
) -> None:
    alice = ncrm.session(PEOPLE[1])
    task = alice.tasks.add("Mine", DUE)
    alice.tasks.add("Quiet", DUE, responsible="bob", notify=False)
    with pytest.raises(ValidationError):
        alice.tasks.add("Broken", DUE, responsible="bob", alert=7)
    assert outbox.take() == []
    alice.tasks.update(task.id, responsible="bob")
    assert [m.to for m in outbox.take()] == [("bob@example.com",)]
    alice.tasks.update(task.id, description="same responsible, no message")
    assert outbox.take() == []


def test_group_created_tasks_notify_once_per_task(ncrm: CRM, outbox: OutboxNotifier) -> None:
    alice = ncrm.session(PEOPLE[1])
    a = alice.contacts.add_person("Ann")
    b = alice.contacts.add_person("Ben")
    alice.tasks.add_for_contacts([a, b], "Send catalogue", DUE, responsible="bob")
    assert [m.to for m in outbox.take()] == [("bob@example.com",)] * 2


def test_history_event_notifies_its_notify_list_after_commit(
    ncrm: CRM, outbox: OutboxNotifier
) -> None:
    alice = ncrm.session(PEOPLE[1])
    joe = alice.contacts.add_person("Joe", "Smith", access="read")
    alice.history.add("Signed <b>today</b>.", "Note", contact=joe, notify=["bob", "alice", "carol"])
    (message,) = outbox.take()  # not the author, not Carol (no address)
    assert message.to == ("bob@example.com",)
    assert "Joe Smith" in message.subject
    assert "Signed <b>today</b>." in message.text
    assert "Signed &lt;b&gt;today&lt;/b&gt;." in (message.html or "")
    with pytest.raises(ValidationError):
        alice.history.add("x", "Note", contact=joe, notify=["nobody-known"])
    assert outbox.take() == []


def test_due_reminders_mail_each_responsible_once(ncrm: CRM, outbox: OutboxNotifier) -> None:
    alice = ncrm.session(PEOPLE[1])
    joe = alice.contacts.add_person("Joe", "Smith")
    alice.tasks.add("Call Joe", DUE, contact=joe, alert=60, notify=False)
    alice.tasks.add("For Bob", DUE, responsible="bob", alert=15, notify=False)
    alice.tasks.add("For Carol", DUE, responsible="carol", alert=15, notify=False)
    alice.tasks.add("Never", DUE, alert=0, notify=False)

    assert ncrm.due_reminders(DUE - dt.timedelta(minutes=61)) == []
    first = ncrm.due_reminders(DUE - dt.timedelta(minutes=60))
    assert [t.title for t in first] == ["Call Joe"]
    (message,) = outbox.take()
    assert message.to == ("alice@example.com",)
    assert message.subject == "Reminder: Call Joe is due on Mar 4, 2030, 2:30:00\u202fPM UTC"
    assert "Contact: Joe Smith" in message.text

    later = ncrm.due_reminders(DUE)
    assert sorted(t.title for t in later) == ["For Bob", "For Carol"]
    assert [m.to for m in outbox.take()] == [("bob@example.com",)]  # Carol has no address
    assert ncrm.due_reminders(DUE) == []
    assert outbox.take() == []
