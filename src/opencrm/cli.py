"""The ``opencrm`` command: create and upgrade CRM databases, build a demo CRM.

    opencrm init [URL]                 create or upgrade a CRM database
    opencrm db upgrade URL             bring a database schema to this opencrm's version
    opencrm db current URL             show the schema revision of a database
    opencrm demo [--db PATH] ...       write a SQLite CRM full of realistic sample data
    opencrm reminders --app MOD:NAME   send the task reminders that have come due (cron)
    opencrm serve --demo | --app M:N   serve the REST API (the demo, or your Flask app)
    opencrm export ENTITY --out FILE   export a list as CSV or XLSX (--all: everything, a ZIP)
    opencrm import KIND FILE --map ...  import a CSV or XLSX file, with a dry run and a report
    opencrm report NAME --out F.xlsx   build a report (the ten, or a plugin's) into a file

Errors (a bad URL, a database that does not answer, a refused demo file, an --app that is not
a CRM or a Flask app) are reported on one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypeVar

import sqlalchemy as sa
from alembic.util.exc import CommandError

from opencrm import __version__, _import_command
from opencrm._import_command import (
    IMPORT_KINDS,
    ON_DUPLICATE,
    import_file,
    parse_mapping,
    print_report,
    write_issues,
)
from opencrm.core.entities.contacts import Company, Contact, Person
from opencrm.core.entities.lists import ListKind
from opencrm.core.money import minor_units
from opencrm.core.notify import can_deliver
from opencrm.core.users import User
from opencrm.crm import CRM, DEFAULT_URL
from opencrm.demo import (
    DEFAULT_CONTACTS,
    DEFAULT_SEED,
    DEMO_USERS,
    DemoSummary,
    NotADemoDatabase,
    create_demo_file,
    demo_directory,
)
from opencrm.errors import OpenCRMError, SchemaTooNew
from opencrm.storage.sqlalchemy.engine import (
    create_engine_for,
    current_revision,
    head_revision,
    known_revision,
    upgrade,
)

__all__ = [
    "IMPORT_KINDS",
    "ON_DUPLICATE",
    "CommandFailed",
    "import_file",
    "main",
    "parse_at",
    "parse_mapping",
    "print_report",
    "send_due_reminders",
    "write_issues",
]

DEFAULT_DEMO_FILE = "opencrm-demo.db"
EXIT_ERROR = 2


_T = TypeVar("_T")


class CommandFailed(Exception):
    """A problem to report on one line, without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``opencrm`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit
    code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    command: Callable[[argparse.Namespace, TextIO], int] = args.run
    try:
        return command(args, sys.stdout)
    except BrokenPipeError:  # `opencrm demo | head`: the reader left, stop quietly
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (CommandFailed, OpenCRMError) as exc:
        return _fail(str(exc))
    except sa.exc.ArgumentError as exc:
        return _fail(f"bad database URL: {exc}")
    except sa.exc.DBAPIError as exc:
        return _fail(f"database error: {exc.orig}")
    except sa.exc.SQLAlchemyError as exc:
        return _fail(f"database error: {exc}")
    except OSError as exc:  # files of the demo command
        return _fail(str(exc))


def _fail(message: str) -> int:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    print(f"opencrm: error: {lines[0] if lines else 'failed'}", file=sys.stderr)
    return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opencrm", description="Create, upgrade and explore opencrm databases."
    )
    parser.add_argument("--version", action="version", version=f"opencrm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser(
        "init",
        help="create or upgrade a CRM database",
        description="Create a CRM database, or bring an existing one to the current schema.",
    )
    init.add_argument(
        "url",
        nargs="?",
        default=DEFAULT_URL,
        metavar="URL",
        help=f"database URL (default: {DEFAULT_URL})",
    )
    init.set_defaults(run=_init)

    db = commands.add_parser("db", help="database schema (Alembic) commands")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    up = db_commands.add_parser(
        "upgrade",
        help="upgrade the schema to this opencrm's version",
        description="Upgrade an existing CRM database to this opencrm's schema. PostgreSQL "
        "databases are upgraded this way; CRM.open refuses an outdated one.",
    )
    up.add_argument("url", metavar="URL", help="e.g. postgresql+psycopg://user@host/db")
    up.set_defaults(run=_db_upgrade)
    current = db_commands.add_parser(
        "current", help="show the schema revision of a database and the newest one"
    )
    current.add_argument("url", metavar="URL")
    current.set_defaults(run=_db_current)

    demo = commands.add_parser(
        "demo",
        help="write a SQLite CRM full of sample data",
        description="Create (or replace) a SQLite CRM file with realistic sample data, built "
        "through the public API, and show what is in it.",
    )
    demo.add_argument(
        "--db",
        type=Path,
        default=Path(DEFAULT_DEMO_FILE),
        metavar="PATH",
        help=f"the file to write (default: ./{DEFAULT_DEMO_FILE})",
    )
    demo.add_argument(
        "--contacts",
        type=_positive,
        default=DEFAULT_CONTACTS,
        metavar="N",
        help=f"how many contacts, a quarter of them companies (default: {DEFAULT_CONTACTS})",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"random seed; the same seed gives the same data (default: {DEFAULT_SEED})",
    )
    demo.add_argument(
        "--force",
        action="store_true",
        help="replace PATH even when it is not an opencrm demo database",
    )
    demo.set_defaults(run=_demo)

    reminders = commands.add_parser(
        "reminders",
        help="send the task reminders that have come due (run it from cron)",
        description="Claim the task reminders that have come due and mail each one to the "
        "task's responsible, through the host application's CRM (its user directory and "
        "notifier). Run it every minute; several servers may run it at once, each reminder "
        "is still sent once. Reminders of tasks due more than a day ago are dropped.",
    )
    reminders.add_argument(
        "--app",
        required=True,
        metavar="MODULE:NAME",
        help="the host application's CRM: a CRM instance or a function without arguments "
        "returning one, e.g. myapp.crm:get_crm (MODULE may be in the current directory)",
    )
    reminders.add_argument(
        "--at",
        metavar="ISO-DATETIME",
        help="claim what is due at this time, with its UTC offset, e.g. "
        "2031-03-14T09:30:00+00:00 (default: now, by the CRM's clock)",
    )
    reminders.set_defaults(run=_reminders)

    _export_parser(commands)

    serve = commands.add_parser(
        "serve",
        help="serve the REST API over HTTP (the demo, or your Flask app)",
        description="Serve the opencrm REST API with a development web server. --demo serves "
        "a fresh demo CRM whose acting user is chosen per request with the "
        "X-OpenCRM-Demo-User header (default: admin); --app serves your own Flask app "
        "with opencrm mounted, whose user loader says who acts. Needs opencrm[serve]; "
        "deploy with gunicorn, not with this server.",
    )
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument(
        "--demo",
        action="store_true",
        help="serve a fresh demo CRM with sample data and demo users (never for real data)",
    )
    mode.add_argument(
        "--app",
        metavar="MODULE:NAME",
        help="your Flask app with opencrm mounted (OpenCRM(app, crm=..., user_loader=...)), "
        "or a function without arguments returning one, e.g. myapp.web:create_app",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="the port to listen on (default: 8000)"
    )
    serve.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="with --demo: write the demo CRM to this file, replacing an earlier demo there "
        "(default: a temporary file, removed on exit)",
    )
    serve.add_argument(
        "--contacts",
        type=_positive,
        default=DEFAULT_CONTACTS,
        metavar="N",
        help=f"with --demo: how many demo contacts (default: {DEFAULT_CONTACTS})",
    )
    serve.set_defaults(run=_serve)

    _import_command.add_parser(commands, _load_crm)
    report = commands.add_parser(
        "report",
        help="build a report into an .xlsx (or .json) file",
        description="Build one of the CRM's reports (sales_by_managers, sales_forecast, "
        "sales_funnel, contacts_by_managers, tasks_by_managers, opportunities_by_managers, "
        "invoices_by_managers, voip_by_managers, summary_for_the_period, "
        "summary_at_this_moment, or a plugin's) as a CRM admin and write it to --out: "
        ".xlsx with charts, or .json. The file is not kept in the CRM.",
    )
    report.add_argument("name", metavar="NAME", help="the report's name")
    where = report.add_mutually_exclusive_group()
    where.add_argument(
        "--db", metavar="URL", default=None, help=f"the CRM's database URL (default {DEFAULT_URL})"
    )
    where.add_argument(
        "--app",
        metavar="MODULE:NAME",
        help="the host application's CRM instead (a CRM or a function returning one)",
    )
    report.add_argument(
        "--period", help="one of the report's periods, e.g. this_month (default: its first)"
    )
    report.add_argument(
        "--manager",
        action="append",
        default=[],
        metavar="USER_ID",
        help="only this manager (repeat for several; default: everyone)",
    )
    report.add_argument(
        "--as",
        dest="acting",
        default="opencrm",
        metavar="USER_ID",
        help="the CRM admin the report is built as (default: opencrm)",
    )
    report.add_argument(
        "--out", required=True, metavar="FILE", help="where to write it: FILE.xlsx or FILE.json"
    )
    report.set_defaults(run=_report)
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --- init and db ---------------------------------------------------------------------------


def _shown(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _engine(url: str, *, must_exist: bool) -> sa.Engine:
    """An engine for ``url``; with ``must_exist``, a SQLite file that is not there is an error
    (connecting would create it)."""
    parsed = sa.make_url(url)
    if must_exist and parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        on_disk = database not in ("", ":memory:") and not parsed.query.get("uri")
        if on_disk and not Path(database).is_file():
            raise CommandFailed(
                f"no database file {database!r}; create one with `opencrm init {url}`"
            )
    try:
        return create_engine_for(url)
    except ValueError as exc:  # a backend opencrm does not support
        raise CommandFailed(str(exc)) from None
    except ImportError as exc:
        raise CommandFailed(
            f"no database driver for {parsed.drivername!r} ({exc}); for PostgreSQL install "
            "opencrm[postgresql] and use a postgresql+psycopg:// URL"
        ) from None


def _upgrade(engine: sa.Engine) -> tuple[str | None, str | None]:
    """Upgrade to head; return the revisions before and after."""
    before = current_revision(engine)
    try:
        upgrade(engine)
    except SchemaTooNew as exc:
        raise CommandFailed(f"schema upgrade failed: {exc}") from None
    except CommandError as exc:  # Alembic: e.g. a revision this opencrm does not know
        raise CommandFailed(
            f"schema upgrade failed: {exc} (is the database newer than this opencrm?)"
        ) from None
    except RuntimeError as exc:  # a migration found broken data
        raise CommandFailed(f"schema upgrade failed: {exc}") from None
    return before, current_revision(engine)


def _init(args: argparse.Namespace, out: TextIO) -> int:
    url: str = args.url
    engine = _engine(url, must_exist=False)
    try:
        before, after = _upgrade(engine)
    finally:
        engine.dispose()
    if before is None:
        print(f"Created a new opencrm database at {_shown(url)} (schema {after}).", file=out)
    elif before != after:
        print(f"Upgraded {_shown(url)} from schema {before} to {after}.", file=out)
    else:
        print(f"{_shown(url)} is already at the current schema ({after}); nothing to do.", file=out)
    return 0


def _db_upgrade(args: argparse.Namespace, out: TextIO) -> int:
    url: str = args.url
    engine = _engine(url, must_exist=True)
    try:
        before, after = _upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"Already at head revision {after}; nothing to do.", file=out)
    else:
        print(f"Upgraded from {before or 'an empty database'} to head revision {after}.", file=out)
    return 0


def _db_current(args: argparse.Namespace, out: TextIO) -> int:
    url: str = args.url
    engine = _engine(url, must_exist=True)
    try:
        have = current_revision(engine)
    finally:
        engine.dispose()
    want = head_revision()
    print(f"current revision: {have or 'none'}", file=out)
    print(f"head revision:    {want}", file=out)
    if have == want:
        print("The schema is up to date.", file=out)
    elif have is None:
        print(
            "No opencrm schema yet: run `opencrm init URL` (or `opencrm db upgrade URL`).", file=out
        )
    elif known_revision(have):
        print("The schema is behind: run `opencrm db upgrade URL`.", file=out)
    else:
        print(
            "The database has a schema revision this opencrm does not know (a newer "
            "opencrm wrote it?).",
            file=out,
        )
    return 0


# --- reminders -----------------------------------------------------------------------------


def _reminders(args: argparse.Namespace, out: TextIO) -> int:
    at = None if args.at is None else parse_at(args.at)
    spec: str = args.app
    crm = _load_crm(spec)
    try:
        summary = send_due_reminders(
            crm, at, source=f"--app {spec}", remedy=lambda option: f"CRM.open(..., {option}=...)"
        )
    finally:
        crm.close()
    print(summary, file=out)
    return 0


def send_due_reminders(
    crm: CRM, at: dt.datetime | None, *, source: str, remedy: Callable[[str], str]
) -> str:
    """Claim the reminders due at ``at`` (default: now) on ``crm`` and return the one-line
    summary ``opencrm reminders`` prints; shared with the Django app's ``opencrm_reminders``.

    Claiming marks the reminders sent, so it is refused (:class:`CommandFailed`, naming
    ``source`` and ``remedy(option)``, how to set the missing ``directory`` or ``notifier``)
    when nobody could be mailed. ``crm`` stays open.
    """
    if crm.directory is None:
        raise CommandFailed(
            f"{source}: the CRM has no user directory, so no responsible could be "
            f"mailed; give it one ({remedy('directory')})"
        )
    if not can_deliver(crm.plugin_manager.hook, crm.notifier):
        raise CommandFailed(
            f"{source}: the CRM has no notifier (and no plugin delivers "
            f"notifications), so no reminder could be sent; give it one ({remedy('notifier')})"
        )
    claimed = crm.due_reminders(at)
    if not claimed:
        return "no reminders due"
    if len(claimed) == 1:
        return "1 reminder due; sent to its responsible user"
    return f"{len(claimed)} reminders due; sent to their responsible users"


def parse_at(text: str) -> dt.datetime:
    """An ISO 8601 date and time with a UTC offset (a naive one is refused, not guessed)."""
    example = "e.g. 2031-03-14T09:30:00+00:00"
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandFailed(f"--at {text!r} is not an ISO date and time, {example}") from None
    if when.utcoffset() is None:
        raise CommandFailed(
            f"--at {text!r} has no UTC offset: say which time it is, {example} or ...Z"
        )
    return when


def _report(args: argparse.Namespace, out: TextIO) -> int:
    import json

    from opencrm.io.report_json import to_json
    from opencrm.io.report_xlsx import render_xlsx

    target = Path(args.out)
    kind = target.suffix.lower()
    if kind not in (".xlsx", ".json"):
        raise CommandFailed(f"--out must end in .xlsx or .json, not {args.out!r}")
    crm = _load_crm(args.app) if args.app is not None else CRM.open(args.db or DEFAULT_URL)
    try:
        acting = User(id=args.acting, name=args.acting, crm_admin=True)
        result = crm.session(acting).reports.build(
            args.name, period=args.period, managers=args.manager
        )
    finally:
        crm.close()
    if kind == ".xlsx":
        target.write_bytes(render_xlsx(result))
    else:
        target.write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n")
    days = (
        "all time"
        if result.first_day is None
        else f"{result.first_day.isoformat()} to {result.last_day}"
    )
    rows = sum(len(t.rows) for t in result.tables)
    print(f"{result.title} ({days}, {result.currency}): {rows} rows written to {target}", file=out)
    return 0


def _load_crm(spec: str) -> CRM:
    """The CRM named by ``MODULE:NAME``: a CRM, or a callable without arguments returning one
    (the host application's factory)."""
    crm: CRM = _load_app(spec, CRM, "a CRM", "myapp.crm:get_crm")
    return crm


def _load_app(spec: str, kind: type[_T], what: str, example: str) -> _T:
    """The ``kind`` named by ``--app MODULE:NAME``: an instance, or a callable without
    arguments returning one (the host application's factory). ``what`` names the kind in
    errors (``"a CRM"``), ``example`` is a spec to show."""
    module_name, colon, name = spec.partition(":")
    module_name, name = module_name.strip(), name.strip()
    if not colon or not module_name or not name:
        raise CommandFailed(f"--app must be MODULE:NAME, e.g. {example}, not {spec!r}")
    here = os.getcwd()
    if here not in sys.path:  # as gunicorn and flask do: the app's own directory
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(f"{missing}.")):
            raise CommandFailed(
                f"--app {spec}: no module named {missing!r} (is the application installed, "
                "or run from its directory?)"
            ) from None
        raise CommandFailed(f"--app {spec}: importing {module_name} failed: {exc}") from None
    except Exception as exc:  # the host's module is broken: say how, on one line
        raise CommandFailed(
            f"--app {spec}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
    target: object = module
    for part in name.split("."):
        if not hasattr(target, part):
            raise CommandFailed(f"--app {spec}: module {module_name!r} has no {name!r}")
        target = getattr(target, part)
    if isinstance(target, kind):
        return target
    if not callable(target):
        raise CommandFailed(
            f"--app {spec}: {name} is a {type(target).__name__}, not {what} or a function "
            "returning one"
        )
    try:
        made = target()
    except Exception as exc:  # the host's factory failed (a missing setting, a database down)
        raise CommandFailed(
            f"--app {spec}: calling {name}() failed: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(made, kind):
        raise CommandFailed(f"--app {spec}: {name}() returned a {type(made).__name__}, not {what}")
    return made


# --- serve ---------------------------------------------------------------------------------

DEMO_HOSTS = ("127.0.0.1", "localhost", "::1")


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    if not args.demo and args.app is None:
        raise CommandFailed(
            "serve needs --demo (a demo CRM with sample data) or --app MODULE:NAME (your "
            "Flask app with opencrm mounted, which says who the user is)"
        )
    if not args.demo and args.db is not None:
        raise CommandFailed("--db is for the demo (--demo); your --app opens its own database")
    try:
        # Flask is an extra: imported only here, so the rest of the command works without it.
        from opencrm_flask import OpenCRM, serve
    except ImportError as exc:
        raise CommandFailed(
            f"opencrm serve needs Flask ({exc}); install it with: "
            'python -m pip install "opencrm[serve]"'
        ) from None
    url = f"http://{args.host}:{args.port}"
    if args.demo:
        app = _demo_app(serve, args, out)
        prefix = OpenCRM.state(app).url_prefix
        print(f"opencrm demo server at {url}/ (development server, demo data only)", file=out)
        where = app.config["OPENCRM_DEMO_DATABASE"]
        kept = "kept" if args.db is not None else "removed on exit"
        print(f"  database: {where} ({kept})", file=out)
        print(f"  API:      {url}{prefix}/  (docs page: {url}{prefix}/docs)", file=out)
        users = ", ".join(u.id for u in DEMO_USERS)
        print(
            f"  act as a demo user with the header {serve.DEMO_USER_HEADER}: <id> "
            f"({users}; default {DEMO_USERS[0].id})",
            file=out,
        )
        print(
            f"  try:      curl -H '{serve.DEMO_USER_HEADER}: alice' {url}{prefix}/contacts",
            file=out,
        )
        if args.host not in DEMO_HOSTS:
            print(
                f"  warning: anyone who reaches {args.host} may act as any demo user, "
                "including the admin",
                file=out,
            )
    else:
        from flask import Flask

        app = _load_app(args.app, Flask, "a Flask app", "myapp.web:create_app")
        if app.config.get(serve.DEMO_CONFIG_KEY):
            raise CommandFailed(
                f"--app {args.app} is the demo app, which lets every request choose its "
                "user; serve it with --demo"
            )
        if "opencrm" not in app.extensions:
            raise CommandFailed(
                f"--app {args.app}: the app does not mount opencrm; call "
                "OpenCRM(app, crm=..., user_loader=...) in it"
            )
        prefix = OpenCRM.state(app).url_prefix
        print(f"opencrm API of {args.app} at {url}{prefix}/ (development server)", file=out)
    print(
        "  Stop with Ctrl+C. For production, run it under gunicorn (see docs/serve.md).", file=out
    )
    out.flush()
    serve.run(app, args.host, args.port)
    return 0


def _demo_app(serve: Any, args: argparse.Namespace, out: TextIO) -> Any:
    print(f"Building a demo CRM with {_n(args.contacts, 'contact')} ...", file=out)
    out.flush()
    db = None if args.db is None else args.db.expanduser().absolute()
    try:
        return serve.demo_app(db, fresh=True, contacts=args.contacts)
    except NotADemoDatabase as exc:
        raise CommandFailed(f"{exc}; choose another --db") from None


# --- demo ----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.db.expanduser().absolute()
    started = time.perf_counter()
    try:
        summary = create_demo_file(path, contacts=args.contacts, seed=args.seed, force=args.force)
    except NotADemoDatabase as exc:
        raise CommandFailed(f"{exc}; pass --force to replace it") from None
    took = time.perf_counter() - started
    url = f"sqlite:///{path}"
    print(f"Wrote the opencrm demo database {path}", file=out)
    print(f"({_n(summary.total, 'contact')}, seed {summary.seed}, {took:.1f} s)", file=out)
    with CRM.open(url, directory=demo_directory(), load_entrypoints=False) as crm:
        _print_counts(summary, out)
        _print_users(crm, summary.users, out)
        queries = _search_queries(crm, summary.users[0])
        _print_searches(crm, summary.users, queries, out)
        _print_first_page(crm, summary.users[0], out)
    _print_python(url, summary.users[1], queries[0] if queries else "a", out)
    return 0


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items()) or "-"


def _n(count: int, singular: str, plural: str | None = None) -> str:
    """``_n(1, "company", "companies") == "1 company"``; the plural adds an "s" by default."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _amount(value: Decimal, currency: str) -> str:
    return f"{currency} {value:,.{minor_units(currency)}f}"


def _rate(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _print_counts(summary: DemoSummary, out: TextIO) -> None:
    print(file=out)
    companies, persons = (
        _n(summary.companies, "company", "companies"),
        _n(summary.persons, "person"),
    )
    print(f"Contacts: {summary.total} ({companies}, {persons})", file=out)
    rows = [
        ("by contact type", _counts(summary.by_type)),
        ("by temperature", _counts(summary.by_temperature)),
        ("by access", _counts(summary.by_access)),
        ("tags", _counts(summary.by_tag)),
        ("contact infos", _counts(summary.infos)),
    ]
    rows += [
        ("custom fields" if n == 0 else "", f"{label} ({kind}): {summary.custom_values[label]}")
        for n, (label, kind) in enumerate(summary.custom_fields.items())
    ]
    for label, text in rows:
        print(f"  {label + ':' if label else '':<17}{text}", file=out)
    due = summary.tasks_due
    print(
        f"Tasks: {summary.tasks} ({summary.open_tasks} open: {due.get('overdue', 0)} overdue, "
        f"{due.get('today', 0)} due today, {due.get('week', 0)} in the next 7 days)",
        file=out,
    )
    print(f"  {'by category:':<17}{_counts(summary.by_task_category)}", file=out)
    print(f"History events: {summary.history} ({_n(summary.files, 'attached file')})", file=out)
    _print_pipeline(summary, out)
    print(
        f"Cases: {summary.cases} ({summary.closed_cases} closed, "
        f"{summary.restricted_cases} restricted)",
        file=out,
    )
    _print_billing(summary, out)


def _print_pipeline(summary: DemoSummary, out: TextIO) -> None:
    print(
        f"Pipeline: {_n(summary.opportunities, 'opportunity', 'opportunities')} "
        f"({summary.restricted_opportunities} restricted), values in {summary.currency}:",
        file=out,
    )
    rows = [("stage", "count", f"value ({summary.currency})")]
    rows += [
        (stage, str(n), _amount(value, summary.currency).split(" ", 1)[1])
        for stage, (n, value) in summary.pipeline.items()
    ]
    _table(rows, out, numeric={1, 2})


def _print_billing(summary: DemoSummary, out: TextIO) -> None:
    taxes = ", ".join(f"{name} {_rate(rate)}%" for name, rate in summary.taxes.items())
    rates = ", ".join(
        f"1 {pair.split('/')[0]} = {_rate(rate)} {pair.split('/')[1]}"
        for pair, rate in summary.exchange_rates.items()
    )
    invoices = sum(n for totals in summary.invoices.values() for n, _ in totals.values())
    print(
        f"Billing: {_n(invoices, 'invoice')}, {_n(summary.products, 'product')}, "
        f"taxes: {taxes or '-'}",
        file=out,
    )
    print(f"  exchange rates: {rates or '-'}", file=out)
    rows = [("status", "count", "totals")]
    for status, totals in summary.invoices.items():
        count = sum(n for n, _ in totals.values())
        amounts = ", ".join(_amount(total, cur) for cur, (_, total) in totals.items())
        rows.append((status, str(count), amounts or "-"))
    _table(rows, out, numeric={1})


def _print_users(crm: CRM, users: Iterable[User], out: TextIO) -> None:
    print(file=out)
    print("What each demo user sees (counted through the user's own session):", file=out)
    rows = [("user", "name", "role", "sees", "companies", "persons", "manages")]
    for user in users:
        contacts = crm.session(user).contacts
        rows.append(
            (
                user.id,
                user.name,
                "CRM admin" if user.crm_admin else "sales",
                str(contacts.count()),
                str(contacts.count(kind="company")),
                str(contacts.count(kind="person")),
                str(contacts.count(manager=user.id)),
            )
        )
    _table(rows, out, numeric={3, 4, 5, 6})
    print(
        "  Admins see everything; everyone else sees contacts shared as 'read' or 'read_write'",
        file=out,
    )
    print("  plus the private ones they manage.", file=out)


def _search_queries(crm: CRM, admin: User) -> list[str]:
    """A few searches that find something in this data: a surname, a company name prefix,
    an e-mail prefix and a phone prefix."""
    contacts = crm.session(admin).contacts
    everyone = contacts.list(limit=500).items
    persons = [c for c in everyone if isinstance(c, Person)]
    companies = [c for c in everyone if isinstance(c, Company)]
    queries = []
    if persons:
        queries.append(persons[len(persons) // 2].last_name or persons[0].first_name)
    if companies:
        queries.append(companies[0].name.split()[0][:5])
    email = next((c.email for c in persons if c.email), None)
    if email:
        queries.append(email.split(".")[0])
    phone = next((c.primary("phone") for c in companies if c.phone), None)
    if phone is not None and phone.normalized:
        queries.append(phone.normalized[:5])
    return queries


def _print_searches(crm: CRM, users: Sequence[User], queries: Iterable[str], out: TextIO) -> None:
    admin, seller = users[0], users[1]
    print(file=out)
    print(
        f"Searches (s.contacts.search): hits for {admin.id} / {seller.id}, "
        f"first names as {seller.id}:",
        file=out,
    )
    for query in queries:
        as_admin = crm.session(admin).contacts.count(text=query)
        found = crm.session(seller).contacts.search(query, limit=500)
        names = ", ".join(c.display_name for c in found[:4])
        more = f", ... (+{len(found) - 4})" if len(found) > 4 else ""
        print(f"  {query!r:<12} {as_admin:>3} / {len(found):<3} {names}{more}", file=out)


def _print_first_page(crm: CRM, admin: User, out: TextIO) -> None:
    s = crm.session(admin)
    types = {i.id: i.title for i in s.lists.items(ListKind.CONTACT_TYPE)}
    temps = {i.id: i.title for i in s.lists.items(ListKind.TEMPERATURE)}
    page = s.contacts.list(limit=10)
    companies: dict[int, str] = {}
    print(file=out)
    print(
        f"First page of contacts (as {admin.id}, sorted by name, "
        f"{len(page.items)} of {s.contacts.count()}):",
        file=out,
    )
    rows = [("id", "name", "company", "type", "temp", "access", "managers", "phone")]
    for c in page.items:
        company = ""
        if isinstance(c, Person) and c.company_id is not None:
            if c.company_id not in companies:
                companies[c.company_id] = s.contacts.get(c.company_id).display_name
            company = companies[c.company_id]
        rows.append(
            (
                str(c.id),
                _cut(c.display_name, 22),
                _cut(company, 22),
                types.get(c.contact_type_id or 0, ""),
                temps.get(c.temperature_id or 0, ""),
                c.access.value,
                ",".join(sorted(c.managers)),
                _phone(c),
            )
        )
    _table(rows, out, numeric={0})
    if page.next_cursor:
        print("  (next page: s.contacts.list(after=page.next_cursor))", file=out)


def _phone(contact: Contact) -> str:
    info = contact.primary("phone")
    return info.normalized or info.value if info else ""


def _print_python(url: str, seller: User, query: str, out: TextIO) -> None:
    print(file=out)
    print("Open it from Python:", file=out)
    snippet = f"""
    from opencrm import CRM, User
    from opencrm.demo import demo_directory  # the demo users are opencrm.demo.DEMO_USERS

    crm = CRM.open({url!r}, directory=demo_directory())
    {seller.id} = User(id={seller.id!r}, name={seller.name!r})
    with crm.session({seller.id}) as s:
        print(s.contacts.count(), "contacts visible to {seller.id}")
        for c in s.contacts.search({query!r}):
            print(c.display_name, c.email, c.phone, c.access)
    """
    print(snippet.rstrip(), file=out)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: Sequence[Sequence[str]], out: TextIO, *, numeric: set[int]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [
            cell.rjust(w) if i in numeric and n else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip(), file=out)


# --- export --------------------------------------------------------------------------------


def _export_parser(commands: Any) -> None:
    from opencrm.core.services.exports import EXPORT_ENTITIES, EXPORT_FORMATS

    export = commands.add_parser(
        "export",
        help="export a list (or, with --all, everything) to a CSV, XLSX or ZIP file",
        description="Write the ENTITY list a user can see, filtered like the list of the "
        "session service, to --out, page by page with a progress bar; --all writes the full "
        "export (CRM admins): a ZIP of one CSV per entity. The file appears only once it is "
        "complete.",
    )
    # No argparse choices: they would read as sub-commands; the export checks both names.
    export.add_argument(
        "entity", nargs="?", metavar="ENTITY", help=f"one of {', '.join(EXPORT_ENTITIES)}"
    )
    export.add_argument("--all", action="store_true", help="the full export (a ZIP; admins)")
    export.add_argument(
        "--format", default=None, help=f"one of {', '.join(EXPORT_FORMATS)} (default csv)"
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    where = export.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="URL", help="the CRM database URL")
    where.add_argument(
        "--app",
        metavar="MODULE:NAME",
        help="the host application's CRM (a CRM or a function returning one), whose user "
        "directory knows --user",
    )
    export.add_argument("--user", required=True, help="act as this user id (their rights)")
    export.add_argument(
        "--admin",
        action="store_true",
        help="with --db: the user is a CRM admin (with --app the directory says)",
    )
    export.add_argument("--sort", help="a sort of the list, e.g. --sort=-created")
    export.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a filter of the list, repeated; VALUE is read as JSON when it is JSON "
        '(numbers, true, ["a", "b"]), as an ISO date or datetime for *_from/*_to, '
        "else as text",
    )
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.set_defaults(run=_export)


def parse_filters(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` arguments as list filters (see ``opencrm export --help``)."""
    import json

    found: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandFailed(f"--filter {item!r}: write NAME=VALUE")
        value: Any = raw
        if name.endswith(("_from", "_to")):
            try:
                value = dt.datetime.fromisoformat(raw) if "T" in raw else dt.date.fromisoformat(raw)
            except ValueError:
                raise CommandFailed(f"--filter {item!r}: not an ISO date or datetime") from None
        else:
            with contextlib.suppress(ValueError):
                value = json.loads(raw)
        found[name] = value
    return found


def _export(args: argparse.Namespace, out: TextIO) -> int:
    check_export_arguments(args.entity, every=args.all, fmt=args.format, sort=args.sort)
    filters = parse_filters(args.filter)
    if args.all and filters:
        raise CommandFailed("--all exports everything: --filter and --sort do not apply")
    if args.app is not None:
        crm = _load_crm(args.app)
        if crm.directory is None or crm.directory.get(args.user) is None:
            crm.close()
            raise CommandFailed(f"--app {args.app}: its user directory has no user {args.user!r}")
        if args.admin:
            crm.close()
            raise CommandFailed("--admin goes with --db; with --app the directory decides")
        user = crm.directory.get(args.user)
        assert user is not None
    else:
        crm = CRM(_engine(args.db, must_exist=True), load_entrypoints=False)
        user = User(id=args.user, crm_admin=args.admin)
    try:
        summary = export_to_file(
            crm.session(user),
            Path(args.out),
            entity=args.entity,
            every=args.all,
            fmt=args.format,
            sort=args.sort,
            filters=filters,
            progress_to=None if args.quiet else sys.stderr,
        )
    finally:
        crm.close()
    print(summary, file=out)
    return 0


def check_export_arguments(
    entity: str | None, *, every: bool, fmt: str | None, sort: str | None
) -> None:
    """Refuse a combination of export arguments that names no single export."""
    if every == (entity is not None):
        raise CommandFailed("name one ENTITY to export, or --all (not both)")
    if every and fmt not in (None, "csv"):
        raise CommandFailed("--all writes a ZIP of CSV files; leave out --format")
    if every and sort:
        raise CommandFailed("--all exports everything: --filter and --sort do not apply")


def export_to_file(
    session: Any,
    target: Path,
    *,
    entity: str | None,
    every: bool = False,
    fmt: str | None = None,
    sort: str | None = None,
    filters: dict[str, Any] | None = None,
    progress_to: TextIO | None = None,
) -> str:
    """Write one export (``entity`` filtered like its list, or ``every``thing as a ZIP) of
    what ``session``'s user sees to ``target``, with a progress bar on ``progress_to`` (None:
    none); return the one-line summary. Shared by ``opencrm export`` and the Django app's
    ``manage.py opencrm_export``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from opencrm.io.export import stream_export, stream_full_export

    check_export_arguments(entity, every=every, fmt=fmt, sort=sort)
    fmt = fmt or "csv"
    console = Console(file=progress_to or sys.stderr, quiet=progress_to is None)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    rows = 0
    what = "everything" if every else entity
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"exporting {what}", total=None, rate="0")

        def progress(done: int, total: int | None) -> None:
            nonlocal rows
            rows = done
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f}")

        if entity is None:
            chunks = stream_full_export(session, progress=progress)
        else:
            chunks = stream_export(
                session, entity, fmt, sort=sort, progress=progress, **(filters or {})
            )
        size = _write_atomically(target, chunks)
    seconds = time.monotonic() - started
    kind = "ZIP" if every else fmt.upper()
    return (
        f"exported {_n(rows, 'row')} of {what} to {target} ({kind}, {_n(size, 'byte')}) "
        f"in {seconds:.1f} s ({rows / max(seconds, 1e-6):,.0f} rows/s)"
    )


def _write_atomically(target: Path, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to a temporary file beside ``target`` and rename it into place, so a
    failed export leaves no half-written file; return the size."""
    import tempfile

    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise CommandFailed(f"--out {target}: no directory {directory}")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.")
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return size


if __name__ == "__main__":  # python -m opencrm.cli
    raise SystemExit(main())
