"""HTTP benchmark: what the REST API adds on top of the service calls it makes.

Builds a SQLite demo CRM (``create_demo_file``, 1,000 contacts by default) and times three
operations as a sales user who sees part of it: GET one contact, GET a list page of 50,
and POST a new person. Each one four ways, in the same run:

  service      the in-process service call (the baseline of every ratio)
  API.handle   opencrm.http's framework-free handler, called directly
  Flask        the demo app (opencrm_flask.serve.demo_app) through Flask's test client
  gunicorn     a real server, ``gunicorn -w 2`` on 127.0.0.1, over TCP: first one client
               (latency), then ``--clients`` threads for ``--seconds`` each (throughput)

    python bench/http_api.py [--contacts N] [--seconds S] [--clients C] [--profile]

The load generator (threads with http.client) runs on the same machine as the server and
competes with it for the CPU: the requests/s are a floor for what the server can do.
See docs/performance.md for figures and their reading.
"""

# ruff: noqa: E402  (the imports follow the import path fix below)

from __future__ import annotations

import sys
from pathlib import Path

# This script shares its name with the standard library's http package: keep its own
# directory off the import path, or `import http.client` would import this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import contextlib
import cProfile
import http.client
import json
import os
import platform
import pstats
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from io import StringIO
from typing import Any

import opencrm_flask
import sqlalchemy as sa
from opencrm_flask import OpenCRM
from opencrm_flask.serve import DEMO_USER_HEADER, demo_app

import opencrm
from opencrm import User
from opencrm.demo import DEMO_USERS, create_demo_file
from opencrm.http import API, Headers, Request

USER: User = next(u for u in DEMO_USERS if u.id == "alice")
WARMUP = 20
REPS = 300
ROUNDS = 10
PAGE = 50
WORKERS = 2

# Targets from the issue.
ADDED_MS = 1.0  # HTTP adds at most this to a GET's p50
GET_RPS = 400.0  # GET one contact with 2 workers


@dataclass
class Result:
    operation: str
    layer: str
    ms: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of a load run; 0 for sequential timing
    errors: int = 0
    #: CPU seconds spent serving: this process in process, the server's processes over TCP
    cpu: float = 0.0
    client_cpu: float = 0.0  # CPU seconds of the load generator (this process) over TCP

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

    @property
    def cpu_ms(self) -> float:
        """CPU milliseconds spent serving one request: a load-independent cost."""
        return self.cpu * 1000 / len(self.ms)

    @property
    def rps(self) -> float:
        if self.seconds:
            return len(self.ms) / self.seconds
        return 1000.0 / statistics.fmean(self.ms)


