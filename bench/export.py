"""Export benchmark: peak memory and rows per second of a large contact export.

Loads N synthetic contacts (default 1,000,000; the data of bench/contacts.py: persons and
companies, 30 % of persons at a company, managers, an e-mail and a phone each) into a fresh
SQLite file, then runs each export in a subprocess of its own, so that each peak RSS
(``VmHWM``) is that export's alone:

- ``opencrm csv`` / ``opencrm xlsx``: ``opencrm.io.stream_export`` as a CRM admin, every
  column (135 with the contact infos), read page by page through ``s.contacts.list``;
- ``baseline csv`` / ``baseline xlsx``: the same rows built first and held in memory (at most
  ``--baseline-rows``, default 100,000, to keep the baseline itself from exhausting memory),
  then written by the ``csv`` module / openpyxl in write-only mode, with no database at all.

The ratio column is opencrm's rows/s over the baseline's: what reading the database page by
page, checking permissions and building rows costs on top of writing the file.

    python bench/export.py [--rows N] [--formats csv,xlsx] [--baseline-rows N]

Target (issue 11): a 1M-row XLSX export streamed with peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
RSS_TARGET_MB = 300.0
ADMIN_ID = "bench-admin"


def _crm(url: str):  # type: ignore[no-untyped-def]
    from opencrm import CRM

    return CRM.open(url, load_entrypoints=False)


def _admin():  # type: ignore[no-untyped-def]
    from opencrm import User

    return User(id=ADMIN_ID, name="Bench Admin", crm_admin=True)


def _peak_mb() -> float:
    """This process's peak RSS: VmHWM, the high-water mark of its own address space.
    (``ru_maxrss`` would not do: Linux carries it over fork and exec, so a child would report
    at least the parent's peak, here the loader's.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, fmt: str, url: str, out: str, baseline_rows: int) -> dict[str, float]:
    """One export in this (fresh) process; returns rows, seconds, bytes and peak RSS."""
    from opencrm.io._writers import csv_chunks, xlsx_chunks
    from opencrm.io.columns import sheet_for
    from opencrm.io.export import records, stream_export

    crm = _crm(url)
    session = crm.session(_admin())
    rows = 0
    size = 0
    before = _peak_mb()
    started = time.perf_counter()
    if mode == "opencrm":

        def count(done: int, total: int | None) -> None:
            nonlocal rows
            rows = done

        with open(out, "wb") as fh:
            for chunk in stream_export(session, "contacts", fmt, progress=count):
                fh.write(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - started
    else:
        sheet = sheet_for("contacts", session)
        held = []
        for record in records(session, "contacts"):
            held.append(sheet.row(record))
            if len(held) >= baseline_rows:
                break
        rows = len(held)
        started = time.perf_counter()  # the baseline is the writer alone
        writer = csv_chunks if fmt == "csv" else xlsx_chunks
        with open(out, "wb") as fh:
            for chunk in writer(sheet.header, held):
                fh.write(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - started
    crm.close()
    return {
        "rows": rows,
        "seconds": seconds,
        "bytes": size,
        "peak_mb": _peak_mb(),
        "start_mb": before,
    }


def run_child(mode: str, fmt: str, url: str, folder: Path, baseline_rows: int) -> dict[str, float]:
    out = folder / f"{mode}.{fmt}"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--format",
        fmt,
        "--url",
        url,
        "--out",
        str(out),
        "--baseline-rows",
        str(baseline_rows),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def load(url: str, n: int) -> float:
    import importlib.util

    # bench/contacts.py: its synthetic data and bulk loader.
    spec = importlib.util.spec_from_file_location("bench_contacts", HERE / "contacts.py")
    assert spec is not None
    assert spec.loader is not None
    seed = importlib.util.module_from_spec(spec)
    sys.modules["bench_contacts"] = seed
    spec.loader.exec_module(seed)

    from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade

    engine = create_engine_for(url)
    upgrade(engine)
    started = time.perf_counter()
    seed.load_sqlite(engine, n)
    engine.dispose()
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="contacts to load")
    parser.add_argument("--formats", default="csv,xlsx", help="comma-separated")
    parser.add_argument("--baseline-rows", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.format, args.url, args.out, args.baseline_rows)))
        return 0

    total = time.perf_counter()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="opencrm-bench-export-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        seconds = load(url, args.rows)
        print(f"loaded {args.rows:,} contacts in {seconds:.0f} s (SQLite)", flush=True)
        print(
            f"\n{'export':<16} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'ratio':>6} "
            f"{'MB out':>7} {'peak RSS MB':>12}"
        )
        verdicts = []
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            base = run_child("baseline", fmt, url, folder, args.baseline_rows)
            ours = run_child("opencrm", fmt, url, folder, args.baseline_rows)
            base_rate = base["rows"] / base["seconds"]
            our_rate = ours["rows"] / ours["seconds"]
            for name, r, ratio in (
                (f"baseline {fmt}", base, ""),
                (f"opencrm {fmt}", ours, f"{our_rate / base_rate:.2f}"),
            ):
                print(
                    f"{name:<16} {int(r['rows']):>10,} {r['seconds']:>8.1f} "
                    f"{r['rows'] / r['seconds']:>9,.0f} {ratio:>6} {r['bytes'] / 1e6:>7.1f} "
                    f"{r['peak_mb']:>12.0f}",
                    flush=True,
                )
            if fmt == "xlsx":
                ok = ours["peak_mb"] < RSS_TARGET_MB
                verdicts.append(
                    f"XLSX export of {int(ours['rows']):,} rows: peak RSS {ours['peak_mb']:.0f} MB "
                    f"(target < {RSS_TARGET_MB:.0f} MB for 1M rows): {'met' if ok else 'MISSED'}"
                )
        print()
        for line in verdicts:
            print(line)
    print(f"total run time: {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
