"""The OpenAPI document: valid 3.1, generated from every route, and true to the API (the API
is fuzzed from it through the Flask app over WSGI)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from crm_client import USER_HEADER, flask_app
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import CHECKS

from opencrm import CRM, InMemoryUserDirectory, LocalFileStore, OutboxNotifier, User
from opencrm.http._openapi import route_table
from opencrm.http.routes import ROUTES
from opencrm.storage.sqlalchemy.engine import create_engine_for
from voip_fakes import ACCOUNT, TOKEN, FakeTwilio, TwilioAt

ADMIN = User(id="admin", name="Ada Admin", crm_admin=True)


def test_document_is_valid_openapi_3_1_and_lists_every_route(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.as_(None).get("/openapi.json")
    assert reply.status == 200
    doc = reply.json
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "/crm"}]
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == {(r.method, r.path) for r in ROUTES if not r.hidden}
    person = doc["components"]["schemas"]["PersonIn"]
    assert person["required"] == ["first_name"]
    assert person["additionalProperties"] is False


def test_docs_page_is_served_without_a_cdn(api) -> None:  # type: ignore[no-untyped-def]
    nobody = api.as_(None)
    page = nobody.get("/docs")
    assert page.status == 200
    assert b'src="/crm/docs/swagger-ui-bundle.js"' in page.body
    assert b"//" not in page.body.replace(b"<!doctype", b"").split(b"<body>")[0].replace(
        b'href="/crm', b""
    )
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = nobody.get("/docs/swagger-ui-bundle.js")
    assert script.status == 200
    assert len(script.body) > 100_000
    assert nobody.get("/docs/init.js").body.count(b'"/crm/openapi.json"') == 1
    assert nobody.get("/docs/..%2F..%2Fsecrets").status == 404


# --- schemathesis over WSGI, on SQLite -----------------------------------------------------


_twilio = FakeTwilio(check_auth=False).start()
atexit.register(_twilio.stop)


def _fuzzed_app():  # type: ignore[no-untyped-def]
    """A Flask app on a small SQLite CRM in a temporary folder, acting as a CRM admin.

    Built when the module is collected: schemathesis makes one test per operation from the
    schema it reads from this app."""
    folder = Path(tempfile.mkdtemp(prefix="opencrm-openapi-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    crm = CRM(
        create_engine_for(f"sqlite:///{folder / 'crm.db'}"),
        load_entrypoints=False,
        directory=InMemoryUserDirectory([ADMIN]),
        notifier=OutboxNotifier(),
        file_store=LocalFileStore(folder / "files"),
        # VoIP talks to a fake Twilio on 127.0.0.1 that takes any credentials.
        plugins=[TwilioAt(_twilio)],
    )
    crm.upgrade()
    with crm.session(ADMIN) as s:
        s.voip.connect(account_sid=ACCOUNT, auth_token=TOKEN, public_url="http://localhost/crm")
        acme = s.contacts.add_company("Acme Ltd", email="info@acme.example")
        s.contacts.add_person("Bob", "Smith", company=acme, phone="+49 30 1234567")
    return flask_app(crm, {"admin": ADMIN})


schema = schemathesis.openapi.from_wsgi("/crm/openapi.json", _fuzzed_app())


# Schema-valid bodies may still break a business rule (an e-mail without a domain, an id
# that names no record): such requests are answered 4xx on purpose, so "every valid body is
# accepted" does not hold for a CRM. Everything else is checked.
_EXCLUDED_CHECKS = [c for c in CHECKS.get_all() if c.__name__ == "positive_data_acceptance"]


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_document(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        headers={USER_HEADER: "admin"},
        excluded_checks=_EXCLUDED_CHECKS,
    )


def test_the_api_page_lists_every_route() -> None:
    """docs/http-api.md carries the generated route table. To refresh it after adding
    routes, run the tests with OPENCRM_UPDATE_DOCS=1."""
    path = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- routes:start -->\n", "<!-- routes:end -->"
    before, rest = text.split(start)
    _, after = rest.split(end)
    wanted = before + start + route_table(ROUTES) + end + after
    if os.environ.get("OPENCRM_UPDATE_DOCS") == "1":
        path.write_text(wanted, encoding="utf-8")
        text = wanted
    assert text == wanted, "the route table in docs/http-api.md is outdated (see the docstring)"
