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
