"""opencrm for Flask: mount the opencrm REST API in a Flask app.

>>> from flask import Flask
>>> from opencrm import CRM, User
>>> from opencrm_flask import OpenCRM
>>> app = Flask(__name__)
>>> ada = User(id="ada", name="Ada")
>>> crm_ext = OpenCRM(app, crm=CRM.open("sqlite://"), user_loader=lambda: ada)
>>> app.extensions["opencrm"] is crm_ext.state(app)
True

The extension only translates Flask's request and response: routing, JSON, errors and the
OpenAPI document live in :mod:`opencrm.http`, shared with the Django app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from flask import Blueprint, Flask, current_app, g
from flask import Response as FlaskResponse
from flask import request as flask_request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import PathConverter

from opencrm import CRM, User
from opencrm.http import API, Headers, Request, Response, Upload
from opencrm.http._api import error_response

__all__ = ["OpenCRM", "OpenCRMState"]

#: The Flask request methods the blueprint answers.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@attrs.define
class OpenCRMState:
    """What ``init_app`` keeps in ``app.extensions["opencrm"]``."""

    crm: CRM
    api: API
    user_loader: Callable[[], User | None]
    url_prefix: str


class OpenCRM:
    """The Flask extension.

    ``OpenCRM(app, crm=..., user_loader=...)`` or ``ext = OpenCRM(crm=..., user_loader=...)``
    then ``ext.init_app(app)`` (the application-factory pattern).

    ``crm``: an opened :class:`opencrm.CRM`; without one, ``init_app`` opens
    ``OPENCRM_DATABASE_URL``. ``user_loader``: a callable returning the acting
    :class:`opencrm.User` for the current request, or None for nobody (answered 401).
    With Flask-Login::

        OpenCRM(app, crm=crm, user_loader=lambda: to_crm_user(current_user)
                if current_user.is_authenticated else None)

    Config keys (read with ``setdefault`` at ``init_app``, so your values win):

    - ``OPENCRM_DATABASE_URL``: where to open the CRM when no ``crm`` is given
      (default ``sqlite:///opencrm.db``).
    - ``OPENCRM_URL_PREFIX``: where the API is mounted (default: the ``url_prefix``
      argument, ``/crm``).
    - ``OPENCRM_MAX_JSON_BYTES``: the largest JSON body (default 1 MiB; 413 above).
    - ``OPENCRM_MAX_UPLOAD_BYTES``: the largest multipart upload (default 11 MiB; 413 above,
      refused from ``Content-Length`` before the body is read).
    - ``OPENCRM_TRUSTED_ORIGINS``: origins besides the app's own whose pages may change
      data with the browser's cookies (default: none).
    - ``OPENCRM_TRUSTED_PROXIES``: addresses or networks (``"10.0.0.0/8"``) of your reverse
      proxies; only requests from them have their client address (the web forms' rate
      limit) read from ``X-Forwarded-For`` (default: none).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        crm: CRM | None = None,
        user_loader: Callable[[], User | None] | None = None,
        url_prefix: str = "/crm",
        api_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.crm = crm
        self.user_loader = user_loader
        self.url_prefix = url_prefix
        self.api_options = dict(api_options or {})
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Mount the API on ``app``: a blueprint named ``opencrm`` under the URL prefix."""
        if "opencrm" in app.extensions:
            raise RuntimeError(
                "opencrm is already registered on this app; call init_app once per app"
            )
        if self.user_loader is None:
            raise RuntimeError(
                "OpenCRM needs a user_loader: a function returning the acting opencrm.User "
                "(or None) for the current request"
            )
        app.config.setdefault("OPENCRM_DATABASE_URL", "sqlite:///opencrm.db")
        app.config.setdefault("OPENCRM_URL_PREFIX", self.url_prefix)
        app.config.setdefault("OPENCRM_MAX_JSON_BYTES", 1024 * 1024)
        app.config.setdefault("OPENCRM_MAX_UPLOAD_BYTES", 11 * 1024 * 1024)
        app.config.setdefault("OPENCRM_TRUSTED_ORIGINS", ())
        app.config.setdefault("OPENCRM_TRUSTED_PROXIES", ())
        crm = self.crm or CRM.open(app.config["OPENCRM_DATABASE_URL"])
        options = {
            "max_json": app.config["OPENCRM_MAX_JSON_BYTES"],
            "max_upload": app.config["OPENCRM_MAX_UPLOAD_BYTES"],
            "trusted_origins": app.config["OPENCRM_TRUSTED_ORIGINS"],
            "trusted_proxies": app.config["OPENCRM_TRUSTED_PROXIES"],
            **self.api_options,
        }
        prefix = app.config["OPENCRM_URL_PREFIX"].rstrip("/")
        state = OpenCRMState(
            crm=crm, api=API(crm, **options), user_loader=self.user_loader, url_prefix=prefix
        )
        app.extensions["opencrm"] = state
        blueprint = Blueprint("opencrm", __name__)
        # OPTIONS and HEAD are answered by the API too, so Allow lists what really exists.
        rule: dict[str, Any] = {"methods": _METHODS, "provide_automatic_options": False}
        blueprint.add_url_rule("/", "api", _view, defaults={"path": ""}, **rule)
        app.url_map.converters.setdefault("opencrm_path", _AnyPath)
        blueprint.add_url_rule("/<opencrm_path:path>", "api", _view, **rule)
        app.register_blueprint(blueprint, url_prefix=prefix or None)

    @staticmethod
    def state(app: Flask | None = None) -> OpenCRMState:
        """The extension's state on ``app`` (default: the current app)."""
        target = app if app is not None else current_app
        try:
            state: OpenCRMState = target.extensions["opencrm"]
        except KeyError:
            raise RuntimeError(
                "opencrm is not registered on this app. Did you forget to call init_app?"
            ) from None
        return state


class _AnyPath(PathConverter):
    """Werkzeug's path converter, but also across an encoded line break (``%0A``), so that
    the API (not Flask's HTML 404 page) answers every path under the prefix."""

    regex = r"[^/][\s\S]*?"


def _view(path: str) -> FlaskResponse:
    state = OpenCRM.state()
    try:
        user = state.user_loader()
    except Exception as exc:  # a broken loader is the host's fault: a 500 problem, no trace
        return _to_flask(error_response(exc))
    g.opencrm_user = user
    return _to_flask(state.api.handle(_to_request(path, user, state.url_prefix)))


def _read_body(limit: int) -> bytes:
    stream = flask_request.stream
    return stream.read(limit + 1) if limit else stream.read(1)


def _read_form() -> tuple[Mapping[str, Sequence[str]], Sequence[Upload]]:
    try:
        form = {k: flask_request.form.getlist(k) for k in flask_request.form}
        files = [
            Upload(
                field=name,
                filename=f.filename or "",
                stream=f.stream,
                content_type=f.mimetype or "application/octet-stream",
            )
            for name in flask_request.files
            for f in flask_request.files.getlist(name)
        ]
    except RequestEntityTooLarge:
        from opencrm.http._api import HTTPProblem

        raise HTTPProblem(413, "too_large", "the upload is larger than allowed") from None
    return form, files


def _to_request(path: str, user: User | None, prefix: str) -> Request:
    query = {k: flask_request.args.getlist(k) for k in flask_request.args}
    return Request(
        method=flask_request.method,
        path="/" + path,
        base=flask_request.script_root + prefix,
        query=query,
        headers=Headers(flask_request.headers.items()),
        user=user,
        read_body=_read_body,
        read_form=_read_form,
        client=flask_request.remote_addr or "",
    )


def _to_flask(response: Response) -> FlaskResponse:
    body: Iterable[bytes] | bytes = (
        response.stream if response.stream is not None else response.body
    )
    out = FlaskResponse(body, status=response.status)
    out.headers.clear()
    for name, value in response.headers:
        out.headers.add(name, value)
    if response.stream is None:
        out.headers["Content-Length"] = str(len(response.body))
    return out
