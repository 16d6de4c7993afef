"""`opencrm serve --demo` as a real process, talked to over HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opencrm_flask
import pytest
from opencrm_flask import OpenCRM

import opencrm
from opencrm import CRM
from opencrm.demo import DEMO_USERS, demo_directory

STARTUP_SECONDS = 120  # building the demo data on a busy 2-core machine
DEMO = "demo mode, not for production"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def request(
    base: str, method: str, path: str, *, user: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": "application/json"}
    if user is not None:
        headers["X-OpenCRM-Demo-User"] = user
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@contextlib.contextmanager
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, output file) of `opencrm serve --demo` on a free port; always stopped."""
    port = free_port()
    # The child imports the same opencrm and opencrm_flask as this test process.
    paths = [str(Path(m.__file__).parents[1]) for m in (opencrm, opencrm_flask)]  # type: ignore[arg-type]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    output = tmp_path / "server.out"
    with output.open("wb") as sink:
        command = ["serve", "--demo", "--port", str(port), "--contacts", "12"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "opencrm.cli", *command],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert proc.poll() is None, output.read_text()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert time.monotonic() < deadline, output.read_text()
                    time.sleep(0.2)
            yield base, output
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
    assert proc.returncode == 0, output.read_text()


def test_demo_server_over_http(tmp_path: Path) -> None:
    with demo_server(tmp_path) as (base, output):
        database = talk_to(base, output)
    # stopped with SIGTERM, it exited 0 (checked above) and removed its temporary demo
    assert not database.parent.exists()


def talk_to(base: str, output: Path) -> Path:
    """Check the demo server at ``base``; return the path of its database."""
    database = Path(re.search(r"database: (.+) \(removed on exit\)", output.read_text())[1])  # type: ignore[index]
    # a contact list as a demo user; every response names the acting user
    status, headers, body = request(base, "GET", "/crm/contacts?count=true&limit=3", user="chloe")
    assert status == 200
    assert headers["X-OpenCRM-Demo"] == f"acting as chloe; {DEMO}"
    chloe = next(u for u in DEMO_USERS if u.id == "chloe")
    with CRM.open(f"sqlite:///{database}", directory=demo_directory()) as crm:
        expected = crm.session(chloe).contacts.list(limit=3)
        visible = crm.session(chloe).contacts.count()
    page = json.loads(body)
    assert [c["id"] for c in page["items"]] == [c.id for c in expected.items]
    assert page["count"] == visible
    assert page["next"].startswith("/crm/contacts?")

    # without the header the demo admin acts, and sees more
    status, headers, body = request(base, "GET", "/crm/contacts?count=true")
    assert (status, headers["X-OpenCRM-Demo"]) == (200, f"acting as admin; {DEMO}")
    assert json.loads(body)["count"] == 12 > visible

    # create a person as alice, read it back at its Location
    status, headers, body = request(
        base,
        "POST",
        "/crm/persons",
        user="alice",
        body={"first_name": "Grace", "last_name": "Hopper"},
    )
    assert status == 201, body
    assert headers["X-OpenCRM-Demo"] == f"acting as alice; {DEMO}"
    created = json.loads(body)
    assert headers["Location"] == f"/crm/contacts/{created['id']}"
    status, _, body = request(base, "GET", headers["Location"], user="alice")
    assert status == 200
    got = json.loads(body)
    assert (got["display_name"], got["managers"], got["created_by"]) == (
        "Grace Hopper",
        ["alice"],
        "alice",
    )

    # an unknown demo user is refused, and the refusal is marked as a demo too
    status, headers, body = request(base, "GET", "/crm/contacts", user="mallory")
    assert status == 401
    assert json.loads(body)["code"] == "unknown_demo_user"
    assert headers["X-OpenCRM-Demo"] == f"no acting user; {DEMO}"

    # the root sends a browser to the API docs page
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    conn.request("GET", "/")
    home = conn.getresponse()
    assert (home.status, home.getheader("Location")) == (302, "/crm/docs")
    assert home.getheader("X-OpenCRM-Demo") == f"acting as admin; {DEMO}"
    conn.close()

    # the OpenAPI document and the docs page are public: no demo user needed, still marked
    status, headers, body = request(base, "GET", "/crm/openapi.json")
    assert status == 200
    assert headers["X-OpenCRM-Demo"] == f"acting as admin; {DEMO}"
    assert "post" in json.loads(body)["paths"]["/persons"]
    status, headers, body = request(base, "GET", "/crm/docs")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert database.exists()
    return database


LOADER_MODULE = """
from flask import request

from opencrm import User

BOB = User(id="bob", name="Bob")


def crm_user():
    return BOB if request.headers.get("Authorization") == "Bearer bob-token" else None
"""


def test_app_from_env_serves_the_host_users_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opencrm_flask.serve import DEMO_HEADER, DEMO_USER_HEADER, app_from_env

    name = f"auth_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(LOADER_MODULE)
    monkeypatch.syspath_prepend(tmp_path)
    env = {
        "OPENCRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
        "OPENCRM_USER_LOADER": f"{name}:crm_user",
        "OPENCRM_FILES_DIR": str(tmp_path / "files"),
    }
    app = app_from_env(env)
    client = app.test_client()
    assert client.get("/").headers["Location"] == "/crm/docs"
    nobody = client.get("/crm/contacts", headers={DEMO_USER_HEADER: "admin"})
    assert (nobody.status_code, nobody.json["code"]) == (401, "unauthenticated")
    assert DEMO_HEADER not in nobody.headers
    bob = {"Authorization": "Bearer bob-token"}
    created = client.post("/crm/companies", json={"name": "Acme"}, headers=bob)
    assert created.status_code == 201
    assert created.json["managers"] == ["bob"]
    assert (tmp_path / "files").is_dir()
    OpenCRM.state(app).crm.close()
    sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set OPENCRM_DATABASE_URL and OPENCRM_USER_LOADER"),
        ({"OPENCRM_DATABASE_URL": "sqlite://"}, "set OPENCRM_USER_LOADER:"),
        (
            {"OPENCRM_DATABASE_URL": "sqlite://", "OPENCRM_USER_LOADER": "crm_user"},
            "a user loader is named MODULE:NAME, e.g. myapp.auth:crm_user, not 'crm_user'",
        ),
    ],
)
def test_app_from_env_says_what_is_missing(env: dict[str, str], message: str) -> None:
    from opencrm_flask.serve import app_from_env

    with pytest.raises((RuntimeError, ValueError)) as info:
        app_from_env(env)
    assert message in str(info.value)
