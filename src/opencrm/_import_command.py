"""``opencrm import``: a CSV or XLSX file into a CRM, with a progress bar and a report."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from opencrm.core.imports import ImportProgress, ImportReport, OnDuplicate
from opencrm.core.services.imports import EXPORT_MAPPING, KINDS
from opencrm.core.users import User
from opencrm.crm import CRM
from opencrm.errors import ValidationError
from opencrm.io import CsvRows, open_rows

#: What ``opencrm import`` imports, and what it may do with a duplicate.
IMPORT_KINDS = KINDS
ON_DUPLICATE = tuple(o.value for o in OnDuplicate)

__all__ = [
    "IMPORT_KINDS",
    "ON_DUPLICATE",
    "add_parser",
    "import_file",
    "parse_mapping",
    "print_report",
    "write_issues",
]

#: Issues printed at the end; ``--issues FILE`` writes them all.
SHOWN_ISSUES = 20


def add_parser(commands: Any, load_crm: Callable[[str], CRM]) -> None:
    """Register ``import`` on the ``opencrm`` command's subparsers."""
    cmd = commands.add_parser(
        "import",
        help="import contacts from a CSV or XLSX file (dry run first, then for real)",
        description="Import the rows of a CSV or XLSX file as contacts, acting as --user: "
        "every row is checked as the services check it; bad rows are reported with their "
        "row number, column and reason and never stop the import. Rows matching a stored "
        "contact by e-mail or phone (companies: also by name) are skipped, updated or "
        "created per --on-duplicate. A progress bar shows on stderr; the report is "
        "printed at the end.",
    )
    cmd.add_argument("kind", choices=KINDS, help="what the rows are")
    cmd.add_argument("file", type=Path, help="the CSV or XLSX file")
    where = cmd.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="URL", help="the CRM's database URL")
    where.add_argument(
        "--app",
        metavar="MODULE:NAME",
        help="the host application's CRM (a CRM, or a function returning one)",
    )
    cmd.add_argument("--user", required=True, metavar="ID", help="the importing user's id")
    cmd.add_argument(
        "--admin",
        action="store_true",
        help="with --db: act as a CRM admin (with --app the CRM's user directory decides)",
    )
    cmd.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN[,COLUMN...]",
        help="map a field to a column (repeat; e.g. email=E-mail Address, "
        "address:home.city=Home City, custom:Segment=Segment); --map export reads a file "
        "opencrm exported, by its headers",
    )
    cmd.add_argument(
        "--map-file",
        type=Path,
        metavar="JSON",
        help='a JSON file holding the mapping (and optionally "defaults"), for complex '
        "mappings; --map entries are added to it",
    )
    cmd.add_argument("--dry-run", action="store_true", help="write nothing; report what would")
    cmd.add_argument(
        "--on-duplicate",
        default=OnDuplicate.SKIP.value,
        metavar="|".join(o.value for o in OnDuplicate),
        help="what to do with a row matching a stored contact (default: skip)",
    )
    cmd.add_argument(
        "--atomic", action="store_true", help="all or nothing: commit only if no row is bad"
    )
    cmd.add_argument("--encoding", help="the CSV file's encoding (default: detected)")
    cmd.add_argument("--delimiter", help="the CSV delimiter (default: sniffed)")
    cmd.add_argument("--quote", help="the CSV quote character (default: sniffed)")
    cmd.add_argument("--sheet", help="the XLSX sheet (default: the first)")
    cmd.add_argument(
        "--tag-separator", default=",", help="what separates tags in a cell (default: ,)"
    )
    cmd.add_argument("--managers", help="comma-separated user ids managing new records")
    cmd.add_argument("--access", metavar="private|read|read_write", help="who may see new records")
    cmd.add_argument("--tags", help="comma-separated tags added to every imported record")
    cmd.add_argument(
        "--no-create-missing",
        action="store_true",
        help="reject rows naming an unknown type or temperature instead of creating it",
    )
    cmd.add_argument("--issues", type=Path, metavar="CSV", help="write every row issue here")
    cmd.set_defaults(run=lambda args, out: _run(args, out, load_crm))


