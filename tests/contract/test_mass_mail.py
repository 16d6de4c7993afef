"""Mass mail on every backend: exact rendered messages (text, escaped HTML, subject), the
per-recipient result, history events, who may send, cancelling between batches, and the bad
inputs (``{{7*7}}`` and other unknown placeholders: an error naming it, nothing sent)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import (
    CRM,
    InMemoryUserDirectory,
    JobStatus,
    LocalFileStore,
    OutboxNotifier,
    SmtpNotifier,
    User,
)
from opencrm.core.users import ModuleAccess
from opencrm.errors import NotConfigured, NotFound, PermissionDenied, ValidationError
from smtp_server import smtp_server as counting_smtp_server

USERS = [
    User(id="admin", name="Ada", email="ada@example.com", crm_admin=True),
    User(id="alice", name="Alice", email="alice@example.com"),
    User(id="bob", name="Bob", email="bob@example.com"),
]
SUBJECT = "News for {{first_name}}"
TEXT = "Hello {{ first_name }} {{last_name}} of {{company}}, size {{custom:Shoe size}}."
HTML = "<p>Hello <b>{{first_name}}</b> of {{company}}</p>"


class FailingFor:
    """A notifier that refuses one address, like a mail server rejecting a recipient."""

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.outbox = OutboxNotifier()

    def send(self, message: Any) -> None:
        if self.bad in message.to:
            raise OSError(f"550 mailbox {self.bad} unavailable")
        self.outbox.send(message)


def make_crm(engine: sa.Engine, notifier: Any) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        notifier=notifier,
    )


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


@pytest.fixture
def mcrm(engine: sa.Engine, outbox: OutboxNotifier) -> CRM:
    return make_crm(engine, outbox)


def people(s: Any) -> dict[str, Any]:
    s.fields.add("person", "Shoe size", "text")
    acme = s.contacts.add_company("Acme & Sons <Ltd>", industry="Tools", email="info@acme.example")
    bob = s.contacts.add_person(
        "Bob", "Smith", company=acme, email="bob@acme.example", custom={"Shoe size": "44"}
    )
    eve = s.contacts.add_person("<script>Eve</script>", "Jones", email="eve@example.com")
    nomail = s.contacts.add_person("Nora", "Nomail")
    return {"acme": acme, "bob": bob, "eve": eve, "nomail": nomail}


def mails(outbox: OutboxNotifier) -> list[Any]:
    """The mass mail's messages (the owner is also told the job has ended)."""
    return [m for m in outbox.take() if not m.subject.startswith("Your job")]


def run(crm: CRM, s: Any, **kwargs: Any) -> Any:
    job = s.mass_mail.start(**kwargs)
    assert crm.jobs.wait(timeout=30) is True
    return s.jobs.get(job.id)


def test_messages_are_rendered_exactly_and_results_per_recipient(
    mcrm: CRM, outbox: OutboxNotifier
) -> None:
    s = mcrm.session(USERS[0])
    c = people(s)
    ids = [c["bob"].id, c["eve"].id, c["nomail"].id]
    job = run(mcrm, s, subject=SUBJECT, text=TEXT, html=HTML, ids=ids)

    assert job.status is JobStatus.SUCCEEDED
    messages = sorted(mails(outbox), key=lambda m: m.to)
    assert [(m.to, m.subject, m.text, m.html) for m in messages] == [
        (
            ("bob@acme.example",),
            "News for Bob",
            "Hello Bob Smith of Acme & Sons <Ltd>, size 44.",
            "<p>Hello <b>Bob</b> of Acme &amp; Sons &lt;Ltd&gt;</p>",
        ),
        (
            ("eve@example.com",),
            "News for <script>Eve</script>",
            "Hello <script>Eve</script> Jones of , size .",
            "<p>Hello <b>&lt;script&gt;Eve&lt;/script&gt;</b> of </p>",
        ),
    ]
    assert job.done == 3
    assert job.total == 3
    assert dict(job.summary) == {
        "recipients": 3,
        "sent": 2,
        "skipped": 1,
        "failed": 0,
        "refused": 0,
        "history_events": 0,
        "not_sent": [
            {
                "contact_id": c["nomail"].id,
                "email": None,
                "status": "skipped",
                "reason": "no_email",
            }
        ],
        "not_sent_left_off": 0,
        "cancelled": False,
        "stopped_at": c["nomail"].id,
    }


