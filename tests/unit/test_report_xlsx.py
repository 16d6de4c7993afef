"""The .xlsx renderer: the workbook re-opened with openpyxl keeps values, number formats,
localized headers and dates, and the charts the report asked for; the JSON renderer keeps
amounts exact."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import attrs
import openpyxl
import pytest
from openpyxl.chart import BarChart, LineChart, PieChart

from opencrm.core.reports import Chart, ChartKind, Column, ColumnType, ReportResult, Table
from opencrm.io.report_json import to_json
from opencrm.io.report_xlsx import excel_date_format, money_format, render_xlsx

D = Decimal


def result(locale: str = "en_US", currency: str = "EUR") -> ReportResult:
    sales = Table(
        "Sales",
        (
            Column("manager", "Manager"),
            Column("b0", "Mar 2", ColumnType.MONEY),
            Column("b1", "Mar 3", ColumnType.MONEY),
            Column("total", "Total", ColumnType.MONEY),
        ),
        (("Alice", D("10.50"), D("0.00"), D("10.50")), ("Bob", D("1.25"), D("2.00"), D("3.25"))),
        ("Total", D("11.75"), D("2.00"), D("13.75")),
        (
            Chart(ChartKind.LINE, "Sales by day", "manager", ("b0", "b1"), series_in="rows"),
            Chart(ChartKind.PIE, "Total sales", "manager", ("total",)),
        ),
    )
    mixed = Table(
        "Mixed",
        (
            Column("day", "Day", ColumnType.DATE),
            Column("count", "Count", ColumnType.INTEGER),
            Column("share", "Share", ColumnType.PERCENT),
            Column("days", "Days", ColumnType.DECIMAL),
            Column("duration", "Duration", ColumnType.DURATION),
        ),
        ((dt.date(2026, 3, 2), 1234, D("0.2500"), D("16.3"), 3725),),
        None,
        (Chart(ChartKind.BAR, "Counts", "day", ("count",)),),
    )
    return ReportResult(
        name="sample",
        title="Sample report",
        parameters={"period": "this_week", "managers": ["alice"]},
        first_day=dt.date(2026, 3, 2),
        last_day=dt.date(2026, 3, 8),
        generated_at=dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC),
        currency=currency,
        locale=locale,
        time_zone="Europe/Berlin",
        tables=(sales, mixed),
        notes=("A note.",),
    )


def reopen(data: bytes) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(io.BytesIO(data)).active


def rows_of(ws: openpyxl.worksheet.worksheet.Worksheet) -> list[tuple[object, ...]]:
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


def test_values_formats_and_charts_survive_a_round_trip() -> None:
    ws = reopen(render_xlsx(result()))
    assert ws.title == "Sample report"
    cells = rows_of(ws)
    assert cells[0][0] == "Sample report"
    assert cells[1][:2] == ("Period", "This week (March 2, 2026 - March 8, 2026)")
    assert cells[2][:2] == ("Managers", "alice")
    assert cells[3][:2] == ("Currency", "EUR")
    assert cells[4][:2] == ("Generated", "Mar 4, 2026, 1:00:00\u202fPM (Europe/Berlin)")
    assert cells[5][0] == "A note."
    header = next(n for n, r in enumerate(cells) if r[0] == "Manager")
    assert cells[header][:4] == ("Manager", "Mar 2", "Mar 3", "Total")
    assert cells[header + 1][:4] == ("Alice", 10.5, 0, 10.5)
    assert cells[header + 3][:4] == ("Total", 11.75, 2, 13.75)
    money = ws.cell(row=header + 2, column=2)
    assert ws.cell(row=header + 4, column=4).font.b is True
    assert money.number_format == '"€"#,##0.00'
    assert ws.cell(row=header, column=1).font.b is True
    day_row = next(n for n, r in enumerate(cells, start=1) if r[0] == "Day") + 1
    day, count, share, days, duration = (ws.cell(row=day_row, column=n) for n in range(1, 6))
    assert day.value == dt.datetime(2026, 3, 2)
    assert day.number_format == "mmm d, yyyy"
    assert (count.value, count.number_format) == (1234, "#,##0")
    assert (share.value, share.number_format) == (0.25, "0.00%")
    assert (days.value, days.number_format) == (16.3, "#,##0.0")
    assert duration.number_format == "[h]:mm:ss"
    assert duration.value == dt.timedelta(seconds=3725)
    kinds = sorted(type(c).__name__ for c in ws._charts)
    assert kinds == sorted([LineChart.__name__, PieChart.__name__, BarChart.__name__])
    line = next(c for c in ws._charts if isinstance(c, LineChart))
    assert len(line.series) == 2  # one per manager row
    assert [bool(s.smooth) for s in line.series] == [False, False]
    assert ws.page_setup.orientation == "landscape"


def test_headers_dates_and_money_follow_the_locale() -> None:
    ws = reopen(render_xlsx(result(locale="de_DE")))
    cells = rows_of(ws)
    # the sheet's own words are German; the result's titles and headers are left as built
    assert cells[1][:2] == ("Zeitraum", "Diese Woche (2. März 2026 - 8. März 2026)")
    assert [r[0] for r in cells[2:4]] == ["Manager", "Währung"]
    day_row = next(n for n, r in enumerate(cells, start=1) if r[0] == "Day") + 1
    assert ws.cell(row=day_row, column=1).number_format == "dd.mm.yyyy"
    # the first table's header (row 3 is the managers filter, "Manager" in German too)
    header = next(n for n, r in enumerate(cells, start=1) if r[0] == "Manager" and n > 3)
    assert ws.cell(row=header + 1, column=2).number_format == '#,##0.00 "€"'


@pytest.mark.parametrize(
    ("currency", "locale", "wanted"),
    [
        ("USD", "en_US", '"$"#,##0.00'),
        ("JPY", "en_US", '"¥"#,##0'),
        ("EUR", "de_DE", '#,##0.00 "€"'),
        ("KWD", "de_DE", '#,##0.000 "KWD"'),
    ],
)
def test_money_formats_use_the_minor_units_and_the_symbol_place(
    currency: str, locale: str, wanted: str
) -> None:
    assert money_format(currency, locale) == wanted


def test_date_formats_come_from_cldr() -> None:
    assert excel_date_format("en_US") == "mmm d, yyyy"
    assert excel_date_format("de_DE") == "dd.mm.yyyy"
    assert excel_date_format("ja_JP") == "yyyy/mm/dd"


def test_an_empty_table_draws_no_chart() -> None:
    table = Table(
        "Nothing",
        (Column("m", "M"), Column("n", "N", ColumnType.INTEGER)),
        (),
        ("Total", 0),
        (Chart(ChartKind.BAR, "N", "m", ("n",)),),
    )
    ws = reopen(render_xlsx(attrs.evolve(result(), tables=(table,))))
    assert ws._charts == []
    assert rows_of(ws)[-1][:2] == ("Total", 0)


def test_json_keeps_amounts_exact() -> None:
    data = to_json(result())
    assert data["tables"][0]["rows"][0] == ["Alice", "10.50", "0.00", "10.50"]
    assert data["tables"][1]["rows"][0] == ["2026-03-02", 1234, "0.2500", "16.3", 3725]
    assert data["tables"][0]["columns"][1] == {"key": "b0", "label": "Mar 2", "type": "money"}
    assert data["tables"][0]["charts"][0]["series_in"] == "rows"
    assert data["first_day"] == "2026-03-02"