def parse_mapping(
    entries: Sequence[str],
    map_file: Path | None = None,
    *,
    managers: str | None = None,
    access: str | None = None,
    tags: str | None = None,
) -> tuple[dict[str, Any] | str, dict[str, Any]]:
    """The mapping and defaults of ``--map`` entries (``FIELD=COLUMN[,COLUMN...]``, or the
    single entry ``export``: the file is an opencrm export), a ``--map-file`` and the
    comma-separated ``--managers``, ``--access`` and ``--tags``; ValidationError naming the
    option that is wrong."""
    defaults: dict[str, Any] = {}
    if managers:
        defaults["managers"] = [m.strip() for m in managers.split(",") if m.strip()]
    if access:
        defaults["access"] = access
    if tags:
        defaults["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    if list(entries) == [EXPORT_MAPPING] and map_file is None:
        return EXPORT_MAPPING, defaults
    if EXPORT_MAPPING in entries:
        raise ValidationError({"--map": "export reads our export by its headers: give it alone"})
    mapping: dict[str, Any] = {}
    if map_file is not None:
        try:
            loaded = json.loads(map_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError({"--map-file": f"cannot be read as JSON ({exc})"}) from None
        if not isinstance(loaded, dict):
            raise ValidationError({"--map-file": "must hold a JSON object"})
        if "mapping" in loaded:
            mapping.update(loaded["mapping"])
            defaults.update(loaded.get("defaults", {}))
        else:
            mapping.update(loaded)
    for entry in entries:
        field, sep, columns = entry.partition("=")
        if not sep or not field or not columns:
            raise ValidationError({"--map": f"must be FIELD=COLUMN, not {entry!r}"})
        name, dot, part = field.partition(".")
        value: Any = columns.split(",") if "," in columns else columns
        if dot:  # an address part: address:home.city=Home City
            mapping.setdefault(name, {})[part] = value
        else:
            mapping[field] = value
    if not mapping:
        raise ValidationError({"--map": "give the mapping with --map or --map-file"})
    return mapping, defaults


def _run(args: argparse.Namespace, out: TextIO, load_crm: Callable[[str], CRM]) -> int:
    mapping, defaults = parse_mapping(
        args.map, args.map_file, managers=args.managers, access=args.access, tags=args.tags
    )
    crm = load_crm(args.app) if args.app else CRM.open(args.db)
    try:
        user = crm.directory.get(args.user) if crm.directory is not None else None
        if user is None:
            if crm.directory is not None:
                raise ValidationError({"--user": f"the CRM's directory has no user {args.user!r}"})
            user = User(id=args.user, name=args.user, crm_admin=args.admin)
        reader: dict[str, str] = {}
        for name, option in (
            ("sheet", "sheet"),
            ("encoding", "encoding"),
            ("delimiter", "delimiter"),
            ("quote", "quotechar"),
        ):
            if getattr(args, name):
                reader[option] = getattr(args, name)
        report = import_file(
            crm.session(user),
            args.file,
            args.kind,
            mapping,
            defaults=defaults,
            reader=reader,
            on_duplicate=args.on_duplicate,
            dry_run=args.dry_run,
            atomic=args.atomic,
            create_missing=not args.no_create_missing,
            tag_separator=args.tag_separator,
            progress_to=sys.stderr,
        )
    finally:
        crm.close()
    print_report(report, out)
    if args.issues is not None:
        write_issues(report, args.issues)
    return 1 if args.atomic and not args.dry_run and not report.committed else 0


def import_file(
    session: Any,
    path: Path,
    kind: str,
    mapping: Mapping[str, Any] | str,
    *,
    defaults: Mapping[str, Any] | None = None,
    reader: Mapping[str, str] | None = None,
    progress_to: TextIO | None = None,
    **options: Any,
) -> ImportReport:
    """Import the CSV or XLSX file at ``path`` as ``session``'s user (what ``opencrm import``
    and Django's ``manage.py opencrm_import`` run): ``reader`` holds the reader's options
    (``encoding``, ``delimiter``, ``quotechar``, ``sheet``), ``options`` those of
    ``session.imports.run``. A progress bar (bytes of a CSV read, rows, rows per second) is
    drawn on ``progress_to`` when it is a terminal (None, the default, draws none)."""
    rows = open_rows(path, **dict(reader or {}))
    size = os.path.getsize(path)
    stderr = Console(file=progress_to if progress_to is not None else io.StringIO())
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=progress_to is None or not stderr.is_terminal,  # no bar in logs, pipes
    ) as bar:
        csv_rows = rows if isinstance(rows, CsvRows) else None
        task = bar.add_task(
            "dry run" if options.get("dry_run") else "importing",
            total=size if csv_rows is not None else None,
            rows=0,
            rate=0.0,
        )

        def progress(p: ImportProgress) -> None:
            done = csv_rows.bytes_read if csv_rows is not None else None
            bar.update(task, completed=done, rows=p.rows, rate=p.rows_per_second)

        report: ImportReport = session.imports.run(
            kind, rows, mapping, defaults=defaults, progress=progress, **options
        )
    return report


def write_issues(report: ImportReport, path: Path) -> None:
    """Every row issue of ``report`` as CSV (row, column, reason, outcome)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "column", "reason", "outcome"])
        for issue in report.issues:
            writer.writerow([issue.row, issue.column or "", issue.reason, issue.outcome])


def print_report(report: ImportReport, out: TextIO) -> None:
    """The report as ``opencrm import`` prints it: the counts, then the first issues."""
    console = Console(file=out, width=100, highlight=False)
    title = "Dry run: nothing was written" if report.dry_run else "Import finished"
    if report.cancelled:
        title = f"Import cancelled after row {report.stopped_at}"
    elif not report.dry_run and not report.committed:
        title = "All or nothing: a row was rejected, nothing was written"
    console.print(title, style="bold")
    table = Table(show_header=False)
    for name, value in report.counts().items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    console.print(table)
    if report.issues:
        console.print("Rows with issues:", style="bold")
        issues = Table("row", "column", "reason", "outcome")
        for issue in report.issues[:SHOWN_ISSUES]:
            issues.add_row(str(issue.row), issue.column or "-", issue.reason, issue.outcome)
        console.print(issues)
        more = len(report.issues) - SHOWN_ISSUES + report.issues_left_off
        if more > 0:
            console.print(f"... and {more:,} more (--issues FILE writes them all)")