def interleaved(
    fns: Sequence[Callable[[], object]], reps: int = REPS, rounds: int = ROUNDS
) -> list[tuple[list[float], float]]:
    """Milliseconds per call of each function and the CPU seconds its calls took, after
    ``WARMUP`` calls each. The calls are made in rounds, each function in turn, so that all
    of them share the machine's load of the moment: on a shared machine their ratios hold
    better than their absolute times."""
    out: list[tuple[list[float], float]] = [([], 0.0) for _ in fns]
    for fn in fns:
        for _ in range(WARMUP):
            fn()
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            times, cpu = out[i]
            cpu0 = time.process_time()
            for _ in range(reps // rounds):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000)
            out[i] = (times, cpu + time.process_time() - cpu0)
    return out


# --- the four layers ----------------------------------------------------------------------------


@dataclass
class Operation:
    name: str
    method: str
    path: str  # relative to the API mount, with its query string
    service: Callable[[], object]
    body: Callable[[], bytes | None] = lambda: None


def operations(crm: Any, contact_id: int) -> list[Operation]:
    counter = iter(range(10**9))

    def person() -> bytes:
        return json.dumps({"first_name": "Bench", "last_name": f"Person {next(counter)}"}).encode()

    def add_person() -> object:
        return crm.session(USER).contacts.add_person("Bench", f"Person {next(counter)}")

    return [
        Operation(
            "GET one contact",
            "GET",
            f"/contacts/{contact_id}",
            lambda: crm.session(USER).contacts.get(contact_id),
        ),
        Operation(
            f"GET a list page of {PAGE}",
            "GET",
            f"/contacts?limit={PAGE}",
            lambda: crm.session(USER).contacts.list(limit=PAGE),
        ),
        Operation("POST a person", "POST", "/persons", add_person, person),
    ]


def api_call(api: API, op: Operation) -> Callable[[], object]:
    path, _, query = op.path.partition("?")
    params: dict[str, list[str]] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        params.setdefault(name, []).append(value)
    want = 201 if op.method == "POST" else 200

    def call() -> object:
        body = op.body()
        headers = Headers({"Content-Type": "application/json"} if body is not None else {})
        response = api.handle(
            Request(
                method=op.method,
                path=path,
                base="/crm",
                query=params,
                headers=headers,
                user=USER,
                read_body=lambda limit: (body or b"")[: limit + 1],
            )
        )
        assert response.status == want, response.body[:300]
        return response

    return call


def flask_call(client: Any, op: Operation) -> Callable[[], object]:
    want = 201 if op.method == "POST" else 200

    def call() -> object:
        body = op.body()
        reply = client.open(
            "/crm" + op.path,
            method=op.method,
            data=body,
            headers={DEMO_USER_HEADER: USER.id},
            content_type="application/json" if body is not None else None,
        )
        assert reply.status_code == want, reply.get_data()[:300]
        return reply

    return call


# --- a real server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    address: tuple[str, int]
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server's processes: the master and its workers,
        read from /proc (0 where there is none)."""
        ticks = 0
        for pid in (self.pid, *_children(self.pid)):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def gunicorn_server(db: Path, workers: int) -> Iterator[Server]:
    """gunicorn serving the demo app over ``db`` on a free port; always stopped."""
    port = free_port()
    paths = [str(Path(m.__file__).parents[1]) for m in (opencrm, opencrm_flask)]  # type: ignore[arg-type]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]))
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        f"opencrm_flask.serve:demo_app({str(db)!r})",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/crm/contacts?limit=1", headers={DEMO_USER_HEADER: USER.id})
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield Server(("127.0.0.1", port), proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(server: Server, op: Operation, clients: int, seconds: float, name: str) -> Result:
    """``clients`` threads sending ``op`` back to back for ``seconds``, each on its own
    http.client connection (reopened when the server closes it)."""
    result = Result(op.name, name)
    lock = threading.Lock()
    want = 201 if op.method == "POST" else 200
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client() -> None:
        conn = http.client.HTTPConnection(*server.address, timeout=30)
        mine: list[float] = []
        errors = 0
        start.wait()
        while time.perf_counter() < stop_at[0]:
            body = op.body()
            headers = {DEMO_USER_HEADER: USER.id}
            if body is not None:
                headers["Content-Type"] = "application/json"
            t0 = time.perf_counter()
            try:
                conn.request(op.method, "/crm" + op.path, body=body, headers=headers)
                reply = conn.getresponse()
                reply.read()
                ok = reply.status == want
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            if ok:
                mine.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1
        conn.close()
        with lock:
            result.ms.extend(mine)
            result.errors += errors

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - began
    result.cpu = server.cpu_seconds() - server_cpu
    result.client_cpu = time.process_time() - client_cpu
    return result


# --- report -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}, "
        f"Flask {version('flask')}, gunicorn {version('gunicorn')}"
    )


def table(results: Sequence[Result]) -> str:
    lines = [
        "| operation | layer | best | p50 | p99 | req/s | p50 / service | added to p50 "
        "| CPU per request | CPU / service |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    base: dict[str, Result] = {}
    for r in results:
        if r.layer == "service":
            base[r.operation] = r
        b = base[r.operation]
        errors = f" ({r.errors} failed)" if r.errors else ""
        lines.append(
            f"| {r.operation} | {r.layer}{errors} | {min(r.ms):.2f} ms | {r.p50:.2f} ms "
            f"| {r.p99:.2f} ms | {r.rps:,.0f} | {r.p50 / b.p50:.2f}x | {r.p50 - b.p50:+.2f} ms "
            f"| {r.cpu_ms:.2f} ms | {r.cpu_ms / b.cpu_ms:.2f}x |"
        )
    return "\n".join(lines)


def verdicts(results: Sequence[Result], clients: int) -> list[str]:
    get = {r.layer: r for r in results if r.operation == "GET one contact"}
    added = get["Flask test client"].p50 - get["service"].p50
    added_cpu = get["Flask test client"].cpu_ms - get["service"].cpu_ms
    loaded = get[f"gunicorn -w {WORKERS}, {clients} clients"]
    client_ms = loaded.client_cpu * 1000 / len(loaded.ms)
    best = min(get["Flask test client"].ms) - min(get["service"].ms)
    return [
        f"HTTP (Flask test client) adds {added:.2f} ms to a GET's p50 (best call: {best:.2f} "
        f"ms; CPU: {added_cpu:.2f} ms): "
        + ("ok" if added <= ADDED_MS else f"MISSED (target <= {ADDED_MS:g} ms)"),
        f"GET one contact, gunicorn -w {WORKERS}: {loaded.rps:,.0f} requests/s: "
        + ("ok" if loaded.rps >= GET_RPS else f"MISSED (target >= {GET_RPS:g})"),
        f"  the server spent {loaded.cpu_ms:.2f} ms of CPU per GET (2 cores of its own: "
        f"{2000 / loaded.cpu_ms:,.0f} requests/s), the load generator {client_ms:.2f} ms",
    ]


def profile(call: Callable[[], object], reps: int = 2000) -> str:
    for _ in range(WARMUP):
        call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(reps):
        call()
    profiler.disable()
    out = StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000, help="demo contacts")
    parser.add_argument("--seconds", type=float, default=5.0, help="load time per operation")
    parser.add_argument("--clients", type=int, default=4, help="load generator threads")
    parser.add_argument("--db", type=Path, help="reuse this demo file (built when missing)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile API.handle for GET one contact"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean-up runs on a plain kill
    started = time.perf_counter()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="opencrm-bench-http-") as tmp:
        db = args.db or Path(tmp) / "demo.db"
        if not db.exists():
            t0 = time.perf_counter()
            create_demo_file(db, contacts=args.contacts)
            print(f"demo file: {args.contacts:,} contacts in {time.perf_counter() - t0:.0f} s")
        app = demo_app(db)
        crm = OpenCRM.state(app).crm
        api = OpenCRM.state(app).api
        client = app.test_client()
        visible = crm.session(USER).contacts.count()
        contact_id = crm.session(USER).contacts.list(limit=1).items[0].id
        print(
            f"acting as {USER.id} (sees {visible:,} contacts); in process: p50/p99 of {REPS} "
            f"calls after {WARMUP}, the layers taking turns in {ROUNDS} rounds; "
            f"gunicorn: 1 client for {args.seconds / 2:g} s, then "
            f"{args.clients} clients for {args.seconds:g} s",
            flush=True,
        )
        ops = operations(crm, contact_id)
        results: list[Result] = []
        for op in ops:
            layers = ["service", "API.handle", "Flask test client"]
            fns = [op.service, api_call(api, op), flask_call(client, op)]
            for layer, (ms, cpu) in zip(layers, interleaved(fns), strict=True):
                results.append(Result(op.name, layer, ms, cpu=cpu))
            print(f"  measured {op.name} in process", flush=True)
        with gunicorn_server(db, WORKERS) as server:
            # The web stack alone: a static page answered by the API, no database.
            page = Operation("GET the docs page", "GET", "/docs", lambda: None)
            load(server, page, args.clients, 1, "warm-up")
            stack = load(server, page, args.clients, args.seconds / 2, "stack")
            for op in ops:
                load(server, op, args.clients, 1, "warm-up")  # every worker compiles its SQL
                name = f"gunicorn -w {WORKERS}, 1 client"
                one = load(server, op, 1, args.seconds / 2, name)
                many_name = f"gunicorn -w {WORKERS}, {args.clients} clients"
                many = load(server, op, args.clients, args.seconds, many_name)
                position = max(i for i, r in enumerate(results) if r.operation == op.name)
                results[position + 1 : position + 1] = [one, many]
                print(f"  measured {op.name} over gunicorn", flush=True)
        load1, load5, _ = os.getloadavg()
        print(f"\nload average after measuring: {load1:.2f} (1 min), {load5:.2f} (5 min)\n")
        print(table(results))
        print()
        for line in verdicts(results, args.clients):
            print(line)
        print(
            f"  the web stack alone (gunicorn, Flask, API.handle; GET /crm/docs, no database): "
            f"{stack.rps:,.0f} requests/s, {stack.cpu_ms:.2f} ms of server CPU per request"
        )
        if args.profile:
            print("\nAPI.handle, GET one contact, top functions by own time:")
            print(profile(api_call(api, ops[0])))
            print("Flask test client, GET one contact, top functions by own time:")
            print(profile(flask_call(client, ops[0])))
        crm.close()
    print(f"total run time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
