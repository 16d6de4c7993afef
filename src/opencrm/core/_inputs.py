"""The one place that cleans each kind of argument a caller passes to a service.

Every public service method may soon be called with whatever an HTTP client sends, so each
argument is checked here, by kind, before it reaches storage: ids, booleans, text (one line,
several lines, identifiers), dates and datetimes, and small integer limits. Numbers (prices,
quantities, rates) are read by :func:`opencrm.core.money.to_decimal`.

Each cleaner returns the clean value or raises :class:`~opencrm.errors.ValidationError` whose
``errors`` name the offending field, so a service can report every bad field at once. None
raises anything else, whatever it is given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from opencrm.errors import ValidationError

__all__ = [
    "MAX_DATE",
    "MAX_ID",
    "MIN_DATE",
    "add_days",
    "clean_bool",
    "clean_date",
    "clean_datetime",
    "clean_id",
    "clean_ids",
    "clean_int",
    "clean_key",
    "has_control",
    "multi_line",
    "no_control",
    "single_line",
]

#: Ids are INTEGER columns: 32-bit signed on PostgreSQL, and never zero or negative.
MAX_ID = 2**31 - 1

#: The dates opencrm accepts anywhere: wide enough for any business record, narrow enough
#: that adding a due period or a time zone never leaves the calendar.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(9000, 12, 31)

# C0 controls but tab and line breaks, DEL, C1 controls, and lone surrogates (no database can
# store them as UTF-8). NUL is among the C0 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Everything a single line may not hold: the above plus tab, CR, LF and the Unicode line and
# paragraph separators (a header or a title must not break).
_LINE_BREAK_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_KEY = re.compile(r"[A-Za-z0-9_.:-]+", re.ASCII)


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (tab and line breaks aside) or a lone
    surrogate."""
    return _CONTROL.search(value) is not None


def no_control(field: str, value: str) -> str:
    """``value``, unless it holds control characters or lone surrogates."""
    if _CONTROL.search(value):
        raise ValidationError({field: "contains control characters"})
    return value


# --- ids ------------------------------------------------------------------------------------


def clean_id(value: object, field: str, cls: type[Any] | None = None) -> int:
    """A record id given as an integer (or as the record itself, when ``cls`` is given):
    1 to :data:`MAX_ID`. Bools, floats, strings and out-of-range integers are refused."""
    if cls is not None and isinstance(value, cls):
        value = value.id
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: "must be an integer id"})
    if not 1 <= value <= MAX_ID:
        raise ValidationError({field: f"must be an id from 1 to {MAX_ID}"})
    return value


def clean_ids(
    value: object, field: str, cls: type[Any] | None = None, *, max_items: int = 1000
) -> list[int]:
    """A collection of ids (each as for :func:`clean_id`), in the given order, without
    repeats; a single string or record is not a collection."""
    if (
        isinstance(value, (str, bytes, dict))
        or (cls is not None and isinstance(value, cls))
        or not isinstance(value, Iterable)
    ):
        raise ValidationError({field: "must be a list of ids"})
    out: dict[int, None] = {}
    for item in value:
        out[clean_id(item, field, cls)] = None
        if len(out) > max_items:
            raise ValidationError({field: f"must hold at most {max_items} ids"})
    return list(out)


def clean_int(value: object, field: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (a limit, an order, a count of days)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({field: f"must be a whole number from {low} to {high}"})
    return value


# --- booleans -------------------------------------------------------------------------------


def clean_bool(value: object, field: str) -> bool:
    """``True`` or ``False`` only: ``"no"``, ``0`` or ``None`` are refused, never guessed."""
    if not isinstance(value, bool):
        raise ValidationError({field: "must be True or False"})
    return value


# --- text -----------------------------------------------------------------------------------


def single_line(
    value: object, field: str, *, max_length: int = 255, required: bool = False, trim: bool = True
) -> str:
    """One line of text (a name, a title, a subject, a number): a string of at most
    ``max_length`` characters, without control characters, line breaks or lone surrogates.

    With ``trim`` (the default) surrounding spaces go and inner runs of spaces become one.
    """
    if not isinstance(value, str):
        raise ValidationError({field: "must be a string"})
    if _LINE_BREAK_OR_CONTROL.search(value):
        raise ValidationError({field: "must be one line without control characters"})
    if trim:
        value = " ".join(value.split())
    if required and not value:
        raise ValidationError({field: "is required"})
    if len(value) > max_length:
        raise ValidationError({field: f"is longer than {max_length} characters"})
    return value


def multi_line(value: object, field: str, *, max_length: int = 65_000) -> str:
    """Free text (notes, descriptions, terms): a string of at most ``max_length`` characters,
    trimmed; line breaks and tabs are kept (CR LF and CR become LF), other control characters
    and lone surrogates are refused."""
    if not isinstance(value, str):
        raise ValidationError({field: "must be a string"})
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(value) > max_length:
        raise ValidationError({field: f"is longer than {max_length} characters"})
    return no_control(field, value)


def clean_key(value: object, field: str, *, max_length: int = 100) -> str:
    """An identifier such as a setting key: 1 to ``max_length`` ASCII letters, digits and
    ``_ . : -``, taken as given (nothing trimmed)."""
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ValidationError({field: f"must be a name of 1 to {max_length} characters"})
    if not _KEY.fullmatch(value):
        raise ValidationError({field: "may hold only ASCII letters, digits and _ . : -"})
    return value


# --- dates and times ------------------------------------------------------------------------


def clean_date(value: object, field: str) -> dt.date:
    """A :class:`datetime.date` (not a datetime) from :data:`MIN_DATE` to :data:`MAX_DATE`."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError({field: "must be a datetime.date"})
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError({field: f"must be from {MIN_DATE} to {MAX_DATE}"})
    return value


def clean_datetime(value: object, field: str) -> dt.datetime:
    """A timezone-aware :class:`datetime.datetime` whose date (in UTC) lies from
    :data:`MIN_DATE` to :data:`MAX_DATE`; returned in UTC. A naive datetime is refused: its
    meaning would depend on the server's clock."""
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValidationError({field: "must be a timezone-aware datetime"})
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise ValidationError({field: f"must be from {MIN_DATE} to {MAX_DATE}"})
    return value.astimezone(dt.UTC)


def add_days(day: dt.date, days: int, field: str) -> dt.date:
    """``day`` plus ``days``, refused (on ``field``) when the result leaves the accepted
    range of dates instead of overflowing."""
    try:
        result = day + dt.timedelta(days=days)
    except OverflowError:
        result = None
    if result is None or not MIN_DATE <= result <= MAX_DATE:
        raise ValidationError({field: f"must fall from {MIN_DATE} to {MAX_DATE}"})
    return result
