"""Reading the rows of a built-once SELECT on the DBAPI cursor, without SQLAlchemy's
per-statement and per-row work.

A list page's SQL runs in a fraction of a millisecond on SQLite; executing it through
SQLAlchemy (the compiled cache lookup, the execution context, the result's processing of
every column of every row, its Row objects) cost as much again. :func:`fetch_all` compiles a
statement once per dialect to its SQL text, runs it on the DBAPI cursor of the connection
the unit of work holds (in its transaction), and decodes the rows with one generated
function per statement: only the columns whose type needs it are converted, with the same
processors SQLAlchemy would use (timestamps on SQLite by a single ``fromisoformat`` call).
Rows come back as named tuples, so code written against SQLAlchemy rows (``r.id``,
``row[-2:]``) reads them unchanged.

Only for statements built once (module-level or ``functools.cache``): the compiled form is
kept for the life of the process. Writes, and statements built per call, go through
SQLAlchemy. Listeners of ``before_cursor_execute`` and ``after_cursor_execute`` still see
each statement (with a None execution context); a driver error leaves as SQLAlchemy's
``DBAPIError``, which the unit of work turns into an opencrm error, and a lost connection is
invalidated as SQLAlchemy would.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from opencrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["execute_driver", "fetch_all", "utc_text"]

_UTC = dt.UTC


class _Plan:
    """One statement compiled for one dialect: SQL text, parameters, row decoder."""

    def __init__(self, statement: Any, conn: Connection) -> None:
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise TypeError("fetch_all takes statements without expanding parameters")
        self.statement = statement  # keeps the key of _PLANS alive
        self.sql: str = compiled.string
        self.dialect = dialect
        binds = compiled.binds
        escaped = compiled.escaped_bind_names or {}
        #: (name in the SQL, name given by the caller or None for a value fixed in the
        #: statement, the fixed value, the bind processor)
        self.params: list[tuple[str, str | None, Any, Callable[[Any], Any] | None]] = []
        names = compiled.positiontup if dialect.positional else list(binds)
        assert names is not None
        for name in names:
            bind = binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            key: str | None = bind.key if bind.required else None
            fixed = None if bind.required else bind.effective_value
            if fixed is not None and processor is not None:
                fixed, processor = processor(fixed), None
            self.params.append((escaped.get(name, name), key, fixed, processor))
        self.positional: bool = dialect.positional
        self.columns = list(statement.selected_columns)
        self.row_type = collections.namedtuple(  # type: ignore[misc]
            "Row", [c.key or f"c{n}" for n, c in enumerate(self.columns)], rename=True
        )
        self._decode: Callable[[list[Any]], list[Any]] | None = None

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = []
        for _name, key, fixed, processor in self.params:
            if key is None:
                values.append(fixed)
                continue
            value = given[key]  # a KeyError names a parameter the caller left out
            if processor is not None and value is not None:
                value = processor(value)
            values.append(value)
        if self.positional:
            return tuple(values)
        return {p[0]: v for p, v in zip(self.params, values, strict=True)}

    def decoder(self, description: Sequence[Any]) -> Callable[[list[Any]], list[Any]]:
        """Made on the first execution, from the cursor's column types (SQLAlchemy's
        processors for some types depend on them)."""
        if self._decode is not None:
            return self._decode
        namespace: dict[str, Any] = {
            "_new": tuple.__new__,
            "_row": self.row_type,
            "_parse": _parse,
            "_Z": "+00:00",
            "_UTC": _UTC,
        }
        items, safe_items = [], []
        sqlite = self.dialect.name == "sqlite"
        for n, (column, described) in enumerate(zip(self.columns, description, strict=True)):
            processor = _result_processor(column.type, self.dialect, described[1])
            if processor is None:
                items.append(f"r[{n}]")
                safe_items.append(f"r[{n}]")
                continue
            namespace[f"_p{n}"] = processor
            safe_items.append(f"_p{n}(r[{n}])")
            if sqlite and isinstance(column.type, UTCDateTime):
                # Inline: a function call per timestamp was a third of a task page's
                # decoding. Text with an offset fails here and takes the safe path.
                items.append(f"(None if r[{n}] is None else _parse(r[{n}] + _Z))")
            elif isinstance(column.type, UTCDateTime):
                items.append(f"(None if r[{n}] is None else r[{n}].astimezone(_UTC))")
            else:
                items.append(f"_p{n}(r[{n}])")
        source = (
            "def safe(rows):\n"
            f"    return [_new(_row, ({', '.join(safe_items)},)) for r in rows]\n"
            "def decode(rows):\n"
            "    try:\n"
            f"        return [_new(_row, ({', '.join(items)},)) for r in rows]\n"
            "    except ValueError:\n"
            "        return safe(rows)\n"
        )
        exec(source, namespace)
        self._decode = namespace["decode"]
        return self._decode


def _result_processor(type_: Any, dialect: Any, coltype: Any) -> Callable[[Any], Any] | None:
    if isinstance(type_, UTCDateTime):
        # The decorator's processor behind the impl's: two calls and two checks per value.
        if dialect.name == "sqlite":
            return utc_text

        def utc(value: dt.datetime | None) -> dt.datetime | None:
            return None if value is None else value.astimezone(_UTC)

        return utc
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).result_processor(
        dialect, coltype
    )
    return processor


def utc_text(value: str | None) -> dt.datetime | None:
    """A UTC timestamp as SQLite stores it (naive text, ``2027-06-01 09:00:00.000000``):
    parsed with the offset appended, one C call (``replace(tzinfo=)`` after parsing cost
    seven times as much)."""
    if value is None:
        return None
    try:
        return _parse(value + "+00:00")
    except ValueError:  # pragma: no cover - text written with an offset by other tools
        return _parse(value).astimezone(_UTC)


_parse = dt.datetime.fromisoformat
_PLANS: dict[tuple[int, str, str, str], _Plan] = {}
_LOCK = threading.Lock()


def _plan(statement: Any, conn: Connection) -> _Plan:
    dialect = conn.dialect
    key = (id(statement), dialect.name, dialect.driver, dialect.paramstyle)
    plan = _PLANS.get(key)
    if plan is None or plan.statement is not statement:
        with _LOCK:
            plan = _Plan(statement, conn)
            _PLANS[key] = plan
    return plan


def fetch_all(
    conn: Connection, statement: Any, params: Mapping[str, Any] | None = None
) -> list[Any]:
    """Every row of the built-once SELECT ``statement`` run with ``params`` in the
    connection's transaction, as named tuples of decoded values."""
    plan = _plan(statement, conn)
    # The description only for the first run: psycopg builds it anew on every access.
    describe = plan._decode is None
    raw, description = _run(conn, plan.sql, plan.parameters(params or {}), describe=describe)
    return plan.decoder(description)(raw)


