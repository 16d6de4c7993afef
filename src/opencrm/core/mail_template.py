"""Mail templates: text with placeholders such as ``{{first_name}}`` or ``{{custom:Shoe size}}``.

Deliberately not a template engine: a placeholder is a fixed name, or ``custom:`` and a custom
field's label, between ``{{`` and ``}}`` (spaces inside allowed). Nothing is evaluated, looked
up by attribute or called, so a template cannot reach anything but the values opencrm hands it.
Anything else between the braces (``{{7*7}}``, ``{{contact.__class__}}``), a ``{{`` that is never
closed, or a custom field that does not exist is a :class:`~opencrm.errors.ValidationError`
naming it, raised when the template is parsed: before any mail is sent.

Values are inserted as text: in an HTML body they are escaped (``<`` becomes ``&lt;``), in a
subject line breaks become spaces.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping

import attrs

from opencrm.core._inputs import no_control
from opencrm.errors import ValidationError

__all__ = ["FIELDS", "MAX_TEMPLATE", "Template", "parse"]

#: The contact fields a placeholder may name, and what each holds.
FIELDS: Mapping[str, str] = {
    "name": "the contact's display name (a person's first and last name, a company's name)",
    "first_name": "a person's first name (empty for a company)",
    "last_name": "a person's last name (empty for a company)",
    "job_title": "a person's job title (empty for a company)",
    "company": "a person's company name, or a company's own name",
    "industry": "a company's industry (empty for a person)",
    "email": "the primary e-mail address (the one the mail goes to)",
    "phone": "the primary phone number",
}
#: The longest template (each of subject, text and HTML), in characters.
MAX_TEMPLATE = 100_000
CUSTOM_PREFIX = "custom:"

_OPEN = "{{"
_CLOSE = "}}"
_NAME = re.compile(r"[a-z_]{1,40}")
_LABEL = re.compile(r"[^{}\x00-\x1f\x7f]{1,255}")


@attrs.frozen
class Template:
    """A parsed template: literal text and placeholders, alternating (``parts[0]``, ``parts[2]``
    ... are text; ``parts[1]``, ``parts[3]`` ... placeholder keys: a field name, or
    ``custom:<label>``)."""

    parts: tuple[str, ...]

    @property
    def placeholders(self) -> tuple[str, ...]:
        return self.parts[1::2]

    def render(self, values: Mapping[str, str], *, mode: str = "text") -> str:
        """The template with each placeholder replaced by its value (missing: empty).

        ``mode`` is ``text`` (values as they are), ``html`` (values escaped) or ``subject``
        (line breaks in values become spaces)."""
        out: list[str] = []
        for i, part in enumerate(self.parts):
            if i % 2 == 0:
                out.append(part)
                continue
            value = values.get(part, "")
            if mode == "html":
                value = html.escape(value, quote=True)
            elif mode == "subject":
                value = " ".join(value.split())
            out.append(value)
        return "".join(out)


def parse(source: object, field: str, custom_labels: Collection[str] = ()) -> Template:
    """Parse ``source``: every placeholder must be one of :data:`FIELDS` or ``custom:`` and one
    of ``custom_labels``. Errors name ``field`` and the offending placeholder."""
    if not isinstance(source, str):
        raise ValidationError({field: "must be a string"})
    if len(source) > MAX_TEMPLATE:
        raise ValidationError({field: f"is longer than {MAX_TEMPLATE:,} characters"})
    no_control(field, source)  # NUL, stray controls, lone surrogates: no mail can carry them
    parts: list[str] = []
    pos = 0
    while True:
        start = source.find(_OPEN, pos)
        if start < 0:
            parts.append(source[pos:])
            break
        end = source.find(_CLOSE, start + len(_OPEN))
        if end < 0:
            shown = source[start : start + 40]
            raise ValidationError({field: f"the placeholder {shown!r} is not closed with }}}}"})
        parts.append(source[pos:start])
        raw = source[start + len(_OPEN) : end]
        parts.append(_key(raw, field, custom_labels))
        pos = end + len(_CLOSE)
    return Template(tuple(parts))


def _key(raw: str, field: str, custom_labels: Collection[str]) -> str:
    inner = raw.strip()
    shown = "{{" + raw[:60] + "}}"
    if inner.startswith(CUSTOM_PREFIX):
        label = " ".join(inner[len(CUSTOM_PREFIX) :].split())
        if not _LABEL.fullmatch(label):
            raise ValidationError({field: f"unknown placeholder {shown}"})
        if label not in custom_labels:
            raise ValidationError(
                {field: f"unknown placeholder {shown}: no custom field {label!r}"}
            )
        return CUSTOM_PREFIX + label
    if not _NAME.fullmatch(inner) or inner not in FIELDS:
        raise ValidationError(
            {
                field: f"unknown placeholder {shown}; use one of {', '.join(FIELDS)} "
                "or custom:<label>"
            }
        )
    return inner
