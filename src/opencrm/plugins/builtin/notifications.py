"""Built-in notifications (SPEC S13): tell users what was done for them, after it committed.

Reacts in ``opencrm_event_committed`` (so never for a rolled-back change) to

- ``contact.access_changed``: each user who became a manager;
- ``opportunity.responsible_changed``: the new responsible;
- ``opportunity.access_changed`` and ``case.access_changed``: each user put on the access
  list of a restricted record.

Recipients come from the CRM's user directory; users without an e-mail address and the actor
are skipped, and so is everything when the CRM has no directory. Each recipient gets a message
of their own, in their ``User.language`` (labels from the gettext catalogs in
``locale/<lang>/LC_MESSAGES/notifications.po``, dates by babel; unknown languages fall back to
English), delivered with :meth:`opencrm.CRM.notify`.

:func:`invoice_mail` writes the e-mail of ``session.invoices.send``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from opencrm.core.entities.invoices import InvoiceDocument
from opencrm.core.events import Event
from opencrm.core.ports import Attachment, Message
from opencrm.core.users import User
from opencrm.plugins.builtin.invoice_documents import render_pdf
from opencrm.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from opencrm.crm import CRM

__all__ = ["compose", "invoice_mail", "translate"]

_LOCALE = Path(__file__).resolve().parent / "locale"
_DOMAIN = "notifications"
_SIGNATURE = "This message was sent by opencrm."

# event name -> (subject, body sentence, recipients' key in event.data)
_TEMPLATES: dict[str, tuple[str, str, str]] = {
    "contact.access_changed": (
        "{actor} shared the contact {name} with you",
        "{actor} made you a manager of the contact {name} on {date}. You can now see and edit it.",
        "granted",
    ),
    "opportunity.responsible_changed": (
        "{actor} made you responsible for the opportunity {name}",
        "{actor} made you responsible for the opportunity {name} on {date}.",
        "responsible",
    ),
    "opportunity.access_changed": (
        "{actor} gave you access to the opportunity {name}",
        "{actor} gave you access to the restricted opportunity {name} on {date}.",
        "granted",
    ),
    "case.access_changed": (
        "{actor} gave you access to the case {name}",
        "{actor} gave you access to the restricted case {name} on {date}.",
        "granted",
    ),
}


@cache
def _catalog(language: str) -> dict[str, str]:
    path = _LOCALE / language / "LC_MESSAGES" / f"{_DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def _language(value: str | None) -> str:
    """A babel locale name for ``value``; English when it is missing or unknown."""
    if not value:
        return "en"
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return "en"


def translate(text: str, language: str) -> str:
    """``text`` in ``language`` (``de_AT`` falls back to ``de``, then to the English text)."""
    locale = Locale.parse(language)
    for name in (str(locale), locale.language):
        found = _catalog(name).get(text)
        if found:
            return found
    return text


def compose(
    language: str,
    subject: str,
    paragraphs: Iterable[str],
    *,
    attachments: Iterable[Attachment] = (),
    to: Iterable[str],
) -> Message:
    """A message with a plain-text body and an HTML body of the same ``paragraphs``
    (escaped: they carry user text)."""
    paras = list(paragraphs)
    text = "\n\n".join(paras) + "\n"
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paras)
    page = (
        f'<!DOCTYPE html><html lang="{language.replace("_", "-")}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body>{body}</body></html>"
    )
    return Message(
        to=tuple(to),
        subject=subject,
        text=text,
        html=page,
        attachments=tuple(attachments),
        language=language,
    )


def _recipients(event: Event, key: str) -> list[str]:
    value = event.data.get(key)
    ids = [value] if isinstance(value, str) else list(value or ())
    return [i for i in ids if i != event.actor_id]


def _name(entity: Any) -> str:
    return str(getattr(entity, "display_name", None) or getattr(entity, "title", "") or "")


def _message(template: tuple[str, str, str], event: Event, actor: str, user: User) -> Message:
    lang = _language(user.language)
    values = {
        "actor": actor,
        "name": _name(event.entity),
        "date": format_date(event.at, format="long", locale=lang),
        "recipient": user.name or user.id,
    }
    subject = translate(template[0], lang).format(**values)
    return compose(
        lang,
        subject,
        [
            translate("Hello {recipient},", lang).format(**values),
            translate(template[1], lang).format(**values),
            translate(_SIGNATURE, lang),
        ],
        to=[str(user.email)],
    )


@hookimpl
def opencrm_event_committed(crm: CRM, event: Event) -> None:
    template = _TEMPLATES.get(event.name)
    if template is None or crm.directory is None:
        return
    ids = _recipients(event, template[2])
    if not ids:
        return
    users = crm.directory.get_many([*ids, event.actor_id])
    author = users.get(event.actor_id)
    actor = (author.name if author is not None else "") or event.actor_id
    for user_id in ids:
        user = users.get(user_id)
        if user is None or not user.email:
            continue
        crm.notify(_message(template, event, actor, user))


def invoice_mail(
    doc: InvoiceDocument, to: tuple[str, ...], subject: str | None, message: str | None
) -> Message:
    """The e-mail of ``session.invoices.send``: the invoice PDF attached, a short text in the
    invoice's language unless ``message`` is given, and ``subject`` or "Invoice <number>"."""
    inv = doc.invoice
    lang = _language(inv.language)
    values = {
        "number": inv.number,
        "date": format_date(inv.issue_date, format="long", locale=lang),
        "due": format_date(inv.due_date, format="long", locale=lang),
        "total": format_currency(inv.total.amount, inv.currency, locale=lang),
    }
    if message is None:
        paragraphs = [
            translate(
                "Please find attached invoice {number} of {date} for {total}, due on {due}.", lang
            ).format(**values),
            "\n".join(p for p in (translate("Kind regards", lang), doc.seller.name) if p),
        ]
    else:
        paragraphs = [message]
    pdf = Attachment(
        filename=f"{_safe_filename(inv.number)}.pdf",
        content_type="application/pdf",
        data=render_pdf(doc),
    )
    title = subject if subject is not None else translate("Invoice {number}", lang).format(**values)
    return compose(lang, title, paragraphs, attachments=[pdf], to=to)


def _safe_filename(number: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number).strip("._")
    return cleaned or "invoice"
