"""Domain events: every state change emits one, and hooks hang off them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["AuditEntry", "Event"]


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Event:
    """Something that happened, told after the fact.

    ``name`` is ``"<entity_type>.<verb>"`` (``contact.created``, ``contact.updated``,
    ``contact.deleted``, ``contact.access_changed``, ``list_item.created``, ...).
    ``before`` and ``after`` are JSON-ready snapshots of the record (None on create/delete);
    ``entity`` is the record itself (the deleted one for ``*.deleted``); ``data`` holds
    event-specific facts, such as ``granted``: the users who gained access.
    """

    name: str
    entity_type: str
    entity_id: int | str | None
    actor_id: str
    at: dt.datetime
    before: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_map)
    after: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_map)
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    entity: object = attrs.field(default=None, eq=False, repr=False)

    @property
    def verb(self) -> str:
        return self.name.rpartition(".")[2]


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One line of the append-only audit trail: who did what to which record, and when."""

    id: int
    at: dt.datetime
    actor_id: str
    action: str
    entity_type: str
    entity_id: str | None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
