"""JSON-ready snapshots of entities for events and the audit trail (a private cattrs converter)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs
import cattrs
from moneyed import Money

_converter = cattrs.Converter()
_converter.register_unstructure_hook(dt.datetime, lambda v: v.isoformat())
_converter.register_unstructure_hook(dt.date, lambda v: v.isoformat())
_converter.register_unstructure_hook(frozenset, lambda v: sorted(v))
_converter.register_unstructure_hook(Enum, lambda v: v.value)
# Decimals (rates, quantities, percentages) as exact text, never floats.
_converter.register_unstructure_hook(Decimal, str)
# Money as exact text: a float would lose cents in the audit trail.
_converter.register_unstructure_hook(
    Money, lambda v: {"amount": str(v.amount), "currency": v.currency.code}
)
_converter.register_unstructure_hook_func(
    lambda t: t is Mapping or getattr(t, "__origin__", None) is Mapping,
    lambda v: {str(k): _converter.unstructure(x) for k, x in v.items()},
)


def snapshot(entity: object) -> dict[str, Any]:
    """Unstructure an attrs entity to plain JSON types, with its kind for polymorphic types."""
    data: dict[str, Any] = _converter.unstructure(entity, unstructure_as=type(entity))
    if isinstance(data, dict):
        data = {k: _plain(v) for k, v in data.items()}
        kind = getattr(entity, "kind", None)
        if isinstance(kind, str):
            data["kind"] = kind
    return data


#: Exact types passed through as they are (checked first: most values of a snapshot are).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if attrs.has(type(value)):
        return snapshot(value)
    return value
