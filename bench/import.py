"""Contact import benchmark: opencrm's import against the raw driver and Django's bulk_create.

A CSV file of N new contacts (name, e-mail, phone, company, two tags) is imported into a CRM
that already holds N contacts (the same shape; their e-mails and phones are what duplicate
detection looks up, and the file's companies are among them). The same rows are then inserted

- by the raw driver (sqlite3 ``executemany``; psycopg ``COPY``), ids chosen by the script,
  no validation, no duplicate detection, rows already in memory: the floor of what inserting
  these rows costs;
- by Django's ``bulk_create`` (batch 1,000) of equivalent minimal models (a standalone Django
  project written to a temporary directory, run in a subprocess), again with N existing rows,
  no validation and no duplicate detection.

Every contender writes the same tables' worth of rows: a person, its e-mail and phone, its
manager and two tag links. Then, unless ``--rss-rows 0``, opencrm imports ``--rss-rows``
contacts (default 1,000,000) on SQLite in a subprocess that reports its peak RSS
(``resource.getrusage``).

    python bench/import.py [--rows N] [--backends sqlite,postgresql] [--rss-rows N]

PostgreSQL is reached at ``OPENCRM_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), in throw-away schemas dropped at the
end. See docs/performance.md for figures and their reading.
"""

# ruff: noqa: E501  (SQL column lists and the embedded Django script read best unwrapped)

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import inspect
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.io import CsvRows
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade

PG_URL = os.environ.get("OPENCRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ADMIN = User(id="admin", name="Admin", crm_admin=True)
COMPANIES = 1000
MAPPING = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "E-mail",
    "phone": "Phone",
    "company": "Company",
    "tags": "Tags",
}


# --- the rows ---------------------------------------------------------------------------------


def person(i: int) -> tuple[str, str, str, str, str, tuple[str, str]]:
    """Row ``i``: first, last, e-mail, phone, company, two tags (all distinct per ``i``)."""
    return (
        f"First{i}",
        f"Last{i % 5000}",
        f"person{i}@example{i % 97}.com",
        f"+1 212 {i // 10000 % 1000:03d} {i % 10000:04d}",
        f"Company {i % COMPANIES}",
        (f"tag{i % 20}", f"group{i % 7}"),
    )


def e164(phone: str) -> str:
    return "+" + "".join(c for c in phone if c.isdigit())


