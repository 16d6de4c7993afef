"""Repositories: SQL in, entities out. Every backend returns the same entities."""

from __future__ import annotations

import builtins
import functools
import json
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Any

import attrs
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    String,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opencrm.core.entities._trusted import trusted_builder
from opencrm.core.entities.contacts import (
    Access,
    Address,
    Company,
    Contact,
    ContactInfo,
    InfoType,
    Person,
)
from opencrm.core.entities.lists import (
    CustomField,
    ListItem,
    ListKind,
    Stage,
    StageType,
    Tag,
)
from opencrm.core.events import AuditEntry, Event
from opencrm.core.matching import company_key, person_key
from opencrm.core.permissions import ContactScope
from opencrm.core.query import ContactFilter, Cursor, PageRequest
from opencrm.storage.sqlalchemy._raw import fetch_all
from opencrm.storage.sqlalchemy._related import (
    PAGE_ID,
    decoded_rows,
    json_array_of,
    json_record,
    rows_of_page,
)
from opencrm.storage.sqlalchemy.paging import after_bound, after_cursor, after_params, next_cursor
from opencrm.storage.sqlalchemy.tables import (
    audit_log,
    contact_infos,
    contact_managers,
    contacts,
    custom_fields,
    custom_values,
    entity_tags,
    history_events,
    invoices,
    list_items,
    opportunity_stages,
    settings,
    tags,
    tasks,
)

_TOP = "\U0010ffff"  # sorts after any text: ``x <= v < x + _TOP`` is "v starts with x"


def _key(title: str) -> str:
    return " ".join(title.split()).casefold()


def has_tags(entity_type: str, id_column: Any, titles: Iterable[str]) -> ColumnElement[bool]:
    """``id_column`` names a record carrying every tag in ``titles`` (compared as tags are
    stored: case- and space-insensitively).

    One subquery whatever the number of tags: the records with any of the tags, grouped, kept
    when they have all of them. One EXISTS per tag made PostgreSQL plan a join of 2n tables,
    whose planning time grows exponentially (0.2 s at 50 tags, minutes at 200). A single tag
    stays a plain semi-join, which the planner may drive from either side."""
    keys = sorted({_key(t) for t in titles})
    tagged = (
        select(entity_tags.c.entity_id)
        .join(tags, tags.c.id == entity_tags.c.tag_id)
        .where(
            entity_tags.c.entity_type == entity_type,
            tags.c.entity_type == entity_type,
            tags.c.title_key.in_(keys) if len(keys) > 1 else tags.c.title_key == keys[0],
        )
    )
    if len(keys) > 1:
        # (tag, record) is the primary key: count(*) counts distinct tags.
        tagged = tagged.group_by(entity_tags.c.entity_id).having(func.count() == len(keys))
    return id_column.in_(tagged)  # type: ignore[no-any-return]


def has_custom_values(
    entity_type: str, id_column: Any, pairs: Iterable[tuple[int, str]]
) -> ColumnElement[bool]:
    """``id_column`` names a record whose custom value of each (field id, text) pair equals
    the text, as stored. One subquery whatever the number of pairs (as for
    :func:`has_tags`): a record has at most one value per field, so a record matching every
    pair has as many matching rows as there are pairs."""
    wanted = sorted(set(pairs))
    matches = [
        and_(custom_values.c.field_id == field_id, custom_values.c.value == value)
        for field_id, value in wanted
    ]
    found = select(custom_values.c.entity_id).where(
        custom_values.c.entity_type == entity_type,
        or_(*matches) if len(matches) > 1 else matches[0],
    )
    if len(matches) > 1:
        found = found.group_by(custom_values.c.entity_id).having(func.count() == len(matches))
    return id_column.in_(found)  # type: ignore[no-any-return]


def sort_name(contact: Contact) -> str:
    return contact.display_name.casefold()


# --- contacts -------------------------------------------------------------------------------


class SqlContactRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._dialect = conn.dialect.name

    # writing

    def add(self, contact: Contact) -> Contact:
        new_id = self._c.execute(
            insert(contacts).values(**_contact_row(contact)).returning(contacts.c.id)
        ).scalar_one()
        self._write_links(new_id, contact, None)
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, contact: Contact) -> Contact:
        before = self.get(contact.id)
        assert before is not None
        row = _contact_row(contact)
        for name in ("created_by", "created_at", "kind"):
            row.pop(name)
        self._c.execute(update(contacts).where(contacts.c.id == contact.id).values(**row))
        self._write_links(contact.id, contact, before)
        stored = self.get(contact.id)
        assert stored is not None
        return stored

    def _write_links(self, cid: int, new: Contact, old: Contact | None) -> None:
        c = self._c
        old_managers = old.managers if old else frozenset()
        if gone := old_managers - new.managers:
            c.execute(
                delete(contact_managers).where(
                    contact_managers.c.contact_id == cid,
                    contact_managers.c.user_id.in_(gone),
                )
            )
        if added := new.managers - old_managers:
            c.execute(
                insert(contact_managers),
                [{"contact_id": cid, "user_id": u} for u in sorted(added)],
            )
        old_tags = old.tags if old else frozenset()
        if old_tags != new.tags:
            c.execute(
                delete(entity_tags).where(
                    entity_tags.c.entity_type == "contact",
                    entity_tags.c.entity_id == cid,
                )
            )
            if new.tags:
                ids = c.execute(
                    select(tags.c.id).where(
                        tags.c.entity_type == "contact",
                        tags.c.title_key.in_([_key(t) for t in new.tags]),
                    )
                ).scalars()
                c.execute(
                    insert(entity_tags),
                    [{"tag_id": t, "entity_type": "contact", "entity_id": cid} for t in ids],
                )
        old_infos = {i.id: i for i in old.infos} if old else {}
        keep = {i.id for i in new.infos if i.id in old_infos}
        if gone_ids := set(old_infos) - keep:
            c.execute(delete(contact_infos).where(contact_infos.c.id.in_(gone_ids)))
        for info in new.infos:
            row = _info_row(cid, info)
            if info.id in old_infos:
                if old_infos[info.id] != info:
                    c.execute(
                        update(contact_infos).where(contact_infos.c.id == info.id).values(**row)
                    )
            else:
                c.execute(insert(contact_infos).values(**row))
        old_custom = dict(old.custom) if old else {}
        if old_custom != dict(new.custom):
            c.execute(
                delete(custom_values).where(
                    custom_values.c.entity_type == "contact",
                    custom_values.c.entity_id == cid,
                )
            )
            if new.custom:
                c.execute(
                    insert(custom_values),
                    [
                        {
                            "field_id": f,
                            "entity_type": "contact",
                            "entity_id": cid,
                            "value": v,
                        }
                        for f, v in new.custom.items()
                    ],
                )

    def delete(self, contact_id: int) -> None:
        c = self._c
        c.execute(
            delete(entity_tags).where(
                entity_tags.c.entity_type == "contact",
                entity_tags.c.entity_id == contact_id,
            )
        )
        c.execute(
            delete(custom_values).where(
                custom_values.c.entity_type == "contact",
                custom_values.c.entity_id == contact_id,
            )
        )
        c.execute(
            update(contacts).where(contacts.c.company_id == contact_id).values(company_id=None)
        )
        c.execute(delete(contact_managers).where(contact_managers.c.contact_id == contact_id))
        c.execute(delete(contact_infos).where(contact_infos.c.contact_id == contact_id))
        c.execute(delete(contacts).where(contacts.c.id == contact_id))

    # reading

    def get(self, contact_id: int) -> Contact | None:
        found = self.get_many([contact_id])
        return found[0] if found else None

    def exists(self, contact_id: int) -> bool:
        return bool(self._c.execute(select(exists().where(contacts.c.id == contact_id))).scalar())

    def access_of(self, contact_id: int, user_id: str) -> tuple[Access, bool] | None:
        r = self._c.execute(_ACCESS_OF, {"id": contact_id, "user_id": user_id}).first()
        return (Access(r[0]), bool(r[1])) if r else None

    def get_many(self, contact_ids: Iterable[int]) -> Sequence[Contact]:
        ids = list(dict.fromkeys(contact_ids))
        if not ids:
            return []
        rows = self._c.execute(_contacts_by_id(self._dialect), {"ids": ids}).all()
        by_id = {r.id: r for r in rows}
        return self._build([by_id[i] for i in ids if i in by_id])

    def members_of(self, company_id: int) -> Sequence[int]:
        return list(
            self._c.execute(
                select(contacts.c.id)
                .where(contacts.c.company_id == company_id)
                .order_by(contacts.c.id)
            ).scalars()
        )

    def in_use_by_invoices(self, contact_id: int) -> bool:
        named = exists().where(
            or_(invoices.c.client_id == contact_id, invoices.c.consignee_id == contact_id)
        )
        return bool(self._c.execute(select(named)).scalar())

    def list(
        self, scope: ContactScope, where: ContactFilter, page: PageRequest
    ) -> tuple[Sequence[Contact], Cursor | None]:
        if where == _UNFILTERED:
            # The plain list, the page most users see most: its statement is built once per
            # sort and shape, the user, the cursor and the size are parameters.
            query, keys = _unfiltered_page(
                self._dialect, page.sort, page.descending, page.after is not None, scope.everything
            )
            params = {_READER: scope.user_id, _PAGE_SIZE: page.limit + 1}
            rows: Sequence[Any] = fetch_all(self._c, query, params | after_params(keys, page))
        else:
            keys, query = self._filtered_page(scope, where, page)
            rows = self._c.execute(query).all()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return self._build(rows), next_cursor(rows[-1] if more and rows else None, keys, page)

    def _filtered_page(
        self, scope: ContactScope, where: ContactFilter, page: PageRequest
    ) -> tuple[builtins.list[Any], Any]:
        keys, source = self._sort_keys(page.sort, text_search=where.text is not None)
        conds = self._conditions(scope, attrs.evolve(where, text=None))
        after = after_cursor(keys, page)
        if after is not None:
            conds.append(after)
        page_id = contacts.c.id.label(PAGE_ID)
        query: Any = select(page_id, *keys).select_from(source).where(*conds)
        order_keys: builtins.list[Any] = keys
        if where.text is not None:
            # One branch per way of matching, each fetching its rows once (a name branch
            # served by the trigram index, an e-mail/phone branch by the info index); the
            # union is small, so sorting it is cheap.
            branches = [
                select(page_id, *keys).select_from(source).where(*conds, match)
                for match in self._text_branches(where.text, where.phone_prefix)
            ]
            query = union(*branches).subquery()
            order_keys = [query.c[k.name] for k in keys]
            query = select(query)
        order = [k.desc() if page.descending else k.asc() for k in order_keys]
        # The page's ids first, then its contacts with their related rows in the same
        # statement (see rows_of_page).
        query = rows_of_page(
            contacts,
            query.order_by(*order).limit(page.limit + 1),
            keys,
            _contact_related(self._dialect),
            descending=page.descending,
        )
        return keys, query

    def count(self, scope: ContactScope, where: ContactFilter) -> int:
        filters = self._conditions(ContactScope(everything=True, user_id=scope.user_id), where)
        if scope.everything:
            query = select(func.count()).select_from(contacts).where(*filters)
            return int(self._c.execute(query).scalar_one())
        # Visible = not private, plus private ones the user manages: two disjoint counts, each
        # served by an index, instead of probing the managers of every private row.
        public = (
            select(func.count())
            .select_from(contacts)
            .where(contacts.c.access != Access.PRIVATE.value, *filters)
        )
        managed = (
            select(func.count())
            .select_from(
                contacts.join(contact_managers, contact_managers.c.contact_id == contacts.c.id)
            )
            .where(
                contact_managers.c.user_id == scope.user_id,
                contacts.c.access == Access.PRIVATE.value,
                *filters,
            )
        )
        query = select(public.scalar_subquery() + managed.scalar_subquery())
        return int(self._c.execute(query).scalar_one())

    @staticmethod
    def _sort_keys(sort: str, *, text_search: bool) -> tuple[builtins.list[Any], Any]:
        name: Any = contacts.c.sort_name
        if text_search:
            # A text search matches few rows: make the planner start from the matches and
            # sort them, instead of walking the whole name index (the expression sorts the
            # same as the column but no index serves it).
            name = func.coalesce(contacts.c.sort_name, "")
        if sort == "name":
            return [name.label("k_name"), contacts.c.id.label("k_id")], contacts
        if sort == "created":
            return [
                contacts.c.created_at.label("k_created"),
                contacts.c.id.label("k_id"),
            ], contacts
        types = list_items.alias("sort_type")
        source = contacts.outerjoin(types, types.c.id == contacts.c.contact_type_id)
        return [
            func.coalesce(types.c.sort_order, -1).label("k_type"),
            name.label("k_name"),
            contacts.c.id.label("k_id"),
        ], source

    def _conditions(
        self, scope: ContactScope, where: ContactFilter
    ) -> builtins.list[ColumnElement[bool]]:
        conds: builtins.list[ColumnElement[bool]] = []
        if not scope.everything:
            conds.append(_visible_to(scope.user_id))
        if where.text is not None:
            conds.append(contacts.c.id.in_(self._text_matches(where.text, where.phone_prefix)))
        if where.tags:
            conds.append(has_tags("contact", contacts.c.id, where.tags))
        if where.custom:
            conds.append(has_custom_values("contact", contacts.c.id, where.custom))
        if where.temperature_id is not None:
            conds.append(contacts.c.temperature_id == where.temperature_id)
        if where.contact_type_id is not None:
            conds.append(contacts.c.contact_type_id == where.contact_type_id)
        if where.kind is not None:
            conds.append(contacts.c.kind == where.kind)
        if where.access is not None:
            conds.append(contacts.c.access == where.access.value)
        if where.company_id is not None:
            conds.append(contacts.c.company_id == where.company_id)
        if where.manager is not None:
            conds.append(
                contacts.c.id.in_(
                    select(contact_managers.c.contact_id).where(
                        contact_managers.c.user_id == where.manager
                    )
                )
            )
        if where.created_from is not None:
            conds.append(contacts.c.created_at >= where.created_from)
        if where.created_to is not None:
            conds.append(contacts.c.created_at < where.created_to)
        return conds

    def _text_matches(self, raw: str, phone: str | None) -> Any:
        """Ids of contacts whose name contains the text, or whose e-mail or phone starts
        with it."""
        name, infos = self._text_branches(raw, phone)
        return union(select(contacts.c.id).where(name), select(contacts.c.id).where(infos))

    def _text_branches(self, raw: str, phone: str | None) -> tuple[Any, Any]:
        """Two conditions on ``contacts``: the name matches, and an e-mail or phone does."""
        needle = raw.casefold()
        if len(needle) >= 3 and self._dialect == "sqlite":
            phrase = '"' + needle.replace('"', '""') + '"'
            by_name: Any = contacts.c.id.in_(
                select(text("rowid AS id"))
                .select_from(text("contacts_fts"))
                .where(text("contacts_fts MATCH :phrase").bindparams(phrase=phrase))
            )
        elif len(needle) >= 3:
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            by_name = contacts.c.sort_name.like(f"%{escaped}%", escape="\\")
        else:
            by_name = and_(contacts.c.sort_name >= needle, contacts.c.sort_name < needle + _TOP)
        parts = [
            select(contact_infos.c.contact_id).where(
                contact_infos.c.info_type == InfoType.EMAIL.value,
                contact_infos.c.normalized >= needle,
                contact_infos.c.normalized < needle + _TOP,
            ),
        ]
        if phone:
            parts.append(
                select(contact_infos.c.contact_id).where(
                    contact_infos.c.info_type == InfoType.PHONE.value,
                    contact_infos.c.normalized >= phone,
                    contact_infos.c.normalized < phone + _TOP,
                )
            )
        return by_name, contacts.c.id.in_(union(*parts))

    def _build(self, rows: Sequence[Any]) -> builtins.list[Contact]:
        """Contacts from rows carrying their related arrays (see :func:`_contact_related`).

        The rows were checked when written: entities are built with
        :func:`~opencrm.core.entities._trusted.trusted_builder`, enums and addresses looked
        up instead of re-parsed through their constructors."""
        out: builtins.list[Contact] = []
        append = out.append
        for r, (managers, titles, infos, custom) in zip(
            rows, decoded_rows([r.related for r in rows]), strict=True
        ):
            if infos:
                if len(infos) > 1:
                    infos.sort()  # by id: the first item, unique
                info_items: tuple[ContactInfo, ...] = tuple(
                    [
                        _new_info(
                            iid,
                            _INFO_TYPE[itype],
                            category,
                            value,
                            normalized,
                            bool(primary),
                            _address(address) if address else None,
                        )
                        for iid, itype, category, value, normalized, address, primary in infos
                    ]
                )
            else:
                info_items = ()
            # Positional, in the order of _COMMON then the kind's own fields.
            common = (
                r.id,
                r.contact_type_id,
                r.temperature_id,
                r.currency,
                r.about,
                _ACCESS[r.access],
                frozenset(managers) if managers else _NOTHING,
                frozenset(titles) if titles else _NOTHING,
                info_items,
                MappingProxyType(dict(custom)) if custom else _NO_CUSTOM,
                r.created_by,
                r.created_at,
                r.updated_by,
                r.updated_at,
            )
            if r.kind == "person":
                append(_new_person(*common, r.first_name, r.last_name, r.job_title, r.company_id))
            else:
                append(_new_company(*common, r.company_name, r.industry))
        return out


