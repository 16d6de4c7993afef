"""Imports as jobs: the ``import`` job kind reads the file ``session.imports.start`` stored
and runs the import with the job's progress and cancellation; its summary is the report."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from opencrm.core.imports import ImportReport
from opencrm.core.jobs import JobRun
from opencrm.io.readers import open_rows

__all__ = ["register_kinds", "report_summary"]


def report_summary(report: ImportReport) -> dict[str, Any]:
    """An import's report as a job's JSON summary: the counts, each issue as ``row``,
    ``column``, ``reason`` and ``outcome``, the id ranges, and where it stopped."""
    return {
        "kind": report.kind,
        "dry_run": report.dry_run,
        **report.counts(),
        "issues": [
            {"row": i.row, "column": i.column, "reason": i.reason, "outcome": i.outcome}
            for i in report.issues
        ],
        "issues_left_off": report.issues_left_off,
        "created_ids": [list(r) for r in report.created_ids],
        "updated_ids": [list(r) for r in report.updated_ids],
        "cancelled": report.cancelled,
        "stopped_at": report.stopped_at,
        "committed": report.committed,
    }


def _stored_chunks(store: Any, file_id: str) -> Iterator[bytes]:
    opener = getattr(store, "open_stream", None)
    if opener is not None:
        yield from opener(file_id)
    else:
        yield store.open(file_id)


def _import_kind(run: JobRun) -> Mapping[str, Any]:
    params = run.params
    ctx = run.session.imports._s._ctx
    store = ctx.file_store
    # A dry run or an all-or-nothing import is one transaction: on SQLite (one writer at a
    # time) the job's progress cannot be written beside it, so it is written at the end.
    engine = getattr(ctx.crm, "engine", None)
    single = bool(params["dry_run"] or params["atomic"])
    quiet = single and getattr(getattr(engine, "dialect", None), "name", "") == "sqlite"
    file_id = str(params["file_id"])
    filename = str(params["filename"])
    # The reader wants a seekable file (XLSX is a ZIP): a local copy, removed at the end.
    suffix = os.path.splitext(filename)[1][:16]
    fd, path = tempfile.mkstemp(prefix="opencrm-import-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in _stored_chunks(store, file_id):
                fh.write(chunk)
        rows = open_rows(path, filename=filename, **dict(params.get("reader") or {}))

        def progress(p: Any) -> None:
            if not quiet:
                run.progress(p.rows, None)

        report = run.session.imports.run(
            str(params["kind"]),
            rows,
            params["mapping"],
            defaults=params.get("defaults") or None,
            on_duplicate=params["on_duplicate"],
            dry_run=bool(params["dry_run"]),
            atomic=bool(params["atomic"]),
            create_missing=bool(params["create_missing"]),
            tag_separator=str(params["tag_separator"]),
            batch_size=int(params["batch_size"]),
            max_issues=int(params["max_issues"]),
            progress=progress,
            should_stop=run.stop_requested,
        )
        run.progress(report.rows, report.rows)
        return report_summary(report)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        # The upload is needed by this run only: it goes whatever the outcome.
        with contextlib.suppress(Exception):
            store.delete(file_id)


def register_kinds(runner: Any) -> None:
    """Register the ``import`` job kind with a CRM's ``jobs``."""
    runner.register("import", _import_kind)
