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
``row[-2:]``) reads them unchanged. :func:`fetch_built` goes further for a list page: it
makes entities straight from the driver's rows (see :class:`Entities`), decoding each
column and setting each slot in one pass per row.

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

from opencrm.core.entities._trusted import slot_setters
from opencrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["Call", "Entities", "Extra", "execute_driver", "fetch_all", "fetch_built", "utc_text"]

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
        #: The decoder's expressions per column (fast, safe) and their namespace.
        self._items: tuple[list[str], list[str], dict[str, Any]] = ([], [], {})
        self._builders: dict[Entities, Callable[[list[Any]], list[Any]]] = {}
        self._parameters: Callable[[Mapping[str, Any]], Any] | None = None

    def parameters(self, given: Mapping[str, Any]) -> Any:
        """The DBAPI parameters (a tuple, or a dict for named parameter styles) of the
        values ``given`` by name; a KeyError names a parameter the caller left out."""
        if self._parameters is None:
            self._parameters = self._make_parameters()
        return self._parameters(given)

    def _make_parameters(self) -> Callable[[Mapping[str, Any]], Any]:
        """One function per statement that picks and converts the given values: the loop
        over the parameters it replaces cost more than the settings read's SQL."""
        namespace: dict[str, Any] = {}
        items = []
        for n, (name, key, fixed, processor) in enumerate(self.params):
            if key is None:
                namespace[f"_f{n}"] = fixed
                item = f"_f{n}"
            elif processor is None:
                item = f"g[{key!r}]"
            else:
                namespace[f"_p{n}"] = processor
                item = f"(None if (v{n} := g[{key!r}]) is None else _p{n}(v{n}))"
            items.append(f"{name!r}: {item}" if not self.positional else item)
        body = f"({', '.join(items)},)" if self.positional else f"{{{', '.join(items)}}}"
        if not items:
            body = "()" if self.positional else "{}"
        exec(f"def parameters(g):\n    return {body}\n", namespace)
        made: Callable[[Mapping[str, Any]], Any] = namespace["parameters"]
        return made

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
        self._items = items, safe_items, namespace
        return self._decode

    def builder(self, entities: Entities) -> Callable[[list[Any]], list[Any]]:
        """The function that makes ``entities`` from raw rows (after :meth:`decoder`)."""
        build = self._builders.get(entities)
        if build is None:
            build = self._builders[entities] = _builder(self, entities)
        return build


