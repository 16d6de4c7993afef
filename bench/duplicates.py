"""Duplicate scan benchmark: ``session.contacts.duplicates`` and ``duplicates_of`` at scale.

Loads N synthetic contacts (default 1,000,000) with a known share of duplicates into a fresh
SQLite file and a fresh PostgreSQL schema, then times, as a non-admin user and as an admin:
the first page of clusters, a page deep into the scan, a whole scan page by page, and the
``duplicates_of`` check. Each figure is set against a baseline measured in the same run: the
same cluster query's simplest form (one ``GROUP BY`` over the e-mail index, no permission
filter), executed directly on the DBAPI connection.

    python bench/duplicates.py [--rows N] [--backends sqlite,postgresql] [--explain]

PostgreSQL is reached at ``OPENCRM_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a throw-away schema dropped at the
end. See docs/performance.md for figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.core.matching import company_key, person_key
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade

PG_URL = os.environ.get("OPENCRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SEED = 20261202
CHUNK = 50_000
REPS = 20
SLOW_MS = 200.0
SLOW_REPS = 5
USER = User(id="user07", name="User Seven")
ADMIN = User(id="admin", name="Admin", crm_admin=True)
MANAGERS = [f"user{n:02d}" for n in range(1, 51)]
FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hanna",
    "Ida",
    "Jonas",
    "Karl",
    "Lena",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
]
LAST = [
    "Adler",
    "Bauer",
    "Becker",
    "Fischer",
    "Hoffmann",
    "Koch",
    "Lange",
    "Meyer",
    "Neumann",
    "Richter",
    "Schmidt",
    "Schulz",
    "Schwarz",
    "Wagner",
    "Weber",
    "Wolf",
    "Zimmermann",
    "Braun",
    "Hartmann",
    "Kraus",
]
WORDS = [
    "Nord",
    "Alpen",
    "Rhein",
    "Blau",
    "Sonnen",
    "Stern",
    "Berg",
    "Wald",
    "Fluss",
    "Stadt",
    "Licht",
    "Eisen",
    "Gold",
]
KINDS = [
    "Technik",
    "Logistik",
    "Bau",
    "Handel",
    "Software",
    "Medien",
    "Energie",
    "Werke",
    "Digital",
    "Partner",
]
FORMS = ["GmbH", "AG", "KG", "Ltd", "GmbH & Co. KG", ""]

CONTACT_COLS = [
    "id",
    "kind",
    "first_name",
    "last_name",
    "company_name",
    "sort_name",
    "name_key",
    "company_id",
    "access",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
]
INFO_COLS = ["contact_id", "info_type", "category", "value", "normalized", "is_primary"]


def generate(
    n: int,
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Contacts 1..n: 15 % companies (names from a pool, so some collide), persons with a
    unique e-mail and phone, except that 2 % reuse an earlier contact's e-mail and 1 % its
    phone, and 1 % repeat an earlier person's name at the same company."""
    rnd = random.Random(SEED)
    created = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    companies: list[int] = []
    persons: list[tuple[str, str, int | None]] = []
    contacts_, managers, infos = [], [], []
    for cid in range(1, n + 1):
        owner = rnd.choice(MANAGERS)
        r = rnd.random()
        access = "private" if r < 0.5 else "read" if r < 0.85 else "read_write"
        if rnd.random() < 0.15:
            stem = f"{rnd.choice(WORDS)}{rnd.choice(KINDS).lower()} {cid % 50_000}"
            name = f"{stem} {rnd.choice(FORMS)}".strip()
            row: tuple[Any, ...] = (
                cid, "company", "", "", name, name.casefold(), company_key(name), None,
                access, owner, created, owner, created,
            )  # fmt: skip
            companies.append(cid)
        else:
            if persons and rnd.random() < 0.01:
                first, last, company = rnd.choice(persons[-1000:])
            else:
                first, last = rnd.choice(FIRST), f"{rnd.choice(LAST)}{cid % 997}"
                company = rnd.choice(companies[-500:]) if companies and rnd.random() < 0.3 else None
            persons.append((first, last, company))
            row = (
                cid, "person", first, last, "", f"{first} {last}".casefold(),
                person_key(first, last), company, access, owner, created, owner, created,
            )  # fmt: skip
        contacts_.append(row)
        managers.append((cid, owner))
        mail_id = rnd.randrange(1, cid) if cid > 1 and rnd.random() < 0.02 else cid
        phone_id = rnd.randrange(1, cid) if cid > 1 and rnd.random() < 0.01 else cid
        email = f"c{mail_id}@example.com"
        number = f"{(phone_id * 7919 + 1_234_567) % 90_000_000 + 10_000_000:08d}"
        infos.append((cid, "email", "work", email, email, True))
        infos.append((cid, "phone", "work", f"+49 30 {number}", f"+4930{number}", True))
        if len(contacts_) >= CHUNK:
            yield contacts_, managers, infos
            contacts_, managers, infos = [], [], []
    if contacts_:
        yield contacts_, managers, infos


