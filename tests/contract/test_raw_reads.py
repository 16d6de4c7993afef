"""Rows read on the DBAPI cursor (``opencrm.storage.sqlalchemy._raw``) equal what SQLAlchemy
reads, inside the unit of work's transaction, with driver errors still opencrm errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.errors import StorageError
from opencrm.storage.sqlalchemy._raw import fetch_all
from opencrm.storage.sqlalchemy.tables import tasks
from opencrm.storage.sqlalchemy.uow import SqlUnitOfWork

ADMIN = User(id="admin", crm_admin=True)

_DUE_AFTER = (
    sa.select(tasks.c.id, tasks.c.title, tasks.c.due_at, tasks.c.closed, tasks.c.reminded_at)
    .where(tasks.c.due_at > sa.bindparam("after", type_=tasks.c.due_at.type))
    .where(tasks.c.title != "never")  # a value fixed in the statement
    .order_by(tasks.c.id)
)


def test_rows_equal_sqlalchemys_and_see_the_transactions_own_writes(crm: CRM) -> None:
    s = crm.session(ADMIN)
    due = dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC)
    s.tasks.add("Call Ana", due)
    s.tasks.close(s.tasks.add("Send offer", due + dt.timedelta(days=1)))
    after = dt.datetime(2027, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with SqlUnitOfWork(crm.engine) as uow:
        conn = uow.connection
        expected = conn.execute(_DUE_AFTER, {"after": after}).all()
        conn.execute(sa.update(tasks).where(tasks.c.title == "Call Ana").values(title="Called"))
        raw = fetch_all(conn, _DUE_AFTER, {"after": after})
    assert [tuple(r) for r in raw] == [
        (expected[0].id, "Called", due, False, None),
        (expected[1].id, "Send offer", due + dt.timedelta(days=1), True, None),
    ]
    assert [r.title for r in raw] == ["Called", "Send offer"]
    for got, want in zip(raw, expected, strict=True):
        assert got.due_at.tzinfo is not None
        assert got.due_at.utcoffset() == dt.timedelta(0)
        assert type(got.closed) is bool
        assert got.id == want.id


def test_listeners_see_the_statement_and_a_driver_error_is_a_storage_error(crm: CRM) -> None:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    missing = sa.select(sa.table("no_such_table", sa.column("x")))
    sa.event.listen(crm.engine, "before_cursor_execute", record)
    try:
        with SqlUnitOfWork(crm.engine, write=False) as uow:
            assert fetch_all(uow.connection, _DUE_AFTER, {"after": dt.datetime.now(dt.UTC)}) == []
        with pytest.raises(StorageError, match="no_such_table"), SqlUnitOfWork(crm.engine) as uow:
            fetch_all(uow.connection, missing)
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", record)
    assert sum("FROM tasks" in sql for sql in seen) == 1
    assert sum("no_such_table" in sql for sql in seen) == 1
    with pytest.raises(KeyError, match="after"), SqlUnitOfWork(crm.engine) as uow:
        fetch_all(uow.connection, _DUE_AFTER, {})


def test_the_settings_read_decodes_stored_json_for_any_number_of_keys(crm: CRM) -> None:
    with SqlUnitOfWork(crm.engine) as uow:
        uow.settings.set("a_list", [1, "two", {"three": 3}])
        uow.settings.set("a_text", "ü \U0001f600")
        uow.commit()
    with SqlUnitOfWork(crm.engine, write=False) as uow:
        assert uow.settings.get_many([]) == {}
        assert uow.settings.get_many(["a_text"]) == {"a_text": "ü \U0001f600"}
        assert uow.settings.get_many(["a_list", "a_text", "missing"]) == {
            "a_list": [1, "two", {"three": 3}],
            "a_text": "ü \U0001f600",
        }
