"""The Flask extension's own contract (flask-sqlalchemy's rule set): init_app, state in
app.extensions, config read with setdefault, double registration refused, a helpful error
before init_app, size limits before the body is read."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from opencrm_flask import OpenCRM

from opencrm import CRM, User

ADA = User(id="ada", name="Ada", crm_admin=True)


@pytest.fixture
def crm() -> CRM:
    return CRM.open("sqlite://", load_entrypoints=False)


def test_state_lives_in_app_extensions_and_config_uses_setdefault(crm: CRM) -> None:
    app = Flask(__name__)
    app.config["OPENCRM_URL_PREFIX"] = "/office/crm"
    ext = OpenCRM(app, crm=crm, user_loader=lambda: ADA)
    state = app.extensions["opencrm"]
    assert state is ext.state(app)
    assert state.crm is crm
    assert state.url_prefix == "/office/crm"
    assert app.config["OPENCRM_MAX_JSON_BYTES"] == 1024 * 1024
    assert app.config["OPENCRM_MAX_UPLOAD_BYTES"] == 11 * 1024 * 1024
    client = app.test_client()
    assert client.get("/office/crm/contacts").status_code == 200
    assert client.get("/crm/contacts").status_code == 404


def test_application_factory_and_double_registration(crm: CRM) -> None:
    ext = OpenCRM(crm=crm, user_loader=lambda: ADA)
    first, second = Flask("first"), Flask("second")
    ext.init_app(first)
    ext.init_app(second)  # one extension, many apps
    with pytest.raises(RuntimeError, match="already registered"):
        ext.init_app(first)


def test_helpful_errors_before_init_app_and_without_a_user_loader(crm: CRM) -> None:
    app = Flask(__name__)
    with pytest.raises(RuntimeError, match="Did you forget to call init_app"):
        OpenCRM.state(app)
    with pytest.raises(RuntimeError, match="needs a user_loader"):
        OpenCRM(app, crm=crm)


def test_without_a_crm_init_app_opens_the_configured_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    app.config["OPENCRM_DATABASE_URL"] = f"sqlite:///{tmp_path / 'host.db'}"
    OpenCRM(app, user_loader=lambda: ADA)
    created = app.test_client().post("/crm/persons", json={"first_name": "Ann"})
    assert created.status_code == 201
    assert (tmp_path / "host.db").exists()
    app.extensions["opencrm"].crm.close()


def test_uploads_over_the_limit_are_refused_from_content_length(crm: CRM) -> None:
    app = Flask(__name__)
    app.config["OPENCRM_MAX_UPLOAD_BYTES"] = 2048
    OpenCRM(app, crm=crm, user_loader=lambda: ADA)
    client = app.test_client()
    cid = client.post("/crm/persons", json={"first_name": "Ann"}).json["id"]
    reply = client.put(
        f"/crm/contacts/{cid}/photo",
        data={"file": (io.BytesIO(b"x" * 4096), "big.png")},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 413
    assert reply.json["code"] == "too_large"


def test_a_failing_user_loader_is_a_500_problem_without_a_trace(crm: CRM) -> None:
    def broken() -> User:
        raise KeyError("secret-session-detail")

    app = Flask(__name__)
    OpenCRM(app, crm=crm, user_loader=broken)
    reply = app.test_client().get("/crm/contacts")
    assert reply.status_code == 500
    assert reply.json["code"] == "internal_error"
    assert b"secret-session-detail" not in reply.data
    assert b"Traceback" not in reply.data


def test_trusted_proxies_name_the_client_of_a_web_form_post(crm: CRM) -> None:
    form = crm.session(ADA).web_forms.add("Contact", rate_limit=1)
    body = {"opencrm_form": str(form.id), "opencrm_key": form.key, "first_name": "Ann"}

    def post(app: Flask, forwarded: str) -> int:
        reply = app.test_client().post(
            "/crm/web-forms/post",
            data=body,
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
        )
        return reply.status_code

    behind = Flask("behind")
    behind.config["OPENCRM_TRUSTED_PROXIES"] = ["10.0.0.0/8"]
    OpenCRM(behind, crm=crm, user_loader=lambda: None)
    assert post(behind, "198.51.100.1") == 200  # no return URL: the thank-you page
    assert post(behind, "6.6.6.6, 198.51.100.2") == 200  # another visitor
    assert post(behind, "198.51.100.2, 198.51.100.1") == 429  # the first again
    # Without the setting the header is not believed: the proxy is the one client.
    plain = Flask("plain")
    OpenCRM(plain, crm=crm, user_loader=lambda: None)
    assert post(plain, "198.51.100.3") == 200
    assert post(plain, "198.51.100.4") == 429
