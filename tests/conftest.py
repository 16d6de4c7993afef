"""Shared fixtures: a CRM on every storage backend.

``crm`` is parametrized over SQLite and PostgreSQL (ids ``sqlite`` and ``postgresql``). The
PostgreSQL variant uses a throw-away schema in the database named by ``OPENCRM_TEST_PG_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). When no server answers it is
skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

# The Flask and Django adapters ship in the opencrm wheel from adapters/: test this
# checkout's copies even when another checkout is the one installed.
for _adapter in ("flask_ext", "django_app"):
    _path = str(Path(__file__).resolve().parents[1] / "adapters" / _adapter)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from opencrm import CRM, InMemoryUserDirectory, User  # noqa: E402
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade  # noqa: E402
from opencrm.storage.sqlalchemy.tables import metadata  # noqa: E402

PG_URL = os.environ.get("OPENCRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

USERS = [
    User(id="admin", name="Ada Admin", crm_admin=True),
    User(id="alice", name="Alice"),
    User(id="bob", name="Bob"),
    User(id="carol", name="Carol", groups=frozenset({"sales"})),
]


@pytest.fixture
def users() -> dict[str, User]:
    return {u.id: u for u in USERS}


@pytest.fixture
def directory() -> InMemoryUserDirectory:
    return InMemoryUserDirectory(USERS)


# --- SQLite: migrate once into a template file, copy it for every test ---------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine_for(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "crm.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


# --- PostgreSQL: one schema per test run, truncated and re-seeded for every test ----------


def _pg_available() -> str | None:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


class PgDatabase:
    def __init__(self) -> None:
        self.schema = f"opencrm_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            conn.exec_driver_sql(f'CREATE SCHEMA "{self.schema}"')
        admin.dispose()
        self.engine = self.make_engine()
        upgrade(self.engine)
        self.tables = list(reversed(metadata.sorted_tables))
        self.serial = [
            t for t in self.tables if "id" in t.c and t.c.id.primary_key and t.c.id.autoincrement
        ]
        with self.engine.connect() as conn:
            self.seed = {
                t.name: [dict(r._mapping) for r in conn.execute(t.select())] for t in self.tables
            }

    @property
    def url(self) -> str:
        return PG_URL

    def make_engine(self) -> sa.Engine:
        return create_engine_for(
            PG_URL, connect_args={"options": f"-csearch_path={self.schema},public"}
        )

    def reset(self) -> None:
        """Back to the freshly migrated state: seeded tables re-seeded, every other table
        that holds rows emptied, every id sequence restarted. Only tables with rows are
        emptied (one round trip finds them); this reset runs before every PostgreSQL test."""
        probe = " UNION ALL ".join(
            f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in self.tables
        )
        with self.engine.begin() as conn:
            filled = set(conn.exec_driver_sql(probe).scalars())
            dirty = [t for t in self.tables if t.name in filled or self.seed[t.name]]
            for table in dirty:  # children before parents
                # DELETE: TRUNCATE costs several ms per table (and CASCADE pulls in every
                # referencing table). The audit log refuses DELETE by design.
                verb = "TRUNCATE" if table.name == "audit_log" else "DELETE FROM"
                conn.exec_driver_sql(f'{verb} "{table.name}"')
            for table in reversed(dirty):
                rows = self.seed[table.name]
                if rows:
                    conn.execute(table.insert(), rows)
            # Sequences of tables that only saw rolled-back inserts move on too: restart all.
            conn.exec_driver_sql(
                "SELECT "
                + ", ".join(
                    f"setval(pg_get_serial_sequence('{t.name}', 'id'), "
                    f"{max((r['id'] for r in self.seed[t.name]), default=1)}, "
                    f"{'true' if self.seed[t.name] else 'false'})"
                    for t in self.serial
                )
            )

    def drop(self) -> None:
        self.engine.dispose()
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{self.schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgDatabase]:
    problem = _pg_available()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL at {PG_URL}: {problem}")
        pytest.skip(f"no PostgreSQL server at {PG_URL}: {problem}")
    db = PgDatabase()
    yield db
    db.drop()


# --- the CRM fixture every contract test uses --------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        url = request.getfixturevalue("sqlite_url")
        eng = create_engine_for(url)
        yield eng
        eng.dispose()
    else:
        db: PgDatabase = request.getfixturevalue("pg_database")
        db.reset()
        yield db.engine


@pytest.fixture
def crm(engine: sa.Engine, directory: InMemoryUserDirectory) -> CRM:
    return CRM(engine, load_entrypoints=False, directory=directory)


@pytest.fixture
def admin(crm: CRM, users: dict[str, User]):  # type: ignore[no-untyped-def]
    return crm.session(users["admin"])


@pytest.fixture
def alice(crm: CRM, users: dict[str, User]):  # type: ignore[no-untyped-def]
    return crm.session(users["alice"])


@pytest.fixture
def bob(crm: CRM, users: dict[str, User]):  # type: ignore[no-untyped-def]
    return crm.session(users["bob"])
