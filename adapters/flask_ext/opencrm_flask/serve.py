"""Ready-made Flask apps serving the opencrm REST API, and their WSGI entry points.

- :func:`create_app`: a Flask app that mounts the API at ``/crm`` for a CRM and a user
  loader, and sends ``/`` to the interactive API docs page.
- :func:`demo_app`: the demo server behind ``opencrm serve --demo``: a SQLite CRM full of
  sample data, its demo users, a local file store and an outbox. The acting user is chosen
  per request with the ``X-OpenCRM-Demo-User`` header (default: the demo admin), and every
  response says so in an ``X-OpenCRM-Demo`` header. For trying the API, never for real data.
- :func:`app_from_env`: a production app configured by environment variables, for a WSGI
  server such as gunicorn::

      OPENCRM_DATABASE_URL=postgresql+psycopg://crm@db/crm \\
      OPENCRM_USER_LOADER=myapp.auth:crm_user \\
      gunicorn -w 2 -b 127.0.0.1:8000 'opencrm_flask.serve:app_from_env()'

:func:`run` serves an app with werkzeug's development server (what ``opencrm serve`` uses).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from flask import Flask, g, redirect, request
from flask import Response as FlaskResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from opencrm import CRM, LocalFileStore, OutboxNotifier, User
from opencrm.demo import (
    DEFAULT_CONTACTS,
    DEFAULT_SEED,
    DEMO_USERS,
    NotADemoDatabase,
    create_demo_file,
    demo_directory,
    demo_files_directory,
    is_demo_file,
)
from opencrm.http import problem
from opencrm_flask import OpenCRM, _to_flask

__all__ = [
    "DEMO_HEADER",
    "DEMO_USER_HEADER",
    "app_from_env",
    "create_app",
    "demo_app",
    "load_user_loader",
    "run",
]

#: The request header naming the acting demo user (demo mode only).
DEMO_USER_HEADER = "X-OpenCRM-Demo-User"
#: The response header every demo response carries: who acted, and that this is a demo.
DEMO_HEADER = "X-OpenCRM-Demo"
#: ``app.config`` key set on demo apps (``opencrm serve --app`` refuses them).
DEMO_CONFIG_KEY = "OPENCRM_DEMO"


def create_app(
    crm: CRM,
    user_loader: Callable[[], User | None],
    *,
    url_prefix: str = "/crm",
    import_name: str = "opencrm",
    **api_options: Any,
) -> Flask:
    """A Flask app with the opencrm API mounted at ``url_prefix`` and ``/`` redirecting to
    the API docs page (``<url_prefix>/docs``). ``user_loader`` returns the acting
    :class:`opencrm.User` of the current request, or None (answered 401); ``api_options``
    go to :class:`opencrm.http.API` (``max_json``, ``max_upload``, ``trusted_origins``)."""
    app = Flask(import_name)
    OpenCRM(app, crm=crm, user_loader=user_loader, url_prefix=url_prefix, api_options=api_options)
    prefix = OpenCRM.state(app).url_prefix

    def home() -> WerkzeugResponse:
        return redirect(f"{request.script_root}{prefix}/docs")

    app.add_url_rule("/", "opencrm_home", home)
    return app


# --- the demo ---------------------------------------------------------------------------------


def demo_app(
    db: str | os.PathLike[str] | None = None,
    *,
    fresh: bool = False,
    contacts: int = DEFAULT_CONTACTS,
    seed: int = DEFAULT_SEED,
) -> Flask:
    """The demo server's app: a SQLite demo CRM (see :mod:`opencrm.demo`) with its demo
    users, a :class:`~opencrm.LocalFileStore` and an :class:`~opencrm.OutboxNotifier`, so
    uploads and sending work.

    Without ``db`` the demo is built in a new temporary directory, removed when the process
    exits. With ``db``, that file is used as it is when it is a demo file already (several
    gunicorn workers share it), built when missing, and rebuilt with ``fresh``; a file that
    is not an opencrm demo database is refused (:class:`~opencrm.demo.NotADemoDatabase`).
    The demo's files and uploads are in a ``<db>-files`` directory next to it.

    Each request acts as the demo user named by the ``X-OpenCRM-Demo-User`` header
    (``admin``, the demo's CRM admin, when there is none; an unknown id is answered 401),
    and every response carries ``X-OpenCRM-Demo: acting as <id>; demo mode, not for
    production``.
    """
    temporary: Path | None = None
    if db is None:
        temporary = Path(tempfile.mkdtemp(prefix="opencrm-demo-"))
        path = temporary / "demo.db"
    else:
        path = Path(db).expanduser().absolute()
    try:
        if fresh or temporary is not None or not path.exists():
            create_demo_file(path, contacts=contacts, seed=seed)
        elif not is_demo_file(path):
            raise NotADemoDatabase(path)
        crm = CRM.open(
            f"sqlite:///{path}",
            directory=demo_directory(),
            load_entrypoints=False,
            notifier=OutboxNotifier(),
            file_store=LocalFileStore(demo_files_directory(path)),
        )
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    atexit.register(_close, crm, temporary)
    app = _demo_flask_app(crm, DEMO_USERS)
    app.config["OPENCRM_DEMO_DATABASE"] = str(path)
    return app


def _close(crm: CRM, temporary: Path | None) -> None:
    crm.close()
    if temporary is not None:
        shutil.rmtree(temporary, ignore_errors=True)


def _demo_flask_app(crm: CRM, users: tuple[User, ...]) -> Flask:
    by_id = {u.id: u for u in users}
    default = users[0]
    app = create_app(crm, lambda: g.get("opencrm_demo_user"), import_name="opencrm_demo")
    app.config[DEMO_CONFIG_KEY] = True

    @app.before_request
    def choose_user() -> FlaskResponse | None:
        wanted = request.headers.get(DEMO_USER_HEADER, "").strip()
        user = by_id.get(wanted or default.id)
        g.opencrm_demo_user = user
        if user is None:
            known = ", ".join(by_id)
            return _to_flask(
                problem(
                    401,
                    "unknown_demo_user",
                    f"{DEMO_USER_HEADER} names no demo user; the demo users are {known}",
                )
            )
        return None

    @app.after_request
    def say_demo(response: FlaskResponse) -> FlaskResponse:
        user: User | None = g.get("opencrm_demo_user")
        who = f"acting as {user.id}" if user is not None else "no acting user"
        response.headers[DEMO_HEADER] = f"{who}; demo mode, not for production"
        return response

    return app


# --- production: configured by the environment -------------------------------------------------


def load_user_loader(spec: str) -> Callable[[], User | None]:
    """The function named by ``MODULE:NAME`` (``myapp.auth:crm_user``): called without
    arguments inside each request, it returns the acting :class:`opencrm.User` or None."""
    module_name, colon, name = spec.partition(":")
    if not colon or not module_name.strip() or not name.strip():
        raise ValueError(
            f"a user loader is named MODULE:NAME, e.g. myapp.auth:crm_user, not {spec!r}"
        )
    target: Any = importlib.import_module(module_name.strip())
    for part in name.strip().split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec} is a {type(target).__name__}, not a function")
    loader: Callable[[], User | None] = target
    return loader


def app_from_env(environ: Mapping[str, str] | None = None) -> Flask:
    """A production app from environment variables (the WSGI entry point for gunicorn):

    - ``OPENCRM_DATABASE_URL`` (required): the CRM's database; PostgreSQL must be at the
      current schema (``opencrm db upgrade URL``).
    - ``OPENCRM_USER_LOADER`` (required): ``MODULE:NAME`` of the function returning the
      acting user of a request (see :func:`load_user_loader`).
    - ``OPENCRM_FILES_DIR`` (optional): a directory for a :class:`~opencrm.LocalFileStore`
      (uploads are refused without a file store).
    - ``OPENCRM_URL_PREFIX`` (optional, default ``/crm``): where the API is mounted.

    There are no demo users here: the loader alone says who acts.
    """
    env = os.environ if environ is None else environ
    missing = [k for k in ("OPENCRM_DATABASE_URL", "OPENCRM_USER_LOADER") if not env.get(k)]
    if missing:
        raise RuntimeError(
            f"set {' and '.join(missing)}: the database URL and the MODULE:NAME of the "
            "function returning the acting opencrm.User"
        )
    loader = load_user_loader(env["OPENCRM_USER_LOADER"])
    options: dict[str, Any] = {}
    if env.get("OPENCRM_FILES_DIR"):
        options["file_store"] = LocalFileStore(env["OPENCRM_FILES_DIR"])
    crm = CRM.open(env["OPENCRM_DATABASE_URL"], **options)
    return create_app(crm, loader, url_prefix=env.get("OPENCRM_URL_PREFIX", "/crm"))


# --- running ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, which the development server treats as a
    clean stop, so the demo's temporary files are removed when a supervisor stops it."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(app: Flask, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` with werkzeug's development server (threaded) until interrupted.
    For development and demos only: deploy behind gunicorn (see :func:`app_from_env`)."""
    from werkzeug.serving import run_simple

    with _stop_on_sigterm():
        run_simple(host, port, app, threaded=True)
