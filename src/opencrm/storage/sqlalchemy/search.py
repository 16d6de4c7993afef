"""Global search in SQL: one branch per kind, each served by its own index and filtered by
what the user may read, merged in one statement.

Each branch finds its candidates through the index its list's ``text`` filter uses (FTS5
trigram tables on SQLite; pg_trgm GIN indexes serving ``LIKE '%text%'`` on PostgreSQL; a
range on the casefolded key for one or two characters), keeps the rows the user may read
with the same SQL conditions as the kind's list, orders its matches by rank and takes at
most one page. The union of the branches is ordered once more and cut to the page: a page
never needs more than ``limit + 1`` rows of any kind.

The rank is a CASE on the casefolded key (equal, starts with, contains), not FTS5's bm25
or PostgreSQL's ``ts_rank``: those differ between the backends and between runs of the
statistics, so a cursor holding them would not continue the same order everywhere.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
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


def _escaped(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_ids(table: str, needle: str) -> Any:
    """The rowids an FTS5 trigram table matches for ``needle`` as one phrase (never FTS5
    syntax: the needle is quoted, its quotes doubled, and bound as a parameter)."""
    phrase = '"' + needle.replace('"', '""') + '"'
    return (
        select(text("rowid AS id"))
        .select_from(text(table))
        .where(text(f"{table} MATCH :phrase_{table}").bindparams(**{f"phrase_{table}": phrase}))
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
        branches = []
        for kind in request.kinds:
            branch = _BRANCHES[kind](self, needle, user_id, everything)
            if branch is None:
                continue
            position, key, rank, match, visible, columns, source = branch
            conds = [match, *visible]
            after = self._after(position, rank, key, request.after)
            if after is not None:
                conds.append(after)
            inner = (
                select(
                    literal(position).label("kind"),
                    key.label("id"),
                    rank.label("rank"),
                    *columns,
                )
                .select_from(source)
                .where(*conds)
                .order_by(rank.desc(), key)
                .limit(request.limit + 1)
                .subquery()
            )
            branches.append(select(*inner.c))
        if not branches:
            return [], None
        merged = union_all(*branches).subquery()
        query = (
            select(merged)
            .order_by(merged.c.rank.desc(), merged.c.kind, merged.c.id)
            .limit(request.limit + 1)
        )
        rows = self._c.execute(query, {acts._READER: user_id}).all()
        more = len(rows) > request.limit
        rows = rows[: request.limit]
        hits = [_hit(r, needle) for r in rows]
        last = rows[-1] if more and rows else None
        cursor = Cursor("rank", (last.rank, last.kind, last.id)) if last is not None else None
        return hits, cursor

    @staticmethod
    def _after(position: int, rank: Any, key: Any, after: Cursor | None) -> Any:
        """The rows of one kind after the cursor (rank descending, kind, id ascending)."""
        if after is None:
            return None
        last_rank, last_position, last_id = (int(v) for v in after.values)  # type: ignore[call-overload]
        if position > last_position:
            return rank <= last_rank
        if position < last_position:
            return rank < last_rank
        return or_(rank < last_rank, and_(rank == last_rank, key > last_id))

    # --- one branch per kind ----------------------------------------------------------------

    def _contains(self, column: Any, needle: str, fts: str | None) -> Any:
        """``column`` (casefolded text of ``fts``'s table) contains the needle; for one or
        two characters, starts with it."""
        if len(needle) < 3:
            return and_(column >= needle, column < needle + _TOP)
        if fts is not None and self._dialect == "sqlite":
            return column.table.c.id.in_(_fts_ids(fts, needle))
        return column.like(f"%{_escaped(needle)}%", escape="\\")

    @staticmethod
    def _rank(column: Any, needle: str, *, contains: Any = 1) -> Any:
        return case(
            (column == needle, 3),
            (and_(column >= needle, column < needle + _TOP), 2),
            else_=contains,
        )

    def _contact(self, needle: str, user_id: str, everything: bool) -> Any:
        name = contacts.c.sort_name
        label = case(
            (contacts.c.kind == "company", contacts.c.company_name),
            else_=contacts.c.first_name + " " + contacts.c.last_name,
        )
        visible = [] if everything else [repos._visible_to(user_id)]
        return (
            _POSITION["contact"],
            contacts.c.id,
            self._rank(name, needle),
            self._contains(name, needle, "contacts_fts"),
            visible,
            [cast(label, String).label("label"), cast(literal(""), String).label("detail")],
            contacts,
        )

    def _deal(self, kind: str, repo: Any) -> Callable[..., Any]:
        table = repo.table

        def branch(needle: str, user_id: str, everything: bool) -> Any:
            key = table.c.title_key
            visible = [] if everything else [repo._visible_to(user_id)]
            return (
                _POSITION[kind],
                table.c.id,
                self._rank(key, needle),
                self._contains(key, needle, f"{table.name}_fts"),
                visible,
                [
                    cast(table.c.title, String).label("label"),
                    cast(literal(""), String).label("detail"),
                ],
                table,
            )

        return branch

    def _task(self, needle: str, user_id: str, everything: bool) -> Any:
        key = tasks.c.title_key
        visible = (
            []
            if everything
            else [
                or_(
                    tasks.c.responsible == user_id,
                    tasks.c.created_by == user_id,
                    acts._parents_readable(tasks, paging=True),
                )
            ]
        )
        return (
            _POSITION["task"],
            tasks.c.id,
            self._rank(key, needle),
            self._contains(key, needle, "tasks_fts"),
            visible,
            [cast(tasks.c.title, String).label("label"), cast(literal(""), String).label("detail")],
            tasks,
        )

    def _invoice(self, needle: str, user_id: str, everything: bool) -> Any:
        client = contacts.alias("client")  # the probes of the permission filter correlate contacts
        number = func.lower(invoices.c.number)
        if len(needle) < 3:
            by_number: Any = and_(number >= needle, number < needle + _TOP)
        else:
            by_number = number.like(f"%{_escaped(needle)}%", escape="\\")
        by_client = invoices.c.client_id.in_(
            select(contacts.c.id).where(
                self._contains(contacts.c.sort_name, needle, "contacts_fts")
            )
        )
        visible: builtins.list[Any] = []
        if not everything:
            managed = (
                select(literal(1))
                .where(
                    contact_managers.c.contact_id == invoices.c.client_id,
                    contact_managers.c.user_id == user_id,
                )
                .exists()
            )
            public_client = (
                select(literal(1))
                .where(
                    contacts.c.id == invoices.c.client_id,
                    contacts.c.access != Access.PRIVATE.value,
                )
                .exists()
            )
            visible.append(or_(invoices.c.created_by == user_id, public_client, managed))
        client_name = case(
            (client.c.kind == "company", client.c.company_name),
            else_=client.c.first_name + " " + client.c.last_name,
        )
        return (
            _POSITION["invoice"],
            invoices.c.id,
            self._rank(number, needle, contains=case((by_number, 1), else_=0)),
            or_(by_number, by_client),
            visible,
            [
                cast(invoices.c.number, String).label("label"),
                cast(client_name, String).label("detail"),
            ],
            invoices.join(client, client.c.id == invoices.c.client_id),
        )

    def _history(self, needle: str, user_id: str, everything: bool) -> Any:
        if len(needle) < 3:
            return None  # no index serves a prefix of every history entry
        key = history_events.c.content_key
        visible = [] if everything else [acts._parents_readable(history_events, paging=True)]
        starts = and_(key >= needle, key < needle + _TOP)
        return (
            _POSITION["history"],
            history_events.c.id,
            case((starts, 1), else_=0),
            self._contains(key, needle, "history_fts"),
            visible,
            [
                cast(history_events.c.content, String).label("label"),
                cast(history_events.c.content, String).label("detail"),
            ],
            history_events,
        )


_BRANCHES: dict[str, Callable[..., Any]] = {
    "contact": SqlSearchRepository._contact,
    "opportunity": lambda self, *a: self._deal("opportunity", deals.SqlOpportunityRepository)(*a),
    "case": lambda self, *a: self._deal("case", deals.SqlCaseRepository)(*a),
    "task": SqlSearchRepository._task,
    "invoice": SqlSearchRepository._invoice,
    "history": SqlSearchRepository._history,
}


def _fits(values: tuple[object, ...]) -> bool:
    """Whether cursor values are a rank, a kind's position and an id."""
    if len(values) != 3 or not all(type(v) is int for v in values):
        return False
    rank, position, record_id = values
    return 0 <= rank <= 3 and 0 <= position < len(SEARCH_KINDS) and 0 <= record_id < 2**31  # type: ignore[operator]


def _hit(row: Any, needle: str) -> SearchHit:
    kind = SEARCH_KINDS[row.kind]
    label = " ".join(str(row.label or "").split())
    detail = str(row.detail or "")
    if kind == "history":
        detail = _snippet(detail, needle)
        if len(label) > _LABEL_LENGTH:
            label = label[: _LABEL_LENGTH - 1].rstrip() + "…"
    return SearchHit(kind, int(row.id), label, " ".join(detail.split()), int(row.rank))


def _snippet(content: str, needle: str) -> str:
    """The words of ``content`` around the first match of ``needle``, with an ellipsis where
    it was cut."""
    at = content.casefold().find(needle)
    if at < 0 or len(content.casefold()) != len(content):
        at = 0  # casefolding changed the length: positions do not carry over
    start = max(0, at - _SNIPPET_RADIUS)
    end = min(len(content), at + len(needle) + _SNIPPET_RADIUS)
    return ("…" if start else "") + content[start:end] + ("…" if end < len(content) else "")
