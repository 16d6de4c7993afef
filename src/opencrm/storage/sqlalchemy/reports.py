"""Report aggregates in SQL: each :class:`~opencrm.core.reports.Aggregate` becomes one
``SELECT ... GROUP BY`` over an allow-listed source; no record is loaded into Python."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    FromClause,
    Integer,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from opencrm.core.reports._query import Aggregate, Filtered, Where
from opencrm.storage.sqlalchemy import tables as t

__all__ = ["SqlReportQueries"]

Expr = ColumnElement[Any]
Condition = Callable[..., Expr]


@attrs.frozen
class _Source:
    from_: FromClause
    fields: dict[str, Expr]
    measures: dict[str, Expr]
    where: dict[str, Condition]
    #: The first column of the source's covering ix_*_report index.
    lead: str


def _plus(column: Expr) -> Expr:
    """``+column``: the same value, which SQLite's planner cannot look up in an index."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


#: Ranges longer than this are scanned on SQLite (see _between).
_INDEXED_RANGE = dt.timedelta(days=31)


def _between(column: Expr, sqlite: bool = False) -> Condition:
    """A half-open instant range [start, end) or an inclusive date range [first, last].

    On SQLite a range longer than a month is read from the covering ``ix_*_report`` index
    rather than through the column's own index, which would visit each row of a quarter or
    a year one by one (2.5 times slower for a year; a week stays on the column's index).
    """

    def condition(low: Any, high: Any) -> Expr:
        target = _plus(column) if sqlite and high - low > _INDEXED_RANGE else column
        if isinstance(low, dt.datetime):
            return and_(target >= low, target < high)
        return and_(target >= low, target <= high)

    return condition


def _among(column: Expr) -> Condition:
    return lambda *values: column.in_(values)


def _day_of(conn: Connection, instant: Expr) -> Expr:
    """The UTC calendar date of a stored instant, comparable with a Date column."""
    if conn.dialect.name == "postgresql":
        return cast(func.timezone("UTC", instant), Date)
    return func.date(instant)


def _days_between(conn: Connection, first: Expr, last: Expr) -> Expr:
    if conn.dialect.name == "postgresql":
        return cast(last - first, Integer)
    return cast(func.julianday(last) - func.julianday(first), Integer)


def _sources(conn: Connection) -> dict[str, _Source]:
    sqlite = conn.dialect.name == "sqlite"

    def _range(column: Expr) -> Condition:
        return _between(column, sqlite)

    o, st = t.opportunities, t.opportunity_stages
    won = st.c.stage_type == "won"
    created_day = _day_of(conn, o.c.created_at)
    opportunities = _Source(
        from_=o.join(st, st.c.id == o.c.stage_id),
        lead="responsible",
        fields={
            "responsible": o.c.responsible,
            "created_by": o.c.created_by,
            "currency": o.c.currency,
            "stage_id": o.c.stage_id,
            "stage_type": st.c.stage_type,
            "created_at": o.c.created_at,
            "actual_close": o.c.actual_close,
            "expected_close": o.c.expected_close,
        },
        # per-row expressions; a measure is their SUM (over the rows a Filtered keeps)
        measures={
            "count": literal(1),
            "value": o.c.value_key,
            "weighted": o.c.value_key * o.c.probability,
            "won_days": case(
                (
                    and_(won, o.c.actual_close.is_not(None)),
                    _days_between(conn, created_day, o.c.actual_close),
                ),
                else_=0,
            ),
        },
        where={
            "created": _range(o.c.created_at),
            "closed": _range(o.c.actual_close),
            "expected": _range(o.c.expected_close),
            "created_or_closed": lambda start, end, first, last: or_(
                and_(o.c.created_at >= start, o.c.created_at < end),
                and_(o.c.actual_close >= first, o.c.actual_close <= last),
            ),
            "stage_type": _among(st.c.stage_type),
            "responsible": _among(o.c.responsible),
            "overdue": lambda today: or_(
                and_(st.c.stage_type == "open", o.c.expected_close < today),
                and_(won, o.c.actual_close > o.c.expected_close),
            ),
        },
    )
    c = t.contacts
    has_deal = exists().where(o.c.contact_id == c.c.id)
    contacts = _Source(
        from_=c,
        lead="created_by",
        fields={
            "created_by": c.c.created_by,
            "contact_type_id": c.c.contact_type_id,
            "temperature_id": c.c.temperature_id,
            "with_opportunities": case((has_deal, 1), else_=0),
            "created_at": c.c.created_at,
        },
        measures={"count": literal(1)},
        where={"created": _range(c.c.created_at), "created_by": _among(c.c.created_by)},
    )
    k = t.tasks
    closed = k.c.closed == true()
    tasks = _Source(
        from_=k,
        lead="responsible",
        fields={
            "responsible": k.c.responsible,
            "category_id": k.c.category_id,
            "created_at": k.c.created_at,
            "closed_at": k.c.closed_at,
            "due_at": k.c.due_at,
        },
        measures={"count": literal(1)},
        where={
            "created": _range(k.c.created_at),
            "closed": lambda start, end: and_(closed, _range(k.c.closed_at)(start, end)),
            "due": _range(k.c.due_at),
            "open": lambda: k.c.closed == false(),
            "is_closed": lambda: closed,
            "overdue": lambda now: or_(
                and_(k.c.closed == false(), k.c.due_at < now),
                and_(closed, k.c.closed_at > k.c.due_at),
            ),
            "responsible": _among(k.c.responsible),
        },
    )
    i = t.invoices
    invoices = _Source(
        from_=i,
        lead="created_by",
        fields={
            "created_by": i.c.created_by,
            "status": i.c.status,
            "currency": i.c.currency,
            "issue_date": i.c.issue_date,
            "due_date": i.c.due_date,
            "updated_at": i.c.updated_at,
        },
        measures={"count": literal(1), "total": i.c.total_minor},
        where={
            "created": _range(i.c.created_at),
            "issued": _range(i.c.issue_date),
            "changed": _range(i.c.updated_at),
            "due": _range(i.c.due_date),
            "status": _among(i.c.status),
            "status_not": lambda *values: not_(i.c.status.in_(values)),
            "overdue": lambda today: or_(
                and_(i.c.status == "billed", i.c.due_date < today),
                and_(i.c.status == "paid", _day_of(conn, i.c.updated_at) > i.c.due_date),
            ),
            "created_by": _among(i.c.created_by),
        },
    )
    v, legs = t.voip_calls, t.voip_call_legs
    # The legs' prices per call, summed first so a call with several legs stays one row.
    leg_prices = (
        select(legs.c.call_id, func.sum(legs.c.price_e4).label("price_e4"))
        .group_by(legs.c.call_id)
        .subquery("leg_prices")
    )
    manager = func.coalesce(v.c.answered_by, v.c.operator)
    incoming = v.c.direction == "incoming"
    calls = _Source(
        from_=v.outerjoin(leg_prices, leg_prices.c.call_id == v.c.id),
        # No covering index (calls are few next to opportunities): never a grouping column,
        # so SQLite groups through a sort rather than an index walk.
        lead="started_at",
        fields={
            "manager": manager,
            "direction": v.c.direction,
            "currency": v.c.currency,
            "started_at": v.c.started_at,
        },
        measures={
            "count": literal(1),
            "duration": v.c.duration,
            "cost": func.coalesce(v.c.price_e4, 0)
            + func.coalesce(v.c.recording_price_e4, 0)
            + func.coalesce(leg_prices.c.price_e4, 0),
        },
        where={
            "started": _range(v.c.started_at),
            "manager": _among(manager),
            "answered": lambda: and_(incoming, v.c.answered_by.is_not(None)),
            "outgoing": lambda: v.c.direction == "outgoing",
            "missed": lambda: v.c.missed == true(),
        },
    )
    return {
        "opportunities": opportunities,
        "contacts": contacts,
        "tasks": tasks,
        "invoices": invoices,
        "calls": calls,
    }


