"""``manage.py opencrm_reminders [--at ISO]``: ``opencrm reminders`` on the project's CRM
(its database alias, the user adapter's directory and ``OPENCRM_CRM_OPTIONS``' notifier)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opencrm.cli import CommandFailed, parse_at, send_due_reminders
from opencrm.errors import OpenCRMError
from opencrm_django.runtime import get_crm


def _remedy(option: str) -> str:
    if option == "directory":
        return "OPENCRM_USER_ADAPTER's directory()"
    return f"OPENCRM_CRM_OPTIONS[{option!r}]"


class Command(BaseCommand):
    help = (
        "Claim the task reminders that have come due and mail each one to the task's "
        "responsible (run it every minute from cron; several servers may run it at once, "
        "each reminder is still sent once). Reminders of tasks due more than a day ago are "
        "dropped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--at",
            metavar="ISO-DATETIME",
            help="claim what is due at this time, with its UTC offset, e.g. "
            "2031-03-14T09:30:00+00:00 (default: now, by the CRM's clock)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            at = None if options["at"] is None else parse_at(options["at"])
            summary = send_due_reminders(get_crm(), at, source="opencrm_reminders", remedy=_remedy)
        except (CommandFailed, OpenCRMError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary)