def _visible_to(user_id: Any) -> ColumnElement[bool]:
    """Contacts the user ``user_id`` (a value or a bound parameter) may read."""
    # A correlated EXISTS is one primary-key probe per private row the query actually
    # visits; ``id IN (SELECT ...)`` made every page first collect all the ids the user
    # manages (a hash or temp list of ~30,000 ids at 1M contacts).
    managed = (
        select(literal(1))
        .where(
            contact_managers.c.contact_id == contacts.c.id,
            contact_managers.c.user_id == user_id,
        )
        # OFFSET 0 keeps PostgreSQL from turning the probe into a hash of every id the
        # user manages (built in full before the first row of every page).
        .offset(0)
    )
    return or_(contacts.c.access != Access.PRIVATE.value, managed.exists())


_UNFILTERED = ContactFilter()
#: The execution parameters of an unfiltered page: the reading user and the rows to fetch.
_READER = "reader_id"
_PAGE_SIZE = "page_size"


@functools.cache
def _unfiltered_page(
    dialect: str, sort: str, descending: bool, after: bool, everything: bool
) -> tuple[Any, builtins.list[Any]]:
    """The statement of an unfiltered contact page and its sort keys, built once per
    shape (the same SQL as a filtered page with no filter); the user, the page size and
    the cursor's values are execution parameters."""
    keys, source = SqlContactRepository._sort_keys(sort, text_search=False)
    conds = [] if everything else [_visible_to(bindparam(_READER, type_=String()))]
    if after:
        conds.append(after_bound(keys, descending=descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    page = (
        select(contacts.c.id.label(PAGE_ID), *keys)
        .select_from(source)
        .where(*conds)
        .order_by(*order)
        .limit(bindparam(_PAGE_SIZE, type_=Integer()))
    )
    related = _contact_related(dialect)
    return rows_of_page(contacts, page, keys, related, descending=descending), keys


_ACCESS = {a.value: a for a in Access}
_INFO_TYPE = {t.value: t for t in InfoType}
_NO_CUSTOM: Any = MappingProxyType({})
_NOTHING: frozenset[Any] = frozenset()
#: The fields persons and companies share, in the order _build passes them.
_COMMON = (
    "id",
    "contact_type_id",
    "temperature_id",
    "currency",
    "about",
    "access",
    "managers",
    "tags",
    "infos",
    "custom",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
)
_new_person = trusted_builder(
    Person, positional=(*_COMMON, "first_name", "last_name", "job_title", "company_id")
)
_new_company = trusted_builder(Company, positional=(*_COMMON, "name", "industry"))
_new_info = trusted_builder(
    ContactInfo,
    positional=("id", "type", "category", "value", "normalized", "is_primary", "address"),
)


def _address(stored: str) -> Address | None:
    """An info's address, stored as JSON text inside the infos array."""
    fields = json.loads(stored)
    return Address(**fields) if fields else None


@functools.cache
def _contact_related(dialect: str) -> Any:
    """Built once per dialect: the column ``related`` of a SELECT from ``contacts``, the
    JSON array [managers' user ids, tag titles, infos as [id, type, category, value,
    normalized, address, is_primary], custom values as [field id, value]]."""
    contact_id = contacts.c.id
    return json_record(
        dialect,
        "related",
        [
            json_array_of(
                dialect, [contact_managers.c.user_id], contact_managers.c.contact_id == contact_id
            ),
            json_array_of(
                dialect,
                [tags.c.title],
                entity_tags.c.entity_type == "contact",
                entity_tags.c.entity_id == contact_id,
                source=entity_tags.join(tags, tags.c.id == entity_tags.c.tag_id),
            ),
            json_array_of(
                dialect,
                [
                    contact_infos.c.id,
                    contact_infos.c.info_type,
                    contact_infos.c.category,
                    contact_infos.c.value,
                    contact_infos.c.normalized,
                    contact_infos.c.address,
                    contact_infos.c.is_primary,
                ],
                contact_infos.c.contact_id == contact_id,
            ),
            json_array_of(
                dialect,
                [custom_values.c.field_id, custom_values.c.value],
                custom_values.c.entity_type == "contact",
                custom_values.c.entity_id == contact_id,
            ),
        ],
    )


@functools.cache
def _contacts_by_id(dialect: str) -> Any:
    """Built once per dialect: the ids arrive as one expanding parameter."""
    return select(contacts, _contact_related(dialect)).where(
        contacts.c.id.in_(bindparam("ids", expanding=True))
    )


_ACCESS_OF = select(
    contacts.c.access,
    exists().where(
        contact_managers.c.contact_id == contacts.c.id,
        contact_managers.c.user_id == bindparam("user_id"),
    ),
).where(contacts.c.id == bindparam("id"))


_json_loads = json.loads


@functools.cache
def _settings_of(n: int) -> Any:
    """Built once per number of keys (a service call reads two), the keys as parameters.
    The value is read as its stored text and decoded by ``get_many``: one ``json.loads``
    instead of the JSON type's processors around it."""
    return select(settings.c.key, type_coerce(settings.c.value, Text).label("value")).where(
        settings.c.key.in_([bindparam(f"key_{i}", type_=String()) for i in range(n)])
    )


@functools.cache
def _settings_keys(n: int) -> tuple[str, ...]:
    return tuple(f"key_{i}" for i in range(n))


def _audit_row(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor_id": event.actor_id,
        "action": event.name,
        "entity_type": event.entity_type,
        "entity_id": None if event.entity_id is None else str(event.entity_id),
        "before": dict(event.before) if event.before is not None else None,
        "after": dict(event.after) if event.after is not None else None,
        "data": dict(event.data) if event.data else None,
    }


def _contact_row(contact: Contact) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": contact.kind,
        "sort_name": sort_name(contact),
        "contact_type_id": contact.contact_type_id,
        "temperature_id": contact.temperature_id,
        "currency": contact.currency,
        "about": contact.about,
        "access": contact.access.value,
        "created_by": contact.created_by,
        "created_at": contact.created_at,
        "updated_by": contact.updated_by,
        "updated_at": contact.updated_at,
    }
    if isinstance(contact, Person):
        row.update(
            first_name=contact.first_name,
            last_name=contact.last_name,
            job_title=contact.job_title,
            company_id=contact.company_id,
            name_key=person_key(contact.first_name, contact.last_name),
        )
    elif isinstance(contact, Company):
        row.update(
            company_name=contact.name, industry=contact.industry, name_key=company_key(contact.name)
        )
    return row


def _info_row(cid: int, info: ContactInfo) -> dict[str, Any]:
    address = None
    if info.address is not None:
        a = info.address
        address = {
            "street": a.street,
            "city": a.city,
            "state": a.state,
            "zip": a.zip,
            "country": a.country,
        }
    return {
        "contact_id": cid,
        "info_type": info.type.value,
        "category": info.category,
        "value": info.value,
        "normalized": info.normalized,
        "address": address,
        "is_primary": info.is_primary,
    }


# --- lists, stages, tags ------------------------------------------------------------------


def _list_item(r: Row[Any]) -> ListItem:
    return ListItem(
        id=r.id,
        kind=ListKind(r.kind),
        title=r.title,
        description=r.description,
        color=r.color,
        icon=r.icon,
        sort_order=r.sort_order,
        system=r.system,
    )


class SqlListRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self, kind: ListKind) -> Sequence[ListItem]:
        rows = self._c.execute(
            select(list_items)
            .where(list_items.c.kind == kind.value)
            .order_by(list_items.c.sort_order, list_items.c.id)
        )
        return [_list_item(r) for r in rows]

    def get(self, item_id: int) -> ListItem | None:
        r = self._c.execute(select(list_items).where(list_items.c.id == item_id)).first()
        return _list_item(r) if r else None

    def find(self, kind: ListKind, title: str) -> ListItem | None:
        r = self._c.execute(
            select(list_items).where(
                list_items.c.kind == kind.value, list_items.c.title_key == _key(title)
            )
        ).first()
        return _list_item(r) if r else None

    def add(self, item: ListItem) -> ListItem:
        new_id = self._c.execute(
            insert(list_items)
            .values(
                kind=item.kind.value,
                title=item.title,
                title_key=_key(item.title),
                description=item.description,
                color=item.color,
                icon=item.icon,
                sort_order=item.sort_order,
                system=item.system,
            )
            .returning(list_items.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, item: ListItem) -> None:
        self._c.execute(
            update(list_items)
            .where(list_items.c.id == item.id)
            .values(
                title=item.title,
                title_key=_key(item.title),
                description=item.description,
                color=item.color,
                icon=item.icon,
                sort_order=item.sort_order,
            )
        )

    def delete(self, item_id: int) -> None:
        self._c.execute(delete(list_items).where(list_items.c.id == item_id))

    def _users(self, item: ListItem) -> ColumnElement[bool] | None:
        if item.kind is ListKind.CONTACT_TYPE:
            return contacts.c.contact_type_id == item.id
        if item.kind is ListKind.TEMPERATURE:
            return contacts.c.temperature_id == item.id
        if item.kind is ListKind.TASK_CATEGORY:
            return tasks.c.category_id == item.id
        return history_events.c.category_id == item.id

    def usage(self, item: ListItem) -> int:
        cond = self._users(item)
        if cond is None:
            return 0
        return int(self._c.execute(select(func.count()).where(cond)).scalar_one())

    def reassign(self, item: ListItem, to: ListItem) -> int:
        if item.kind is not ListKind.TASK_CATEGORY:
            return 0  # only task categories are reassigned (the others refuse deletion)
        moved = self._c.execute(
            update(tasks).where(tasks.c.category_id == item.id).values(category_id=to.id)
        )
        return int(moved.rowcount)


class SqlStageRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self) -> Sequence[Stage]:
        rows = self._c.execute(
            select(opportunity_stages).order_by(
                opportunity_stages.c.sort_order, opportunity_stages.c.id
            )
        )
        return [
            Stage(
                id=r.id,
                title=r.title,
                description=r.description,
                color=r.color,
                probability=r.probability,
                type=StageType(r.stage_type),
                sort_order=r.sort_order,
            )
            for r in rows
        ]


class SqlTagRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    @staticmethod
    def _tag(r: Row[Any]) -> Tag:
        return Tag(id=r.id, entity_type=r.entity_type, title=r.title)

    def list(self, entity_type: str) -> Sequence[Tag]:
        rows = self._c.execute(
            select(tags).where(tags.c.entity_type == entity_type).order_by(tags.c.title_key)
        )
        return [self._tag(r) for r in rows]

    def find(self, entity_type: str, title: str) -> Tag | None:
        r = self._c.execute(
            select(tags).where(tags.c.entity_type == entity_type, tags.c.title_key == _key(title))
        ).first()
        return self._tag(r) if r else None

    def get(self, tag_id: int) -> Tag | None:
        r = self._c.execute(select(tags).where(tags.c.id == tag_id)).first()
        return self._tag(r) if r else None

    def add(self, entity_type: str, title: str) -> Tag:
        new_id = self._c.execute(
            insert(tags)
            .values(entity_type=entity_type, title=title, title_key=_key(title))
            .returning(tags.c.id)
        ).scalar_one()
        return Tag(id=new_id, entity_type=entity_type, title=title)

    def rename(self, tag: Tag, title: str) -> None:
        self._c.execute(
            update(tags).where(tags.c.id == tag.id).values(title=title, title_key=_key(title))
        )

    def delete(self, tag_id: int) -> None:
        self._c.execute(delete(entity_tags).where(entity_tags.c.tag_id == tag_id))
        self._c.execute(delete(tags).where(tags.c.id == tag_id))

    def usage(self, tag_id: int) -> int:
        return int(
            self._c.execute(select(func.count()).where(entity_tags.c.tag_id == tag_id)).scalar_one()
        )

    def unused(self, entity_type: str) -> Sequence[Tag]:
        rows = self._c.execute(
            select(tags)
            .where(
                tags.c.entity_type == entity_type,
                ~exists().where(entity_tags.c.tag_id == tags.c.id),
            )
            .order_by(tags.c.title_key)
        )
        return [self._tag(r) for r in rows]


class SqlCustomFieldRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    @staticmethod
    def _field(r: Row[Any]) -> CustomField:
        return CustomField(
            id=r.id,
            entity_type=r.entity_type,
            label=r.label,
            type=r.field_type,
            options=r.options,
            sort_order=r.sort_order,
        )

    def list(self, entity_type: str | None = None) -> Sequence[CustomField]:
        query = select(custom_fields).order_by(custom_fields.c.sort_order, custom_fields.c.id)
        if entity_type is not None:
            query = query.where(custom_fields.c.entity_type == entity_type)
        return [self._field(r) for r in self._c.execute(query)]

    def get(self, field_id: int) -> CustomField | None:
        r = self._c.execute(select(custom_fields).where(custom_fields.c.id == field_id)).first()
        return self._field(r) if r else None

    def add(self, field: CustomField) -> CustomField:
        new_id = self._c.execute(
            insert(custom_fields)
            .values(
                entity_type=field.entity_type,
                label=field.label,
                field_type=field.type,
                options=dict(field.options),
                sort_order=field.sort_order,
            )
            .returning(custom_fields.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, field: CustomField) -> None:
        self._c.execute(
            update(custom_fields)
            .where(custom_fields.c.id == field.id)
            .values(
                label=field.label,
                field_type=field.type,
                options=dict(field.options),
                sort_order=field.sort_order,
            )
        )

    def delete(self, field_id: int) -> None:
        self._c.execute(delete(custom_values).where(custom_values.c.field_id == field_id))
        self._c.execute(delete(custom_fields).where(custom_fields.c.id == field_id))

    def value_count(self, field_id: int) -> int:
        return int(
            self._c.execute(
                select(func.count()).where(custom_values.c.field_id == field_id)
            ).scalar_one()
        )


class SqlSettingsRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, key: str) -> Any:
        return self._c.execute(select(settings.c.value).where(settings.c.key == key)).scalar()

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(keys)
        if not wanted:
            return {}
        n = len(wanted)
        given = dict(zip(_settings_keys(n), wanted, strict=True))
        rows = fetch_all(self._c, _settings_of(n), given)
        return {key: None if stored is None else _json_loads(stored) for key, stored in rows}

    def set(self, key: str, value: Any) -> None:
        done = self._c.execute(update(settings).where(settings.c.key == key).values(value=value))
        if done.rowcount == 0:
            self._c.execute(insert(settings).values(key=key, value=value))

    def add_if_missing(self, key: str, value: Any) -> Any:
        dialect_insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        self._c.execute(
            dialect_insert(settings).values(key=key, value=value).on_conflict_do_nothing()
        )
        return self.get(key)


class SqlAuditRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def append(self, event: Event) -> None:
        self._c.execute(insert(audit_log).values(**_audit_row(event)))

    def append_many(self, events: Iterable[Event]) -> None:
        # One executemany (batched by the driver): a group operation writes an entry per
        # record, 10,000 single INSERTs cost PostgreSQL a round trip each.
        rows = [_audit_row(e) for e in events]
        for start in range(0, len(rows), 1000):
            self._c.execute(insert(audit_log), rows[start : start + 1000])

    def entries(
        self,
        *,
        entity_type: str | None = None,
        entity_id: int | str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if entity_type is not None:
            query = query.where(audit_log.c.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(audit_log.c.entity_id == str(entity_id))
        return [
            AuditEntry(
                id=r.id,
                at=r.at,
                actor_id=r.actor_id,
                action=r.action,
                entity_type=r.entity_type,
                entity_id=r.entity_id,
                before=r.before,
                after=r.after,
                data=r.data,
            )
            for r in self._c.execute(query)
        ]


__all__ = [
    "SqlAuditRepository",
    "SqlContactRepository",
    "SqlCustomFieldRepository",
    "SqlListRepository",
    "SqlSettingsRepository",
    "SqlStageRepository",
    "SqlTagRepository",
]