def write_csv(path: Path, first: int, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(list(MAPPING.values()))
        for i in range(first, first + count):
            fn, ln, email, phone, company, tags = person(i)
            out.writerow([fn, ln, email, phone, company, ",".join(tags)])


# --- raw inserts (also how the existing contacts are loaded) -----------------------------------


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def raw_tables(
    first: int, count: int, next_id: int, company_ids: dict[str, int], tag_ids: dict[str, int]
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of ``count`` persons from ``first``, with explicit ids from ``next_id``."""
    contacts, infos, managers, tagged = [], [], [], []
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    for n, i in enumerate(range(first, first + count)):
        cid = next_id + n
        fn, ln, email, phone, company, tags = person(i)
        contacts.append(
            (
                cid,
                "person",
                fn,
                ln,
                f"{fn} {ln}".casefold(),
                company_ids[company],
                "private",
                "admin",
                stamp,
                "admin",
                stamp,
            )
        )
        infos.append((cid, "email", "work", email, email.lower(), True))
        infos.append((cid, "phone", "work", phone, e164(phone), True))
        managers.append((cid, "admin"))
        tagged += [(tag_ids[t], "contact", cid) for t in tags]
    return {"contacts": contacts, "infos": infos, "managers": managers, "tags": tagged}


_CONTACT_COLS = "id, kind, first_name, last_name, sort_name, company_id, access, created_by, created_at, updated_by, updated_at"
_INFO_COLS = "contact_id, info_type, category, value, normalized, is_primary"


def raw_insert(engine: sa.Engine, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("BEGIN")  # the engine's connections leave BEGIN to the caller
            cur.executemany(
                f"INSERT INTO contacts ({_CONTACT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows["contacts"],
            )
            cur.executemany(
                f"INSERT INTO contact_infos ({_INFO_COLS}) VALUES (?,?,?,?,?,?)", rows["infos"]
            )
            cur.executemany(
                "INSERT INTO contact_managers (contact_id, user_id) VALUES (?,?)", rows["managers"]
            )
            cur.executemany(
                "INSERT INTO entity_tags (tag_id, entity_type, entity_id) VALUES (?,?,?)",
                rows["tags"],
            )
        else:
            for table, cols, data in (
                ("contacts", _CONTACT_COLS, rows["contacts"]),
                ("contact_infos", _INFO_COLS, rows["infos"]),
                ("contact_managers", "contact_id, user_id", rows["managers"]),
                ("entity_tags", "tag_id, entity_type, entity_id", rows["tags"]),
            ):
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in data:
                        copy.write_row(row)
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts))"
            )
        raw.commit()
    finally:
        raw.close()


def prepare(engine: sa.Engine, existing: int) -> tuple[dict[str, int], dict[str, int]]:
    """Companies, tags and ``existing`` persons, loaded raw; returns company and tag ids."""
    crm = CRM(engine, load_entrypoints=False)
    with crm.session(ADMIN) as s:
        for n in range(20):
            s.lists.add_tag(f"tag{n}")
        for n in range(7):
            s.lists.add_tag(f"group{n}")
        tag_ids = {t.title: t.id for t in s.lists.tags()}
    with engine.begin() as conn:
        start = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts").scalar_one() + 1
    companies = [
        (
            start + n,
            "company",
            f"Company {n}",
            f"company {n}",
            "private",
            "admin",
            NOW.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "admin",
            NOW.strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
        for n in range(COMPANIES)
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO contacts (id, kind, company_name, sort_name, access, created_by, created_at, updated_by, updated_at) VALUES "
            + (
                "(?,?,?,?,?,?,?,?,?)"
                if engine.dialect.name == "sqlite"
                else "(%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            ),
            companies,
        )
    company_ids = {f"Company {n}": start + n for n in range(COMPANIES)}
    raw_insert(engine, raw_tables(0, existing, start + COMPANIES, company_ids, tag_ids))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return company_ids, tag_ids


@contextlib.contextmanager
def database(backend: str) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine_for(f"sqlite:///{Path(tmp) / 'crm.db'}")
            upgrade(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    schema = f"opencrm_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine_for(PG_URL, connect_args={"options": f"-csearch_path={schema},public"})
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


# --- the contenders ---------------------------------------------------------------------------


def run_opencrm(backend: str, rows: int, csv_path: Path) -> dict[str, Any]:
    with database(backend) as engine:
        prepare(engine, rows)
        crm = CRM(engine, load_entrypoints=False)
        started, cpu = time.perf_counter(), time.process_time()
        with crm.session(ADMIN) as s:
            report = s.imports.run("contacts", CsvRows(csv_path), MAPPING)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert (report.created, report.rejected, report.skipped) == (rows, 0, 0), report.counts()
        # Importing again: every row is found as a duplicate and skipped.
        started = time.perf_counter()
        with crm.session(ADMIN) as s:
            again = s.imports.run("contacts", CsvRows(csv_path), MAPPING)
        again_seconds = time.perf_counter() - started
        assert again.skipped == rows, again.counts()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rate": rows / seconds,
        "again_rate": rows / again_seconds,
    }


def run_raw(backend: str, rows: int) -> dict[str, Any]:
    with database(backend) as engine:
        company_ids, tag_ids = prepare(engine, rows)
        with engine.begin() as conn:
            next_id = conn.exec_driver_sql("SELECT max(id) FROM contacts").scalar_one() + 1
        data = raw_tables(rows, rows, next_id, company_ids, tag_ids)
        started, cpu = time.perf_counter(), time.process_time()
        raw_insert(engine, data)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "rate": rows / seconds}


DJANGO_MODELS = """
from django.db import models


class Company(models.Model):
    name = models.CharField(max_length=255, db_index=True)


class Contact(models.Model):
    first_name = models.CharField(max_length=255)
    last_name = models.CharField(max_length=255)
    sort_name = models.CharField(max_length=600, db_index=True)
    company = models.ForeignKey(Company, null=True, on_delete=models.SET_NULL)
    access = models.CharField(max_length=10)
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField()


class ContactInfo(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    info_type = models.CharField(max_length=20)
    category = models.CharField(max_length=20)
    value = models.CharField(max_length=1000)
    normalized = models.CharField(max_length=1000, null=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["info_type", "normalized"])]


class Manager(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    user_id = models.CharField(max_length=255)


class Tag(models.Model):
    title = models.CharField(max_length=255)


class TaggedContact(models.Model):
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
"""

DJANGO_RUN = """
import datetime as dt, json, sys, time
import django
from django.conf import settings

backend, rows, db = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
settings.configure(DATABASES={"default": db}, INSTALLED_APPS=["benchapp"], USE_TZ=True)
django.setup()
from django.db import connection
from benchapp.models import Company, Contact, ContactInfo, Manager, Tag, TaggedContact
COMPANIES = 1000

with connection.schema_editor() as editor:
    for model in (Company, Contact, ContactInfo, Manager, Tag, TaggedContact):
        editor.create_model(model)
now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
companies = Company.objects.bulk_create([Company(name=f"Company {n}") for n in range(1000)])
by_name = {c.name: c for c in companies}
tags = {t.title: t for t in Tag.objects.bulk_create([Tag(title=f"tag{n}") for n in range(20)] + [Tag(title=f"group{n}") for n in range(7)])}

def load(first):
    contacts, infos, managers, tagged = [], [], [], []
    people = [person(i) for i in range(first, first + rows)]
    made = Contact.objects.bulk_create(
        [Contact(first_name=fn, last_name=ln, sort_name=f"{fn} {ln}".casefold(), company=by_name[co],
                 access="private", created_by="admin", created_at=now) for fn, ln, em, ph, co, tg in people],
        batch_size=1000,
    )
    for c, (fn, ln, em, ph, co, tg) in zip(made, people):
        infos.append(ContactInfo(contact=c, info_type="email", category="work", value=em, normalized=em.lower(), is_primary=True))
        infos.append(ContactInfo(contact=c, info_type="phone", category="work", value=ph, normalized=e164(ph), is_primary=True))
        managers.append(Manager(contact=c, user_id="admin"))
        tagged += [TaggedContact(tag=tags[t], contact=c) for t in tg]
    ContactInfo.objects.bulk_create(infos, batch_size=1000)
    Manager.objects.bulk_create(managers, batch_size=1000)
    TaggedContact.objects.bulk_create(tagged, batch_size=1000)

load(0)  # the existing contacts
started, cpu = time.perf_counter(), time.process_time()
load(rows)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
"""


def run_django(backend: str, rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "benchapp"
        app.mkdir()
        (app / "__init__.py").write_text("")
        (app / "models.py").write_text(DJANGO_MODELS)
        # The same rows: the row functions' source goes along (the run imports no opencrm).
        shared = inspect.getsource(person) + "\n" + inspect.getsource(e164)
        (Path(tmp) / "run.py").write_text(
            DJANGO_RUN.replace("COMPANIES = 1000\n", f"COMPANIES = {COMPANIES}\n{shared}")
        )
        schema = None
        if backend == "sqlite":
            db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(tmp) / "django.db")}
        else:
            url = sa.engine.make_url(PG_URL)
            schema = f"django_bench_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            db = {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": url.database,
                "USER": url.username,
                "HOST": url.host,
                "PORT": url.port or 5432,
                "OPTIONS": {"options": f"-c search_path={schema}"},
            }
        try:
            done = subprocess.run(
                [sys.executable, str(Path(tmp) / "run.py"), backend, str(rows), json.dumps(db)],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            if schema is not None:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.dispose()
        if done.returncode != 0:
            raise SystemExit(f"the Django run failed:\n{done.stderr}")
        timed = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": timed["seconds"], "cpu": timed["cpu"], "rate": rows / timed["seconds"]}


# --- peak memory --------------------------------------------------------------------------------


def rss_child(csv_path: str) -> None:
    """In a subprocess: import the file on SQLite, print rate and peak RSS (MB). The parent
    wrote the file, so the peak is the import's own."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with database("sqlite") as engine:
        crm = CRM(engine, load_entrypoints=False)
        started = time.perf_counter()
        with crm.session(ADMIN) as s:
            report = s.imports.run("contacts", CsvRows(csv_path), MAPPING)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"rows": report.created, "seconds": seconds, "before_mb": before, "peak_mb": peak}
        )
    )


