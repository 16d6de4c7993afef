"""Imports: upload a CSV or XLSX file with its mapping; get the dry run's or the import's
report at once (small files), or start the import as a job (202 + the job's Location) and
follow it under ``/jobs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opencrm.core.imports import ImportReport
from opencrm.core.jobs import Job
from opencrm.errors import ValidationError
from opencrm.http._api import Call, Route
from opencrm.io import open_rows

__all__ = ["ROUTES"]

TAG = "imports"

_TEXT_OPTIONS = ("on_duplicate", "tag_separator")
_READER_OPTIONS = ("encoding", "delimiter", "quotechar", "sheet")
_FLAGS = ("dry_run", "atomic", "create_missing")
_KNOWN = {"mapping", "defaults", *_TEXT_OPTIONS, *_READER_OPTIONS, *_FLAGS}


def _one(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name, ())
    if len(values) > 1:
        raise ValidationError({name: "send this form field once"})
    return values[0] if values else None


def _json_object(form: Mapping[str, Sequence[str]], name: str, required: bool) -> Any:
    raw = _one(form, name)
    if raw is None:
        if required:
            raise ValidationError({name: "is required: a JSON object"})
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValidationError({name: "must be a JSON object"}) from None
    if not isinstance(value, dict):
        raise ValidationError({name: "must be a JSON object"})
    return value


def _flag(form: Mapping[str, Sequence[str]], name: str) -> bool | None:
    raw = _one(form, name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "on", "yes"):
        return True
    if raw.lower() in ("false", "0", "off", "no"):
        return False
    raise ValidationError({name: "must be true or false"})


def _mapping(form: Mapping[str, Sequence[str]]) -> Any:
    """The ``mapping`` field: a JSON object, or ``export`` (the file is our export)."""
    if _one(form, "mapping") == "export":
        return "export"
    return _json_object(form, "mapping", required=True)


def _options(c: Call) -> tuple[dict[str, str], dict[str, Any]]:
    """The reader's options and the import's options of the form."""
    form = c.form
    unknown = sorted(set(form) - _KNOWN - {"file"})
    if unknown:
        shown = ", ".join(ascii(name) for name in unknown)
        raise ValidationError({"form": f"fields that are no import option: {shown}"})
    reader_options = {n: v for n in _READER_OPTIONS if (v := _one(form, n)) is not None}
    options: dict[str, Any] = {n: v for n in _TEXT_OPTIONS if (v := _one(form, n)) is not None}
    options.update({n: f for n in _FLAGS if (f := _flag(form, n)) is not None})
    options["mapping"] = _mapping(form)
    options["defaults"] = _json_object(form, "defaults", required=False)
    return reader_options, options


def _run(kind: str, c: Call) -> ImportReport:
    reader_options, options = _options(c)
    upload = c.upload()
    rows = open_rows(upload.stream, filename=upload.filename, **reader_options)
    mapping = options.pop("mapping")
    return c.s.imports.run(kind, rows, mapping, **options)  # type: ignore[no-any-return]


def _start(kind: str, c: Call) -> Job:
    reader_options, options = _options(c)
    upload = c.upload()
    mapping = options.pop("mapping")
    return c.s.imports.start(  # type: ignore[no-any-return]
        kind,
        upload.stream,
        mapping,
        filename=upload.filename or "import.csv",
        reader=reader_options,
        **options,
    )


def _handlers(kind: str) -> tuple[Callable[[Call], ImportReport], Callable[[Call], Job]]:
    """The handlers of ``kind``'s two routes, ``import_<kind>`` (the report at once) and
    ``start_<kind>_import`` (the job); their names are the API's operation ids."""

    def run(c: Call) -> ImportReport:
        return _run(kind, c)

    def start(c: Call) -> Job:
        return _start(kind, c)

    run.__name__ = run.__qualname__ = f"import_{kind}"
    start.__name__ = start.__qualname__ = f"start_{kind}_import"
    return run, start


import_contacts, start_contacts_import = _handlers("contacts")
import_opportunities, start_opportunities_import = _handlers("opportunities")
import_tasks, start_tasks_import = _handlers("tasks")
import_cases, start_cases_import = _handlers("cases")


