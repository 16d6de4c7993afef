"""Global search (``s.search.everything``) at 1,000,000 contacts and 1,000,000 history events.

Loads the contacts of ``bench/contacts.py`` (same seed, same loader), then N history events
on those contacts: one to three sentences from a fixed vocabulary of CRM notes, some naming
a product ("pump", "valve", "boiler"...) or a contact's last name, each on a random contact.
Timed as ``user07`` (a non-admin, who reads the non-private contacts and those it manages, so
both the contact and the history branches run their permission filter): p50 and p95 of
typical searches over every kind, and of one kind alone.

    python bench/search.py                                  # 1,000,000 + 1,000,000, SQLite
    python bench/search.py --rows 100000 --backends sqlite,postgresql

Target: p50 <= 50 ms for the typical searches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from contacts import (  # bench/contacts.py: the same contacts as the contact benchmark
    CHUNK,
    LAST_NAMES,
    MANAGERS,
    USER,
    machine,
    open_backend,
    p50,
    p95,
    server_version,
    timed,
)

from opencrm.storage.sqlalchemy.tables import history_events, list_items

SEED = 20261202
PRODUCTS = ("pump", "valve", "boiler", "heat exchanger", "compressor", "filter", "sensor")
PHRASES = (
    "Called about the {p} order",
    "Sent a quote for a new {p}",
    "Met {n} at the trade fair",
    "{n} asked for a discount on the {p}",
    "Follow-up e-mail on the delivery date",
    "Left a voicemail, will try again next week",
    "The {p} arrived damaged, replacement promised",
    "Discussed the maintenance contract with {n}",
    "Invoice questions, forwarded to accounting",
    "Demo of the {p} went well",
)
HISTORY_COLS = [
    "id", "content", "content_key", "category_id", "contact_id", "happened_at",
    "created_by", "created_at", "updated_by", "updated_at",
]  # fmt: skip

#: The searches a user types: a product, a last name, a phrase, a short prefix, a rare word.
QUERIES: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("product, all kinds", "valve", None),
    ("last name, all kinds", "wagner", None),
    ("phrase, all kinds", "trade fair", None),
    ("two letters, all kinds", "mü", None),
    ("no match, all kinds", "xylophone", None),
    ("last name, contacts", "wagner", ("contact",)),
    ("product, history", "boiler", ("history",)),
)


def generate_history(n: int, contacts: int, category: int) -> Iterator[list[dict[str, Any]]]:
    rnd = random.Random(SEED)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    span = int(dt.timedelta(days=5 * 365).total_seconds())
    rows: list[dict[str, Any]] = []
    for hid in range(1, n + 1):
        sentences = [
            rnd.choice(PHRASES).format(p=rnd.choice(PRODUCTS), n=rnd.choice(LAST_NAMES))
            for _ in range(rnd.randint(1, 3))
        ]
        content = ". ".join(sentences) + "."
        when = start + dt.timedelta(seconds=rnd.randrange(span))
        who = rnd.choice(MANAGERS)
        values = (
            hid, content, content.casefold(), category, rnd.randint(1, contacts), when,
            who, when, who, when,
        )  # fmt: skip
        rows.append(dict(zip(HISTORY_COLS, values, strict=True)))
        if len(rows) >= CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def load_history(engine: sa.Engine, n: int, contacts: int) -> None:
    with engine.connect() as conn:
        category = conn.execute(
            sa.select(list_items.c.id).where(list_items.c.kind == "history_category").limit(1)
        ).scalar_one()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        conn = conn.execution_options(opencrm_write=True)
        triggers: list[str] = []
        if sqlite:
            assert isinstance(raw, sqlite3.Connection)
            raw.execute("PRAGMA cache_size=-1000000")
            triggers = [
                sql
                for (sql,) in raw.execute(
                    "SELECT sql FROM sqlite_master"
                    " WHERE type = 'trigger' AND name LIKE 'history_fts_%'"
                )
            ]
            with conn.begin():
                for name in ("history_fts_ai", "history_fts_ad", "history_fts_au"):
                    conn.exec_driver_sql(f"DROP TRIGGER {name}")
        for rows in generate_history(n, contacts, category):
            with conn.begin():
                conn.execute(history_events.insert(), rows)
        with conn.begin():
            if sqlite:
                conn.exec_driver_sql("INSERT INTO history_fts(history_fts) VALUES ('rebuild')")
                for sql in triggers:
                    conn.exec_driver_sql(sql)
            else:
                conn.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence('history_events', 'id'), :n)"),
                    {"n": n},
                )
        if sqlite:
            raw.execute("ANALYZE")
            raw.execute("PRAGMA cache_size=-2000")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def _searcher(s: Any, text: str, kinds: Any, after: str | None = None) -> Callable[[], Any]:
    def call() -> Any:
        return s.search.everything(text, kinds=kinds, after=after)

    return call


def measure(s: Any) -> None:
    print(f"\n  {'search':<26} {'text':<11} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for label, text, kinds in QUERIES:
        call = _searcher(s, text, kinds)
        hits = len(call())
        (times,) = timed(call)
        print(
            f"  {label:<26} {text:<11} {hits:>5} {p50(times):>8.1f} {p95(times):>8.1f}",
            flush=True,
        )
    after = s.search.everything("valve").next_cursor
    (times,) = timed(_searcher(s, "valve", None, after))
    label = "product, second page"
    print(f"  {label:<26} {'valve':<11} {'':>5} {p50(times):>8.1f} {p95(times):>8.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="contacts to load")
    parser.add_argument("--history", type=int, default=None, help="events (default: --rows)")
    parser.add_argument("--backends", default="sqlite", help="comma-separated")
    args = parser.parse_args(argv)
    events = args.rows if args.history is None else args.history
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    print(f"machine: {machine()}")
    print(f"contacts: {args.rows:,}; history events: {events:,}; user {USER.id}")
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"\n== {name} ==", flush=True)
        with open_backend(name) as backend:
            print(f"  {server_version(backend.crm.engine)}")
            t0 = time.perf_counter()
            backend.load(backend.crm.engine, args.rows)
            load_history(backend.crm.engine, events, args.rows)
            print(f"  load: {time.perf_counter() - t0:.1f} s", flush=True)
            measure(backend.crm.session(USER))
            load1, load5, _ = os.getloadavg()
            print(f"\n  load average: {load1:.2f} (1 min), {load5:.2f} (5 min)")
    print(f"\ntotal run time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
