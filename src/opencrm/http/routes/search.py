"""Global search: one query over every kind of record the user may read."""

from __future__ import annotations

from typing import Any

import attrs

from opencrm.core.search import SearchHit
from opencrm.errors import ValidationError
from opencrm.http._api import Call, Listing, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TAG = "search"


@attrs.frozen(kw_only=True)
class SearchQuery:
    #: The text to find (required).
    q: str = UNSET
    #: Some of contact, opportunity, case, task, invoice, history (default: all).
    kinds: list[str] = UNSET
    limit: int = UNSET
    after: str = UNSET


def search(c: Call) -> Any:
    query: SearchQuery = c.query
    if query.q is UNSET:
        raise ValidationError({"q": "is required"})
    given = {k: getattr(query, k) for k in ("kinds", "limit", "after")}
    if given["kinds"] is not UNSET:
        given["kinds"] = [k for value in given["kinds"] for k in value.split(",") if k]
    try:
        return c.s.search.everything(query.q, **{k: v for k, v in given.items() if v is not UNSET})
    except ValidationError as exc:
        # The service names its argument ``text``; the client sent ``q``.
        raise ValidationError(
            {("q" if k == "text" else k): v for k, v in exc.errors.items()}
        ) from None


ROUTES = [
    Route(
        method="GET",
        path="/search",
        handler=search,
        summary="Search every kind of record you may read",
        description="Hits from contacts (names), opportunities, cases and tasks (titles), "
        "invoices (number, client name) and history (content, three characters or more), "
        "best first: `rank` 3 the label is the text, 2 it starts with it, 1 contains it, "
        "0 another match; ties by kind, then id. `kinds` narrows the search (repeat it or "
        "separate with commas).",
        tag=TAG,
        query=SearchQuery,
        returns=Listing(SearchHit),
        exposes=("search.everything",),
    ),
]
