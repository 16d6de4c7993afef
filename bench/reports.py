"""Report benchmark: every built-in report over a large CRM, SQL alone vs the whole report.

Bulk-loads opportunities (20 managers, three currencies, every stage, created over 18 months),
as many tasks, invoices (a fifth as many) and contacts (a tenth) with Core inserts, then builds
each of the ten reports over its widest period (all time where it offers it) as a CRM admin,
three times, and prints the median of:

- "SQL": the time spent in the report's aggregate queries (each one ``GROUP BY``);
- "report": ``session.reports.build`` (SQL, labels, conversion, the neutral result);
- "+ xlsx": the report and its .xlsx written by the renderer (what ``generate`` stores);

all three from the same run (the one with the median total), so "SQL share" is SQL / total.

    python bench/reports.py [--opportunities 1000000] [--tasks N] [--invoices N]
                            [--backends sqlite,postgresql]

The target is 2 s per report including the .xlsx. PostgreSQL is reached at
``OPENCRM_BENCH_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a
throw-away schema dropped at the end. Figures and their reading: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.io.report_xlsx import render_xlsx
from opencrm.storage.sqlalchemy import reports as sql_reports
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade
from opencrm.storage.sqlalchemy.tables import (
    contacts,
    exchange_rates,
    invoices,
    list_items,
    opportunities,
    opportunity_stages,
    settings,
    tasks,
)

PG_URL = os.environ.get("OPENCRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MANAGERS = [f"user{i:02d}" for i in range(20)]
ADMIN = User(id="admin", name="Admin", crm_admin=True)
NOW = dt.datetime(2027, 6, 15, 12, tzinfo=dt.UTC)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SPAN = (NOW - START).total_seconds()
CURRENCIES = (("EUR", 2), ("USD", 2), ("GBP", 2))
BATCH = 10_000


def _when(rng: random.Random) -> dt.datetime:
    return START + dt.timedelta(seconds=rng.random() * SPAN)


def _insert(conn: sa.Connection, table: sa.Table, rows: Any, n: int) -> None:
    batch: list[dict[str, Any]] = []
    for i in range(n):
        batch.append(rows(i))
        if len(batch) == BATCH:
            conn.execute(sa.insert(table), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(table), batch)


def _load(engine: sa.Engine, n_deals: int, n_tasks: int, n_invoices: int) -> None:
    rng = random.Random(11)
    with engine.begin() as conn:
        conn.execute(
            sa.update(settings).where(settings.c.key == "default_currency").values(value="EUR")
        )
        conn.execute(
            sa.insert(exchange_rates),
            [
                {"from_currency": c, "to_currency": "EUR", "rate": r, "updated_by": "admin",
                 "updated_at": NOW}
                for c, r in (("USD", "0.92"), ("GBP", "1.17"))
            ],
        )  # fmt: skip
        kinds = {
            kind: list(
                conn.execute(sa.select(list_items.c.id).where(list_items.c.kind == kind)).scalars()
            )
            for kind in ("contact_type", "temperature", "task_category")
        }
        stages = list(
            conn.execute(sa.select(opportunity_stages.c.id, opportunity_stages.c.stage_type))
        )
        n_contacts = max(1000, n_deals // 10)

        def contact(i: int) -> dict[str, Any]:
            when = _when(rng)
            return {
                "kind": "company", "company_name": f"c{i}", "sort_name": f"c{i}",
                "contact_type_id": rng.choice([None, *kinds["contact_type"]]),
                "temperature_id": rng.choice([None, *kinds["temperature"]]),
                "access": "read", "created_by": rng.choice(MANAGERS), "created_at": when,
                "updated_by": "admin", "updated_at": when,
            }  # fmt: skip

        _insert(conn, contacts, contact, n_contacts)

        def deal(i: int) -> dict[str, Any]:
            when = _when(rng)
            stage_id, kind = rng.choice(stages)
            currency = rng.choice(CURRENCIES)[0]
            budget = rng.randint(1, 5000) * 100
            closed = (when + dt.timedelta(days=rng.randint(0, 90))).date()
            return {
                "title": f"deal {i}", "title_key": f"deal {i}",
                "contact_id": rng.randint(1, n_contacts),
                "budget_minor": budget, "currency": currency, "bid_type": "fixed",
                "period_count": 1, "value_key": budget * 10,
                "expected_close": (when + dt.timedelta(days=rng.randint(0, 120))).date(),
                "actual_close": None if kind == "open" else min(closed, NOW.date()),
                "responsible": rng.choice(MANAGERS), "stage_id": stage_id,
                "probability": rng.choice((10, 25, 50, 75, 90)), "created_by": "admin",
                "created_at": when, "updated_by": "admin", "updated_at": when,
            }  # fmt: skip

        _insert(conn, opportunities, deal, n_deals)

        def task(i: int) -> dict[str, Any]:
            when = _when(rng)
            due = when + dt.timedelta(hours=rng.randint(1, 24 * 30))
            closed = rng.random() < 0.6
            closed_at = min(due + dt.timedelta(hours=rng.randint(-48, 48)), NOW)
            return {
                "title": f"task {i}", "title_key": f"task {i}",
                "category_id": rng.choice(kinds["task_category"]), "due_at": due,
                "responsible": rng.choice(MANAGERS), "alert_minutes": 0, "closed": closed,
                "closed_at": closed_at if closed else None, "created_by": "admin",
                "created_at": when, "updated_by": "admin", "updated_at": when,
            }  # fmt: skip

        _insert(conn, tasks, task, n_tasks)

        def invoice(i: int) -> dict[str, Any]:
            when = _when(rng)
            issued = when.date()
            currency = rng.choice(CURRENCIES)[0]
            total = rng.randint(100, 500_000)
            return {
                "number": f"INV-{i:07d}",
                "status": rng.choice(("draft", "billed", "paid", "rejected")),
                "issue_date": issued, "due_date": issued + dt.timedelta(days=30),
                "client_id": rng.randint(1, n_contacts), "language": "en", "currency": currency,
                "exchange_rate": "1", "rounding": "ROUND_HALF_UP", "subtotal_minor": total,
                "total_minor": total, "created_by": rng.choice(MANAGERS), "created_at": when,
                "updated_by": "admin",
                "updated_at": min(when + dt.timedelta(days=rng.randint(0, 60)), NOW),
            }  # fmt: skip

        _insert(conn, invoices, invoice, n_invoices)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


class _SqlTimer:
    """Wraps the storage's aggregate method to add up the time spent in SQL."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0
        self._real = sql_reports.SqlReportQueries.aggregate

    def install(self) -> None:
        real = self._real
        timer = self

        def timed(self: Any, query: Any) -> Sequence[tuple[Any, ...]]:
            started = time.perf_counter()
            try:
                return real(self, query)
            finally:
                timer.seconds += time.perf_counter() - started
                timer.queries += 1

        sql_reports.SqlReportQueries.aggregate = timed  # type: ignore[method-assign]

    def uninstall(self) -> None:
        sql_reports.SqlReportQueries.aggregate = self._real  # type: ignore[method-assign]


