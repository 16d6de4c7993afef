"""Engines and schema upgrades.

SQLite connections get WAL, foreign keys and a busy timeout, and opencrm issues ``BEGIN``
itself: ``BEGIN IMMEDIATE`` for writing transactions, so two writers queue on the lock
instead of failing half-way when a read lock cannot be upgraded.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import StaticPool

from opencrm.errors import SchemaTooNew
from opencrm.storage.sqlalchemy._raw import execute_driver

__all__ = [
    "check_not_newer",
    "create_engine_for",
    "current_revision",
    "head_revision",
    "is_sqlite",
    "known_revision",
    "upgrade",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine_for(url: str, **engine_options: Any) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, set up the way opencrm needs it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if memory:
            options["poolclass"] = StaticPool
        options.update(engine_options)
        engine = create_engine(parsed, **options)
        _configure_sqlite(engine, wal=not memory)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # No pool_pre_ping by default: it costs a round trip on every service call; a dead
        # connection is still detected on use and replaced. Pass it in engine_options to opt in.
        engine = create_engine(parsed, **engine_options)
        _configure_postgresql(engine)
        return engine
    raise ValueError(f"opencrm supports sqlite and postgresql URLs, not {parsed.drivername!r}")


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves
        cur = dbapi_connection.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
            # A read's transaction, begun on the DBAPI connection (see SqlUnitOfWork),
            # that a statement run through SQLAlchemy joins.
            return
        write = conn.get_execution_options().get("opencrm_write", False)
        # On the DBAPI cursor: exec_driver_sql's execution context and result cost more
        # than the BEGIN itself, on every transaction (see _raw).
        execute_driver(conn, "BEGIN IMMEDIATE" if write else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # opencrm runs short OLTP queries: JIT compilation cost 15 ms on a 35 ms search, and
        # a cached generic plan cannot see how selective a search pattern is.
        cur = dbapi_connection.cursor()
        cur.execute("SET jit = off")
        cur.execute("SET plan_cache_mode = force_custom_plan")
        cur.close()
        dbapi_connection.commit()


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "opencrm.storage:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def known_revision(revision: str) -> bool:
    """Whether this opencrm's migrations include ``revision``."""
    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def check_not_newer(revision: str | None) -> None:
    """Raise :class:`SchemaTooNew` when a database's revision is one this opencrm does not
    know (a newer opencrm migrated it)."""
    if revision is not None and not known_revision(revision):
        raise SchemaTooNew(revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest) with Alembic."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            # Table rebuilds in SQLite migrations must not fire ON DELETE actions.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            conn = conn.execution_options(opencrm_write=True)
            with conn.begin():
                check_not_newer(MigrationContext.configure(conn).get_current_revision())
                command.upgrade(_alembic_config(conn), revision)
                if raw is not None:
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RuntimeError(f"migration left broken foreign keys: {bad[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
