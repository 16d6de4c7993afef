"""The .xlsx renderer of a :class:`~opencrm.core.reports.ReportResult`: a workbook with the
reference's charts (openpyxl, write-only mode).

The workbook has one sheet: the title, the period and the parameters, then each table with
its header row, rows and totals, and its charts to the right of it. Numbers keep their type
(integers, currency amounts, percentages, dates, durations) with number formats written in
the CRM's locale: the currency symbol where the locale puts it, dates in the locale's medium
pattern; month and day headers come from babel in the same locale.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import get_currency_symbol
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from opencrm.core.money import minor_units
from opencrm.core.reports import (
    N_,
    PERIOD_TITLES,
    Chart,
    ChartKind,
    ColumnType,
    Period,
    ReportResult,
    Table,
    translate,
)

__all__ = ["excel_date_format", "money_format", "render_xlsx"]

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_CHART_ROWS = 16
_CHART_COLUMNS = 9


def excel_date_format(locale: str) -> str:
    """The locale's medium date pattern (CLDR) as an Excel number format: "mmm d, yyyy" for
    en_US, "dd.mm.yyyy" for de_DE."""
    pattern = Locale.parse(locale).date_formats["medium"].pattern
    out = []
    for run, quoted, other in re.findall(r"((?:([a-zA-Z])\2*))|('[^']*'|.)", pattern):
        del quoted
        if run:
            letter, n = run[0], len(run)
            if letter == "y":
                out.append("yyyy")
            elif letter in "ML":
                out.append("m" * min(n, 4))
            elif letter == "d":
                out.append("d" * min(n, 2))
            elif letter in "Ec":
                out.append("ddd" if n <= 3 else "dddd")
            else:
                out.append(f'"{run}"')
        else:
            text = other.strip("'") if other.startswith("'") else other
            out.append(f'"{text}"' if text and not text.isspace() and text not in "./-, " else text)
    return "".join(out)


def money_format(currency: str, locale: str) -> str:
    """An Excel number format for amounts of ``currency`` in ``locale``: the symbol before or
    after the number as the locale writes it, and the currency's minor units."""
    digits = minor_units(currency)
    number = "#,##0" + ("." + "0" * digits if digits else "")
    symbol = get_currency_symbol(currency, locale=locale).replace('"', "")
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    if pattern.strip().startswith("¤"):
        return f'"{symbol}"{"" if pattern.startswith("¤#") else " "}{number}'
    return f'{number} "{symbol}"'


def _formats(result: ReportResult) -> dict[ColumnType, str | None]:
    return {
        ColumnType.TEXT: None,
        ColumnType.INTEGER: "#,##0",
        ColumnType.MONEY: money_format(result.currency, result.locale),
        ColumnType.PERCENT: "0.00%",
        ColumnType.DECIMAL: "#,##0.0",
        ColumnType.DATE: excel_date_format(result.locale),
        ColumnType.DURATION: "[h]:mm:ss",
    }


def _period_text(result: ReportResult) -> str:
    """The period's name and its days in the result's locale: "Diese Woche (16. März 2026 -
    22. März 2026)"."""
    chosen = result.parameters.get("period")
    name = PERIOD_TITLES.get(Period(chosen)) if chosen in set(Period) else None
    if result.first_day is None or result.last_day is None:
        return translate(name or N_("All time"), result.locale)
    first = format_date(result.first_day, "long", locale=result.locale)
    days = first
    if result.first_day != result.last_day:
        days = f"{first} - {format_date(result.last_day, 'long', locale=result.locale)}"
    return f"{translate(name, result.locale)} ({days})" if name else days


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Report"


