"""Repositories of tasks and history events (with the metadata of their files).

Lists apply the access rule in SQL (:class:`~opencrm.core.permissions.ActivityScope`): a
record is visible when every record it is linked to is readable, which is a correlated
EXISTS per link (contact: public or managed; opportunity/case: unrestricted or on the access
list); tasks are also visible to their responsible and creator.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import operator
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import attrs
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union,
    update,
)

from opencrm.core.activities_query import HistoryFilter, TaskFilter
from opencrm.core.entities._trusted import trusted_builder
from opencrm.core.entities.activities import ALERT_OFFSETS, HistoryEvent, HistoryFile, Task
from opencrm.core.entities.contacts import Access
from opencrm.core.permissions import ActivityScope
from opencrm.core.query import Cursor, PageRequest
from opencrm.storage.sqlalchemy._raw import Entities, fetch_built
from opencrm.storage.sqlalchemy.paging import after_bound, after_cursor, after_params, next_cursor
from opencrm.storage.sqlalchemy.tables import (
    case_access,
    cases,
    contact_managers,
    contacts,
    history_events,
    history_files,
    list_items,
    opportunities,
    opportunity_access,
    tasks,
)

__all__ = ["SqlHistoryRepository", "SqlTaskRepository"]

_TOP = "\U0010ffff"  # sorts after any text: ``x <= v < x + _TOP`` is "v starts with x"
_TASK_FIELDS = tuple(a.name for a in attrs.fields(Task))
_EVENT_FIELDS = tuple(a.name for a in attrs.fields(HistoryEvent) if a.name != "files")


#: The execution parameter :func:`_parents_readable` reads the user id from.
_READER = "reader_id"


@functools.cache
def _parents_readable(table: Any, *, paging: bool) -> ColumnElement[bool]:
    """Every record the row links to is readable by the user whose id is the execution
    parameter ``reader_id`` (the SQL form of
    :func:`opencrm.core.permissions.can_read_parents` for a non-admin).

    Built once per table and use: six probes cost more to build than a page's SQL costs
    to run, so the user id is a parameter instead of a literal.

    For a page (``paging``) each EXISTS stays one index probe per row visited: OFFSET 0 keeps
    PostgreSQL from hashing the whole probed table first (every public contact, before the
    first row of every page). A count visits every row, where that hash is the cheaper plan.
    """

    def _probe(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
        if paging:
            return select(literal(1)).where(*conds).offset(0).exists()
        return exists().where(*conds)

    user_id = bindparam(_READER, type_=String())
    contact_ok = or_(
        table.c.contact_id.is_(None),
        _probe(contacts.c.id == table.c.contact_id, contacts.c.access != Access.PRIVATE.value),
        _probe(
            contact_managers.c.contact_id == table.c.contact_id,
            contact_managers.c.user_id == user_id,
        ),
    )
    opportunity_ok = or_(
        table.c.opportunity_id.is_(None),
        _probe(opportunities.c.id == table.c.opportunity_id, opportunities.c.restricted == false()),
        _probe(
            opportunity_access.c.opportunity_id == table.c.opportunity_id,
            opportunity_access.c.user_id == user_id,
        ),
    )
    case_ok = or_(
        table.c.case_id.is_(None),
        _probe(cases.c.id == table.c.case_id, cases.c.restricted == false()),
        _probe(case_access.c.case_id == table.c.case_id, case_access.c.user_id == user_id),
    )
    return and_(contact_ok, opportunity_ok, case_ok)


def _escaped(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _keyset(
    conn: Connection,
    columns: Any,
    source: Any,
    keys: builtins.list[Any],
    conds: builtins.list[ColumnElement[bool]],
    page: PageRequest,
    reader: str,
) -> tuple[builtins.list[Row[Any]], Cursor | None]:
    """One page of rows ordered by ``keys`` (the last one unique), after the cursor, read
    by the user ``reader`` (see :func:`_parents_readable`)."""
    query = select(columns, *keys).select_from(source).where(*conds)
    after = after_cursor(keys, page)
    if after is not None:
        query = query.where(after)
    order = [k.desc() if page.descending else k.asc() for k in keys]
    query = query.order_by(*order).limit(page.limit + 1)
    rows = builtins.list(conn.execute(query, {_READER: reader}).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return rows, next_cursor(rows[-1] if more and rows else None, keys, page)


# --- tasks ------------------------------------------------------------------------------------


def _task(r: Any) -> Task:
    """A task from a stored row (checked when written: no converters run again)."""
    return _new_task(*_task_values(r))


_new_task = trusted_builder(Task, positional=_TASK_FIELDS)
_task_values = operator.attrgetter(*_TASK_FIELDS)
#: A page's tasks made straight from the driver's rows: every field is its own column.
_TASK_PAGE = Entities(Task, {name: name for name in _TASK_FIELDS})


def _task_row(task: Task) -> dict[str, Any]:
    row = {name: getattr(task, name) for name in _TASK_FIELDS if name != "id"}
    row["title_key"] = task.title.casefold()
    row["remind_at"] = task.remind_at
    return row


def _task_sort_keys(sort: str, everything: bool, user_id: Any) -> tuple[builtins.list[Any], Any]:
    """A task page's sort keys and source; ``user_id`` (a value or a bound parameter) is
    the reader, whose unreadable contacts sort as if there were none."""
    if sort == "title":
        return [tasks.c.title_key.label("k_title"), tasks.c.id.label("k_id")], tasks
    if sort == "created":
        return [tasks.c.created_at.label("k_created"), tasks.c.id.label("k_id")], tasks
    if sort == "category":
        item = list_items.alias("sort_category")
        source = tasks.join(item, item.c.id == tasks.c.category_id)
        return [
            item.c.sort_order.label("k_category"),
            tasks.c.due_at.label("k_due"),
            tasks.c.id.label("k_id"),
        ], source
    if sort == "contact":
        named = contacts.alias("sort_contact")  # not the contacts the scope probes
        source = tasks.outerjoin(named, named.c.id == tasks.c.contact_id)
        name: Any = func.coalesce(named.c.sort_name, "")
        if not everything:
            # A task's responsible may not be able to read its contact: such a contact
            # sorts as if there were none, so neither the order nor the cursor (which
            # carries the sort key) tells its name.
            readable = or_(
                named.c.access != Access.PRIVATE.value,
                select(literal(1))
                .where(
                    contact_managers.c.contact_id == named.c.id,
                    contact_managers.c.user_id == user_id,
                )
                .exists(),
            )
            name = case((readable, name), else_="")
        return [
            name.label("k_contact"),
            tasks.c.due_at.label("k_due"),
            tasks.c.id.label("k_id"),
        ], source
    return [tasks.c.due_at.label("k_due"), tasks.c.id.label("k_id")], tasks


_NO_TASK_FILTER = TaskFilter()
_PAGE_SIZE = "page_size"


@functools.cache
def _unfiltered_task_page(
    sort: str, descending: bool, after: bool, everything: bool
) -> tuple[Any, builtins.list[Any]]:
    """The statement of an unfiltered task page and its sort keys, built once per shape
    (the same SQL as a filtered page with no filter); the reader is the parameter
    ``reader_id``, as in :func:`_parents_readable`."""
    reader = bindparam(_READER, type_=String())
    keys, source = _task_sort_keys(sort, everything, reader)
    conds: builtins.list[ColumnElement[bool]] = []
    if not everything:
        conds.append(
            or_(
                tasks.c.responsible == reader,
                tasks.c.created_by == reader,
                _parents_readable(tasks, paging=True),
            )
        )
    if after:
        conds.append(after_bound(keys, descending=descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    query = (
        select(*[tasks.c[name] for name in _TASK_FIELDS], *keys)
        .select_from(source)
        .where(*conds)
        .order_by(*order)
        .limit(bindparam(_PAGE_SIZE, type_=Integer()))
    )
    return query, keys


class SqlTaskRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._dialect = conn.dialect.name

    def add(self, task: Task) -> Task:
        new_id = self._c.execute(
            insert(tasks).values(**_task_row(task)).returning(tasks.c.id)
        ).scalar_one()
        return attrs.evolve(task, id=new_id)

    def get(self, task_id: int) -> Task | None:
        row = self._c.execute(select(tasks).where(tasks.c.id == task_id)).first()
        return None if row is None else _task(row)

    def update(self, task: Task, *, rearm: bool = False) -> Task:
        row = _task_row(task)
        # reminded_at is written only to re-arm the reminder: a concurrent due_reminders may
        # have claimed it since this task was read, and writing back the stale value would
        # make it due (and sent) again.
        row.pop("reminded_at")
        if rearm:
            row["reminded_at"] = None
        self._c.execute(update(tasks).where(tasks.c.id == task.id).values(**row))
        return task

    def delete(self, task_id: int) -> None:
        self._c.execute(delete(tasks).where(tasks.c.id == task_id))

    def list(
        self, scope: ActivityScope, where: TaskFilter, page: PageRequest
    ) -> tuple[Sequence[Task], Cursor | None]:
        if where == _NO_TASK_FILTER:
            # The plain list: its statement is built once per sort and shape, the user, the
            # page size and the cursor's values are parameters, run on the DBAPI cursor.
            query, keys = _unfiltered_task_page(
                page.sort, page.descending, page.after is not None, scope.everything
            )
            params = {_READER: scope.user_id, _PAGE_SIZE: page.limit + 1}
            built, last = fetch_built(
                self._c, query, params | after_params(keys, page), _TASK_PAGE, page.limit
            )
            return built, next_cursor(last, keys, page)
        keys, source = _task_sort_keys(page.sort, scope.everything, scope.user_id)
        conds = self._conditions(scope, where, paging=True)
        rows, cursor = _keyset(self._c, tasks, source, keys, conds, page, scope.user_id)
        return [_task(r) for r in rows], cursor

    def count(self, scope: ActivityScope, where: TaskFilter) -> int:
        conds = self._conditions(scope, where, paging=False)
        query = select(func.count()).select_from(tasks).where(*conds)
        return int(self._c.execute(query, {_READER: scope.user_id}).scalar_one())

    def claim_reminders(self, now: dt.datetime, since: dt.datetime) -> Sequence[Task]:
        # One UPDATE ... RETURNING: on PostgreSQL a concurrent runner waits for the row lock
        # and then re-checks ``reminded_at IS NULL``, which no longer holds; on SQLite the
        # write transaction is BEGIN IMMEDIATE, so runners take turns. Either way, each task
        # is claimed by exactly one transaction.
        claimed = self._c.execute(
            update(tasks)
            .where(
                tasks.c.closed == false(),
                # The lower bound follows from due_at >= since and the longest alert offset;
                # it keeps the index range to the last days instead of all of the past.
                tasks.c.remind_at >= since - dt.timedelta(minutes=max(ALERT_OFFSETS)),
                tasks.c.remind_at <= now,
                tasks.c.reminded_at.is_(None),
                tasks.c.due_at >= since,
            )
            .values(reminded_at=now)
            .returning(*tasks.c)
        ).all()
        return sorted((_task(r) for r in claimed), key=lambda t: (t.due_at, t.id))

    def open_for(self, responsible: str, limit: int, now: dt.datetime) -> Sequence[Task]:
        overdue = case((tasks.c.due_at < now, 1), else_=0)
        rows = self._c.execute(
            select(tasks)
            .where(tasks.c.responsible == responsible, tasks.c.closed == false())
            # What is coming first (soonest first), then what is overdue (latest first).
            .order_by(
                overdue,
                case((tasks.c.due_at >= now, tasks.c.due_at)),
                tasks.c.due_at.desc(),
                tasks.c.id,
            )
            .limit(limit)
        )
        return [_task(r) for r in rows]

    def _conditions(
        self, scope: ActivityScope, where: TaskFilter, *, paging: bool
    ) -> builtins.list[ColumnElement[bool]]:
        conds: builtins.list[ColumnElement[bool]] = []
        if not scope.everything:
            conds.append(
                or_(
                    tasks.c.responsible == scope.user_id,
                    tasks.c.created_by == scope.user_id,
                    _parents_readable(tasks, paging=paging),
                )
            )
        if where.text is not None:
            conds.append(self._text(where.text))
        if where.responsible is not None:
            conds.append(tasks.c.responsible == where.responsible)
        if where.category_id is not None:
            conds.append(tasks.c.category_id == where.category_id)
        if where.closed is not None:
            conds.append(tasks.c.closed == where.closed)
        if where.due_from is not None:
            conds.append(tasks.c.due_at >= where.due_from)
        if where.due_to is not None:
            conds.append(tasks.c.due_at < where.due_to)
        if where.contact_id is not None:
            conds.append(tasks.c.contact_id == where.contact_id)
        if where.opportunity_id is not None:
            conds.append(tasks.c.opportunity_id == where.opportunity_id)
        if where.case_id is not None:
            conds.append(tasks.c.case_id == where.case_id)
        return conds

    def _text(self, raw: str) -> ColumnElement[bool]:
        """Titles containing the text (starting with it, for one or two characters)."""
        needle = raw.casefold()
        if len(needle) >= 3 and self._dialect == "sqlite":
            phrase = '"' + needle.replace('"', '""') + '"'
            matches: Any = (
                select(text("rowid AS id"))
                .select_from(text("tasks_fts"))
                .where(text("tasks_fts MATCH :phrase").bindparams(phrase=phrase))
            )
            return tasks.c.id.in_(matches)
        if len(needle) >= 3:
            return tasks.c.title_key.like(f"%{_escaped(needle)}%", escape="\\")
        return (tasks.c.title_key >= needle) & (tasks.c.title_key < needle + _TOP)


# --- history ----------------------------------------------------------------------------------


def _file(r: Row[Any]) -> HistoryFile:
    m = r._mapping
    return HistoryFile(
        id=m["id"],
        event_id=m["event_id"],
        file_id=m["file_id"],
        name=m["name"],
        content_type=m["content_type"],
        size=m["size"],
        created_by=m["created_by"],
        created_at=m["created_at"],
    )


class SqlHistoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, event: HistoryEvent) -> HistoryEvent:
        row = {name: getattr(event, name) for name in _EVENT_FIELDS if name != "id"}
        row["content_key"] = event.content.casefold()
        new_id = self._c.execute(
            insert(history_events).values(**row).returning(history_events.c.id)
        ).scalar_one()
        return attrs.evolve(event, id=new_id, files=())

    def get(self, event_id: int) -> HistoryEvent | None:
        rows = self._c.execute(select(history_events).where(history_events.c.id == event_id)).all()
        built = self._build(rows)
        return built[0] if built else None

    def update(self, event: HistoryEvent) -> HistoryEvent:
        self._c.execute(
            update(history_events)
            .where(history_events.c.id == event.id)
            .values(
                content=event.content,
                content_key=event.content.casefold(),
                category_id=event.category_id,
                happened_at=event.happened_at,
                updated_by=event.updated_by,
                updated_at=event.updated_at,
            )
        )
        return event

    def delete(self, event_id: int) -> Sequence[str]:
        f = history_files
        ids = self._c.execute(select(f.c.file_id).where(f.c.event_id == event_id)).scalars()
        file_ids = builtins.list(ids)
        self._c.execute(delete(f).where(f.c.event_id == event_id))
        self._c.execute(delete(history_events).where(history_events.c.id == event_id))
        return file_ids

    def list(
        self, scope: ActivityScope, where: HistoryFilter, page: PageRequest
    ) -> tuple[Sequence[HistoryEvent], Cursor | None]:
        t = history_events
        if page.sort == "created":
            keys = [t.c.created_at.label("k_created"), t.c.id.label("k_id")]
        else:
            keys = [t.c.happened_at.label("k_date"), t.c.id.label("k_id")]
        conds = self._conditions(scope, where, paging=True)
        rows, cursor = _keyset(self._c, t, t, keys, conds, page, scope.user_id)
        return self._build(rows), cursor

    def count(self, scope: ActivityScope, where: HistoryFilter) -> int:
        query = (
            select(func.count())
            .select_from(history_events)
            .where(*self._conditions(scope, where, paging=False))
        )
        return int(self._c.execute(query, {_READER: scope.user_id}).scalar_one())

    def add_file(self, file: HistoryFile) -> HistoryFile:
        new_id = self._c.execute(
            insert(history_files)
            .values(
                event_id=file.event_id,
                file_id=file.file_id,
                name=file.name,
                content_type=file.content_type,
                size=file.size,
                created_by=file.created_by,
                created_at=file.created_at,
            )
            .returning(history_files.c.id)
        ).scalar_one()
        return attrs.evolve(file, id=new_id)

    def delete_file(self, file_row_id: int) -> None:
        self._c.execute(delete(history_files).where(history_files.c.id == file_row_id))

    def file_ids_of(
        self,
        *,
        contact_id: int | None = None,
        opportunity_id: int | None = None,
        case_id: int | None = None,
    ) -> Sequence[str]:
        e = history_events
        links = [
            col == value
            for col, value in (
                (e.c.contact_id, contact_id),
                (e.c.opportunity_id, opportunity_id),
                (e.c.case_id, case_id),
            )
            if value is not None
        ]
        if not links:
            return []
        branches = [
            select(history_files.c.file_id).join(e, e.c.id == history_files.c.event_id).where(c)
            for c in links
        ]
        query: Any = branches[0] if len(branches) == 1 else union(*branches)
        return builtins.list(self._c.execute(query).scalars())

    def _build(self, rows: Sequence[Row[Any]]) -> builtins.list[HistoryEvent]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        files: dict[int, builtins.list[HistoryFile]] = defaultdict(builtins.list)
        for r in self._c.execute(
            select(history_files)
            .where(history_files.c.event_id.in_(ids))
            .order_by(history_files.c.id)
        ):
            files[r.event_id].append(_file(r))
        out = []
        for r in rows:
            m = r._mapping
            values = {name: m[history_events.c[name]] for name in _EVENT_FIELDS}
            out.append(HistoryEvent(**values, files=tuple(files[r.id])))
        return out

    def _conditions(
        self, scope: ActivityScope, where: HistoryFilter, *, paging: bool
    ) -> builtins.list[ColumnElement[bool]]:
        t = history_events
        conds: builtins.list[ColumnElement[bool]] = []
        if not scope.everything:
            conds.append(_parents_readable(t, paging=paging))
        if where.contact_id is not None:
            conds.append(t.c.contact_id == where.contact_id)
        if where.opportunity_id is not None:
            conds.append(t.c.opportunity_id == where.opportunity_id)
        if where.case_id is not None:
            conds.append(t.c.case_id == where.case_id)
        if where.category_id is not None:
            conds.append(t.c.category_id == where.category_id)
        if where.author is not None:
            conds.append(t.c.created_by == where.author)
        if where.happened_from is not None:
            conds.append(t.c.happened_at >= where.happened_from)
        if where.happened_to is not None:
            conds.append(t.c.happened_at < where.happened_to)
        if where.text is not None:
            needle = _escaped(where.text.casefold())
            conds.append(t.c.content_key.like(f"%{needle}%", escape="\\"))
        return conds
