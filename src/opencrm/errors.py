"""Typed errors raised by opencrm.

Every error a caller can provoke with bad input or missing rights is an :class:`OpenCRMError`.
Adapters map them to HTTP statuses (403, 404, 409, 422, 429); nothing below them leaks a driver
exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "Conflict",
    "InvalidTransition",
    "MissingExchangeRates",
    "NotConfigured",
    "NotFound",
    "OpenCRMError",
    "PermissionDenied",
    "ProviderError",
    "RateLimited",
    "SchemaOutdated",
    "StorageError",
    "ValidationError",
]


class OpenCRMError(Exception):
    """Base class of every error opencrm raises on purpose."""


class ValidationError(OpenCRMError, ValueError):
    """Input was refused. ``errors`` maps each offending field name to a readable reason."""

    def __init__(self, errors: Mapping[str, str] | str, *, field: str | None = None) -> None:
        if isinstance(errors, str):
            errors = {field or "__all__": errors}
        self.errors: dict[str, str] = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class PermissionDenied(OpenCRMError):
    """The acting user may not do this (but may know the record exists)."""


class NotFound(OpenCRMError, LookupError):
    """No such record, or one the acting user may not read: the two are never told apart."""

    def __init__(self, entity: str, ident: object) -> None:
        self.entity = entity
        self.ident = ident
        super().__init__(f"{entity} {ident!r} not found")


class Conflict(OpenCRMError):
    """The change contradicts stored data (a name taken, a record still in use)."""


class NotConfigured(OpenCRMError):
    """The call needs something the CRM was opened without (a notifier, a file store); the
    message names the ``CRM.open`` option to pass."""


class RateLimited(OpenCRMError):
    """Too many requests of one kind from one source; try again after ``retry_after``
    seconds (answered 429 with ``Retry-After``)."""

    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ProviderError(OpenCRMError):
    """An outside service opencrm called (the telephony provider) failed or refused the
    request for a reason that is not the caller's input (answered 502)."""


class StorageError(OpenCRMError):
    """The database refused the operation for a reason that is not the caller's input."""


class SchemaOutdated(OpenCRMError):
    """The database schema is older than this opencrm; run ``opencrm db upgrade URL``."""


class SchemaTooNew(SchemaOutdated):
    """The database schema is newer than this opencrm (a revision it does not know): a
    newer opencrm wrote it, so this opencrm must be upgraded, not the database. ``revision``
    names the database's revision."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        super().__init__(
            f"the database schema (revision {revision}) is newer than this opencrm: a newer "
            "opencrm migrated it; upgrade opencrm (pip install -U opencrm) to open it"
        )


class InvalidTransition(Conflict):
    """A status change the record's current status does not allow (e.g. an invoice from
    Draft straight to Paid). ``current`` and ``requested`` name the two statuses."""

    def __init__(self, entity: str, current: str, requested: str) -> None:
        self.entity = entity
        self.current = current
        self.requested = requested
        super().__init__(f"a {entity} cannot go from {current} to {requested}")


class MissingExchangeRates(OpenCRMError):
    """An amount must be converted but no exchange rate is stored for its currency pair.

    ``pairs`` lists each missing ``(from_currency, to_currency)``; ``currencies`` the codes
    that lack a rate, so a caller can ask an admin to add them.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs: tuple[tuple[str, str], ...] = tuple(sorted(set(pairs)))
        self.currencies: tuple[str, ...] = tuple(sorted({a for a, _ in self.pairs}))
        wanted = ", ".join(f"{a} -> {b}" for a, b in self.pairs)
        super().__init__(f"no exchange rate for {wanted}")
