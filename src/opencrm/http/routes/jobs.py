"""Jobs and exports: start an export (202 with the job and its Location), follow the job,
cancel it, download its file (streamed), delete it."""

from __future__ import annotations

from typing import Any

import attrs

from opencrm.core.jobs import Job
from opencrm.core.query import Page
from opencrm.http._api import Call, Download, Listing, Route
from opencrm.http._convert import UNSET, given
from opencrm.http.routes.activities import TaskQuery
from opencrm.http.routes.contacts import ContactQuery
from opencrm.http.routes.deals import CaseQuery, OpportunityQuery
from opencrm.http.routes.invoices import InvoiceQuery

__all__ = ["ROUTES"]

JOBS = "jobs"
_FORMAT = {"description": "csv (default) or xlsx"}


@attrs.frozen(kw_only=True)
class JobQuery:
    sort: str = UNSET
    limit: int = UNSET
    after: str = UNSET
    #: Admins: only this user's jobs.
    owner: str = UNSET


@attrs.frozen(kw_only=True)
class ContactExportQuery(ContactQuery):
    format: str = attrs.field(default=UNSET, metadata=_FORMAT)


@attrs.frozen(kw_only=True)
class OpportunityExportQuery(OpportunityQuery):
    format: str = attrs.field(default=UNSET, metadata=_FORMAT)


@attrs.frozen(kw_only=True)
class TaskExportQuery(TaskQuery):
    format: str = attrs.field(default=UNSET, metadata=_FORMAT)


@attrs.frozen(kw_only=True)
class CaseExportQuery(CaseQuery):
    format: str = attrs.field(default=UNSET, metadata=_FORMAT)


@attrs.frozen(kw_only=True)
class InvoiceExportQuery(InvoiceQuery):
    format: str = attrs.field(default=UNSET, metadata=_FORMAT)


def list_jobs(c: Call) -> Page[Job]:
    return c.s.jobs.list(**given(c.query))  # type: ignore[no-any-return]


def get_job(c: Call) -> Job:
    return c.s.jobs.get(c.path["job_id"])  # type: ignore[no-any-return]


def cancel_job(c: Call) -> Job:
    return c.s.jobs.cancel(c.path["job_id"])  # type: ignore[no-any-return]


def download_job_file(c: Call) -> Download:
    file = c.s.jobs.download(c.path["job_id"])
    return Download(file.chunks, file.content_type, file.filename, size=file.size)


def delete_job(c: Call) -> None:
    c.s.jobs.delete(c.path["job_id"])


def _job_location(job: Job) -> str:
    return f"/jobs/{job.id}"


def _starter(entity: str) -> Any:
    def start(c: Call) -> Job:
        filters = c.filters()
        fmt = filters.pop("format", "csv")
        sort = getattr(c.query, "sort", UNSET)
        return c.s.exports.start(  # type: ignore[no-any-return]
            entity, format=fmt, sort=None if sort is UNSET else sort, **filters
        )

    start.__name__ = f"export_{entity}"
    return start


def start_full_export(c: Call) -> Job:
    return c.s.exports.start_full()  # type: ignore[no-any-return]


_EXPORTS: tuple[tuple[str, type], ...] = (
    ("contacts", ContactExportQuery),
    ("opportunities", OpportunityExportQuery),
    ("tasks", TaskExportQuery),
    ("cases", CaseExportQuery),
    ("invoices", InvoiceExportQuery),
)

ONE = "/jobs/{job_id}"

ROUTES = [
    *[
        Route(
            method="POST",
            path=f"/exports/{entity}",
            handler=_starter(entity),
            summary=f"Start exporting the {entity} you can see (CSV or XLSX) as a job",
            description=f"Takes the filters and sort of `GET /{entity}` as query parameters, "
            "and `format` (`csv` or `xlsx`). Answers 202 with the queued job; follow it at "
            "its `Location` and download the file from `/jobs/{id}/file` once it succeeded.",
            tag=JOBS,
            query=query,
            returns=Job,
            status=202,
            location=_job_location,
            exposes=("exports.start",),
        )
        for entity, query in _EXPORTS
    ],
    Route(
        method="POST",
        path="/exports/all",
        handler=start_full_export,
        summary="Start the full export: a ZIP of one CSV per entity (admins)",
        tag=JOBS,
        returns=Job,
        status=202,
        location=_job_location,
        exposes=("exports.start_full",),
    ),
    Route(
        method="GET",
        path="/jobs",
        handler=list_jobs,
        summary="List your jobs, newest first (admins: everyone's, or one `owner`'s)",
        tag=JOBS,
        query=JobQuery,
        returns=Listing(Job),
        exposes=("jobs.list",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_job,
        summary="Read a job: status, progress, summary, error, result file",
        tag=JOBS,
        returns=Job,
        exposes=("jobs.get",),
    ),
    Route(
        method="POST",
        path=ONE + "/cancel",
        handler=cancel_job,
        summary="Ask a job to stop (a queued or stalled one stops at once)",
        tag=JOBS,
        returns=Job,
        exposes=("jobs.cancel",),
    ),
    Route(
        method="GET",
        path=ONE + "/file",
        handler=download_job_file,
        summary="Download the result file of a job (streamed, always as an attachment)",
        tag=JOBS,
        returns=Download,
        download_type="*/*",
        exposes=("jobs.download",),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_job,
        summary="Delete a finished job and its file",
        tag=JOBS,
        current=get_job,
        exposes=("jobs.delete",),
    ),
]
