"""Task reminders (S3): claim every reminder that has come due, exactly once.

Run by :meth:`opencrm.CRM.due_reminders` (the ``opencrm reminders`` command calls it from
cron). The claim is one transaction: a single ``UPDATE ... RETURNING`` marks the tasks as
reminded, so two app servers running it at the same moment never both get a task. Each
claimed task yields a ``task.reminder`` event; the built-in notifications send the message
to the responsible once the claim has committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from opencrm.core.entities.activities import Task
from opencrm.core.services import _activities as act
from opencrm.core.services._base import Service
from opencrm.core.users import User

__all__ = ["LATE_LIMIT", "SYSTEM_USER", "claim_due_reminders"]

#: The actor of what opencrm does on its own (reminders); never a host user.
SYSTEM_USER = User(id="opencrm", name="opencrm", crm_admin=True)
#: Reminders of tasks due longer ago than this are dropped, not sent (a server that was down
#: for a week does not flood anyone); the reference uses a day.
LATE_LIMIT = dt.timedelta(days=1)


def claim_due_reminders(service: Service, now: dt.datetime | None = None) -> Sequence[Task]:
    """Mark the open tasks whose reminder time (due time minus alert offset) is at or before
    ``now`` and that were not reminded yet; emit ``task.reminder`` for each; return them."""
    with service._tx() as tx:
        when = tx.now if now is None else act.clean_when(now, "now")
        claimed = tx.uow.tasks.claim_reminders(when, when - LATE_LIMIT)
        if not claimed:
            return claimed
        titles = {item.id: item.title for item in tx.uow.lists.list(act.ListKind.TASK_CATEGORY)}
        # Names of what the tasks are linked to, each record read once for the whole batch.
        wanted = {t.contact_id for t in claimed if t.contact_id is not None}
        names = {c.id: c.display_name for c in tx.uow.contacts.get_many(wanted)}
        deals: dict[tuple[int | None, int | None], tuple[str, str]] = {}
        for task in claimed:
            link = (task.opportunity_id, task.case_id)
            if link not in deals:
                deals[link] = act.deal_title(tx, *link)
            opportunity, case = deals[link]
            tx.emit(
                "task.reminder",
                task,
                data={
                    "responsible": task.responsible,
                    "category": titles.get(task.category_id, ""),
                    "due_at": task.due_at.isoformat(),
                    "contact": names.get(task.contact_id, "") if task.contact_id else "",
                    "opportunity": opportunity,
                    "case": case,
                },
            )
        return claimed
