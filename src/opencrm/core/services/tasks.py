"""Tasks (S3): things to do by a due time, for a responsible user, optionally linked to a
contact and an opportunity or case; reminders and a calendar feed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from opencrm.core import contact_data as cd
from opencrm.core import permissions as policy
from opencrm.core._inputs import clean_bool, clean_ids
from opencrm.core.activities_query import TASK_SORTS, TaskFilter
from opencrm.core.entities.activities import ALERT_OFFSETS, DEFAULT_ALERT, HistoryEvent, Task
from opencrm.core.entities.contacts import Contact
from opencrm.core.entities.lists import ListKind
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _activities as act
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.errors import NotFound, PermissionDenied, ValidationError

__all__ = ["TaskService"]

_FIELDS = frozenset(
    {
        "title",
        "due",
        "category",
        "responsible",
        "description",
        "contact",
        "opportunity",
        "case",
        "alert",
    }
)
_FILTERS = frozenset(
    {
        "text",
        "responsible",
        "category",
        "closed",
        "due_from",
        "due_to",
        "contact",
        "opportunity",
        "case",
    }
)
_NO_FILTER = TaskFilter()
#: The most tasks one calendar feed carries: the upcoming ones first, then the latest overdue.
CALENDAR_LIMIT = 2000


class TaskService:
    """Tasks as the acting user may see and change them; ``session.tasks``.

    A task is readable by CRM admins, its responsible and its creator, and by whoever may
    read every record it is linked to (so by every CRM user when it is linked to nothing);
    only admins, the responsible and the creator edit, close, reopen or delete it. An
    unreadable task is :class:`~opencrm.errors.NotFound`.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- create -------------------------------------------------------------------------

    def add(self, title: str, due: Any, *, notify: bool = True, **fields: Any) -> Task:
        """Create an open task due at ``due`` (a timezone-aware datetime).

        Fields: ``category`` (a task category, its id or title; default the first one),
        ``responsible`` (a user id or User; default the actor), ``description``,
        ``contact``, ``opportunity`` or ``case`` (records or ids the actor may read),
        ``alert`` (minutes before ``due`` to remind the responsible: one of 0 (never), 5,
        15, 30, 60, 120, 1440; default 1440). With ``notify`` (the default) the responsible
        is told, unless they created it themselves.
        """
        rec.check_names(fields, _FIELDS - {"title", "due"}, "a task")
        notify = clean_bool(notify, "notify")
        with self._s._tx() as tx:
            task = self._new(tx, {"title": title, "due": due, **fields})
            stored = tx.uow.tasks.add(task)
            self._created(tx, stored, notify)
            return stored

    def add_for_contacts(
        self,
        contacts: Iterable[Contact | int],
        title: str,
        due: Any,
        *,
        notify: bool = True,
        **fields: Any,
    ) -> list[Task]:
        """Create the same task for each contact of a selection (the reference's group
        action), in one transaction: every contact must be one the actor may read, else
        nothing is created (:class:`~opencrm.errors.ValidationError` naming the ids)."""
        rec.check_names(fields, _FIELDS - {"title", "due", "contact"}, "a task")
        notify = clean_bool(notify, "notify")
        ids = clean_ids(contacts, "contacts", Contact)
        with self._s._tx() as tx:
            if not ids:
                raise ValidationError({"contacts": "name at least one contact"})
            found = {c.id: c for c in tx.uow.contacts.get_many(ids)}
            refused = [
                i for i in ids if i not in found or not policy.can_read_contact(tx.actor, found[i])
            ]
            if refused:
                listed = ", ".join(str(i) for i in refused)
                raise ValidationError({"contacts": f"no contact you may read with id {listed}"})
            return self._create_for(tx, ids, title, due, notify, fields)

    def _create_for(
        self,
        tx: Tx,
        contact_ids: Sequence[int],
        title: str,
        due: Any,
        notify: bool,
        fields: Mapping[str, Any],
    ) -> list[Task]:
        """The same task for each of ``contact_ids`` (already checked by the caller)."""
        rec.check_names(fields, _FIELDS - {"title", "due", "contact"}, "a task")
        notify = clean_bool(notify, "notify")
        template = self._new(tx, {"title": title, "due": due, **fields})
        created = []
        for cid in contact_ids:
            stored = tx.uow.tasks.add(attrs.evolve(template, contact_id=cid))
            self._created(tx, stored, notify)
            created.append(stored)
        return created

    # --- read ---------------------------------------------------------------------------

    def get(self, task_id: int) -> Task:
        with self._s._tx(write=False) as tx:
            return self._readable(tx, task_id)

    def list(
        self,
        *,
        sort: str = "due",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Task]:
        """One page of the tasks the user may read.

        Filters: ``text`` (in the title), ``responsible`` (a user id), ``category``,
        ``closed`` (True/False), ``due_from`` (inclusive) and ``due_to`` (exclusive)
        datetimes, ``contact``, ``opportunity``, ``case`` (one the user may not read is
        NotFound). Sorts: ``due``, ``title``, ``category`` (in list order), ``contact`` (by
        name; tasks without one first), ``created``; ``-`` for descending.
        """
        page = PageRequest.build(sort, limit, after, TASK_SORTS)
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            key = tx.cursor_key("tasks")
            items, cursor = tx.uow.tasks.list(
                policy.activity_scope(tx.actor), where, key.open(page)
            )
            return key.page(items, cursor)

    def count(self, **filters: Any) -> int:
        with self._s._tx(write=False) as tx:
            return tx.uow.tasks.count(policy.activity_scope(tx.actor), self._filter(tx, filters))

    def calendar(self) -> bytes:
        """The actor's open tasks as an iCalendar (RFC 5545) feed: one VTODO per task with
        its due time, and a VALARM at the reminder time when the task has one."""
        from opencrm.core.calendar import tasks_calendar

        with self._s._tx(write=False) as tx:
            open_tasks = tx.uow.tasks.open_for(tx.actor.id, CALENDAR_LIMIT, tx.now)
            titles = {i.id: i.title for i in tx.uow.lists.list(ListKind.TASK_CATEGORY)}
            instance = str(tx.uow.settings.get("instance_id") or "opencrm")
        return tasks_calendar(open_tasks, titles, owner=tx.actor, instance=instance)

    # --- change -------------------------------------------------------------------------

    def update(self, task_id: int, *, notify: bool = True, **changes: Any) -> Task:
        """Change fields (names as for :meth:`add`). A new responsible is told when
        ``notify``; a changed due time or alert makes the reminder due again."""
        rec.check_names(changes, _FIELDS, "a task")
        notify = clean_bool(notify, "notify")
        with self._s._tx() as tx:
            before = self._editable(tx, task_id)
            after = self._apply(tx, before, changes)
            if after == before:
                return before
            rearm = (after.due_at, after.alert_minutes) != (before.due_at, before.alert_minutes)
            if rearm:
                after = attrs.evolve(after, reminded_at=None)
            after = attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
            stored = tx.uow.tasks.update(after, rearm=rearm)
            tx.emit("task.updated", stored, before=before, after=stored)
            if notify and stored.responsible != before.responsible:
                self._assigned(tx, stored)
            return stored

    def close(self, task_id: int) -> Task:
        """Close the task; a task linked to a contact, opportunity or case gets a "Task
        closed" event in their history. Closing a closed task changes nothing."""
        with self._s._tx() as tx:
            before = self._editable(tx, task_id)
            if before.closed:
                return before
            after = attrs.evolve(
                before, closed=True, closed_at=tx.now, updated_by=tx.actor.id, updated_at=tx.now
            )
            stored = tx.uow.tasks.update(after)
            tx.emit("task.closed", stored, before=before, after=stored)
            if any(
                x is not None for x in (stored.contact_id, stored.opportunity_id, stored.case_id)
            ):
                event = tx.uow.history.add(
                    HistoryEvent(
                        id=0,
                        content=stored.title,
                        category_id=act.system_category(tx, act.TASK_CLOSED).id,
                        contact_id=stored.contact_id,
                        opportunity_id=stored.opportunity_id,
                        case_id=stored.case_id,
                        task_id=stored.id,
                        happened_at=tx.now,
                        created_by=tx.actor.id,
                        created_at=tx.now,
                        updated_by=tx.actor.id,
                        updated_at=tx.now,
                    )
                )
                tx.emit(
                    "history.created", event, after=event, data=act.created_data(tx, event, [], [])
                )
            return stored

    def reopen(self, task_id: int) -> Task:
        """Reopen a closed task. Its reminder is armed again: sent by the next
        :meth:`~opencrm.CRM.due_reminders` run whose time has reached it, unless the task was
        due more than a day before that run."""
        with self._s._tx() as tx:
            before = self._editable(tx, task_id)
            if not before.closed:
                return before
            after = attrs.evolve(
                before,
                closed=False,
                closed_at=None,
                reminded_at=None,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            stored = tx.uow.tasks.update(after, rearm=True)
            tx.emit("task.reopened", stored, before=before, after=stored)
            return stored

    def delete(self, task_id: int) -> None:
        with self._s._tx() as tx:
            found = self._editable(tx, task_id)
            tx.uow.tasks.delete(found.id)
            tx.emit("task.deleted", found, before=found)

    # --- internals ----------------------------------------------------------------------

    def _readable(self, tx: Tx, task_id: object) -> Task:
        tid = rec.record_id(task_id, "task_id", Task)
        found = tx.uow.tasks.get(tid)
        if found is None or not policy.can_read_task(
            tx.actor, found.responsible, found.created_by, act.parents_of(tx, found)
        ):
            raise NotFound("task", tid)
        return found

    def _editable(self, tx: Tx, task_id: object) -> Task:
        found = self._readable(tx, task_id)
        if not policy.can_edit_task(tx.actor, found.responsible, found.created_by):
            raise PermissionDenied("only a CRM admin, the responsible or the creator may do that")
        return found

    def _new(self, tx: Tx, values: Mapping[str, Any]) -> Task:
        values = dict(values)
        if "category" not in values or values["category"] is None:
            categories = tx.uow.lists.list(ListKind.TASK_CATEGORY)
            if not categories:  # pragma: no cover - the last category cannot be deleted
                raise ValidationError({"category": "there is no task category"})
            values["category"] = categories[0]
        values.setdefault("responsible", tx.actor.id)
        values.setdefault("alert", DEFAULT_ALERT)
        blank = Task(
            id=0,
            title="",
            category_id=0,
            due_at=tx.now,
            responsible=tx.actor.id,
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
        )
        return self._apply(tx, blank, values)

    def _apply(self, tx: Tx, task: Task, changes: Mapping[str, Any]) -> Task:
        check = rec.FieldChecker(changes)
        check("title", lambda v: cd.clean_name("title", v, required=True))
        check("due", lambda v: act.clean_when(v, "due"), to="due_at")
        check(
            "category", lambda v: act.category(tx, ListKind.TASK_CATEGORY, v).id, to="category_id"
        )
        check("responsible", self._responsible, to="responsible")
        check("description", lambda v: cd.clean_text("description", v))
        check("alert", _alert, to="alert_minutes")
        new = check.done()
        links = act.link_fields(
            tx,
            {k: changes[k] for k in ("contact", "opportunity", "case") if k in changes},
            act.Links(task.contact_id, task.opportunity_id, task.case_id),
        )
        result = attrs.evolve(task, **new, **links)  # type: ignore[arg-type]
        try:
            result.due_at - dt.timedelta(minutes=result.alert_minutes)
        except OverflowError:
            raise ValidationError({"due": "is out of range (its reminder time is)"}) from None
        return result

    def _responsible(self, value: object) -> str:
        if value is None:
            raise ValidationError({"responsible": "is required"})
        (found,) = self._s._managers([rec.user_id(value, "responsible")], "responsible")
        return found

    def _created(self, tx: Tx, task: Task, notify: bool) -> None:
        tx.emit("task.created", task, after=task)
        if notify:
            self._assigned(tx, task)

    def _assigned(self, tx: Tx, task: Task) -> None:
        """Tell the responsible that the task is theirs, unless they are the actor; linked
        records are named only when the responsible may read them."""
        if task.responsible == tx.actor.id:
            return
        category = tx.uow.lists.get(task.category_id)
        recipient = act.reader(self._s._ctx.directory, task.responsible)
        tx.emit(
            "task.assigned",
            task,
            data={
                "responsible": task.responsible,
                "category": category.title if category else "",
                "due_at": task.due_at.isoformat(),
                **act.names_for(tx, task, recipient),
            },
        )

    def _filter(self, tx: Tx, filters: Mapping[str, Any]) -> TaskFilter:
        if not filters:
            return _NO_FILTER  # the plain list, the one asked for most
        given = rec.given_filters(filters, _FILTERS)
        check = rec.FieldChecker(given)
        check("text", rec.text_filter)
        check("responsible", lambda v: rec.user_id(v, "responsible"))
        check(
            "category",
            lambda v: act.category(tx, ListKind.TASK_CATEGORY, v).id,
            to="category_id",
        )
        check("closed", lambda v: rec.clean_bool(v, "closed"))
        check("due_from", lambda v: act.clean_when(v, "due_from"))
        check("due_to", lambda v: act.clean_when(v, "due_to"))
        out = check.done()
        if "contact" in given:
            out["contact_id"] = rec.contact_filter(tx, given["contact"])
        if "opportunity" in given:
            out["opportunity_id"] = act.deal_filter(tx, "opportunity", given["opportunity"])
        if "case" in given:
            out["case_id"] = act.deal_filter(tx, "case", given["case"])
        return TaskFilter(**out)


def _alert(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in ALERT_OFFSETS:
        listed = ", ".join(str(v) for v in ALERT_OFFSETS)
        raise ValidationError({"alert": f"must be one of {listed} (minutes; 0 = never)"})
    return value
