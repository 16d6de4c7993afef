"""Bulk reads and writes for imports: a batch of rows costs a few statements, not a few per row.

On SQLite a batch's ids follow the highest one handed out (the write transaction holds the
database lock) and every table is one ``executemany``. On PostgreSQL the batch's ids come
from the sequence in one statement and every table is written with ``COPY``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from opencrm.core.entities.activities import Task
from opencrm.core.entities.contacts import Contact
from opencrm.core.entities.deals import Case, Opportunity
from opencrm.core.permissions import DealScope
from opencrm.storage.sqlalchemy.activities import _task, _task_row
from opencrm.storage.sqlalchemy.deals import (
    SqlCaseRepository,
    SqlOpportunityRepository,
    title_key,
)
from opencrm.storage.sqlalchemy.repositories import _contact_row, _info_row, _key
from opencrm.storage.sqlalchemy.tables import (
    contact_infos,
    contact_managers,
    contacts,
    custom_values,
    entity_tags,
    tags,
    tasks,
)
from opencrm.storage.sqlalchemy.types import JSONText

__all__ = ["SqlImportStore"]

_TEXTS = ARRAY(String)
_KEYS: Any = bindparam("keys", type_=_TEXTS)
_INFO_TYPES: Any = bindparam("info_types", type_=_TEXTS)
_INFO_VALUES: Any = bindparam("info_values", type_=_TEXTS)
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, :n)"
)
_SQLITE_NEXT_ID = text(
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'contacts'), 0),"
    " coalesce((SELECT max(id) FROM contacts), 0)) + 1"
)
_NEXT_TASK_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('tasks', 'id')) FROM generate_series(1, :n)"
)
_SQLITE_NEXT_TASK_ID = text(
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tasks'), 0),"
    " coalesce((SELECT max(id) FROM tasks), 0)) + 1"
)
_UPDATE_CONTACT = (
    update(contacts)
    .where(contacts.c.id == bindparam("b_id"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "sort_name",
                "first_name",
                "last_name",
                "job_title",
                "company_id",
                "company_name",
                "industry",
                "contact_type_id",
                "temperature_id",
                "currency",
                "about",
                "access",
                "updated_by",
                "updated_at",
            )
        }
    )
)
_UPDATE_INFO = (
    update(contact_infos)
    .where(contact_infos.c.id == bindparam("b_id"))
    .values(
        {
            name: bindparam(name)
            for name in ("category", "value", "normalized", "address", "is_primary")
        }
    )
)
_ROW_DEFAULTS = {
    "first_name": "",
    "last_name": "",
    "job_title": "",
    "company_id": None,
    "company_name": "",
    "industry": "",
}


class SqlImportStore:
    """The storage side of :class:`opencrm.core.services.imports.ImportService`."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._pg = conn.dialect.name == "postgresql"
        self._statements: dict[tuple[str, tuple[str, ...]], tuple[str, list[Any]]] = {}

    # --- duplicate lookups: one statement per batch each --------------------------------

    def contacts_by_infos(
        self, emails: Collection[str], phones: Collection[str]
    ) -> list[tuple[str, str, int]]:
        """``(info type, normalized value, contact id)`` of every stored e-mail in ``emails``
        and phone number in ``phones`` (normalized forms)."""
        if self._pg:
            # A join with the wanted pairs, passed as two array parameters (compiled once):
            # with ``normalized = ANY(...)`` under an OR PostgreSQL scanned the whole table
            # for every batch (30 ms at 200,000 infos, growing with them); the join probes
            # the (info_type, normalized) index.
            pairs = [("email", e) for e in sorted(emails)] + [("phone", p) for p in sorted(phones)]
            if not pairs:
                return []
            keys = (
                func.unnest(_INFO_TYPES, _INFO_VALUES)
                .table_valued("info_type", "normalized")
                .render_derived(name="wanted")
            )
            query = (
                select(
                    contact_infos.c.info_type,
                    contact_infos.c.normalized,
                    contact_infos.c.contact_id,
                )
                .join(
                    keys,
                    and_(
                        contact_infos.c.info_type == keys.c.info_type,
                        contact_infos.c.normalized == keys.c.normalized,
                    ),
                )
                .order_by(contact_infos.c.contact_id)
            )
            params = {"info_types": [t for t, _ in pairs], "info_values": [v for _, v in pairs]}
            return [(t, n, cid) for t, n, cid in self._c.execute(query, params)]
        conditions = []
        for info_type, wanted in (("email", emails), ("phone", phones)):
            if not wanted:
                continue
            # PostgreSQL: one array parameter (= ANY), so the statement is compiled once.
            match = (
                contact_infos.c.normalized == any_(literal(sorted(wanted), _TEXTS))
                if self._pg
                else contact_infos.c.normalized.in_(wanted)
            )
            conditions.append(and_(contact_infos.c.info_type == info_type, match))
        if not conditions:
            return []
        query = (
            select(
                contact_infos.c.info_type, contact_infos.c.normalized, contact_infos.c.contact_id
            )
            .where(or_(*conditions))
            .order_by(contact_infos.c.contact_id)
        )
        return [(t, n, cid) for t, n, cid in self._c.execute(query)]

    def companies_by_name(
        self, keys: Collection[str], user_id: str
    ) -> list[tuple[str, int, str, bool]]:
        """``(key, id, access, managed by user_id)`` of the companies whose case-folded name is
        one of ``keys``, by id."""
        if not keys:
            return []
        managed = exists().where(
            contact_managers.c.contact_id == contacts.c.id,
            contact_managers.c.user_id == user_id,
        )
        query = select(contacts.c.sort_name, contacts.c.id, contacts.c.access, managed).where(
            contacts.c.kind == "company"
        )
        if self._pg:
            # A join with the keys, not ``sort_name IN (...)``: PostgreSQL answers the IN list
            # from the trigram search index (pg_trgm serves equality), 4 s for 1,000 names
            # among 100k contacts; the join probes the b-tree, a few milliseconds.
            # The names go as one array parameter, so the statement is compiled once.
            wanted = func.unnest(_KEYS).table_valued("key").render_derived(name="wanted")
            query = query.join(wanted, contacts.c.sort_name == wanted.c.key)
            return [
                (k, cid, access, bool(m))
                for k, cid, access, m in self._c.execute(
                    query.order_by(contacts.c.id), {"keys": sorted(keys)}
                )
            ]
        else:
            query = query.where(contacts.c.sort_name.in_(keys))
        return [
            (k, cid, access, bool(m))
            for k, cid, access, m in self._c.execute(query.order_by(contacts.c.id))
        ]

    # --- writes ---------------------------------------------------------------------------

    def add_contacts(self, new: Sequence[Contact]) -> list[int]:
        """Insert contacts with their links; return their ids, in order."""
        if not new:
            return []
        rows = [{**_ROW_DEFAULTS, **_contact_row(c)} for c in new]
        if self._pg:
            # Ids from the sequence in one round trip, then COPY: no statement to build.
            ids = list(self._c.execute(_NEXT_IDS, {"n": len(rows)}).scalars())
            for cid, row in zip(ids, rows, strict=True):
                row["id"] = cid
            self._copy(contacts, rows)
        else:
            # SQLite cannot promise RETURNING's order for a multi-row INSERT, so SQLAlchemy
            # would send one INSERT per row. The write transaction holds the database lock
            # (BEGIN IMMEDIATE), so the next ids are known: past the highest ever handed out
            # (AUTOINCREMENT never reuses one) and the highest stored.
            first = self._c.execute(_SQLITE_NEXT_ID).scalar_one()
            ids = list(range(first, first + len(rows)))
            for cid, row in zip(ids, rows, strict=True):
                row["id"] = cid
            self._write(contacts, rows)
        managers: list[dict[str, Any]] = []
        infos: list[dict[str, Any]] = []
        tagged: list[tuple[int, str]] = []
        values: list[dict[str, Any]] = []
        for cid, contact in zip(ids, new, strict=True):
            managers += [{"contact_id": cid, "user_id": u} for u in sorted(contact.managers)]
            infos += [_info_row(cid, i) for i in contact.infos]
            tagged += [(cid, t) for t in contact.tags]
            values += _custom_rows(cid, contact.custom)
        self._insert_links(managers, infos, tagged, values)
        return ids

    def update_contacts(self, changes: Sequence[tuple[Contact, Contact]]) -> None:
        """Write ``after`` over ``before`` for each pair: the contact row, then only the
        managers, infos, tags and custom values that differ."""
        if not changes:
            return
        rows = []
        managers: list[dict[str, Any]] = []
        gone_managers: list[tuple[int, str]] = []
        infos: list[dict[str, Any]] = []
        info_updates: list[dict[str, Any]] = []
        gone_infos: list[int] = []
        tagged: list[tuple[int, str]] = []
        untagged: list[tuple[int, str]] = []
        values: list[dict[str, Any]] = []
        gone_values: list[tuple[int, int]] = []
        for before, after in changes:
            cid = after.id
            row = {**_ROW_DEFAULTS, **_contact_row(after), "b_id": cid}
            for name in ("created_by", "created_at", "kind"):
                row.pop(name)
            rows.append(row)
            managers += [
                {"contact_id": cid, "user_id": u} for u in sorted(after.managers - before.managers)
            ]
            gone_managers += [(cid, u) for u in sorted(before.managers - after.managers)]
            old_infos = {i.id: i for i in before.infos}
            for info in after.infos:
                if info.id not in old_infos:
                    infos.append(_info_row(cid, info))
                elif old_infos[info.id] != info:
                    info_row = _info_row(cid, info)
                    del info_row["contact_id"], info_row["info_type"]
                    info_updates.append({**info_row, "b_id": info.id})
            gone_infos += sorted(set(old_infos) - {i.id for i in after.infos})
            tagged += [(cid, t) for t in after.tags - before.tags]
            untagged += [(cid, t) for t in before.tags - after.tags]
            changed = {f: v for f, v in after.custom.items() if before.custom.get(f) != v}
            gone_values += [
                (cid, f) for f in before.custom if f not in after.custom or f in changed
            ]
            values += _custom_rows(cid, changed)
        c = self._c
        c.execute(_UPDATE_CONTACT, rows)
        if info_updates:
            c.execute(_UPDATE_INFO, info_updates)
        if gone_infos:
            c.execute(delete(contact_infos).where(contact_infos.c.id.in_(gone_infos)))
        if gone_managers:
            c.execute(
                delete(contact_managers).where(
                    tuple_(contact_managers.c.contact_id, contact_managers.c.user_id).in_(
                        gone_managers
                    )
                )
            )
        if untagged:
            ids = self._tag_ids({t for _, t in untagged})
            c.execute(
                delete(entity_tags).where(
                    entity_tags.c.entity_type == "contact",
                    tuple_(entity_tags.c.entity_id, entity_tags.c.tag_id).in_(
                        [(cid, ids[_key(t)]) for cid, t in untagged]
                    ),
                )
            )
        if gone_values:
            c.execute(
                delete(custom_values).where(
                    custom_values.c.entity_type == "contact",
                    tuple_(custom_values.c.entity_id, custom_values.c.field_id).in_(gone_values),
                )
            )
        self._insert_links(managers, infos, tagged, values)

    # --- opportunities ---------------------------------------------------------------------

    # --- tasks ------------------------------------------------------------------------------

    def tasks_by_title(
        self, keys: Collection[str]
    ) -> list[tuple[str, Any, str, int | None, str, int]]:
        """``(title key, due at, responsible, contact id, creator, id)`` of the open tasks
        whose case-folded title is one of ``keys``, by id."""
        if not keys:
            return []
        t = tasks
        query = (
            select(
                t.c.title_key, t.c.due_at, t.c.responsible, t.c.contact_id, t.c.created_by, t.c.id
            )
            .where(t.c.title_key.in_(sorted(keys)), t.c.closed.is_(False))
            .order_by(t.c.id)
        )
        return [tuple(r) for r in self._c.execute(query)]

    def tasks_by_id(self, ids: Collection[int]) -> list[Task]:
        """The stored tasks of ``ids`` (the missing ones left out), by id."""
        if not ids:
            return []
        query = select(tasks).where(tasks.c.id.in_(sorted(ids))).order_by(tasks.c.id)
        return [_task(r) for r in self._c.execute(query)]

    def update_tasks(self, changes: Sequence[tuple[Task, Task]]) -> None:
        """Write each ``after`` over its ``before``: one ``executemany`` for the tasks whose
        reminder is armed again (a new due time or alert, a reopening), one for the others,
        which leaves the time their reminder went out as it is."""
        rearmed: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for before, after in changes:
            row = {**_task_row(after), "b_id": after.id}
            for name in ("created_by", "created_at"):
                row.pop(name)
            rearm = (after.due_at, after.alert_minutes) != (before.due_at, before.alert_minutes)
            if rearm or (before.closed and not after.closed):
                row["reminded_at"] = None
                rearmed.append(row)
            else:
                row.pop("reminded_at")
                kept.append(row)
        for rows in (rearmed, kept):
            if rows:
                statement = (
                    update(tasks)
                    .where(tasks.c.id == bindparam("b_id"))
                    .values({name: bindparam(name) for name in rows[0] if name != "b_id"})
                )
                self._c.execute(statement, rows)

    def add_tasks(self, new: Sequence[Task]) -> list[int]:
        """Insert tasks; return their ids, in order."""
        if not new:
            return []
        rows = [_task_row(task) for task in new]
        if self._pg:
            ids = list(self._c.execute(_NEXT_TASK_IDS, {"n": len(rows)}).scalars())
        else:
            first = self._c.execute(_SQLITE_NEXT_TASK_ID).scalar_one()
            ids = list(range(first, first + len(rows)))
        for tid, row in zip(ids, rows, strict=True):
            row["id"] = tid
        self._write(tasks, rows)
        return ids

    def opportunities_by_title(
        self, keys: Collection[str], scope: DealScope
    ) -> list[tuple[str, int | None, int]]:
        """``(title key, main contact id, id)`` of the opportunities ``scope`` may read whose
        case-folded title is one of ``keys``, by id."""
        return self._by_title(SqlOpportunityRepository, keys, scope)

    def cases_by_title(
        self, keys: Collection[str], scope: DealScope
    ) -> list[tuple[str, int | None, int]]:
        """``(title key, None, id)`` of the cases ``scope`` may read whose case-folded title
        is one of ``keys``, by id."""
        return self._by_title(SqlCaseRepository, keys, scope)

    def _by_title(
        self, repo: Any, keys: Collection[str], scope: DealScope
    ) -> list[tuple[str, int | None, int]]:
        if not keys:
            return []
        t = repo.table
        main = t.c.contact_id if "contact_id" in t.c else literal(None)
        query = select(t.c.title_key, main, t.c.id).where(
            t.c.title_key.in_(sorted({title_key(k) for k in keys}))
        )
        if not scope.everything:
            query = query.where(repo._visible_to(scope.user_id))
        return [(k, cid, rid) for k, cid, rid in self._c.execute(query.order_by(t.c.id))]

    def opportunities_by_id(self, ids: Collection[int]) -> list[Opportunity]:
        """The stored opportunities of ``ids`` with their links (whoever may read them; the
        caller checks), by id."""
        return self._deals_by_id(SqlOpportunityRepository, ids)

    def cases_by_id(self, ids: Collection[int]) -> list[Case]:
        """The stored cases of ``ids`` with their links, by id."""
        return self._deals_by_id(SqlCaseRepository, ids)

    def _deals_by_id(self, repo: Any, ids: Collection[int]) -> list[Any]:
        if not ids:
            return []
        reader = repo(self._c)
        t = repo.table
        query = (
            select(t, reader._related(self._c.dialect.name))
            .where(t.c.id.in_(sorted(ids)))
            .order_by(t.c.id)
        )
        built: list[Any] = reader._build(self._c.execute(query).all())
        return built

    def update_opportunities(self, changes: Sequence[tuple[Opportunity, Opportunity]]) -> None:
        """Write each ``after`` over its ``before``: the rows in one ``executemany``, then
        only the members, access-list entries, tags and custom values that differ."""
        self._update_deals(SqlOpportunityRepository, changes)

    def update_cases(self, changes: Sequence[tuple[Case, Case]]) -> None:
        """As :meth:`update_opportunities`, for cases."""
        self._update_deals(SqlCaseRepository, changes)

    def _update_deals(self, repo: Any, changes: Sequence[tuple[Any, Any]]) -> None:
        if not changes:
            return
        table: Table = repo.table
        fk, entity = repo.fk, repo.entity_type
        rows: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        gone_members: list[tuple[int, int]] = []
        access: list[dict[str, Any]] = []
        gone_access: list[tuple[int, str]] = []
        tagged: list[tuple[int, str]] = []
        untagged: list[tuple[int, str]] = []
        values: list[dict[str, Any]] = []
        gone_values: list[tuple[int, int]] = []
        for before, after in changes:
            rid = after.id
            row = {**repo._row(None, after), "b_id": rid}
            for name in ("created_by", "created_at"):
                row.pop(name)
            rows.append(row)
            members += [{fk: rid, "contact_id": m} for m in sorted(after.members - before.members)]
            gone_members += [(rid, m) for m in sorted(before.members - after.members)]
            access += [
                {fk: rid, "user_id": u} for u in sorted(after.access_list - before.access_list)
            ]
            gone_access += [(rid, u) for u in sorted(before.access_list - after.access_list)]
            tagged += [(rid, t) for t in sorted(after.tags - before.tags)]
            untagged += [(rid, t) for t in sorted(before.tags - after.tags)]
            changed = {f: v for f, v in after.custom.items() if before.custom.get(f) != v}
            gone_values += [
                (rid, f) for f in before.custom if f not in after.custom or f in changed
            ]
            values += _custom_rows(rid, changed, entity)
        c = self._c
        # The columns are our own table's (the same for every row), never input.
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(name) for name in rows[0] if name != "b_id"})
        )
        c.execute(statement, rows)
        for link, column, gone in (
            (repo.members, "contact_id", gone_members),
            (repo.access, "user_id", gone_access),
        ):
            if gone:
                c.execute(delete(link).where(tuple_(link.c[fk], link.c[column]).in_(gone)))
        if untagged:
            ids = self._tag_ids({t for _, t in untagged}, entity)
            c.execute(
                delete(entity_tags).where(
                    entity_tags.c.entity_type == entity,
                    tuple_(entity_tags.c.entity_id, entity_tags.c.tag_id).in_(
                        [(rid, ids[_key(t)]) for rid, t in untagged]
                    ),
                )
            )
        if gone_values:
            c.execute(
                delete(custom_values).where(
                    custom_values.c.entity_type == entity,
                    tuple_(custom_values.c.entity_id, custom_values.c.field_id).in_(gone_values),
                )
            )
        self._write_deal_links(repo, members, access, values, tagged)

    def add_opportunities(self, new: Sequence[Opportunity]) -> list[int]:
        """Insert opportunities with their members, access lists, tags and custom values;
        return their ids, in order."""
        return self._add_deals(SqlOpportunityRepository, new)

    def add_cases(self, new: Sequence[Case]) -> list[int]:
        """Insert cases with their members, access lists, tags and custom values; return
        their ids, in order."""
        return self._add_deals(SqlCaseRepository, new)

    def _add_deals(self, repo: Any, new: Sequence[Opportunity] | Sequence[Case]) -> list[int]:
        if not new:
            return []
        table: Table = repo.table
        rows = [repo._row(None, record) for record in new]
        if self._pg:
            # Ids from the table's sequence in one round trip (the name is our own table's).
            ids = list(
                self._c.execute(
                    text(
                        f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id'))"
                        " FROM generate_series(1, :n)"
                    ),
                    {"n": len(rows)},
                ).scalars()
            )
        else:
            # As for contacts: the write transaction holds the lock, so the ids are known.
            first = self._c.execute(
                text(
                    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence"
                    f" WHERE name = '{table.name}'), 0),"
                    f" coalesce((SELECT max(id) FROM {table.name}), 0)) + 1"
                )
            ).scalar_one()
            ids = list(range(first, first + len(rows)))
        for rid, row in zip(ids, rows, strict=True):
            row["id"] = rid
        self._write(table, rows)
        fk, entity = repo.fk, repo.entity_type
        members: list[dict[str, Any]] = []
        access: list[dict[str, Any]] = []
        tagged: list[tuple[int, str]] = []
        values: list[dict[str, Any]] = []
        records: list[Opportunity | Case] = list(new)
        for rid, record in zip(ids, records, strict=True):
            members += [{fk: rid, "contact_id": m} for m in sorted(record.members)]
            access += [{fk: rid, "user_id": u} for u in sorted(record.access_list)]
            tagged += [(rid, t) for t in record.tags]
            values += _custom_rows(rid, record.custom, entity)
        self._write_deal_links(repo, members, access, values, tagged)
        return ids

    def _write_deal_links(
        self,
        repo: Any,
        members: list[dict[str, Any]],
        access: list[dict[str, Any]],
        values: list[dict[str, Any]],
        tagged: list[tuple[int, str]],
    ) -> None:
        """Insert the members, access-list users, custom values and tags of a batch of
        opportunities or cases (new ones, or what an update added)."""
        self._write(repo.members, members)
        self._write(repo.access, access)
        self._write(custom_values, values)
        if tagged:
            entity = repo.entity_type
            tag_ids = self._tag_ids({t for _, t in tagged}, entity)
            self._write(
                entity_tags,
                [
                    {"tag_id": tag_ids[_key(t)], "entity_type": entity, "entity_id": rid}
                    for rid, t in tagged
                ],
            )

    def _write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._pg:
            self._copy(table, rows)
        else:
            self._executemany(table, rows)

    def _tag_ids(self, titles: Collection[str], entity_type: str = "contact") -> dict[str, int]:
        keys = sorted({_key(t) for t in titles})
        found = self._c.execute(
            select(tags.c.title_key, tags.c.id).where(
                tags.c.entity_type == entity_type, tags.c.title_key.in_(keys)
            )
        )
        return {row[0]: row[1] for row in found}

    def _insert_links(
        self,
        managers: list[dict[str, Any]],
        infos: list[dict[str, Any]],
        tagged: list[tuple[int, str]],
        values: list[dict[str, Any]],
    ) -> None:
        links: list[tuple[Table, list[dict[str, Any]]]] = [
            (contact_managers, managers),
            (contact_infos, infos),
            (custom_values, values),
        ]
        if tagged:
            ids = self._tag_ids({t for _, t in tagged})
            links.append(
                (
                    entity_tags,
                    [
                        {"tag_id": ids[_key(t)], "entity_type": "contact", "entity_id": cid}
                        for cid, t in tagged
                    ],
                )
            )
        for table, rows in links:
            self._write(table, rows)

    def _executemany(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """One driver-level ``executemany`` of ``rows`` (dicts with the same keys) into
        ``table``: values are converted by the column types' own bind processors (as a Core
        insert would), but the per-row parameter handling of a Core statement, a third of a
        batch's write time, is skipped."""
        names = tuple(rows[0])
        key = (table.name, names)
        if key not in self._statements:
            dialect = self._c.dialect
            binders = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
            columns = ", ".join(f'"{n}"' for n in names)  # names of our own tables, never input
            marks = ", ".join("?" for _ in names)
            self._statements[key] = (
                f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})',
                binders,
            )
        statement, binders = self._statements[key]
        if not any(binders):
            params = [tuple([row[n] for n in names]) for row in rows]
        else:
            pairs = list(zip(names, binders, strict=True))
            params = [tuple([b(row[n]) if b else row[n] for n, b in pairs]) for row in rows]
        self._c.exec_driver_sql(statement, params)

    def _copy(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL's COPY of ``rows`` (dicts with the same keys) into ``table``, on the
        transaction's own connection. Values are converted as the column types would bind
        them (JSON text, UTC datetimes)."""
        names = list(rows[0])
        binders = [_binder(table.c[n].type) for n in names]
        columns = ", ".join(f'"{n}"' for n in names)  # names of our own tables, never input
        driver = self._c.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cur,
            cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(
                    [b(row[n]) if b else row[n] for n, b in zip(names, binders, strict=True)]
                )


def _binder(column_type: Any) -> Any:
    """How a value of ``column_type`` goes into COPY, or None when as it is."""
    if isinstance(column_type, JSONText):
        return lambda v: None if v is None else json.dumps(v, sort_keys=True, ensure_ascii=False)
    return None


def _custom_rows(cid: int, custom: Any, entity_type: str = "contact") -> list[dict[str, Any]]:
    return [
        {"field_id": f, "entity_type": entity_type, "entity_id": cid, "value": v}
        for f, v in custom.items()
    ]
