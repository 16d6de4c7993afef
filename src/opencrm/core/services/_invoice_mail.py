"""``session.invoices.send``: an invoice e-mailed with its PDF through the notifier."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from opencrm.core._inputs import single_line
from opencrm.core.contact_data import clean_email, clean_text
from opencrm.core.entities.contacts import Contact, InfoType
from opencrm.core.notify import can_deliver, deliver
from opencrm.core.ports import Message
from opencrm.core.services._records import items_of
from opencrm.errors import NotConfigured, ValidationError

if TYPE_CHECKING:
    from opencrm.core.services.invoices import InvoiceService

__all__ = ["Message", "send_invoice"]

MAX_RECIPIENTS = 50


def _primary_email(client: Contact | None) -> str | None:
    emails = [i for i in (client.infos if client else ()) if i.type is InfoType.EMAIL]
    emails.sort(key=lambda i: not i.is_primary)
    return emails[0].value if emails else None


def _recipients(to: str | Iterable[str] | None, client: Contact | None) -> tuple[str, ...]:
    if to is None:
        found = _primary_email(client)
        if found is None:
            raise ValidationError({"to": "the client has no e-mail address; pass to="})
        return (found,)
    given = [to] if isinstance(to, str) else items_of(to, "to", "must be e-mail addresses")
    if not given or len(given) > MAX_RECIPIENTS:
        raise ValidationError({"to": f"must name 1 to {MAX_RECIPIENTS} e-mail addresses"})
    out: list[str] = []
    for address in given:
        if not isinstance(address, str):
            raise ValidationError({"to": "must be e-mail addresses"})
        out.append(clean_email(address, "to")[0])
    return tuple(dict.fromkeys(out))


def _subject(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        raise ValidationError({"subject": "must be text of 1 to 255 characters"})
    return single_line(value, "subject", max_length=255, trim=False).strip()


def send_invoice(
    invoices: InvoiceService,
    invoice_id: int,
    to: str | Iterable[str] | None,
    subject: str | None,
    message: str | None,
) -> Message:
    service = invoices._s
    ctx = service._ctx
    if ctx.invoice_mail is None or not can_deliver(ctx.hook, ctx.notifier):
        raise NotConfigured(
            "the CRM has no notifier: open it with CRM.open(..., notifier=SmtpNotifier(...))"
        )
    title = _subject(subject)
    body = clean_text("message", message) or None if message is not None else None
    with service._tx(write=False) as tx:
        invoice = invoices._readable(tx, invoice_id)
        recipients = _recipients(to, tx.uow.contacts.get(invoice.client_id))
    # Rendering and sending happen outside any transaction: no lock is held while the mail
    # server answers. The event is written after the mail went out, so it never claims a
    # sending that failed.
    mail = ctx.invoice_mail(invoices.document(invoice.id), recipients, title, body)
    if not deliver(ctx.hook, ctx.crm, ctx.notifier, mail):
        raise NotConfigured("no plugin delivered the invoice and the CRM has no notifier")
    with service._tx() as tx:
        current = invoices._readable(tx, invoice.id)
        tx.emit(
            "invoice.sent",
            current,
            data={"to": list(recipients), "subject": mail.subject, "language": mail.language},
        )
    return mail
