"""The iCalendar (RFC 5545) feed of a user's open tasks, written with the ``icalendar``
library (escaping, line folding and VALARM done to the standard)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import icalendar

from opencrm.core.entities.activities import Task
from opencrm.core.users import User

__all__ = ["tasks_calendar"]

PRODID = "-//opencrm//tasks//EN"


def tasks_calendar(
    tasks: Iterable[Task],
    categories: Mapping[int, str],
    owner: User,
    *,
    instance: str = "opencrm",
) -> bytes:
    """One VTODO per task (UID stable across refreshes and unique across installations
    through ``instance``, the database's random id; DUE in UTC, the category, the
    description) with a display VALARM at the task's reminder time when it has one.

    The feed depends only on its arguments (no time of writing in it): unchanged tasks give the
    same bytes on every refresh, so a host may derive an ETag from them."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"opencrm tasks of {owner.name or owner.id}")
    for task in tasks:
        todo = icalendar.Todo()
        todo.add("uid", f"task-{task.id}.{instance}@opencrm")
        # RFC 5545 3.8.7.2: without a METHOD, DTSTAMP is when the task was last revised (not
        # when the feed was written), so an unchanged task reads the same on every refresh.
        todo.add("dtstamp", task.updated_at.astimezone(dt.UTC))
        todo.add("summary", task.title)
        todo.add("due", task.due_at.astimezone(dt.UTC))
        todo.add("created", task.created_at.astimezone(dt.UTC))
        todo.add("last-modified", task.updated_at.astimezone(dt.UTC))
        todo.add("status", "NEEDS-ACTION")
        category = categories.get(task.category_id)
        if category:
            todo.add("categories", [category])
        if task.description:
            todo.add("description", task.description)
        if task.alert_minutes:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", task.title)
            alarm.add(
                "trigger", -dt.timedelta(minutes=task.alert_minutes), parameters={"RELATED": "END"}
            )
            todo.add_component(alarm)
        cal.add_component(todo)
    feed: bytes = cal.to_ical()
    return feed
