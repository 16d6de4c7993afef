"""Django users as opencrm users.

``OPENCRM_USER_ADAPTER`` names a class (default :class:`DefaultUserAdapter`) with:

- ``user_for(request)``: the acting :class:`opencrm.User` of a request, or None for nobody
  (anonymous requests are answered 403);
- ``directory()``: the :class:`opencrm.UserDirectory` through which opencrm looks up other
  users (owners, responsibles), read from Django's auth tables.

Subclass :class:`DefaultUserAdapter` to change one mapping (e.g. ``to_crm_user``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from opencrm import User, UserDirectory

__all__ = ["ADMIN_PERMISSION", "DefaultUserAdapter", "DjangoUserDirectory"]

#: The Django permission that makes a user a CRM admin (superusers always are).
ADMIN_PERMISSION = "opencrm.crm_admin"


class DefaultUserAdapter:
    """Maps Django's ``auth`` users: id ``str(pk)``, full name (else the username), e-mail,
    group names, and CRM admin for superusers and holders of ``opencrm.crm_admin``."""

    def user_for(self, request: HttpRequest) -> User | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        return self.to_crm_user(user)

    def to_crm_user(self, user: Any) -> User:
        name = user.get_full_name() if hasattr(user, "get_full_name") else ""
        return User(
            id=str(user.pk),
            name=name or user.get_username(),
            email=getattr(user, "email", None) or None,
            crm_admin=bool(user.is_superuser or user.has_perm(ADMIN_PERMISSION)),
            groups=frozenset(g.name for g in user.groups.all()),
        )

    def directory(self) -> UserDirectory:
        return DjangoUserDirectory(self)


class DjangoUserDirectory:
    """A :class:`opencrm.UserDirectory` over the project's user model (active users only)."""

    def __init__(self, adapter: DefaultUserAdapter) -> None:
        self._adapter = adapter

    def get(self, user_id: str) -> User | None:
        return self.get_many([user_id]).get(user_id)

    def get_many(self, user_ids: Iterable[str]) -> Mapping[str, User]:
        model = get_user_model()
        keys = []
        for user_id in user_ids:
            try:
                keys.append(model._meta.pk.to_python(user_id))
            except (ValidationError, ValueError, TypeError):
                continue  # not a key of this model: nobody by that id
        found = model._default_manager.filter(pk__in=keys, is_active=True).prefetch_related(
            "groups"
        )
        users = (self._adapter.to_crm_user(u) for u in found)
        return {u.id: u for u in users}
