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

from opencrm.core.entities.activities import ALERT_OFFSETS, Task
from opencrm.core.services import _activities as act
from opencrm.core.services._base import Service
from opencrm.core.users import User
from opencrm.errors import ValidationError

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
        try:  # the claim looks back up to the late limit plus the longest alert offset
            since = when - LATE_LIMIT
            since - dt.timedelta(minutes=max(ALERT_OFFSETS))
        except OverflowError:
            raise ValidationError({"now": "is out of range"}) from None
        claimed = tx.uow.tasks.claim_reminders(when, since)
        if not claimed:
            return claimed
        titles = {item.id: item.title for item in tx.uow.lists.list(act.ListKind.TASK_CATEGORY)}
        for task in claimed:
            recipient = act.reader(service._ctx.directory, task.responsible)
            tx.emit(
                "task.reminder",
                task,
                data={
                    "responsible": task.responsible,
                    "category": titles.get(task.category_id, ""),
                    "due_at": task.due_at.isoformat(),
                    **act.names_for(tx, task, recipient),
                },
            )
        return claimed
