"""``CRM(..., outer_transaction=...)``: service calls join a transaction their caller holds
open on the same database (a savepoint inside it), on SQLite and PostgreSQL, without any
web framework: the caller here is a DB-API connection of the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import (
    CRM,
    Event,
    InMemoryUserDirectory,
    LocalFileStore,
    OuterTransaction,
    StorageError,
    User,
    hookimpl,
)


class Caller:
    """A caller's transaction on one DB-API connection, begun and ended by the caller."""

    def __init__(self, raw: Any, sqlite: bool) -> None:
        self.raw = raw
        self.sqlite = sqlite
        self.open = False
        self.after: list[Callable[[], None]] = []
        # (PostgreSQL: the test engine's pooled connections live on between tests)
        self.execute("CREATE TEMP TABLE IF NOT EXISTS host_rows (name TEXT)")
        self.execute("DELETE FROM host_rows")
        if not sqlite:
            raw.commit()

    def execute(self, sql: str) -> list[Any]:
        cur = self.raw.cursor()
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else []
        cur.close()
        return rows

    def begin(self) -> None:
        if self.sqlite:
            self.execute("BEGIN")
        self.open = True

    def end(self, commit: bool) -> None:
        if self.sqlite:
            self.execute("COMMIT" if commit else "ROLLBACK")
        elif commit:
            self.raw.commit()
        else:
            self.raw.rollback()
        self.open = False
        after, self.after = self.after, []
        if commit:
            for action in after:
                action()

    # the OuterTransaction protocol
    def connection(self) -> Any | None:
        return self.raw if self.open else None

    def on_commit(self, action: Callable[[], None]) -> None:
        self.after.append(action)


class Plugin:
    def __init__(self) -> None:
        self.reacted: list[str] = []
        self.fail = False

    @hookimpl
    def opencrm_before_commit(self, crm: Any, uow: Any, events: Any) -> None:
        if self.fail:  # a statement the database refuses, after the call's writes
            uow.connection.exec_driver_sql("SELECT no_such_column FROM contacts")

    @hookimpl
    def opencrm_event_committed(self, event: Event) -> None:
        self.reacted.append(event.name)


@pytest.fixture
def plugin() -> Plugin:
    return Plugin()


@pytest.fixture
def caller(engine: sa.Engine, backend: str) -> Iterator[Caller]:
    pooled = engine.raw_connection()
    try:
        yield Caller(pooled.driver_connection, backend == "sqlite")
    finally:
        pooled.rollback()
        pooled.close()


@pytest.fixture
def joined(
    engine: sa.Engine,
    directory: InMemoryUserDirectory,
    caller: Caller,
    plugin: Plugin,
    tmp_path: Path,
) -> Iterator[CRM]:
    crm = CRM(
        engine,
        load_entrypoints=False,
        directory=directory,
        plugins=[plugin],
        outer_transaction=caller,
        file_store=LocalFileStore(tmp_path / "files"),
    )
    yield crm
    crm._joiner.dispose()  # type: ignore[union-attr]  # the engine is the fixture's


def names(crm: CRM, admin: User) -> list[str]:
    return sorted(c.display_name for c in crm.session(admin).contacts.list())


def test_the_caller_is_an_outer_transaction(caller: Caller) -> None:
    assert isinstance(caller, OuterTransaction)


def test_the_callers_rollback_undoes_the_call(
    joined: CRM, caller: Caller, plugin: Plugin, users: dict[str, User]
) -> None:
    admin = users["admin"]
    caller.begin()
    caller.execute("INSERT INTO host_rows VALUES ('order')")
    joined.session(admin).contacts.add_person("Ann", "Lee")
    assert caller.execute("SELECT count(*) FROM contacts") == [(1,)]  # in the transaction
    assert plugin.reacted == []
    caller.end(commit=False)
    assert caller.execute("SELECT count(*) FROM host_rows") == [(0,)]
    assert names(joined, admin) == []
    assert plugin.reacted == []


def test_the_callers_commit_keeps_the_call_and_then_runs_the_reactions(
    joined: CRM, caller: Caller, plugin: Plugin, users: dict[str, User]
) -> None:
    admin = users["admin"]
    caller.begin()
    joined.session(admin).contacts.add_person("Ann", "Lee")
    caller.execute("INSERT INTO host_rows VALUES ('order')")
    assert plugin.reacted == []
    caller.end(commit=True)
    assert caller.execute("SELECT name FROM host_rows") == [("order",)]
    assert names(joined, admin) == ["Ann Lee"]
    assert plugin.reacted == ["contact.created"]


def test_a_failing_call_rolls_back_to_its_savepoint_only(
    joined: CRM, caller: Caller, plugin: Plugin, users: dict[str, User]
) -> None:
    admin = users["admin"]
    caller.begin()
    caller.execute("INSERT INTO host_rows VALUES ('before')")
    plugin.fail = True
    with pytest.raises(StorageError):
        joined.session(admin).contacts.add_person("Ann", "Lee")
    plugin.fail = False
    caller.execute("INSERT INTO host_rows VALUES ('after')")  # PostgreSQL: not aborted
    joined.session(admin).contacts.add_person("Bo", "Berg")
    caller.end(commit=True)
    assert sorted(caller.execute("SELECT name FROM host_rows")) == [("after",), ("before",)]
    assert names(joined, admin) == ["Bo Berg"]
    assert plugin.reacted == ["contact.created"]


def test_without_an_open_outer_transaction_a_call_commits_on_its_own(
    joined: CRM, caller: Caller, plugin: Plugin, users: dict[str, User]
) -> None:
    admin = users["admin"]
    joined.session(admin).contacts.add_person("Ann", "Lee")
    assert plugin.reacted == ["contact.created"]
    assert caller.execute("SELECT count(*) FROM contacts") == [(1,)]
    if not caller.sqlite:
        caller.raw.rollback()  # the read above began a transaction on the caller's side
    assert names(joined, admin) == ["Ann Lee"]


def test_stored_files_of_a_deleted_record_go_once_the_caller_commits(
    joined: CRM, caller: Caller, users: dict[str, User], tmp_path: Path
) -> None:
    """Deleting a case deletes its document's file after the caller's commit: a rollback
    brings the case back with a file to open."""
    s = joined.session(users["admin"])
    case = s.cases.add("Claim 7")
    doc = s.cases.attach(case.id, b"%PDF-1.4\n%%EOF\n", "a.pdf")
    files = tmp_path / "files"
    assert [p.name for p in files.iterdir()] == [doc.file_id]

    caller.begin()
    s.cases.delete(case.id)
    assert [p.name for p in files.iterdir()] == [doc.file_id]  # not before the commit
    caller.end(commit=False)
    assert s.cases.open_document(case.id, doc.id) == b"%PDF-1.4\n%%EOF\n"

    caller.begin()
    s.cases.delete(case.id)
    caller.end(commit=True)
    assert list(files.iterdir()) == []
