"""The ``OPENCRM_*`` settings, read when used (never at import), so ``override_settings``
and settings changed by tests take effect.

==============================  ==========================================  =====================
Setting                         Meaning                                     Default
==============================  ==========================================  =====================
``OPENCRM_DATABASE_ALIAS``      The ``DATABASES`` alias the CRM lives in    ``"default"``
                                (SQLite or PostgreSQL).
``OPENCRM_USER_ADAPTER``        Dotted path of the class mapping            ``"opencrm_django.
                                ``request.user`` to :class:`opencrm.User`   users.DefaultUser
                                and giving the user directory.              Adapter"``
``OPENCRM_MAX_JSON_BYTES``      The largest JSON body (413 above).          1 MiB
``OPENCRM_MAX_UPLOAD_BYTES``    The largest multipart upload (413 above,    11 MiB
                                refused from ``Content-Length``).
``OPENCRM_TRUSTED_ORIGINS``     Origins besides the site's own whose pages  ``()``
                                may change data with the browser's cookies
                                (``"https://app.example"``).
``OPENCRM_TRUSTED_PROXIES``     Addresses or networks of the reverse        ``()``
                                proxies whose ``X-Forwarded-For`` names
                                the client (web forms' rate limit).
``OPENCRM_CRM_OPTIONS``         Further keyword options for                 ``{}``
                                :class:`opencrm.CRM` (``plugins``,
                                ``phone_region``, ``notifier``,
                                ``file_store``, ``load_entrypoints``).
==============================  ==========================================  =====================
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings

__all__ = ["DEFAULTS", "get", "problems"]

DEFAULTS: Mapping[str, Any] = {
    "OPENCRM_DATABASE_ALIAS": "default",
    "OPENCRM_USER_ADAPTER": "opencrm_django.users.DefaultUserAdapter",
    "OPENCRM_MAX_JSON_BYTES": 1024 * 1024,
    "OPENCRM_MAX_UPLOAD_BYTES": 11 * 1024 * 1024,
    "OPENCRM_TRUSTED_ORIGINS": (),
    "OPENCRM_TRUSTED_PROXIES": (),
    "OPENCRM_CRM_OPTIONS": {},
}

#: Options of OPENCRM_CRM_OPTIONS that the app sets itself.
_RESERVED_OPTIONS = frozenset(
    {"directory", "upgrade", "engine_options", "url", "outer_transaction"}
)


def get(name: str) -> Any:
    """The value of setting ``name`` (one of :data:`DEFAULTS`), or its default."""
    return getattr(settings, name, DEFAULTS[name])


def problems() -> list[tuple[str, str]]:
    """What is wrong with the ``OPENCRM_*`` settings, as (setting, message) pairs."""
    found: list[tuple[str, str]] = []
    alias = get("OPENCRM_DATABASE_ALIAS")
    if not isinstance(alias, str) or alias not in settings.DATABASES:
        found.append(
            (
                "OPENCRM_DATABASE_ALIAS",
                f"{alias!r} is not an alias in DATABASES ({', '.join(settings.DATABASES)})",
            )
        )
    for name in ("OPENCRM_MAX_JSON_BYTES", "OPENCRM_MAX_UPLOAD_BYTES"):
        value = get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            found.append((name, f"must be a positive number of bytes, not {value!r}"))
    origins = get("OPENCRM_TRUSTED_ORIGINS")
    if isinstance(origins, str) or not isinstance(origins, list | tuple | set | frozenset):
        found.append(("OPENCRM_TRUSTED_ORIGINS", "must be a list of origins"))
    elif not all(isinstance(o, str) and o.startswith(("http://", "https://")) for o in origins):
        found.append(
            ("OPENCRM_TRUSTED_ORIGINS", "every origin must start with http:// or https://")
        )
    proxies = get("OPENCRM_TRUSTED_PROXIES")
    if isinstance(proxies, str) or not isinstance(proxies, list | tuple | set | frozenset):
        found.append(("OPENCRM_TRUSTED_PROXIES", "must be a list of addresses or networks"))
    else:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except (TypeError, ValueError):
                found.append(("OPENCRM_TRUSTED_PROXIES", f"{proxy!r} is no address or network"))
    options = get("OPENCRM_CRM_OPTIONS")
    if not isinstance(options, Mapping):
        found.append(("OPENCRM_CRM_OPTIONS", "must be a dict of CRM options"))
    elif _RESERVED_OPTIONS & set(options):
        reserved = ", ".join(sorted(_RESERVED_OPTIONS & set(options)))
        found.append(("OPENCRM_CRM_OPTIONS", f"may not set {reserved}: the app sets it"))
    return found
