"""Typed errors raised by opencrm.

Every error a caller can provoke with bad input or missing rights is an :class:`OpenCRMError`.
Adapters map them to HTTP statuses (400, 403, 404, 409); nothing below them leaks a driver
exception.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "Conflict",
    "NotFound",
    "OpenCRMError",
    "PermissionDenied",
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


class StorageError(OpenCRMError):
    """The database refused the operation for a reason that is not the caller's input."""


class SchemaOutdated(OpenCRMError):
    """The database schema is older than this opencrm; run ``opencrm db upgrade URL``."""
