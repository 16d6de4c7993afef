"""Ports: the interfaces the core needs from the outside world.

Storage implements the repositories and the unit of work; the host may supply a
:class:`~opencrm.core.users.UserDirectory` and a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import IO, Any, Protocol, Self

import attrs

from opencrm.core.activities_query import HistoryFilter, TaskFilter
from opencrm.core.bulk_ports import ContactBulkRepository
from opencrm.core.deals_query import CaseFilter, OpportunityFilter
from opencrm.core.entities.activities import ContactPhoto, HistoryEvent, HistoryFile, Task
from opencrm.core.entities.contacts import Access, Contact
from opencrm.core.entities.deals import Case, Opportunity
from opencrm.core.entities.lists import CustomField, ListItem, ListKind, Stage, Tag
from opencrm.core.events import AuditEntry, Event
from opencrm.core.files import CaseDocument, StoredFile
from opencrm.core.invoice_ports import (
    ExchangeRateRepository,
    InvoiceRepository,
    ProductRepository,
    TaxRepository,
)
from opencrm.core.jobs import Job, JobResult, JobStatus
from opencrm.core.permissions import ActivityScope, ContactScope, DealScope
from opencrm.core.query import ContactFilter, Cursor, PageRequest
from opencrm.core.reports._query import ReportQueries
from opencrm.core.reports._stored import GeneratedReportRepository
from opencrm.core.search import SearchRepository
from opencrm.core.voip_ports import VoipRepository
from opencrm.core.web_form_ports import WebFormRepository

__all__ = [
    "Attachment",
    "AuditEntry",
    "AuditRepository",
    "BatchNotifier",
    "CaseDocumentRepository",
    "CaseRepository",
    "Clock",
    "ContactPhotoRepository",
    "ContactRepository",
    "CustomFieldRepository",
    "FileStore",
    "GeneratedReportRepository",
    "HistoryRepository",
    "ImportStore",
    "JobRepository",
    "ListRepository",
    "Message",
    "Notifier",
    "OpportunityRepository",
    "ReportQueries",
    "SettingsRepository",
    "StageRepository",
    "StoredFile",
    "TagRepository",
    "TaskRepository",
    "UnitOfWork",
]

Clock = Callable[[], dt.datetime]


class ContactRepository(Protocol):
    def add(self, contact: Contact) -> Contact:
        """Insert a contact (its ``id`` and info ids are ignored); return it as stored."""

    def get(self, contact_id: int) -> Contact | None: ...

    def get_many(self, contact_ids: Iterable[int]) -> Sequence[Contact]: ...

    def update(self, contact: Contact) -> Contact:
        """Replace a stored contact, its managers, tags, infos and custom values."""

    def delete(self, contact_id: int) -> None:
        """Remove a contact with its infos, tags, custom values and manager links; persons
        of a deleted company are unlinked."""

    def list(
        self, scope: ContactScope, where: ContactFilter, page: PageRequest
    ) -> tuple[Sequence[Contact], Cursor | None]: ...

    def count(self, scope: ContactScope, where: ContactFilter) -> int: ...

    def exists(self, contact_id: int) -> bool: ...

    def access_of(self, contact_id: int, user_id: str) -> tuple[Access, bool] | None:
        """In one query, what reading the contact depends on: its access level and whether
        ``user_id`` manages it; None when there is no such contact."""

    def members_of(self, company_id: int) -> Sequence[int]: ...

    def in_use_by_invoices(self, contact_id: int) -> bool:
        """Whether an invoice names the contact as client or consignee."""


class ListRepository(Protocol):
    def list(self, kind: ListKind) -> Sequence[ListItem]: ...

    def get(self, item_id: int) -> ListItem | None: ...

    def find(self, kind: ListKind, title: str) -> ListItem | None: ...

    def add(self, item: ListItem) -> ListItem: ...

    def update(self, item: ListItem) -> None: ...

    def delete(self, item_id: int) -> None: ...

    def usage(self, item: ListItem) -> int:
        """How many records refer to the item."""

    def reassign(self, item: ListItem, to: ListItem) -> int:
        """Point every record using ``item`` at ``to``; return how many moved."""


class StageRepository(Protocol):
    def list(self) -> Sequence[Stage]: ...

    def get(self, stage_id: int) -> Stage | None: ...

    def add(self, stage: Stage) -> Stage: ...

    def update(self, stage: Stage) -> None: ...

    def delete(self, stage_id: int) -> None: ...

    def usage(self, stage_id: int) -> int:
        """How many opportunities are at the stage."""


class OpportunityRepository(Protocol):
    def add(self, opportunity: Opportunity) -> Opportunity:
        """Insert an opportunity (its ``id`` is ignored); return it as stored."""

    def get(self, opportunity_id: int) -> Opportunity | None: ...

    def update(self, opportunity: Opportunity) -> Opportunity:
        """Replace a stored opportunity with its members, access list, tags and custom values."""

    def delete(self, opportunity_id: int) -> None:
        """Remove an opportunity with its members, access list, tags and custom values."""

    def list(
        self, scope: DealScope, where: OpportunityFilter, page: PageRequest
    ) -> tuple[Sequence[Opportunity], Cursor | None]: ...

    def count(self, scope: DealScope, where: OpportunityFilter) -> int: ...


class CaseRepository(Protocol):
    def add(self, case: Case) -> Case:
        """Insert a case (its ``id`` is ignored); return it as stored."""

    def get(self, case_id: int) -> Case | None: ...

    def update(self, case: Case) -> Case:
        """Replace a stored case with its members, access list, tags and custom values."""

    def delete(self, case_id: int) -> None:
        """Remove a case with its members, access list, tags and custom values."""

    def list(
        self, scope: DealScope, where: CaseFilter, page: PageRequest
    ) -> tuple[Sequence[Case], Cursor | None]: ...

    def count(self, scope: DealScope, where: CaseFilter) -> int: ...


class TagRepository(Protocol):
    def list(self, entity_type: str) -> Sequence[Tag]: ...

    def find(self, entity_type: str, title: str) -> Tag | None: ...

    def get(self, tag_id: int) -> Tag | None: ...

    def add(self, entity_type: str, title: str) -> Tag: ...

    def rename(self, tag: Tag, title: str) -> None: ...

    def delete(self, tag_id: int) -> None:
        """Delete a tag and every link to it."""

    def usage(self, tag_id: int) -> int: ...

    def unused(self, entity_type: str) -> Sequence[Tag]: ...


class CustomFieldRepository(Protocol):
    def list(self, entity_type: str | None = None) -> Sequence[CustomField]: ...

    def get(self, field_id: int) -> CustomField | None: ...

    def add(self, field: CustomField) -> CustomField: ...

    def update(self, field: CustomField) -> None: ...

    def delete(self, field_id: int) -> None:
        """Delete a field definition and all its values."""

    def value_count(self, field_id: int) -> int: ...


class SettingsRepository(Protocol):
    def get(self, key: str) -> Any: ...

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of these keys in one query (keys not stored are left out)."""

    def set(self, key: str, value: Any) -> None: ...

    def add_if_missing(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` unless a value is stored already (also when another
        transaction stores one at the same time); return the stored value."""


class AuditRepository(Protocol):
    def append(self, event: Event) -> None: ...

    def append_many(self, events: Iterable[Event]) -> None:
        """Append these events in order, in as few statements as the driver allows."""

    def entries(
        self,
        *,
        entity_type: str | None = None,
        entity_id: int | str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEntry]: ...


class ImportStore(Protocol):
    """Bulk reads and writes of an import: a few statements per batch of rows."""

    def contacts_by_infos(
        self, emails: Collection[str], phones: Collection[str]
    ) -> list[tuple[str, str, int]]:
        """(info type, normalized value, contact id) of the stored e-mails and phones given."""

    def companies_by_name(
        self, keys: Collection[str], user_id: str
    ) -> list[tuple[str, int, str, bool]]:
        """(case-folded name, id, access, managed by ``user_id``) of the companies so named,
        by id."""

    def add_contacts(self, new: Sequence[Contact]) -> list[int]:
        """Insert contacts with their infos, managers, tags (existing) and custom values;
        return their ids in order."""

    def update_contacts(self, changes: Sequence[tuple[Contact, Contact]]) -> None:
        """Write each (before, after) pair's differences."""

    def opportunities_by_title(
        self, keys: Collection[str], scope: DealScope
    ) -> list[tuple[str, int | None, int]]:
        """(case-folded title, main contact id, id) of the opportunities ``scope`` may read
        whose case-folded title is one of ``keys``, by id."""

    def tasks_by_title(
        self, keys: Collection[str]
    ) -> list[tuple[str, dt.datetime, str, int | None, str, int]]:
        """(case-folded title, due at, responsible, contact id, creator, id) of the open tasks
        whose case-folded title is one of ``keys``, by id."""

    def add_tasks(self, new: Sequence[Task]) -> list[int]:
        """Insert tasks; return their ids in order."""

    def tasks_by_id(self, ids: Collection[int]) -> list[Task]:
        """The stored tasks of ``ids``, by id (missing ones left out)."""

    def update_tasks(self, changes: Sequence[tuple[Task, Task]]) -> None:
        """Write each (before, after) pair; a new due time or alert, or a reopening, arms
        the reminder again."""

    def opportunities_by_id(self, ids: Collection[int]) -> list[Opportunity]:
        """The stored opportunities of ``ids`` with their links, whoever may read them, by
        id (missing ones left out)."""

    def update_opportunities(self, changes: Sequence[tuple[Opportunity, Opportunity]]) -> None:
        """Write each (before, after) pair's differences."""

    def cases_by_id(self, ids: Collection[int]) -> list[Case]:
        """The stored cases of ``ids`` with their links, by id (missing ones left out)."""

    def update_cases(self, changes: Sequence[tuple[Case, Case]]) -> None:
        """Write each (before, after) pair's differences."""

    def cases_by_title(
        self, keys: Collection[str], scope: DealScope
    ) -> list[tuple[str, int | None, int]]:
        """(case-folded title, None, id) of the cases ``scope`` may read whose case-folded
        title is one of ``keys``, by id."""

    def add_cases(self, new: Sequence[Case]) -> list[int]:
        """Insert cases with their members, access list, tags and custom values; return
        their ids in order."""

    def add_opportunities(self, new: Sequence[Opportunity]) -> list[int]:
        """Insert opportunities with their members, access list, tags (existing) and custom
        values; return their ids in order."""


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``with`` block without :meth:`commit` rolls back."""

    contacts: ContactRepository
    lists: ListRepository
    stages: StageRepository
    opportunities: OpportunityRepository
    cases: CaseRepository
    tags: TagRepository
    fields: CustomFieldRepository
    settings: SettingsRepository
    audit: AuditRepository
    taxes: TaxRepository
    products: ProductRepository
    exchange_rates: ExchangeRateRepository
    invoices: InvoiceRepository
    case_documents: CaseDocumentRepository
    tasks: TaskRepository
    history: HistoryRepository
    contact_photos: ContactPhotoRepository
    voip: VoipRepository
    jobs: JobRepository
    contact_bulk: ContactBulkRepository
    imports: ImportStore
    report_queries: ReportQueries
    generated_reports: GeneratedReportRepository
    search: SearchRepository
    web_forms: WebFormRepository

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def lock(self, kind: str, record_id: int) -> None:
        """Hold a row lock on a ``contact``, ``opportunity``, ``case`` or ``history_event``
        until the transaction ends."""


# --- Notifications and files ------------------------------------------------------------------


def _addresses(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class Attachment:
    """A file sent with a :class:`Message`."""

    filename: str
    content_type: str
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")


def _attachments(value: Iterable[Attachment]) -> tuple[Attachment, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Message:
    """An e-mail-shaped notification: recipients, subject, a plain-text and an HTML body.

    ``language`` is the locale it was written in (informational; a transport may set
    ``Content-Language`` from it).
    """

    to: tuple[str, ...] = attrs.field(converter=_addresses)
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_attachments)
    language: str | None = None


class Notifier(Protocol):
    """Port through which opencrm sends messages (SMTP, an outbox, a host's mail queue).

    ``send`` raises on failure; opencrm calls it only after the change it tells about has
    committed (``invoices.send`` excepted: there, sending *is* the change).

    Many messages at once (mass mail hands over each batch) go through
    :func:`opencrm.core.notify.send_many`: to the notifier's own ``send_many`` when it has
    one (see :class:`BatchNotifier`), else to ``send`` once per message. So a notifier with
    ``send`` alone keeps working, and keeps type-checking as a ``Notifier``.
    """

    def send(self, message: Message) -> None: ...


class BatchNotifier(Notifier, Protocol):
    """A :class:`Notifier` that can send a batch at once, e.g. over one SMTP connection.

    A class that subclasses it and defines only ``send`` inherits the default
    ``send_many`` below (one ``send`` per message). It is a separate protocol because a
    protocol member is required of every class that does not subclass the protocol, even
    when it has a default: adding ``send_many`` to :class:`Notifier` would make every
    existing notifier fail type checks.
    """

    def send_many(self, messages: Sequence[Message]) -> Sequence[Exception | None]:
        """Send ``messages`` in order and return one result per message, in the same order:
        None when it was sent, else the error that kept it from going. One message failing
        (a recipient the server refuses) must not keep the others from going; raise only
        for a fault of the notifier itself (opencrm then counts every message as failed
        with that error)."""
        results: list[Exception | None] = []
        for message in messages:
            try:
                self.send(message)
            except Exception as exc:
                results.append(exc)
            else:
                results.append(None)
        return results


class FileStore(Protocol):
    """Port for uploaded files (case documents). A store sniffs the type from the bytes, keeps
    a size limit and refuses with :class:`~opencrm.errors.ValidationError` before writing
    anything (see :func:`opencrm.core.files.check_upload`).

    A store may also offer ``put_stream(chunks, original_name, content_type)`` and
    ``open_stream(file_id)`` (as :class:`~opencrm.LocalFileStore` does) for the files opencrm
    generates itself, such as exports: they are then written and sent chunk by chunk. Without
    them, job results go through ``put`` and ``open`` whole (and within the upload limit)."""

    def put(
        self, data: bytes | IO[bytes], original_name: str, content_type: str | None = None
    ) -> StoredFile:
        """Store a file under a new random id. ``content_type`` is the caller's claim and is
        never trusted: the stored type is sniffed."""

    def open(self, file_id: str) -> bytes:
        """The stored bytes; :class:`~opencrm.errors.NotFound` for an unknown id."""

    def delete(self, file_id: str) -> None:
        """Remove a stored file; an unknown id is not an error."""


class CaseDocumentRepository(Protocol):
    def add(self, document: CaseDocument) -> CaseDocument:
        """Insert the metadata of a stored document (its ``id`` is ignored)."""

    def list(self, case_id: int) -> Sequence[CaseDocument]:
        """The documents of a case, oldest first."""

    def get(self, document_id: int) -> CaseDocument | None: ...

    def delete(self, document_id: int) -> None: ...

    def delete_for_case(self, case_id: int) -> Sequence[str]:
        """Remove the rows of a case's documents; return their stored file ids."""


# --- Tasks, history and photos ----------------------------------------------------------------


class TaskRepository(Protocol):
    def add(self, task: Task) -> Task:
        """Insert a task (its ``id`` is ignored); return it as stored."""

    def get(self, task_id: int) -> Task | None: ...

    def update(self, task: Task, *, rearm: bool = False) -> Task:
        """Replace a stored task, but for ``reminded_at``: that is cleared with ``rearm``
        (a changed due time or alert offset, a reopening) and otherwise left as stored, so
        a reminder claimed concurrently stays claimed."""

    def delete(self, task_id: int) -> None: ...

    def list(
        self, scope: ActivityScope, where: TaskFilter, page: PageRequest
    ) -> tuple[Sequence[Task], Cursor | None]: ...

    def count(self, scope: ActivityScope, where: TaskFilter) -> int: ...

    def claim_reminders(self, now: dt.datetime, since: dt.datetime) -> Sequence[Task]:
        """Mark every open task whose reminder time is at or before ``now`` (and whose due
        time is at or after ``since``) as reminded at ``now``; return them. A task is claimed
        by one transaction only, also when several run at once."""

    def open_for(self, responsible: str, limit: int, now: dt.datetime) -> Sequence[Task]:
        """At most ``limit`` open tasks of a responsible user: those due from ``now`` on
        (soonest first), then the overdue ones (latest first)."""


class HistoryRepository(Protocol):
    def add(self, event: HistoryEvent) -> HistoryEvent:
        """Insert an event (its ``id`` and ``files`` are ignored); return it as stored."""

    def get(self, event_id: int) -> HistoryEvent | None: ...

    def update(self, event: HistoryEvent) -> HistoryEvent:
        """Replace content, category and date of a stored event."""

    def delete(self, event_id: int) -> Sequence[str]:
        """Remove an event with its file rows; return the stored file ids."""

    def list(
        self, scope: ActivityScope, where: HistoryFilter, page: PageRequest
    ) -> tuple[Sequence[HistoryEvent], Cursor | None]: ...

    def count(self, scope: ActivityScope, where: HistoryFilter) -> int: ...

    def add_file(self, file: HistoryFile) -> HistoryFile:
        """Insert the metadata of a stored file (its ``id`` is ignored)."""

    def delete_file(self, file_row_id: int) -> None: ...

    def file_ids_of(
        self,
        *,
        contact_id: int | None = None,
        opportunity_id: int | None = None,
        case_id: int | None = None,
    ) -> Sequence[str]:
        """The stored file ids of the events hanging off a record (to delete the files once
        the record's deletion, which removes the rows by cascade, has committed)."""


class ContactPhotoRepository(Protocol):
    def get(self, contact_id: int) -> ContactPhoto | None: ...

    def put(self, photo: ContactPhoto) -> ContactPhoto | None:
        """Store a contact's photo; return the one it replaces, if any."""

    def delete(self, contact_id: int) -> ContactPhoto | None:
        """Remove a contact's photo row; return it, if there was one."""


# --- Jobs -------------------------------------------------------------------------------------


class JobRepository(Protocol):
    """Jobs and their state. Each write is its own short transaction in the runner, so any app
    server reading the table sees how far a job is."""

    def add(self, job: Job, owner: Mapping[str, Any]) -> Job:
        """Insert a queued job (its ``id`` is ignored) with a snapshot of its owner (a dict
        a worker rebuilds the :class:`~opencrm.User` from)."""

    def get(self, job_id: int) -> Job | None: ...

    def list(self, owner: str | None, page: PageRequest) -> tuple[Sequence[Job], Cursor | None]:
        """One page of jobs, newest first by default; ``owner`` None: everyone's."""

    def claim(self, job_id: int, now: dt.datetime) -> tuple[Job, Mapping[str, Any]] | None:
        """Turn a queued job into a running one (one conditional update: a job is claimed
        once); return it with its owner snapshot, or None when it is not queued."""

    def progress(
        self, job_id: int, done: int, total: int | None, rate: float, now: dt.datetime
    ) -> None:
        """Record progress (``total`` None keeps the known total) and the heartbeat."""

    def cancel_requested(self, job_id: int) -> bool:
        """Whether cancelling was asked for (True for a job that no longer exists)."""

    def request_cancel(self, job_id: int, now: dt.datetime, *, stalled: bool) -> Job | None:
        """Ask a running job to stop; a queued (or ``stalled``) one is cancelled at once.
        Return the job as it is now (None when missing)."""

    def finish(
        self,
        job_id: int,
        status: JobStatus,
        summary: Mapping[str, Any],
        error: str | None,
        result: JobResult | None,
        now: dt.datetime,
    ) -> Job | None:
        """Record the end of a running job; None when the job is gone or not running."""

    def delete(self, job_id: int) -> None: ...
