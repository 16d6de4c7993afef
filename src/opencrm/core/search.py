"""Global search: what a hit is, and the storage port that finds them.

A hit's ``rank`` is the same on every backend (see :class:`SearchRepository`), so the
merged order, and the cursor that continues it, do not depend on the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from opencrm.core.query import Cursor

__all__ = ["SEARCH_KINDS", "SearchHit", "SearchRepository", "SearchRequest"]

#: The kinds of record a global search looks through, in the order that breaks a tie in rank.
SEARCH_KINDS = ("contact", "opportunity", "case", "task", "invoice", "history")


@attrs.frozen
class SearchHit:
    """One record found by :meth:`opencrm.core.services.search.SearchService.everything`.

    ``kind`` is one of :data:`SEARCH_KINDS`; ``id`` the record's id in its own service;
    ``label`` what to show as the link (a name, a title, an invoice number, the start of a
    history entry); ``snippet`` a line of context (an invoice's client, the words around the
    match in a history entry; empty when there is none); ``rank`` how well it matches:
    3 the label is the text, 2 it starts with it, 1 it contains it, 0 any other match (an
    invoice's client name, history content). Hits of one rank come by kind, in the order of
    :data:`SEARCH_KINDS`; within a kind by id, except history: newest first.
    """

    kind: str
    id: int
    label: str
    snippet: str
    rank: int


@attrs.frozen
class SearchRequest:
    """A checked search: the casefolded ``needle`` (one line, 1 to 255 characters), the
    kinds to look through, the page size and the position after which the page starts."""

    needle: str
    kinds: tuple[str, ...]
    limit: int
    after: Cursor | None


class SearchRepository(Protocol):
    def find(
        self, user_id: str, everything: bool, request: SearchRequest
    ) -> tuple[Sequence[SearchHit], Cursor | None]:
        """One page of hits ordered by rank (highest first), then kind (in the order of
        :data:`SEARCH_KINDS`), then id (history: newest first); each kind filtered by what
        ``user_id`` may read in the same statement (``everything`` for a CRM admin). The
        cursor (None: the last page) holds the rank, the kind's position and the key (the
        id; minus the id for history) of the page's last hit."""
