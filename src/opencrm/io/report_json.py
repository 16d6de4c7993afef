"""The JSON renderer of a :class:`~opencrm.core.reports.ReportResult` (for the HTTP API and
a future web UI): plain data, amounts as exact decimal strings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from opencrm.core.reports import ReportResult

__all__ = ["to_json"]


def _json_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def to_json(result: ReportResult) -> dict[str, Any]:
    """The result as JSON-ready data: amounts as decimal strings ("1234.50"), dates as ISO
    8601, every table with its typed columns, rows, totals and chart hints."""
    return {
        "name": result.name,
        "title": result.title,
        "parameters": dict(result.parameters),
        "first_day": _json_cell(result.first_day),
        "last_day": _json_cell(result.last_day),
        "generated_at": result.generated_at.isoformat(),
        "currency": result.currency,
        "locale": result.locale,
        "time_zone": result.time_zone,
        "notes": list(result.notes),
        "tables": [
            {
                "title": t.title,
                "columns": [
                    {"key": c.key, "label": c.label, "type": str(c.type)} for c in t.columns
                ],
                "rows": [[_json_cell(v) for v in r] for r in t.rows],
                "totals": None if t.totals is None else [_json_cell(v) for v in t.totals],
                "charts": [
                    {
                        "kind": str(c.kind),
                        "title": c.title,
                        "label_column": c.label_column,
                        "value_columns": list(c.value_columns),
                        "series_in": c.series_in,
                    }
                    for c in t.charts
                ],
            }
            for t in result.tables
        ],
    }
