"""``manage.py opencrm_export ENTITY --out FILE --user USERNAME``: ``opencrm export`` on the
project's CRM, acting as a Django user (their rights, through the user adapter)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opencrm.cli import CommandFailed, export_to_file, parse_filters
from opencrm.errors import OpenCRMError
from opencrm_django.runtime import get_crm, user_adapter


class Command(BaseCommand):
    help = (
        "Write the ENTITY list a Django user can see (contacts, opportunities, tasks, cases, "
        "invoices), filtered like the list of the session service, to --out as CSV or XLSX; "
        "--all writes the full export (CRM admins): a ZIP of one CSV per entity. The file "
        "appears only once it is complete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("entity", nargs="?", metavar="ENTITY", help="what to export")
        parser.add_argument("--all", action="store_true", help="the full export (a ZIP; admins)")
        parser.add_argument("--format", default=None, help="csv (default) or xlsx")
        parser.add_argument("--out", required=True, metavar="FILE", help="the file to write")
        parser.add_argument(
            "--user",
            required=True,
            metavar="USERNAME",
            help="act as this Django user (their CRM rights, as the user adapter maps them)",
        )
        parser.add_argument("--sort", help="a sort of the list, e.g. --sort=-created")
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a filter of the list, repeated (as for opencrm export)",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        try:
            account = model._default_manager.get_by_natural_key(options["user"])
        except model.DoesNotExist:
            raise CommandError(f"opencrm_export: no user {options['user']!r}") from None
        if not account.is_active:
            raise CommandError(f"opencrm_export: the user {options['user']!r} is not active")
        try:
            filters = parse_filters(options["filter"])
            if options["all"] and filters:
                raise CommandFailed("--all exports everything: --filter and --sort do not apply")
            summary = export_to_file(
                get_crm().session(user_adapter().to_crm_user(account)),
                Path(options["out"]),
                entity=options["entity"],
                every=options["all"],
                fmt=options["format"],
                sort=options["sort"],
                filters=filters,
                progress_to=None if options["quiet"] else sys.stderr,
            )
        except (CommandFailed, OpenCRMError) as exc:
            raise CommandError(f"opencrm_export: {exc}") from None
        self.stdout.write(summary)
