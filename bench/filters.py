"""Multi-value filter benchmark: contact lists and counts filtered by many tags.

Loads N synthetic contacts (default 20,000; the data of ``bench/contacts.py``) with 300 contact
tags, each contact carrying 0 to 4 of them, then times ``contacts.list(tags=[...])`` and
``contacts.count(tags=[...])`` for a non-admin user with 1, 3, 10 and 50 tag titles (50 is the
documented cap, :data:`opencrm.core.query.MAX_FILTER_VALUES`), and prints each main query's
plan with ``--explain`` (``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL).

    python bench/filters.py [--rows N] [--backends sqlite,postgresql] [--explain]

See docs/performance.md for figures and their reading.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contacts import (
    SEED,
    USER,
    Backend,
    StatementLog,
    machine,
    open_backend,
    p50,
    p95,
    server_version,
)

from opencrm.core.query import MAX_FILTER_VALUES
from opencrm.core.services import _records
from opencrm.storage.sqlalchemy.tables import entity_tags, tags

TAGS = 300
SIZES = (1, 3, 10, MAX_FILTER_VALUES)
REPS = 15


def load_tags(backend: Backend, n: int) -> list[str]:
    """300 tags; contact ``i`` carries 0-4 of them, the first tags most often."""
    rnd = random.Random(SEED + 1)
    titles = [f"tag {k:03d}" for k in range(TAGS)]
    engine = backend.crm.engine
    with engine.connect().execution_options(opencrm_write=True) as conn, conn.begin():
        conn.execute(
            tags.insert(),
            [{"entity_type": "contact", "title": t, "title_key": t} for t in titles],
        )
        ids = dict(
            conn.execute(sa.select(tags.c.title, tags.c.id).where(tags.c.title.in_(titles))).all()
        )
        rows = []
        for cid in range(1, n + 1):
            picked = {min(int(rnd.expovariate(1 / 40)), TAGS - 1) for _ in range(rnd.randrange(5))}
            rows.extend(
                {"tag_id": ids[titles[k]], "entity_type": "contact", "entity_id": cid}
                for k in picked
            )
        conn.execute(entity_tags.insert(), rows)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        if engine.dialect.name == "postgresql":
            raw.commit()
            raw.autocommit = True
            raw.execute("VACUUM (ANALYZE) tags, entity_tags")
            raw.autocommit = False
        else:
            raw.execute("ANALYZE")
    return titles


def timed(fn: Any, reps: int) -> list[float]:
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(
    backend: Backend,
    titles: Sequence[str],
    sizes: Sequence[int],
    *,
    reps: int,
    explain: bool,
) -> list[str]:
    engine = backend.crm.engine
    log = StatementLog(engine)
    s = backend.crm.session(USER)
    lines = ["| call | tags | rows | p50 | p95 |", "|---|--:|--:|--:|--:|"]
    for size in sizes:
        # The most common tags: the worst case for a plan that starts from the tags.
        wanted = list(titles[:size])
        calls = {
            "list (limit 50)": lambda w=wanted: s.contacts.list(tags=w, limit=50),
            "count": lambda w=wanted: s.contacts.count(tags=w),
        }
        for name, call in calls.items():
            sent = log.record(call)
            found = call()
            rows = found if isinstance(found, int) else len(found)
            ms = timed(call, reps)
            lines.append(f"| {name} | {size} | {rows} | {p50(ms):.2f} ms | {p95(ms):.2f} ms |")
            print(lines[-1], flush=True)
            if explain:
                ((sql, params),) = [st for st in sent if "k_id" in st[0] or "count(*)" in st[0]]
                print(f"\n  -- {name}, {size} tags\n  {sql}\n  params: {params!r}")
                with engine.connect() as conn:
                    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    cur.execute(backend.explain_prefix + sql, params)
                    for row in cur.fetchall():
                        print("   ", " | ".join(str(x) for x in row))
                    cur.close()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="contacts to load")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="tag counts to filter by"
    )
    parser.add_argument("--reps", type=int, default=REPS, help="timed runs per call")
    parser.add_argument("--explain", action="store_true", help="print each main query's plan")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    # Sizes over the cap show how the plan grows beyond it: the cap is raised for the run.
    _records.MAX_FILTER_VALUES = max(MAX_FILTER_VALUES, *sizes)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {machine()}")
    print(f"rows: {args.rows:,}; {TAGS} tags; user {USER.id}; p50/p95 over {args.reps} runs")
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"\n== {name} ==", flush=True)
        with open_backend(name) as backend:
            print(f"  {server_version(backend.crm.engine)}")
            backend.load(backend.crm.engine, args.rows)
            titles = load_tags(backend, args.rows)
            lines = measure(backend, titles, sizes, reps=args.reps, explain=args.explain)
            print("\n" + "\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
