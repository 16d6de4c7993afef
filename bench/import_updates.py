"""Import updates of opportunities and tasks: what ``on_duplicate="update"`` costs next to the
import that created the records.

For each backend and kind, in one run: N rows of a three-column file are imported (created),
the records are exported with ``stream_export``, and that export is imported with
``mapping="export"`` three times: with ``on_duplicate="create"`` (every row a new copy: the
baseline, the same file read and cleaned the same way), then with ``on_duplicate="update"`` as
exported (every row ``unchanged``: matched by its id, read, compared, nothing written) and with
every row's description edited (every row ``updated``: one ``executemany`` per batch). Wall
time, rows per second and CPU time of this process (``time.process_time``; on SQLite the
database runs in it) are printed with their ratio to the baseline of the same run, so a shared
machine's noise mostly cancels out.

    python bench/import_updates.py [--rows N] [--backends sqlite,postgresql]

PostgreSQL is reached at ``OPENCRM_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a throw-away schema dropped at the
end. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencrm import CRM, InMemoryUserDirectory, User
from opencrm.io import CsvRows, stream_export
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade

PG_URL = os.environ.get("OPENCRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ADMIN = User(id="admin", name="Admin", crm_admin=True)


@contextmanager
def _engine(backend: str) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = create_engine_for(f"sqlite:///{Path(folder) / 'bench.db'}")
            upgrade(engine)
            yield engine
            engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine_for(PG_URL, connect_args={"options": f"-csearch_path={schema},public"})
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _source(kind: str, n: int) -> tuple[bytes, dict[str, Any]]:
    if kind == "opportunities":
        lines = ["Title,Amount,Notes"] + [f"Deal {i:07d},{i % 9000}.50,first" for i in range(n)]
        return "\n".join(lines).encode(), {
            "title": "Title",
            "budget": "Amount",
            "description": "Notes",
        }
    lines = ["Title,Due,Notes"] + [
        f"Task {i:07d},2030-0{1 + i % 9}-1{i % 10}T09:30:00Z,first" for i in range(n)
    ]
    return "\n".join(lines).encode(), {"title": "Title", "due": "Due", "description": "Notes"}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _line(backend: str, kind: str, label: str, n: int, wall: float, cpu: float, base: str) -> None:
    print(
        f"{backend:10} {kind:13} {label:16} {n:>7} rows {wall:7.2f} s wall "
        f"{n / wall:9,.0f} rows/s  cpu {cpu:6.2f} s  {base}"
    )


def run(backend: str, kind: str, n: int) -> None:
    with _engine(backend) as engine:
        crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory([ADMIN]))
        s = crm.session(ADMIN)
        data, mapping = _source(kind, n)
        seeded, wall, cpu = _timed(lambda: s.imports.run(kind, CsvRows(data), mapping))
        assert seeded.created == n, seeded.counts()
        _line(backend, kind, "create (3 cols)", n, wall, cpu, "")
        exported = b"".join(stream_export(s, kind, "csv"))
        edited = exported.replace(b'"first"', b'"second"')
        assert edited.count(b'"second"') == n
        # The baseline: the same export file read the same way, every row created (copies).
        base, wall0, cpu0 = _timed(
            lambda: s.imports.run(kind, CsvRows(exported), "export", on_duplicate="create")
        )
        assert base.created == n, base.counts()
        _line(backend, kind, "create (export)", n, wall0, cpu0, "(1.00)")
        for label, file, field in (
            ("update unchanged", exported, "unchanged"),
            ("update changed", edited, "updated"),
        ):
            report, wall, cpu = _timed(
                lambda f=file: s.imports.run(kind, CsvRows(f), "export", on_duplicate="update")
            )
            assert getattr(report, field) == n, report.counts()
            ratio = f"({wall / wall0:.2f} of the baseline's wall, {cpu / cpu0:.2f} of its cpu)"
            _line(backend, kind, label, n, wall, cpu, ratio)
        crm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        for kind in ("opportunities", "tasks"):
            run(backend, kind, args.rows)


if __name__ == "__main__":
    main()
