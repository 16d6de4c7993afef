"""A record's related rows as one JSON array column of the record's own SELECT.

A list page used to send its main SELECT and then one query per child table (managers,
tags, infos, custom values...), each with the page's ids: five round trips and five times
SQLAlchemy's per-statement work for one page. A correlated subquery that aggregates the
children into a JSON array (``json_group_array`` on SQLite, ``json_agg`` on PostgreSQL)
brings them with the record in one statement. The array arrives as text on both backends
and is decoded with :func:`json.loads`, so both give the same Python values (numbers stay
ints, strings stay exactly as stored).

Aggregates see rows in an unspecified order: callers that need an order sort the decoded
items themselves (a page holds a few children per record).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, cast, func, literal_column, select, type_coerce
from sqlalchemy.sql.elements import Label

__all__ = [
    "PAGE_ID",
    "decoded",
    "decoded_rows",
    "json_array_of",
    "json_record",
    "rows_of_page",
]

#: The label of the record id in a page query given to :func:`rows_of_page`.
PAGE_ID = "page_id"


def json_array_of(
    dialect: str,
    columns: Sequence[Any],
    *where: ColumnElement[bool],
    source: Any = None,
) -> Any:
    """A scalar subquery: the JSON array of ``columns`` over the rows of ``source`` matching
    ``where``. One column gives an array of its values, several an array of arrays (one per
    row, in the order of ``columns``). NULL or ``[]`` when there is no row."""
    if dialect == "postgresql":
        item = columns[0] if len(columns) == 1 else func.json_build_array(*columns)
        aggregate: Any = func.json_agg(item)
    else:
        item = columns[0] if len(columns) == 1 else func.json_array(*columns)
        aggregate = func.json_group_array(item)
    query = select(aggregate)
    if source is not None:
        query = query.select_from(source)
    return query.where(*where).scalar_subquery()


def json_record(dialect: str, name: str, arrays: Sequence[Any]) -> Label[Any]:
    """One text column ``name``: a JSON array holding each of ``arrays`` (made by
    :func:`json_array_of`), decoded with a single :func:`json.loads` per row. An empty
    array may read as ``[]`` or ``null``."""
    if dialect == "postgresql":
        return cast(func.json_build_array(*arrays), Text).label(name)
    # SQLite: the arrays are JSON text already (json_group_array is never NULL), joined as
    # text; json_array(json(a), ...) would parse each of them again.
    record: ColumnElement[str] = literal_column("'['", Text)
    for n, array in enumerate(arrays):
        if n:
            record = record.concat(literal_column("','", Text))
        record = record.concat(type_coerce(array, Text))
    return record.concat(literal_column("']'", Text)).label(name)


def rows_of_page(
    table: Table, page: Any, keys: Sequence[Any], related: Any, *, descending: bool
) -> Any:
    """``SELECT table.*, related, the sort keys FROM (page) JOIN table ORDER BY the keys``.

    ``page`` is the page query, ordered and limited, selecting the record id labelled
    :data:`PAGE_ID` and the sort ``keys``: its rows are chosen first, then the rows of
    ``table`` are read by primary key and ``related`` (correlated to ``table``) computed for
    those rows only. In the page query itself, a plan that sorts (a text search's union, a
    sort no index serves) would compute the related arrays of every candidate row before
    keeping the page's. The sort keys stay the last columns, where
    :func:`~opencrm.storage.sqlalchemy.paging.next_cursor` reads them."""
    sub = page.subquery("page")
    ordered = [sub.c[k.name] for k in keys]
    order = [k.desc() if descending else k.asc() for k in ordered]
    return (
        select(table, related, *ordered)
        .select_from(sub.join(table, table.c.id == sub.c[PAGE_ID]))
        .order_by(*order)
    )


def decoded(value: str | None) -> list[Any]:
    """The arrays of a :func:`json_record` column (empty ones as ``[]`` or None)."""
    return json.loads(value) if value else []


def decoded_rows(values: Sequence[str | None]) -> list[list[Any]]:
    """:func:`decoded` for the ``related`` column of every row of a page, with one
    :func:`json.loads` for the page: a call per row cost three times as much."""
    if all(values):
        return json.loads("[" + ",".join(values) + "]")  # type: ignore[arg-type, no-any-return]
    return [decoded(v) for v in values]