def run_rss(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, 0, rows)
        done = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"the RSS run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rss-rows", type=int, default=1_000_000, help="0 skips the RSS run")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
        f"{args.rows:,} rows into {args.rows:,} existing"
    )
    backends = [b for b in args.backends.split(",") if b]
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "import.csv"
        if backends:
            write_csv(csv_path, args.rows, args.rows)
        for backend in backends:
            ours = run_opencrm(backend, args.rows, csv_path)
            raw = run_raw(backend, args.rows)
            django = run_django(backend, args.rows)
            print(f"\n{backend}")
            print(
                f"  opencrm import        {ours['rate']:>9,.0f} rows/s  ({ours['seconds']:.1f} s; "
                f"re-import, all skipped: {ours['again_rate']:,.0f} rows/s)"
            )
            print(f"  raw driver            {raw['rate']:>9,.0f} rows/s  ({raw['seconds']:.1f} s)")
            print(
                f"  Django bulk_create    {django['rate']:>9,.0f} rows/s  ({django['seconds']:.1f} s)"
            )
            print(f"  opencrm / raw         {ours['rate'] / raw['rate']:.2f}  (target >= 0.33)")
            print(f"  opencrm / bulk_create {ours['rate'] / django['rate']:.2f}  (target >= 2)")
            # CPU seconds of the process doing the work (SQLite runs inside it, so there they
            # are the whole cost; PostgreSQL's server time is not in them): steadier than wall
            # time on a shared machine.
            print(
                f"  CPU seconds           opencrm {ours['cpu']:.1f}, raw {raw['cpu']:.1f}, "
                f"bulk_create {django['cpu']:.1f}  (opencrm / raw {raw['cpu'] / ours['cpu']:.2f}, "
                f"opencrm / bulk_create {django['cpu'] / ours['cpu']:.2f}, as rates)"
            )
    if args.rss_rows:
        rss = run_rss(args.rss_rows)
        print(
            f"\npeak RSS importing {rss['rows']:,} rows on sqlite: {rss['peak_mb']:.0f} MB "
            f"(after start-up, before the import: {rss['before_mb']:.0f} MB; {rss['rows'] / rss['seconds']:,.0f} rows/s; "
            "target < 300 MB)"
        )


if __name__ == "__main__":
    main()
