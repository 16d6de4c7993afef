"""List requests: filters, sort names from an allow-list, keyset cursors and pages."""

from __future__ import annotations

import binascii
import datetime as dt
import hmac
import json
import re
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar, overload

import attrs

from opencrm.core.entities.contacts import Access
from opencrm.errors import ValidationError

__all__ = [
    "MAX_FILTER_TEXT",
    "MAX_FILTER_VALUES",
    "MAX_PAGE_SIZE",
    "ContactFilter",
    "Cursor",
    "CursorKey",
    "Page",
    "PageRequest",
    "limit_problem",
    "page_limit",
]

T = TypeVar("T")
#: The limits every list, count and search holds its input to, so that no request can make a
#: query slow or large: a page has at most ``MAX_PAGE_SIZE`` rows, a multi-value filter (such
#: as ``tags``) at most ``MAX_FILTER_VALUES`` values, and a text filter or search at most
#: ``MAX_FILTER_TEXT`` characters. Going over one is a ValidationError naming the filter.
MAX_PAGE_SIZE = 500
MAX_FILTER_VALUES = 50
MAX_FILTER_TEXT = 255
#: No cursor opencrm hands out comes near this (a few sort keys of a few hundred characters).
MAX_CURSOR_LENGTH = 16_384
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
    #: (field id, stored text) pairs a contact's custom values must all equal.
    custom: tuple[tuple[int, str], ...] = ()


_NOT_A_CURSOR = "is not a cursor of this list and sort"


@attrs.frozen
class Cursor:
    """Where the next page starts: the sort key values of the last row returned."""

    sort: str
    values: tuple[object, ...]


@attrs.frozen
class CursorKey:
    """Signs and opens the cursors of one list (``contacts``, ``tasks``, ...).

    A cursor travels through the client, so it is signed: an HMAC-SHA256 over the list's name
    and the payload, keyed by a secret stored once per database (in the settings table, so
    every app server sharing the database agrees on it). A cursor of another list, another
    sort, another database or one edited by hand is refused as a
    :class:`~opencrm.errors.ValidationError` naming ``after``; storage also checks each value
    against the sort key's column type before it reaches SQL.
    """

    secret: bytes = attrs.field(repr=False)
    list_name: str

    def encode(self, cursor: Cursor) -> str:
        data = [cursor.sort, [_enc(v) for v in cursor.values]]
        payload = _b64(_json_dumps(data).encode())
        return f"{payload}.{self._mac(payload)}"

    def decode(self, token: str, sort: str) -> Cursor:
        try:
            payload, _, mac = token.partition(".")
            if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
                raise ValueError("bad signature")
            # Signed, so it is what encode wrote: url-safe base64 without padding.
            padded = payload.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(payload) % 4)
            raw = binascii.a2b_base64(padded)
            name, values = json.loads(raw)
            if name != sort or not isinstance(values, list):
                raise ValueError("another sort")
            return Cursor(name, tuple(_dec(v) for v in values))
        except (ValueError, TypeError, UnicodeError, OverflowError):
            raise ValidationError({"after": _NOT_A_CURSOR}) from None

    def open(self, page: PageRequest) -> PageRequest:
        """``page`` with its ``after`` token checked and decoded."""
        if page.token is None:
            return page
        sort = f"-{page.sort}" if page.descending else page.sort
        # What attrs.evolve(page, after=..., token=None) makes, without its introspection.
        return PageRequest(page.sort, page.descending, page.limit, self.decode(page.token, sort))

    def page(self, items: Sequence[T], cursor: Cursor | None) -> Page[T]:
        """A page of ``items``, whose next page starts after ``cursor`` (None: the last)."""
        return Page(items, self.encode(cursor) if cursor else None)

    def _mac(self, payload: str) -> str:
        message = f"{self.list_name}\n{payload}".encode()
        return _b64(hmac.digest(self.secret, message, "sha256")[:16])


#: The cursor's JSON, made by one encoder (``json.dumps`` with options builds one per call).
_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(data: bytes) -> str:
    """URL-safe base64 without padding (``base64.urlsafe_b64encode``, without its wrappers)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).decode().rstrip("=")


def _enc(value: object) -> object:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if value is None or isinstance(value, (str, int)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _dec(value: object) -> object:
    if isinstance(value, dict) and len(value) == 1:
        if "dt" in value:
            when = dt.datetime.fromisoformat(str(value["dt"]))
            if when.tzinfo is not None:
                when.astimezone(dt.UTC)  # OverflowError at the ends of the calendar
            return when
        if "d" in value:
            return dt.date.fromisoformat(str(value["d"]))
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


def page_limit(limit: object) -> int:
    """``limit`` if it is a page size opencrm serves (1 to ``MAX_PAGE_SIZE``), else a
    ValidationError naming ``limit``."""
    why = limit_problem(limit)
    if why is not None or not isinstance(limit, int):
        raise ValidationError({"limit": str(why)})
    return limit


@attrs.frozen
class PageRequest:
    """A validated request for one page: ``sort`` is an allow-listed name, ``-`` for descending.

    Built before the transaction; ``token`` is the ``after`` cursor as given, which
    :meth:`CursorKey.open` checks and turns into ``after`` inside it.
    """

    sort: str
    descending: bool
    limit: int
    after: Cursor | None
    token: str | None = None

    @classmethod
    def build(cls, sort: str, limit: int, after: str | None, allowed: Sequence[str]) -> PageRequest:
        errors = {}
        if not isinstance(sort, str) or sort.removeprefix("-") not in allowed:
            errors["sort"] = f"must be one of {', '.join(allowed)} (prefix - for descending)"
        if (why := limit_problem(limit)) is not None:
            errors["limit"] = why
        if after is not None and not isinstance(after, str):
            errors["after"] = "must be a cursor string"
        elif after is not None and len(after) > MAX_CURSOR_LENGTH:
            errors["after"] = _NOT_A_CURSOR
        if errors:
            raise ValidationError(errors)
        return cls(sort.removeprefix("-"), sort.startswith("-"), limit, None, after or None)


@attrs.frozen
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``after`` to get the next one."""

    items: Sequence[T]
    next_cursor: str | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self.items[index]
