"""The storage port behind merging, duplicate detection and group operations on contacts.

Everything here works on sets of rows in the database (one statement per step, whatever the
number of contacts), so that a group operation on 10,000 contacts or a duplicate scan over a
million stays a handful of queries. ``ports.UnitOfWork`` exposes it as ``uow.contact_bulk``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import attrs

from opencrm.core.entities.contacts import Access
from opencrm.core.permissions import ContactScope
from opencrm.core.query import ContactFilter

__all__ = ["ClusterRow", "ContactBulkRepository", "MatchQuery"]


@attrs.frozen(kw_only=True)
class ClusterRow:
    """One cluster of a duplicate scan as storage finds it: the first member ids by id."""

    reason: str
    key: str
    company_id: int
    size: int
    member_ids: tuple[int, ...]


@attrs.frozen(kw_only=True)
class MatchQuery:
    """What :meth:`ContactBulkRepository.matches` looks for: normalised e-mails, E.164
    phones, a company name key, a person name key at a company (all optional)."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    company_key: str | None = None
    person_key: str | None = None
    company_id: int | None = None


class ContactBulkRepository(Protocol):
    # --- merge ----------------------------------------------------------------------------

    def merge_links(self, source_id: int, target_id: int) -> Mapping[str, int]:
        """Re-point every row that refers to ``source_id`` at ``target_id``: tasks, history
        events (their files follow them), opportunities (main contact and members), cases
        (members), invoices (client and consignee), a company's persons, tags, managers,
        custom values the target has none of, contact infos the target has no equal of (by
        type and normalised value; invoices naming a dropped duplicate address now name the
        target's), and the photo when the target has none. What cannot move (a duplicate info,
        a custom value or photo the target has) stays on the source and goes with it.
        Returns how many rows moved, by kind."""

    # --- duplicates -----------------------------------------------------------------------

    def duplicate_clusters(
        self,
        scope: ContactScope,
        after: tuple[str, str, int] | None,
        limit: int,
        shown: int,
    ) -> Sequence[ClusterRow]:
        """Up to ``limit`` clusters of contacts in ``scope`` sharing a match key, ordered by
        (reason, key, company id), starting after ``after``; each with at most ``shown``
        member ids."""

    def matches(
        self, scope: ContactScope, query: MatchQuery, limit: int
    ) -> Sequence[tuple[int, str]]:
        """(contact id, reason) of contacts in ``scope`` matching ``query``, at most
        ``limit`` contacts."""

    # --- group operations -----------------------------------------------------------------

    def select(
        self,
        scope: ContactScope,
        ids: Sequence[int] | None,
        where: ContactFilter | None,
        cap: int,
    ) -> Sequence[tuple[int, bool]]:
        """(id, editable by the scope's user) of the contacts in ``scope`` that are among
        ``ids`` or match ``where``, by id; at most ``cap + 1`` rows (one more tells that a
        filter matched too many)."""

    def persons_of(
        self, scope: ContactScope, company_ids: Collection[int]
    ) -> Sequence[tuple[int, bool]]:
        """(id, editable) of the persons of these companies, readable in ``scope``, by id."""

    def lacking_tag(self, ids: Collection[int], tag_id: int) -> Sequence[int]: ...

    def having_tag(self, ids: Collection[int], tag_id: int) -> Sequence[int]: ...

    def add_tag(self, ids: Collection[int], tag_id: int) -> None: ...

    def remove_tag(self, ids: Collection[int], tag_id: int) -> None: ...

    def temperatures(self, ids: Collection[int]) -> Mapping[int, int | None]:
        """Contact id -> its temperature list item id."""

    def set_temperature(
        self, ids: Collection[int], temperature_id: int | None, actor: str, now: object
    ) -> None: ...

    def access_of_many(self, ids: Collection[int]) -> Mapping[int, tuple[Access, frozenset[str]]]:
        """Contact id -> (access level, managers)."""

    def set_access(
        self,
        changes: Mapping[int, tuple[Access, frozenset[str]]],
        actor: str,
        now: object,
    ) -> None:
        """Store each contact's new access level and managers."""

    def named_by_invoices(self, ids: Collection[int]) -> frozenset[int]:
        """The ids an invoice names as client or consignee."""

    def file_ids_of(self, ids: Collection[int]) -> Sequence[str]:
        """Stored-file ids of the contacts' history files and photos (to delete after a
        deletion committed)."""

    def lock_many(self, ids: Collection[int]) -> None:
        """Lock these contact rows until the transaction ends (as ``UnitOfWork.lock``)."""

    def members_of_many(self, company_ids: Collection[int]) -> Mapping[int, Sequence[int]]:
        """Company id -> ids of its persons, by id."""

    def delete_many(self, ids: Collection[int]) -> None:
        """Delete these contacts as ``ContactRepository.delete`` deletes one."""
