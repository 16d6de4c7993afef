"""The neutral request and response every adapter translates to and from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO

import attrs

from opencrm.core.users import User

__all__ = ["Headers", "Request", "Response", "Upload"]


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers (the first value of each name)."""

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._data: dict[str, str] = {}
        for name, value in pairs:
            self._data.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._data[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._data


@attrs.frozen
class Upload:
    """One uploaded file of a multipart form: its field name, file name, declared type and
    a binary stream. The declared type is never trusted: opencrm sniffs the bytes."""

    field: str
    filename: str
    stream: IO[bytes]
    content_type: str = "application/octet-stream"


def _no_body(limit: int) -> bytes:
    return b""


def _no_form() -> tuple[Mapping[str, Sequence[str]], Sequence[Upload]]:
    return {}, ()


@attrs.frozen(kw_only=True)
class Request:
    """What an adapter hands to :meth:`opencrm.http.API.handle`.

    ``path`` is relative to where the API is mounted (``/contacts/7``), ``base`` is the
    mount point as the client sees it (``/crm``), used for ``Location`` and ``next`` links.
    The body is read on demand so size limits apply before it is read: ``read_body(limit)``
    returns at most ``limit + 1`` bytes, ``read_form()`` parses a multipart or urlencoded
    form (the adapter's framework does that, under its own size limit). ``user`` is the
    acting user, or None when the host knows nobody (answered 401). ``client`` is the
    address of the peer that sent the request (the adapter's ``REMOTE_ADDR``; behind a proxy
    that is the proxy: see ``API(trusted_proxies=...)``).
    """

    method: str
    path: str
    base: str = ""
    query: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    headers: Headers = attrs.field(factory=Headers)
    user: User | None = None
    read_body: Callable[[int], bytes] = _no_body
    read_form: Callable[[], tuple[Mapping[str, Sequence[str]], Sequence[Upload]]] = _no_form
    client: str = ""

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("content-length")
        if raw is None or not raw.isascii() or not raw.isdigit():
            return None
        return int(raw)


@attrs.frozen(kw_only=True)
class Response:
    """What :meth:`opencrm.http.API.handle` returns: a status, headers and either ``body``
    bytes or ``stream``, an iterable of byte chunks for large downloads."""

    status: int
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes = b""
    stream: Iterable[bytes] | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    @property
    def content_type(self) -> str | None:
        return self.header("Content-Type")
