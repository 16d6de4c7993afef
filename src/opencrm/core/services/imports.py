"""Imports: rows of a file become contacts, checked like every other change, in batches.

A batch of rows (1,000 by default) is validated in Python with the same cleaners the contact
service uses, matched against stored records with one or two queries, and written with a few
bulk statements (:class:`~opencrm.core.ports.ImportStore`). Each batch is one transaction,
so a cancelled or failed import keeps the batches before it; a dry run and an all-or-nothing
import run every batch in one transaction that is rolled back (dry run, or a rejected row)
or committed at the end, so a dry run reports exactly what the real run does.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any, Generic, TypeVar

import attrs
from moneyed import Money

from opencrm.core import _inputs
from opencrm.core import contact_data as cd
from opencrm.core import permissions as policy
from opencrm.core.entities.activities import ALERT_OFFSETS, DEFAULT_ALERT, Task
from opencrm.core.entities.contacts import (
    Access,
    Address,
    Company,
    Contact,
    ContactInfo,
    InfoType,
    Person,
)
from opencrm.core.entities.deals import BidType, Case, Opportunity
from opencrm.core.entities.lists import CustomField, ListItem, ListKind, Stage, StageType
from opencrm.core.imports import (
    IdRanges,
    ImportProgress,
    ImportReport,
    OnDuplicate,
    RowIssue,
    SourceRow,
)
from opencrm.core.jobs import Job
from opencrm.core.jobs import store_stream as _store_stream
from opencrm.core.money import clean_currency
from opencrm.core.regional import LOCALE_KEY, TIME_ZONE_KEY, Regional
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._files import clean_filename, forget_files, require_store
from opencrm.core.services._records import clean_tag_title
from opencrm.core.services.jobs import start_job
from opencrm.core.services.opportunities import (
    _clean_bid_type,
    _clean_budget,
    _clean_period_count,
    _clean_probability,
)
from opencrm.errors import Conflict, ValidationError

__all__ = [
    "EXPORT_MAPPING",
    "JOB_MAX_ISSUES",
    "KINDS",
    "MAX_BATCH",
    "READER_OPTIONS",
    "ImportService",
]

#: What :meth:`ImportService.run` imports today.
KINDS = ("contacts", "opportunities", "tasks", "cases")
MAX_BATCH = 10_000
#: Colour of a temperature an import creates (the reference's choice).
NEW_TEMPERATURE_COLOR = "#77cf9a"

_SCALARS = ("first_name", "last_name", "job_title", "company", "industry", "about")
_LISTS = ("contact_type", "temperature")
_ADDRESS_PARTS = ("street", "city", "state", "zip", "country")
_DEFAULT_KEYS = frozenset({"managers", "access", "tags", "contact_type", "temperature"})
#: Options of the file's reader a background import takes (see :func:`opencrm.io.open_rows`).
READER_OPTIONS = ("format", "encoding", "delimiter", "quotechar", "sheet")
#: The mapping that reads our own export back: the columns are the export's headers.
EXPORT_MAPPING = "export"
#: Row issues a background import keeps in its job's summary (the rest are counted).
JOB_MAX_ISSUES = 1000
_READ_CHUNK = 256 * 1024


def _plan(
    service: Service,
    kind: str,
    mapping: Mapping[str, Any],
    columns: Sequence[str] | None,
    on_duplicate: OnDuplicate,
    *,
    create_missing: bool,
    tag_separator: str,
) -> _ContactPlan | _OpportunityPlan | _TaskPlan:
    """The plan that reads and writes rows of ``kind``."""
    if kind in ("opportunities", "tasks", "cases"):
        plans: dict[str, type[_OpportunityPlan | _TaskPlan]] = {
            "opportunities": _OpportunityPlan,
            "tasks": _TaskPlan,
            "cases": _CasePlan,
        }
        plan = plans[kind]
        return plan(
            service,
            mapping,
            columns,
            on_duplicate,
            create_missing=create_missing,
            tag_separator=tag_separator,
        )
    return _ContactPlan(
        service,
        _Mapping.parse(mapping, columns),
        on_duplicate,
        create_missing=create_missing,
        tag_separator=tag_separator,
    )


def _check_kind(kind: str, batch_size: int) -> None:
    """The kind and batch size of an import, run now or as a job."""
    if kind not in KINDS:
        raise ValidationError({"kind": "must be one of " + ", ".join(KINDS)})
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise ValidationError({"batch_size": f"must be 1 to {MAX_BATCH}"})


def _clean_duplicate(on_duplicate: OnDuplicate | str, tag_separator: str) -> OnDuplicate:
    """What to do with a duplicate, checked with the tag separator (in that order)."""
    try:
        duplicate = OnDuplicate(str(on_duplicate))
    except ValueError:
        raise ValidationError(
            {"on_duplicate": "must be one of " + ", ".join(o.value for o in OnDuplicate)}
        ) from None
    if not isinstance(tag_separator, str) or not tag_separator:
        raise ValidationError({"tag_separator": "must be a non-empty string"})
    return duplicate


class _Rollback(Exception):
    """Leaves the single transaction of a dry run (or a refused all-or-nothing import)."""


class ImportService:
    """Import rows into the CRM as the acting user; reached as ``session.imports``."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def run(
        self,
        kind: str,
        rows: Iterable[SourceRow],
        mapping: Mapping[str, Any] | str,
        *,
        defaults: Mapping[str, Any] | None = None,
        on_duplicate: OnDuplicate | str = OnDuplicate.SKIP,
        dry_run: bool = False,
        atomic: bool = False,
        create_missing: bool = True,
        tag_separator: str = ",",
        batch_size: int = 1000,
        max_issues: int = 10_000,
        progress: Callable[[ImportProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ImportReport:
        """Import ``rows`` (a reader of :mod:`opencrm.io`, or any iterable of
        :class:`~opencrm.core.imports.SourceRow`) as records of ``kind`` (``"contacts"``).

        ``mapping`` maps fields to the column(s) holding them (see the import docs):
        ``first_name``, ``last_name``, ``job_title``, ``company``, ``industry``, ``about``,
        ``contact_type``, ``temperature``, ``currency``, ``tags``; ``email``, ``phone``,
        ``website`` and the other info types, with a category after a colon
        (``"phone:mobile"``); ``address`` (``"address:home"``) to a mapping of its parts
        (street, city, state, zip, country); ``custom:<label or id>``. Several columns for
        one field are joined (text) or each become an info (e-mails, phones).

        ``defaults`` apply to every created record: ``managers`` (default: the importer),
        ``access``, ``tags`` (added to updated records too), ``contact_type``,
        ``temperature``. Unknown types, temperatures and tags are created unless
        ``create_missing`` is False (then such a row is rejected).

        A row matching a stored contact by e-mail or phone (a company row: also by name) is
        skipped, updated (its mapped, non-empty values written; nothing else touched) or
        created anyway, per ``on_duplicate``; opportunities, cases and tasks are matched by
        their duplicate key, or for an update by the record ``id`` the file maps (see the
        import docs). ``dry_run`` writes nothing and reports exactly
        what the real run would; ``atomic`` commits only when no row is rejected.
        ``progress`` is told after each batch; ``should_stop`` is asked between batches.

        ``mapping="export"`` reads a file opencrm exported: the columns are mapped by the
        export's headers (see :func:`export_mapping`), several values in one cell are
        separated by line breaks, and a CSV file's neutralised cells are restored (one
        leading ``'`` before ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or another
        such ``'`` is dropped).
        """
        _check_kind(kind, batch_size)
        duplicate = _clean_duplicate(on_duplicate, tag_separator)
        for name, hook in (("progress", progress), ("should_stop", should_stop)):
            if hook is not None and not callable(hook):
                raise ValidationError({name: "must be a function or None"})
        if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
            raise ValidationError({"rows": "must be a reader of opencrm.io or rows of SourceRow"})
        columns = getattr(rows, "columns", None)
        ours = isinstance(mapping, str) and mapping == EXPORT_MAPPING
        if ours:
            if columns is None:
                raise ValidationError({"mapping": "'export' needs rows that know their columns"})
            mapping = export_mapping(columns, kind)
            tag_separator = EXPORT_SEPARATOR
            if getattr(rows, "format", None) == "csv":
                rows = _Restored(rows)
        elif isinstance(mapping, str):
            raise ValidationError(
                {"mapping": f"must map fields to columns, or be {EXPORT_MAPPING!r}"}
            )
        plan = _plan(
            self._s,
            kind,
            mapping,
            columns,
            duplicate,
            create_missing=create_missing,
            tag_separator=tag_separator,
        )
        if ours and isinstance(plan, _TaskPlan):
            plan.export = True
        tally = _Tally(kind, dry_run, max_issues)
        with self._s._tx(write=False) as tx:
            plan.prepare(tx, defaults or {})
        batches = _batches(iter(rows), batch_size)
        started = time.monotonic()

        def after_batch() -> bool:
            if progress is not None:
                elapsed = max(time.monotonic() - started, 1e-9)
                progress(ImportProgress(tally.rows, tally.rows / elapsed))
            if should_stop is not None and should_stop():
                tally.cancelled = True
                tally.stopped_at = tally.last_row
                return True
            return False

        if dry_run or atomic:
            try:
                with self._s._tx() as tx:
                    for batch in batches:
                        plan.apply(tx, batch, tally)
                        if after_batch():
                            break
                    if dry_run or tally.rejected:
                        raise _Rollback
                    tally.committed = True
            except _Rollback:
                pass
        else:
            try:
                for batch in batches:
                    with self._s._tx() as tx:
                        plan.apply(tx, batch, tally)
                    tally.committed = True
                    if after_batch():
                        break
            except ValidationError:
                # The file could not be read on: record what was committed, then say why.
                if tally.committed:
                    self._finished(tally)
                raise
        report = tally.report()
        if not dry_run:
            self._finished(tally)
        return report

    def start(
        self,
        kind: str,
        file: bytes | IO[bytes],
        mapping: Mapping[str, Any] | str,
        *,
        filename: str = "import.csv",
        defaults: Mapping[str, Any] | None = None,
        on_duplicate: OnDuplicate | str = OnDuplicate.SKIP,
        dry_run: bool = False,
        atomic: bool = False,
        create_missing: bool = True,
        tag_separator: str = ",",
        batch_size: int = 1000,
        max_issues: int = JOB_MAX_ISSUES,
        reader: Mapping[str, str] | None = None,
    ) -> Job:
        """Start importing ``file`` (its bytes, or a binary stream read to its end) as a
        background job of kind ``import``; return the queued job.

        The file is kept in the CRM's file store until the job ends (it is never served
        back), then read as :meth:`run` reads rows, with the same options; ``reader`` holds
        the options of the file's reader (``format``, ``encoding``, ``delimiter``,
        ``quotechar``, ``sheet``), and ``filename`` tells CSV from XLSX by its extension.
        The job's progress counts rows, cancelling it stops the import between batches
        (what was committed stays), and its summary is the report (see :doc:`import-export`),
        with at most ``max_issues`` row issues. Everything but the file's content is
        checked now, so a bad mapping or default is a ValidationError here."""
        options = self._check(
            kind,
            mapping,
            defaults,
            on_duplicate,
            tag_separator,
            batch_size,
            max_issues,
            reader,
            flags={"dry_run": dry_run, "atomic": atomic, "create_missing": create_missing},
        )
        name = clean_filename(filename)
        store = require_store(self._s)
        stored = _store_stream(store, _chunks_of(file), name, "application/octet-stream")
        if stored.size == 0:
            forget_files(store, [stored.id])
            raise ValidationError({"file": "is empty"})
        params = {"file_id": stored.id, "filename": name, **options}
        try:
            return start_job(self._s, "import", params)
        except BaseException:
            forget_files(store, [stored.id])
            raise

    def _check(
        self,
        kind: str,
        mapping: Mapping[str, Any] | str,
        defaults: Mapping[str, Any] | None,
        on_duplicate: OnDuplicate | str,
        tag_separator: str,
        batch_size: int,
        max_issues: int,
        reader: Mapping[str, str] | None,
        *,
        flags: Mapping[str, bool],
    ) -> dict[str, Any]:
        """The options of a background import, checked as far as they can be without the
        file, as JSON-able job parameters."""
        _check_kind(kind, batch_size)
        if not isinstance(max_issues, int) or not 0 <= max_issues <= JOB_MAX_ISSUES:
            raise ValidationError({"max_issues": f"must be 0 to {JOB_MAX_ISSUES}"})
        duplicate = _clean_duplicate(on_duplicate, tag_separator)
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise ValidationError({name: "must be true or false"})
        if reader is None:
            reader = {}
        if not isinstance(reader, Mapping):
            raise ValidationError({"reader": "must map reader options to text"})
        for name, value in reader.items():
            if name not in READER_OPTIONS:
                raise ValidationError(
                    {f"reader.{name}": "must be one of " + ", ".join(READER_OPTIONS)}
                )
            if not isinstance(value, str) or not 0 < len(value) <= 64:
                raise ValidationError({f"reader.{name}": "must be text of 1 to 64 characters"})
        if isinstance(mapping, str) and mapping != EXPORT_MAPPING:
            raise ValidationError(
                {"mapping": f"must map fields to columns, or be {EXPORT_MAPPING!r}"}
            )
        # The export's mapping is known once the file's columns are: its defaults are
        # checked now all the same.
        stand_in: dict[str, Any] = {
            "contacts": {"first_name": "First name"},
            "opportunities": {"title": "Title"},
            "tasks": {"title": "Title", "due": "Due"},
            "cases": {"title": "Title"},
        }[kind]
        plan = _plan(
            self._s,
            kind,
            stand_in if isinstance(mapping, str) else mapping,
            None,
            duplicate,
            create_missing=flags["create_missing"],
            tag_separator=tag_separator,
        )
        with self._s._tx(write=False) as tx:
            plan.prepare(tx, defaults or {})
        if defaults is not None and not isinstance(defaults, Mapping):
            raise ValidationError({"defaults": "must be a mapping"})
        checked: tuple[tuple[str, Any], ...] = (
            ("mapping", mapping),
            ("defaults", defaults),
            ("tag_separator", tag_separator),
            ("reader", reader),
        )
        for name, value in checked:
            _check_json(name, value)
        return {
            "kind": kind,
            "mapping": mapping if isinstance(mapping, str) else dict(mapping),
            "defaults": dict(defaults or {}),
            "on_duplicate": duplicate.value,
            "tag_separator": tag_separator,
            "batch_size": batch_size,
            "max_issues": max_issues,
            "reader": dict(reader),
            **flags,
        }

    def _finished(self, tally: _Tally) -> None:
        report = tally.report()
        with self._s._tx() as tx:
            tx.emit(
                "import.finished",
                data={
                    "kind": report.kind,
                    **report.counts(),
                    "committed": report.committed,
                    "cancelled": report.cancelled,
                    "stopped_at": report.stopped_at,
                    "created_ids": [list(r) for r in report.created_ids],
                    "updated_ids": [list(r) for r in report.updated_ids],
                },
            )


# --- our own export, read back ----------------------------------------------------------

#: Between several values in one cell of an export.
EXPORT_SEPARATOR = "\n"
#: What a spreadsheet may read as the start of a formula: a CSV export puts a ``'`` in front.
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
#: Export columns a contact import does not read (stamps and the company's id are the CRM's
#: own, the kind follows the names; managers and access come from the import's defaults).
#: ``Id`` is read: an update matches by it.
EXPORT_IGNORED = frozenset(
    {
        "Kind",
        "Company id",
        "Access",
        "Managers",
        "Created at",
        "Created by",
        "Updated at",
        "Updated by",
    }
)
_EXPORT_FIELDS = {
    "Id": "id",
    "First name": "first_name",
    "Last name": "last_name",
    "Company name": "company",
    "Job title": "job_title",
    "Industry": "industry",
    "Type": "contact_type",
    "Temperature": "temperature",
    "Currency": "currency",
    "About": "about",
    "Tags": "tags",
}
_INFO_HEADER = re.compile(r"^([A-Z][a-z]+) \(([a-z]+)\)$")
_ADDRESS_HEADER = re.compile(r"^Address \(([a-z]+)\): ([a-z]+)$")
_CUSTOM_HEADER = re.compile(r"^Custom: (.+?)(?: \(#(\d+)\))?$", re.DOTALL)


#: How an opportunities export's columns map to the import's fields.
_OPPORTUNITY_EXPORT_FIELDS = {
    "Id": "id",
    "Title": "title",
    "Client id": "contact_id",
    "Participant ids": "member_ids",
    "Description": "description",
    "Currency": "currency",
    "Amount": "budget",
    "Bid type": "bid_type",
    "Period count": "period_count",
    "Expected close date": "expected_close",
    "Actual close date": "actual_close",
    "Responsible": "responsible",
    "Stage": "stage",
    "Probability %": "probability",
    "Tags": "tags",
}
#: Columns of an opportunities export the import does not read: stamps are the CRM's own,
#: names repeat the ids, the stage type follows the stage, and restriction and access list
#: come from the import's defaults. (``Id`` is read: an update matches by it.)
OPPORTUNITY_EXPORT_IGNORED = frozenset(
    {
        "Client",
        "Other participants",
        "Stage type",
        "Restricted",
        "Access list",
        "Created at",
        "Created by",
        "Updated at",
        "Updated by",
    }
)


_STAMP_COLUMNS = frozenset({"Created at", "Created by", "Updated at", "Updated by"})
#: How a cases export's columns map to the import's fields.
_CASE_EXPORT_FIELDS = {
    "Id": "id",
    "Title": "title",
    "Closed": "closed",
    "Participant ids": "member_ids",
    "Tags": "tags",
}
#: Columns of a cases export the import does not read (names repeat the ids; restriction
#: and access list come from the import's defaults).
CASE_EXPORT_IGNORED = frozenset({"Participants", "Restricted", "Access list"}) | _STAMP_COLUMNS
#: How a tasks export's columns map to the import's fields.
_TASK_EXPORT_FIELDS = {
    "Id": "id",
    "Title": "title",
    "Description": "description",
    "Due at": "due",
    "Responsible": "responsible",
    "Category": "category",
    "Contact id": "contact_id",
    "Opportunity id": "opportunity_id",
    "Case id": "case_id",
    "Alert minutes": "alert",
    "Closed": "closed",
    "Closed at": "closed_at",
}
#: Columns of a tasks export the import does not read (names repeat the ids).
TASK_EXPORT_IGNORED = frozenset({"Contact", "Related entity"}) | _STAMP_COLUMNS


def export_mapping(columns: Sequence[str], kind: str = "contacts") -> dict[str, Any]:
    """The mapping that reads an export of opencrm back: every column by its header
    (for contacts ``First name``, ``Email (work)``, ``Address (home): city``, ``Custom:
    Segment``...; for opportunities ``Id``, ``Title``, ``Client id``, ``Amount``...; for
    cases and tasks likewise), the ones in :data:`EXPORT_IGNORED`
    (:data:`OPPORTUNITY_EXPORT_IGNORED`, :data:`CASE_EXPORT_IGNORED`,
    :data:`TASK_EXPORT_IGNORED`) left out. A column no export writes is a ValidationError:
    the file is not our export."""
    if kind == "opportunities":
        return _record_export_mapping(
            columns, kind, _OPPORTUNITY_EXPORT_FIELDS, OPPORTUNITY_EXPORT_IGNORED
        )
    if kind == "cases":
        return _record_export_mapping(columns, kind, _CASE_EXPORT_FIELDS, CASE_EXPORT_IGNORED)
    if kind == "tasks":
        return _record_export_mapping(
            columns, kind, _TASK_EXPORT_FIELDS, TASK_EXPORT_IGNORED, custom=False
        )
    if kind != "contacts":
        raise ValidationError({"mapping": f"'export' does not read {kind}"})
    return _record_export_mapping(
        columns, kind, _EXPORT_FIELDS, EXPORT_IGNORED, headers=_contact_header
    )


def _contact_header(mapping: dict[str, Any], column: str) -> bool:
    """Map an info's or an address part's column of a contacts export; False when
    ``column`` is not one."""
    if found := _ADDRESS_HEADER.match(column):
        category, part = found.groups()
        if category in InfoType.ADDRESS.categories and part in _ADDRESS_PARTS:
            mapping.setdefault(f"address:{category}", {})[part] = column
            return True
    elif found := _INFO_HEADER.match(column):
        name, category = found.group(1).lower(), found.group(2)
        known = name in InfoType.__members__.values() and name != "address"
        if known and category in InfoType(name).categories:
            mapping[f"{name}:{category}"] = column
            return True
    return False


def _record_export_mapping(
    columns: Sequence[str],
    kind: str,
    fields: Mapping[str, str],
    ignored: frozenset[str],
    *,
    custom: bool = True,
    headers: Callable[[dict[str, Any], str], bool] | None = None,
) -> dict[str, Any]:
    """The mapping of an export of ``kind``: ``fields`` by header, ``ignored`` left out,
    the kind's other ``headers`` (a contact's infos and addresses), then custom fields."""
    mapping: dict[str, Any] = {}
    unknown = []
    for column in columns:
        if column in ignored:
            continue
        if column in fields:
            mapping[fields[column]] = column
        elif headers is not None and headers(mapping, column):
            continue
        elif custom and (found := _CUSTOM_HEADER.match(column)):
            label, field_id = found.groups()
            mapping[f"custom:{field_id or label}"] = column
        else:
            unknown.append(column)
    if unknown:
        raise _not_our_export(kind, unknown)
    return mapping


def _not_our_export(kind: str, unknown: Sequence[str]) -> ValidationError:
    """The error for columns of a file read as an export of ``kind`` that no export has."""
    return ValidationError(
        {
            "mapping": f"the file is not an opencrm export of {kind}: no export has "
            + ", ".join(map(repr, unknown[:5]))
        }
    )


def restore(text: str) -> str:
    """A CSV export's cell as it was before the export neutralised it: one leading ``'``
    dropped when the quotes at the start are followed by a dangerous character."""
    if text[:1] == "'" and text.lstrip("'")[:1] in _DANGEROUS and text.lstrip("'"):
        return text[1:]
    return text


class _Restored:
    """Rows of a CSV export with its neutralised cells restored."""

    def __init__(self, rows: Iterable[SourceRow]) -> None:
        self._rows = rows
        self.columns = getattr(rows, "columns", None)

    def __iter__(self) -> Iterator[SourceRow]:
        for row in self._rows:
            values = {
                k: restore(v) if isinstance(v, str) and v[:1] == "'" else v
                for k, v in row.values.items()
            }
            yield SourceRow(row.number, values, row.problems)


def _check_json(name: str, value: Any) -> None:
    """A job parameter must be JSON of valid Unicode text (no lone surrogates, no NaN)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        raise ValidationError({name: "must be JSON of valid Unicode text"}) from None


def _chunks_of(file: bytes | IO[bytes]) -> Iterator[bytes]:
    if isinstance(file, (bytes, bytearray, memoryview)):
        yield bytes(file)
        return
    read = getattr(file, "read", None)
    if read is None:
        raise ValidationError({"file": "must be bytes or a binary stream"})
    while chunk := read(_READ_CHUNK):
        if not isinstance(chunk, bytes):
            raise ValidationError({"file": "must be a binary stream (opened with 'rb')"})
        yield chunk


def _batches(rows: Iterator[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    for row in rows:
        if not isinstance(row, SourceRow):
            # Checked before the batch is written: what earlier batches committed stays.
            raise ValidationError({"rows": f"holds a {type(row).__name__}, not a SourceRow"})
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@attrs.define
class _Tally:
    """The running counts of an import, turned into an :class:`ImportReport` at the end."""

    kind: str
    dry_run: bool
    max_issues: int
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    companies_created: int = 0
    issues: list[RowIssue] = attrs.field(factory=list)
    issues_left_off: int = 0
    created_ids: IdRanges = attrs.field(factory=IdRanges)
    updated_ids: IdRanges = attrs.field(factory=IdRanges)
    cancelled: bool = False
    stopped_at: int | None = None
    committed: bool = False
    last_row: int = 0

    def reject(self, source: SourceRow, problems: Sequence[tuple[str | None, str]]) -> None:
        """Count ``source`` as rejected, with an issue for each (column, reason)."""
        self.rejected += 1
        for column, reason in problems:
            self.issue(source.number, column, reason, "rejected")

    def issue(self, row: int, column: str | None, reason: str, outcome: str) -> None:
        if len(self.issues) < self.max_issues:
            self.issues.append(RowIssue(row, column, reason, outcome))
        else:
            self.issues_left_off += 1

    def report(self) -> ImportReport:
        # A dry run's ids would be those of rolled-back rows: it reports none.
        keep_ids = self.committed and not self.dry_run
        return ImportReport(
            kind=self.kind,
            dry_run=self.dry_run,
            rows=self.rows,
            created=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            skipped=self.skipped,
            rejected=self.rejected,
            companies_created=self.companies_created,
            issues=tuple(self.issues),
            issues_left_off=self.issues_left_off,
            created_ids=self.created_ids.ranges() if keep_ids else (),
            updated_ids=self.updated_ids.ranges() if keep_ids else (),
            cancelled=self.cancelled,
            stopped_at=self.stopped_at,
            committed=self.committed,
        )


# --- the mapping ------------------------------------------------------------------------


@attrs.frozen
class _Info:
    type: InfoType
    category: str
    columns: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()  # address part -> column


@attrs.frozen
class _Mapping:
    """A validated column mapping: which columns feed which field."""

    scalars: Mapping[str, tuple[str, ...]]
    infos: tuple[_Info, ...]
    tags: tuple[str, ...]
    custom: Mapping[str, tuple[str, ...]]  # field label or id as given -> columns
    record_id: tuple[str, ...] = ()  # the ``id`` columns: the contact an update means

    @classmethod
    def parse(cls, raw: Mapping[str, Any], columns: Sequence[str] | None) -> _Mapping:
        if not isinstance(raw, Mapping) or not raw:
            raise ValidationError({"mapping": "must map fields to columns"})
        known = set(columns) if columns is not None else None
        errors: dict[str, str] = {}

        def cols(field: str, value: object) -> tuple[str, ...]:
            return _mapped_columns(field, value, known, errors) or ()

        scalars: dict[str, tuple[str, ...]] = {}
        infos: list[_Info] = []
        tags: tuple[str, ...] = ()
        custom: dict[str, tuple[str, ...]] = {}
        record_id: tuple[str, ...] = ()
        for field, value in raw.items():
            if not isinstance(field, str):
                errors["mapping"] = "field names are strings"
                continue
            name, _, qualifier = field.partition(":")
            if field == "id":
                record_id = cols(field, value)
            elif name in _SCALARS or name in _LISTS or name == "currency":
                scalars[name] = cols(field, value)
            elif name == "tags":
                tags = cols(field, value)
            elif name == "custom" and qualifier:
                custom[qualifier] = cols(field, value)
            elif name in InfoType.__members__.values():
                info_type = InfoType(name)
                category = qualifier or info_type.categories[0]
                if category not in info_type.categories:
                    errors[f"mapping.{field}"] = "category must be one of " + ", ".join(
                        info_type.categories
                    )
                    continue
                if info_type is InfoType.ADDRESS:
                    if (
                        not isinstance(value, Mapping)
                        or not value
                        or set(value) - set(_ADDRESS_PARTS)
                    ):
                        errors[f"mapping.{field}"] = (
                            "must map address parts (" + ", ".join(_ADDRESS_PARTS) + ") to columns"
                        )
                        continue
                    parts = tuple((p, c) for p, v in value.items() for c in cols(f"{field}.{p}", v))
                    infos.append(_Info(info_type, category, parts=parts))
                else:
                    infos.append(_Info(info_type, category, columns=cols(field, value)))
            else:
                errors[f"mapping.{field}"] = "is not a field of a contact"
        if errors:
            raise ValidationError(errors)
        if not ({"first_name", "last_name", "company"} & set(scalars)):
            raise ValidationError(
                {"mapping": "map at least one of first_name, last_name or company"}
            )
        return cls(scalars, tuple(infos), tags, custom, record_id)


def _mapped_columns(
    field: str, value: object, known: set[str] | None, errors: dict[str, str]
) -> tuple[str, ...] | None:
    """The columns a mapping gives ``field``: a column name or a list of them, each one of
    the ``known`` columns (when the file's are known); None, with the reason in
    ``errors``, when they are not."""
    found = (value,) if isinstance(value, str) else value
    if (
        not isinstance(found, (list, tuple))
        or not found
        or not all(isinstance(c, str) and c for c in found)
    ):
        errors[f"mapping.{field}"] = "must be a column name or a list of them"
        return None
    if known is not None:
        missing = [c for c in found if c not in known]
        if missing:
            errors[f"mapping.{field}"] = "no column " + ", ".join(map(repr, missing))
            return None
    return tuple(found)


def _text(value: object) -> str:
    """A cell as text: numbers without a spurious ``.0``, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.date, dt.datetime, int, Decimal)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return str(value)


# --- contacts ---------------------------------------------------------------------------


@attrs.define
class _Row:
    """A validated row of a contact import."""

    source: SourceRow
    kind: str  # "person" or "company"
    fields: dict[str, Any]  # entity attribute -> value (only what the row gives)
    company: str  # the person's company name ("" for none)
    infos: list[ContactInfo]
    tags: frozenset[str]
    custom: dict[int, str]
    record_id: int | None = None  # the ``id`` cell: the contact an update means
    id_column: str | None = None
    keys: list[tuple[str, str]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Asked several times per row by the batch: worked out once.
        found = [
            (_MATCHED[i.type], i.normalized)
            for i in self.infos
            if i.type in _MATCHED and i.normalized
        ]
        if self.kind == "company":
            found.append(("company", self.fields["name"].casefold()))
        self.keys = found

    def match_keys(self) -> list[tuple[str, str]]:
        return self.keys


# The info types duplicates are matched by, and their key names.
_MATCHED = {InfoType.EMAIL: InfoType.EMAIL.value, InfoType.PHONE: InfoType.PHONE.value}

#: A plan's clean row (:class:`_Row`, :class:`_DealRow`, :class:`_TaskRow`).
_R = TypeVar("_R")


class _Plan(Generic[_R]):
    """What the plans of every kind share: a batch is read row by row, then the rows that
    were not rejected are written together."""

    _s: Service
    users: dict[str, bool]  # user id -> whether it names a user (asked once each)

    def apply(self, tx: Tx, batch: Sequence[SourceRow], tally: _Tally) -> None:
        self._start_batch(tx)
        good: list[_R] = []
        for source in batch:
            tally.rows += 1
            tally.last_row = source.number
            row = self._read(tx, source, tally)
            if row is not None:
                good.append(row)
        if good:
            self._write(tx, good, tally)

    def _start_batch(self, tx: Tx) -> None:
        """What a batch needs before its rows are read (the defaults' tags, say)."""

    def _read(self, tx: Tx, source: SourceRow, tally: _Tally) -> _R | None:
        """Clean one row; report its problems and return None when it is rejected."""
        raise NotImplementedError

    def _write(self, tx: Tx, rows: list[_R], tally: _Tally) -> None:
        raise NotImplementedError

    def _user(self, value: str, field: str) -> str:
        if value not in self.users:
            try:
                self._s._managers([value], field)
                self.users[value] = True
            except ValidationError:
                self.users[value] = False
        if not self.users[value]:
            raise ValidationError({field: f"no user {value!r}"})
        return value


def _check_defaults(defaults: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """``defaults`` is a mapping of defaults that an import of the kind takes."""
    if not isinstance(defaults, Mapping):
        raise ValidationError({"defaults": "must be a mapping"})
    unknown = set(defaults) - allowed
    if unknown:
        raise ValidationError(
            {f"defaults.{k}": "is not a default an import takes" for k in sorted(unknown)}
        )


def _default_tags(defaults: Mapping[str, Any]) -> frozenset[str]:
    raw_tags = defaults.get("tags", ())
    if isinstance(raw_tags, str) or not isinstance(raw_tags, Iterable):
        raise ValidationError({"defaults.tags": "must be a list of tag titles"})
    return frozenset(clean_tag_title(t, "defaults.tags") for t in raw_tags)


def _tag_title(tx: Tx, entity: str, known: dict[str, str], title: str) -> str:
    """The stored title of the tag ``title`` of ``entity`` records, which is added when
    there is none; ``known`` remembers the answers of this import."""
    key = " ".join(title.split()).casefold()
    if key not in known:
        tag = tx.uow.tags.find(entity, title)
        if tag is None:
            tag = tx.uow.tags.add(entity, title)
            tx.emit("tag.created", tag, after=tag)
        known[key] = tag.title
    return known[key]


def _add_list_item(tx: Tx, kind: ListKind, title: str, color: str | None = None) -> ListItem:
    """A new item of an admin list, after the ones it has."""
    existing = tx.uow.lists.list(kind)
    item = tx.uow.lists.add(
        ListItem(
            id=0,
            kind=kind,
            title=title,
            color=color,
            sort_order=max((i.sort_order for i in existing), default=0) + 1,
        )
    )
    tx.emit("list_item.created", item, after=item)
    return item


def _lines(values: Mapping[str, Any], columns: Iterable[str]) -> str:
    """The non-empty cells of ``columns`` as text, one per line."""
    return "\n".join(t for c in columns if (t := _text(values.get(c))))


def _tag_pieces(
    values: Mapping[str, Any], columns: Iterable[str], separator: str
) -> Iterator[tuple[str, str]]:
    """(column, tag title as written) of each tag the cells of ``columns`` hold."""
    for c in columns:
        for piece in _text(values.get(c)).split(separator):
            piece = piece.strip()
            if piece:
                yield c, piece


def _custom_cell(value: Any) -> Any:
    """A custom field's cell as its field type's cleaner takes it: text stripped, numbers
    as text, a spreadsheet's midnight datetime as a date."""
    if isinstance(value, str):
        value = value.strip()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        value = _text(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    return value


class _ContactPlan(_Plan[_Row]):
    def __init__(
        self,
        service: Service,
        mapping: _Mapping,
        on_duplicate: OnDuplicate,
        *,
        create_missing: bool,
        tag_separator: str,
    ) -> None:
        self._s = service
        self.mapping = mapping
        self.on_duplicate = on_duplicate
        self.create_missing = create_missing
        self.separator = tag_separator
        self.region = service._ctx.phone_region
        self.items: dict[tuple[ListKind, str], int | None] = {}
        self.tag_titles: dict[str, str] = {}
        self.fields: dict[str, dict[str, CustomField]] = {}
        self.custom: dict[str, CustomField] = {}
        self.managers: frozenset[str] = frozenset()
        self.access = Access.PRIVATE
        self.default_tags: frozenset[str] = frozenset()
        self.default_items: dict[str, str] = {}

    # preparation: everything that does not depend on a row, checked once

    def prepare(self, tx: Tx, defaults: Mapping[str, Any]) -> None:
        _check_defaults(defaults, _DEFAULT_KEYS)
        self.managers = self._s._managers(
            defaults.get("managers", [tx.actor.id]), "defaults.managers"
        )
        try:
            self.access = Access(str(defaults.get("access", Access.PRIVATE)))
        except ValueError:
            raise ValidationError(
                {"defaults.access": "must be one of " + ", ".join(a.value for a in Access)}
            ) from None
        self.default_tags = _default_tags(defaults)
        for name in _LISTS:
            if name in defaults:
                self.default_items[name] = cd.clean_name(
                    f"defaults.{name}", defaults[name], required=True
                )
        fields = [
            f for f in tx.uow.fields.list() if f.applies_to("person") or f.applies_to("company")
        ]
        errors = {}
        for key in self.mapping.custom:
            found = [
                f
                for f in fields
                if f.label.casefold() == key.casefold() or (key.isdigit() and f.id == int(key))
            ]
            if not found:
                errors[f"mapping.custom:{key}"] = f"no custom field {key!r} of persons or companies"
                continue
            self.fields[key] = {
                k: f for f in found for k in ("person", "company") if f.applies_to(k)
            }
        if errors:
            raise ValidationError(errors)

    # one batch

    def _start_batch(self, tx: Tx) -> None:
        for title in self.default_tags:
            self._tag(tx, title)

    def _write(self, tx: Tx, rows: list[_Row], tally: _Tally) -> None:
        _Batch(self, tx, tally).write(rows)

    def _read(self, tx: Tx, source: SourceRow, tally: _Tally) -> _Row | None:
        problems: list[tuple[str | None, str]] = list(source.problems.items())
        m = self.mapping
        values = source.values

        def joined(columns: tuple[str, ...]) -> tuple[str, str | None]:
            if len(columns) == 1:  # the usual mapping: one column, nothing to join
                return _text(values.get(columns[0])), columns[0]
            texts = [(c, _text(values.get(c))) for c in columns]
            given = [(c, t) for c, t in texts if t]
            return " ".join(t for _, t in given), (given[0][0] if given else columns[0])

        def check(
            columns: tuple[str, ...] | str | None, fn: Callable[..., Any], *args: Any, **kw: Any
        ) -> Any:
            try:
                return fn(*args, **kw)
            except ValidationError as exc:
                column = columns if isinstance(columns, str) or columns is None else columns[0]
                for reason in exc.errors.values():
                    problems.append((column, reason))
                return None

        if problems:
            tally.reject(source, problems)
            return None
        texts = {name: joined(cols) for name, cols in m.scalars.items()}
        first, first_col = texts.get("first_name", ("", None))
        last, last_col = texts.get("last_name", ("", None))
        company, company_col = texts.get("company", ("", None))
        if not (first or last or company):
            tally.reject(source, [(None, "has no first name, last name or company")])
            return None
        kind = "person" if first or last else "company"
        if kind == "person" and not first:
            first, first_col, last, last_col = last, last_col, "", None
        # The record id, read whatever ``on_duplicate`` says (a cell that is not one rejects
        # the row, as for opportunities, cases and tasks); only an update matches by it.
        record_id: int | None = None
        id_column: str | None = None
        for column in m.record_id:
            cell = values.get(column)
            if cell is not None and _text(cell):
                id_column = column
                record_id = check(column, _cell_id, cell, "id")
                break
        fields: dict[str, Any] = {}
        if kind == "person":
            fields["first_name"] = check(
                first_col, lambda: cd.clean_name("first_name", first, required=True)
            )
            if last:
                fields["last_name"] = check(
                    last_col, lambda: cd.clean_name("last_name", last, required=False)
                )
            for name in ("job_title",):
                text, col = texts.get(name, ("", None))
                if text:
                    fields[name] = check(col, cd.clean_name, name, text, required=False)
            company = (
                check(company_col, lambda: cd.clean_name("company", company, required=False)) or ""
            )
        else:
            fields["name"] = check(
                company_col, lambda: cd.clean_name("name", company, required=True)
            )
            company = ""
            text, col = texts.get("industry", ("", None))
            if text:
                fields["industry"] = check(
                    col, lambda: cd.clean_name("industry", text, required=False)
                )
        if "about" in m.scalars:
            about = _lines(values, m.scalars["about"])
            if about:
                fields["about"] = check(m.scalars["about"], lambda: cd.clean_text("about", about))
        text, col = texts.get("currency", ("", None))
        if text:
            fields["currency"] = check(col, lambda: clean_currency(text.upper()))
        for name, kind_ in (
            ("contact_type", ListKind.CONTACT_TYPE),
            ("temperature", ListKind.TEMPERATURE),
        ):
            text, col = texts.get(name, ("", None))
            if text:
                fields[f"{name}_id"] = check(col, self._item, tx, kind_, name, text)
        infos: list[ContactInfo] = []
        for spec in m.infos:
            if spec.type is InfoType.ADDRESS:
                # Several addresses of one category: one per line in each part's cell.
                lines = {c: _cell_lines(values.get(c)) for _, c in spec.parts}
                for n in range(max((len(v) for v in lines.values()), default=0)):
                    data: dict[str, str] = {}
                    for part, c in spec.parts:
                        t = lines[c][n].strip() if n < len(lines[c]) else ""
                        if t:
                            data[part] = f"{data[part]} {t}" if part in data else t
                    if data:
                        first_part = next(c for p, c in spec.parts if p in data)
                        found = check(
                            first_part,
                            cd.clean_info_value,
                            spec.type,
                            data,
                            region=self.region,
                        )
                        if found is not None:
                            infos.append(_info(spec, *found, before=infos))
                continue
            for c in spec.columns:
                raw = _text(values.get(c))
                # Several values in one cell: one per line (as exports write them); e-mails
                # also separated by commas.
                pieces = raw.split("\n")
                if spec.type is InfoType.EMAIL:
                    pieces = [p for line in pieces for p in line.split(",")]
                for piece in (p.strip() for p in pieces):
                    if piece:
                        found = check(c, cd.clean_info_value, spec.type, piece, region=self.region)
                        if found is not None:
                            infos.append(_info(spec, *found, before=infos))
        tags: set[str] = set(self.default_tags)
        for c, piece in _tag_pieces(values, m.tags, self.separator):
            title = check(c, clean_tag_title, piece)
            if title is not None:
                tags.add(self._tag(tx, title))
        custom: dict[int, str] = {}
        for key, cols in m.custom.items():
            field = self.fields[key].get(kind)
            if field is None:
                continue
            raw_value: Any = values.get(cols[0]) if len(cols) == 1 else joined(cols)[0]
            if raw_value is None or raw_value == "":
                continue
            raw_value = _custom_cell(raw_value)
            kind_type = self._s._ctx.field_types.get(field.type)
            stored = check(cols, kind_type.clean, raw_value, field.options)
            if stored is not None:
                custom[field.id] = stored
        if problems:
            tally.reject(source, problems)
            return None
        return _Row(
            source,
            kind,
            fields,
            company,
            _primaries(infos),
            frozenset(tags),
            custom,
            record_id,
            id_column,
        )

    def _item(self, tx: Tx, kind: ListKind, field: str, title: str) -> int:
        title = cd.clean_name(field, title, required=True)
        key = (kind, " ".join(title.split()).casefold())
        if key not in self.items:
            found: ListItem | None = tx.uow.lists.find(kind, title)
            if found is None and self.create_missing:
                color = NEW_TEMPERATURE_COLOR if kind is ListKind.TEMPERATURE else None
                found = _add_list_item(tx, kind, title, color)
            self.items[key] = None if found is None else found.id
        item_id = self.items[key]
        if item_id is None:
            raise ValidationError({field: f"no {kind.value.replace('_', ' ')} {title!r}"})
        return item_id

    def _tag(self, tx: Tx, title: str) -> str:
        return _tag_title(tx, "contact", self.tag_titles, title)

    def default_item_ids(self, tx: Tx) -> dict[str, int]:
        out = {}
        for name, title in self.default_items.items():
            kind = ListKind.CONTACT_TYPE if name == "contact_type" else ListKind.TEMPERATURE
            out[f"{name}_id"] = self._item(tx, kind, f"defaults.{name}", title)
        return out


def _cell_lines(value: object) -> list[str]:
    """A cell's lines, unstripped: the n-th line of each part is the n-th address."""
    text = value if isinstance(value, str) else _text(value)
    return text.split("\n") if text.strip() else []


def _info(
    spec: _Info,
    value: str,
    normalized: str | None,
    address: Address | None,
    *,
    before: Sequence[ContactInfo],
) -> ContactInfo:
    """The info, primary when none of its type comes ``before`` it in the row."""
    return ContactInfo(
        id=0,
        type=spec.type,
        category=spec.category,
        value=value,
        normalized=normalized,
        is_primary=all(i.type is not spec.type for i in before),
        address=address,
    )


def _primaries(infos: Sequence[ContactInfo]) -> list[ContactInfo]:
    """The first info of each type is primary (as the reference's import does)."""
    seen: set[InfoType] = set()
    out = []
    for info in infos:
        primary = info.type not in seen
        seen.add(info.type)
        if info.is_primary is not primary:
            info = attrs.evolve(info, is_primary=primary)
        out.append(info)
    return out


def _same_info(a: ContactInfo, b: ContactInfo) -> bool:
    if a.type is not b.type:
        return False
    if a.type is InfoType.ADDRESS:
        return a.address == b.address
    return (a.normalized or a.value) == (b.normalized or b.value)


class _Batch:
    """Matches one batch of clean rows against stored and earlier records, then writes it."""

    def __init__(self, plan: _ContactPlan, tx: Tx, tally: _Tally) -> None:
        self.plan = plan
        self.tx = tx
        self.tally = tally
        # Records this batch creates: entity (id 0) and, for persons, their company's key.
        self.new: list[Contact] = []
        self.new_company_of: dict[int, str] = {}
        self.new_keys: dict[tuple[str, str], int] = {}  # key -> index in self.new
        self.changed: dict[int, tuple[Contact, Contact]] = {}  # id -> (stored, merged)
        self.update_company_of: dict[int, str] = {}  # stored id -> key of a new company
        self.company_names: dict[str, str] = {}  # key -> a company name as written

    def write(self, rows: list[_Row]) -> None:
        tx, plan = self.tx, self.plan
        update = plan.on_duplicate is OnDuplicate.UPDATE
        # An update matches a row with an id by that id alone: its keys are not looked up.
        keyed = [r for r in rows if not (update and r.record_id is not None)]
        emails = {n for r in keyed for t, n in r.match_keys() if t == "email"}
        phones = {n for r in keyed for t, n in r.match_keys() if t == "phone"}
        named = {n for r in keyed for t, n in r.match_keys() if t == "company"}
        names = named | {r.company.casefold() for r in rows if r.company}
        stored_keys: dict[tuple[str, str], int] = {}
        for info_type, normalized, cid in tx.uow.imports.contacts_by_infos(emails, phones):
            stored_keys.setdefault((info_type, normalized), cid)
        # A company row matches a company by name; a person links to the first one it may
        # read (the access check needs no loaded record).
        self.companies: dict[str, int] = {}
        for key, cid, access, managed in tx.uow.imports.companies_by_name(names, tx.actor.id):
            if key in named:
                stored_keys.setdefault(("company", key), cid)
            if policy.can_read_contact_with(tx.actor, Access(access), managed):
                self.companies.setdefault(key, cid)
        # Only an update looks at the stored records themselves: the ones the keys found
        # and the ones the file's ids name, in one query.
        wanted: set[int] = set()
        if update:
            wanted = set(stored_keys.values())
            wanted |= {r.record_id for r in rows if r.record_id is not None}
        self.stored = {c.id: c for c in tx.uow.contacts.get_many(sorted(wanted))}
        self.stored_keys = stored_keys
        self.item_defaults = plan.default_item_ids(tx)
        for row in rows:
            self._one(row)
        self._flush()

    def _match(self, row: _Row) -> tuple[str, int] | None:
        for key in row.match_keys():
            if key in self.stored_keys:
                return "stored", self.stored_keys[key]
        for key in row.match_keys():
            if key in self.new_keys:
                return "new", self.new_keys[key]
        return None

    def _by_id(self, row: _Row, ref: int) -> tuple[str, int] | None:
        """The stored contact ``ref`` an update row names by its id; None, with the row
        rejected on its id column, when the importer may not read it or it is of another
        kind."""
        before = self.changed[ref][1] if ref in self.changed else self.stored.get(ref)
        problem = None
        if before is None or not policy.can_read_contact(self.tx.actor, before):
            # One the importer may not read is not theirs to know of.
            problem = f"no contact #{ref}"
        elif before.kind != row.kind:
            problem = f"contact #{ref} is a {before.kind}, not a {row.kind}"
        if problem is not None:
            self.tally.reject(row.source, [(row.id_column, problem)])
            return None
        return "stored", ref

    def _one(self, row: _Row) -> None:
        tally, plan, tx = self.tally, self.plan, self.tx
        number = row.source.number
        if plan.on_duplicate is OnDuplicate.UPDATE and row.record_id is not None:
            found = self._by_id(row, row.record_id)
            if found is None:
                return
        else:
            found = None if plan.on_duplicate is OnDuplicate.CREATE else self._match(row)
        if found is None:
            self._create(row)
            tally.created += 1
            return
        if plan.on_duplicate is OnDuplicate.SKIP:
            tally.skipped += 1
            return
        where, ref = found
        if where == "new":
            before = self.new[ref]
        else:
            before = self.changed[ref][1] if ref in self.changed else self.stored[ref]
            if not policy.can_edit_contact(tx.actor, before):
                tally.skipped += 1
                shown = (
                    f"contact #{ref}" if policy.can_read_contact(tx.actor, before) else "a contact"
                )
                tally.issue(number, None, f"matches {shown}, which you may not edit", "skipped")
                return
        if before.kind != row.kind:
            tally.skipped += 1
            what = f"{before.kind} #{ref}" if where == "stored" else f"a {before.kind} of this file"
            tally.issue(number, None, f"matches {what}, not a {row.kind}", "skipped")
            return
        after = self._merge(before, row)
        company = self._company_key(row)
        pending = company if company and company not in self.companies else ""
        if after == before and not pending:
            tally.unchanged += 1
            return
        if pending:
            (self.new_company_of if where == "new" else self.update_company_of)[ref] = pending
        if where == "new":
            self.new[ref] = after
        else:
            original = self.changed[ref][0] if ref in self.changed else before
            self.changed[ref] = (original, after)
        self._remember(after, ref if where == "new" else None)
        tally.updated += 1

    def _company_key(self, row: _Row) -> str:
        if not row.company:
            return ""
        key = row.company.casefold()
        self.company_names.setdefault(key, row.company)
        return key

    def _merge(self, before: Contact, row: _Row) -> Contact:
        changes: dict[str, Any] = dict(row.fields)
        company = self._company_key(row)
        if company and company in self.companies:
            changes["company_id"] = self.companies[company]
        infos = list(before.infos)
        for info in row.infos:
            if not any(_same_info(info, old) for old in infos):
                has_primary = any(i.type is info.type and i.is_primary for i in infos)
                infos.append(attrs.evolve(info, is_primary=not has_primary))
        changes["infos"] = tuple(infos)
        changes["tags"] = before.tags | row.tags
        changes["custom"] = {**before.custom, **row.custom}
        after = attrs.evolve(before, **changes)
        if after == before:
            return before
        return attrs.evolve(after, updated_by=self.tx.actor.id, updated_at=self.tx.now)

    def _create(self, row: _Row) -> None:
        tx, plan = self.tx, self.plan
        common: dict[str, Any] = {
            "id": 0,
            "access": plan.access,
            "managers": plan.managers,
            "tags": row.tags,
            "infos": tuple(row.infos),
            "custom": row.custom,
            "created_by": tx.actor.id,
            "created_at": tx.now,
            "updated_by": tx.actor.id,
            "updated_at": tx.now,
            **self.item_defaults,
        }
        common.update(row.fields)
        company = self._company_key(row)
        if company and company in self.companies:  # linked now; _flush links the others
            common["company_id"] = self.companies[company]
        contact: Contact = Person(**common) if row.kind == "person" else Company(**common)
        self.new.append(contact)
        index = len(self.new) - 1
        if company:
            self.new_company_of[index] = company
        self._remember(contact, index)

    def _remember(self, contact: Contact, index: int | None) -> None:
        if index is None:
            return
        for info in contact.infos:
            if info.type in (InfoType.EMAIL, InfoType.PHONE) and info.normalized:
                self.new_keys.setdefault((info.type.value, info.normalized), index)
        if isinstance(contact, Company):
            self.new_keys.setdefault(("company", contact.name.casefold()), index)

    def _flush(self) -> None:
        """Write the batch: companies first (persons point at them), then persons, then the
        updates of stored contacts."""
        tx, tally = self.tx, self.tally
        store = tx.uow.imports
        # Companies persons name that exist nowhere yet are made, as the reference does.
        company_index = {
            c.name.casefold(): i for i, c in enumerate(self.new) if isinstance(c, Company)
        }
        extra: list[Company] = []
        wanted = set(self.new_company_of.values()) | set(self.update_company_of.values())
        for key in sorted(wanted):
            if key not in self.companies and key not in company_index:
                extra.append(self._implicit_company(key))
        companies: list[Company] = [c for c in self.new if isinstance(c, Company)] + extra
        ids = store.add_contacts(companies)
        by_key = {c.name.casefold(): cid for c, cid in zip(companies, ids, strict=True)}
        tally.companies_created += len(extra)
        for cid in ids:
            tally.created_ids.add(cid)
        persons: list[Contact] = []
        for i, contact in enumerate(self.new):
            if not isinstance(contact, Person):
                continue
            link = self.new_company_of.get(i)
            if link:
                company_id = self.companies.get(link, by_key.get(link))
                if contact.company_id != company_id:
                    contact = attrs.evolve(contact, company_id=company_id)
            persons.append(contact)
        for cid in store.add_contacts(persons):
            tally.created_ids.add(cid)
        updates = []
        for cid, (before, after) in self.changed.items():
            link = self.update_company_of.get(cid)
            if link and isinstance(after, Person):
                after = attrs.evolve(after, company_id=by_key[link])
            updates.append((before, after))
        store.update_contacts(updates)
        for _, after in updates:
            tally.updated_ids.add(after.id)

    def _implicit_company(self, key: str) -> Company:
        tx, plan = self.tx, self.plan
        name = self.company_names[key]
        return Company(
            id=0,
            name=name,
            access=plan.access,
            managers=plan.managers,
            tags=plan.default_tags,
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
        )


# --- opportunities ----------------------------------------------------------------------

#: Fields an opportunity import maps (``custom:<label or id>`` besides).
_OPPORTUNITY_FIELDS = frozenset(
    {
        "title",
        "description",
        "stage",
        "budget",
        "currency",
        "bid_type",
        "period_count",
        "probability",
        "expected_close",
        "actual_close",
        "responsible",
        "contact",
        "contact_id",
        "members",
        "member_ids",
        "tags",
        "id",
    }
)
_OPPORTUNITY_DEFAULTS = frozenset({"responsible", "restricted", "access_list", "tags"})
#: Colour of a stage an import creates (as for temperatures: the reference's choice).
NEW_STAGE_COLOR = NEW_TEMPERATURE_COLOR


def _parse_record_mapping(
    raw: Mapping[str, Any], columns: Sequence[str] | None, known_fields: frozenset[str], what: str
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(field -> columns, custom key -> columns) of a mapping of opportunities or cases."""
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationError({"mapping": "must map fields to columns"})
    known = set(columns) if columns is not None else None
    errors: dict[str, str] = {}
    fields: dict[str, tuple[str, ...]] = {}
    custom: dict[str, tuple[str, ...]] = {}
    for field, value in raw.items():
        if not isinstance(field, str):
            errors["mapping"] = "field names are strings"
            continue
        found = _mapped_columns(field, value, known, errors)
        if found is None:
            continue
        name, _, qualifier = field.partition(":")
        if name == "custom" and qualifier:
            custom[qualifier] = found
        elif field in known_fields:
            fields[field] = found
        else:
            errors[f"mapping.{field}"] = f"is not a field of {what}"
    if errors:
        raise ValidationError(errors)
    if "title" not in fields:
        raise ValidationError({"mapping.title": "is required"})
    return fields, custom


def _cell_date(value: object, field: str) -> dt.date:
    """A date cell: a date (or a spreadsheet's midnight datetime), or ISO text."""
    if isinstance(value, dt.datetime):
        if value.time() != dt.time():
            raise ValidationError({field: "must be a date without a time"})
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError({field: f"{value!r} is not a date (YYYY-MM-DD)"}) from None
    return _inputs.clean_date(value, field)


def _cell_int(value: object, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = _text(value)
    if not re.fullmatch(r"[+-]?\d{1,10}", text):
        raise ValidationError({field: f"{text!r} is not a whole number"})
    return int(text)


def _cell_bool(value: object, field: str) -> bool:
    """A yes/no cell: a spreadsheet's boolean, or ``true``/``false``, ``yes``/``no``, 1/0."""
    if isinstance(value, bool):
        return value
    text = _text(value).casefold()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValidationError({field: f"{_text(value)!r} is not true or false"})


def _cell_id(value: object, field: str) -> int:
    """A record id cell: a whole number from 1."""
    number = _cell_int(value, field)
    if number < 1:
        raise ValidationError({field: f"{number} is not a record id"})
    return number


def _pieces(value: object) -> list[str]:
    """The values of a cell holding several: separated by line breaks or commas."""
    return [p.strip() for line in _text(value).split("\n") for p in line.split(",") if p.strip()]


@attrs.define
class _DealRow:
    source: SourceRow
    fields: dict[str, Any]
    stage: str | None  # the stage's title, None for the default
    contact_email: str | None
    member_emails: list[str]
    contact_ids: list[tuple[str, int]]  # ("contact_id" or "member_ids", contact id)
    tags: frozenset[str]
    custom: dict[int, str]
    record_id: int | None = None  # the ``id`` cell: the record an update means
    id_column: str | None = None
    money: tuple[str, str] | None = None  # the amount and currency cells as given
    tags_given: bool = False  # a tag cell was not empty (an update replaces the tags)
    closed: bool | None = None  # a case's ``closed`` cell

    def members_given(self) -> bool:
        """Whether a participants cell was not empty (an update replaces them)."""
        return bool(self.member_emails) or any(n == "member_ids" for n, _ in self.contact_ids)


class _Cells:
    """A row's cells by the field they are mapped to, and the problems found reading them
    (the reader's own, to begin with)."""

    def __init__(self, fields: Mapping[str, tuple[str, ...]], source: SourceRow) -> None:
        self.fields = fields
        self.values = source.values
        self.problems: list[tuple[str | None, str]] = list(source.problems.items())

    def text(self, name: str) -> tuple[str, str | None]:
        """The field's non-empty cells as text, joined by spaces, and the first one's
        column."""
        given = [(c, t) for c in self.fields.get(name, ()) if (t := _text(self.values.get(c)))]
        return " ".join(t for _, t in given), (given[0][0] if given else None)

    def raw(self, name: str) -> tuple[object, str | None]:
        """The field's first non-empty cell as the reader gave it, and its column."""
        for c in self.fields.get(name, ()):
            v = self.values.get(c)
            if v is not None and _text(v):
                return v, c
        return None, None

    def lines(self, name: str) -> str:
        """The field's non-empty cells as text, one per line."""
        return _lines(self.values, self.fields.get(name, ()))

    def check(self, column: str | None, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, or None with its errors kept as problems of ``column``."""
        try:
            return fn(*args)
        except ValidationError as exc:
            self.problems.extend((column, reason) for reason in exc.errors.values())
            return None


def _readable_contacts(
    tx: Tx, emails: set[str], ids: Iterable[int]
) -> tuple[dict[str, int], set[int]]:
    """The contacts rows name: e-mail -> contact id (one query), and the ids among those
    and ``ids`` of the contacts the importer may read (one more)."""
    by_email: dict[str, int] = {}
    for _, normalized, cid in tx.uow.imports.contacts_by_infos(emails, ()):
        by_email.setdefault(normalized, cid)
    wanted = set(by_email.values()) | set(ids)
    readable = {
        c.id
        for c in tx.uow.contacts.get_many(sorted(wanted))
        if policy.can_read_contact(tx.actor, c)
    }
    return by_email, readable


#: A record an import creates or updates (an opportunity, a case, a task).
_E = TypeVar("_E", bound=Opportunity | Case | Task)


class _Pending(Generic[_E]):
    """What one batch of records does: the records it creates, and the stored records it
    changes. A row matches a stored record by its duplicate key (``stored``) or by its id
    (``records``), else an earlier row's new record by the key."""

    def __init__(self, stored: Mapping[Any, int], records: Mapping[int, _E]) -> None:
        self.stored = stored  # duplicate key -> id of a stored record
        self.records = records  # id -> a stored record an update may change
        self.new: list[_E] = []
        self.seen: dict[Any, int] = {}  # duplicate key -> index in ``new``
        self.changed: dict[int, tuple[_E, _E]] = {}  # id -> (stored, updated)

    def known(self, key: Any) -> bool:
        """Whether a stored record or an earlier row has the duplicate ``key``."""
        return key in self.stored or key in self.seen

    def match(self, key: Any) -> tuple[str, int] | None:
        """The record an update row with the duplicate ``key`` changes: ("stored", id) or
        ("new", index), None for none (the row creates one)."""
        if key in self.stored:
            return "stored", self.stored[key]
        if key in self.seen:
            return "new", self.seen[key]
        return None

    def create(self, key: Any, record: _E, tally: _Tally) -> None:
        self.seen.setdefault(key, len(self.new))
        self.new.append(record)
        tally.created += 1

    def current(self, target: tuple[str, int]) -> _E:
        """The record ``target`` names as the earlier rows left it."""
        where, ref = target
        if where == "new":
            return self.new[ref]
        return self.changed[ref][1] if ref in self.changed else self.records[ref]

    def change(self, target: tuple[str, int], before: _E, after: _E, tally: _Tally) -> None:
        """Record ``after``, what a row makes of ``before``, the record ``target`` names."""
        if after == before:
            tally.unchanged += 1
            return
        tally.updated += 1
        where, ref = target
        if where == "new":
            self.new[ref] = after
        else:
            original = self.changed[ref][0] if ref in self.changed else before
            self.changed[ref] = (original, after)

    def flush(
        self,
        tx: Tx,
        add: Callable[[list[_E]], Iterable[int]],
        update: Callable[[list[tuple[_E, _E]]], None],
        tally: _Tally,
    ) -> None:
        """Write the batch: ``add`` the new records, then ``update`` the changed ones."""
        for rid in add(self.new):
            tally.created_ids.add(rid)
        updates = [
            (before, attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now))
            for before, after in self.changed.values()
            # Changed by one row and back by a later one: nothing to write.
            if after != before
        ]
        update(updates)
        for _, after in updates:
            tally.updated_ids.add(after.id)


class _OpportunityPlan(_Plan[_DealRow]):
    """Rows become opportunities: cleaned with the opportunity service's cleaners, matched
    and written a batch at a time (see :meth:`ImportService.run`)."""

    ENTITY = "opportunity"
    WHAT = "an opportunity"
    FIELDS = _OPPORTUNITY_FIELDS
    DEFAULTS = _OPPORTUNITY_DEFAULTS
    DUPLICATE = "an opportunity with this title and main contact exists"

    def __init__(
        self,
        service: Service,
        mapping: Mapping[str, Any],
        columns: Sequence[str] | None,
        on_duplicate: OnDuplicate,
        *,
        create_missing: bool,
        tag_separator: str,
    ) -> None:
        self._s = service
        self.fields, self.custom_cols = _parse_record_mapping(
            mapping, columns, self.FIELDS, self.WHAT
        )
        self.on_duplicate = on_duplicate
        self.create_missing = create_missing
        self.separator = tag_separator
        self.custom: dict[str, CustomField] = {}
        self.stages: dict[str, Stage] = {}
        self.first_stage: Stage | None = None
        self.responsible = ""
        self.restricted = False
        self.access_list: frozenset[str] = frozenset()
        self.default_tags: frozenset[str] = frozenset()
        self.tag_titles: dict[str, str] = {}
        self.users: dict[str, bool] = {}
        self.currency = "USD"

    def prepare(self, tx: Tx, defaults: Mapping[str, Any]) -> None:
        _check_defaults(defaults, self.DEFAULTS)
        responsible = defaults.get("responsible", tx.actor.id)
        self.responsible = sorted(self._s._managers([responsible], "defaults.responsible"))[0]
        self.restricted = rec.clean_bool(defaults.get("restricted", False), "defaults.restricted")
        self.access_list = self._s._managers(
            defaults.get("access_list", ()), "defaults.access_list"
        )
        self.default_tags = _default_tags(defaults)
        self.users[self.responsible] = True
        fields = [f for f in tx.uow.fields.list() if f.applies_to(self.ENTITY)]
        errors = {}
        for key in self.custom_cols:
            found = next(
                (
                    f
                    for f in fields
                    if f.label.casefold() == key.casefold() or (key.isdigit() and f.id == int(key))
                ),
                None,
            )
            if found is None:
                errors[f"mapping.custom:{key}"] = f"no custom field {key!r} of {self.WHAT}"
            else:
                self.custom[key] = found
        if errors:
            raise ValidationError(errors)
        self._load_stages(tx)
        self.currency = tx.uow.settings.get("default_currency") or "USD"

    def _load_stages(self, tx: Tx) -> None:
        stages = tx.uow.stages.list()
        self.stages = {" ".join(s.title.split()).casefold(): s for s in stages}
        self.first_stage = next((s for s in stages if s.type is StageType.OPEN), None)

    # one batch

    def _start_batch(self, tx: Tx) -> None:
        for title in self.default_tags:
            self._tag(tx, title)

    def _tag(self, tx: Tx, title: str) -> str:
        return _tag_title(tx, self.ENTITY, self.tag_titles, title)

    def _read(self, tx: Tx, source: SourceRow, tally: _Tally) -> _DealRow | None:
        cells = _Cells(self.fields, source)
        if cells.problems:
            tally.reject(source, cells.problems)
            return None
        values = source.values
        cell, raw, check = cells.text, cells.raw, cells.check
        fields: dict[str, Any] = {}
        title, col = cell("title")
        if not title:
            tally.reject(source, [(None, "has no title")])
            return None
        fields["title"] = check(col, lambda: cd.clean_name("title", title, required=True))
        record_id, id_col = raw("id")
        if record_id is not None:
            record_id = check(id_col, _cell_id, record_id, "id")
        closed, col = raw("closed")
        if closed is not None:
            closed = check(col, _cell_bool, closed, "closed")
        text = cells.lines("description")
        if text:
            fields["description"] = check(
                self.fields["description"][0], cd.clean_text, "description", text
            )
        amount, amount_col = cell("budget")
        currency, currency_col = cell("currency")
        money = None
        if amount or currency:
            money = (amount.replace(",", ""), currency.upper())
            fields["budget"] = check(
                amount_col or currency_col,
                _clean_budget,
                money[0] or "0",
                money[1] or None,
                self.currency,
            )
        text, col = cell("bid_type")
        if text:
            fields["bid_type"] = check(col, _clean_bid_type, text.lower().replace(" ", "_"))
        value, col = raw("period_count")
        if value is not None:
            count = check(col, _cell_int, value, "period_count")
            if count is not None:
                fields["period_count"] = check(col, _clean_period_count, count)
        value, col = raw("probability")
        if value is not None:
            number = check(col, _cell_int, _text(value).rstrip("%").strip(), "probability")
            if number is not None:
                fields["probability"] = check(col, _clean_probability, number)
        for name in ("expected_close", "actual_close"):
            value, col = raw(name)
            if value is not None:
                fields[name] = check(col, _cell_date, value, name)
        text, col = cell("responsible")
        if text:
            fields["responsible"] = check(col, self._user, text, "responsible")
        stage, stage_col = cell("stage")
        if stage:
            check(stage_col, self._stage_for, tx, stage)
        contact_email, _ = cell("contact")
        member_emails: list[str] = []
        for c in self.fields.get("members", ()):
            member_emails += _pieces(values.get(c))
        ids: list[tuple[str, int]] = []
        for name in ("contact_id", "member_ids"):
            for c in self.fields.get(name, ()):
                for piece in _pieces(values.get(c)):
                    number = check(c, _cell_int, piece, name)
                    if number is not None:
                        ids.append((name, number))
        tags: set[str] = set(self.default_tags)
        tags_given = False
        for c, piece in _tag_pieces(values, self.fields.get("tags", ()), self.separator):
            tags_given = True
            tag = check(c, clean_tag_title, piece)
            if tag is not None:
                tags.add(self._tag(tx, tag))
        custom: dict[int, str] = {}
        for key, cols in self.custom_cols.items():
            field = self.custom[key]
            value = values.get(cols[0])
            if value is None or _text(value) == "":
                continue
            value = _custom_cell(value)
            stored = check(
                cols[0], self._s._ctx.field_types.get(field.type).clean, value, field.options
            )
            if stored is not None:
                custom[field.id] = stored
        emails = []
        for email in ([contact_email] if contact_email else []) + member_emails:
            found = check(
                self.fields["contact" if email == contact_email else "members"][0],
                lambda e=email: cd.clean_info_value(InfoType.EMAIL, e, region=None),
            )
            if found is not None:
                emails.append(found[1] or found[0])
        if cells.problems:
            tally.reject(source, cells.problems)
            return None
        main = emails[0] if contact_email and emails else None
        members = emails[1:] if main is not None else emails
        return _DealRow(
            source,
            fields,
            stage or None,
            main,
            members,
            ids,
            frozenset(tags),
            custom,
            record_id=record_id,
            id_column=id_col,
            money=money,
            tags_given=tags_given,
            closed=closed,
        )

    def _stage_for(self, tx: Tx, title: str) -> Stage:
        clean: str = cd.clean_name("stage", title, required=True)
        key = " ".join(clean.split()).casefold()
        if key in self.stages:
            return self.stages[key]
        if not self.create_missing:
            raise ValidationError({"stage": f"no stage {clean!r}"})
        if not tx.actor.crm_admin:
            raise ValidationError({"stage": f"no stage {clean!r} (only a CRM admin adds stages)"})
        existing = tx.uow.stages.list()
        stage = tx.uow.stages.add(
            Stage(
                id=0,
                title=clean,
                color=NEW_STAGE_COLOR,
                probability=0,
                type=StageType.OPEN,
                description="",
                sort_order=max((s.sort_order for s in existing), default=0) + 1,
            )
        )
        tx.emit("stage.created", stage, after=stage)
        self.stages[key] = stage
        return stage

    def _write(self, tx: Tx, rows: list[_DealRow], tally: _Tally) -> None:
        actor = tx.actor
        # Contacts: by e-mail (one query), then the ones the importer may read (one more).
        emails = {e for r in rows for e in ([r.contact_email] if r.contact_email else [])}
        emails |= {e for r in rows for e in r.member_emails}
        ids = {i for r in rows for _, i in r.contact_ids}
        by_email, readable = _readable_contacts(tx, emails, ids)
        # Duplicates: a readable record with the same title (and main contact).
        update = self.on_duplicate is OnDuplicate.UPDATE
        stored: dict[tuple[str, int | None], int] = {}
        if self.on_duplicate is not OnDuplicate.CREATE:
            titles = {r.fields["title"].casefold() for r in rows if not (update and r.record_id)}
            for title_key, main_id, rid in self._by_title(tx, titles):
                stored.setdefault((title_key, main_id), rid)
        # An update reads the records it may change: by the file's ids and by the keys.
        records: dict[int, Any] = {}
        if update:
            ids = {r.record_id for r in rows if r.record_id is not None} | set(stored.values())
            records = {r.id: r for r in self._by_id(tx, ids)}
        pending: _Pending[Opportunity | Case] = _Pending(stored, records)
        for row in rows:
            number = row.source.number
            problems: list[tuple[str | None, str]] = []
            contact_ids: list[int] = []
            member_ids: set[int] = set()
            main: int | None = None
            given = [("contact", e) for e in ([row.contact_email] if row.contact_email else [])]
            given += [("members", e) for e in row.member_emails]
            for name, email in given:
                found = by_email.get(email)
                if found is None or found not in readable:
                    problems.append((self.fields[name][0], f"no contact with the e-mail {email!r}"))
                    continue
                contact_ids.append(found)
                if name == "contact":
                    main = found
                else:
                    member_ids.add(found)
            for name, cid in row.contact_ids:
                if cid not in readable:
                    problems.append((self.fields[name][0], f"no contact #{cid}"))
                    continue
                contact_ids.append(cid)
                if name == "contact_id" and main is None:
                    main = cid
                elif name == "member_ids":
                    member_ids.add(cid)
            if problems:
                tally.reject(row.source, problems)
                continue
            key = (row.fields["title"].casefold(), main)
            if update and row.record_id is not None:
                record = records.get(row.record_id)
                if record is None or not policy.can_read_deal(actor, record):
                    # One the importer may not read is not theirs to know of.
                    reason = f"no {self.ENTITY} #{row.record_id}"
                    tally.reject(row.source, [(row.id_column, reason)])
                    continue
                target: tuple[str, int] | None = ("stored", record.id)
            elif update:
                target = pending.match(key)
            else:
                target = None
                if self.on_duplicate is OnDuplicate.SKIP and pending.known(key):
                    tally.skipped += 1
                    tally.issue(number, None, self.DUPLICATE, "skipped")
                    continue
            if target is None:
                pending.create(key, self._record(tx, row, main, frozenset(contact_ids)), tally)
                continue
            before = pending.current(target)
            try:
                after = self._merge(tx, before, row, main, member_ids)
            except ValidationError as exc:
                tally.reject(row.source, [(self._column_of(f), r) for f, r in exc.errors.items()])
                continue
            pending.change(target, before, after, tally)
        pending.flush(
            tx,
            lambda new: self._add(tx, new),
            lambda updates: self._update(tx, updates),
            tally,
        )

    def _column_of(self, field: str) -> str | None:
        """The first column of ``field`` (the amount's, else the currency's, for the
        budget), for a row issue."""
        names = ("budget", "currency") if field in ("budget", "currency") else (field,)
        cols = [c for n in names for c in self.fields.get(n, ())]
        return cols[0] if cols else None

    def _merge(
        self, tx: Tx, before: Any, row: _DealRow, main: int | None, member_ids: set[int]
    ) -> Any:
        """``before`` with what ``row`` gives: each mapped, non-empty cell overwrites its
        field (a set of participants or tags is replaced by the cell's); nothing else is
        touched. Raises ValidationError naming the field when the result is not valid."""
        f = row.fields
        changes: dict[str, Any] = {"title": f["title"]}
        for name in ("description", "bid_type", "period_count", "expected_close"):
            if name in f:
                changes[name] = f[name]
        if row.money is not None:
            amount, currency = row.money
            code = before.budget.currency.code
            if amount and (currency or code == self.currency):
                changes["budget"] = f["budget"]  # read in the currency it is in
            else:
                changes["budget"] = _clean_budget(
                    amount or before.budget.amount, currency or None, code
                )
        responsible = f.get("responsible", before.responsible)
        changes["responsible"] = responsible
        members = frozenset(member_ids) if row.members_given() else before.members
        contact_id = main if main is not None else before.contact_id
        changes["contact_id"] = contact_id
        changes["members"] = members | ({contact_id} if contact_id is not None else set())
        stage_id = before.stage_id
        probability = f.get("probability", before.probability)
        actual = before.actual_close
        given_close = f.get("actual_close")
        if row.stage:
            stage = self._stage_for(tx, row.stage)
            if stage.id != before.stage_id:
                # A move takes the stage's probability and close date, as the service's
                # update does, unless the row gives others: a cell still holding the old
                # value (an export edited in its stage only) gives none.
                stage_id = stage.id
                if f.get("probability", before.probability) == before.probability:
                    probability = stage.probability
                if given_close == before.actual_close:
                    given_close = None
                actual = tx.now.date() if stage.type is not StageType.OPEN else None
        current = next((s for s in self.stages.values() if s.id == stage_id), None)
        if current is None or current.type is not StageType.OPEN:
            actual = given_close or actual or tx.now.date()
        else:
            actual = None  # as a new record: an open stage has no close date
        changes.update(stage_id=stage_id, probability=probability, actual_close=actual)
        changes["tags"] = (row.tags if row.tags_given else before.tags) | self.default_tags
        changes["custom"] = {**before.custom, **row.custom}
        changes["access_list"] = before.access_list | {responsible}
        return attrs.evolve(before, **changes)

    def _by_id(self, tx: Tx, ids: set[int]) -> list[Any]:
        return tx.uow.imports.opportunities_by_id(ids)

    def _update(self, tx: Tx, updates: list[tuple[Any, Any]]) -> None:
        tx.uow.imports.update_opportunities(updates)

    def _by_title(self, tx: Tx, titles: set[str]) -> list[tuple[str, int | None, int]]:
        return tx.uow.imports.opportunities_by_title(titles, policy.deal_scope(tx.actor))

    def _add(self, tx: Tx, new: list[Any]) -> list[int]:
        return tx.uow.imports.add_opportunities(new)

    def _record(
        self, tx: Tx, row: _DealRow, main: int | None, members: frozenset[int]
    ) -> Opportunity | Case:
        f = dict(row.fields)
        stage = self._stage_for(tx, row.stage) if row.stage else self.first_stage
        if stage is None:
            raise Conflict("there is no open stage to start an opportunity at")
        closed = stage.type is not StageType.OPEN
        actual = f.pop("actual_close", None)
        if closed and actual is None:
            actual = tx.now.date()
        if not closed:
            actual = None
        responsible = f.pop("responsible", self.responsible)
        return Opportunity(
            id=0,
            title=f.pop("title"),
            description=f.pop("description", ""),
            contact_id=main,
            members=members | ({main} if main is not None else set()),
            budget=f.pop("budget", None) or Money(0, self.currency),
            bid_type=f.pop("bid_type", BidType.FIXED),
            period_count=f.pop("period_count", 1),
            expected_close=f.pop("expected_close", None),
            actual_close=actual,
            responsible=responsible,
            stage_id=stage.id,
            probability=f.pop("probability", stage.probability),
            tags=row.tags,
            custom=row.custom,
            restricted=self.restricted,
            access_list=self.access_list | {tx.actor.id, responsible},
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
        )


# --- tasks ------------------------------------------------------------------------------

_TASK_FIELDS = frozenset(
    {
        "title",
        "description",
        "category",
        "due",
        "responsible",
        "contact",
        "contact_id",
        "alert",
        "id",
        "opportunity_id",
        "case_id",
        "closed",
        "closed_at",
    }
)
_TASK_DEFAULTS = frozenset({"responsible", "category", "alert"})


def _cell_when(value: object, field: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """A due date and time: a datetime (naive ones are in the CRM's time zone), a date (the
    end of that day there, as a due date without a time means), or ISO text of either."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text) if "T" in text or ":" in text else None
            if value is None:
                value = dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                {field: f"{text!r} is not a date or date and time (ISO 8601)"}
            ) from None
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            value = value.replace(tzinfo=zone)
    elif isinstance(value, dt.date):
        value = dt.datetime.combine(value, dt.time(23, 59), tzinfo=zone)
    else:
        raise ValidationError({field: "must be a date or a date and time"})
    return _inputs.clean_datetime(value, field)


@attrs.define
class _TaskRow:
    source: SourceRow
    task: Task  # the task the row creates
    email: str | None
    contact_column: str | None
    given: dict[str, Any] = attrs.field(factory=dict)  # what the row's cells say, by attribute
    record_id: int | None = None  # the ``id`` cell: the task an update means
    id_column: str | None = None
    columns: dict[str, str] = attrs.field(factory=dict)  # link attribute -> its column


class _TaskPlan(_Plan[_TaskRow]):
    """Rows become tasks: cleaned with the task service's rules, a batch at a time."""

    def __init__(
        self,
        service: Service,
        mapping: Mapping[str, Any],
        columns: Sequence[str] | None,
        on_duplicate: OnDuplicate,
        *,
        create_missing: bool,
        tag_separator: str,
    ) -> None:
        self._s = service
        self.fields, custom = _parse_record_mapping(mapping, columns, _TASK_FIELDS, "a task")
        if custom:
            raise ValidationError({"mapping": "tasks have no custom fields"})
        if "due" not in self.fields:
            raise ValidationError({"mapping.due": "is required"})
        self.on_duplicate = on_duplicate
        self.create_missing = create_missing
        self.categories: dict[str, int | None] = {}
        self.users: dict[str, bool] = {}
        self.responsible = ""
        self.alert = DEFAULT_ALERT
        self.category_id = 0
        self.zone = zoneinfo.ZoneInfo("UTC")
        #: Reading our own export: its date-times without an offset (XLSX) are in UTC.
        self.export = False

    def prepare(self, tx: Tx, defaults: Mapping[str, Any]) -> None:
        _check_defaults(defaults, _TASK_DEFAULTS)
        responsible = defaults.get("responsible", tx.actor.id)
        self.responsible = sorted(self._s._managers([responsible], "defaults.responsible"))[0]
        self.users[self.responsible] = True
        self.alert = _task_alert(defaults.get("alert", DEFAULT_ALERT), "defaults.alert")
        regional = Regional.from_settings(tx.uow.settings.get_many([LOCALE_KEY, TIME_ZONE_KEY]))
        self.zone = zoneinfo.ZoneInfo("UTC") if self.export else regional.zone
        if "category" in defaults:
            self.default_category: str | None = cd.clean_name(
                "defaults.category", defaults["category"], required=True
            )
        else:
            self.default_category = None
            categories = tx.uow.lists.list(ListKind.TASK_CATEGORY)
            if categories:
                self.category_id = categories[0].id

    def _category(self, tx: Tx, title: str, field: str) -> int:
        key = " ".join(title.split()).casefold()
        if key not in self.categories:
            found = tx.uow.lists.find(ListKind.TASK_CATEGORY, " ".join(title.split()))
            if found is not None and found.system:
                raise ValidationError({field: f"{found.title!r} is written by opencrm itself"})
            if found is None and self.create_missing:
                found = _add_list_item(tx, ListKind.TASK_CATEGORY, title)
            self.categories[key] = None if found is None else found.id
        found_id = self.categories[key]
        if found_id is None:
            raise ValidationError({field: f"no task category {title!r}"})
        return found_id

    def _start_batch(self, tx: Tx) -> None:
        if self.default_category is not None:
            self.category_id = self._category(tx, self.default_category, "defaults.category")

    def _read(self, tx: Tx, source: SourceRow, tally: _Tally) -> _TaskRow | None:
        cells = _Cells(self.fields, source)
        if cells.problems:
            tally.reject(source, cells.problems)
            return None
        cell, raw, check = cells.text, cells.raw, cells.check
        title, col = cell("title")
        if not title:
            tally.reject(source, [(None, "has no title")])
            return None
        fields: dict[str, Any] = {
            "title": check(col, lambda: cd.clean_name("title", title, required=True))
        }
        due, col = raw("due")
        if due is None:
            cells.problems.append((self.fields["due"][0], "has no due date"))
        else:
            fields["due_at"] = check(col, lambda: _cell_when(due, "due", self.zone))
        text = cells.lines("description")
        if text:
            fields["description"] = check(
                self.fields["description"][0], lambda: cd.clean_text("description", text)
            )
        category, col = cell("category")
        if category:
            fields["category_id"] = check(col, lambda: self._category(tx, category, "category"))
        responsible, col = cell("responsible")
        if responsible:
            fields["responsible"] = check(col, lambda: self._user(responsible, "responsible"))
        alert, col = raw("alert")
        if alert is not None:
            fields["alert_minutes"] = check(
                col, lambda: _task_alert(_cell_int(alert, "alert"), "alert")
            )
        email, email_col = cell("contact")
        if email:
            found = check(
                email_col, lambda: cd.clean_info_value(InfoType.EMAIL, email, region=None)
            )
            email = found[1] or found[0] if found is not None else email
        contact_id = None
        value, id_col = raw("contact_id")
        if value is not None:
            contact_id = check(id_col, lambda: _cell_int(value, "contact_id"))
            fields["contact_id"] = contact_id
        columns: dict[str, str] = {}
        for name in ("opportunity_id", "case_id"):
            value, column = raw(name)
            if value is not None and column is not None:
                fields[name] = check(column, functools.partial(_cell_id, value, name))
                columns[name] = column
        if len(columns) == 2:
            cells.problems.append(
                (columns["case_id"], "link either an opportunity or a case, not both")
            )
        value, column = raw("closed")
        if value is not None:
            fields["closed"] = check(column, lambda: _cell_bool(value, "closed"))
        value, column = raw("closed_at")
        if value is not None:
            fields["closed_at"] = check(column, lambda: _cell_when(value, "closed_at", self.zone))
        record_id, record_col = raw("id")
        if record_id is not None:
            record_id = check(record_col, lambda: _cell_id(record_id, "id"))
        if cells.problems:
            tally.reject(source, cells.problems)
            return None
        closed = bool(fields.get("closed"))
        task = Task(
            id=0,
            title=fields["title"],
            description=fields.get("description", ""),
            category_id=fields.get("category_id", self.category_id),
            due_at=fields["due_at"],
            responsible=fields.get("responsible", self.responsible),
            contact_id=contact_id,
            opportunity_id=fields.get("opportunity_id"),
            case_id=fields.get("case_id"),
            alert_minutes=fields.get("alert_minutes", self.alert),
            closed=closed,
            closed_at=(fields.get("closed_at") or tx.now) if closed else None,
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
        )
        try:
            task.due_at - dt.timedelta(minutes=task.alert_minutes)
        except OverflowError:
            tally.reject(source, [(col, "is out of range (its reminder time is)")])
            return None
        return _TaskRow(
            source,
            task,
            email or None,
            email_col or id_col,
            given=fields,
            record_id=record_id,
            id_column=record_col,
            columns=columns,
        )

    def _write(self, tx: Tx, rows: list[_TaskRow], tally: _Tally) -> None:
        store = tx.uow.imports
        actor = tx.actor
        emails = {r.email for r in rows if r.email}
        ids = {r.task.contact_id for r in rows if r.task.contact_id}
        by_email, readable = _readable_contacts(tx, emails, ids)
        # Linked opportunities and cases: the ones the importer may read (a query per kind).
        linked: set[tuple[str, int]] = set()
        for name, load in (
            ("opportunity_id", store.opportunities_by_id),
            ("case_id", store.cases_by_id),
        ):
            ids = {r.given[name] for r in rows if r.given.get(name) is not None}
            linked |= {(name, d.id) for d in load(ids) if policy.can_read_deal(actor, d)}
        update = self.on_duplicate is OnDuplicate.UPDATE
        stored: dict[tuple[str, dt.datetime, str, int | None], int] = {}
        if self.on_duplicate is not OnDuplicate.CREATE:
            titles = {r.task.title.casefold() for r in rows if not (update and r.record_id)}
            for title_key, due, owner, contact, creator, tid in store.tasks_by_title(titles):
                # Only tasks the importer may edit count (their own, or any for an admin).
                if actor.crm_admin or actor.id in (owner, creator):
                    stored.setdefault((title_key, due, owner, contact), tid)
        records: dict[int, Task] = {}
        hidden: set[int] = set()
        if update:
            ids = {r.record_id for r in rows if r.record_id is not None} | set(stored.values())
            records = {t.id: t for t in store.tasks_by_id(ids)}
            hidden = self._hidden(tx, records.values())
        pending: _Pending[Task] = _Pending(stored, records)
        for row in rows:
            task, given = row.task, dict(row.given)
            if row.email:
                found = by_email.get(row.email)
                if found is None or found not in readable:
                    reason = f"no contact with the e-mail {row.email!r}"
                    tally.reject(row.source, [(row.contact_column, reason)])
                    continue
                task = attrs.evolve(task, contact_id=found)
                given["contact_id"] = found
            elif task.contact_id is not None and task.contact_id not in readable:
                reason = f"no contact #{task.contact_id}"
                tally.reject(row.source, [(row.contact_column, reason)])
                continue
            missing = [
                (row.columns[name], f"no {name[:-3]} #{given[name]}")
                for name in ("opportunity_id", "case_id")
                if given.get(name) is not None and (name, given[name]) not in linked
            ]
            if missing:
                tally.reject(row.source, missing)
                continue
            key = (task.title.casefold(), task.due_at, task.responsible, task.contact_id)
            target: tuple[str, int] | None = None
            if update and row.record_id is not None:
                record = records.get(row.record_id)
                if record is None or record.id in hidden:
                    # One the importer may not read is not theirs to know of.
                    tally.reject(row.source, [(row.id_column, f"no task #{row.record_id}")])
                    continue
                if not policy.can_edit_task(actor, record.responsible, record.created_by):
                    tally.skipped += 1
                    reason = f"matches task #{record.id}, which you may not edit"
                    tally.issue(row.source.number, None, reason, "skipped")
                    continue
                target = ("stored", record.id)
            elif update:
                target = pending.match(key)
            elif self.on_duplicate is OnDuplicate.SKIP and pending.known(key):
                tally.skipped += 1
                reason = "a task with this title, due time, responsible and contact exists"
                tally.issue(row.source.number, None, reason, "skipped")
                continue
            if target is None:
                pending.create(key, task, tally)
                continue
            before = pending.current(target)
            pending.change(target, before, self._merge(tx, before, given), tally)
        pending.flush(tx, store.add_tasks, store.update_tasks, tally)

    def _merge(self, tx: Tx, before: Task, given: Mapping[str, Any]) -> Task:
        """``before`` with the row's non-empty cells written over it (nothing else touched;
        a link to an opportunity replaces one to a case and the reverse). The alert's
        reminder time is in range: the row's was checked, and the due time is one the
        service takes."""
        changes = {k: v for k, v in given.items() if k not in ("closed", "closed_at")}
        if "due_at" in changes and _same_moment(changes["due_at"], before.due_at):
            del changes["due_at"]
        if given.get("opportunity_id") is not None:
            changes["case_id"] = None
        if given.get("case_id") is not None:
            changes["opportunity_id"] = None
        closed = given.get("closed", before.closed)
        if not closed:
            closed_at = None
        elif "closed_at" in given and not (
            before.closed_at is not None and _same_moment(given["closed_at"], before.closed_at)
        ):
            closed_at = given["closed_at"]
        else:
            closed_at = before.closed_at if before.closed else tx.now
        after = attrs.evolve(before, **changes, closed=closed, closed_at=closed_at)
        if (after.due_at, after.alert_minutes) != (before.due_at, before.alert_minutes) or (
            before.closed and not closed
        ):
            after = attrs.evolve(after, reminded_at=None)
        return after

    def _hidden(self, tx: Tx, found: Iterable[Task]) -> set[int]:
        """The ids among ``found`` the importer may not read (the parents of the tasks that
        are not theirs looked up in one query per kind)."""
        actor = tx.actor
        others = [t for t in found if not policy.can_edit_task(actor, t.responsible, t.created_by)]
        if not others:
            return set()
        store = tx.uow.imports
        contact_ids = sorted({t.contact_id for t in others if t.contact_id is not None})
        contacts = {c.id: c for c in tx.uow.contacts.get_many(contact_ids)}
        opportunities = {
            o.id: o
            for o in store.opportunities_by_id(
                {t.opportunity_id for t in others if t.opportunity_id}
            )
        }
        cases = {c.id: c for c in store.cases_by_id({t.case_id for t in others if t.case_id})}
        out = set()
        for t in others:
            contact = contacts.get(t.contact_id) if t.contact_id is not None else None
            deal: Opportunity | Case | None = None
            if t.opportunity_id is not None:
                deal = opportunities.get(t.opportunity_id)
            elif t.case_id is not None:
                deal = cases.get(t.case_id)
            parents = policy.Parents(
                contact=None if contact is None else (contact.access, actor.id in contact.managers),
                deal=deal,
            )
            if not policy.can_read_task(actor, t.responsible, t.created_by, parents):
                out.add(t.id)
        return out


def _same_moment(given: dt.datetime, stored: dt.datetime) -> bool:
    """Whether a date-time cell means the stored one: the same to the millisecond (a
    spreadsheet keeps milliseconds, so our XLSX export rounds microseconds away)."""
    return abs(given - stored) < dt.timedelta(milliseconds=1)


def _task_alert(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in ALERT_OFFSETS:
        listed = ", ".join(str(v) for v in ALERT_OFFSETS)
        raise ValidationError({field: f"must be one of {listed} (minutes; 0 = never)"})
    return value


# --- cases ------------------------------------------------------------------------------


class _CasePlan(_OpportunityPlan):
    """Rows become cases: as opportunities, with the fields a case has. A duplicate is a
    case of the same title that the importer may read."""

    ENTITY = "case"
    WHAT = "a case"
    FIELDS = frozenset({"title", "members", "member_ids", "tags", "closed", "id"})
    DEFAULTS = frozenset({"restricted", "access_list", "tags"})
    DUPLICATE = "a case with this title exists"

    def _by_title(self, tx: Tx, titles: set[str]) -> list[tuple[str, int | None, int]]:
        return tx.uow.imports.cases_by_title(titles, policy.deal_scope(tx.actor))

    def _add(self, tx: Tx, new: list[Any]) -> list[int]:
        return tx.uow.imports.add_cases(new)

    def _by_id(self, tx: Tx, ids: set[int]) -> list[Any]:
        return tx.uow.imports.cases_by_id(ids)

    def _update(self, tx: Tx, updates: list[tuple[Any, Any]]) -> None:
        tx.uow.imports.update_cases(updates)

    def _merge(
        self, tx: Tx, before: Any, row: _DealRow, main: int | None, member_ids: set[int]
    ) -> Any:
        return attrs.evolve(
            before,
            title=row.fields["title"],
            members=frozenset(member_ids) if row.members_given() else before.members,
            closed=before.closed if row.closed is None else row.closed,
            tags=(row.tags if row.tags_given else before.tags) | self.default_tags,
            custom={**before.custom, **row.custom},
        )

    def _record(
        self, tx: Tx, row: _DealRow, main: int | None, members: frozenset[int]
    ) -> Opportunity | Case:
        return Case(
            id=0,
            title=row.fields["title"],
            members=members,
            closed=bool(row.closed),
            tags=row.tags,
            custom=row.custom,
            restricted=self.restricted,
            access_list=self.access_list | {tx.actor.id},
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
        )
