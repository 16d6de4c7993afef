"""Users belong to the host application; opencrm only sees :class:`User` values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs

__all__ = ["InMemoryUserDirectory", "ModuleAccess", "User", "UserDirectory"]


def _frozen_str_set(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError("groups must be a collection of names, not a single string")
    return frozenset(value)


@attrs.frozen
class User:
    """The acting user as the host app describes it.

    ``language`` is a locale name (``"de"``, ``"pt_BR"``) used for messages sent to the user.
    """

    id: str = attrs.field(validator=attrs.validators.min_len(1))
    name: str = ""
    email: str | None = None
    crm_admin: bool = False
    groups: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen_str_set)
    language: str | None = None


class UserDirectory(Protocol):
    """Port through which opencrm asks the host about users other than the acting one."""

    def get(self, user_id: str) -> User | None:
        """Return the user with this id, or None when the host does not know it."""

    def get_many(self, user_ids: Iterable[str]) -> Mapping[str, User]:
        """Return the known users among ``user_ids``, keyed by id."""


class InMemoryUserDirectory:
    """A :class:`UserDirectory` over a fixed set of users: for tests, demos and small hosts."""

    def __init__(self, users: Iterable[User] = ()) -> None:
        self._users: dict[str, User] = {u.id: u for u in users}

    def add(self, user: User) -> None:
        self._users[user.id] = user

    def get(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def get_many(self, user_ids: Iterable[str]) -> Mapping[str, User]:
        return {i: self._users[i] for i in user_ids if i in self._users}


@attrs.frozen
class ModuleAccess:
    """Who may use the CRM at all. CRM admins always may.

    ``ModuleAccess()`` lets every user in; ``ModuleAccess.only(users=..., groups=...)`` lets in the
    listed users and members of the listed groups.
    """

    everyone: bool = True
    users: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen_str_set)
    groups: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen_str_set)

    @classmethod
    def only(cls, *, users: Iterable[str] = (), groups: Iterable[str] = ()) -> ModuleAccess:
        return cls(everyone=False, users=frozenset[str](users), groups=frozenset[str](groups))

    def allows(self, user: User) -> bool:
        if user.crm_admin or self.everyone:
            return True
        return user.id in self.users or bool(user.groups & self.groups)
