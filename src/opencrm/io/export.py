"""Exports: the filtered list a user sees as CSV or XLSX, and the admin's full export as a ZIP
of CSV files; streamed in keyset-paged batches (one page of records in memory at a time).

:func:`stream_export` and :func:`stream_full_export` yield the file's bytes directly (small
exports, the CLI); ``session.exports.start`` runs the same code as a job (the ``export`` and
``full_export`` kinds registered here) whose result file is the export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from opencrm.core.jobs import JobRun, StopJob
from opencrm.core.services.exports import check_export, decode_filters
from opencrm.errors import PermissionDenied
from opencrm.io._writers import csv_chunks, xlsx_chunks, zip_chunks
from opencrm.io.columns import Sheet, sheet_for

__all__ = [
    "CONTENT_TYPES",
    "FULL_EXPORT_FILES",
    "PAGE_SIZE",
    "export_filename",
    "records",
    "register_kinds",
    "stream_export",
    "stream_full_export",
]

#: Records read per page (one transaction each).
PAGE_SIZE = 500
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}
#: The files of the full export, in order: (file name, entity).
FULL_EXPORT_FILES = (
    ("contacts.csv", "contacts"),
    ("opportunities.csv", "opportunities"),
    ("cases.csv", "cases"),
    ("tasks.csv", "tasks"),
    ("history.csv", "history"),
    ("products.csv", "products"),
    ("invoices.csv", "invoices"),
)

Progress = Callable[[int, "int | None"], None]
ShouldStop = Callable[[], bool]


def export_filename(entity: str, format: str) -> str:
    return f"{entity}.{format}"


def records(
    session: Any,
    entity: str,
    *,
    sort: str | None = None,
    page_size: int = PAGE_SIZE,
    should_stop: ShouldStop | None = None,
    **filters: Any,
) -> Iterator[Any]:
    """Every record of ``session.<entity>.list(**filters)``, page after page (keyset cursor);
    ``should_stop`` is asked before each page (True raises :class:`StopJob`)."""
    for page in pages(
        session, entity, sort=sort, page_size=page_size, should_stop=should_stop, **filters
    ):
        yield from page


def pages(
    session: Any,
    entity: str,
    *,
    sort: str | None = None,
    page_size: int = PAGE_SIZE,
    should_stop: ShouldStop | None = None,
    **filters: Any,
) -> Iterator[Sequence[Any]]:
    """The pages of :func:`records`."""
    service = getattr(session, entity)
    if entity == "products":  # a short list, not paged
        yield service.list()
        return
    paging: dict[str, Any] = {} if sort is None else {"sort": sort}
    after: str | None = None
    while True:
        if should_stop is not None and should_stop():
            raise StopJob
        page = service.list(limit=page_size, after=after, **paging, **filters)
        yield page.items
        after = page.next_cursor
        if after is None:
            return


def _rows(
    sheet: Sheet,
    batches: Iterator[Sequence[Any]],
    progress: Progress | None,
    total: int | None,
    start: int = 0,
) -> Iterator[list[Any]]:
    """The rows of every page, the page's linked names looked up first; ``progress`` after
    each page."""
    done = start
    if progress is not None:
        progress(done, total)
    for batch in batches:
        sheet.prefetch(batch)
        for record in batch:
            yield sheet.row(record)
        done += len(batch)
        if progress is not None:
            progress(done, total)


def stream_export(
    session: Any,
    entity: str,
    format: str = "csv",
    *,
    sort: str | None = None,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    **filters: Any,
) -> Iterator[bytes]:
    """The ``entity`` list (``contacts``, ``opportunities``, ``tasks``, ``cases``,
    ``invoices``) the session's user can see, filtered as its ``list``, as CSV or XLSX bytes
    in chunks. ``progress(done, total)`` is called every page."""
    check_export(entity, format)
    sheet = sheet_for(entity, session)
    total = getattr(session, entity).count(**filters) if progress is not None else None
    batches = pages(
        session, entity, sort=sort, page_size=page_size, should_stop=should_stop, **filters
    )
    rows = _rows(sheet, batches, progress, total)
    if format == "xlsx":
        yield from xlsx_chunks(sheet.header, rows, title=entity.capitalize())
    else:
        yield from csv_chunks(sheet.header, rows)


def stream_full_export(
    session: Any,
    *,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> Iterator[bytes]:
    """Everything (CRM admins only), as a ZIP of one CSV per entity (see
    :data:`FULL_EXPORT_FILES`), in chunks."""
    if not session.user.crm_admin:
        raise PermissionDenied("only a CRM admin may export all data")
    total: int | None = None
    if progress is not None:
        total = sum(
            len(session.products.list()) if e == "products" else getattr(session, e).count()
            for _, e in FULL_EXPORT_FILES
        )
    done = [0]

    def tick(n: int, _total: int | None) -> None:
        done[0] = n
        if progress is not None:
            progress(n, total)

    def members() -> Iterator[tuple[str, list[str], Iterator[list[Any]]]]:
        for name, entity in FULL_EXPORT_FILES:
            sheet = sheet_for(entity, session)
            batches = pages(session, entity, page_size=page_size, should_stop=should_stop)
            yield name, sheet.header, _rows(sheet, batches, tick, total, start=done[0])

    yield from zip_chunks(members())


def _export_kind(run: JobRun) -> Mapping[str, Any]:
    params = run.params
    entity, format = str(params["entity"]), str(params["format"])
    filters = decode_filters(params.get("filters") or {})
    rows = [0]

    def progress(done: int, total: int | None) -> None:
        rows[0] = done
        run.progress(done, total)

    chunks = stream_export(
        run.session,
        entity,
        format,
        sort=params.get("sort"),
        progress=progress,
        should_stop=run.stop_requested,
        **filters,
    )
    result = run.save_result(export_filename(entity, format), CONTENT_TYPES[format], chunks)
    return {"entity": entity, "format": format, "rows": rows[0], "bytes": result.size}


def _full_export_kind(run: JobRun) -> Mapping[str, Any]:
    rows = [0]

    def progress(done: int, total: int | None) -> None:
        rows[0] = done
        run.progress(done, total)

    chunks = stream_full_export(run.session, progress=progress, should_stop=run.stop_requested)
    result = run.save_result("opencrm-export.zip", CONTENT_TYPES["zip"], chunks)
    return {"rows": rows[0], "files": [n for n, _ in FULL_EXPORT_FILES], "bytes": result.size}


def register_kinds(runner: Any) -> None:
    """Register the ``export`` and ``full_export`` job kinds with a CRM's ``jobs``."""
    runner.register("export", _export_kind)
    runner.register("full_export", _full_export_kind)