def _run(name: str, engine: sa.Engine, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    _load(engine, args.opportunities, args.tasks, args.invoices)
    load = time.perf_counter() - started
    crm = CRM(engine, load_entrypoints=False, clock=lambda: NOW)
    s = crm.session(ADMIN)
    print(
        f"\n{name}: {args.opportunities:,} opportunities, {args.tasks:,} tasks, "
        f"{args.invoices:,} invoices loaded in {load:.0f} s"
    )
    print(f"  {'report (period)':<44} {'SQL':>8} {'report':>8} {'+ xlsx':>8}  SQL share  queries")
    timer = _SqlTimer()
    timer.install()
    try:
        for kind in s.reports.types():
            period = (
                "all_time"
                if "all_time" in kind.periods
                else ("this_year" if "this_year" in kind.periods else kind.periods[-1])
            )
            s.reports.build(kind.name, period=period)  # warm caches

            def once(kind: Any = kind, period: str = period) -> tuple[float, float, float]:
                timer.seconds, timer.queries = 0.0, 0
                began = time.perf_counter()
                result = s.reports.build(kind.name, period=period)
                built = time.perf_counter()
                render_xlsx(result)
                return timer.seconds, built - began, time.perf_counter() - began

            runs = sorted((once() for _ in range(args.repeat)), key=lambda r: r[2])
            sql, build, total = runs[len(runs) // 2]  # the run with the median total
            print(
                f"  {kind.name + ' (' + period + ')':<44} {sql:7.2f}s {build:7.2f}s {total:7.2f}s"
                f"  {sql / total:8.0%}  {timer.queries:>7}"
            )
    finally:
        timer.uninstall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=None, help="default: as many as opportunities")
    parser.add_argument("--invoices", type=int, default=None, help="default: a fifth of them")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3, help="runs per report (the median)")
    args = parser.parse_args()
    if args.tasks is None:
        args.tasks = args.opportunities
    if args.invoices is None:
        args.invoices = args.opportunities // 5
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                engine = create_engine_for(f"sqlite:///{Path(tmp) / 'bench.db'}")
                upgrade(engine)
                _run("SQLite", engine, args)
                engine.dispose()
        elif backend == "postgresql":
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            try:
                engine = create_engine_for(
                    PG_URL, connect_args={"options": f"-csearch_path={schema},public"}
                )
                upgrade(engine)
                _run("PostgreSQL", engine, args)
                engine.dispose()
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()
        else:
            raise SystemExit(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