@pytest.mark.parametrize(
    ("field", "template", "named"),
    [
        ("text", "Hi {{7*7}}", "{{7*7}}"),
        ("subject", "{{first_name.__class__}}", "{{first_name.__class__}}"),
        ("html", "<p>{{ config }}</p>", "{{ config }}"),
        ("text", "Hi {{custom:Hat size}}", "no custom field 'Hat size'"),
        ("text", "Hi {{first_name", "'{{first_name' is not closed"),
    ],
)
def test_a_bad_placeholder_is_an_error_naming_it_and_nothing_is_sent(
    mcrm: CRM, outbox: OutboxNotifier, field: str, template: str, named: str
) -> None:
    s = mcrm.session(USERS[0])
    c = people(s)
    given = {"subject": "Hello", "text": "Body", "html": None, field: template}
    with pytest.raises(ValidationError) as err:
        s.mass_mail.start(ids=[c["bob"].id], **given)
    assert list(err.value.errors) == [field]
    assert named in err.value.errors[field]
    with pytest.raises(ValidationError):
        s.mass_mail.preview(c["bob"], **given)
    assert mcrm.jobs.wait(timeout=30) is True
    assert len(outbox) == 0
    assert s.jobs.list().items == []


def test_preview_renders_one_contact_and_sends_nothing(mcrm: CRM, outbox: OutboxNotifier) -> None:
    s = mcrm.session(USERS[0])
    c = people(s)
    message = s.mass_mail.preview(c["acme"].id, subject=SUBJECT, text=TEXT, html=HTML)
    assert message.to == ("info@acme.example",)
    assert message.subject == "News for "
    assert message.text == "Hello   of Acme & Sons <Ltd>, size ."
    assert message.html == "<p>Hello <b></b> of Acme &amp; Sons &lt;Ltd&gt;</p>"
    assert s.mass_mail.preview(c["nomail"], subject="x", text="{{name}}").to == ()
    assert len(outbox) == 0


def test_history_event_per_sent_contact(mcrm: CRM, outbox: OutboxNotifier) -> None:
    s = mcrm.session(USERS[0])
    c = people(s)
    job = run(
        mcrm,
        s,
        subject="Offer",
        text="Dear {{name}}",
        where={"kind": "person"},
        history=True,
    )
    assert job.summary["sent"] == 2
    assert job.summary["history_events"] == 2
    events = {e.contact_id: e for e in s.history.list().items}
    assert sorted(events) == sorted([c["bob"].id, c["eve"].id])
    assert events[c["bob"].id].content == "Offer\n\nDear Bob Smith"
    email_category = next(i for i in s.lists.items("history_category") if i.title == "Email")
    assert {e.category_id for e in events.values()} == {email_category.id}
    mailed = s.settings.audit_trail(entity_type="contact", entity_id=c["bob"].id, limit=5)
    assert next(e.action for e in mailed) == "contact.mailed"


def test_a_failed_recipient_does_not_stop_the_others(engine: sa.Engine) -> None:
    notifier = FailingFor("eve@example.com")
    crm = make_crm(engine, notifier)
    s = crm.session(USERS[0])
    c = people(s)
    job = run(crm, s, subject="Hi", text="Hi {{first_name}}", ids=[c["bob"].id, c["eve"].id])
    assert [m.to for m in mails(notifier.outbox)] == [("bob@acme.example",)]
    assert job.summary["sent"] == 1
    assert job.summary["failed"] == 1
    assert job.summary["not_sent"] == [
        {
            "contact_id": c["eve"].id,
            "email": "eve@example.com",
            "status": "failed",
            "reason": "OSError: 550 mailbox eve@example.com unavailable",
        }
    ]


