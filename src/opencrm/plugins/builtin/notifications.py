"""Built-in notifications (SPEC S13): tell users what was done for them, after it committed.

Reacts in ``opencrm_event_committed`` (so never for a rolled-back change) to

- ``contact.access_changed``: each user who became a manager;
- ``opportunity.responsible_changed``: the new responsible;
- ``opportunity.access_changed`` and ``case.access_changed``: each user put on the access
  list of a restricted record;
- ``task.assigned``: the task's responsible (what, when it is due, its category, links and
  description);
- ``history.created``: each user on the event's ``notify`` list (where it was added, its
  category, date, content and attached file names);
- ``task.reminder`` (claimed by ``CRM.due_reminders``): the task's responsible, with
  :func:`task_reminder_mail`;
- ``job.finished``: the job's owner (who is also the event's actor): "your export is ready"
  for an export or full export that succeeded, "your import has finished" with its counts for
  an import that succeeded, else "your job has ended" with its status and error; nothing for
  a ``report`` job that succeeded (its ``report.generated`` already told the owner, so they
  hear once).
- ``report.generated``: the user who generated the report (it is ready to download).

Recipients come from the CRM's user directory; users without an e-mail address and the actor
are skipped, and so is everything when the CRM has no directory. Each recipient gets a message
of their own, in their ``User.language`` (labels from the gettext catalogs in
``locale/<lang>/LC_MESSAGES/notifications.po``: de, fr, es and ru; dates by babel; unknown
languages fall back to English), delivered with :meth:`opencrm.CRM.notify`. Points in time are
shown in UTC, and said to be: users have no time zone in opencrm.

:func:`invoice_mail` writes the e-mail of ``session.invoices.send``; :func:`task_reminder_mail`
the reminder of a task that is about to be due (sent by ``CRM.due_reminders``).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from opencrm.core.entities.activities import Task
from opencrm.core.entities.invoices import InvoiceDocument
from opencrm.core.events import Event
from opencrm.core.ports import Attachment, Message
from opencrm.core.users import User
from opencrm.plugins.builtin.invoice_documents import render_pdf
from opencrm.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from opencrm.crm import CRM

__all__ = ["compose", "invoice_mail", "task_reminder_mail", "translate"]

_LOCALE = Path(__file__).resolve().parent / "locale"
_DOMAIN = "notifications"


def gettext_noop(text: str) -> str:
    """Mark ``text`` as a message to translate later (the catalog test extracts these and the
    literal first arguments of :func:`translate`)."""
    return text


_HELLO = gettext_noop("Hello {recipient},")
#: Who did it, when no user did: the id a built-in writer acts as -> its name, translated.
_WRITERS = {"opencrm-web-form": gettext_noop("The website contact form")}
_SIGNATURE = gettext_noop("This message was sent by opencrm.")

# event name -> (subject, body sentence, recipients' key in event.data)
_TEMPLATES: dict[str, tuple[str, str, str]] = {
    "contact.access_changed": (
        gettext_noop("{actor} shared the contact {name} with you"),
        gettext_noop(
            "{actor} made you a manager of the contact {name} on {date}. "
            "You can now see and edit it."
        ),
        "granted",
    ),
    "opportunity.responsible_changed": (
        gettext_noop("{actor} made you responsible for the opportunity {name}"),
        gettext_noop("{actor} made you responsible for the opportunity {name} on {date}."),
        "responsible",
    ),
    "opportunity.access_changed": (
        gettext_noop("{actor} gave you access to the opportunity {name}"),
        gettext_noop("{actor} gave you access to the restricted opportunity {name} on {date}."),
        "granted",
    ),
    "case.access_changed": (
        gettext_noop("{actor} gave you access to the case {name}"),
        gettext_noop("{actor} gave you access to the restricted case {name} on {date}."),
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
    (escaped: they carry user text). The subject is made one line whatever it carries (a
    header value must never hold a line break)."""
    subject = " ".join(line.strip() for line in subject.splitlines() if line.strip())
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