def execute_driver(conn: Connection, sql: str) -> None:
    """Run a statement without parameters or rows (SQLite's ``BEGIN``) on the DBAPI cursor:
    what ``exec_driver_sql`` does, without building an execution context and a result."""
    _run(conn, sql, (), fetch=False, describe=False)


def _run(
    conn: Connection, sql: str, parameters: Any, *, fetch: bool = True, describe: bool
) -> tuple[Any, Any]:
    """Execute ``sql`` on a new DBAPI cursor of the connection: (its rows, or None without
    ``fetch``; its description, or None without ``describe``)."""
    pooled = conn.connection
    dispatch = conn.dispatch
    cursor = pooled.cursor()
    try:
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cursor, sql, parameters, None, False)
        cursor.execute(sql, parameters)
        raw = cursor.fetchall() if fetch else None
        description = cursor.description if describe else None
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(conn, cursor, sql, parameters, None, False)
    except conn.dialect.loaded_dbapi.Error as exc:
        if conn.dialect.is_disconnect(exc, pooled.dbapi_connection, cursor):
            conn.invalidate(exc)
        raise sa_exc.DBAPIError.instance(
            sql, parameters, exc, conn.dialect.loaded_dbapi.Error
        ) from exc
    finally:
        cursor.close()
    return raw, description
