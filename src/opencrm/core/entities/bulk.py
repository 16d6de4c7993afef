"""What merging, duplicate detection and group operations on contacts answer with."""

from __future__ import annotations

import attrs

from opencrm.core.entities.contacts import Contact

__all__ = ["DuplicateCluster", "DuplicateMatch", "GroupResult", "Refusal"]

#: Why contacts look like duplicates of each other.
REASONS = ("company", "email", "person", "phone")


@attrs.frozen(kw_only=True)
class DuplicateCluster:
    """Contacts the user may see that share a match key.

    ``reason`` is ``email`` (same normalised e-mail), ``phone`` (same E.164 number),
    ``company`` (same company name once case, accents, punctuation and legal form are
    ignored) or ``person`` (same first and last name at the same company). ``key`` is the
    shared value (for ``person``, the name key; the company is ``company_id``). ``size`` is
    how many visible contacts share it; ``contacts`` holds the first of them by id (at most
    :data:`MAX_SHOWN`).
    """

    reason: str
    key: str
    company_id: int | None
    size: int
    contacts: tuple[Contact, ...]


#: At most this many contacts of a cluster come back (``size`` says how many there are).
MAX_SHOWN = 20


@attrs.frozen(kw_only=True)
class DuplicateMatch:
    """A stored contact that looks like the one described, and the keys it shares with it
    (sorted: ``company``, ``email``, ``person``, ``phone``)."""

    contact: Contact
    reasons: tuple[str, ...]


@attrs.frozen(kw_only=True)
class Refusal:
    """A contact of a group operation that was left alone, and why.

    ``reason`` is ``not_found`` (no such contact, or one the user may not read: the same
    answer, so the operation tells nothing about contacts the user cannot see),
    ``not_editable`` (readable, but the user may not change it) or ``in_use`` (a delete
    refused because an invoice names the contact)."""

    id: int
    reason: str


@attrs.frozen(kw_only=True)
class GroupResult:
    """The outcome of a group operation.

    ``changed``: ids of the contacts it changed (for ``add_task``, those that got a task),
    sorted; ``unchanged``: ids it was allowed to change that were already as asked;
    ``refused``: the contacts left alone, by id, with the reason.
    """

    changed: tuple[int, ...]
    unchanged: tuple[int, ...] = ()
    refused: tuple[Refusal, ...] = ()

    @property
    def changed_count(self) -> int:
        return len(self.changed)