def render_xlsx(result: ReportResult) -> bytes:
    """The report as .xlsx bytes."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(result.title))
    formats = _formats(result)
    # printed (and converted to PDF) landscape, one page wide: tables with their charts
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0

    def cell(value: Any, *, font: Font | None = None, number_format: str | None = None) -> Any:
        if isinstance(value, int) and number_format == formats[ColumnType.DURATION]:
            value = dt.timedelta(seconds=value)
        c = WriteOnlyCell(ws, value=value)
        if font is not None:
            c.font = font
        if number_format is not None:
            c.number_format = number_format
        return c

    widths = [12] * max((len(t.columns) for t in result.tables), default=1)
    for table in result.tables:
        for n, column in enumerate(table.columns):
            widths[n] = max(widths[n], min(len(column.label) + 2, 40))
    for n, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(n)].width = width

    row = 0

    def append(cells: Sequence[Any]) -> int:
        nonlocal row
        ws.append(list(cells))
        row += 1
        return row

    append([cell(result.title, font=_TITLE)])

    def _(text: str) -> str:
        return translate(text, result.locale)

    append([_("Period"), _period_text(result)])
    if result.parameters.get("managers"):
        append([_("Managers"), ", ".join(str(m) for m in result.parameters["managers"])])
    append([_("Currency"), result.currency])
    generated = format_datetime(
        result.generated_at, "medium", tzinfo=_zone(result.time_zone), locale=result.locale
    )
    append([_("Generated"), f"{generated} ({result.time_zone})"])
    for note in result.notes:
        append([note])
    for table in result.tables:
        append([])
        title_row = append([cell(table.title, font=_BOLD)])
        header_row = append([cell(c.label, font=_BOLD) for c in table.columns])
        kinds = [formats[c.type] for c in table.columns]
        for values in table.rows:
            append([cell(v, number_format=f) for v, f in zip(values, kinds, strict=True)])
        last_data_row = row
        if table.totals is not None:
            append(
                [
                    cell(v, font=_BOLD, number_format=f)
                    for v, f in zip(table.totals, kinds, strict=True)
                ]
            )
        if table.rows:
            for n, chart in enumerate(table.charts):
                anchor = (
                    f"{get_column_letter(len(table.columns) + 2 + n * _CHART_COLUMNS)}{title_row}"
                )
                ws.add_chart(_chart(ws, table, chart, header_row, last_data_row), anchor)
        # keep the next table below this one's charts
        if table.rows and table.charts:
            while row < title_row + _CHART_ROWS:
                append([])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _chart(ws: Any, table: Table, chart: Chart, header_row: int, last_row: int) -> Any:
    label = table.column(chart.label_column) + 1
    values = [table.column(key) + 1 for key in chart.value_columns]
    first_row = header_row + 1
    drawn: Any
    if chart.kind is ChartKind.PIE:
        drawn = PieChart()
    elif chart.kind is ChartKind.LINE:
        drawn = LineChart()
        drawn.y_axis.title = None
    else:
        drawn = BarChart()
        drawn.type = "col"
    drawn.title = chart.title
    drawn.width = 16
    drawn.height = 7.5
    low, high = min(values), max(values)
    if chart.series_in == "rows" and chart.kind is not ChartKind.PIE:
        # each row a series named by its label cell: the label column must be next to the
        # values, which the reports that draw by rows keep
        data = Reference(ws, min_col=label, max_col=high, min_row=first_row, max_row=last_row)
        drawn.add_data(data, from_rows=True, titles_from_data=True)
        drawn.set_categories(Reference(ws, min_col=low, max_col=high, min_row=header_row))
        return _straight(drawn)
    for column in values[:1] if chart.kind is ChartKind.PIE else values:
        data = Reference(ws, min_col=column, min_row=header_row, max_row=last_row)
        drawn.add_data(data, titles_from_data=True)
    drawn.set_categories(Reference(ws, min_col=label, min_row=first_row, max_row=last_row))
    return _straight(drawn)


def _straight(chart: Any) -> Any:
    """Lines between the points as they are (openpyxl smooths line series by default, which
    draws bends the figures do not have)."""
    if isinstance(chart, LineChart):
        for series in chart.series:
            series.smooth = False
    return chart
