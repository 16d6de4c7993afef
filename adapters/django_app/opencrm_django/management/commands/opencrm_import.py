"""``manage.py opencrm_import KIND FILE --user USERNAME --map ...``: ``opencrm import`` on the
project's CRM, acting as a Django user (their rights, through the user adapter)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opencrm.cli import (
    IMPORT_KINDS,
    ON_DUPLICATE,
    import_file,
    parse_mapping,
    print_report,
    write_issues,
)
from opencrm.errors import OpenCRMError
from opencrm_django.runtime import get_crm, user_adapter


class Command(BaseCommand):
    help = (
        "Import the rows of a CSV or XLSX FILE as KIND (contacts), acting as a Django user: "
        "bad rows are reported with their row number, column and reason and never stop the "
        "import; rows matching a stored contact are skipped, updated or created per "
        "--on-duplicate. --map export reads a file opencrm exported. The report is printed "
        "at the end; the command fails when an --atomic import wrote nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=IMPORT_KINDS, help="what the rows are")
        parser.add_argument("file", help="the CSV or XLSX file")
        parser.add_argument(
            "--user",
            required=True,
            metavar="USERNAME",
            help="act as this Django user (their CRM rights, as the user adapter maps them)",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN[,COLUMN...]",
            help="map a field to a column, repeated (as for opencrm import); "
            "--map export reads an opencrm export",
        )
        parser.add_argument("--map-file", metavar="JSON", help="the mapping as a JSON file")
        parser.add_argument("--dry-run", action="store_true", help="write nothing; report")
        parser.add_argument(
            "--on-duplicate",
            default="skip",
            choices=ON_DUPLICATE,
            help="what to do with a row matching a stored contact (default: skip)",
        )
        parser.add_argument("--atomic", action="store_true", help="all or nothing")
        parser.add_argument("--encoding", help="the CSV file's encoding (default: detected)")
        parser.add_argument("--delimiter", help="the CSV delimiter (default: sniffed)")
        parser.add_argument("--quote", help="the CSV quote character (default: sniffed)")
        parser.add_argument("--sheet", help="the XLSX sheet (default: the first)")
        parser.add_argument("--tag-separator", default=",", help="between tags in a cell")
        parser.add_argument("--managers", help="comma-separated user ids managing new records")
        parser.add_argument("--access", help="private, read or read_write for new records")
        parser.add_argument("--tags", help="comma-separated tags added to every record")
        parser.add_argument(
            "--no-create-missing",
            action="store_true",
            help="reject rows naming an unknown type or temperature instead of creating it",
        )
        parser.add_argument("--issues", metavar="CSV", help="write every row issue here")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        try:
            account = model._default_manager.get_by_natural_key(options["user"])
        except model.DoesNotExist:
            raise CommandError(f"opencrm_import: no user {options['user']!r}") from None
        if not account.is_active:
            raise CommandError(f"opencrm_import: the user {options['user']!r} is not active")
        reader = {
            name: options[key]
            for name, key in (
                ("encoding", "encoding"),
                ("delimiter", "delimiter"),
                ("quotechar", "quote"),
                ("sheet", "sheet"),
            )
            if options[key]
        }
        try:
            mapping, defaults = parse_mapping(
                options["map"],
                Path(options["map_file"]) if options["map_file"] else None,
                managers=options["managers"],
                access=options["access"],
                tags=options["tags"],
            )
            report = import_file(
                get_crm().session(user_adapter().to_crm_user(account)),
                Path(options["file"]),
                options["kind"],
                mapping,
                defaults=defaults,
                reader=reader,
                on_duplicate=options["on_duplicate"],
                dry_run=options["dry_run"],
                atomic=options["atomic"],
                create_missing=not options["no_create_missing"],
                tag_separator=options["tag_separator"],
                progress_to=None if options["quiet"] else sys.stderr,
            )
        except OpenCRMError as exc:
            raise CommandError(f"opencrm_import: {exc}") from None
        except OSError as exc:
            raise CommandError(f"opencrm_import: {options['file']}: {exc.strerror}") from None
        printed = io.StringIO()
        print_report(report, printed)
        self.stdout.write(printed.getvalue(), ending="")
        if options["issues"]:
            write_issues(report, Path(options["issues"]))
        if options["atomic"] and not options["dry_run"] and not report.committed:
            raise CommandError("opencrm_import: a row was rejected, so nothing was written")
