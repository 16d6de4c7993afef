"""Rows read on the DBAPI cursor (``opencrm.storage.sqlalchemy._raw``) equal what SQLAlchemy
reads, inside the unit of work's transaction, with driver errors still opencrm errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.errors import StorageError
from opencrm.storage.sqlalchemy._raw import Call, Entities, Extra, fetch_all, fetch_built
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


@attrs.frozen
class _Due:
    id: int
    title: str
    due_at: dt.datetime
    reminded_at: dt.datetime | None
    closed: bool
    label: str
    rank: int


def _label(title: str, closed: bool, length: int) -> str:
    return f"{title} ({length}, {'closed' if closed else 'open'})"


_DUE = Entities(
    _Due,
    {
        "id": "id",
        "title": "title",
        "due_at": "due_at",
        "reminded_at": "reminded_at",
        "closed": "closed",
        "label": Call(_label, "title", "closed", Extra(0)),
        "rank": Extra(1),
    },
    together=("title", lambda titles: [(len(t), n) for n, t in enumerate(titles)]),
)


def test_built_rows_equal_the_decoded_ones_and_the_last_row_makes_the_cursor(crm: CRM) -> None:
    s = crm.session(ADMIN)
    due = dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC)
    first = s.tasks.add("Call Ana", due)
    second = s.tasks.close(s.tasks.add("Send offer", due + dt.timedelta(days=1)))
    claimed = dt.datetime(2027, 1, 4, 8, 0, 0, 5, tzinfo=dt.UTC)
    after = {"after": dt.datetime(2027, 1, 1, tzinfo=dt.UTC)}
    with SqlUnitOfWork(crm.engine) as uow:
        conn = uow.connection
        conn.execute(sa.update(tasks).where(tasks.c.id == first.id).values(reminded_at=claimed))
        rows = fetch_all(conn, _DUE_AFTER, after)
        built, last = fetch_built(conn, _DUE_AFTER, after, _DUE, 2)
        assert last is None
        assert built == [
            _Due(first.id, "Call Ana", due, claimed, False, "Call Ana (8, open)", 0),
            _Due(second.id, "Send offer", second.due_at, None, True, "Send offer (10, closed)", 1),
        ]
        assert [(b.id, b.title, b.due_at, b.closed, b.reminded_at) for b in built] == [
            tuple(r) for r in rows
        ]
        assert type(built[0].closed) is bool
        assert built[0].due_at.utcoffset() == dt.timedelta(0)
        one, last = fetch_built(conn, _DUE_AFTER, after, _DUE, 1)
        assert (one, tuple(last), last.due_at) == (built[:1], tuple(rows[0]), due)
        assert fetch_built(conn, _DUE_AFTER, after, _DUE, 0) == ([], None)
        # Text another tool wrote with an offset takes the careful path, for every row.
        conn.execute(
            sa.text("UPDATE tasks SET due_at = '2027-01-06 11:30:00+02:00' WHERE id = :id"),
            {"id": second.id},
        )
        again, _ = fetch_built(conn, _DUE_AFTER, after, _DUE, 2)
        assert again == [built[0], attrs.evolve(built[1], due_at=due + dt.timedelta(hours=24))]
        assert again[1].due_at.utcoffset() == dt.timedelta(0)


def test_entities_name_every_field_once_from_columns_the_statement_selects(crm: CRM) -> None:
    fields: dict[str, Any] = {"id": "id", "title": "title", "due_at": "due_at"}
    with pytest.raises(TypeError, match="every field of _Due"):
        Entities(_Due, fields)
    wrong = Entities(
        _Due,
        fields
        | {"reminded_at": "reminded_at", "closed": "closed", "label": "no_such", "rank": "id"},
    )
    with pytest.raises(TypeError, match="no column 'no_such'"), SqlUnitOfWork(crm.engine) as uow:
        fetch_built(uow.connection, _DUE_AFTER, {"after": dt.datetime.now(dt.UTC)}, wrong, 50)