def _when(value: dt.datetime, language: str) -> str:
    """A point in time for a reader without a time zone: babel's medium format, in UTC, with
    "UTC" after it (a naive value is taken to be UTC already)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return f"{format_datetime(value, format='medium', tzinfo=dt.UTC, locale=language)} UTC"


def _facts(language: str, facts: Iterable[tuple[str, str, str]]) -> str:
    """One line per ``(label, placeholder, value)`` with a value, e.g. "Category: Call"."""
    return "\n".join(
        translate(label, language).format_map({key: value}) for label, key, value in facts if value
    )


def _wrap(language: str, user: User, subject: str, paragraphs: Iterable[str]) -> Message:
    """The message to ``user``: a greeting, the non-empty ``paragraphs``, the signature; the
    subject on one line (it carries user text)."""
    hello = translate(_HELLO, language).format(recipient=user.name or user.id)
    body = [hello, *(p for p in paragraphs if p), translate(_SIGNATURE, language)]
    title = " ".join(line.strip() for line in subject.splitlines() if line.strip())
    return compose(language, title, body, to=[user.email] if user.email else [])


def _recipients(event: Event, key: str) -> list[str]:
    value = event.data.get(key)
    ids = [value] if isinstance(value, str) else list(value or ())
    return list(dict.fromkeys(str(i) for i in ids if i and i != event.actor_id))


def _name(entity: Any) -> str:
    return str(getattr(entity, "display_name", None) or getattr(entity, "title", "") or "")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


# Builders: (event, language, values) -> (subject, paragraphs between greeting and signature).
# ``values`` holds ``actor``, ``name`` (the entity's) and ``date`` (the event's, long format).
_Builder = Callable[[Event, str, dict[str, str]], tuple[str, list[str]]]


def _access(template: tuple[str, str, str]) -> _Builder:
    def build(event: Event, language: str, values: dict[str, str]) -> tuple[str, list[str]]:
        subject = translate(template[0], language).format(**values)
        return subject, [translate(template[1], language).format(**values)]

    return build


def _due(event: Event) -> dt.datetime:
    """When the task of a ``task.assigned`` event is due: ``data["due_at"]`` (ISO 8601), else
    the task's ``due_at``, else the event's time."""
    raw = event.data.get("due_at")
    if isinstance(raw, str) and raw:
        try:
            return dt.datetime.fromisoformat(raw)
        except ValueError:
            pass
    found = getattr(event.entity, "due_at", None)
    return found if isinstance(found, dt.datetime) else event.at


def _task_assigned(event: Event, language: str, values: dict[str, str]) -> tuple[str, list[str]]:
    subject = translate("{actor} assigned you the task {name}", language).format(**values)
    facts = _facts(
        language,
        [
            (gettext_noop("Due: {due}"), "due", _when(_due(event), language)),
            (gettext_noop("Category: {category}"), "category", _text(event.data, "category")),
            (gettext_noop("Contact: {contact}"), "contact", _text(event.data, "contact")),
            (
                gettext_noop("Opportunity: {opportunity}"),
                "opportunity",
                _text(event.data, "opportunity"),
            ),
            (gettext_noop("Case: {case}"), "case", _text(event.data, "case")),
        ],
    )
    return subject, [
        translate("{actor} assigned you the task {name} on {date}.", language).format(**values),
        facts,
        str(getattr(event.entity, "description", "") or "").strip(),
    ]


def _history_created(event: Event, language: str, values: dict[str, str]) -> tuple[str, list[str]]:
    entity = event.entity
    happened = getattr(entity, "happened_at", None)
    values = {**values, "parent": _text(event.data, "parent")}
    subject = translate("{actor} added a history event to {parent}", language).format(**values)
    facts = _facts(
        language,
        [
            (gettext_noop("Category: {category}"), "category", _text(event.data, "category")),
            (
                gettext_noop("Date: {date}"),
                "date",
                _when(happened if isinstance(happened, dt.datetime) else event.at, language),
            ),
        ],
    )
    names = [str(n) for n in event.data.get("files") or () if n]
    files = "\n".join([translate("Attached files:", language), *names]) if names else ""
    return subject, [
        translate(
            "{actor} added a history event to {parent} and asked to notify you.", language
        ).format(**values),
        facts,
        str(getattr(entity, "content", "") or "").strip(),
        files,
    ]


# event name -> (recipients' key in event.data, builder)
_EVENTS: dict[str, tuple[str, _Builder]] = {
    **{name: (template[2], _access(template)) for name, template in _TEMPLATES.items()},
    "task.assigned": ("responsible", _task_assigned),
    "history.created": ("notify", _history_created),
}


def _message(build: _Builder, event: Event, actor: str, user: User) -> Message:
    lang = _language(user.language)
    values = {
        "actor": translate(_WRITERS[event.actor_id], lang) if event.actor_id in _WRITERS else actor,
        "name": _name(event.entity),
        "date": format_date(event.at, format="long", locale=lang),
    }
    subject, paragraphs = build(event, lang, values)
    return _wrap(lang, user, subject, paragraphs)


@hookimpl
def opencrm_event_committed(crm: CRM, event: Event) -> None:
    if event.name == "task.reminder":
        _remind(crm, event)
        return
    if event.name == "job.finished":
        _job_finished(crm, event)
    if event.name == "report.generated":
        _report_ready(crm, event)
        return
    found = _EVENTS.get(event.name)
    if found is None or crm.directory is None:
        return
    key, build = found
    ids = _recipients(event, key)
    if not ids:
        return
    users = crm.directory.get_many([*ids, event.actor_id])
    author = users.get(event.actor_id)
    actor = (author.name if author is not None else "") or event.actor_id
    for user_id in ids:
        user = users.get(user_id)
        if user is None or not user.email:
            continue
        crm.notify(_message(build, event, actor, user))


def _remind(crm: CRM, event: Event) -> None:
    """A ``task.reminder`` claimed by :meth:`opencrm.CRM.due_reminders`: mail the task's
    responsible (whoever claimed it; the actor is opencrm itself)."""
    task = event.entity
    if crm.directory is None or not isinstance(task, Task):
        return
    user = crm.directory.get(task.responsible)
    if user is None or not user.email:
        return
    data = event.data
    crm.notify(
        task_reminder_mail(
            task,
            str(data.get("category") or ""),
            user,
            contact=str(data.get("contact") or ""),
        )
    )


_STATUSES = {
    "succeeded": gettext_noop("succeeded"),
    "failed": gettext_noop("failed"),
    "cancelled": gettext_noop("cancelled"),
}


_IMPORT_COUNTS = ("created", "updated", "unchanged", "skipped", "rejected")


def _job_finished(crm: CRM, event: Event) -> None:
    """A job ended: tell its owner (the actor of the event, for once not skipped)."""
    job = event.entity
    if crm.directory is None or job is None:
        return
    user = crm.directory.get(event.actor_id)
    if user is None or not user.email:
        return
    status = str(event.data.get("status") or "")
    if status == "succeeded" and event.data.get("kind") == "report":
        return  # the report.generated notification said it is ready
    lang = _language(user.language)
    values = {
        "job": str(getattr(job, "id", "")),
        "kind": str(event.data.get("kind") or ""),
        "date": _when(getattr(job, "created_at", event.at), lang),
        "rows": str(getattr(job, "done", 0)),
        "status": translate(_STATUSES.get(status, status), lang),
    }
    if status == "succeeded" and values["kind"] in ("export", "full_export"):
        subject = translate("Your export is ready", lang)
        body = [
            translate(
                "The export you started on {date} is ready to download ({rows} rows, job {job}).",
                lang,
            ).format(**values)
        ]
    elif status == "succeeded" and values["kind"] == "import":
        summary = getattr(job, "summary", None) or {}
        counts = {k: str(summary.get(k, 0)) for k in _IMPORT_COUNTS}
        subject = translate("Your import has finished", lang)
        body = [
            translate(
                "The import you started on {date} has finished (job {job}): {rows} rows, "
                "{created} created, {updated} updated, {unchanged} unchanged, {skipped} "
                "skipped, {rejected} rejected.",
                lang,
            ).format(**values, **counts)
        ]
    else:
        subject = translate("Your job {job} ({kind}) has ended: {status}", lang).format(**values)
        error = str(getattr(job, "error", None) or "")
        body = [
            translate(
                "The job {job} ({kind}) you started on {date} has ended: {status}.", lang
            ).format(**values),
            _facts(lang, [(gettext_noop("Error: {error}"), "error", error)]),
        ]
    crm.notify(_wrap(lang, user, subject, body))


def _report_ready(crm: CRM, event: Event) -> None:
    """A ``report.generated``: tell the user who generated it that the file is ready (the
    one notification that goes to the actor: generation may run in the background)."""
    if crm.directory is None:
        return
    user = crm.directory.get(str(event.data.get("user") or event.actor_id))
    if user is None or not user.email:
        return
    lang = _language(user.language)
    values = {
        "name": _name(event.entity),
        "file": _text(event.data, "file_name"),
        "date": _when(event.at, lang),
    }
    crm.notify(
        _wrap(
            lang,
            user,
            translate("Your report {name} is ready", lang).format(**values),
            [
                translate(
                    "The report {name} you generated on {date} is ready: {file}. "
                    "Download it from your generated reports.",
                    lang,
                ).format(**values)
            ],
        )
    )


def task_reminder_mail(task: Task, category: str, user: User, *, contact: str = "") -> Message:
    """The reminder of ``task`` to ``user`` (its responsible), in ``user.language``: when it is
    due (in UTC), its ``category`` (title), the ``contact`` it is linked to (display name; left
    out when empty) and its description. Addressed to ``user.email`` (no recipient without
    one)."""
    lang = _language(user.language)
    values = {"title": task.title, "due": _when(task.due_at, lang)}
    subject = translate("Reminder: {title} is due on {due}", lang).format(**values)
    facts = _facts(
        lang,
        [
            (gettext_noop("Category: {category}"), "category", category),
            (gettext_noop("Contact: {contact}"), "contact", contact),
        ],
    )
    return _wrap(
        lang,
        user,
        subject,
        [
            translate("The task {title} is due on {due}.", lang).format(**values),
            facts,
            task.description.strip(),
        ],
    )


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