class Extra:
    """Item ``index`` of a row's share of :attr:`Entities.together`."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class Call:
    """A field's value computed as ``function(*sources)``: each source a selected column's
    key (its decoded value) or an :class:`Extra`."""

    __slots__ = ("function", "sources")

    def __init__(self, function: Callable[..., Any], *sources: str | Extra) -> None:
        self.function = function
        self.sources = sources


class Entities:
    """How each row of a built-once SELECT becomes an instance of ``cls`` (a plain slotted
    attrs class, built as :func:`~opencrm.core.entities._trusted.trusted_builder` builds:
    stored values, no converters), for :func:`fetch_built`.

    ``fields`` gives every field of ``cls`` its source: a selected column's key (the column
    decoded as :func:`fetch_all` decodes it), a :class:`Call` or an :class:`Extra`.
    ``together``, a column's key and a function, hands that column's values for all the
    page's rows to one call of the function, which returns one item per row (a page's
    JSON arrays decoded by one ``json.loads``): :class:`Extra` reads those items.

    Made once (module level): the generated function is kept per statement and
    ``Entities`` for the life of the process."""

    def __init__(
        self,
        cls: type,
        fields: Mapping[str, str | Call | Extra],
        together: tuple[str, Callable[[list[Any]], Sequence[Any]]] | None = None,
    ) -> None:
        setters = slot_setters(cls)
        if set(fields) != set(setters):
            raise TypeError(f"fields must name every field of {cls.__name__} once")
        self.cls = cls
        self.setters = setters
        self.fields = dict(fields)
        self.together = together


def _builder(plan: _Plan, entities: Entities) -> Callable[[list[Any]], list[Any]]:
    """The function ``build(raw_rows)`` of ``entities`` for ``plan``'s statement: for each
    row a new instance whose slots are set from the columns, each decoded as the plan's
    decoder decodes it (with the same careful path when a fast conversion fails)."""
    items, safe_items, decoding = plan._items
    index: dict[str, int] = {}
    for n, selected in enumerate(plan.columns):
        index.setdefault(selected.key, n)
    namespace: dict[str, Any] = {**decoding, "_obj": object.__new__, "_cls": entities.cls}

    def column(key: str, exprs: list[str]) -> str:
        if key not in index:
            raise TypeError(f"{entities.cls.__name__}: the statement selects no column {key!r}")
        return exprs[index[key]]

    functions: dict[int, str] = {}

    def source(value: str | Call | Extra, exprs: list[str]) -> str:
        if isinstance(value, Extra):
            return f"x[{value.index}]"
        if isinstance(value, Call):
            name = functions.setdefault(id(value), f"_f{len(functions)}")
            namespace[name] = value.function
            return f"{name}({', '.join(source(a, exprs) for a in value.sources)})"
        return column(value, exprs)

    loop = "    for r in rows:\n"
    together = ""
    if entities.together is not None:
        key, combine = entities.together
        namespace["_together"] = combine
        together = f"    extras = _together([{column(key, items)} for r in rows])\n"
        loop = "    for r, x in zip(rows, extras, strict=True):\n"
    source_text = ""
    for name, exprs in (("fast", items), ("safe", safe_items)):
        lines = [f"def {name}(rows, extras):", "    out = []", "    add = out.append"]
        lines.append(loop.rstrip("\n"))
        lines.append("        self = _obj(_cls)")
        for n, (field, setter) in enumerate(entities.setters.items()):
            namespace[f"_s{n}"] = setter
            lines.append(f"        _s{n}(self, {source(entities.fields[field], exprs)})")
        lines += ["        add(self)", "    return out"]
        source_text += "\n".join(lines) + "\n"
    source_text += (
        "def build(rows):\n" + (together or "    extras = None\n") + "    try:\n"
        "        return fast(rows, extras)\n"
        "    except ValueError:\n"
        "        return safe(rows, extras)\n"
    )
    exec(source_text, namespace)
    build: Callable[[list[Any]], list[Any]] = namespace["build"]
    return build


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


def fetch_built(
    conn: Connection,
    statement: Any,
    params: Mapping[str, Any],
    entities: Entities,
    limit: int,
) -> tuple[list[Any], Any]:
    """A page of the built-once SELECT ``statement``, which fetches up to ``limit + 1``
    rows: its first ``limit`` rows made into entities straight from the driver's rows, in
    one pass (no named tuple, no tuple of a builder's arguments), and the named tuple of
    its last row when there is a row after it (for the next cursor), else None."""
    plan = _plan(statement, conn)
    describe = plan._decode is None
    raw, description = _run(conn, plan.sql, plan.parameters(params), describe=describe)
    decode = plan.decoder(description)
    last = decode(raw[limit - 1 : limit])[0] if limit > 0 and len(raw) > limit else None
    return plan.builder(entities)(raw[:limit]), last


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
    # The gate SQLAlchemy puts before its own events: without any listener on the engine
    # or the connection (PostgreSQL's engine has none of its own), no dispatch is walked.
    # Without listeners of the connection's own (SQLAlchemy marks a connection, or the
    # Connection class, that gets one), the engine's dispatch holds all of them: made once
    # per engine, it is cheaper to ask than each new connection's joined dispatch.
    dispatch: Any
    if conn._has_events:
        dispatch = conn.dispatch
    elif conn.engine._has_events:
        dispatch = conn.engine.dispatch
    else:
        dispatch = None
    cursor = pooled.cursor()
    try:
        if dispatch is not None and dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cursor, sql, parameters, None, False)
        cursor.execute(sql, parameters)
        raw = cursor.fetchall() if fetch else None
        description = cursor.description if describe else None
        if dispatch is not None and dispatch.after_cursor_execute:
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
