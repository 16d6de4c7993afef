"""Merging, duplicate detection and group operations on contacts: set-based SQL.

Kept apart from the contact repository's read and write paths: each method here is a few
statements over sets of rows, whatever the number of contacts involved. Id lists are sent in
chunks (:data:`CHUNK` ids per statement) to stay under every driver's parameter limit.
"""

from __future__ import annotations

import builtins
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    union,
    update,
)

from opencrm.core.bulk_ports import ClusterRow, MatchQuery
from opencrm.core.entities.contacts import Access, InfoType
from opencrm.core.permissions import ContactScope
from opencrm.core.query import ContactFilter
from opencrm.storage.sqlalchemy.repositories import SqlContactRepository
from opencrm.storage.sqlalchemy.tables import (
    case_members,
    contact_infos,
    contact_managers,
    contact_photos,
    contacts,
    custom_values,
    entity_tags,
    history_events,
    history_files,
    invoices,
    opportunities,
    opportunity_members,
    tasks,
)

__all__ = ["CHUNK", "SqlContactBulkRepository"]

#: Ids per statement: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
CHUNK = 1000


def _chunks(ids: Collection[int]) -> Iterator[builtins.list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _managed(user_id: str) -> ColumnElement[bool]:
    return exists().where(
        contact_managers.c.contact_id == contacts.c.id,
        contact_managers.c.user_id == user_id,
    )


def readable(scope: ContactScope) -> ColumnElement[bool] | None:
    """The read rule of ``policy.can_read_contact`` as SQL (None: everything)."""
    if scope.everything:
        return None
    return or_(contacts.c.access != Access.PRIVATE.value, _managed(scope.user_id))


def editable(scope: ContactScope) -> ColumnElement[bool]:
    """The edit rule of ``policy.can_edit_contact`` as SQL."""
    if scope.everything:
        return literal(True)
    return or_(contacts.c.access == Access.READ_WRITE.value, _managed(scope.user_id))


def _info_key() -> Any:
    # Infos without a normalised form (addresses) compare by their shown value.
    return func.coalesce(contact_infos.c.normalized, contact_infos.c.value)


class SqlContactBulkRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    # --- merge ----------------------------------------------------------------------------

    def merge_links(self, source_id: int, target_id: int) -> Mapping[str, int]:
        c = self._c
        moved: dict[str, int] = {}
        src, dst = source_id, target_id

        def repoint(name: str, table: Any, column: Any) -> None:
            result = c.execute(update(table).where(column == src).values({column.key: dst}))
            moved[name] = moved.get(name, 0) + result.rowcount

        repoint("tasks", tasks, tasks.c.contact_id)
        repoint("history_events", history_events, history_events.c.contact_id)
        repoint("opportunities", opportunities, opportunities.c.contact_id)
        repoint("invoices_as_client", invoices, invoices.c.client_id)
        repoint("invoices_as_consignee", invoices, invoices.c.consignee_id)
        repoint("persons", contacts, contacts.c.company_id)
        moved["opportunity_members"] = self._move_links(
            opportunity_members, opportunity_members.c.opportunity_id, src, dst
        )
        moved["case_members"] = self._move_links(case_members, case_members.c.case_id, src, dst)
        moved["managers"] = self._move_links(contact_managers, contact_managers.c.user_id, src, dst)
        moved["tags"] = self._move_polymorphic(entity_tags, entity_tags.c.tag_id, src, dst)
        moved["custom_values"] = self._move_polymorphic(
            custom_values, custom_values.c.field_id, src, dst
        )
        moved["contact_infos"] = self._move_infos(src, dst)
        has_photo = exists().where(contact_photos.c.contact_id == dst)
        moved["photo"] = c.execute(
            update(contact_photos)
            .where(contact_photos.c.contact_id == src, ~has_photo)
            .values(contact_id=dst)
        ).rowcount
        return moved

    def _move_links(self, table: Any, other: Any, src: int, dst: int) -> int:
        """A link table keyed by (other, contact): add the target's missing links, then drop
        the source's (a link both had is the same link)."""
        have = set(self._c.execute(select(other).where(table.c.contact_id == dst)).scalars())
        mine = list(self._c.execute(select(other).where(table.c.contact_id == src)).scalars())
        new = [o for o in mine if o not in have]
        if new:
            self._c.execute(insert(table), [{other.key: o, "contact_id": dst} for o in new])
        self._c.execute(delete(table).where(table.c.contact_id == src))
        return len(new)

    def _move_polymorphic(self, table: Any, key: Any, src: int, dst: int) -> int:
        """Tags and custom values (keyed by entity type and id): move the source's rows whose
        key (tag, field) the target has none of; the rest go with the source."""
        t = table.alias("t")
        taken = exists().where(
            t.c.entity_type == "contact",
            t.c.entity_id == dst,
            t.c[key.key] == key,
        )
        return int(
            self._c.execute(
                update(table)
                .where(table.c.entity_type == "contact", table.c.entity_id == src, ~taken)
                .values(entity_id=dst)
            ).rowcount
        )

    def _move_infos(self, src: int, dst: int) -> int:
        c = self._c
        kept: dict[tuple[str, str], int] = {}
        primary: set[str] = set()
        for iid, itype, key, is_primary in c.execute(
            select(
                contact_infos.c.id,
                contact_infos.c.info_type,
                _info_key(),
                contact_infos.c.is_primary,
            )
            .where(contact_infos.c.contact_id == dst)
            .order_by(contact_infos.c.id)
        ):
            kept.setdefault((itype, key), iid)
            if is_primary:
                primary.add(itype)
        move: list[int] = []
        demote: list[int] = []
        duplicate_of: dict[int, int] = {}
        for iid, itype, key, is_primary in c.execute(
            select(
                contact_infos.c.id,
                contact_infos.c.info_type,
                _info_key(),
                contact_infos.c.is_primary,
            )
            .where(contact_infos.c.contact_id == src)
            .order_by(contact_infos.c.id)
        ):
            if (itype, key) in kept:
                duplicate_of[iid] = kept[(itype, key)]
                continue
            kept[(itype, key)] = iid
            move.append(iid)
            if is_primary and itype in primary:
                demote.append(iid)
            elif is_primary:
                primary.add(itype)
        if move:
            c.execute(
                update(contact_infos).where(contact_infos.c.id.in_(move)).values(contact_id=dst)
            )
        if demote:
            c.execute(
                update(contact_infos).where(contact_infos.c.id.in_(demote)).values(is_primary=False)
            )
        # Invoices keep the address they were made with (a copy); the id they remember moves
        # from the dropped duplicate to the target's equal address.
        for old, new in duplicate_of.items():
            for column in (invoices.c.billing_address_id, invoices.c.delivery_address_id):
                c.execute(update(invoices).where(column == old).values({column.key: new}))
        return len(move)

    # --- duplicates -----------------------------------------------------------------------

    def duplicate_clusters(
        self,
        scope: ContactScope,
        after: tuple[str, str, int] | None,
        limit: int,
        shown: int,
    ) -> Sequence[ClusterRow]:
        found: list[tuple[str, str, int, int]] = []
        for reason in ("company", "email", "person", "phone"):
            if after is not None and reason < after[0]:
                continue
            start = after[1:] if after is not None and reason == after[0] else None
            for key, company_id, size in self._branch(reason, scope, start, limit - len(found)):
                found.append((reason, key, company_id, size))
            if len(found) >= limit:
                break
        found = sorted(found)[:limit]
        members = self._members(scope, found, shown)
        return [
            ClusterRow(
                reason=r,
                key=k,
                company_id=cid,
                size=size,
                member_ids=tuple(members[(r, k, cid)]),
            )
            for r, k, cid, size in found
        ]

    def _branch(
        self, reason: str, scope: ContactScope, start: tuple[str, int] | None, limit: int
    ) -> list[tuple[str, int, int]]:
        """Up to ``limit`` clusters of one reason after ``start``: (key, company id, size).

        For a user who does not see everything, candidate keys come first from the index
        alone (keys shared by two or more contacts, visible or not), in batches; the read
        check then runs only on the contacts of those keys. Checking every row while
        grouping cost a manager probe per private contact of the whole branch, since
        clusters are rare and a page may have to read far to fill up."""
        if scope.everything:
            rows = self._c.execute(self._groups(reason, scope, start).limit(limit))
            return [(str(k), int(c), int(n)) for k, c, n in rows]
        everyone = ContactScope(everything=True, user_id=scope.user_id)
        batch = max(4 * limit, 100)
        out: list[tuple[str, int, int]] = []
        while len(out) < limit:
            candidates = [
                (str(k), int(c))
                for k, c, _ in self._c.execute(self._groups(reason, everyone, start).limit(batch))
            ]
            if not candidates:
                break
            visible = self._visible_counts(reason, scope, candidates)
            for key in candidates:
                if visible.get(key, 0) > 1:
                    out.append((key[0], key[1], visible[key]))
                    if len(out) == limit:
                        break
            if len(candidates) < batch:
                break
            start = candidates[-1]
        return out

    def _visible_counts(
        self, reason: str, scope: ContactScope, keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        visible = readable(scope)
        if reason in ("email", "phone"):
            key: Any = contact_infos.c.normalized
            query = (
                select(key, literal(0), func.count(func.distinct(contact_infos.c.contact_id)))
                .join(contacts, contacts.c.id == contact_infos.c.contact_id)
                .where(contact_infos.c.info_type == reason, key.in_([k for k, _ in keys]))
                .group_by(key)
            )
        elif reason == "company":
            key = contacts.c.name_key
            query = (
                select(key, literal(0), func.count())
                .where(contacts.c.kind == "company", key.in_([k for k, _ in keys]))
                .group_by(key)
            )
        else:
            key = contacts.c.name_key
            query = (
                select(key, contacts.c.company_id, func.count())
                .where(
                    contacts.c.kind == "person",
                    # The plain IN lets the index find the names (row-value IN lists are
                    # not index lookups on SQLite); the pairs then pick the company.
                    key.in_(sorted({k for k, _ in keys})),
                    tuple_(key, contacts.c.company_id).in_(list(keys)),
                )
                .group_by(key, contacts.c.company_id)
            )
        if visible is not None:
            query = query.where(visible)
        return {(str(k), int(c)): int(n) for k, c, n in self._c.execute(query)}

    def _groups(self, reason: str, scope: ContactScope, start: tuple[str, int] | None) -> Any:
        """One reason's clusters in key order: a GROUP BY that the index serves in order, so
        that a page stops reading once it has its clusters."""
        visible = readable(scope)
        if reason in ("email", "phone"):
            key: Any = contact_infos.c.normalized
            company: Any = literal(0)
            query = (
                select(key, company, func.count(func.distinct(contact_infos.c.contact_id)))
                .select_from(contact_infos)
                .where(
                    contact_infos.c.info_type == InfoType(reason).value,
                    key.is_not(None),
                    key != "",
                )
            )
            if visible is not None:
                query = query.join(contacts, contacts.c.id == contact_infos.c.contact_id).where(
                    visible
                )
            if start is not None:
                query = query.where(key > start[0])
            having = func.count(func.distinct(contact_infos.c.contact_id)) > 1
            return query.group_by(key).having(having).order_by(key)
        key = contacts.c.name_key
        if reason == "company":
            company = literal(0)
            group: list[Any] = [key]
            conds: list[Any] = [contacts.c.kind == "company"]
        else:
            company = contacts.c.company_id
            group = [key, company]
            conds = [contacts.c.kind == "person", company.is_not(None)]
        conds.append(key != "")
        if visible is not None:
            conds.append(visible)
        if start is not None:
            conds.append(
                tuple_(*group) > tuple_(*[literal(v) for v in start[: len(group)]])
                if len(group) > 1
                else key > start[0]
            )
        return (
            select(key, company, func.count())
            .where(*conds)
            .group_by(*group)
            .having(func.count() > 1)
            .order_by(*group)
        )

    def _members(
        self, scope: ContactScope, found: Sequence[tuple[str, str, int, int]], shown: int
    ) -> dict[tuple[str, str, int], list[int]]:
        members: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        visible = readable(scope)
        by_reason: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for reason, key, cid, _ in found:
            by_reason[reason].append((key, cid))
        for reason, keys in by_reason.items():
            if reason in ("email", "phone"):
                query = (
                    select(contact_infos.c.normalized, literal(0), contact_infos.c.contact_id)
                    .join(contacts, contacts.c.id == contact_infos.c.contact_id)
                    .where(
                        contact_infos.c.info_type == reason,
                        contact_infos.c.normalized.in_([k for k, _ in keys]),
                    )
                    .distinct()
                )
                order: Any = contact_infos.c.contact_id
            elif reason == "company":
                query = select(contacts.c.name_key, literal(0), contacts.c.id).where(
                    contacts.c.kind == "company",
                    contacts.c.name_key.in_([k for k, _ in keys]),
                )
                order = contacts.c.id
            else:
                query = select(contacts.c.name_key, contacts.c.company_id, contacts.c.id).where(
                    contacts.c.kind == "person",
                    contacts.c.name_key.in_(sorted({k for k, _ in keys})),
                    tuple_(contacts.c.name_key, contacts.c.company_id).in_(keys),
                )
                order = contacts.c.id
            if visible is not None:
                query = query.where(visible)
            for key, cid, contact_id in self._c.execute(query.order_by(order)):
                bucket = members[(reason, key, cid)]
                if len(bucket) < shown:
                    bucket.append(contact_id)
        return members

    def matches(
        self, scope: ContactScope, query: MatchQuery, limit: int
    ) -> Sequence[tuple[int, str]]:
        branches: list[Any] = []
        for reason, values in (("email", query.emails), ("phone", query.phones)):
            if values:
                branches.append(
                    select(
                        contact_infos.c.contact_id.label("id"), literal(reason).label("r")
                    ).where(
                        contact_infos.c.info_type == reason,
                        contact_infos.c.normalized.in_(sorted(values)),
                    )
                )
        if query.company_key:
            branches.append(
                select(contacts.c.id.label("id"), literal("company").label("r")).where(
                    contacts.c.kind == "company", contacts.c.name_key == query.company_key
                )
            )
        if query.person_key and query.company_id is not None:
            branches.append(
                select(contacts.c.id.label("id"), literal("person").label("r")).where(
                    contacts.c.kind == "person",
                    contacts.c.name_key == query.person_key,
                    contacts.c.company_id == query.company_id,
                )
            )
        if not branches:
            return []
        found = union(*branches).subquery() if len(branches) > 1 else branches[0].subquery()
        rows = select(found.c.id, found.c.r).join(contacts, contacts.c.id == found.c.id)
        visible = readable(scope)
        if visible is not None:
            rows = rows.where(visible)
        out: list[tuple[int, str]] = []
        ids: set[int] = set()
        for cid, reason in self._c.execute(rows.order_by(found.c.id, found.c.r)):
            if cid not in ids and len(ids) == limit:
                break
            ids.add(cid)
            out.append((int(cid), str(reason)))
        return out

    # --- group operations -----------------------------------------------------------------

    def select(
        self,
        scope: ContactScope,
        ids: Sequence[int] | None,
        where: ContactFilter | None,
        cap: int,
    ) -> Sequence[tuple[int, bool]]:
        columns = (contacts.c.id, editable(scope).label("editable"))
        out: list[tuple[int, bool]] = []
        if ids is not None:
            visible = readable(scope)
            for chunk in _chunks(set(ids)):
                query = select(*columns).where(contacts.c.id.in_(chunk))
                if visible is not None:
                    query = query.where(visible)
                out.extend((int(i), bool(e)) for i, e in self._c.execute(query))
            return sorted(out)
        conds = SqlContactRepository(self._c)._conditions(scope, where or ContactFilter())
        query = select(*columns).where(*conds).order_by(contacts.c.id).limit(cap + 1)
        return [(int(i), bool(e)) for i, e in self._c.execute(query)]

    def persons_of(
        self, scope: ContactScope, company_ids: Collection[int]
    ) -> Sequence[tuple[int, bool]]:
        out: list[tuple[int, bool]] = []
        visible = readable(scope)
        for chunk in _chunks(company_ids):
            query = select(contacts.c.id, editable(scope)).where(
                contacts.c.kind == "person", contacts.c.company_id.in_(chunk)
            )
            if visible is not None:
                query = query.where(visible)
            out.extend((int(i), bool(e)) for i, e in self._c.execute(query))
        return sorted(out)

    def _tagged(self, tag_id: int) -> Any:
        return exists().where(
            entity_tags.c.tag_id == tag_id,
            entity_tags.c.entity_type == "contact",
            entity_tags.c.entity_id == contacts.c.id,
        )

    def lacking_tag(self, ids: Collection[int], tag_id: int) -> Sequence[int]:
        out: list[int] = []
        for chunk in _chunks(ids):
            query = select(contacts.c.id).where(contacts.c.id.in_(chunk), ~self._tagged(tag_id))
            out.extend(self._c.execute(query).scalars())
        return sorted(out)

    def having_tag(self, ids: Collection[int], tag_id: int) -> Sequence[int]:
        out: list[int] = []
        for chunk in _chunks(ids):
            query = select(contacts.c.id).where(contacts.c.id.in_(chunk), self._tagged(tag_id))
            out.extend(self._c.execute(query).scalars())
        return sorted(out)

    def add_tag(self, ids: Collection[int], tag_id: int) -> None:
        for chunk in _chunks(ids):
            self._c.execute(
                insert(entity_tags),
                [{"tag_id": tag_id, "entity_type": "contact", "entity_id": i} for i in chunk],
            )

    def remove_tag(self, ids: Collection[int], tag_id: int) -> None:
        for chunk in _chunks(ids):
            self._c.execute(
                delete(entity_tags).where(
                    entity_tags.c.tag_id == tag_id,
                    entity_tags.c.entity_type == "contact",
                    entity_tags.c.entity_id.in_(chunk),
                )
            )

    def temperatures(self, ids: Collection[int]) -> Mapping[int, int | None]:
        out: dict[int, int | None] = {}
        for chunk in _chunks(ids):
            query = select(contacts.c.id, contacts.c.temperature_id).where(contacts.c.id.in_(chunk))
            out.update((int(i), t) for i, t in self._c.execute(query))
        return out

    def set_temperature(
        self, ids: Collection[int], temperature_id: int | None, actor: str, now: object
    ) -> None:
        for chunk in _chunks(ids):
            self._c.execute(
                update(contacts)
                .where(contacts.c.id.in_(chunk))
                .values(temperature_id=temperature_id, updated_by=actor, updated_at=now)
            )

    def access_of_many(self, ids: Collection[int]) -> Mapping[int, tuple[Access, frozenset[str]]]:
        access: dict[int, Access] = {}
        managers: dict[int, set[str]] = defaultdict(set)
        for chunk in _chunks(ids):
            query = select(contacts.c.id, contacts.c.access).where(contacts.c.id.in_(chunk))
            access.update((int(i), Access(a)) for i, a in self._c.execute(query))
            links = select(contact_managers.c.contact_id, contact_managers.c.user_id).where(
                contact_managers.c.contact_id.in_(chunk)
            )
            for cid, uid in self._c.execute(links):
                managers[int(cid)].add(uid)
        return {i: (a, frozenset(managers[i])) for i, a in access.items()}

    def set_access(
        self,
        changes: Mapping[int, tuple[Access, frozenset[str]]],
        actor: str,
        now: object,
    ) -> None:
        by_level: dict[Access, list[int]] = defaultdict(list)
        for cid, (level, _) in changes.items():
            by_level[level].append(cid)
        for level, ids in by_level.items():
            for chunk in _chunks(ids):
                self._c.execute(
                    update(contacts)
                    .where(contacts.c.id.in_(chunk))
                    .values(access=level.value, updated_by=actor, updated_at=now)
                )
        for chunk in _chunks(changes):
            self._c.execute(
                delete(contact_managers).where(contact_managers.c.contact_id.in_(chunk))
            )
        rows = [
            {"contact_id": cid, "user_id": uid}
            for cid, (_, users) in sorted(changes.items())
            for uid in sorted(users)
        ]
        for start in range(0, len(rows), CHUNK):
            self._c.execute(insert(contact_managers), rows[start : start + CHUNK])

    def named_by_invoices(self, ids: Collection[int]) -> frozenset[int]:
        out: set[int] = set()
        for chunk in _chunks(ids):
            for column in (invoices.c.client_id, invoices.c.consignee_id):
                out.update(
                    self._c.execute(select(column).where(column.in_(chunk)).distinct()).scalars()
                )
        return frozenset(out)

    def file_ids_of(self, ids: Collection[int]) -> Sequence[str]:
        out: list[str] = []
        for chunk in _chunks(ids):
            out.extend(
                self._c.execute(
                    select(history_files.c.file_id)
                    .join(history_events, history_events.c.id == history_files.c.event_id)
                    .where(history_events.c.contact_id.in_(chunk))
                ).scalars()
            )
            for row in self._c.execute(
                select(
                    contact_photos.c.large_file_id,
                    contact_photos.c.medium_file_id,
                    contact_photos.c.small_file_id,
                ).where(contact_photos.c.contact_id.in_(chunk))
            ):
                out.extend(row)
        return out

    def lock_many(self, ids: Collection[int]) -> None:
        if self._c.dialect.name != "postgresql":
            return  # SQLite's write transaction holds the database lock already
        for chunk in _chunks(ids):
            self._c.execute(
                select(contacts.c.id).where(contacts.c.id.in_(chunk)).with_for_update()
            ).all()

    def members_of_many(self, company_ids: Collection[int]) -> Mapping[int, Sequence[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for chunk in _chunks(company_ids):
            query = (
                select(contacts.c.company_id, contacts.c.id)
                .where(contacts.c.company_id.in_(chunk))
                .order_by(contacts.c.id)
            )
            for company_id, person_id in self._c.execute(query):
                out[int(company_id)].append(int(person_id))
        return out

    def delete_many(self, ids: Collection[int]) -> None:
        c = self._c
        for chunk in _chunks(ids):
            for table in (entity_tags, custom_values):
                c.execute(
                    delete(table).where(
                        table.c.entity_type == "contact", table.c.entity_id.in_(chunk)
                    )
                )
            c.execute(
                update(contacts).where(contacts.c.company_id.in_(chunk)).values(company_id=None)
            )
            c.execute(delete(contact_managers).where(contact_managers.c.contact_id.in_(chunk)))
            c.execute(delete(contact_infos).where(contact_infos.c.contact_id.in_(chunk)))
            c.execute(delete(contacts).where(contacts.c.id.in_(chunk)))
