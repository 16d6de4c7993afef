"""Admin-managed lists: list items, opportunity stages, tags and custom field definitions."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["CustomField", "ListItem", "ListKind", "Stage", "StageType", "Tag"]


class ListKind(StrEnum):
    CONTACT_TYPE = "contact_type"
    TEMPERATURE = "temperature"
    TASK_CATEGORY = "task_category"
    HISTORY_CATEGORY = "history_category"


@attrs.frozen(kw_only=True)
class ListItem:
    """An entry of an admin list. ``system`` items (history categories for automatic events)
    are written by opencrm itself and cannot be edited or deleted."""

    id: int
    kind: ListKind
    title: str
    description: str = ""
    color: str | None = None
    icon: str | None = None
    sort_order: int = 0
    system: bool = False


class StageType(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@attrs.frozen(kw_only=True)
class Stage:
    """An opportunity stage with its default success probability (0-100)."""

    id: int
    title: str
    description: str = ""
    color: str | None = None
    probability: int = 0
    type: StageType = StageType.OPEN
    sort_order: int = 0


@attrs.frozen(kw_only=True)
class Tag:
    """A tag of one entity type (``"contact"``, ``"opportunity"``, ``"case"``)."""

    id: int
    entity_type: str
    title: str


def _options(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class CustomField:
    """A custom field definition.

    ``entity_type`` is ``contact`` (persons and companies), ``person``, ``company``,
    ``opportunity`` or ``case``; ``type`` names a registered field type; ``options`` holds the
    type's settings (``size`` of a text field, ``choices`` of a select).
    """

    id: int
    entity_type: str
    label: str
    type: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_options)
    sort_order: int = 0

    def applies_to(self, kind: str) -> bool:
        """Whether this field is shown on a record of ``kind`` (person or company)."""
        return self.entity_type == kind or (
            self.entity_type == "contact" and kind in ("person", "company")
        )


#: The kinds of record that carry tags; each has its own tag list.
TAG_ENTITY_TYPES = ("contact", "opportunity", "case")
