# ruff: noqa: RUF001  (Russian messages are the point of some of these tests)
"""Notifications (SPEC S13): who gets which message, in which language, and only after commit;
the delivery hook; task and history notifications and task reminders (from hand-built events:
the exact text in English, German and Russian); ``invoices.send`` through the outbox and
through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import logging
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from opencrm import (
    CRM,
    Conflict,
    InMemoryUserDirectory,
    Message,
    NotConfigured,
    OutboxNotifier,
    SmtpNotifier,
    User,
    ValidationError,
    hookimpl,
)
from opencrm.core.entities.activities import HistoryEvent, HistoryFile, Task
from opencrm.core.events import Event
from opencrm.plugins.builtin.notifications import task_reminder_mail

PEOPLE = [
    User(id="admin", name="Ada Admin", crm_admin=True, email="ada@example.com"),
    User(id="alice", name="Alice", email="alice@example.com", language="en"),
    User(id="bob", name="Bob", email="bob@example.com", language="de"),
    User(id="carol", name="Carol"),  # no e-mail address: never notified
    User(id="dave", name="Dave", email="dave@example.com", language="xx_unknown"),
    User(id="ivan", name="Иван", email="ivan@example.com", language="ru"),
]


@pytest.fixture
def people() -> dict[str, User]:
    return {u.id: u for u in PEOPLE}


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


def make_crm(engine: sa.Engine, notifier: Any = None, plugins: tuple[object, ...] = ()) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(PEOPLE),
        notifier=notifier,
        plugins=plugins,
    )


@pytest.fixture
def ncrm(engine: sa.Engine, outbox: OutboxNotifier) -> CRM:
    return make_crm(engine, outbox)


def sent(outbox: OutboxNotifier) -> list[tuple[tuple[str, ...], str, str | None]]:
    return [(m.to, m.subject, m.language) for m in outbox.take()]


# --- events -> messages ------------------------------------------------------------------------


def test_contact_managers_hear_in_their_language(ncrm, people, outbox):
    s = ncrm.session(people["alice"])
    joe = s.contacts.add_person("Joe", "Smith", managers=["alice", "bob", "carol", "dave"])
    assert sent(outbox) == [
        (("bob@example.com",), "Alice hat den Kontakt Joe Smith für Sie freigegeben", "de"),
        (("dave@example.com",), "Alice shared the contact Joe Smith with you", "en"),
    ]
    # A change that grants nobody anything sends nothing.
    s.contacts.update(joe.id, last_name="Smyth")
    assert sent(outbox) == []


def test_message_bodies_are_readable_text_and_escaped_html(ncrm, people, outbox):
    s = ncrm.session(people["alice"])
    s.contacts.add_company("<b>Evil</b> & Co", managers=["alice", "bob"])
    (message,) = outbox.take()
    assert message.text.startswith("Hallo Bob,\n\nAlice hat Sie am ")
    assert "als Betreuer des Kontakts <b>Evil</b> & Co eingetragen" in message.text
    assert "Diese Nachricht wurde von opencrm gesendet." in message.text
    assert message.html is not None
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in message.html
    assert "<b>" not in message.html
    assert "http" not in message.text
    assert message.attachments == ()


def test_opportunity_responsible_and_access(ncrm, people, outbox):
    s = ncrm.session(people["alice"])
    deal = s.opportunities.add("Renewal", responsible="bob")
    assert sent(outbox) == [
        (
            ("bob@example.com",),
            "Alice hat Sie für die Verkaufschance Renewal verantwortlich gemacht",
            "de",
        ),
    ]
    s.opportunities.update(deal.id, responsible="alice")  # the actor: not told
    assert sent(outbox) == []
    s.opportunities.set_access(deal.id, restricted=True, access_list=["dave", "carol"])
    assert sent(outbox) == [
        (("dave@example.com",), "Alice gave you access to the opportunity Renewal", "en"),
    ]


def test_case_access(ncrm, people, outbox):
    s = ncrm.session(people["alice"])
    case = s.cases.add("Broken pump", restricted=True, access_list=["bob"])
    assert sent(outbox) == [
        (("bob@example.com",), "Alice hat Ihnen Zugriff auf den Vorgang Broken pump gegeben", "de"),
    ]
    s.cases.set_access(case.id, access_list=["bob", "dave", "alice"])
    assert sent(outbox) == [
        (("dave@example.com",), "Alice gave you access to the case Broken pump", "en"),
    ]


class Veto:
    @hookimpl
    def opencrm_before_commit(self, events):
        if any(e.name == "contact.created" for e in events):
            raise Conflict("no new contacts today")


def test_nothing_is_sent_for_a_rolled_back_change(engine, people, outbox):
    crm = make_crm(engine, outbox, plugins=(Veto(),))
    s = crm.session(people["alice"])
    with pytest.raises(Conflict):
        s.contacts.add_person("Joe", managers=["alice", "bob"])
    with pytest.raises(ValidationError):  # refused before anything was written
        s.opportunities.add("", responsible="bob")
    assert sent(outbox) == []


class Delivers:
    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.seen: list[Message] = []

    @hookimpl
    def opencrm_deliver_notification(self, crm, message):
        self.seen.append(message)
        return self.answer


def test_a_plugin_that_delivers_replaces_the_notifier(engine, people, outbox):
    plugin = Delivers(True)
    crm = make_crm(engine, outbox, plugins=(plugin,))
    crm.session(people["alice"]).contacts.add_person("Joe", managers=["alice", "bob"])
    assert [m.to for m in plugin.seen] == [("bob@example.com",)]
    assert len(outbox) == 0


def test_a_plugin_that_declines_leaves_it_to_the_notifier(engine, people, outbox):
    plugin = Delivers(None)
    crm = make_crm(engine, outbox, plugins=(plugin,))
    crm.session(people["alice"]).contacts.add_person("Joe", managers=["alice", "bob"])
    assert len(plugin.seen) == 1
    assert [m.to for m in outbox] == [("bob@example.com",)]


def test_without_a_notifier_nothing_is_sent_and_nothing_fails(engine, people):
    crm = make_crm(engine)
    joe = crm.session(people["alice"]).contacts.add_person("Joe", managers=["alice", "bob"])
    assert crm.notify(Message(to="x@example.com", subject="s", text="t")) is False
    assert crm.session(people["bob"]).contacts.get(joe.id).managers == {"alice", "bob"}


class Broken:
    def send(self, message: Message) -> None:
        raise OSError("mail server down")


def test_a_failing_notifier_is_logged_and_the_change_stays(engine, people, caplog):
    crm = make_crm(engine, Broken())
    with caplog.at_level(logging.ERROR, logger="opencrm"):
        joe = crm.session(people["alice"]).contacts.add_person("Joe", managers=["alice", "bob"])
    assert "contact.access_changed" in caplog.text
    assert crm.session(people["bob"]).contacts.get(joe.id).first_name == "Joe"


# --- tasks and history (events built by hand, as the services emit them) -----------------------

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
DUE = dt.datetime(2025, 3, 4, 14, 30, tzinfo=dt.UTC)
NNBSP = "\u202f"  # babel's narrow no-break space (before "PM", and in Russian dates)


@pytest.fixture
def bare(outbox: OutboxNotifier) -> CRM:
    """A CRM with a directory and an outbox whose database is never touched."""
    return make_crm(sa.create_engine("sqlite://"), outbox)


def committed(crm: CRM, event: Event) -> None:
    crm.plugin_manager.hook.opencrm_event_committed(crm=crm, event=event)


def make_task(**changes: Any) -> Task:
    task = Task(
        id=7,
        title="Call Joe",
        category_id=1,
        due_at=DUE,
        responsible="bob",
        description="Ask about the <renewal> & prices.\nBring the numbers.",
        contact_id=1,
        opportunity_id=2,
        created_by="admin",
        created_at=T0,
        updated_by="admin",
        updated_at=T0,
    )
    return attrs.evolve(task, **changes)


def assigned(task: Task, actor: str = "admin", **data: Any) -> Event:
    facts = {
        "responsible": task.responsible,
        "category": "Call",
        "due_at": task.due_at.isoformat(),
        "contact": "Joe Smith",
        "opportunity": "Renewal",
        "case": "",
    }
    return Event(
        name="task.assigned",
        entity_type="task",
        entity_id=task.id,
        actor_id=actor,
        at=T0,
        data={**facts, **data},
        entity=task,
    )


def history(notify: list[str], actor: str = "admin", files: tuple[str, ...] = (), **data: Any):
    entry = HistoryEvent(
        id=3,
        content="Met Joe: <b>wants</b> a discount & a demo.",
        category_id=2,
        contact_id=1,
        opportunity_id=2,
        happened_at=dt.datetime(2025, 2, 28, 16, 0, tzinfo=dt.UTC),
        files=tuple(
            HistoryFile(
                id=i,
                event_id=3,
                file_id=f"f{i}",
                name=name,
                content_type="application/pdf",
                size=10,
                created_by=actor,
                created_at=T0,
            )
            for i, name in enumerate(files, 1)
        ),
        created_by=actor,
        created_at=T0,
        updated_by=actor,
        updated_at=T0,
    )
    facts = {
        "notify": notify,
        "category": "Meeting",
        "parent": "Joe Smith, Renewal",
        "files": [f.name for f in entry.files],
    }
    return Event(
        name="history.created",
        entity_type="history_event",
        entity_id=entry.id,
        actor_id=actor,
        at=T0,
        data={**facts, **data},
        entity=entry,
    )


TASK_ASSIGNED = {
    "alice": (
        "Ada Admin assigned you the task Call Joe",
        "Hello Alice,\n\n"
        "Ada Admin assigned you the task Call Joe on March 1, 2025.\n\n"
        f"Due: Mar 4, 2025, 2:30:00{NNBSP}PM UTC\n"
        "Category: Call\n"
        "Contact: Joe Smith\n"
        "Opportunity: Renewal\n\n"
        "Ask about the <renewal> & prices.\nBring the numbers.\n\n"
        "This message was sent by opencrm.\n",
    ),
    "bob": (
        "Ada Admin hat Ihnen die Aufgabe Call Joe zugewiesen",
        "Hallo Bob,\n\n"
        "Ada Admin hat Ihnen am 1. März 2025 die Aufgabe Call Joe zugewiesen.\n\n"
        "Fällig: 04.03.2025, 14:30:00 UTC\n"
        "Kategorie: Call\n"
        "Kontakt: Joe Smith\n"
        "Verkaufschance: Renewal\n\n"
        "Ask about the <renewal> & prices.\nBring the numbers.\n\n"
        "Diese Nachricht wurde von opencrm gesendet.\n",
    ),
    "ivan": (
        "Пользователь Ada Admin назначил вам задачу Call Joe",
        "Здравствуйте, Иван!\n\n"
        f"Пользователь Ada Admin 1 марта 2025{NNBSP}г. назначил вам задачу Call Joe.\n\n"
        f"Срок: 4 мар. 2025{NNBSP}г., 14:30:00 UTC\n"
        "Категория: Call\n"
        "Контакт: Joe Smith\n"
        "Сделка: Renewal\n\n"
        "Ask about the <renewal> & prices.\nBring the numbers.\n\n"
        "Это сообщение отправлено из opencrm.\n",
    ),
}


@pytest.mark.parametrize("responsible", sorted(TASK_ASSIGNED))
def test_task_assigned_tells_the_responsible_in_their_language(bare, people, outbox, responsible):
    committed(bare, assigned(make_task(responsible=responsible)))
    (message,) = outbox.take()
    user = people[responsible]
    assert message.to == (user.email,)
    assert message.language == user.language
    assert (message.subject, message.text) == TASK_ASSIGNED[responsible]
    assert message.attachments == ()


def test_task_assigned_leaves_out_what_is_empty_and_escapes_html(bare, outbox):
    task = make_task(title="<i>Fix</i> & ship", description="  ", contact_id=None)
    committed(bare, assigned(task, contact="", opportunity="", case="Pump <broken>"))
    (message,) = outbox.take()
    assert message.subject == "Ada Admin hat Ihnen die Aufgabe <i>Fix</i> & ship zugewiesen"
    assert message.text == (
        "Hallo Bob,\n\n"
        "Ada Admin hat Ihnen am 1. März 2025 die Aufgabe <i>Fix</i> & ship zugewiesen.\n\n"
        "Fällig: 04.03.2025, 14:30:00 UTC\n"
        "Kategorie: Call\n"
        "Vorgang: Pump <broken>\n\n"
        "Diese Nachricht wurde von opencrm gesendet.\n"
    )
    assert message.html is not None
    assert (
        "<title>Ada Admin hat Ihnen die Aufgabe &lt;i&gt;Fix&lt;/i&gt; &amp; ship" in message.html
    )
    assert "Kategorie: Call<br>Vorgang: Pump &lt;broken&gt;</p>" in message.html
    assert "<i>" not in message.html
    assert "<broken>" not in message.html


def test_task_assigned_skips_the_actor_and_users_without_address(bare, outbox):
    committed(bare, assigned(make_task(responsible="admin")))  # assigned it to herself
    committed(bare, assigned(make_task(responsible="carol")))  # no e-mail address
    committed(bare, assigned(make_task(responsible="nobody")))  # unknown to the directory
    assert len(outbox) == 0
    # A UTC due time given with an offset, or naive, is shown in UTC.
    committed(bare, assigned(make_task(responsible="alice"), due_at="2025-03-04T15:30:00+01:00"))
    committed(bare, assigned(make_task(responsible="alice"), due_at="2025-03-04T14:30:00"))
    for message in outbox.take():
        assert f"Due: Mar 4, 2025, 2:30:00{NNBSP}PM UTC\n" in message.text


def test_without_a_directory_nothing_is_sent(outbox):
    crm = CRM(sa.create_engine("sqlite://"), load_entrypoints=False, notifier=outbox)
    committed(crm, assigned(make_task()))
    committed(crm, history(["alice", "bob"]))
    assert len(outbox) == 0


HISTORY_CREATED = {
    "alice": (
        "Ada Admin added a history event to Joe Smith, Renewal",
        "Hello Alice,\n\n"
        "Ada Admin added a history event to Joe Smith, Renewal and asked to notify you.\n\n"
        "Category: Meeting\n"
        f"Date: Feb 28, 2025, 4:00:00{NNBSP}PM UTC\n\n"
        "Met Joe: <b>wants</b> a discount & a demo.\n\n"
        "Attached files:\nOffer <v2>.pdf\nnotes.txt\n\n"
        "This message was sent by opencrm.\n",
    ),
    "bob": (
        "Ada Admin hat einen Verlaufseintrag zu Joe Smith, Renewal hinzugefügt",
        "Hallo Bob,\n\n"
        "Ada Admin hat einen Verlaufseintrag zu Joe Smith, Renewal hinzugefügt und möchte Sie "
        "darüber informieren.\n\n"
        "Kategorie: Meeting\n"
        "Datum: 28.02.2025, 16:00:00 UTC\n\n"
        "Met Joe: <b>wants</b> a discount & a demo.\n\n"
        "Angehängte Dateien:\nOffer <v2>.pdf\nnotes.txt\n\n"
        "Diese Nachricht wurde von opencrm gesendet.\n",
    ),
    "ivan": (
        "Пользователь Ada Admin добавил запись в историю: Joe Smith, Renewal",
        "Здравствуйте, Иван!\n\n"
        "Пользователь Ada Admin добавил запись в историю (Joe Smith, Renewal) и просит вас с ней "
        "ознакомиться.\n\n"
        "Категория: Meeting\n"
        f"Дата: 28 февр. 2025{NNBSP}г., 16:00:00 UTC\n\n"
        "Met Joe: <b>wants</b> a discount & a demo.\n\n"
        "Прикреплённые файлы:\nOffer <v2>.pdf\nnotes.txt\n\n"
        "Это сообщение отправлено из opencrm.\n",
    ),
}


def test_history_created_tells_the_notify_list_but_the_actor(bare, people, outbox):
    notify = ["alice", "bob", "carol", "admin", "ivan", "bob", "nobody"]
    committed(bare, history(notify, files=("Offer <v2>.pdf", "notes.txt")))
    messages = outbox.take()
    assert [m.to for m in messages] == [
        ("alice@example.com",),
        ("bob@example.com",),
        ("ivan@example.com",),
    ]
    for message, user_id in zip(messages, ["alice", "bob", "ivan"], strict=True):
        assert message.language == people[user_id].language
        assert (message.subject, message.text) == HISTORY_CREATED[user_id]
    html = messages[0].html
    assert html is not None
    assert "<p>Met Joe: &lt;b&gt;wants&lt;/b&gt; a discount &amp; a demo.</p>" in html
    assert "<p>Attached files:<br>Offer &lt;v2&gt;.pdf<br>notes.txt</p>" in html
    assert "<b>" not in html


def test_history_created_without_files_or_anyone_to_notify(bare, outbox):
    committed(bare, history([], category="Note"))  # e.g. the "task closed" entry
    committed(bare, history(["admin", "carol"]))  # only the actor and a user without address
    assert len(outbox) == 0
    committed(bare, history(["alice"]))
    (message,) = outbox.take()
    assert "Attached files" not in message.text
    assert message.text.endswith(
        "Met Joe: <b>wants</b> a discount & a demo.\n\nThis message was sent by opencrm.\n"
    )


REMINDERS = {
    "alice": (
        f"Reminder: Call Joe is due on Mar 4, 2025, 2:30:00{NNBSP}PM UTC",
        "Hello Alice,\n\n"
        f"The task Call Joe is due on Mar 4, 2025, 2:30:00{NNBSP}PM UTC.\n\n"
        "Category: Call\n"
        "Contact: Joe Smith\n\n"
        "Ask about the <renewal> & prices.\nBring the numbers.\n\n"
        "This message was sent by opencrm.\n",
    ),
    "bob": (
        "Erinnerung: Call Joe ist am 04.03.2025, 14:30:00 UTC fällig",
        "Hallo Bob,\n\n"
        "Die Aufgabe Call Joe ist am 04.03.2025, 14:30:00 UTC fällig.\n\n"
        "Kategorie: Call\n"
        "Kontakt: Joe Smith\n\n"
        "Ask about the <renewal> & prices.\nBring the numbers.\n\n"
        "Diese Nachricht wurde von opencrm gesendet.\n",
    ),
    "ivan": (
        f"Напоминание: срок задачи Call Joe — 4 мар. 2025{NNBSP}г., 14:30:00 UTC",
        "Здравствуйте, Иван!\n\n"
        f"Срок выполнения задачи Call Joe — 4 мар. 2025{NNBSP}г., 14:30:00 UTC.\n\n"
        "Категория: Call\n"
        "Контакт: Joe Smith\n\n"
        "Ask about the <renewal> & prices.\nBring the numbers.\n\n"
        "Это сообщение отправлено из opencrm.\n",
    ),
}


@pytest.mark.parametrize("user_id", sorted(REMINDERS))
def test_task_reminder_mail(people, user_id):
    user = people[user_id]
    message = task_reminder_mail(make_task(responsible=user_id), "Call", user, contact="Joe Smith")
    assert (message.to, message.language) == ((user.email,), user.language)
    assert (message.subject, message.text) == REMINDERS[user_id]
    assert message.html is not None
    assert (
        "<p>Ask about the &lt;renewal&gt; &amp; prices.<br>Bring the numbers.</p>" in message.html
    )


def test_task_reminder_mail_without_contact_or_description(people):
    task = make_task(description="", due_at=dt.datetime(2025, 3, 4, 14, 30))  # naive: UTC
    message = task_reminder_mail(task, "Call", people["dave"])  # unknown language: English
    assert message.language == "en"
    assert message.text == (
        "Hello Dave,\n\n"
        f"The task Call Joe is due on Mar 4, 2025, 2:30:00{NNBSP}PM UTC.\n\n"
        "Category: Call\n\n"
        "This message was sent by opencrm.\n"
    )
    assert task_reminder_mail(task, "Call", people["carol"]).to == ()  # no address, no recipient
    # A subject is one line, whatever the title holds.
    broken = task_reminder_mail(attrs.evolve(task, title="Call\r\n Joe"), "Call", people["bob"])
    assert broken.subject == "Erinnerung: Call Joe ist am 04.03.2025, 14:30:00 UTC fällig"


# --- invoices.send ----------------------------------------------------------------------------


def _invoice(s: Any, language: str = "de", email_address: str | None = "buyer@acme.example") -> int:
    client = (
        s.contacts.add_company("Acme Ltd", email=email_address)
        if email_address
        else (s.contacts.add_company("Acme Ltd"))
    )
    inv = s.invoices.add(
        client=client,
        language=language,
        lines=[s.invoices.line("Support", quantity=2, price="600")],
    )
    return int(inv.id)


def _pdf_text(data: bytes) -> str:
    return " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        .replace("\xa0", " ")
        .replace("\u202f", " ")
        .split()
    )


def test_send_an_invoice_through_the_outbox(ncrm, people, outbox):
    s = ncrm.session(people["admin"])
    invoice_id = _invoice(s)
    number = s.invoices.get(invoice_id).number
    sent_message = s.invoices.send(invoice_id)
    (message,) = outbox.take()
    assert message == sent_message
    assert message.to == ("buyer@acme.example",)
    assert message.subject == f"Rechnung {number}"
    assert message.language == "de"
    assert "Anbei erhalten Sie die Rechnung" in message.text
    (pdf,) = message.attachments
    assert (pdf.filename, pdf.content_type) == (f"{number}.pdf", "application/pdf")
    assert "1.200,00" in _pdf_text(pdf.data)
    # Explicit recipients, subject and text.
    s.invoices.send(invoice_id, ["a@example.com", "b@example.com"], subject="Hi", message="See PDF")
    (message,) = outbox.take()
    assert (message.to, message.subject, message.text) == (
        ("a@example.com", "b@example.com"),
        "Hi",
        "See PDF\n",
    )


def test_send_records_an_event(ncrm, people, outbox):
    seen: list[Any] = []

    class Listener:
        @hookimpl
        def opencrm_event_committed(self, event):
            if event.name == "invoice.sent":
                seen.append(event)

    ncrm.plugin_manager.register(Listener())
    s = ncrm.session(people["admin"])
    invoice_id = _invoice(s, language="en")
    s.invoices.send(invoice_id)
    (event,) = seen
    assert event.entity_id == invoice_id
    assert event.data["to"] == ["buyer@acme.example"]
    assert event.data["subject"].startswith("Invoice INV-")


def test_send_refusals(engine, ncrm, people, outbox):
    s = ncrm.session(people["admin"])
    no_address = _invoice(s, email_address=None)
    with pytest.raises(ValidationError) as err:
        s.invoices.send(no_address)
    assert "to" in err.value.errors
    with pytest.raises(ValidationError):
        s.invoices.send(no_address, "not an address")
    with pytest.raises(ValidationError):
        s.invoices.send(no_address, "x@example.com", subject="two\nlines")
    unconfigured = make_crm(engine)
    with pytest.raises(NotConfigured):
        unconfigured.session(people["admin"]).invoices.send(no_address, "x@example.com")
    assert len(outbox) == 0


# --- a real SMTP server on 127.0.0.1 ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    inbox = _Inbox()
    port = _free_port()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_invoice_sent_over_smtp(engine, people, smtp_server):
    port, inbox = smtp_server
    crm = make_crm(engine, SmtpNotifier("127.0.0.1", port, from_address="billing@seller.example"))
    s = crm.session(people["admin"])
    invoice_id = _invoice(s)
    number = s.invoices.get(invoice_id).number
    s.invoices.send(invoice_id)

    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "billing@seller.example"
    assert envelope.rcpt_tos == ["buyer@acme.example"]
    mail: EmailMessage = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[assignment]
    assert mail["From"] == "billing@seller.example"
    assert mail["To"] == "buyer@acme.example"
    assert mail["Subject"] == f"Rechnung {number}"
    assert mail["Content-Language"] == "de"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert "Anbei erhalten Sie die Rechnung" in text.get_content()
    assert html is not None
    assert "<p>Anbei erhalten Sie die Rechnung" in html.get_content()
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{number}.pdf"
    data = attachment.get_content()
    assert data.startswith(b"%PDF-")
    assert "Rechnung" in _pdf_text(data)


def test_access_notification_over_smtp(engine, people, smtp_server):
    port, inbox = smtp_server
    crm = make_crm(engine, SmtpNotifier("127.0.0.1", port, from_address="crm@seller.example"))
    crm.session(people["alice"]).contacts.add_person("Jörg", managers=["alice", "bob"])
    (envelope,) = inbox.envelopes
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert envelope.rcpt_tos == ["bob@example.com"]
    assert mail["Subject"] == "Alice hat den Kontakt Jörg für Sie freigegeben"
