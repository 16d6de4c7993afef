"""Reports (CRM admins): the report types, a report as JSON, and generated .xlsx files kept
per user (generate now or as a job, list, read, download, delete)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from opencrm.core.jobs import Job
from opencrm.core.reports import ReportResult
from opencrm.core.reports._stored import GeneratedReport
from opencrm.http._api import Call, Download, Items, Route
from opencrm.http._convert import UNSET
from opencrm.io.report_json import to_json

__all__ = ["ROUTES"]

TAG = "reports"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CELLS = {
    "schema": {
        "type": "array",
        "items": {
            "description": "a cell: text, an integer, an amount as a decimal string, an ISO "
            "date, or null (see the column's type)"
        },
    }
}


@attrs.frozen(kw_only=True)
class ReportTypeOut:
    name: str
    title: str
    description: str
    #: The periods the report offers; the first is the default.
    periods: list[str]


@attrs.frozen(kw_only=True)
class ReportColumn:
    key: str
    label: str
    #: text, integer, money, percent (a fraction), decimal, date or duration (seconds).
    type: str


@attrs.frozen(kw_only=True)
class ReportChart:
    #: bar, line or pie.
    kind: str
    title: str
    label_column: str
    value_columns: list[str]
    #: "columns": each value column is a series; "rows": each row is one.
    series_in: str


@attrs.frozen(kw_only=True)
class ReportTable:
    title: str
    columns: list[ReportColumn]
    rows: list[list[Any]] = attrs.field(
        metadata={"schema": {"type": "array", "items": _CELLS["schema"]}}
    )
    totals: list[Any] | None = attrs.field(metadata=_CELLS)
    charts: list[ReportChart]


@attrs.frozen(kw_only=True)
class ReportOut:
    """A built report: money in ``currency``, dates in ``time_zone``."""

    name: str
    title: str
    parameters: dict[str, Any] = attrs.field(metadata={"schema": {"type": "object"}})
    first_day: str | None
    last_day: str | None
    generated_at: str
    currency: str
    locale: str
    time_zone: str
    notes: list[str]
    tables: list[ReportTable]


@attrs.frozen(kw_only=True)
class ReportQuery:
    """Which report: its ``name``, one of its ``period`` values (its first by default) and
    the ``managers`` (user ids, repeated; none: everyone)."""

    name: str = UNSET
    period: str = UNSET
    managers: list[str] = UNSET


@attrs.frozen(kw_only=True)
class ReportIn:
    name: str
    period: str = UNSET
    managers: list[str] = UNSET


def _out(result: ReportResult) -> ReportOut:
    data = to_json(result)
    return ReportOut(
        **{k: v for k, v in data.items() if k != "tables"},
        tables=[
            ReportTable(
                title=t["title"],
                columns=[ReportColumn(**c) for c in t["columns"]],
                rows=t["rows"],
                totals=t["totals"],
                charts=[ReportChart(**c) for c in t["charts"]],
            )
            for t in data["tables"]
        ],
    )


def list_report_types(c: Call) -> Sequence[ReportTypeOut]:
    return [
        ReportTypeOut(
            name=t.name, title=t.title, description=t.description, periods=list(t.periods)
        )
        for t in c.s.reports.types()
    ]


def build_report(c: Call) -> ReportOut:
    args = {k: v for k, v in attrs.asdict(c.query).items() if v is not UNSET}
    return _out(c.s.reports.build(args.pop("name", None), **args))


def generate_report(c: Call) -> GeneratedReport:
    args = c.args()
    return c.s.reports.generate(args.pop("name"), **args)  # type: ignore[no-any-return]


def start_report(c: Call) -> Job:
    args = c.args()
    return c.s.reports.start(args.pop("name"), **args)  # type: ignore[no-any-return]


def _job_location(job: Job) -> str:
    return f"/jobs/{job.id}"


def list_reports(c: Call) -> Sequence[GeneratedReport]:
    return c.s.reports.list()  # type: ignore[no-any-return]


def get_report(c: Call) -> GeneratedReport:
    return c.s.reports.get(c.path["report_id"])  # type: ignore[no-any-return]


def download_report(c: Call) -> Download:
    found = c.s.reports.get(c.path["report_id"])
    return Download(c.s.reports.download(found.id), found.content_type, found.file_name)


def delete_report(c: Call) -> None:
    c.s.reports.delete(c.path["report_id"])


def _location(report: GeneratedReport) -> str:
    return f"/reports/{report.id}"


ONE = "/reports/{report_id}"

ROUTES = [
    Route(
        method="GET",
        path="/report-types",
        handler=list_report_types,
        summary="The report types (admins)",
        tag=TAG,
        returns=Items(ReportTypeOut),
        exposes=("reports.types",),
    ),
    Route(
        method="GET",
        path="/report-results",
        handler=build_report,
        summary="Build a report and answer it as JSON, without keeping it (admins)",
        description="Amounts are decimal strings in the CRM's default currency; a currency "
        "without an exchange rate to it answers 409 with code `missing_exchange_rates` and "
        "the `currencies`.",
        tag=TAG,
        query=ReportQuery,
        returns=ReportOut,
        exposes=("reports.build",),
    ),
    Route(
        method="POST",
        path="/reports",
        handler=generate_report,
        summary="Generate a report's .xlsx and keep it for you (admins)",
        tag=TAG,
        body=ReportIn,
        returns=GeneratedReport,
        status=201,
        location=_location,
        exposes=("reports.generate",),
    ),
    Route(
        method="POST",
        path="/reports/jobs",
        handler=start_report,
        summary="Generate a report's .xlsx in the background, as a job (admins)",
        description="Checks the report, period and managers now (422), then answers 202 with "
        "the queued `report` job; follow it at its `Location`. Once it succeeded, the job's "
        "`summary.report_id` names the generated report: download it from "
        "`/reports/{id}/file` (the job has no file of its own).",
        tag=TAG,
        body=ReportIn,
        returns=Job,
        status=202,
        location=_job_location,
        exposes=("reports.start",),
    ),
    Route(
        method="GET",
        path="/reports",
        handler=list_reports,
        summary="Your generated reports, newest first",
        tag=TAG,
        returns=Items(GeneratedReport),
        exposes=("reports.list",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_report,
        summary="One of your generated reports",
        tag=TAG,
        returns=GeneratedReport,
        exposes=("reports.get",),
    ),
    Route(
        method="GET",
        path=ONE + "/file",
        handler=download_report,
        summary="Download one of your generated reports (.xlsx)",
        tag=TAG,
        returns=Download,
        download_type=XLSX,
        exposes=("reports.download",),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_report,
        summary="Delete one of your generated reports",
        tag=TAG,
        current=get_report,
        exposes=("reports.delete",),
    ),
]
