"""Custom field types.

A :class:`FieldType` validates a field's options and its values. Values are stored as
canonical text (``"true"``/``"false"`` for a checkbox, ISO dates) so every backend keeps them
the same way; :meth:`FieldType.load` turns stored text back into a Python value. Built-in
types are registered by a built-in plugin; other plugins add types through the
``opencrm_register_field_types`` hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from opencrm.errors import ValidationError

__all__ = ["FIELD_ENTITY_TYPES", "FieldType", "FieldTypeRegistry"]

FIELD_ENTITY_TYPES = ("contact", "person", "company", "opportunity", "case")


class FieldType:
    """Base class for custom field types; subclass it and set ``name``."""

    name: ClassVar[str]
    #: False for layout-only types (a heading), which hold no values.
    has_values: ClassVar[bool] = True

    def clean_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the options given when a field is defined; return them normalised."""
        if options:
            raise ValidationError({"options": f"{self.name} fields take no options"})
        return {}

    def check_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """Refuse option changes that would break stored values (called when values exist)."""

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        """Validate a value; return its stored text, or None to clear the value."""
        raise NotImplementedError

    def load(self, text: str, options: Mapping[str, Any]) -> object:
        """Turn stored text into the value callers see."""
        return text


class FieldTypeRegistry:
    """The field types a CRM knows, by name."""

    def __init__(self, types: Iterable[FieldType] = ()) -> None:
        self._types: dict[str, FieldType] = {}
        for t in types:
            self.register(t)

    def register(self, field_type: FieldType) -> None:
        name = getattr(field_type, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{field_type!r} has no name")
        if name in self._types:
            raise ValueError(f"field type {name!r} is registered twice")
        self._types[name] = field_type

    def get(self, name: str) -> FieldType:
        try:
            if not isinstance(name, str):
                raise KeyError(name)
            return self._types[name]
        except KeyError:
            raise ValidationError(
                {"type": f"unknown field type {name!r}; known: {', '.join(sorted(self._types))}"}
            ) from None

    def names(self) -> list[str]:
        return sorted(self._types)
