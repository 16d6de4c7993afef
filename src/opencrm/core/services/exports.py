"""Exports as jobs: the filtered list a user can see (CSV or XLSX), and the admin's full export
(a ZIP of one CSV per entity). The files are written by the ``export`` and ``full_export``
job kinds of :mod:`opencrm.io.export`; this service checks the request and starts the job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from opencrm.core.jobs import Job
from opencrm.core.services._base import Service
from opencrm.core.services.jobs import start_job
from opencrm.errors import PermissionDenied, ValidationError

__all__ = [
    "EXPORT_ENTITIES",
    "EXPORT_FORMATS",
    "ExportService",
    "decode_filters",
    "encode_filters",
]

#: What a user may export, by the name of its session service.
EXPORT_ENTITIES = ("contacts", "opportunities", "tasks", "cases", "invoices")
#: The formats of a list export.
EXPORT_FORMATS = ("csv", "xlsx")


def check_export(entity: object, format: object) -> None:
    """Refuse an unknown entity or format (before any work starts)."""
    errors = {}
    if entity not in EXPORT_ENTITIES:
        errors["entity"] = f"must be one of {', '.join(EXPORT_ENTITIES)}"
    if format not in EXPORT_FORMATS:
        errors["format"] = f"must be one of {', '.join(EXPORT_FORMATS)}"
    if errors:
        raise ValidationError(errors)


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_encode(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if hasattr(value, "id") and isinstance(value.id, int):  # a record given for its id
        return value.id
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, raw),) = value.items()
            if tag == "$datetime":
                return dt.datetime.fromisoformat(raw)
            if tag == "$date":
                return dt.date.fromisoformat(raw)
            if tag == "$decimal":
                return Decimal(raw)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def encode_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """List filters as JSON-able job parameters (dates, datetimes and decimals tagged, sets
    as lists, records as their ids); :func:`decode_filters` undoes it."""
    return {str(k): _encode(v) for k, v in filters.items()}


def decode_filters(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _decode(v) for k, v in raw.items()}


class ExportService:
    """Start exports; follow and download them through ``session.jobs``.

    Reached as ``session.exports``.
    """

    def __init__(self, service: Service, session: Any) -> None:
        self._s = service
        self._session = session

    def start(
        self, entity: str, *, format: str = "csv", sort: str | None = None, **filters: Any
    ) -> Job:
        """Start exporting the ``entity`` list (``contacts``, ``opportunities``, ``tasks``,
        ``cases`` or ``invoices``) as the user sees it: the same ``filters`` and ``sort`` as
        that service's ``list``, every column of :doc:`import-export`. Return the queued job;
        its result file is the export. Filters are checked now, so a bad one is a
        ValidationError here rather than a failed job."""
        check_export(entity, format)
        paged = sorted({"limit", "after"} & set(filters))
        if paged:
            # The list's paging, not a filter: an export holds the whole list.
            raise ValidationError(dict.fromkeys(paged, "is not a filter of an export"))
        paging: dict[str, Any] = {} if sort is None else {"sort": sort}
        getattr(self._session, entity).list(limit=1, **paging, **filters)
        params = {
            "entity": entity,
            "format": format,
            "sort": sort,
            "filters": encode_filters(filters),
        }
        return start_job(self._s, "export", params)

    def start_full(self) -> Job:
        """Start the full export (CRM admins only): a ZIP with one CSV per entity (contacts,
        opportunities, cases, tasks, history, products, invoices)."""
        if not self._s._actor.crm_admin:
            raise PermissionDenied("only a CRM admin may export all data")
        return start_job(self._s, "full_export", {})
