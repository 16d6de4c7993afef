"""Opening a CRM, migrations and the schema they build."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from opencrm import CRM, SchemaOutdated, SchemaTooNew, StorageError, User
from opencrm.storage.sqlalchemy.engine import create_engine_for, current_revision, head_revision
from opencrm.storage.sqlalchemy.tables import metadata

ADMIN = User(id="admin", crm_admin=True)


def test_migrated_schema_matches_the_table_definitions(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    # Search helpers (FTS5 tables, trigram indexes) live outside the metadata on purpose.
    diffs = [
        d
        for d in diffs
        if not (d[0] == "remove_table" and d[1].name.startswith("contacts_fts"))
        and not (d[0] == "remove_index" and d[1].name == "ix_contacts_sort_name_trgm")
        and not (
            d[0] == "remove_table"
            and d[1].name.startswith(("opportunities_fts", "cases_fts", "tasks_fts", "history_fts"))
        )
        and not (
            d[0] == "remove_index"
            and d[1].name
            in (
                "ix_opportunities_title_key_trgm",
                "ix_cases_title_key_trgm",
                "ix_tasks_title_key_trgm",
                "ix_history_events_content_key_trgm",
                "ix_invoices_number_trgm",
            )
        )
    ]
    assert diffs == []


def test_sqlite_file_is_created_upgraded_and_seeded_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    for _ in range(2):
        with CRM.open(url, load_entrypoints=False) as crm:
            assert current_revision(crm.engine) == head_revision()
            assert len(crm.session(ADMIN).lists.items("contact_type")) == 4
    raw = sqlite3.connect(tmp_path / "crm.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_sqlite_connections_enforce_foreign_keys(tmp_path):
    crm = CRM.open(f"sqlite:///{tmp_path / 'fk.db'}", load_entrypoints=False)
    with crm, crm.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_in_memory_sqlite_works(tmp_path):
    crm = CRM.open("sqlite://", load_entrypoints=False)
    s = crm.session(ADMIN)
    s.contacts.add_company("Memory Co")
    assert s.contacts.count() == 1
    crm.close()


def test_postgresql_needs_an_explicit_upgrade(pg_database):
    import uuid

    schema = f"opencrm_empty_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_database.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    options = {"connect_args": {"options": f"-csearch_path={schema},public"}}
    try:
        with pytest.raises(SchemaOutdated, match="opencrm db upgrade"):
            CRM.open(pg_database.url, engine_options=options, load_entrypoints=False)
        crm = CRM.open(
            pg_database.url, engine_options=options, upgrade=True, load_entrypoints=False
        )
        assert len(crm.session(ADMIN).lists.stages()) == 9
        crm.close()
        crm = CRM.open(pg_database.url, engine_options=options, load_entrypoints=False)
        crm.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_schema_newer_than_this_opencrm_says_to_upgrade_opencrm(backend, tmp_path, request):
    import uuid

    options: dict[str, object] = {}
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'newer.db'}"
        admin = None
    else:
        url = request.getfixturevalue("pg_database").url
        schema = f"opencrm_newer_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        options = {"connect_args": {"options": f"-csearch_path={schema},public"}}
    try:
        CRM.open(url, engine_options=options, upgrade=True, load_entrypoints=False).close()
        engine = create_engine_for(url, **options)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff9999'")
        for upgrade in (None, True, False):
            with pytest.raises(SchemaTooNew) as caught:
                CRM.open(url, engine_options=options, upgrade=upgrade, load_entrypoints=False)
            assert isinstance(caught.value, SchemaOutdated)
            assert caught.value.revision == "ffff9999"
            assert str(caught.value) == (
                "the database schema (revision ffff9999) is newer than this opencrm: a newer "
                "opencrm migrated it; upgrade opencrm (pip install -U opencrm) to open it"
            )
        assert current_revision(engine) == "ffff9999"  # nothing was changed
        engine.dispose()
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def test_unsupported_url_is_refused():
    with pytest.raises(ValueError, match="sqlite and postgresql"):
        create_engine_for("mysql://root@127.0.0.1/test")


def test_unreachable_database_is_a_storage_error(tmp_path):
    engine = create_engine_for(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    crm = CRM(engine, load_entrypoints=False)
    with pytest.raises(StorageError):
        crm.session(ADMIN).contacts.count()


def test_concurrent_tag_creation_never_leaks_a_driver_error(crm, users):
    """Two writers adding the same new tag at once: both succeed or one gets a Conflict."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        s = crm.session(users["alice"])
        barrier.wait()
        try:
            s.contacts.add_company(f"Racer {n}", tags={"race tag"})
        except BaseException as exc:  # collected and checked below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from opencrm import Conflict

    assert all(isinstance(e, Conflict) for e in errors), errors
    s = crm.session(users["alice"])
    assert s.contacts.count(tags={"race tag"}) == 4 - len(errors)
    assert [t.title for t in s.lists.tags()].count("race tag") == 1
