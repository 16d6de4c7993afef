"""Repositories of opportunities, cases and (for admins) opportunity stages.

Both record types share one shape: a main table, ``*_members`` (contacts taking part),
``*_access`` (the access list of a restricted record), and tags and custom values in the
shared tables under their entity type. Lists and counts apply the access rule in SQL, as
contact lists do: a correlated EXISTS on the access list for paging, and a count split into
two index-served parts.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import operator
from collections.abc import Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from moneyed import Money
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)

from opencrm.core.currencies import get_currency
from opencrm.core.deals_query import CaseFilter, OpportunityFilter
from opencrm.core.entities._trusted import minor_money, stored_minor, trusted_builder
from opencrm.core.entities.deals import BidType, Case, Opportunity
from opencrm.core.entities.lists import Stage, StageType
from opencrm.core.permissions import DealScope
from opencrm.core.query import Cursor, PageRequest
from opencrm.storage.sqlalchemy._raw import Call, Entities, Extra, fetch_all, fetch_built
from opencrm.storage.sqlalchemy._related import (
    PAGE_ID,
    decoded_rows,
    json_array_of,
    json_record,
    rows_of_page,
)
from opencrm.storage.sqlalchemy.paging import after_bound, after_cursor, after_params, next_cursor
from opencrm.storage.sqlalchemy.repositories import (
    SqlStageRepository,
    has_custom_values,
    has_tags,
)
from opencrm.storage.sqlalchemy.tables import (
    case_access,
    case_members,
    cases,
    custom_values,
    entity_tags,
    opportunities,
    opportunity_access,
    opportunity_members,
    opportunity_stages,
    tags,
)

__all__ = ["SqlCaseRepository", "SqlOpportunityRepository", "SqlStageAdminRepository"]

_TOP = "\U0010ffff"  # sorts after any text: ``x <= v < x + _TOP`` is "v starts with x"
#: Opportunities without an expected close date sort after every dated one.
_NO_DATE = dt.date(9999, 12, 31)

T = TypeVar("T", Opportunity, Case)
F = TypeVar("F", OpportunityFilter, CaseFilter)


def title_key(title: str) -> str:
    return title.casefold()


def _key(title: str) -> str:
    return " ".join(title.split()).casefold()


@functools.cache
def _related_record(
    dialect: str, table: Table, entity_type: str, members: Table, access: Table, fk: str
) -> Any:
    """The column ``related`` of a SELECT from ``table``: the JSON array [member contact
    ids, access list user ids, tag titles, custom values as [field id, value]] (see
    :mod:`~opencrm.storage.sqlalchemy._related`). Built once per record type and dialect."""
    record_id = table.c.id
    return json_record(
        dialect,
        "related",
        [
            json_array_of(dialect, [members.c.contact_id], members.c[fk] == record_id),
            json_array_of(dialect, [access.c.user_id], access.c[fk] == record_id),
            json_array_of(
                dialect,
                [tags.c.title],
                entity_tags.c.entity_type == entity_type,
                entity_tags.c.entity_id == record_id,
                source=entity_tags.join(tags, tags.c.id == entity_tags.c.tag_id),
            ),
            json_array_of(
                dialect,
                [custom_values.c.field_id, custom_values.c.value],
                custom_values.c.entity_type == entity_type,
                custom_values.c.entity_id == record_id,
            ),
        ],
    )


# Stored rows were checked when written: entities are built without their converters
# (the related arrays arrive in their final form, see _build).
#: The fields of an opportunity read as they are stored, in the order
#: :data:`_new_opportunity` takes them first (one ``attrgetter`` call per row).
_OPPORTUNITY_STORED = (
    "id",
    "title",
    "description",
    "contact_id",
    "period_count",
    "expected_close",
    "actual_close",
    "responsible",
    "stage_id",
    "probability",
    "project_ref",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
)
_opportunity_stored = operator.attrgetter(*_OPPORTUNITY_STORED)
_new_opportunity = trusted_builder(
    Opportunity,
    positional=(
        *_OPPORTUNITY_STORED,
        "budget",
        "bid_type",
        "restricted",
        "members",
        "tags",
        "custom",
        "access_list",
    ),
)
_new_case = trusted_builder(Case)
_BID_TYPE = {b.value: b for b in BidType}
_NO_CUSTOM: Any = MappingProxyType({})
_NOTHING: frozenset[Any] = frozenset()


def _related_of(values: Sequence[str | None]) -> builtins.list[tuple[Any, Any, Any, Any]]:
    """The ``related`` column of every row of a page (see :func:`_related_record`),
    decoded with one ``json.loads``: (members, access list, tags, custom values) per row,
    in their final form."""
    return [
        (
            frozenset(members) if members else _NOTHING,
            frozenset(access) if access else _NOTHING,
            frozenset(titles) if titles else _NOTHING,
            MappingProxyType(dict(custom)) if custom else _NO_CUSTOM,
        )
        for members, access, titles, custom in decoded_rows(values)
    ]


def _budget(units: int, currency: str) -> Money:
    return minor_money(currency)(units)  # 0 EUR reads as 0.00


#: A page's opportunities made straight from the driver's rows (see
#: :func:`~opencrm.storage.sqlalchemy._raw.fetch_built`), the related arrays of the page
#: decoded together: what ``_build`` and ``_from_row`` make, in one pass per row.
_OPPORTUNITY_PAGE = Entities(
    Opportunity,
    {
        **{name: name for name in _OPPORTUNITY_STORED},
        "budget": Call(_budget, "budget_minor", "currency"),
        "bid_type": Call(_BID_TYPE.__getitem__, "bid_type"),
        "restricted": "restricted",
        "members": Extra(0),
        "access_list": Extra(1),
        "tags": Extra(2),
        "custom": Extra(3),
    },
    together=("related", _related_of),
)


class _LinkedRecords(Generic[T, F]):
    """What opportunities and cases share: links, tags, custom values, access, search."""

    entity_type: str
    table: Table
    members: Table
    access: Table
    fk: str  # the link tables' column naming the record
    no_filter: F  # the filter of the plain list, whose statement is built once
    #: How the plain list's rows become records in one pass (None: through ``_build``).
    page_entities: Entities | None = None

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._dialect = conn.dialect.name

    def _related(self, dialect: str) -> Any:
        return _related_record(
            dialect, self.table, self.entity_type, self.members, self.access, self.fk
        )

    # --- writing ------------------------------------------------------------------------

    def _row(self, record: T) -> dict[str, Any]:
        raise NotImplementedError

    def _from_row(
        self,
        r: Any,
        members: frozenset[int],
        access_list: frozenset[str],
        tags: frozenset[str],
        custom: Any,
    ) -> T:
        raise NotImplementedError

    def add(self, record: T) -> T:
        new_id = self._c.execute(
            insert(self.table).values(**self._row(record)).returning(self.table.c.id)
        ).scalar_one()
        self._write_links(new_id, record, None)
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, record: T) -> T:
        before = self.get(record.id)
        assert before is not None
        row = self._row(record)
        for name in ("created_by", "created_at"):
            row.pop(name)
        self._c.execute(update(self.table).where(self.table.c.id == record.id).values(**row))
        self._write_links(record.id, record, before)
        stored = self.get(record.id)
        assert stored is not None
        return stored

    def _write_links(self, rid: int, new: T, old: T | None) -> None:
        c = self._c
        for table, column, now, was in (
            (self.members, "contact_id", new.members, old.members if old else frozenset()),
            (self.access, "user_id", new.access_list, old.access_list if old else frozenset()),
        ):
            if gone := was - now:
                c.execute(delete(table).where(table.c[self.fk] == rid, table.c[column].in_(gone)))
            if added := now - was:
                c.execute(insert(table), [{self.fk: rid, column: v} for v in sorted(added)])
        etype = self.entity_type
        if (old.tags if old else frozenset()) != new.tags:
            c.execute(
                delete(entity_tags).where(
                    entity_tags.c.entity_type == etype, entity_tags.c.entity_id == rid
                )
            )
            if new.tags:
                ids = c.execute(
                    select(tags.c.id).where(
                        tags.c.entity_type == etype,
                        tags.c.title_key.in_([_key(t) for t in new.tags]),
                    )
                ).scalars()
                c.execute(
                    insert(entity_tags),
                    [{"tag_id": t, "entity_type": etype, "entity_id": rid} for t in ids],
                )
        if (dict(old.custom) if old else {}) != dict(new.custom):
            c.execute(
                delete(custom_values).where(
                    custom_values.c.entity_type == etype, custom_values.c.entity_id == rid
                )
            )
            if new.custom:
                c.execute(
                    insert(custom_values),
                    [
                        {"field_id": f, "entity_type": etype, "entity_id": rid, "value": v}
                        for f, v in new.custom.items()
                    ],
                )

    def delete(self, record_id: int) -> None:
        """The record with its members and access list (both cascade), tags and custom
        values (shared tables, removed here)."""
        c = self._c
        etype = self.entity_type
        c.execute(
            delete(entity_tags).where(
                entity_tags.c.entity_type == etype, entity_tags.c.entity_id == record_id
            )
        )
        c.execute(
            delete(custom_values).where(
                custom_values.c.entity_type == etype, custom_values.c.entity_id == record_id
            )
        )
        c.execute(delete(self.members).where(self.members.c[self.fk] == record_id))
        c.execute(delete(self.access).where(self.access.c[self.fk] == record_id))
        c.execute(delete(self.table).where(self.table.c.id == record_id))

    # --- reading ------------------------------------------------------------------------

    def get(self, record_id: int) -> T | None:
        query = select(self.table, self._related(self._dialect)).where(self.table.c.id == record_id)
        built = self._build(self._c.execute(query).all())
        return built[0] if built else None

    def _build(self, rows: Sequence[Any]) -> builtins.list[T]:
        """Records from rows carrying their ``related`` column (see :func:`_related_record`)."""
        from_row = self._from_row
        related = _related_of([r.related for r in rows])
        return [from_row(r, *rel) for r, rel in zip(rows, related, strict=True)]

    def _visible(self, scope: DealScope) -> builtins.list[ColumnElement[bool]]:
        return [] if scope.everything else [self._visible_to(scope.user_id)]

    @classmethod
    def _visible_to(cls, user_id: Any) -> ColumnElement[bool]:
        """Records the user ``user_id`` (a value or a bound parameter) may read."""
        on_list = (
            select(literal(1))
            .where(cls.access.c[cls.fk] == cls.table.c.id, cls.access.c.user_id == user_id)
            .offset(0)  # one probe per restricted row, never a hash of the whole list
        )
        return or_(cls.table.c.restricted == false(), on_list.exists())

    def _text(self, raw: str) -> ColumnElement[bool]:
        """Titles containing the text (starting with it, for one or two characters)."""
        needle = raw.casefold()
        table = self.table
        if len(needle) >= 3 and self._dialect == "sqlite":
            fts = f"{table.name}_fts"
            phrase = '"' + needle.replace('"', '""') + '"'
            matches: Any = (
                select(text("rowid AS id"))
                .select_from(text(fts))
                .where(text(f"{fts} MATCH :phrase").bindparams(phrase=phrase))
            )
            return table.c.id.in_(matches)
        if len(needle) >= 3:
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return table.c.title_key.like(f"%{escaped}%", escape="\\")
        return (table.c.title_key >= needle) & (table.c.title_key < needle + _TOP)

    def _tagged(self, titles: frozenset[str]) -> builtins.list[ColumnElement[bool]]:
        return [has_tags(self.entity_type, self.table.c.id, titles)] if titles else []

    def _custom(self, pairs: tuple[tuple[int, str], ...]) -> builtins.list[ColumnElement[bool]]:
        return [has_custom_values(self.entity_type, self.table.c.id, pairs)] if pairs else []

    def _with_member(self, contact_id: int) -> ColumnElement[bool]:
        return self.table.c.id.in_(
            select(self.members.c[self.fk]).where(self.members.c.contact_id == contact_id)
        )

    def _page(
        self,
        keys: builtins.list[Any],
        source: Any,
        conds: builtins.list[ColumnElement[bool]],
        page: PageRequest,
    ) -> tuple[builtins.list[T], Cursor | None]:
        query = select(self.table.c.id.label(PAGE_ID), *keys).select_from(source).where(*conds)
        after = after_cursor(keys, page)
        if after is not None:
            query = query.where(after)
        order = [k.desc() if page.descending else k.asc() for k in keys]
        query = rows_of_page(
            self.table,
            query.order_by(*order).limit(page.limit + 1),
            keys,
            self._related(self._dialect),
            descending=page.descending,
        )
        rows = self._c.execute(query).all()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return self._build(rows), next_cursor(rows[-1] if more and rows else None, keys, page)

    def _unfiltered(
        self, scope: DealScope, page: PageRequest
    ) -> tuple[builtins.list[T], Cursor | None]:
        """The plain list, the page users see most: its statement is built once per sort and
        shape, the user, the page size and the cursor's values are parameters, and it runs
        on the DBAPI cursor (see :mod:`~opencrm.storage.sqlalchemy._raw`)."""
        query, keys = _unfiltered_page(
            self._dialect,
            self.entity_type,
            page.sort,
            page.descending,
            page.after is not None,
            scope.everything,
        )
        params = {_READER: scope.user_id, _PAGE_SIZE: page.limit + 1} | after_params(keys, page)
        if self.page_entities is not None:
            built, last = fetch_built(self._c, query, params, self.page_entities, page.limit)
            return built, next_cursor(last, keys, page)
        rows = fetch_all(self._c, query, params)
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        last = rows[-1] if more and rows else None
        return self._build(rows), next_cursor(last, keys, page)

    def list(
        self, scope: DealScope, where: F, page: PageRequest
    ) -> tuple[Sequence[T], Cursor | None]:
        if where == self.no_filter:
            # The plain list: its statement is built once per sort and shape, the user,
            # the page size and the cursor's values are parameters.
            return self._unfiltered(scope, page)
        keys, source = self._sort_keys(page.sort)
        conds = self._visible(scope) + self._conditions(where)
        return self._page(keys, source, conds, page)

    def count(self, scope: DealScope, where: F) -> int:
        return self._count(scope, self._conditions(where))

    @staticmethod
    def _sort_keys(sort: str) -> tuple[builtins.list[Any], Any]:
        raise NotImplementedError

    def _conditions(self, where: F) -> builtins.list[ColumnElement[bool]]:
        raise NotImplementedError

    def _count(self, scope: DealScope, conds: builtins.list[ColumnElement[bool]]) -> int:
        table = self.table
        if scope.everything:
            query = select(func.count()).select_from(table).where(*conds)
            return int(self._c.execute(query).scalar_one())
        # Visible = unrestricted, plus restricted ones with the user on the access list: two
        # disjoint counts, each served by an index.
        public = (
            select(func.count()).select_from(table).where(table.c.restricted == false(), *conds)
        )
        listed = (
            select(func.count())
            .select_from(table.join(self.access, self.access.c[self.fk] == table.c.id))
            .where(self.access.c.user_id == scope.user_id, table.c.restricted != false(), *conds)
        )
        query = select(public.scalar_subquery() + listed.scalar_subquery())
        return int(self._c.execute(query).scalar_one())


# --- opportunities ------------------------------------------------------------------------


def _minor_units(currency: str) -> int:
    return get_currency(currency).minor_units


class SqlOpportunityRepository(_LinkedRecords[Opportunity, OpportunityFilter]):
    entity_type = "opportunity"
    no_filter = OpportunityFilter()
    page_entities = _OPPORTUNITY_PAGE
    table = opportunities
    members = opportunity_members
    access = opportunity_access
    fk = "opportunity_id"

    def _row(self, record: Opportunity) -> dict[str, Any]:
        budget = record.budget
        code = budget.currency.code
        amount: Decimal = budget.amount
        return {
            "title": record.title,
            "title_key": title_key(record.title),
            "description": record.description,
            "contact_id": record.contact_id,
            "budget_minor": int(amount.scaleb(_minor_units(code))),
            "currency": code,
            "bid_type": record.bid_type.value,
            "period_count": record.period_count,
            "value_key": int(record.value.amount.scaleb(3)),
            "expected_close": record.expected_close,
            "actual_close": record.actual_close,
            "responsible": record.responsible,
            "stage_id": record.stage_id,
            "probability": record.probability,
            "restricted": record.restricted,
            "project_ref": record.project_ref,
            "created_by": record.created_by,
            "created_at": record.created_at,
            "updated_by": record.updated_by,
            "updated_at": record.updated_at,
        }

    def _from_row(
        self,
        r: Any,
        members: frozenset[int],
        access_list: frozenset[str],
        tags: frozenset[str],
        custom: Any,
    ) -> Opportunity:
        # Positionally (see _OPPORTUNITY_STORED): a keyword call naming 22 fields and an
        # attribute read per field cost about twice as much per row.
        return _new_opportunity(
            *_opportunity_stored(r),
            stored_minor(r.budget_minor, r.currency),  # 0 EUR reads as 0.00
            _BID_TYPE[r.bid_type],
            bool(r.restricted),
            members,
            tags,
            custom,
            access_list,
        )

    @staticmethod
    def _sort_keys(sort: str) -> tuple[builtins.list[Any], Any]:
        t = opportunities
        source: Any = t
        keys: builtins.list[Any]
        if sort == "title":
            keys = [t.c.title_key.label("k_title")]
        elif sort == "responsible":
            keys = [t.c.responsible.label("k_responsible")]
        elif sort == "stage":
            stage = opportunity_stages.alias("sort_stage")
            source = t.join(stage, stage.c.id == t.c.stage_id)
            keys = [stage.c.sort_order.label("k_stage")]
        elif sort == "value":
            keys = [t.c.value_key.label("k_value")]
        elif sort == "expected_close":
            keys = [func.coalesce(t.c.expected_close, literal(_NO_DATE)).label("k_expected")]
        else:
            keys = [t.c.created_at.label("k_created")]
        keys.append(t.c.id.label("k_id"))
        return keys, source

    def _conditions(self, where: OpportunityFilter) -> builtins.list[ColumnElement[bool]]:
        t = opportunities
        conds: builtins.list[ColumnElement[bool]] = []
        if where.text is not None:
            conds.append(self._text(where.text))
        if where.responsible is not None:
            conds.append(t.c.responsible == where.responsible)
        if where.stage_id is not None:
            conds.append(t.c.stage_id == where.stage_id)
        if where.stage_type is not None:
            conds.append(
                t.c.stage_id.in_(
                    select(opportunity_stages.c.id).where(
                        opportunity_stages.c.stage_type == where.stage_type.value
                    )
                )
            )
        if where.contact_id is not None:
            conds.append(self._with_member(where.contact_id))
        conds.extend(self._tagged(where.tags))
        conds.extend(self._custom(where.custom))
        if where.expected_from is not None:
            conds.append(t.c.expected_close >= where.expected_from)
        if where.expected_to is not None:
            conds.append(t.c.expected_close <= where.expected_to)
        return conds


#: The execution parameters of an unfiltered page: the reading user and the rows to fetch.
_READER = "reader_id"
_PAGE_SIZE = "page_size"


@functools.cache
def _unfiltered_page(
    dialect: str, kind: str, sort: str, descending: bool, after: bool, everything: bool
) -> tuple[Any, builtins.list[Any]]:
    """The statement of an unfiltered opportunity or case page (``kind``) and its sort
    keys, built once per shape (the same SQL as a filtered page with no filter)."""
    repo: Any = SqlOpportunityRepository if kind == "opportunity" else SqlCaseRepository
    table = repo.table
    keys, source = repo._sort_keys(sort)
    reader = bindparam(_READER, type_=String())
    conds = [] if everything else [repo._visible_to(reader)]
    if after:
        conds.append(after_bound(keys, descending=descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    page = (
        select(table.c.id.label(PAGE_ID), *keys)
        .select_from(source)
        .where(*conds)
        .order_by(*order)
        .limit(bindparam(_PAGE_SIZE, type_=Integer()))
    )
    related = _related_record(dialect, table, repo.entity_type, repo.members, repo.access, repo.fk)
    return rows_of_page(table, page, keys, related, descending=descending), keys


# --- cases --------------------------------------------------------------------------------


class SqlCaseRepository(_LinkedRecords[Case, CaseFilter]):
    entity_type = "case"
    no_filter = CaseFilter()
    table = cases
    members = case_members
    access = case_access
    fk = "case_id"

    def _row(self, record: Case) -> dict[str, Any]:
        return {
            "title": record.title,
            "title_key": title_key(record.title),
            "closed": record.closed,
            "restricted": record.restricted,
            "created_by": record.created_by,
            "created_at": record.created_at,
            "updated_by": record.updated_by,
            "updated_at": record.updated_at,
        }

    def _from_row(
        self,
        r: Any,
        members: frozenset[int],
        access_list: frozenset[str],
        tags: frozenset[str],
        custom: Any,
    ) -> Case:
        return _new_case(
            id=r.id,
            title=r.title,
            closed=bool(r.closed),
            restricted=bool(r.restricted),
            created_by=r.created_by,
            created_at=r.created_at,
            updated_by=r.updated_by,
            updated_at=r.updated_at,
            members=members,
            access_list=access_list,
            tags=tags,
            custom=custom,
        )

    @staticmethod
    def _sort_keys(sort: str) -> tuple[builtins.list[Any], Any]:
        t = cases
        if sort == "title":
            first = t.c.title_key.label("k_title")
        else:
            first = t.c.created_at.label("k_created")
        return [first, t.c.id.label("k_id")], t

    def _conditions(self, where: CaseFilter) -> builtins.list[ColumnElement[bool]]:
        conds: builtins.list[ColumnElement[bool]] = []
        if where.text is not None:
            conds.append(self._text(where.text))
        if where.contact_id is not None:
            conds.append(self._with_member(where.contact_id))
        conds.extend(self._tagged(where.tags))
        conds.extend(self._custom(where.custom))
        if where.closed is not None:
            conds.append(cases.c.closed == where.closed)
        return conds


# --- stages (admin) -----------------------------------------------------------------------


class SqlStageAdminRepository(SqlStageRepository):
    """The stage list, and the changes a CRM admin makes to it."""

    def get(self, stage_id: int) -> Stage | None:
        # The list is short (nine stages seeded); reading it keeps one row-to-stage mapping.
        return next((s for s in self.list() if s.id == stage_id), None)

    def add(self, stage: Stage) -> Stage:
        new_id = self._c.execute(
            insert(opportunity_stages)
            .values(**_stage_row(stage))
            .returning(opportunity_stages.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, stage: Stage) -> None:
        self._c.execute(
            update(opportunity_stages)
            .where(opportunity_stages.c.id == stage.id)
            .values(**_stage_row(stage))
        )

    def delete(self, stage_id: int) -> None:
        self._c.execute(delete(opportunity_stages).where(opportunity_stages.c.id == stage_id))

    def usage(self, stage_id: int) -> int:
        query = select(func.count()).where(opportunities.c.stage_id == stage_id)
        return int(self._c.execute(query).scalar_one())


def _stage_row(stage: Stage) -> dict[str, Any]:
    return {
        "title": stage.title,
        "description": stage.description,
        "color": stage.color,
        "probability": stage.probability,
        "stage_type": StageType(stage.type).value,
        "sort_order": stage.sort_order,
    }
