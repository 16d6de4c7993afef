"""Keyset paging shared by every list: the condition after a cursor, and the next cursor.

A cursor's values come back from the client; even signed (see
:class:`opencrm.core.query.CursorKey`), each is checked against its sort key's column type
before it reaches SQL, so a value of the wrong type is a ValidationError on every backend
instead of a driver error on PostgreSQL and a silently odd page on SQLite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Row,
    String,
    bindparam,
    literal,
    tuple_,
)

from opencrm.core.query import Cursor, PageRequest
from opencrm.errors import ValidationError
from opencrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["after_bound", "after_cursor", "after_params", "next_cursor"]


def fits(value: object, key: Any) -> bool:
    """Whether a cursor value can stand for the sort key ``key`` (a labelled column or
    expression); None only for a column that may hold NULL."""
    kind = key.type
    if value is None:
        return bool(getattr(getattr(key, "element", key), "nullable", False))
    if isinstance(kind, UTCDateTime):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            return False
        try:
            value.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            return False
        return True
    if isinstance(kind, Date):
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    if isinstance(kind, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        bits = 63 if isinstance(kind, BigInteger) else 31  # INTEGER is 32 bits on PostgreSQL
        return bool(-(2**bits) <= value < 2**bits)
    return isinstance(value, str) and isinstance(kind, String)


def _checked(keys: Sequence[Any], page: PageRequest) -> tuple[Any, ...]:
    assert page.after is not None
    values = page.after.values
    if len(values) != len(keys) or not all(fits(v, k) for v, k in zip(values, keys, strict=True)):
        raise ValidationError({"after": "is not a cursor of this list and sort"})
    return values


def after_cursor(keys: Sequence[Any], page: PageRequest) -> ColumnElement[bool] | None:
    """The rows after ``page.after`` in the order of ``keys``; None without a cursor."""
    if page.after is None:
        return None
    values = _checked(keys, page)
    bound = tuple_(*[literal(v, type_=k.type) for v, k in zip(values, keys, strict=True)])
    row_keys = tuple_(*keys)
    return row_keys < bound if page.descending else row_keys > bound


def after_bound(keys: Sequence[Any], *, descending: bool) -> ColumnElement[bool]:
    """The rows after the cursor in the order of ``keys``, the cursor's values left as the
    execution parameters ``after_0``, ``after_1``...: for a statement built once and run
    with :func:`after_params`."""
    bound = tuple_(*[bindparam(f"after_{n}", type_=k.type) for n, k in enumerate(keys)])
    row_keys = tuple_(*keys)
    return row_keys < bound if descending else row_keys > bound


def after_params(keys: Sequence[Any], page: PageRequest) -> dict[str, Any]:
    """The execution parameters of :func:`after_bound` for ``page.after``, checked as
    :func:`after_cursor` checks them; empty without a cursor."""
    if page.after is None:
        return {}
    return {f"after_{n}": v for n, v in enumerate(_checked(keys, page))}


def next_cursor(last: Row[Any] | None, keys: Sequence[Any], page: PageRequest) -> Cursor | None:
    """The cursor after ``last`` (the last row of a page that has more; None: no next page),
    whose final values are the ``keys``; it names the sort as asked for (``-name``)."""
    if last is None:
        return None
    sort = f"-{page.sort}" if page.descending else page.sort
    return Cursor(sort, tuple(last[-len(keys) :]))
