"""Task list, count, search and reminder benchmark.

Loads contacts (half of them private, spread over 20 managers) and tasks (70% linked to a
contact, 30% to nothing) with Core bulk inserts, then times, as a plain user who manages a
twentieth of the contacts:

- the first page of 50 tasks by due time, a deep page (keyset cursor after 20 pages), the
  count, and a title search, through ``session.tasks``;
- the baseline of the same run: the bare ``SELECT`` of 50 tasks by due time with no access
  rule (what a page would cost if everybody could read everything);
- ``CRM.due_reminders`` claiming a batch of due reminders.

    python bench/tasks.py [--tasks N] [--backends sqlite,postgresql]

PostgreSQL is reached at ``OPENCRM_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a throw-away schema dropped at the
end. Figures and their reading: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade
from opencrm.storage.sqlalchemy.tables import contact_managers, contacts, list_items, tasks

PG_URL = os.environ.get("OPENCRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MANAGERS = [f"user{i:02d}" for i in range(20)]
ACTOR = User(id="user07", name="User 7")
NOW = dt.datetime(2027, 6, 1, 9, tzinfo=dt.UTC)
WORDS = ("Call", "Send", "Visit", "Prepare", "Check", "Ship", "Invoice", "Meet", "Review")
THINGS = ("offer", "contract", "samples", "catalogue", "order", "quote", "renewal", "demo")


def _load(engine: sa.Engine, n_tasks: int, rng: random.Random) -> None:
    n_contacts = max(100, n_tasks // 10)
    with engine.begin() as conn:
        category_ids = list(
            conn.execute(
                sa.select(list_items.c.id).where(list_items.c.kind == "task_category")
            ).scalars()
        )
        rows = []
        for i in range(n_contacts):
            name = f"contact {i:07d}"
            rows.append(
                {
                    "kind": "person",
                    "first_name": name,
                    "sort_name": name,
                    "access": "private" if i % 2 else "read",
                    "created_by": MANAGERS[i % 20],
                    "created_at": NOW,
                    "updated_by": MANAGERS[i % 20],
                    "updated_at": NOW,
                }
            )
        conn.execute(sa.insert(contacts), rows)
        ids = list(conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars())
        conn.execute(
            sa.insert(contact_managers),
            [{"contact_id": cid, "user_id": MANAGERS[n % 20]} for n, cid in enumerate(ids)],
        )
        batch: list[dict[str, Any]] = []
        for i in range(n_tasks):
            title = f"{rng.choice(WORDS)} {rng.choice(THINGS)} {i}"
            due = NOW + dt.timedelta(minutes=rng.randint(-60 * 24 * 30, 60 * 24 * 90))
            alert = rng.choice((0, 15, 60, 1440))
            batch.append(
                {
                    "title": title,
                    "title_key": title.casefold(),
                    "description": "",
                    "category_id": rng.choice(category_ids),
                    "due_at": due,
                    "responsible": rng.choice(MANAGERS),
                    "contact_id": rng.choice(ids) if rng.random() < 0.7 else None,
                    "alert_minutes": alert,
                    "remind_at": due - dt.timedelta(minutes=alert) if alert else None,
                    "closed": rng.random() < 0.3,
                    "created_by": rng.choice(MANAGERS),
                    "created_at": NOW,
                    "updated_by": "bench",
                    "updated_at": NOW,
                }
            )
            if len(batch) == 5000:
                conn.execute(sa.insert(tasks), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(tasks), batch)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _p50(fn: Callable[[], object], repeat: int = 15) -> float:
    fn()  # warm caches and the compiled-statement cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _run(name: str, engine: sa.Engine, n_tasks: int) -> None:
    rng = random.Random(7)
    started = time.perf_counter()
    _load(engine, n_tasks, rng)
    load = time.perf_counter() - started
    crm = CRM(engine, load_entrypoints=False)
    s = crm.session(ACTOR)
    deep_cursor: list[str | None] = [None]

    def deep() -> None:
        cursor = None
        for _ in range(20):
            cursor = s.tasks.list(limit=50, after=cursor).next_cursor
        deep_cursor[0] = cursor

    deep()

    def raw() -> None:
        with engine.connect() as conn:
            conn.execute(sa.select(tasks).order_by(tasks.c.due_at, tasks.c.id).limit(51)).all()

    figures = {
        "baseline: bare SELECT of 51 tasks by due": _p50(raw),
        "first page of 50 by due": _p50(lambda: s.tasks.list(limit=50)),
        "page 21 (keyset cursor)": _p50(lambda: s.tasks.list(limit=50, after=deep_cursor[0])),
        "open tasks, first page": _p50(lambda: s.tasks.list(limit=50, closed=False)),
        "count": _p50(lambda: s.tasks.count(), repeat=5),
        "title search 'renewal'": _p50(lambda: s.tasks.list(text="renewal", limit=50)),
        "my tasks by due": _p50(lambda: s.tasks.list(responsible=ACTOR.id, limit=50)),
    }
    base = figures["baseline: bare SELECT of 51 tasks by due"]
    visible = s.tasks.count()
    print(f"\n{name}: {n_tasks:,} tasks loaded in {load:.1f} s; {ACTOR.id} sees {visible:,}")
    for label, ms in figures.items():
        print(f"  {label:<42} {ms:8.2f} ms  ({ms / base:5.1f}x baseline)")
    when = NOW + dt.timedelta(days=3)
    started = time.perf_counter()
    claimed = crm.due_reminders(when)
    took = time.perf_counter() - started
    print(f"  due_reminders: {len(claimed):,} claimed in {took * 1000:.0f} ms", end="")
    print(f" ({len(claimed) / took:,.0f}/s)" if claimed else "")
    started = time.perf_counter()
    again = crm.due_reminders(when)
    print(f"  due_reminders again: {len(again)} in {(time.perf_counter() - started) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                engine = create_engine_for(f"sqlite:///{Path(tmp) / 'bench.db'}")
                upgrade(engine)
                _run("SQLite", engine, args.tasks)
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
                _run("PostgreSQL", engine, args.tasks)
                engine.dispose()
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()
        else:
            raise SystemExit(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
