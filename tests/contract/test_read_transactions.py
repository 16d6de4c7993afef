"""A read call is one transaction though it begins on the DBAPI connection (without
SQLAlchemy's transaction object): its statements run inside it, a statement through
SQLAlchemy joins it, a driver error is an opencrm error, and the connection goes back to
the pool clean."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.errors import PermissionDenied, StorageError
from opencrm.storage.sqlalchemy._raw import fetch_all
from opencrm.storage.sqlalchemy.tables import settings, tasks
from opencrm.storage.sqlalchemy.uow import SqlUnitOfWork

ADMIN = User(id="admin", crm_admin=True)
ALICE = User(id="alice", name="Alice")

_NOW = sa.select(sa.func.now().label("now"))
_TASK_IDS = sa.select(tasks.c.id).order_by(tasks.c.id)


def _in_transaction(dbapi_connection: Any) -> bool:
    status = getattr(dbapi_connection, "info", None)
    if status is not None and hasattr(status, "transaction_status"):  # psycopg
        import psycopg.pq

        return bool(status.transaction_status == psycopg.pq.TransactionStatus.INTRANS)
    return bool(dbapi_connection.in_transaction)  # sqlite3


def _stored(crm: CRM, key: str) -> Any:
    with crm.engine.connect() as conn:
        return conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()


def test_a_list_call_sends_its_statements_in_one_transaction(crm: CRM) -> None:
    crm.session(ADMIN).tasks.add("Call Ana", dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC))
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((statement.split()[0], _in_transaction(conn.connection.driver_connection)))

    sa.event.listen(crm.engine, "before_cursor_execute", record)
    try:
        page = crm.session(ALICE).tasks.list(limit=50)
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", record)
    assert [t.title for t in page] == ["Call Ana"]
    if crm.engine.dialect.name == "sqlite":
        # BEGIN outside a transaction; the settings read and the page inside it.
        assert seen == [("BEGIN", False), ("SELECT", True), ("SELECT", True)]
    else:
        # psycopg begins with the first statement; the page runs in that transaction.
        assert seen == [("SELECT", False), ("SELECT", True)]
    assert crm.engine.pool.checkedout() == 0


def test_the_statements_of_a_read_share_one_transaction(crm: CRM) -> None:
    with SqlUnitOfWork(crm.engine) as uow:
        uow.settings.set("probe", "before")
        uow.commit()
    with SqlUnitOfWork(crm.engine, write=False) as uow:
        assert uow.settings.get_many(["probe"]) == {"probe": "before"}
        if crm.engine.dialect.name == "sqlite":
            # Another connection commits a change; the read keeps its snapshot, for raw
            # reads and for statements through SQLAlchemy alike.
            with SqlUnitOfWork(crm.engine) as other:
                other.settings.set("probe", "after")
                other.commit()
            assert uow.settings.get_many(["probe"]) == {"probe": "before"}
            assert uow.settings.get("probe") == "before"
        else:
            # now() is the transaction's start: the same for every statement in it.
            first = fetch_all(uow.connection, _NOW)[0].now
            time.sleep(0.01)
            assert uow.connection.execute(_NOW).scalar() == first
            assert fetch_all(uow.connection, _NOW)[0].now == first
        uow.commit()
    assert _stored(crm, "probe") == ("after" if crm.engine.dialect.name == "sqlite" else "before")
    with SqlUnitOfWork(crm.engine, write=False) as uow:
        assert uow.settings.get_many(["probe"]) == {"probe": _stored(crm, "probe")}


def test_a_write_through_sqlalchemy_in_a_read_commits_or_rolls_back_with_it(crm: CRM) -> None:
    with SqlUnitOfWork(crm.engine, write=False) as uow:
        assert uow.settings.get_many(["made_in_a_read"]) == {}
        assert uow.settings.add_if_missing("made_in_a_read", [1, 2]) == [1, 2]
        assert uow.settings.get_many(["made_in_a_read"]) == {"made_in_a_read": [1, 2]}
        # not committed: the unit of work's exit rolls back the raw read and the write
    assert _stored(crm, "made_in_a_read") is None
    with SqlUnitOfWork(crm.engine, write=False) as uow:
        assert uow.settings.get_many(["made_in_a_read"]) == {}
        uow.settings.add_if_missing("made_in_a_read", [3])
        uow.commit()
    assert _stored(crm, "made_in_a_read") == [3]
    assert crm.engine.pool.checkedout() == 0


def test_a_driver_error_in_a_read_is_a_storage_error_and_the_next_call_works(crm: CRM) -> None:
    missing = sa.select(sa.table("no_such_table", sa.column("x")))
    for run in (lambda c: fetch_all(c, missing), lambda c: c.execute(missing).all()):
        with SqlUnitOfWork(crm.engine, write=False) as uow:
            assert fetch_all(uow.connection, _TASK_IDS) == []
        with (
            pytest.raises(StorageError, match="no_such_table"),
            SqlUnitOfWork(crm.engine, write=False) as uow,
        ):
            run(uow.connection)
        assert crm.engine.pool.checkedout() == 0
        # The pooled connection is back outside any transaction: the next read begins.
        assert crm.session(ALICE).tasks.list(limit=5).items == []


def test_a_refused_read_ends_its_transaction(crm: CRM) -> None:
    from opencrm.core.users import ModuleAccess

    crm.session(ADMIN).settings.set_module_access(ModuleAccess.only(users=["bob"]))
    for _ in range(20):  # more than the pool holds, were connections kept
        with pytest.raises(PermissionDenied):
            crm.session(ALICE).tasks.list(limit=5)
    assert crm.engine.pool.checkedout() == 0
    assert crm.session(User(id="bob")).tasks.list(limit=5).items == []


def test_listeners_of_a_connection_or_of_the_engine_see_the_raw_statements(crm: CRM) -> None:
    on_engine: list[str] = []
    on_connection: list[str] = []

    def engine_listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        on_engine.append(statement.split()[0])

    def connection_listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        on_connection.append(statement.split()[0])

    sa.event.listen(crm.engine, "after_cursor_execute", engine_listener)
    try:
        with SqlUnitOfWork(crm.engine, write=False) as uow:
            sa.event.listen(uow.connection, "before_cursor_execute", connection_listener)
            assert uow.settings.get_many(["none"]) == {}
            assert fetch_all(uow.connection, _TASK_IDS) == []
            uow.commit()
    finally:
        sa.event.remove(crm.engine, "after_cursor_execute", engine_listener)
    begin = ["BEGIN"] if crm.engine.dialect.name == "sqlite" else []
    assert on_engine == [*begin, "SELECT", "SELECT"]
    assert on_connection == ["SELECT", "SELECT"]