def load_sqlite(engine: sa.Engine, n: int) -> None:
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        triggers = [
            sql
            for (sql,) in raw.execute(
                "SELECT sql FROM sqlite_master"
                " WHERE type = 'trigger' AND name LIKE 'contacts_fts_%'"
            )
        ]
        conn = conn.execution_options(opencrm_write=True)
        with conn.begin():
            for name in ("contacts_fts_ai", "contacts_fts_ad", "contacts_fts_au"):
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        marks = ", ".join("?" * len(CONTACT_COLS))
        c_sql = f"INSERT INTO contacts ({', '.join(CONTACT_COLS)}) VALUES ({marks})"
        for rows, managers, infos in generate(n):
            with conn.begin():
                raw.executemany(c_sql, [_sqlite_row(r) for r in rows])
                raw.executemany("INSERT INTO contact_managers VALUES (?, ?)", managers)
                raw.executemany(
                    f"INSERT INTO contact_infos ({', '.join(INFO_COLS)}) VALUES (?, ?, ?, ?, ?, ?)",
                    infos,
                )
        with conn.begin():
            conn.exec_driver_sql("INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')")
            for sql in triggers:
                conn.exec_driver_sql(sql)
        raw.execute("ANALYZE")


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # UTCDateTime's stored form on SQLite (ISO text in UTC).
    return tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in row)


def load_postgresql(engine: sa.Engine, n: int) -> None:
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            for rows, managers, infos in generate(n):
                for table, cols, data in (
                    ("contacts", CONTACT_COLS, rows),
                    ("contact_managers", ["contact_id", "user_id"], managers),
                    ("contact_infos", INFO_COLS, infos),
                ):
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
            cur.execute("SELECT setval(pg_get_serial_sequence('contacts', 'id'), %s)", (n,))
        raw.commit()
        raw.autocommit = True
        try:
            raw.execute("VACUUM (ANALYZE) contacts, contact_managers, contact_infos")
        finally:
            raw.autocommit = False


@contextlib.contextmanager
def open_backend(name: str) -> Iterator[tuple[CRM, Callable[[sa.Engine, int], None]]]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="opencrm-bench-") as tmp:
            crm = CRM.open(f"sqlite:///{Path(tmp) / 'crm.db'}", load_entrypoints=False)
            try:
                yield crm, load_sqlite
            finally:
                crm.close()
        return
    schema = f"opencrm_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        engine = create_engine_for(
            PG_URL, connect_args={"options": f"-csearch_path={schema},public"}
        )
        upgrade(engine)
        crm = CRM(engine, load_entrypoints=False)
        try:
            yield crm, load_postgresql
        finally:
            crm.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def timed(fn: Callable[[], object]) -> list[float]:
    t0 = time.perf_counter()
    fn()
    reps = SLOW_REPS if (time.perf_counter() - t0) * 1000 > SLOW_MS else REPS
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


#: The naive answer, run raw: every duplicated key of the four kinds in one pass each, with no
#: permission check and no paging. The figures below are set against its total.
BASELINE = (
    "SELECT normalized, count(*) FROM contact_infos WHERE info_type = 'email' "
    "GROUP BY normalized HAVING count(*) > 1",
    "SELECT normalized, count(*) FROM contact_infos WHERE info_type = 'phone' "
    "GROUP BY normalized HAVING count(*) > 1",
    "SELECT name_key, count(*) FROM contacts WHERE kind = 'company' "
    "GROUP BY name_key HAVING count(*) > 1",
    "SELECT name_key, company_id, count(*) FROM contacts WHERE kind = 'person' "
    "AND company_id IS NOT NULL GROUP BY name_key, company_id HAVING count(*) > 1",
)


