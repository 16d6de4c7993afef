"""The built-in custom field types: text, textarea, select, checkbox, date and heading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opencrm.core import _inputs
from opencrm.core._inputs import multi_line, single_line
from opencrm.core.fields import FieldType
from opencrm.errors import ValidationError
from opencrm.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from opencrm.crm import CRM

__all__ = [
    "CheckboxField",
    "DateField",
    "HeadingField",
    "SelectField",
    "TextAreaField",
    "TextField",
]

_MAX_VALUE = 65_000


def _int_option(options: Mapping[str, Any], key: str, default: int, top: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise ValidationError({f"options.{key}": f"must be a whole number from 1 to {top}"})
    return value


def _unknown(options: Mapping[str, Any], allowed: set[str]) -> None:
    extra = set(options) - allowed
    if extra:
        raise ValidationError({"options": f"unknown options: {', '.join(sorted(extra))}"})


def _text(value: object, limit: int, *, lines: bool = False) -> str | None:
    """One line (or, with ``lines``, several) of at most ``limit`` characters; None when
    empty."""
    if value is None:
        return None
    if lines:
        return multi_line(value, "value", max_length=limit) or None
    if isinstance(value, str):
        value = value.strip()
        if "\n" in value or "\r" in value:
            raise ValidationError({"value": "must be one line"})
    return single_line(value, "value", max_length=limit, trim=False) or None


class TextField(FieldType):
    """One line of text; ``size`` (1-150, default 40) is the input width."""

    name = "text"

    def clean_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        _unknown(options, {"size"})
        return {"size": _int_option(options, "size", 40, 150)}

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        return _text(value, 255)


class TextAreaField(FieldType):
    """Several lines of text; ``rows`` (1-25, default 2) and ``cols`` (1-150, default 40)."""

    name = "textarea"

    def clean_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        _unknown(options, {"rows", "cols"})
        return {
            "rows": _int_option(options, "rows", 2, 25),
            "cols": _int_option(options, "cols", 40, 150),
        }

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        return _text(value, _MAX_VALUE, lines=True)


class SelectField(FieldType):
    """One of a list of ``choices``; choices may be added later, never removed or renamed."""

    name = "select"

    def clean_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        _unknown(options, {"choices"})
        choices = options.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ValidationError({"options.choices": "must be a non-empty list of strings"})
        cleaned: list[str] = []
        for c in choices:
            if (
                not isinstance(c, str)
                or not c.strip()
                or len(c.strip()) > 255
                or _inputs.has_control(c)
                or "\n" in c
            ):
                raise ValidationError({"options.choices": "each choice is a non-empty string"})
            if c.strip() in cleaned:
                raise ValidationError({"options.choices": f"{c.strip()!r} is listed twice"})
            cleaned.append(c.strip())
        return {"choices": cleaned}

    def check_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        missing = [c for c in old.get("choices", []) if c not in new.get("choices", [])]
        if missing:
            raise ValidationError(
                {"options.choices": f"choices in use cannot be removed: {', '.join(missing)}"}
            )

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        text = _text(value, 255)
        if text is not None and text not in options["choices"]:
            raise ValidationError({"value": f"must be one of {', '.join(options['choices'])}"})
        return text


class CheckboxField(FieldType):
    """Yes or no; stored as ``"true"``/``"false"``, read back as a bool."""

    name = "checkbox"
    _TRUE = frozenset({"true", "on", "yes", "1"})
    _FALSE = frozenset({"false", "off", "no", "0", ""})

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip().lower() in self._TRUE:
            return "true"
        if isinstance(value, str) and value.strip().lower() in self._FALSE:
            return "false"
        raise ValidationError({"value": "must be true or false"})

    def load(self, text: str, options: Mapping[str, Any]) -> object:
        return text == "true"


class DateField(FieldType):
    """A calendar date; accepts a ``date`` or an ISO ``YYYY-MM-DD`` string."""

    name = "date"

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            raise ValidationError({"value": "must be a date, not a date-time"})
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise ValidationError({"value": "must be a date (YYYY-MM-DD)"})

    def load(self, text: str, options: Mapping[str, Any]) -> object:
        return dt.date.fromisoformat(text)


class HeadingField(FieldType):
    """A section heading in forms; it holds no values."""

    name = "heading"
    has_values = False

    def clean(self, value: object, options: Mapping[str, Any]) -> str | None:
        raise ValidationError({"value": "a heading holds no value"})


@hookimpl
def opencrm_register_field_types(crm: CRM) -> list[FieldType]:
    return [
        TextField(),
        TextAreaField(),
        SelectField(),
        CheckboxField(),
        DateField(),
        HeadingField(),
    ]
