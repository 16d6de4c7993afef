"""Global search in SQL: one branch per kind, each served by its own index and filtered by
what the user may read, merged in one statement.

Each branch finds its candidates through the index its list's ``text`` filter uses (FTS5
trigram tables on SQLite; pg_trgm GIN indexes serving ``LIKE '%text%'`` on PostgreSQL; a
range on the casefolded key for one or two characters), keeps the rows the user may read
with the same SQL conditions as the kind's list, orders its matches and takes at most one
page. The union of the branches is ordered once more and cut to the page: a page never
needs more than ``limit + 1`` rows of any kind.

The rank is a CASE on the casefolded key (equal, starts with, contains), not FTS5's bm25
or PostgreSQL's ``ts_rank``: those differ between the backends and move with the
statistics, so a cursor holding them would not continue the same order everywhere. History
hits all rank 0 and come newest first (their key is ``-id``): history is by far the largest
table, and on SQLite the FTS5 index then hands over its matches in the page's order, so a
common word stops after one page of readable entries instead of ranking every match.

The statement is built once per shape (backend, kinds, short or long text, admin or not,
with or without a cursor); the text, the user, the page size and the cursor are
execution parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)

from opencrm.core.entities.contacts import Access
from opencrm.core.query import Cursor
from opencrm.core.search import SEARCH_KINDS, SearchHit, SearchRequest
from opencrm.errors import ValidationError
from opencrm.storage.sqlalchemy import activities as acts
from opencrm.storage.sqlalchemy import deals
from opencrm.storage.sqlalchemy import repositories as repos
from opencrm.storage.sqlalchemy.tables import (
    contact_managers,
    contacts,
    history_events,
    invoices,
    tasks,
)

__all__ = ["SqlSearchRepository"]

_TOP = "\U0010ffff"  # sorts after any text: ``x <= v < x + _TOP`` is "v starts with x"
_POSITION = {kind: n for n, kind in enumerate(SEARCH_KINDS)}
_LABEL_LENGTH = 80
_SNIPPET_RADIUS = 60
_LIMIT = 2**31

# The execution parameters.
_NEEDLE = bindparam("needle", type_=String())
_NEEDLE_TOP = bindparam("needle_top", type_=String())  # needle + _TOP
_PATTERN = bindparam("pattern", type_=String())  # %needle%, LIKE characters escaped
_READER = bindparam(acts._READER, type_=String())
_PAGE_SIZE = bindparam("page_size", type_=Integer())
_AFTER_RANK = bindparam("after_rank", type_=Integer())
_AFTER_KIND = bindparam("after_kind", type_=Integer())
_AFTER_KEY = bindparam("after_key", type_=Integer())
_AFTER_ID_BELOW = bindparam("after_id_below", type_=Integer())  # -after_key: history's id


def _escaped(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_ids(name: str) -> Any:
    """The rowids the FTS5 trigram table ``name`` matches for the needle as one phrase
    (never FTS5 syntax: the needle is quoted, its quotes doubled, and bound)."""
    return select(text("rowid AS id")).select_from(text(name)).where(text(f"{name} MATCH :phrase"))


def _contains(dialect: str, column: Any, short: bool, fts: str | None) -> Any:
    """``column`` (casefolded text) contains the needle; for one or two characters, starts
    with it."""
    if short:
        return and_(column >= _NEEDLE, column < _NEEDLE_TOP)
    if fts is not None and dialect == "sqlite":
        return column.table.c.id.in_(_fts_ids(fts))
    return column.like(_PATTERN, escape="\\")


def _rank(column: Any, contains: Any = 1) -> Any:
    return case(
        (column == _NEEDLE, 3),
        (and_(column >= _NEEDLE, column < _NEEDLE_TOP), 2),
        else_=contains,
    )


def _after(position: int, rank: Any, key: Any, after_key: Any = None) -> Any:
    """The rows of one kind after the cursor (rank descending, kind, key ascending);
    ``after_key`` the condition "key after the cursor's" when not ``key > :after_key``."""
    later = after_key if after_key is not None else key > _AFTER_KEY
    pos = literal(position, Integer())
    return or_(
        rank < _AFTER_RANK,
        and_(rank == _AFTER_RANK, or_(pos > _AFTER_KIND, and_(pos == _AFTER_KIND, later))),
    )


def _label(kind: Any, first: Any, last: Any, company: Any) -> Any:
    return cast(case((kind == "company", company), else_=first + " " + last), String())


_EMPTY = cast(literal(""), String())


# --- one branch per kind: (key, rank, conditions, label, detail, source, order) ------------


def _contact(dialect: str, short: bool, everything: bool) -> Any:
    c = contacts.c
    visible = [] if everything else [repos._visible_to(_READER)]
    label = _label(c.kind, c.first_name, c.last_name, c.company_name)
    if short or dialect != "sqlite":
        match = _contains(dialect, c.sort_name, short, "contacts_fts")
        return c.id, _rank(c.sort_name), [match, *visible], label, _EMPTY, contacts, None
    # A common name matches thousands of contacts: ranking them all before taking a page
    # cost most of a search. The names that start with the text (rank 2 and 3) are few and
    # come from the sort_name index; the others (rank 1) come from contacts_fts in id order,
    # which stops after one page of readable contacts.
    starts = and_(c.sort_name >= _NEEDLE, c.sort_name < _NEEDLE_TOP)
    prefix = (
        c.id,
        case((c.sort_name == _NEEDLE, 3), else_=2),
        [starts, *visible],
        label,
        _EMPTY,
        contacts,
        None,
    )
    fts = table("contacts_fts", column("rowid", Integer()))
    match = literal_column("contacts_fts").op("MATCH")(bindparam("phrase", type_=String()))
    inside = (
        c.id,
        literal(1, Integer()),
        [match, or_(c.sort_name < _NEEDLE, c.sort_name >= _NEEDLE_TOP), *visible],
        label,
        _EMPTY,
        fts.join(contacts, c.id == fts.c.rowid),
        (fts.c.rowid.asc(), fts.c.rowid > _AFTER_KEY),
    )
    return [prefix, inside]


def _deal(repo: Any) -> Callable[[str, bool, bool], Any]:
    t = repo.table

    def branch(dialect: str, short: bool, everything: bool) -> Any:
        visible = [] if everything else [repo._visible_to(_READER)]
        match = _contains(dialect, t.c.title_key, short, f"{t.name}_fts")
        return t.c.id, _rank(t.c.title_key), [match, *visible], t.c.title, _EMPTY, t, None

    return branch


def _task(dialect: str, short: bool, everything: bool) -> Any:
    visible = (
        []
        if everything
        else [
            or_(
                tasks.c.responsible == _READER,
                tasks.c.created_by == _READER,
                acts._parents_readable(tasks, paging=True),
            )
        ]
    )
    match = _contains(dialect, tasks.c.title_key, short, "tasks_fts")
    return (
        tasks.c.id,
        _rank(tasks.c.title_key),
        [match, *visible],
        tasks.c.title,
        _EMPTY,
        tasks,
        None,
    )


def _invoice(dialect: str, short: bool, everything: bool) -> Any:
    client = contacts.alias("client")  # the probes of the permission filter correlate contacts
    number = func.lower(invoices.c.number)
    if short:
        by_number: Any = and_(number >= _NEEDLE, number < _NEEDLE_TOP)
    else:
        by_number = number.like(_PATTERN, escape="\\")
    by_client = invoices.c.client_id.in_(
        select(contacts.c.id).where(_contains(dialect, contacts.c.sort_name, short, "contacts_fts"))
    )
    conds: list[Any] = [or_(by_number, by_client)]
    if not everything:
        # The rule of the invoice list: the creator, or a reader of the client contact.
        managed = (
            select(literal(1))
            .where(
                contact_managers.c.contact_id == invoices.c.client_id,
                contact_managers.c.user_id == _READER,
            )
            .exists()
        )
        public_client = (
            select(literal(1))
            .where(contacts.c.id == invoices.c.client_id, contacts.c.access != Access.PRIVATE.value)
            .exists()
        )
        conds.append(or_(invoices.c.created_by == _READER, public_client, managed))
    rank = _rank(number, case((by_number, 1), else_=0))
    detail = _label(client.c.kind, client.c.first_name, client.c.last_name, client.c.company_name)
    source = invoices.join(client, client.c.id == invoices.c.client_id)
    return invoices.c.id, rank, conds, invoices.c.number, detail, source, None


def _history(dialect: str, short: bool, everything: bool) -> Any:
    if short:
        return None  # no index serves a prefix of every history entry
    h = history_events
    visible = [] if everything else [acts._parents_readable(h, paging=True)]
    if dialect == "sqlite":
        # Driven by the FTS5 table, whose matches come in rowid order (newest first here):
        # the first page of readable entries ends the scan.
        fts = table("history_fts", column("rowid", Integer()))
        match = literal_column("history_fts").op("MATCH")(bindparam("phrase", type_=String()))
        source = fts.join(h, h.c.id == fts.c.rowid)
        rowid = fts.c.rowid
        return (
            -h.c.id,
            literal(0, Integer()),
            [match, *visible],
            h.c.content,
            h.c.content,
            source,
            (rowid.desc(), rowid < _AFTER_ID_BELOW),
        )
    match = h.c.content_key.like(_PATTERN, escape="\\")
    return (
        -h.c.id,
        literal(0, Integer()),
        [match, *visible],
        h.c.content,
        h.c.content,
        h,
        (h.c.id.desc(), h.c.id < _AFTER_ID_BELOW),
    )


_BRANCHES: dict[str, Callable[[str, bool, bool], Any]] = {
    "contact": _contact,
    "opportunity": _deal(deals.SqlOpportunityRepository),
    "case": _deal(deals.SqlCaseRepository),
    "task": _task,
    "invoice": _invoice,
    "history": _history,
}


@functools.lru_cache(maxsize=256)
def _statement(
    dialect: str, kinds: tuple[str, ...], short: bool, everything: bool, after: bool
) -> Any:
    branches = []
    for kind in kinds:
        made = _BRANCHES[kind](dialect, short, everything)
        for branch in made if isinstance(made, list) else [made] if made is not None else []:
            key, rank, conds, label, detail, source, order = branch
            position = _POSITION[kind]
            if after:
                conds = [*conds, _after(position, rank, key, order[1] if order else None)]
            ordering = [order[0]] if order else [rank.desc(), key]
            inner = (
                select(
                    literal(position, Integer()).label("kind"),
                    key.label("key"),
                    rank.label("rank"),
                    cast(label, String()).label("label"),
                    cast(detail, String()).label("detail"),
                )
                .select_from(source)
                .where(*conds)
                .order_by(*ordering)
                .limit(_PAGE_SIZE)
                .subquery()
            )
            branches.append(select(*inner.c))
    if not branches:
        return None
    merged = union_all(*branches).subquery()
    return (
        select(merged).order_by(merged.c.rank.desc(), merged.c.kind, merged.c.key).limit(_PAGE_SIZE)
    )


class SqlSearchRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._dialect = conn.dialect.name

    def find(
        self, user_id: str, everything: bool, request: SearchRequest
    ) -> tuple[Sequence[SearchHit], Cursor | None]:
        needle = request.needle
        if request.after is not None and not _fits(request.after.values):
            raise ValidationError({"after": "is not a cursor of this list and sort"})
        short = len(needle) < 3
        query = _statement(
            self._dialect, request.kinds, short, everything, request.after is not None
        )
        if query is None:
            return [], None
        params: dict[str, Any] = {
            "needle": needle,
            "needle_top": needle + _TOP,
            "pattern": f"%{_escaped(needle)}%",
            "phrase": '"' + needle.replace('"', '""') + '"',
            acts._READER: user_id,
            "page_size": request.limit + 1,
        }
        if request.after is not None:
            rank, kind, key = request.after.values
            params |= {
                "after_rank": rank,
                "after_kind": kind,
                "after_key": key,
                "after_id_below": -key,  # type: ignore[operator]
            }
        rows = self._c.execute(query, params).all()
        more = len(rows) > request.limit
        rows = rows[: request.limit]
        hits = [_hit(r, needle) for r in rows]
        last = rows[-1] if more and rows else None
        cursor = Cursor("rank", (last.rank, last.kind, last.key)) if last is not None else None
        return hits, cursor


def _fits(values: tuple[object, ...]) -> bool:
    """Whether cursor values are a rank, a kind's position and a key (an id, or minus one)."""
    if len(values) != 3 or not all(type(v) is int for v in values):
        return False
    rank, position, key = values
    return (
        0 <= rank <= 3  # type: ignore[operator]
        and 0 <= position < len(SEARCH_KINDS)  # type: ignore[operator]
        and -_LIMIT < key < _LIMIT  # type: ignore[operator]
    )


def _hit(row: Any, needle: str) -> SearchHit:
    kind = SEARCH_KINDS[row.kind]
    label = " ".join(str(row.label or "").split())
    detail = str(row.detail or "")
    if kind == "history":
        detail = _snippet(detail, needle)
        if len(label) > _LABEL_LENGTH:
            label = label[: _LABEL_LENGTH - 1].rstrip() + "…"
    record_id = -row.key if kind == "history" else row.key
    return SearchHit(kind, int(record_id), label, " ".join(detail.split()), int(row.rank))


def _snippet(content: str, needle: str) -> str:
    """The words of ``content`` around the first match of ``needle``, with an ellipsis where
    it was cut."""
    folded = content.casefold()
    at = folded.find(needle)
    if at < 0 or len(folded) != len(content):
        at = 0  # casefolding changed the length: positions do not carry over
    start = max(0, at - _SNIPPET_RADIUS)
    end = min(len(content), at + len(needle) + _SNIPPET_RADIUS)
    return ("…" if start else "") + content[start:end] + ("…" if end < len(content) else "")