def _bucket(column: Expr, boundaries: Sequence[Any]) -> Expr:
    """The index of the bucket a value falls in: a CASE over the boundaries, so buckets in
    the CRM's time zone (DST included) need no time-zone support from the database."""
    if len(boundaries) < 2:
        raise ValueError("a bucketing needs at least two boundaries")
    whens = [(column < boundaries[n + 1], literal(n)) for n in range(len(boundaries) - 1)]
    return case(*whens, else_=literal(None))


class SqlReportQueries:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sources: dict[str, _Source] | None = None

    def aggregate(self, query: Aggregate) -> Sequence[tuple[Any, ...]]:
        if self._sources is None:
            self._sources = _sources(self._conn)
        source = self._sources.get(query.source)
        if source is None:
            raise ValueError(f"no report source {query.source!r}")
        fields = dict(source.fields)
        if query.bucket is not None:
            column = fields.get(query.bucket.field)
            if column is None:
                raise ValueError(f"{query.source} cannot be bucketed by {query.bucket.field!r}")
            fields["bucket"] = _bucket(column, query.bucket.boundaries)
        groups: list[Expr] = []
        # Unary plus on SQLite, unless the grouping starts with the covering index's first
        # column (then the index's order serves the GROUP BY): SQLite would otherwise read
        # the rows through an index on the grouping column (to skip a sort), one row visit
        # each, instead of scanning the covering ix_*_report index; twice as slow.
        plus = self._conn.dialect.name == "sqlite" and query.by[:1] != (source.lead,)
        for name in query.by:
            if name not in fields or name.endswith(("_at", "_close", "_date")):
                raise ValueError(f"{query.source} cannot be grouped by {name!r}")
            column = fields[name]
            if plus:
                column = _plus(column)
            groups.append(column.label(name))
        measures: list[Expr] = []
        for n, measure in enumerate(query.measures):
            name = measure.measure if isinstance(measure, Filtered) else measure
            row = source.measures.get(name)
            if row is None:
                raise ValueError(f"{query.source} has no measure {name!r}")
            if isinstance(measure, Filtered) and measure.where:
                row = case((and_(*self._conditions(source, measure.where)), row), else_=0)
            measures.append(func.coalesce(func.sum(row), 0).label(f"m_{n}"))
        conditions = self._conditions(source, query.where)
        if query.bucket is not None:
            bounds = query.bucket.boundaries
            column = fields[query.bucket.field]
            first: Any = bounds[0]
            span: dt.timedelta = bounds[-1] - first
            if self._conn.dialect.name == "sqlite" and span > _INDEXED_RANGE:
                column = _plus(column)  # as in _between
            conditions.append(and_(column >= bounds[0], column < bounds[-1]))
        stmt = select(*groups, *measures).select_from(source.from_)
        if conditions:
            stmt = stmt.where(and_(*conditions))
        if groups:
            # By position: PostgreSQL cannot tell that two CASE expressions with their own
            # bound parameters are the same expression.
            stmt = stmt.group_by(*(literal_column(str(n + 1)) for n in range(len(groups))))
        return [tuple(row) for row in self._conn.execute(stmt)]

    @staticmethod
    def _conditions(source: _Source, wheres: Sequence[Where]) -> list[Expr]:
        conditions: list[Expr] = []
        for where in wheres:
            make = source.where.get(where.name)
            if make is None:
                raise ValueError(f"this report source has no condition {where.name!r}")
            conditions.append(make(*where.args))
        return conditions
