"""Invoice creation and rendering benchmark.


Creates invoices (two lines, two taxes, automatic numbers) on a fresh SQLite file and a fresh
PostgreSQL schema: first with one creator (the baseline of the same run), then with 8
concurrent creators as threads of one process and as 8 processes (the shape of several app
servers). Every creation allocates its number under the counter lock, so creations that hold
the lock queue; the figure to watch is invoices per second with 8 creators, and its ratio to
the single creator. Then it times rendering one invoice to PDF (and to HTML, as a baseline).

    python bench/invoices.py [--invoices N] [--backends sqlite,postgresql]

PostgreSQL is reached at ``OPENCRM_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the script works in a throw-away
schema that it drops at the end. See docs/performance.md for figures and their reading.
"""

# ruff: noqa: RUF001  (Cyrillic sample text on purpose)

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencrm import CRM, User
from opencrm.plugins.builtin.invoice_documents import render_html, render_pdf
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade

PG_URL = os.environ.get("OPENCRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ADMIN = User(id="admin", name="Admin", crm_admin=True)
WRITERS = 8


def _engine_options(schema: str | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {"connect_args": {"options": f"-csearch_path={schema},public"}}


def _open(url: str, schema: str | None) -> CRM:
    engine = create_engine_for(url, **_engine_options(schema))
    return CRM(engine, load_entrypoints=False)


def _create(url: str, schema: str | None, client_id: int, count: int) -> None:
    crm = _open(url, schema)
    s = crm.session(ADMIN)
    lines = [
        s.invoices.line("Consulting", price="120.00", quantity="7.5", taxes=["VAT"]),
        s.invoices.line("Licence", price="19.99", quantity=3, discount=10, taxes=["VAT", "Eco"]),
    ]
    for _ in range(count):
        s.invoices.add(client=client_id, lines=lines)
    crm.close()


def _run_threads(url: str, schema: str | None, client_id: int, total: int) -> float:
    workers = [
        threading.Thread(target=_create, args=(url, schema, client_id, total // WRITERS))
        for _ in range(WRITERS)
    ]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started


def _run_processes(url: str, schema: str | None, client_id: int, total: int) -> float:
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_create, args=(url, schema, client_id, total // WRITERS))
        for _ in range(WRITERS)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a creator process failed with exit code {p.exitcode}")
    return time.perf_counter() - started


def _check(crm: CRM, expected: int) -> None:
    with crm.engine.connect() as conn:
        numbers = conn.execute(sa.text("SELECT number FROM invoices")).scalars().all()
    assert len(numbers) == expected == len(set(numbers)), (len(numbers), expected)
    assert sorted(numbers) == [f"INV-{n:07d}" for n in range(1, expected + 1)]


def bench_backend(name: str, url: str, schema: str | None, total: int) -> dict[str, float]:
    crm = _open(url, schema)
    s = crm.session(ADMIN)
    s.taxes.add("VAT", "19")
    s.taxes.add("Eco", "2")
    client = s.contacts.add_company("Bench client", access="read").id
    crm.close()
    # Process start-up (interpreter, imports) is inside the process timing: a lower bound.
    results: dict[str, float] = {}
    started = time.perf_counter()
    _create(url, schema, client, total)
    results["1 creator"] = total / (time.perf_counter() - started)
    results[f"{WRITERS} threads"] = total / _run_threads(url, schema, client, total)
    results[f"{WRITERS} processes"] = total / _run_processes(url, schema, client, total)
    crm = _open(url, schema)
    _check(crm, 3 * total)
    crm.close()
    return results


def bench_render(crm: CRM, rounds: int = 20) -> dict[str, float]:
    s = crm.session(ADMIN)
    client = s.contacts.add_company("Ёлка и Ко", access="read")
    inv = s.invoices.add(
        client=client,
        language="ru",
        lines=[s.invoices.line(f"Позиция {n}", price="10.00", quantity=n + 1) for n in range(10)],
    )
    doc = s.invoices.document(inv.id)
    out: dict[str, float] = {}
    for label, fn in (("html", render_html), ("pdf", render_pdf)):
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            fn(doc)
            times.append(time.perf_counter() - t)
        out[label] = statistics.median(times) * 1000
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=2000, help="per run (default 2000)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            schema = None
            if backend == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                upgrade(create_engine_for(url))
            else:
                url, schema = PG_URL, f"opencrm_bench_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(url)
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
                upgrade(create_engine_for(url, **_engine_options(schema)))
            try:
                rates = bench_backend(backend, url, schema, args.invoices)
                base = rates["1 creator"]
                for label, rate in rates.items():
                    print(f"{backend:10} {label:12} {rate:8.0f} invoices/s  x{rate / base:.2f}")
            finally:
                if schema is not None:
                    with admin.begin() as conn:
                        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                    admin.dispose()
        crm = CRM.open("sqlite://", load_entrypoints=False)
        times = bench_render(crm)
        print(
            f"render     html {times['html']:.1f} ms, pdf {times['pdf']:.1f} ms per invoice "
            f"(pdf/html x{times['pdf'] / times['html']:.0f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
