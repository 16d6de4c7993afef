"""The neutral result of a report: what renderers (xlsx, JSON) turn into a file.

A report yields tables; each has typed columns, rows of plain values, an optional totals
row and chart hints. Money cells are :class:`~decimal.Decimal` amounts already converted to
the result's ``currency``; durations are whole seconds; percentages are fractions (0.25).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["Cell", "Chart", "ChartKind", "Column", "ColumnType", "ReportResult", "Table"]

#: What a cell may hold.
Cell = str | int | Decimal | dt.date | None


class ColumnType(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    #: An amount in the result's currency (Decimal).
    MONEY = "money"
    #: A fraction (Decimal 0.25 is 25 %).
    PERCENT = "percent"
    #: A plain decimal number (an average).
    DECIMAL = "decimal"
    DATE = "date"
    #: Whole seconds, shown as HH:MM:SS.
    DURATION = "duration"


@attrs.frozen
class Column:
    key: str
    label: str
    type: ColumnType = ColumnType.TEXT


class ChartKind(enum.StrEnum):
    BAR = "bar"
    LINE = "line"
    PIE = "pie"


@attrs.frozen
class Chart:
    """A chart drawn from one table.

    ``series_in="columns"``: each value column is a series and the rows are the categories
    (labelled by ``label_column``). ``series_in="rows"``: each row is a series (named by its
    ``label_column`` cell) and the value columns are the categories.
    """

    kind: ChartKind
    title: str
    label_column: str
    value_columns: tuple[str, ...]
    series_in: str = "columns"


@attrs.frozen
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    totals: tuple[Cell, ...] | None = None
    charts: tuple[Chart, ...] = ()

    def column(self, key: str) -> int:
        """The index of the column ``key`` (``KeyError`` when the table has none)."""
        for index, column in enumerate(self.columns):
            if column.key == key:
                return index
        raise KeyError(key)

    def as_dicts(self) -> list[dict[str, Cell]]:
        """The rows as ``{column key: value}`` mappings (handy in tests and templates)."""
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@attrs.frozen(kw_only=True)
class ReportResult:
    """One generated report, independent of any file format."""

    name: str
    title: str
    #: The parameters it was built with (period, managers...), as given.
    parameters: Mapping[str, Any]
    #: The first and last local day covered (None for all time).
    first_day: dt.date | None
    last_day: dt.date | None
    generated_at: dt.datetime
    #: The currency every money cell is in (the CRM's default currency).
    currency: str
    locale: str
    time_zone: str
    tables: tuple[Table, ...]
    #: Remarks a reader should see (a report's `notes`, in the CRM's language).
    notes: tuple[str, ...] = ()

    def table(self, title: str) -> Table:
        for table in self.tables:
            if table.title == title:
                return table
        raise KeyError(title)

    @property
    def has_data(self) -> bool:
        return any(t.rows for t in self.tables)

    def check(self) -> None:
        """Raise ``ValueError`` when a row or totals row does not fit its columns."""
        for table in self.tables:
            width = len(table.columns)
            for row in (*table.rows, *([table.totals] if table.totals else [])):
                if len(row) != width:
                    raise ValueError(f"a row of {table.title!r} has {len(row)} cells, not {width}")


def cells(values: Sequence[Any]) -> tuple[Cell, ...]:
    return tuple(values)