def test_only_admins_send_by_default_and_a_setting_lets_others(
    mcrm: CRM, outbox: OutboxNotifier
) -> None:
    admin, alice = mcrm.session(USERS[0]), mcrm.session(USERS[1])
    mine = alice.contacts.add_person("Carl", email="carl@example.com")
    assert admin.mass_mail.senders() == ModuleAccess.only()
    with pytest.raises(PermissionDenied):
        alice.mass_mail.start(subject="x", text="y", ids=[mine.id])
    with pytest.raises(PermissionDenied):
        alice.mass_mail.preview(mine, subject="x", text="y")
    with pytest.raises(PermissionDenied):
        alice.mass_mail.set_senders(ModuleAccess())
    assert admin.mass_mail.set_senders(ModuleAccess.only(users={"alice"})) == ModuleAccess.only(
        users={"alice"}
    )
    # Alice mails what she may read: the admin's private contact is refused as not found.
    private = admin.contacts.add_person("Priv", email="priv@example.com", access="private")
    job = run(mcrm, alice, subject="x", text="Hi {{first_name}}", ids=[mine.id, private.id, 999])
    assert [m.to for m in mails(outbox)] == [("carl@example.com",)]
    assert job.summary["recipients"] == 1
    assert job.summary["refused"] == 2
    assert job.summary["not_sent"] == [
        {"contact_id": private.id, "email": None, "status": "refused", "reason": "not_found"},
        {"contact_id": 999, "email": None, "status": "refused", "reason": "not_found"},
    ]
    with pytest.raises(NotFound):
        alice.mass_mail.preview(private, subject="x", text="y")


def test_selection_of_only_foreign_ids_and_no_notifier_are_refused_before_queueing(
    engine: sa.Engine, mcrm: CRM
) -> None:
    s = mcrm.session(USERS[0])
    with pytest.raises(ValidationError) as err:
        s.mass_mail.start(subject="x", text="y", ids=[12345])
    assert err.value.errors == {"ids": "selects no contact you may read"}
    c = people(s)
    bare = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(USERS))
    with pytest.raises(NotConfigured):
        bare.session(USERS[0]).mass_mail.start(subject="x", text="y", ids=[c["bob"].id])
    assert s.jobs.list().items == []


class Cancelling:
    """Cancels the job as soon as the first message went out."""

    def __init__(self) -> None:
        self.crm: CRM | None = None
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        if message.subject.startswith("Your job"):
            return
        self.sent.append(message)
        if len(self.sent) == 1 and self.crm is not None:
            s = self.crm.session(USERS[0])
            (job,) = s.jobs.list().items
            s.jobs.cancel(job.id)


def test_cancelling_stops_between_batches(engine: sa.Engine) -> None:
    notifier = Cancelling()
    crm = make_crm(engine, notifier)
    notifier.crm = crm
    s = crm.session(USERS[0])
    ids = [s.contacts.add_person(f"P{i}", email=f"p{i}@example.com").id for i in range(5)]
    job = run(crm, s, subject="x", text="{{first_name}}", ids=ids, batch_size=2)
    assert job.status is JobStatus.CANCELLED
    assert [m.to for m in notifier.sent] == [("p0@example.com",), ("p1@example.com",)]
    assert job.summary["sent"] == 2
    assert job.summary["cancelled"] is True
    assert job.summary["stopped_at"] == ids[1]


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


def test_sent_over_a_real_smtp_server(engine: sa.Engine, smtp_server: Any) -> None:
    port, inbox = smtp_server
    crm = make_crm(engine, SmtpNotifier("127.0.0.1", port, from_address="news@seller.example"))
    s = crm.session(USERS[0])
    c = people(s)
    job = run(crm, s, subject=SUBJECT, text=TEXT, html=HTML, ids=[c["bob"].id])
    assert job.summary["sent"] == 1
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["bob@acme.example"]  # the owner's "job ended" comes next
    mail: Any = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == "News for Bob"
    assert mail.get_body(("plain",)).get_content() == (
        "Hello Bob Smith of Acme & Sons <Ltd>, size 44.\r\n"
    )
    assert mail.get_body(("html",)).get_content() == (
        "<p>Hello <b>Bob</b> of Acme &amp; Sons &lt;Ltd&gt;</p>\r\n"
    )


