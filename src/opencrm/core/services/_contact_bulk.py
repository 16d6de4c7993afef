"""Merging contacts and group operations on many: the work behind ``session.contacts.merge``
and the ``session.contacts`` group operations, given an open transaction.

Each step is set-based (``uow.contact_bulk``): a group operation on 10,000 contacts is a few
dozen statements, and every record's permission is part of the query that selects it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import attrs

from opencrm.core import permissions as policy
from opencrm.core._snapshot import snapshot
from opencrm.core.entities.bulk import GroupResult, Refusal
from opencrm.core.entities.contacts import Access, Company, Contact, Person
from opencrm.core.query import ContactFilter
from opencrm.core.services._base import Tx
from opencrm.errors import ValidationError

__all__ = ["MAX_SELECTION", "Selection", "merge", "select"]

#: The most contacts one group operation takes (ids given, or matched by a filter).
MAX_SELECTION = 10_000

_FILLED_COMMON = ("contact_type_id", "temperature_id", "currency", "about")
_FILLED = {
    Person: ("last_name", "job_title", "company_id", *_FILLED_COMMON),
    Company: ("industry", *_FILLED_COMMON),
}


# --- merge ----------------------------------------------------------------------------------


def merge(
    tx: Tx, hook: Any, crm: Any, source: Contact, target: Contact
) -> tuple[Contact, list[str]]:
    """Move everything of ``source`` to ``target``, fill the target's empty fields from the
    source, delete the source. Returns the merged contact and the stored-file ids to delete
    once the merge committed (the source's photo, when the target kept its own)."""
    if type(source) is not type(target):
        raise ValidationError(
            {"source": "a person merges only into a person, a company only into a company"}
        )
    uow = tx.uow
    for contact_id in sorted((source.id, target.id)):  # one order: no deadlock between merges
        uow.lock("contact", contact_id)
    moved = dict(uow.contact_bulk.merge_links(source.id, target.id))
    hook.opencrm_move_contact_references(crm=crm, uow=uow, source=source, target=target)
    current = uow.contacts.get(target.id)
    assert current is not None
    filled = {
        name: getattr(source, name)
        for name in _FILLED[type(target)]
        if not getattr(current, name) and getattr(source, name)
    }
    if filled.get("company_id") == target.id:  # pragma: no cover - kinds differ
        filled.pop("company_id")
    merged = attrs.evolve(current, **filled, updated_by=tx.actor.id, updated_at=tx.now)
    merged = uow.contacts.update(merged)
    file_ids: list[str] = []
    photo = uow.contact_photos.delete(source.id)
    if photo is not None:
        file_ids += [photo.large_file_id, photo.medium_file_id, photo.small_file_id]
    uow.contacts.delete(source.id)
    tx.emit(
        "contact.merged",
        merged,
        before=target,
        after=merged,
        data={
            "source_id": source.id,
            "target_id": target.id,
            "source": snapshot(source),
            "filled": sorted(filled),
            "moved": {k: v for k, v in sorted(moved.items()) if v},
            "granted": sorted(merged.managers - target.managers),
        },
    )
    return merged, file_ids


# --- group operations -----------------------------------------------------------------------


@attrs.frozen
class Selection:
    """The contacts a group operation may change, and those it refused."""

    ids: tuple[int, ...]
    refused: tuple[Refusal, ...]


def select(
    tx: Tx,
    ids: Sequence[int] | None,
    where: ContactFilter | None,
    *,
    edit: bool = True,
) -> Selection:
    """The editable contacts among ``ids`` (or matching ``where``, as the contact list
    filters), and the refused ones: permission is part of the query. With ``edit=False``, the
    readable ones (a mass mail changes no contact)."""
    scope = policy.contact_scope(tx.actor)
    rows = tx.uow.contact_bulk.select(scope, ids, where, MAX_SELECTION)
    if ids is None and len(rows) > MAX_SELECTION:
        raise ValidationError(
            {
                "where": f"matches more than {MAX_SELECTION} contacts; narrow the filter or "
                "work in parts"
            }
        )
    found = dict(rows)
    if not edit:
        rows = [(i, True) for i, _ in rows]
    refused = [Refusal(id=i, reason="not_editable") for i, ok in rows if not ok]
    if ids is not None:
        refused += [Refusal(id=i, reason="not_found") for i in ids if i not in found]
    return Selection(
        ids=tuple(sorted(i for i, ok in rows if ok)),
        refused=tuple(sorted(refused, key=lambda r: r.id)),
    )


def result(
    selection: Selection,
    changed: Collection[int],
    extra_refused: Sequence[Refusal] = (),
    extra_ids: Collection[int] = (),
) -> GroupResult:
    done = set(changed)
    allowed = set(selection.ids) | set(extra_ids)
    return GroupResult(
        changed=tuple(sorted(done)),
        unchanged=tuple(sorted(allowed - done)),
        refused=tuple(sorted([*selection.refused, *extra_refused], key=lambda r: r.id)),
    )


def emit_each(tx: Tx, ids: Collection[int], data: Callable[[int], Mapping[str, Any]]) -> None:
    """One ``contact.group_changed`` event (so one audit entry) per changed contact."""
    for cid in sorted(ids):
        tx.emit("contact.group_changed", entity_id=cid, data=dict(data(cid)))


def new_access(
    current: tuple[Access, frozenset[str]],
    access: Access | None,
    managers: frozenset[str] | None,
    add: frozenset[str],
    remove: frozenset[str],
) -> tuple[Access, frozenset[str]]:
    level, users = current
    if managers is not None:
        users = managers
    users = (users | add) - remove
    return (access if access is not None else level), users


def load_many(tx: Tx, ids: Sequence[int]) -> list[Contact]:
    out: list[Contact] = []
    for start in range(0, len(ids), 1000):
        out.extend(tx.uow.contacts.get_many(ids[start : start + 1000]))
    return out


def delete(tx: Tx, ids: Sequence[int]) -> list[str]:
    """Delete these contacts (already checked) as ``delete`` deletes one, with one
    ``contact.deleted`` each; returns the stored-file ids to delete once committed."""
    bulk = tx.uow.contact_bulk
    bulk.lock_many(ids)  # uploads to them finish first, or fail
    removed = load_many(tx, ids)
    file_ids = list(bulk.file_ids_of(ids))
    gone = set(ids)
    members = bulk.members_of_many([c.id for c in removed if isinstance(c, Company)])
    bulk.delete_many(ids)
    for contact in removed:
        unlinked = [i for i in members.get(contact.id, ()) if i not in gone]
        tx.emit(
            "contact.deleted",
            contact,
            before=contact,
            data={"unlinked": unlinked, "group": True},
        )
    return file_ids
