"""What an import reads and what it reports: the rows port and the report values.

The core never opens a file: a reader in :mod:`opencrm.io` (CSV, XLSX) or any other iterable
of :class:`SourceRow` is handed to :meth:`opencrm.Session.imports` methods, so the core needs
no file-format library.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

import attrs

__all__ = [
    "IdRanges",
    "ImportProgress",
    "ImportReport",
    "OnDuplicate",
    "RowIssue",
    "RowSource",
    "SourceRow",
]


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class SourceRow:
    """One data row of a file.

    ``number`` is the row number a person sees in a spreadsheet (the header row is 1);
    ``values`` maps column names to cell values (text, or for spreadsheets a number, bool,
    date or datetime; None for an empty cell); ``problems`` maps column names to what the
    reader found wrong there (a NUL byte, a field too long to store), which rejects the row.
    """

    number: int
    values: Mapping[str, Any] = attrs.field(converter=_frozen)
    problems: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)


class RowSource(Protocol):
    """The rows of a file, read lazily: ``columns`` (the header, in file order) and iteration
    over the data rows. A reader raises :class:`~opencrm.errors.ValidationError` naming
    ``file`` (with the row and byte) when the file cannot be read on."""

    @property
    def columns(self) -> Sequence[str]: ...

    def __iter__(self) -> Iterator[SourceRow]: ...


class OnDuplicate(enum.StrEnum):
    """What an import does with a row that matches an existing record."""

    SKIP = "skip"
    UPDATE = "update"
    CREATE = "create"


@attrs.frozen
class ImportProgress:
    """Told to the progress callback after each batch: rows read so far, and the rate."""

    rows: int
    rows_per_second: float


@attrs.frozen
class RowIssue:
    """Why one row was rejected, or skipped for a reason other than being a duplicate:
    its row ``number``, the ``column`` concerned (None when no single column is), the
    ``reason``, and the ``outcome`` (``rejected`` or ``skipped``)."""

    row: int
    column: str | None
    reason: str
    outcome: str = "rejected"


class IdRanges:
    """Record ids as sorted, merged ``(first, last)`` ranges: ids of an import's records
    come from a sequence, so a million created ids are a handful of ranges."""

    def __init__(self) -> None:
        self._ranges: list[list[int]] = []

    def add(self, record_id: int) -> None:
        ranges = self._ranges
        if ranges and ranges[-1][1] + 1 == record_id:
            ranges[-1][1] = record_id
        elif ranges and ranges[-1][0] <= record_id <= ranges[-1][1]:
            return
        else:
            ranges.append([record_id, record_id])

    def ranges(self) -> tuple[tuple[int, int], ...]:
        merged: list[list[int]] = []
        for first, last in sorted(self._ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        return tuple((a, b) for a, b in merged)


@attrs.frozen(kw_only=True)
class ImportReport:
    """The outcome of an import (or of its dry run, which reports exactly the same).

    Every data row counts once: ``created``, ``updated`` (an existing record took a mapped
    value), ``unchanged`` (it matched a record that already holds what the row says),
    ``skipped`` (a duplicate with ``on_duplicate="skip"``, or a record the importer may not
    edit) or ``rejected`` (a bad value; nothing of the row is written). ``issues`` lists the
    rejected rows and the skips that were not plain duplicates, each with row number, column
    and reason, the first ``max_issues`` of them (``issues_left_off`` says how many more).

    ``companies_created`` counts the companies made for persons whose company did not exist.
    ``created_ids`` and ``updated_ids`` are ``(first, last)`` id ranges of contacts, or of
    the records of ``kind``. ``stopped_at`` is the last row read when the import was
    cancelled (``cancelled``), else None; rows up to it that were committed stay.
    ``committed`` is False for a dry run and for an all-or-nothing import that rejected a row.
    """

    kind: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    companies_created: int = 0
    issues: tuple[RowIssue, ...] = ()
    issues_left_off: int = 0
    created_ids: tuple[tuple[int, int], ...] = ()
    updated_ids: tuple[tuple[int, int], ...] = ()
    cancelled: bool = False
    stopped_at: int | None = None
    committed: bool = False

    def counts(self) -> dict[str, int]:
        """The counts by outcome (what the audit entry and the CLI show)."""
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "companies_created": self.companies_created,
        }
