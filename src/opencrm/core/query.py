"""List requests: filters, sort names from an allow-list, keyset cursors and pages."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

import attrs

from opencrm.core.entities.contacts import Access
from opencrm.errors import ValidationError

__all__ = ["MAX_PAGE_SIZE", "ContactFilter", "Cursor", "Page", "PageRequest", "limit_problem"]

T = TypeVar("T")
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 25

CONTACT_SORTS = ("name", "type", "created")
#: What no sort key can hold: NUL, and lone surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@attrs.frozen(kw_only=True)
class ContactFilter:
    """The reference's contact list filters; every one is optional and they combine with AND.

    ``text`` matches names, e-mails and phones; ``tags`` requires all listed tags;
    ``manager`` keeps contacts that user manages; ``created_from``/``created_to`` bound the
    creation time (inclusive/exclusive).
    """

    text: str | None = None
    #: The E.164 prefix ``text`` stands for when it looks like a phone number (set by the service).
    phone_prefix: str | None = None
    tags: frozenset[str] = frozenset()
    temperature_id: int | None = None
    contact_type_id: int | None = None
    kind: str | None = None
    manager: str | None = None
    access: Access | None = None
    company_id: int | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None


@attrs.frozen
class Cursor:
    """Where the next page starts: the sort key values of the last row returned."""

    sort: str
    values: tuple[object, ...]

    def encode(self) -> str:
        data = [self.sort, [_enc(v) for v in self.values]]
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            name, values = json.loads(raw)
            if name != sort or not isinstance(values, list):
                raise ValueError
            return cls(name, tuple(_dec(v) for v in values))
        except (ValueError, TypeError, UnicodeDecodeError, OverflowError):
            raise ValidationError({"after": "is not a cursor of this list and sort"}) from None


def _enc(value: object) -> object:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if value is None or isinstance(value, (str, int)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _dec(value: object) -> object:
    if isinstance(value, dict) and set(value) == {"dt"}:
        when = dt.datetime.fromisoformat(str(value["dt"]))
        if when.tzinfo is not None:
            when.astimezone(dt.UTC)  # OverflowError at the ends of the calendar
        return when
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:  # what a BIGINT column (and SQLite) can hold
            raise ValueError("bad cursor value")
        return value
    if value is None or isinstance(value, str):
        if isinstance(value, str) and _UNSTORABLE.search(value):
            raise ValueError("bad cursor value")
        return value
    raise ValueError("bad cursor value")


def limit_problem(limit: object) -> str | None:
    """Why ``limit`` is not a number of items one request may ask for, or None."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        return f"must be a whole number from 1 to {MAX_PAGE_SIZE}"
    return None


@attrs.frozen
class PageRequest:
    """A validated request for one page: ``sort`` is an allow-listed name, ``-`` for descending."""

    sort: str
    descending: bool
    limit: int
    after: Cursor | None

    @classmethod
    def build(cls, sort: str, limit: int, after: str | None, allowed: Sequence[str]) -> PageRequest:
        errors = {}
        if not isinstance(sort, str) or sort.removeprefix("-") not in allowed:
            errors["sort"] = f"must be one of {', '.join(allowed)} (prefix - for descending)"
        if (why := limit_problem(limit)) is not None:
            errors["limit"] = why
        if after is not None and not isinstance(after, str):
            errors["after"] = "must be a cursor string"
        if errors:
            raise ValidationError(errors)
        cursor = Cursor.decode(after, sort) if after else None
        return cls(sort.removeprefix("-"), sort.startswith("-"), limit, cursor)


@attrs.frozen
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``after`` to get the next one."""

    items: Sequence[T]
    next_cursor: str | None

    @classmethod
    def of(cls, items: Sequence[T], cursor: Cursor | None) -> Page[T]:
        """A page of ``items``, whose next page starts after ``cursor`` (None: the last)."""
        return cls(items, cursor.encode() if cursor else None)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
