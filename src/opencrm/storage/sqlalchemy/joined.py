"""Service calls that join a transaction their caller holds open (a host framework's).

``CRM.open(url, outer_transaction=...)`` takes an :class:`OuterTransaction`: when its
:meth:`~OuterTransaction.connection` gives the DB-API connection of a transaction open in
the calling thread, a service call runs on that connection inside a ``SAVEPOINT`` instead
of in a transaction of its own. Its success releases the savepoint (the outer transaction's
commit makes the change durable, its rollback undoes it); its failure rolls back to the
savepoint, so the outer transaction may go on. opencrm never begins, commits, rolls back or
closes the borrowed connection, and changes none of its settings.

The borrowed connection is wrapped (:class:`_Borrowed`) so SQLAlchemy's pool and dialect
cannot end the outer transaction or change the owner's connection: ``commit``,
``rollback`` and ``close`` do nothing, and the functions and handlers the dialects register
on a new connection are not registered. Cursors read values as opencrm's types expect them:
on PostgreSQL a plain psycopg cursor (server-side binding, psycopg's own loaders); on SQLite
date and time values that the owner's connection converted (``detect_types``) are turned
back into the ISO text SQLite stores.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import URL, Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

__all__ = ["Joiner", "OuterTransaction"]


@runtime_checkable
class OuterTransaction(Protocol):
    """A transaction the calling code may hold open on the CRM's database."""

    def connection(self) -> Any | None:
        """The DB-API connection (``sqlite3`` or ``psycopg``) of the transaction open in
        the calling thread on the CRM's database, or None when there is none (the service
        call then runs in a transaction of its own, as without this option)."""

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once that transaction has committed; never if it rolls back."""


_BORROWED: contextvars.ContextVar[Any] = contextvars.ContextVar("opencrm_borrowed")


class Joiner:
    """Opens SQLAlchemy connections on the outer transaction's DB-API connection."""

    def __init__(self, url: URL, outer: OuterTransaction) -> None:
        self.outer = outer
        self._url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._wrap: type[_Borrowed] = (
            _BorrowedSqlite if url.get_backend_name() == "sqlite" else _BorrowedPostgresql
        )

    def current(self) -> Any | None:
        """The outer transaction's DB-API connection in this thread, or None."""
        return self.outer.connection()

    def connect(self, raw: Any) -> Connection:
        """A SQLAlchemy connection on ``raw`` (from :meth:`current`)."""
        token = _BORROWED.set(self._wrap(raw))
        try:
            return self.engine.connect()
        finally:
            _BORROWED.reset(token)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the change of the service call that just ended is durable:
        now, or when the outer transaction it joined commits."""
        if self.current() is None:
            action()
        else:
            self.outer.on_commit(action)

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                options: dict[str, Any] = {}
                if self._url.get_backend_name() == "postgresql":
                    # opencrm has no hstore column; looking its type up needs the real
                    # psycopg connection object.
                    options["use_native_hstore"] = False
                self._engine = create_engine(
                    self._url,
                    creator=_borrow,
                    poolclass=NullPool,
                    pool_reset_on_return=None,
                    **options,
                )
            return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _borrow() -> Any:
    return _BORROWED.get()


class _Borrowed:
    """The outer transaction's connection, as SQLAlchemy's pool sees it."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def commit(self) -> None:
        """The outer transaction's owner commits."""

    def rollback(self) -> None:
        """The outer transaction's owner rolls back (opencrm rolls back to its savepoint)."""

    def close(self) -> None:
        """The owner closes its connection."""

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """The owner's SQL functions stay as the owner registered them."""

    def add_notice_handler(self, *args: Any, **kwargs: Any) -> None:
        """No handler added to the owner's connection at every call."""


class _BorrowedPostgresql(_Borrowed):
    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        import psycopg
        import psycopg.types.datetime
        import psycopg.types.json

        if args or kwargs:  # a named (server-side) cursor
            return self._raw.cursor(*args, **kwargs)
        # Not the owner's cursor class (Django's binds parameters on the client) nor its
        # loaders: a plain cursor with psycopg's default adapters, as on opencrm's own
        # connections.
        cursor = psycopg.Cursor(self._raw)
        cursor.adapters.register_loader("jsonb", psycopg.types.json.JsonbLoader)
        cursor.adapters.register_loader("timestamptz", psycopg.types.datetime.TimestamptzLoader)
        return cursor


class _BorrowedSqlite(_Borrowed):
    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return _SqliteCursor(self._raw.cursor(*args, **kwargs))


def _as_stored(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _row(row: Any) -> Any:
    if row is None or not any(isinstance(v, dt.date | dt.time) for v in row):
        return row
    return tuple(_as_stored(v) for v in row)


class _SqliteCursor:
    """A sqlite3 cursor whose rows hold what SQLite stores: plain sqlite3 never returns a
    date or time object, so one in a row came from the owner's converters."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return (_row(r) for r in self._cursor)

    def fetchone(self) -> Any:
        return _row(self._cursor.fetchone())

    def fetchmany(self, *args: Any) -> list[Any]:
        return [_row(r) for r in self._cursor.fetchmany(*args)]

    def fetchall(self) -> list[Any]:
        return [_row(r) for r in self._cursor.fetchall()]
