"""System checks (``manage.py check``), registered by the app's ``ready()``.

- ``opencrm.E001``: the CRM's database (``OPENCRM_DATABASE_ALIAS``) is not SQLite or
  PostgreSQL (MySQL and MariaDB are not supported yet).
- ``opencrm.E002``: ``OPENCRM_USER_ADAPTER`` cannot be imported, or is not a class with
  ``user_for(request)`` and ``directory()``.
- ``opencrm.E003``: an ``OPENCRM_*`` setting has a wrong value.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error
from django.utils.module_loading import import_string

from opencrm_django import conf, runtime

__all__ = ["check_settings"]


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for setting, message in conf.problems():
        errors.append(
            Error(
                f"{setting} {message}",
                hint=f"See the settings table in {conf.__name__}.",
                id="opencrm.E003",
            )
        )
    alias = conf.get("OPENCRM_DATABASE_ALIAS")
    if not any(setting == "OPENCRM_DATABASE_ALIAS" for setting, _ in conf.problems()):
        problem = runtime.unsupported_engine(alias)
        if problem is not None:
            errors.append(
                Error(
                    problem,
                    hint="Point OPENCRM_DATABASE_ALIAS at a SQLite or PostgreSQL database.",
                    id="opencrm.E001",
                )
            )
    errors.extend(_check_user_adapter())
    return errors


def _check_user_adapter() -> list[CheckMessage]:
    path = conf.get("OPENCRM_USER_ADAPTER")
    hint = "Name a class like opencrm_django.users.DefaultUserAdapter (or a subclass)."
    try:
        adapter = import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"OPENCRM_USER_ADAPTER {path!r} cannot be imported: {exc}",
                hint=hint,
                id="opencrm.E002",
            )
        ]
    if not isinstance(adapter, type):
        return [
            Error(f"OPENCRM_USER_ADAPTER {path!r} is not a class", hint=hint, id="opencrm.E002")
        ]
    missing = [m for m in ("user_for", "directory") if not callable(getattr(adapter, m, None))]
    if missing:
        return [
            Error(
                f"OPENCRM_USER_ADAPTER {path!r} lacks {', '.join(missing)}",
                hint=hint,
                id="opencrm.E002",
            )
        ]
    return []