def measure(crm: CRM, explain: bool) -> list[tuple[str, str, float, float]]:
    results: list[tuple[str, str, float, float]] = []
    with crm.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None

        def baseline() -> None:
            cur = raw.cursor()
            for sql in BASELINE:
                cur.execute(sql)
                cur.fetchall()

        base = statistics.median(timed(baseline))
        if explain:
            prefix = (
                "EXPLAIN QUERY PLAN " if crm.engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
            )
            cur = raw.cursor()
            for sql in BASELINE:
                cur.execute(prefix + sql)
                print("\n".join(str(r) for r in cur.fetchall()))
    results.append(
        ("baseline: raw GROUP BY of all four keys, no paging or permission", "-", base, 1.0)
    )
    for user in (USER, ADMIN):
        s = crm.session(user)
        first = s.contacts.duplicates(limit=25)
        after = first.next_cursor
        for _ in range(20):  # 20 pages on: a page deep into the scan
            after = s.contacts.duplicates(limit=25, after=after).next_cursor
        ms = statistics.median(timed(lambda s=s: s.contacts.duplicates(limit=25)))
        results.append(("first page (25 clusters)", user.id, ms, ms / base))
        ms = statistics.median(timed(lambda s=s, a=after: s.contacts.duplicates(limit=25, after=a)))
        results.append(("page 22 (after 525 clusters)", user.id, ms, ms / base))
        t0 = time.perf_counter()
        pages = clusters = 0
        cursor: str | None = None
        while True:
            page = s.contacts.duplicates(limit=100, after=cursor)
            pages += 1
            clusters += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        ms = (time.perf_counter() - t0) * 1000
        results.append(
            (f"whole scan: {clusters:,} clusters in {pages:,} pages of 100", user.id, ms, ms / base)
        )
        email = "c1234@example.com"  # every contact's own address is c<id>@example.com
        ms = statistics.median(
            timed(
                lambda s=s, e=email: s.contacts.duplicates_of(
                    emails=[e], phones=["+49 30 12345678"]
                )
            )
        )
        results.append(("duplicates_of(e-mail, phone)", user.id, ms, ms / base))
        ms = statistics.median(
            timed(
                lambda s=s: s.contacts.duplicates_of(
                    first_name="Anna", last_name="Adler1", company=7
                )
            )
        )
        results.append(("duplicates_of(person at a company)", user.id, ms, ms / base))
    # Group operations: 10,000 ids, one call each (they write, so each runs once).
    ids = list(range(1, 10_001))
    for user, label, call in (
        (USER, "group_add_tag, 10,000 ids", lambda s: s.contacts.group_add_tag("Bench", ids=ids)),
        (
            ADMIN,
            "group_set_temperature, 10,000 ids",
            lambda s: s.contacts.group_set_temperature("Hot", ids=ids),
        ),
    ):
        s = crm.session(user)
        t0 = time.perf_counter()
        done = call(s)
        ms = (time.perf_counter() - t0) * 1000
        label += f" ({len(done.changed):,} changed, {len(done.refused):,} refused)"
        results.append((label, user.id, ms, ms / base))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    print(f"rows: {args.rows:,}; user {USER.id} (non-admin) and an admin; p50 of {REPS} runs")
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"\n== {name} ==", flush=True)
        with open_backend(name) as (crm, load):
            t0 = time.perf_counter()
            load(crm.engine, args.rows)
            print(f"  load: {time.perf_counter() - t0:.1f} s", flush=True)
            print("| operation | user | p50 | / baseline |\n|---|---|--:|--:|")
            for op, who, ms, ratio in measure(crm, args.explain):
                print(f"| {op} | {who} | {ms:,.1f} ms | {ratio:.2f}x |", flush=True)
    print(f"\ntotal run time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
