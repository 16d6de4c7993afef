"""The process's CRM, opened lazily on the project's database, and its API.

:func:`get_crm` opens one :class:`opencrm.CRM` per process on the ``DATABASES`` alias named
by ``OPENCRM_DATABASE_ALIAS``: its own SQLAlchemy connections to the same database, except
inside the host's ``transaction.atomic()`` on that alias, where a CRM call joins the host's
transaction on Django's connection (:class:`HostTransaction`; see the transactions section
of the Django guide). :func:`use_crm` makes the app use a CRM you
opened yourself (tests, or hosts that need options a setting cannot hold).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils.module_loading import import_string

from opencrm import CRM, SchemaOutdated
from opencrm.http import API
from opencrm_django import conf

__all__ = [
    "HostTransaction",
    "database_url",
    "get_api",
    "get_crm",
    "migrate_schema",
    "open_crm",
    "reset",
    "unsupported_engine",
    "use_crm",
    "user_adapter",
]

_SQLITE = "django.db.backends.sqlite3"
_POSTGRESQL = "django.db.backends.postgresql"
#: Django's own OPTIONS of the PostgreSQL backend; the rest are libpq connection options.
_DJANGO_PG_OPTIONS = frozenset(
    {"isolation_level", "assume_role", "server_side_binding", "pool", "service", "passfile"}
)

_lock = threading.Lock()
_state: dict[str, Any] = {"crm": None, "own": False, "api": None, "adapter": None}


def unsupported_engine(alias: str) -> str | None:
    """Why opencrm cannot store its data in ``alias`` (its ENGINE), or None."""
    engine = settings.DATABASES[alias].get("ENGINE", "")
    if engine in (_SQLITE, _POSTGRESQL):
        return None
    try:  # a backend built on Django's (PostGIS, a wrapper) says so by its vendor
        vendor = connections[alias].vendor
    except Exception:  # a backend that cannot even load is not one opencrm can use
        vendor = None
    if vendor in ("sqlite", "postgresql"):
        return None
    return (
        f"DATABASES[{alias!r}] uses {engine}; opencrm stores its data in SQLite or "
        "PostgreSQL only (MySQL and MariaDB are not supported yet)"
    )


def database_url(alias: str) -> tuple[str, dict[str, Any]]:
    """The SQLAlchemy URL and engine options for the database of ``alias``, read from
    Django's settings of that connection (the test database's name under a test run)."""
    problem = unsupported_engine(alias)
    if problem is not None:
        raise ImproperlyConfigured(problem)
    db = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        name = str(db["NAME"])
        if connections[alias].is_in_memory_db():
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}] is an in-memory SQLite database, which another "
                "connection cannot open: give it a file NAME (and TEST NAME for tests)"
            )
        return f"sqlite:///{name}", {}
    user = quote(db.get("USER") or "", safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or ""
    if "/" in host:  # a Unix socket directory goes in the query
        host_part, query = "", f"?host={quote(host, safe='')}"
    else:
        host_part, query = host, ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    name = quote(db.get("NAME") or "", safe="")
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in _DJANGO_PG_OPTIONS}
    engine_options = {"connect_args": options} if options else {}
    return f"postgresql+psycopg://{auth}{host_part}{port}/{name}{query}", engine_options


class HostTransaction:
    """The host's ``transaction.atomic()`` block on a ``DATABASES`` alias, for the CRM to
    join (an :class:`opencrm.OuterTransaction`): a CRM call made inside the block runs in
    a savepoint on Django's connection of this thread, so the block's rollback undoes it;
    outside any block a call commits in a transaction of its own, on opencrm's connection.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def connection(self) -> Any | None:
        conn = connections[self.alias]
        if not conn.in_atomic_block:
            return None
        # Like a query of the host's: refused once an error has marked the block for
        # rollback (TransactionManagementError).
        conn.validate_no_broken_transaction()
        conn.ensure_connection()
        return conn.connection

    def on_commit(self, action: Callable[[], None]) -> None:
        transaction.on_commit(action, using=self.alias)


def user_adapter() -> Any:
    """The configured user adapter (``OPENCRM_USER_ADAPTER``), made once."""
    adapter = _state["adapter"]
    if adapter is None:
        adapter = _state["adapter"] = import_string(conf.get("OPENCRM_USER_ADAPTER"))()
    return adapter


def open_crm(alias: str | None = None, *, upgrade: bool = False, **options: Any) -> CRM:
    """A new CRM on ``alias`` (default ``OPENCRM_DATABASE_ALIAS``) with the user adapter's
    directory and ``OPENCRM_CRM_OPTIONS``; ``upgrade`` migrates its schema first."""
    alias = alias or conf.get("OPENCRM_DATABASE_ALIAS")
    url, engine_options = database_url(alias)
    settings_options: Mapping[str, Any] = conf.get("OPENCRM_CRM_OPTIONS")
    merged = {
        "directory": user_adapter().directory(),
        "outer_transaction": HostTransaction(alias),
        **settings_options,
        **options,
    }
    try:
        return CRM.open(url, upgrade=upgrade, engine_options=engine_options, **merged)
    except SchemaOutdated as exc:
        raise ImproperlyConfigured(
            f"{exc}. In a Django project run `python manage.py migrate opencrm`."
        ) from None


def get_crm() -> CRM:
    """The process's CRM: the one given to :func:`use_crm`, else opened on first use."""
    crm = _state["crm"]
    if crm is None:
        with _lock:
            crm = _state["crm"]
            if crm is None:
                crm = open_crm()
                _state.update(crm=crm, own=True)
    return crm  # type: ignore[no-any-return]


def get_api() -> API:
    """The :class:`opencrm.http.API` over :func:`get_crm`, configured by the settings."""
    api = _state["api"]
    if api is None or api.crm is not get_crm():
        api = _state["api"] = API(
            get_crm(),
            max_json=conf.get("OPENCRM_MAX_JSON_BYTES"),
            max_upload=conf.get("OPENCRM_MAX_UPLOAD_BYTES"),
            trusted_origins=conf.get("OPENCRM_TRUSTED_ORIGINS"),
            trusted_proxies=conf.get("OPENCRM_TRUSTED_PROXIES"),
        )
    return api  # type: ignore[no-any-return]


def use_crm(crm: CRM | None) -> None:
    """Serve ``crm`` (which you opened and will close) instead of opening one; None goes
    back to opening one from the settings on next use."""
    with _lock:
        _close_own()
        _state.update(crm=crm, own=False, api=None)


def reset() -> None:
    """Forget the CRM opened from the settings (closing it), the API and the user adapter:
    the next request reads the settings again. Called when an ``OPENCRM_*`` or
    ``DATABASES`` setting changes (tests)."""
    with _lock:
        if _state["own"]:
            _close_own()
            _state["crm"] = None
        _state.update(api=None, adapter=None)


def _close_own() -> None:
    if _state["own"] and _state["crm"] is not None:
        _state["crm"].close()
    _state["own"] = False


def migrate_schema(alias: str) -> None:
    """Bring opencrm's schema in the database of ``alias`` to its head revision. The
    migration calls it for every database Django migrates the ``opencrm`` app on: as for
    any app, a database router's ``allow_migrate(db, "opencrm")`` decides which."""
    url, engine_options = database_url(alias)
    CRM.open(url, upgrade=True, engine_options=engine_options, load_entrypoints=False).close()
