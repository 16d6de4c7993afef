"""``manage.py opencrm_report NAME --out FILE --user USERNAME``: ``opencrm report`` on the
project's CRM, acting as a Django user (a CRM admin, through the user adapter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opencrm.cli import CommandFailed, check_report_target, report_to_file
from opencrm.errors import OpenCRMError
from opencrm_django.runtime import get_crm, user_adapter


class Command(BaseCommand):
    help = (
        "Build the report NAME (sales_by_managers, sales_forecast, sales_funnel, "
        "contacts_by_managers, tasks_by_managers, opportunities_by_managers, "
        "invoices_by_managers, voip_by_managers, summary_for_the_period, "
        "summary_at_this_moment, or a plugin's) as a Django user who is a CRM admin, and "
        "write it to --out: .xlsx with charts, or .json. The file is not kept in the CRM and "
        "appears only once it is complete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME", help="the report's name")
        parser.add_argument(
            "--period", help="one of the report's periods, e.g. this_month (default: its first)"
        )
        parser.add_argument(
            "--manager",
            action="append",
            default=[],
            metavar="USERNAME",
            help="only this manager, a Django username (repeat for several; default: everyone)",
        )
        parser.add_argument(
            "--out", required=True, metavar="FILE", help="where to write it: FILE.xlsx or .json"
        )
        parser.add_argument(
            "--user",
            required=True,
            metavar="USERNAME",
            help="act as this Django user (a CRM admin, as the user adapter maps them)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = Path(options["out"])
        try:
            check_report_target(target)
            account = self._user(options["user"], "user")
            if not account.is_active:
                raise CommandFailed(f"the user {options['user']!r} is not active")
            adapter = user_adapter()
            managers = [
                adapter.to_crm_user(self._user(m, "manager")).id for m in options["manager"]
            ]
            summary = report_to_file(
                get_crm().session(adapter.to_crm_user(account)),
                target,
                options["name"],
                period=options["period"],
                managers=managers,
            )
        except (CommandFailed, OpenCRMError) as exc:
            raise CommandError(f"opencrm_report: {exc}") from None
        self.stdout.write(summary)

    def _user(self, username: str, what: str) -> Any:
        model = get_user_model()
        try:
            return model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandFailed(f"no {what} {username!r}") from None
