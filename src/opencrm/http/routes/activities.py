"""Tasks and history events: what is planned and what happened with a contact, an
opportunity or a case; a task calendar feed and the files of history events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs

from opencrm.core.entities.activities import HistoryEvent, HistoryFile, Task
from opencrm.errors import NotFound
from opencrm.http._api import Call, Download, Items, Listing, ListQuery, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TASKS = "tasks"
HISTORY = "history"


# --- tasks ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _TaskFields:
    category: int | str = UNSET
    responsible: str = UNSET
    description: str = UNSET
    opportunity: int | None = UNSET
    case: int | None = UNSET
    alert: int = UNSET
    notify: bool = UNSET


@attrs.frozen(kw_only=True)
class TaskIn(_TaskFields):
    """A new open task. ``due`` has a UTC offset; ``category`` is a task category id or
    title (the first one by default); ``contact``, ``opportunity`` and ``case`` are ids of
    records you may read; ``alert`` is minutes before ``due`` (0, 5, 15, 30, 60, 120 or
    1440; default 1440). ``notify`` (default true) tells the responsible."""

    title: str
    due: dt.datetime
    contact: int | None = UNSET


@attrs.frozen(kw_only=True)
class TasksForContactsIn(_TaskFields):
    """The same new task for each contact of ``contacts`` (ids you may read): all of them
    are created, or none."""

    contacts: list[int]
    title: str
    due: dt.datetime


@attrs.frozen(kw_only=True)
class TaskPatch(_TaskFields):
    """Fields to change; null unlinks ``contact``, ``opportunity`` or ``case``. A new
    responsible is told unless ``notify`` is false."""

    title: str = UNSET
    due: dt.datetime = UNSET
    contact: int | None = UNSET


@attrs.frozen(kw_only=True)
class TaskQuery(ListQuery):
    text: str = UNSET
    responsible: str = UNSET
    category: int = UNSET
    closed: bool = UNSET
    due_from: dt.datetime = UNSET
    due_to: dt.datetime = UNSET
    contact: int = UNSET
    opportunity: int = UNSET
    case: int = UNSET


def list_tasks(c: Call) -> Any:
    return c.page(c.s.tasks)


def add_task(c: Call) -> Task:
    return c.s.tasks.add(**c.args())  # type: ignore[no-any-return]


def add_tasks_for_contacts(c: Call) -> Sequence[Task]:
    return c.s.tasks.add_for_contacts(**c.args())  # type: ignore[no-any-return]


def get_task(c: Call) -> Task:
    return c.s.tasks.get(c.path["task_id"])  # type: ignore[no-any-return]


def update_task(c: Call) -> Task:
    return c.s.tasks.update(c.path["task_id"], **c.args())  # type: ignore[no-any-return]


def close_task(c: Call) -> Task:
    return c.s.tasks.close(c.path["task_id"])  # type: ignore[no-any-return]


def reopen_task(c: Call) -> Task:
    return c.s.tasks.reopen(c.path["task_id"])  # type: ignore[no-any-return]


def delete_task(c: Call) -> None:
    c.s.tasks.delete(c.path["task_id"])


def get_task_calendar(c: Call) -> Download:
    return Download(c.s.tasks.calendar(), "text/calendar; charset=utf-8", "tasks.ics", inline=True)


# --- history ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HistoryEventIn:
    """A new history event of a contact and/or an opportunity or case (ids you may read;
    at least one). ``category`` is a history category id or title; ``happened_at`` has a
    UTC offset (now by default); ``notify`` names users told about it. Attach files
    afterwards (``POST /history-events/{event_id}/files``)."""

    content: str
    category: int | str
    contact: int | None = UNSET
    opportunity: int | None = UNSET
    case: int | None = UNSET
    happened_at: dt.datetime = UNSET
    notify: list[str] = UNSET


@attrs.frozen(kw_only=True)
class HistoryEventPatch:
    """Fields to change (the records it belongs to stay)."""

    content: str = UNSET
    category: int | str = UNSET
    happened_at: dt.datetime = UNSET


@attrs.frozen(kw_only=True)
class HistoryQuery(ListQuery):
    contact: int = UNSET
    opportunity: int = UNSET
    case: int = UNSET
    category: int = UNSET
    author: str = UNSET
    happened_from: dt.datetime = UNSET
    happened_to: dt.datetime = UNSET
    text: str = UNSET


def list_history_events(c: Call) -> Any:
    return c.page(c.s.history)


def add_history_event(c: Call) -> HistoryEvent:
    return c.s.history.add(**c.args())  # type: ignore[no-any-return]


def get_history_event(c: Call) -> HistoryEvent:
    return c.s.history.get(c.path["event_id"])  # type: ignore[no-any-return]


def update_history_event(c: Call) -> HistoryEvent:
    return c.s.history.update(c.path["event_id"], **c.args())  # type: ignore[no-any-return]


def delete_history_event(c: Call) -> None:
    c.s.history.delete(c.path["event_id"])


def attach_history_file(c: Call) -> HistoryFile:
    upload = c.upload()
    return c.s.history.attach(  # type: ignore[no-any-return]
        c.path["event_id"], upload.stream, upload.filename
    )


def download_history_file(c: Call) -> Download:
    event_id, file_id = c.path["event_id"], c.path["file_id"]
    event = c.s.history.get(event_id)
    found = next((f for f in event.files if f.id == file_id), None)
    if found is None:
        raise NotFound("file", file_id)
    data = c.s.history.open_file(event_id, file_id)
    return Download(data, found.content_type, found.name)


def remove_history_file(c: Call) -> None:
    c.s.history.remove_file(c.path["event_id"], c.path["file_id"])


# --- routes -----------------------------------------------------------------------------------

TASK = "/tasks/{task_id}"
EVENT = "/history-events/{event_id}"
FILE = "/history-events/{event_id}/files/{file_id}"

ROUTES = [
    Route(
        method="GET",
        path="/tasks",
        handler=list_tasks,
        summary="List the tasks you may read",
        description="Filters combine with AND; `text` matches the title, `category` is a "
        "task category id, `due_from` is inclusive and `due_to` exclusive (date-times with "
        "a UTC offset). Sorts: due, title, category, contact, created (`-` for descending). "
        "`count=true` adds the total.",
        tag=TASKS,
        query=TaskQuery,
        returns=Listing(Task),
        exposes=("tasks.list", "tasks.count"),
    ),
    Route(
        method="POST",
        path="/tasks",
        handler=add_task,
        summary="Create a task",
        tag=TASKS,
        body=TaskIn,
        returns=Task,
        status=201,
        location=lambda t: f"/tasks/{t.id}",
        exposes=("tasks.add",),
    ),
    Route(
        method="POST",
        path="/tasks/for-contacts",
        handler=add_tasks_for_contacts,
        summary="Create the same task for each of several contacts",
        description="One transaction: when any contact is not one you may read, nothing is "
        "created (422 naming `contacts`).",
        tag=TASKS,
        body=TasksForContactsIn,
        returns=Items(Task),
        status=201,
        exposes=("tasks.add_for_contacts",),
    ),
    Route(
        method="GET",
        path="/tasks/calendar.ics",
        handler=get_task_calendar,
        summary="Your open tasks as an iCalendar feed",
        tag=TASKS,
        returns=Download,
        download_type="text/calendar",
        exposes=("tasks.calendar",),
    ),
    Route(
        method="GET",
        path=TASK,
        handler=get_task,
        summary="Read a task",
        tag=TASKS,
        returns=Task,
        exposes=("tasks.get",),
    ),
    Route(
        method="PATCH",
        path=TASK,
        handler=update_task,
        summary="Change fields of a task",
        tag=TASKS,
        body=TaskPatch,
        returns=Task,
        current=get_task,
        exposes=("tasks.update",),
    ),
    Route(
        method="DELETE",
        path=TASK,
        handler=delete_task,
        summary="Delete a task",
        tag=TASKS,
        current=get_task,
        exposes=("tasks.delete",),
    ),
    Route(
        method="POST",
        path=TASK + "/close",
        handler=close_task,
        summary="Close a task (a linked record gets a history event)",
        tag=TASKS,
        returns=Task,
        exposes=("tasks.close",),
    ),
    Route(
        method="POST",
        path=TASK + "/reopen",
        handler=reopen_task,
        summary="Reopen a closed task",
        tag=TASKS,
        returns=Task,
        exposes=("tasks.reopen",),
    ),
    Route(
        method="GET",
        path="/history-events",
        handler=list_history_events,
        summary="List the history events you may read, newest first",
        description="Filters combine with AND; `contact`, `opportunity`, `case` and "
        "`category` are ids, `author` a user id, `happened_from` inclusive and "
        "`happened_to` exclusive, `text` matches the content. Sorts: date, created (`-` for "
        "descending; default `-date`). `count=true` adds the total.",
        tag=HISTORY,
        query=HistoryQuery,
        returns=Listing(HistoryEvent),
        exposes=("history.list", "history.count"),
    ),
    Route(
        method="POST",
        path="/history-events",
        handler=add_history_event,
        summary="Record a history event",
        tag=HISTORY,
        body=HistoryEventIn,
        returns=HistoryEvent,
        status=201,
        location=lambda e: f"/history-events/{e.id}",
        exposes=("history.add",),
    ),
    Route(
        method="GET",
        path=EVENT,
        handler=get_history_event,
        summary="Read a history event with its files",
        tag=HISTORY,
        returns=HistoryEvent,
        exposes=("history.get",),
    ),
    Route(
        method="PATCH",
        path=EVENT,
        handler=update_history_event,
        summary="Change a history event's content, category or time",
        tag=HISTORY,
        body=HistoryEventPatch,
        returns=HistoryEvent,
        current=get_history_event,
        exposes=("history.update",),
    ),
    Route(
        method="DELETE",
        path=EVENT,
        handler=delete_history_event,
        summary="Delete a history event with its files",
        tag=HISTORY,
        current=get_history_event,
        exposes=("history.delete",),
    ),
    Route(
        method="POST",
        path=EVENT + "/files",
        handler=attach_history_file,
        summary="Attach a file to a history event (multipart field `file`)",
        description="The type is told from the bytes, never from the name; empty, too large "
        "and unaccepted files are refused (422) and nothing is stored.",
        tag=HISTORY,
        upload=True,
        returns=HistoryFile,
        status=201,
        location=lambda f: f"/history-events/{f.event_id}/files/{f.id}",
        exposes=("history.attach",),
    ),
    Route(
        method="GET",
        path=FILE,
        handler=download_history_file,
        summary="Download a file of a history event (always as an attachment)",
        tag=HISTORY,
        returns=Download,
        download_type="*/*",
        exposes=("history.open_file",),
    ),
    Route(
        method="DELETE",
        path=FILE,
        handler=remove_history_file,
        summary="Remove a file from a history event",
        tag=HISTORY,
        exposes=("history.remove_file",),
    ),
]
