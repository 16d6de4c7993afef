"""Notifications (SPEC S13): who gets which message, in which language, and only after commit;
the delivery hook; ``invoices.send`` through the outbox and through a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import io
import logging
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

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

PEOPLE = [
    User(id="admin", name="Ada Admin", crm_admin=True, email="ada@example.com"),
    User(id="alice", name="Alice", email="alice@example.com", language="en"),
    User(id="bob", name="Bob", email="bob@example.com", language="de"),
    User(id="carol", name="Carol"),  # no e-mail address: never notified
    User(id="dave", name="Dave", email="dave@example.com", language="xx_unknown"),
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
