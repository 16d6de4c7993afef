"""The example project of the Django guide (docs/django-example), as a user runs it.

A copy of it is checked, migrated and served by ``manage.py runserver`` in a subprocess, on
SQLite and on PostgreSQL (its settings read ``EXAMPLE_DATABASE_URL``); a user signs in
through the project's login page over real HTTP (session cookie, CSRF token), adds a contact
through the CRM's API, lists contacts, and places shop orders pointing at contacts (one with
a new contact in the same transaction, rolled back with a refused order).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opencrm_django
import pytest
import sqlalchemy as sa

import opencrm

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "django-example"
PG_URL = os.environ.get("OPENCRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "a-long-example-password"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """What the example's settings read from ``EXAMPLE_DATABASE_URL`` ("" is SQLite): for
    PostgreSQL a new, empty database, dropped afterwards."""
    if request.param == "sqlite":
        yield ""
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"opencrm_example_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    try:
        url = sa.make_url(PG_URL).set(drivername="postgresql", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    """A copy of the example project, and the environment its commands run in (this
    opencrm and opencrm_django importable, whether installed or run from the source)."""
    here = tmp_path / "django-example"
    shutil.copytree(EXAMPLE, here, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    paths = [str(Path(m.__file__).resolve().parents[1]) for m in (opencrm, opencrm_django)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        "EXAMPLE_DATABASE_URL": database_url,
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the tests' own project is not the example's
    return here, env


def manage(project: tuple[Path, dict[str, str]], *args: str) -> str:
    here, env = project
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    """Cookies kept between requests, redirects not followed, Django's CSRF token sent on
    writes: what a browser session with a page's script does."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.cookies if c.name == name and c.value is not None)

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, body, headers, method=method)
        try:
            with self.opener.open(req, timeout=30) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as reply:
            return reply.code, dict(reply.headers), reply.read()

    def get_json(self, path: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", path, headers={"Accept": "application/json"})
        return status, json.loads(body)

    def post_json(self, path: str, data: object) -> tuple[int, Any]:
        status, _, body = self.request(
            "POST",
            path,
            body=json.dumps(data).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-CSRFToken": self.cookie("csrftoken"),
            },
        )
        return status, json.loads(body)

    def sign_in(self, username: str, password: str) -> None:
        status, _, page = self.request("GET", "/accounts/login/", headers={})
        assert status == 200, page
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None, page
        form = urllib.parse.urlencode(
            {
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1).decode(),
            }
        ).encode()
        status, headers, page = self.request(
            "POST",
            "/accounts/login/",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (status, headers.get("Location")) == (302, "/crm/docs"), page


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def serve(project: tuple[Path, dict[str, str]], port: int, log: Path) -> subprocess.Popen[bytes]:
    here, env = project
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=here,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"runserver exited: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise AssertionError(f"runserver did not listen in 60 s: {log.read_text(errors='replace')}")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def test_the_example_project_checks_migrates_and_serves_a_signed_in_user(
    project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    assert manage(project, "check").strip() == "System check identified no issues (0 silenced)."
    migrated = manage(project, "migrate", "--no-input")
    assert "Applying opencrm.0001_opencrm_schema... OK" in migrated
    assert "Applying shop.0001_initial... OK" in migrated
    assert manage(project, "makemigrations", "--check", "--dry-run").strip() == (
        "No changes detected"
    )
    manage(project, "createsuperuser", "--no-input", "--username", "ann", "--email", "a@x.test")

    port = free_port()
    server = serve(project, port, tmp_path / "runserver.log")
    try:
        anonymous = Browser(f"http://127.0.0.1:{port}")
        status, problem = anonymous.get_json("/crm/contacts")
        assert (status, problem["code"]) == (403, "unauthenticated")

        browser = Browser(f"http://127.0.0.1:{port}")
        browser.sign_in("ann", PASSWORD)
        status, created = browser.post_json(
            "/crm/persons", {"first_name": "Lena", "last_name": "Berg", "job_title": "Buyer"}
        )
        assert status == 201, created
        status, listing = browser.get_json("/crm/contacts")
        assert status == 200, listing
        stamp = created["created_at"]
        assert listing["items"] == [
            {
                "id": 1,
                "kind": "person",
                "display_name": "Lena Berg",
                "first_name": "Lena",
                "last_name": "Berg",
                "job_title": "Buyer",
                "company_id": None,
                "contact_type_id": None,
                "temperature_id": None,
                "currency": None,
                "about": "",
                "access": "private",
                "managers": ["1"],  # ann's Django user id
                "tags": [],
                "infos": [],
                "custom": {},
                "created_by": "1",
                "created_at": stamp,
                "updated_by": "1",
                "updated_at": stamp,
            }
        ]

        status, order = browser.post_json(
            "/shop/orders/", {"customer": created["id"], "item": "Green tea"}
        )
        assert status == 201, order
        status, orders = browser.get_json("/shop/orders/")
        assert (status, orders) == (
            200,
            {
                "items": [
                    {
                        "id": order["id"],
                        "item": "Green tea",
                        "customer": {"id": created["id"], "name": "Lena Berg"},
                    }
                ]
            },
        )
        status, missing = browser.post_json("/shop/orders/", {"customer": 999, "item": "Tea"})
        assert (status, missing) == (404, {"error": "no such customer"})

        # A new customer and the order in one atomic() block: a refused order takes the
        # new CRM contact with it; an accepted one keeps both.
        ida = {"first_name": "Ida", "last_name": "Nord"}
        status, refused = browser.post_json("/shop/orders/", {"new_customer": ida, "item": ""})
        assert (status, refused) == (400, {"error": "an order needs an item"})
        status, listing = browser.get_json("/crm/contacts")
        assert [c["display_name"] for c in listing["items"]] == ["Lena Berg"]
        status, placed = browser.post_json(
            "/shop/orders/", {"new_customer": ida, "item": "Black tea"}
        )
        assert status == 201, placed
        assert placed["item"] == "Black tea"
        assert placed["customer"]["name"] == "Ida Nord"
        status, listing = browser.get_json("/crm/contacts")
        assert [(c["id"], c["display_name"]) for c in listing["items"]] == [
            (placed["customer"]["id"], "Ida Nord"),
            (1, "Lena Berg"),
        ]
    finally:
        stop(server)
    assert server.returncode is not None
