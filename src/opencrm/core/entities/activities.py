"""Tasks and history events (S3, S4): what was planned and what happened with a contact,
opportunity or case."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = [
    "ALERT_OFFSETS",
    "DEFAULT_ALERT",
    "ContactPhoto",
    "HistoryEvent",
    "HistoryFile",
    "Task",
]

#: The alert offsets a task may have, in minutes before it is due (0: never); the reference's
#: choices: never, 5, 15, 30 minutes, one hour, two hours, one day.
ALERT_OFFSETS = (0, 5, 15, 30, 60, 120, 1440)
#: A new task's alert offset unless the caller names one: a day before.
DEFAULT_ALERT = 1440


@attrs.frozen(kw_only=True)
class Task:
    """Something to do by ``due_at`` (timezone-aware, UTC when stored).

    ``responsible`` is a user id; ``contact_id`` and one of ``opportunity_id`` / ``case_id``
    are optional links. ``alert_minutes`` is the reminder offset (0 = none; one of
    :data:`ALERT_OFFSETS`). ``reminded_at`` is when the reminder went out (None: not yet; a
    changed due date or offset, or a reopening, makes it due again).
    """

    id: int
    title: str
    category_id: int
    due_at: dt.datetime
    responsible: str
    description: str = ""
    contact_id: int | None = None
    opportunity_id: int | None = None
    case_id: int | None = None
    alert_minutes: int = DEFAULT_ALERT
    reminded_at: dt.datetime | None = None
    closed: bool = False
    closed_at: dt.datetime | None = None
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime

    @property
    def remind_at(self) -> dt.datetime | None:
        """When the reminder is due: None for a closed task or one without an alert."""
        if self.closed or not self.alert_minutes:
            return None
        return self.due_at - dt.timedelta(minutes=self.alert_minutes)


@attrs.frozen(kw_only=True)
class HistoryFile:
    """A file attached to a history event (the bytes live in the FileStore)."""

    id: int
    event_id: int
    file_id: str
    name: str
    content_type: str
    size: int
    created_by: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class HistoryEvent:
    """An entry in the history of a contact and/or an opportunity or case: a note, a call, an
    e-mail, a meeting, or a system event opencrm wrote itself (a task closed, files uploaded).

    ``happened_at`` is when it happened (settable; defaults to when it was written);
    ``created_by`` is its author; ``task_id`` names the task whose closing wrote it.
    """

    id: int
    content: str
    category_id: int
    contact_id: int | None = None
    opportunity_id: int | None = None
    case_id: int | None = None
    task_id: int | None = None
    happened_at: dt.datetime
    files: tuple[HistoryFile, ...] = ()
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class ContactPhoto:
    """A contact's photo: three stored renditions (``large`` fits 200x300, ``medium`` and
    ``small`` are square thumbnails), all of ``content_type``; ``width``/``height`` are the
    large rendition's."""

    contact_id: int
    large_file_id: str
    medium_file_id: str
    small_file_id: str
    content_type: str
    width: int
    height: int
    updated_by: str
    updated_at: dt.datetime
