"""``s.search``: one query over contacts, opportunities, cases, tasks, invoices and history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opencrm.core.query import Page, PageRequest, limit_problem
from opencrm.core.search import SEARCH_KINDS, SearchHit, SearchRequest
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service
from opencrm.errors import ValidationError

__all__ = ["SearchService"]


class SearchService:
    """Finds records of every kind the user may read, best matches first."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def everything(
        self,
        text: str,
        *,
        kinds: Iterable[str] | None = None,
        limit: int = 20,
        after: str | None = None,
    ) -> Page[SearchHit]:
        """One page of :class:`~opencrm.core.search.SearchHit`, merged across kinds and
        ordered by rank (highest first), then kind, then id (history: newest first).

        ``text`` is matched casefolded: contact names, opportunity, case and task titles
        and invoice numbers contain it (start with it, for one or two characters);
        invoices also match by their client's name and history entries by their content
        (three characters or more). ``kinds`` narrows the search to some of ``contact``,
        ``opportunity``, ``case``, ``task``, ``invoice``, ``history`` (default: all). A user
        only ever gets hits they may read. Pass the page's ``next_cursor`` as ``after`` for
        the next page.
        """
        errors: dict[str, str] = {}
        needle = None
        try:
            needle = rec.text_filter(text)
        except ValidationError as exc:
            errors["text"] = next(iter(exc.errors.values()))
        if needle is None and "text" not in errors:
            errors["text"] = "must not be blank"
        chosen = _kinds(kinds, errors)
        if (why := limit_problem(limit)) is not None:
            errors["limit"] = why
        page = None
        try:
            page = PageRequest.build("rank", limit if why is None else 1, after, ("rank",))
        except ValidationError as exc:
            errors.update(exc.errors)
        if errors or needle is None or page is None:
            raise ValidationError(errors)
        with self._s._tx(write=False) as tx:
            key = tx.cursor_key("search")
            page = key.open(page)
            request = SearchRequest(needle.casefold(), chosen, page.limit, page.after)
            hits, cursor = tx.uow.search.find(tx.actor.id, tx.actor.crm_admin, request)
            return key.page(hits, cursor)


def _kinds(kinds: Any, errors: dict[str, str]) -> tuple[str, ...]:
    if kinds is None:
        return SEARCH_KINDS
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",") if k]
    if isinstance(kinds, (bytes, dict)) or not isinstance(kinds, Iterable):
        errors["kinds"] = f"must be some of {', '.join(SEARCH_KINDS)}"
        return ()
    try:
        given = rec.bounded(kinds, "kinds")
    except ValidationError as exc:
        errors.update(exc.errors)
        return ()
    if not given or any(not isinstance(k, str) or k not in SEARCH_KINDS for k in given):
        errors["kinds"] = f"must be some of {', '.join(SEARCH_KINDS)}"
        return ()
    return tuple(k for k in SEARCH_KINDS if k in given)