def test_each_batch_goes_over_one_smtp_connection(engine: sa.Engine) -> None:
    with counting_smtp_server() as (port, inbox):
        inbox.refuse = {"eve@example.com"}
        crm = make_crm(engine, SmtpNotifier("127.0.0.1", port, from_address="news@seller.example"))
        s = crm.session(USERS[0])
        c = people(s)
        more = [s.contacts.add_person(f"P{i}", email=f"p{i}@example.com").id for i in range(3)]
        ids = [c["bob"].id, c["eve"].id, c["nomail"].id, *more]
        job = run(crm, s, subject="Hi", text="Hi {{first_name}}", ids=ids, batch_size=4)
    # Two batches (bob, eve refused, nomail skipped, p0; then p1 and p2), two connections;
    # the owner's "job ended" came over a third.
    assert inbox.recipients() == [
        (1, ["bob@acme.example"]),
        (1, ["p0@example.com"]),
        (2, ["p1@example.com"]),
        (2, ["p2@example.com"]),
        (3, ["ada@example.com"]),
    ]
    assert inbox.connections == 3
    assert (job.summary["sent"], job.summary["failed"], job.summary["skipped"]) == (4, 1, 1)
    assert job.summary["not_sent"] == [
        {
            "contact_id": c["eve"].id,
            "email": "eve@example.com",
            "status": "failed",
            "reason": "SMTPRecipientsRefused: {'eve@example.com': (550, b'5.1.1"
            " <eve@example.com>: mailbox unavailable')}",
        },
        {"contact_id": c["nomail"].id, "email": None, "status": "skipped", "reason": "no_email"},
    ]


def test_every_recipient_is_in_the_result_file(engine: sa.Engine, tmp_path: Any) -> None:
    outbox = OutboxNotifier()
    crm = CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        notifier=outbox,
        file_store=LocalFileStore(tmp_path / "files"),
    )
    s = crm.session(USERS[0])
    c = people(s)
    ids = [c["nomail"].id, c["bob"].id, 4242]
    job = run(crm, s, subject="x", text="Hi {{first_name}}", ids=ids)
    assert job.result is not None
    assert job.result.filename == "mass-mail.csv"
    data = b"".join(s.jobs.download(job.id).chunks).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(data, newline=""))) == [
        ["contact_id", "email", "status", "reason"],
        [str(c["bob"].id), "bob@acme.example", "sent", ""],
        [str(c["nomail"].id), "", "skipped", "no_email"],
        ["4242", "", "refused", "not_found"],
    ]


def test_ten_thousand_ids_of_which_most_are_foreign(mcrm: CRM, outbox: OutboxNotifier) -> None:
    admin, alice = mcrm.session(USERS[0]), mcrm.session(USERS[1])
    admin.mass_mail.set_senders(ModuleAccess())
    private = admin.contacts.add_person("Priv", email="priv@example.com", access="private")
    mine = [alice.contacts.add_person(f"A{i}", email=f"a{i}@example.com").id for i in range(3)]
    ids = sorted({*mine, private.id, *range(100_000, 110_000 - 4)})
    assert len(ids) == 10_000
    job = run(mcrm, alice, subject="x", text="Hi {{first_name}}", ids=ids)
    assert [m.to for m in mails(outbox)] == [(f"a{i}@example.com",) for i in range(3)]
    summary = job.summary
    assert (summary["recipients"], summary["sent"], summary["refused"]) == (3, 3, 9_997)
    assert len(summary["not_sent"]) == 1000
    assert summary["not_sent_left_off"] == 8_997
    assert summary["not_sent"][0] == {
        "contact_id": private.id,
        "email": None,
        "status": "refused",
        "reason": "not_found",
    }