def _job_location(job: Job) -> str:
    return f"/jobs/{job.id}"


def _routes(
    kind: str,
    handlers: tuple[Callable[[Call], ImportReport], Callable[[Call], Job]],
    description: str,
    *,
    start_summary: str = "",
    start_description: str = "",
) -> tuple[Route, Route]:
    """The routes of an import of ``kind``: ``POST /imports/<kind>`` answers with the
    report, ``POST /imports/<kind>/jobs`` with the queued job (202; summary and description
    as for every kind but contacts unless given)."""
    run, start = handlers
    return (
        Route(
            method="POST",
            path=f"/imports/{kind}",
            handler=run,
            summary=f"Import {kind} from a CSV or XLSX file (multipart field `file`)",
            description=description,
            tag=TAG,
            upload=True,
            returns=ImportReport,
            exposes=("imports.run",),
        ),
        Route(
            method="POST",
            path=f"/imports/{kind}/jobs",
            handler=start,
            summary=start_summary or f"Start importing {kind} from a CSV or XLSX file as a job",
            description=start_description
            or f"The form of `POST /imports/{kind}`; answers 202 with the job, as "
            "`POST /imports/contacts/jobs` does.",
            tag=TAG,
            upload=True,
            returns=Job,
            status=202,
            location=_job_location,
            exposes=("imports.start",),
        ),
    )


ROUTES: tuple[Route, ...] = (
    *_routes(
        "contacts",
        (import_contacts, start_contacts_import),
        "Form fields besides `file`: `mapping` (JSON object: field -> column(s)), "
        "`defaults` (JSON object: managers, access, tags, contact_type, temperature), "
        "`on_duplicate` (skip, update, create), `dry_run`, `atomic`, `create_missing` "
        "(true/false), `tag_separator`; for CSV `encoding`, `delimiter`, `quotechar`; for "
        "XLSX `sheet`. `on_duplicate=update` matches by `id` when the file maps it "
        "(`mapping=export` maps our export's `Id`). Answers with the report: counts, and "
        "each rejected row's number, column and reason. A dry run writes nothing and "
        "reports exactly what the import would. The file is bounded by the API's upload "
        "limit.",
        start_summary="Start importing contacts from a CSV or XLSX file as a job (large files)",
        start_description="The same multipart form as `POST /imports/contacts`. Answers 202 "
        "with the queued job; follow it at its `Location` (`/jobs/{id}`): its progress counts "
        "rows, `POST /jobs/{id}/cancel` stops the import between batches (what was "
        "committed stays), and once it has ended its `summary` is the report (at most 1,000 "
        "row issues; `issues_left_off` counts the rest). Its owner is told when it ends.",
    ),
    *_routes(
        "opportunities",
        (import_opportunities, start_opportunities_import),
        "The form of `POST /imports/contacts`; the mapping names opportunity "
        "fields (id, title, stage, budget, currency, contact, members...) and `defaults` "
        "takes responsible, restricted, access_list, tags. A duplicate has the same title and "
        "main contact; `on_duplicate=update` matches by `id` when the file maps it.",
    ),
    *_routes(
        "tasks",
        (import_tasks, start_tasks_import),
        "The form of `POST /imports/contacts`; the mapping names task fields "
        "(id, title, due, category, responsible, contact, contact_id, opportunity_id, "
        "case_id, description, alert, closed, closed_at) and `defaults` takes responsible, "
        "category, alert. A due time without a zone is in the CRM's time zone. A duplicate "
        "has the same title, due time, responsible and contact; `on_duplicate=update` "
        "matches by `id` when the file maps it.",
    ),
    *_routes(
        "cases",
        (import_cases, start_cases_import),
        "The form of `POST /imports/contacts`; the mapping names case fields "
        "(id, title, members, member_ids, tags, closed, custom:<field>) and `defaults` takes "
        "restricted, access_list, tags. A duplicate has the same title; "
        "`on_duplicate=update` matches by `id` when the file maps it.",
    ),
)
