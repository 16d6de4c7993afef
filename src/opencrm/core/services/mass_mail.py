"""Mass mail (S8): one templated message to each contact of a selection, sent as a job.

The template (subject, plain text, optional HTML) is parsed when the mail is previewed or
started, so an unknown placeholder is an error before anything is sent (see
:mod:`opencrm.core.mail_template`). The job (kind ``mass_mail``) then works in batches: it
reads a batch of contacts as the job's owner, renders each message, hands the batch to the
CRM's notifier at once (``send_many``: one SMTP connection for the batch; a plugin's
``opencrm_deliver_notification`` may take single messages first) outside any transaction,
and records what happened in a second short transaction (a ``contact.mailed`` event per
sent message and, when asked, a history event per contact). Cancelling stops it between
batches.

Who may send is a setting (``mass_mail.senders``): CRM admins only unless an admin lets in
everyone or listed users and groups. A sender mails the contacts they may read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opencrm.core import permissions as policy
from opencrm.core._inputs import clean_bool, clean_int, single_line
from opencrm.core.entities.activities import HistoryEvent
from opencrm.core.entities.contacts import Company, Contact, Person
from opencrm.core.entities.lists import ListItem, ListKind
from opencrm.core.jobs import Job, JobRun
from opencrm.core.mail_template import CUSTOM_PREFIX, Template, parse
from opencrm.core.notify import can_deliver, deliver_many
from opencrm.core.ports import Message
from opencrm.core.services import _activities as act
from opencrm.core.services import _contact_bulk as _bulk
from opencrm.core.services._base import Service, Tx
from opencrm.core.services.contacts import ContactService
from opencrm.core.services.exports import decode_filters, encode_filters
from opencrm.core.services.jobs import start_job
from opencrm.core.users import ModuleAccess
from opencrm.errors import NotConfigured, PermissionDenied, ValidationError

__all__ = [
    "BATCH_SIZE",
    "KIND",
    "MAX_LISTED",
    "SENDERS_KEY",
    "MassMailService",
]

#: Recipients per batch (the reference's quota): one read, their sending, one write.
BATCH_SIZE = 50
#: At most this many recipients that were not sent are listed in the job's summary.
MAX_LISTED = 1000
#: The settings key of who may send mass mail.
SENDERS_KEY = "mass_mail_senders"
#: The longest subject, in characters.
MAX_SUBJECT = 500
#: The job kind (registered by :mod:`opencrm.io.mass_mail`).
KIND = "mass_mail"


def _senders(raw: Any) -> ModuleAccess:
    if not raw:
        return ModuleAccess.only()  # admins only, as the reference's guide has it
    return ModuleAccess(
        everyone=bool(raw.get("everyone", False)),
        users=frozenset(raw.get("users", ())),
        groups=frozenset(raw.get("groups", ())),
    )


def _require_sender(tx: Tx) -> None:
    if not _senders(tx.uow.settings.get(SENDERS_KEY)).allows(tx.actor):
        raise PermissionDenied("you may not send mass mail (ask a CRM admin)")


def _pack(ids: Iterable[int]) -> str:
    """Ids in a short text for the job's parameters (which hold at most 64 KiB): sorted, each
    as its distance from the one before in base 36, a run of consecutive ids as ``d+n`` (then
    ``n`` more follow one by one). 10,000 ids take 20 to 50 KiB at worst, a run a few bytes."""
    tokens: list[str] = []
    prev = 0
    ordered = sorted(set(ids))
    k = 0
    while k < len(ordered):
        first = ordered[k]
        run = 0
        while k + run + 1 < len(ordered) and ordered[k + run + 1] == first + run + 1:
            run += 1
        token = _base36(first - prev)
        tokens.append(f"{token}+{_base36(run)}" if run else token)
        prev = first + run
        k += run + 1
    return ",".join(tokens)


def _unpack(packed: str) -> list[int]:
    out: list[int] = []
    prev = 0
    for token in packed.split(",") if packed else ():
        delta, _, run = token.partition("+")
        first = prev + int(delta, 36)
        out.extend(range(first, first + int(run or "0", 36) + 1))
        prev = out[-1]
    return out


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        n, r = divmod(n, 36)
        text = digits[r] + text
        if n == 0:
            return text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(sorted(_text(v) for v in value))
    return str(value)


class _Templates:
    def __init__(self, subject: Template, text: Template, html: Template | None) -> None:
        self.subject, self.text, self.html = subject, text, html

    def message(self, to: str | None, values: Mapping[str, str]) -> Message:
        return Message(
            to=(to,) if to else (),
            subject=self.subject.render(values, mode="subject"),
            text=self.text.render(values),
            html=None if self.html is None else self.html.render(values, mode="html"),
        )

    def custom_labels(self) -> set[str]:
        parts = [*self.subject.placeholders, *self.text.placeholders]
        if self.html is not None:
            parts += self.html.placeholders
        return {p[len(CUSTOM_PREFIX) :] for p in parts if p.startswith(CUSTOM_PREFIX)}


class MassMailService:
    """Mass mail to a selection of contacts; ``session.mass_mail``.

    :meth:`preview` renders the message one contact would get; :meth:`start` queues the job
    that sends them all (follow it, cancel it and read its summary through ``session.jobs``).
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- who may send -----------------------------------------------------------------------

    def senders(self) -> ModuleAccess:
        """Who may send mass mail: by default CRM admins only (``everyone=False`` and no
        users or groups); CRM admins always may."""
        with self._s._tx(write=False) as tx:
            return _senders(tx.uow.settings.get(SENDERS_KEY))

    def set_senders(self, rule: ModuleAccess) -> ModuleAccess:
        """Decide who may send mass mail (admins only): ``ModuleAccess()`` lets every CRM
        user, ``ModuleAccess.only(users=..., groups=...)`` the listed ones."""
        if not isinstance(rule, ModuleAccess) or not isinstance(rule.everyone, bool):
            raise ValidationError({"rule": "must be a ModuleAccess"})
        for name in (*rule.users, *rule.groups):
            if not isinstance(name, str) or not name or len(name) > 255:
                raise ValidationError({"rule": "users and groups are names of 1 to 255 characters"})
            single_line(name, "rule", trim=False)
        value = {
            "everyone": rule.everyone,
            "users": sorted(rule.users),
            "groups": sorted(rule.groups),
        }
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "decide who sends mass mail")
            before = tx.uow.settings.get(SENDERS_KEY)
            if before != value:
                tx.uow.settings.set(SENDERS_KEY, value)
                tx.emit(
                    "setting.updated",
                    entity_id=SENDERS_KEY,
                    data={"key": SENDERS_KEY, "before": before, "after": value},
                )
            return _senders(value)

    # --- preview and start ------------------------------------------------------------------

    def preview(
        self, contact: Contact | int, *, subject: str, text: str, html: str | None = None
    ) -> Message:
        """The message ``contact`` would get (``to`` is empty when it has no e-mail address):
        the template checked and rendered exactly as :meth:`start` would; nothing is sent."""
        contact_id = contact.id if isinstance(contact, Contact) else contact
        with self._s._tx(write=False) as tx:
            _require_sender(tx)
            templates = self._parse(tx, subject, text, html)
            found = ContactService(self._s)._readable(tx, contact_id)
            to, values = _Values(self._s, tx, templates.custom_labels()).of([found])[0]
            return templates.message(to, values)

    def start(
        self,
        *,
        subject: str,
        text: str,
        html: str | None = None,
        ids: Iterable[int] | None = None,
        where: Mapping[str, Any] | None = None,
        history: bool = False,
        history_category: ListItem | int | str = "Email",
        batch_size: int = BATCH_SIZE,
    ) -> Job:
        """Queue the mass mail job: ``subject``, ``text`` and optional ``html`` templates, to
        the contacts with these ``ids`` or those the contact list shows for the filters in
        ``where`` (at most 10,000; contacts the user may not read are refused as
        ``not_found``). With ``history``, a history event of ``history_category`` (default
        Email) records the message on each contact it was sent to. Everything is checked now:
        a bad template, an empty selection or a missing notifier is an error here, not a failed
        job. The job's summary counts the recipients ``sent``, ``skipped`` (no e-mail) and
        ``failed`` (the notifier's error) and lists those not sent with the reason."""
        history = clean_bool(history, "history")
        batch_size = clean_int(batch_size, "batch_size", 1, 500)
        ctx = self._s._ctx
        if not can_deliver(ctx.hook, ctx.notifier):
            raise NotConfigured(
                "the CRM has no notifier: open it with CRM.open(..., notifier=SmtpNotifier(...))"
            )
        contacts = ContactService(self._s)
        with self._s._tx(write=False) as tx:
            _require_sender(tx)
            self._parse(tx, subject, text, html)
            chosen = contacts._selection(tx, ids, where, edit=False)
            if not chosen.ids:
                raise ValidationError(
                    {"ids" if ids is not None else "where": "selects no contact you may read"}
                )
            category = (
                act.category(tx, ListKind.HISTORY_CATEGORY, history_category).id
                if history
                else None
            )
        params: dict[str, Any] = {
            "subject": subject,
            "text": text,
            "html": html,
            "history_category": category,
            "batch_size": batch_size,
        }
        if ids is not None:
            # The ids as given (refusals are worked out again when the job runs).
            params["ids"] = _pack([*chosen.ids, *(r.id for r in chosen.refused)])
        else:
            params["where"] = encode_filters(dict(where or {}))
        return start_job(self._s, KIND, params)

    # --- internals --------------------------------------------------------------------------

    def _parse(self, tx: Tx, subject: object, text: object, html: object) -> _Templates:
        labels = {
            f.label
            for f in tx.uow.fields.list()
            if f.applies_to("person") or f.applies_to("company")
        }
        if isinstance(subject, str):
            if not subject.strip():
                raise ValidationError({"subject": "is required"})
            if len(subject) > MAX_SUBJECT:
                raise ValidationError({"subject": f"is longer than {MAX_SUBJECT} characters"})
            single_line(subject, "subject")
        if isinstance(text, str) and not text.strip():
            raise ValidationError({"text": "is required"})
        return _Templates(
            parse(subject, "subject", labels),
            parse(text, "text", labels),
            None if html is None else parse(html, "html", labels),
        )

    def _run(self, run: JobRun, outcomes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The job's work (see the module's docstring); every recipient's outcome is also
        appended to ``outcomes`` when given (the job's result file is written from it)."""
        params = run.params
        contacts = ContactService(self._s)
        with self._s._tx(write=False) as tx:
            _require_sender(tx)
            templates = self._parse(tx, params["subject"], params["text"], params.get("html"))
            if params.get("ids") is not None:
                chosen = contacts._selection(tx, _unpack(str(params["ids"])), None, edit=False)
            else:
                where = decode_filters(params.get("where") or {})
                chosen = contacts._selection(tx, None, where, edit=False)
        ids = list(chosen.ids)
        counts = {"sent": 0, "skipped": 0, "failed": 0}
        listed: list[dict[str, Any]] = [
            {"contact_id": r.id, "email": None, "status": "refused", "reason": r.reason}
            for r in chosen.refused
        ][:MAX_LISTED]
        left_off = max(0, len(chosen.refused) - MAX_LISTED)
        if outcomes is not None:
            outcomes.extend(
                {"contact_id": r.id, "email": None, "status": "refused", "reason": r.reason}
                for r in chosen.refused
            )
        history_events = 0
        done = 0
        stopped_at: int | None = None
        category = params.get("history_category")
        size = int(params.get("batch_size") or BATCH_SIZE)
        run.progress(0, len(ids))
        for batch in _chunks(ids, size):
            if run.stop_requested():
                break
            with self._s._tx(write=False) as tx:
                found = _bulk.load_many(tx, batch)
                recipients = _Values(self._s, tx, templates.custom_labels()).of(found)
            messages = {
                contact.id: templates.message(to, values)
                for contact, (to, values) in zip(found, recipients, strict=True)
                if to
            }
            # The batch goes to the notifier at once (one SMTP connection for all of it);
            # each message has its own result.
            ctx = self._s._ctx
            results = dict(
                zip(
                    messages,
                    deliver_many(ctx.hook, ctx.crm, ctx.notifier, list(messages.values())),
                    strict=True,
                )
            )
            sent: list[tuple[Contact, Message]] = []
            for contact, (to, _) in zip(found, recipients, strict=True):
                outcome: dict[str, Any] = {"contact_id": contact.id, "email": to}
                if not to:
                    counts["skipped"] += 1
                    outcome.update(status="skipped", reason="no_email")
                elif (failure := results[contact.id]) is not None:
                    counts["failed"] += 1
                    outcome.update(status="failed", reason=_reason(failure))
                else:
                    counts["sent"] += 1
                    sent.append((contact, messages[contact.id]))
                    outcome.update(status="sent", reason="")
                if outcomes is not None:
                    outcomes.append(outcome)
                if outcome["status"] == "sent":
                    continue
                if len(listed) < MAX_LISTED:
                    listed.append(outcome)
                else:
                    left_off += 1
            gone = set(batch) - {c.id for c in found}  # deleted since the selection was made
            for cid in sorted(gone):
                counts["skipped"] += 1
                missing = {"contact_id": cid, "email": None, "status": "skipped"}
                missing["reason"] = "not_found"
                if outcomes is not None:
                    outcomes.append(missing)
                if len(listed) < MAX_LISTED:
                    listed.append(missing)
                else:
                    left_off += 1
            if sent:
                history_events += self._record(run.job_id, sent, category)
            done += len(batch)
            stopped_at = batch[-1]
            run.progress(done, len(ids))
        return {
            "recipients": len(ids),
            **counts,
            "refused": len(chosen.refused),
            "history_events": history_events,
            "not_sent": sorted(listed, key=lambda o: o["contact_id"]),
            "not_sent_left_off": left_off,
            "cancelled": done < len(ids),
            "stopped_at": stopped_at,
        }

    def _record(self, job_id: int, sent: Sequence[tuple[Contact, Message]], category: Any) -> int:
        """After the batch went out: one ``contact.mailed`` per message and, when asked, a
        history event each (the contacts are checked again: one deleted meanwhile gets none)."""
        written = 0
        with self._s._tx() as tx:
            alive = {c.id for c in tx.uow.contacts.get_many([c.id for c, _ in sent])}
            for contact, message in sent:
                if contact.id not in alive:
                    continue
                tx.emit(
                    "contact.mailed",
                    contact,
                    data={"job_id": job_id, "to": list(message.to), "subject": message.subject},
                )
                if category is None:
                    continue
                event = tx.uow.history.add(
                    HistoryEvent(
                        id=0,
                        content=f"{message.subject}\n\n{message.text}"[:65_000],
                        category_id=int(category),
                        contact_id=contact.id,
                        happened_at=tx.now,
                        created_by=tx.actor.id,
                        created_at=tx.now,
                        updated_by=tx.actor.id,
                        updated_at=tx.now,
                    )
                )
                tx.emit(
                    "history.created", event, after=event, data=act.created_data(tx, event, [], [])
                )
                written += 1
        return written


class _Values:
    """The placeholder values of contacts, read in one transaction: their fields, their
    companies' names, and the custom values the template names."""

    def __init__(self, service: Service, tx: Tx, labels: set[str]) -> None:
        self._tx = tx
        self._types = service._ctx.field_types
        self._fields = [f for f in tx.uow.fields.list() if f.label in labels]

    def of(self, found: Sequence[Contact]) -> list[tuple[str | None, dict[str, str]]]:
        company_ids = {c.company_id for c in found if isinstance(c, Person) and c.company_id}
        companies = {c.id: c for c in self._tx.uow.contacts.get_many(sorted(company_ids))}
        out: list[tuple[str | None, dict[str, str]]] = []
        for contact in found:
            values = {
                "name": contact.display_name,
                "email": contact.email or "",
                "phone": contact.phone or "",
                "first_name": "",
                "last_name": "",
                "job_title": "",
                "company": "",
                "industry": "",
            }
            if isinstance(contact, Person):
                company = companies.get(contact.company_id or 0)
                readable = company is not None and policy.can_read_contact(self._tx.actor, company)
                values.update(
                    first_name=contact.first_name,
                    last_name=contact.last_name,
                    job_title=contact.job_title,
                    company=company.display_name if company is not None and readable else "",
                )
            elif isinstance(contact, Company):
                values.update(company=contact.name, industry=contact.industry)
            for f in self._fields:
                if f.applies_to(contact.kind) and f.id in contact.custom:
                    loaded = self._types.get(f.type).load(contact.custom[f.id], f.options)
                    values[CUSTOM_PREFIX + f.label] = _text(loaded)
            out.append((contact.email, values))
        return out


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
