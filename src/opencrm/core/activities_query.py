"""List filters and sorts of tasks and history events (see :mod:`opencrm.core.query`)."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["HISTORY_SORTS", "TASK_SORTS", "HistoryFilter", "TaskFilter"]

TASK_SORTS = ("due", "title", "category", "contact", "created")
HISTORY_SORTS = ("date", "created")


@attrs.frozen(kw_only=True)
class TaskFilter:
    """The reference's task filters; all optional, combined with AND.

    ``text`` matches the title; ``due_from`` (inclusive) and ``due_to`` (exclusive) bound the
    due time; ``closed`` picks open (False) or closed (True) tasks.
    """

    text: str | None = None
    responsible: str | None = None
    category_id: int | None = None
    closed: bool | None = None
    due_from: dt.datetime | None = None
    due_to: dt.datetime | None = None
    contact_id: int | None = None
    opportunity_id: int | None = None
    case_id: int | None = None


@attrs.frozen(kw_only=True)
class HistoryFilter:
    """History filters; all optional, combined with AND. ``contact_id`` keeps the events of
    that contact; ``opportunity_id``/``case_id`` those of the record; ``happened_from``
    (inclusive) and ``happened_to`` (exclusive) bound the event date; ``text`` is a
    case-insensitive substring of the content."""

    contact_id: int | None = None
    opportunity_id: int | None = None
    case_id: int | None = None
    category_id: int | None = None
    author: str | None = None
    happened_from: dt.datetime | None = None
    happened_to: dt.datetime | None = None
    text: str | None = None
