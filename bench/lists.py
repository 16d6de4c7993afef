"""List page benchmark: opportunities, tasks and invoices against all the SQL each page sends.

Loads N opportunities, N tasks and N invoices (default 100,000 each, with N/10 contacts, half
of them private, spread over 20 managers) into a fresh SQLite file and a fresh PostgreSQL
schema, then times, as a plain user, the first page of 50 and a page deep in the list for
each: through opencrm, and as every statement opencrm sent for the call, executed directly on
the DBAPI connection (the two taking turns, so both meet the same machine load).

    python bench/lists.py [--rows N] [--backends sqlite,postgresql]

The records are copies of one record of each kind made through opencrm (so they are stored
exactly as opencrm stores them), varied in their sort keys, owners and links, and inserted
with SQLAlchemy Core. PostgreSQL is reached at ``OPENCRM_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a throw-away schema dropped at
the end. Figures and their reading: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from moneyed import Money

from opencrm import CRM, User
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade
from opencrm.storage.sqlalchemy.tables import (
    contact_managers,
    contacts,
    invoice_lines,
    invoices,
    opportunities,
    opportunity_access,
    opportunity_members,
    tasks,
)

# The measuring code (statement log, raw replay, interleaved timing, report) is the contact
# benchmark's; loaded by path, as the bench directory is not a package.
_spec = importlib.util.spec_from_file_location(
    "bench_contacts", Path(__file__).with_name("contacts.py")
)
assert _spec is not None
assert _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_contacts"] = bench
_spec.loader.exec_module(bench)

PG_URL = bench.PG_URL
ADMIN = User(id="admin", name="Admin", crm_admin=True)
MANAGERS = [f"user{i:02d}" for i in range(20)]
USER = User(id="user07", name="User 7")
NOW = dt.datetime(2027, 6, 1, 9, tzinfo=dt.UTC)
CHUNK = 5000


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _template(conn: sa.Connection, table: sa.Table, record_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(table).where(table.c.id == record_id)).one()._asdict()
    row.pop("id")
    return row


def load(crm: CRM, n: int) -> None:
    """N/10 contacts, then N opportunities, tasks and invoices copied from templates."""
    rnd = random.Random(20261202)
    s = crm.session(ADMIN)
    s.taxes.add("VAT", "19")
    client = s.contacts.add_company("Template client", access="read")
    deal = s.opportunities.add(
        "Template deal", contact=client, budget=Money("1000.00", "EUR"), tags=["Fair"]
    )
    task = s.tasks.add("Template task", NOW, contact=client)
    invoice = s.invoices.add(
        client=client,
        lines=[
            s.invoices.line("Consulting", price="120.00", quantity="7.5", taxes=["VAT"]),
            s.invoices.line("Licence", price="19.99", quantity=3, taxes=["VAT"]),
        ],
    )
    engine = crm.engine
    with engine.begin() as conn:
        deal_row = _template(conn, opportunities, deal.id)
        task_row = _template(conn, tasks, task.id)
        invoice_row = _template(conn, invoices, invoice.id)
        line_rows = [
            r._asdict()
            for r in conn.execute(
                sa.select(invoice_lines).where(invoice_lines.c.invoice_id == invoice.id)
            )
        ]
        person = _template(conn, contacts, client.id)
        first = conn.execute(sa.select(sa.func.max(contacts.c.id))).scalar_one() + 1
        n_contacts = max(100, n // 10)
        ids = list(range(first, first + n_contacts))
        for batch in _chunks(
            person
            | {
                "id": cid,
                "kind": "company",
                "company_name": f"Company {cid:07d}",
                "sort_name": f"company {cid:07d}",
                "access": "private" if cid % 2 else "read",
                "created_by": MANAGERS[cid % 20],
                "updated_by": MANAGERS[cid % 20],
            }
            for cid in ids
        ):
            conn.execute(sa.insert(contacts), batch)
        for batch in _chunks({"contact_id": cid, "user_id": MANAGERS[cid % 20]} for cid in ids):
            conn.execute(sa.insert(contact_managers), batch)
        base = conn.execute(sa.select(sa.func.max(opportunities.c.id))).scalar_one() + 1
        for batch in _chunks(
            deal_row
            | {
                "id": base + i,
                "title": f"Deal {i:07d}",
                "title_key": f"deal {i:07d}",
                "contact_id": rnd.choice(ids),
                "responsible": (owner := rnd.choice(MANAGERS)),
                "restricted": rnd.random() < 0.3,
                "created_by": owner,
                "created_at": NOW - dt.timedelta(minutes=i),
                "updated_by": owner,
            }
            for i in range(n)
        ):
            conn.execute(sa.insert(opportunities), batch)
            conn.execute(
                sa.insert(opportunity_members),
                [{"opportunity_id": r["id"], "contact_id": r["contact_id"]} for r in batch],
            )
            conn.execute(
                sa.insert(opportunity_access),
                [{"opportunity_id": r["id"], "user_id": r["responsible"]} for r in batch],
            )
        for batch in _chunks(
            task_row
            | {
                "title": f"Call {i}",
                "title_key": f"call {i}",
                "due_at": (due := NOW + dt.timedelta(minutes=rnd.randint(-43_200, 129_600))),
                "remind_at": due - dt.timedelta(days=1),
                "responsible": rnd.choice(MANAGERS),
                "contact_id": rnd.choice(ids) if rnd.random() < 0.7 else None,
                "closed": rnd.random() < 0.3,
            }
            for i in range(n)
        ):
            conn.execute(sa.insert(tasks), batch)
        base = conn.execute(sa.select(sa.func.max(invoices.c.id))).scalar_one() + 1
        for batch in _chunks(
            invoice_row
            | {
                "id": base + i,
                "number": f"B-{i:07d}",
                "client_id": rnd.choice(ids),
                "issue_date": (issued := (NOW - dt.timedelta(hours=i)).date()),
                "due_date": issued + dt.timedelta(days=30),
                "created_by": rnd.choice(MANAGERS),
            }
            for i in range(n)
        ):
            conn.execute(sa.insert(invoices), batch)
            conn.execute(
                sa.insert(invoice_lines),
                [
                    {k: v for k, v in line.items() if k != "id"} | {"invoice_id": r["id"]}
                    for r in batch
                    for line in line_rows
                ],
            )
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")


def operations(crm: CRM) -> list[Any]:
    s = crm.session(USER)
    deep: dict[str, str | None] = {}
    for name, service in (("opps", s.opportunities), ("tasks", s.tasks), ("invoices", s.invoices)):
        cursor = None
        for _ in range(20):
            cursor = service.list(limit=50, after=cursor).next_cursor
        deep[name] = cursor
    op = bench.Operation
    return [
        op(
            "opportunities: first page (50)",
            lambda: s.opportunities.list(limit=50),
            " AS k_",
            "page",
        ),
        op(
            "opportunities: page 21",
            lambda: s.opportunities.list(limit=50, after=deep["opps"]),
            " AS k_",
            "page",
        ),
        op("tasks: first page (50)", lambda: s.tasks.list(limit=50), " AS k_", "page"),
        op("tasks: page 21", lambda: s.tasks.list(limit=50, after=deep["tasks"]), " AS k_", "page"),
        op("invoices: first page (50)", lambda: s.invoices.list(limit=50), " AS k_", "page"),
        op(
            "invoices: page 21",
            lambda: s.invoices.list(limit=50, after=deep["invoices"]),
            " AS k_",
            "page",
        ),
    ]


def measure(backend: str, crm: CRM) -> list[Any]:
    engine = crm.engine
    log = bench.StatementLog(engine)
    pooled = engine.raw_connection()
    dbapi = pooled.driver_connection
    assert dbapi is not None
    pooled.detach()
    if backend == "postgresql":
        dbapi.autocommit = True
    results = []
    try:
        for op in operations(crm):
            sent = log.record(op.call)
            main = [s for s in sent if op.main_marker in s[0]]
            assert len(main) == 1, f"{op.name}: expected one page SELECT, got {len(main)}"
            everything = sent if backend == "sqlite" else [("BEGIN", None), *sent]
            everything = [*everything, ("ROLLBACK", None)]
            crm_ms, all_ms = bench.timed(
                op.call,
                lambda e=everything: bench.run_sql(dbapi, e),  # type: ignore[misc]
            )
            crm_cpu, all_cpu = bench.CPU_TIMES
            # The page SELECT alone in rounds of its own, as in bench/contacts.py.
            (raw_ms,) = bench.timed(lambda main=main: bench.run_sql(dbapi, main))  # type: ignore[misc]
            rows = bench.run_sql(dbapi, main)
            results.append(
                bench.Result(
                    backend,
                    op.name,
                    op.kind,
                    rows,
                    crm_ms,
                    raw_ms,
                    all_ms,
                    len(sent),
                    crm_cpu,
                    all_cpu,
                )
            )
    finally:
        dbapi.close()
    return results


@contextlib.contextmanager
def open_crm(backend: str) -> Iterator[CRM]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="opencrm-bench-") as tmp:
            crm = CRM.open(f"sqlite:///{Path(tmp) / 'crm.db'}", load_entrypoints=False)
            try:
                yield crm
            finally:
                crm.close()
        return
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r}: use sqlite and/or postgresql")
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
            yield crm
        finally:
            crm.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="records of each kind")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"machine: {bench.machine()}")
    print(
        f"rows: {args.rows:,} opportunities, tasks and invoices; user {USER.id}; "
        f"p50/p95 over {bench.REPS} rounds after {bench.WARMUP} warm-up"
    )
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"\n== {name} ==", flush=True)
        with open_crm(name) as crm:
            print(f"  {bench.server_version(crm.engine)}")
            t0 = time.perf_counter()
            load(crm, args.rows)
            print(f"  load: {time.perf_counter() - t0:.1f} s", flush=True)
            results = measure(name, crm)
            load1, load5, _ = os.getloadavg()
            print(f"\n  load average after measuring: {load1:.2f} (1 min), {load5:.2f} (5 min)\n")
            print(bench.table(results), flush=True)
    print(f"\ntotal run time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
