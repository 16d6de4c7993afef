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


_WITH_KEYS = sa.select(
    tasks.c.id,
    tasks.c.due_at,
    tasks.c.reminded_at,
    tasks.c.closed,
    tasks.c.due_at.label("k_due"),
    tasks.c.reminded_at.label("k_reminded"),
    tasks.c.closed.label("k_closed"),
    tasks.c.id.label("k_id"),
).order_by(tasks.c.id)


def test_a_sort_key_labelling_a_selected_column_reads_as_that_column(crm: CRM) -> None:
    s = crm.session(ADMIN)
    due = dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC)
    first = s.tasks.add("Call Ana", due)
    second = s.tasks.close(s.tasks.add("Send offer", due + dt.timedelta(days=1)))
    with SqlUnitOfWork(crm.engine) as uow:
        conn = uow.connection
        claimed = dt.datetime(2027, 1, 4, 8, tzinfo=dt.UTC)
        conn.execute(sa.update(tasks).where(tasks.c.id == first.id).values(reminded_at=claimed))
        raw = fetch_all(conn, _WITH_KEYS)
        assert [tuple(r) for r in raw] == [tuple(r) for r in conn.execute(_WITH_KEYS).all()]
        assert [tuple(r) for r in raw] == [
            (first.id, due, claimed, False, due, claimed, False, first.id),
            (second.id, second.due_at, None, True, second.due_at, None, True, second.id),
        ]
        assert [r.k_due.utcoffset() for r in raw] == [dt.timedelta(0), dt.timedelta(0)]
        if conn.dialect.name == "sqlite":
            # Text another tool wrote with an offset takes the decoder's careful path.
            conn.exec_driver_sql(
                "UPDATE tasks SET due_at = '2027-01-05 11:30:00+02:00' WHERE id = ?", (first.id,)
            )
            again = fetch_all(conn, _WITH_KEYS)
            assert (again[0].due_at, again[0].k_due) == (due, due)
            assert again[0].k_due.utcoffset() == dt.timedelta(0)
            assert tuple(again[1]) == tuple(raw[1])
