"""The ``opencrm`` command: init, db upgrade/current, demo, errors and --version."""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest
import sqlalchemy as sa

from opencrm import (
    CRM,
    Access,
    Company,
    InfoType,
    InMemoryUserDirectory,
    LocalFileStore,
    OutboxNotifier,
    Person,
    SchemaOutdated,
    User,
    __version__,
)
from opencrm.cli import main
from opencrm.core.entities.invoices import InvoiceStatus
from opencrm.demo import (
    DEMO_USERS,
    NO_VALUE,
    DemoSummary,
    NotADemoDatabase,
    build_demo,
    create_demo_file,
    demo_directory,
    is_demo_file,
)
from opencrm.errors import ValidationError
from opencrm.storage.sqlalchemy.engine import create_engine_for, head_revision, upgrade

HEAD = head_revision()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert err.startswith("opencrm: error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def open_demo(path: Path) -> CRM:
    return CRM.open(f"sqlite:///{path}", directory=demo_directory(), load_entrypoints=False)


# --- --version, usage ----------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out == f"opencrm {__version__}\n"


def test_no_command_shows_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2
    assert out == ""
    assert "usage: opencrm" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "frobnicate")[0] == 2
    code, _, err = run(capsys, "demo", "--contacts", "0")
    assert code == 2
    assert "--contacts: must be at least 1" in err
    assert run(capsys, "db")[0] == 2


# --- init and db ---------------------------------------------------------------------------


def test_init_creates_then_finds_nothing_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    code, out, err = run(capsys, "init", url)
    assert (code, err) == (0, "")
    assert out == f"Created a new opencrm database at {url} (schema {HEAD}).\n"
    assert (tmp_path / "crm.db").is_file()
    code, out, _ = run(capsys, "init", url)
    assert code == 0
    assert out == f"{url} is already at the current schema ({HEAD}); nothing to do.\n"
    with CRM.open(url, upgrade=False, load_entrypoints=False):
        pass  # at head: opening without an upgrade works


def test_init_defaults_to_opencrm_db_in_the_current_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "init")
    assert code == 0
    assert out.startswith("Created a new opencrm database at sqlite:///opencrm.db")
    assert (tmp_path / "opencrm.db").is_file()


def test_db_current_prints_the_head_revision_after_init(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert run(capsys, "init", url)[0] == 0
    code, out, err = run(capsys, "db", "current", url)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"current revision: {HEAD}",
        f"head revision:    {HEAD}",
        "The schema is up to date.",
    ]


def test_db_upgrade_of_an_up_to_date_sqlite_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert run(capsys, "init", url)[0] == 0
    code, out, _ = run(capsys, "db", "upgrade", url)
    assert code == 0
    assert out == f"Already at head revision {HEAD}; nothing to do.\n"


def make_sqlite_at(path: Path, revision: str) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine_for(url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
    return url


@pytest.mark.parametrize("command", ["init", "db upgrade"])
def test_an_older_schema_is_reported_and_upgraded(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    url = make_sqlite_at(tmp_path / "old.db", "0001")
    code, out, _ = run(capsys, "db", "current", url)
    assert code == 0
    assert out.splitlines() == [
        "current revision: 0001",
        f"head revision:    {HEAD}",
        "The schema is behind: run `opencrm db upgrade URL`.",
    ]
    with pytest.raises(SchemaOutdated):
        CRM.open(url, upgrade=False, load_entrypoints=False)
    code, out, _ = run(capsys, *command.split(), url)
    assert code == 0
    if command == "init":
        assert out == f"Upgraded {url} from schema 0001 to {HEAD}.\n"
    else:
        assert out == f"Upgraded from 0001 to head revision {HEAD}.\n"
    assert run(capsys, "db", "current", url)[1].startswith(f"current revision: {HEAD}\n")


def test_a_schema_newer_than_this_opencrm(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = make_sqlite_at(tmp_path / "new.db", "head")
    engine = create_engine_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    code, out, _ = run(capsys, "db", "current", url)
    assert code == 0
    assert out.splitlines()[0] == "current revision: 9999"
    assert "does not know" in out.splitlines()[2]
    code, _, err = run(capsys, "db", "upgrade", url)
    assert code == 2
    assert_one_line_error(err, "schema upgrade failed", "newer than this opencrm")


@pytest.mark.parametrize("command", [("db", "current"), ("db", "upgrade")])
def test_db_commands_do_not_create_a_missing_sqlite_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: tuple[str, str]
) -> None:
    path = tmp_path / "typo.db"
    code, out, err = run(capsys, *command, f"sqlite:///{path}")
    assert (code, out) == (2, "")
    assert_one_line_error(err, "no database file", "opencrm init")
    assert not path.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("init", "not a url"), "bad database URL"),
        (("init", "mysql://root@127.0.0.1/crm"), "supports sqlite and postgresql"),
        (("db", "current", "oracle://x@y/z"), "supports sqlite and postgresql"),
        (("db", "upgrade", "://"), "bad database URL"),
        (("init", "sqlite:////no/such/dir/crm.db"), "database error: unable to open"),
    ],
)
def test_bad_urls_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert_one_line_error(err, message)


def test_a_file_that_is_no_database_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my precious notes\n" * 100)
    for argv in (("db", "current"), ("db", "upgrade"), ("init",)):
        code, _, err = run(capsys, *argv, f"sqlite:///{path}")
        assert code == 2
        assert_one_line_error(err, "file is not a database")
    assert path.read_text() == "my precious notes\n" * 100


def test_unreachable_postgresql_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=2"
    code, _, err = run(capsys, "db", "current", url)
    assert code == 2
    assert_one_line_error(err, "database error")


@pytest.mark.postgresql
def test_db_upgrade_on_postgresql(capsys: pytest.CaptureFixture[str], pg_database) -> None:  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL schema: CRM.open refuses it until `opencrm db upgrade URL`."""
    schema = f"opencrm_cli_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_database.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{pg_database.url}?options=-csearch_path%3D{schema}%2Cpublic"
    try:
        code, out, _ = run(capsys, "db", "current", url)
        assert code == 0
        assert out.splitlines()[:2] == ["current revision: none", f"head revision:    {HEAD}"]
        with pytest.raises(SchemaOutdated, match="opencrm db upgrade"):
            CRM.open(url, load_entrypoints=False)

        code, out, err = run(capsys, "db", "upgrade", url)
        assert (code, err) == (0, "")
        assert out == f"Upgraded from an empty database to head revision {HEAD}.\n"
        code, out, _ = run(capsys, "db", "current", url)
        assert (code, out.splitlines()[0]) == (0, f"current revision: {HEAD}")
        with CRM.open(url, load_entrypoints=False) as crm:
            assert len(crm.session(DEMO_USERS[0]).lists.stages()) == 9
        code, out, _ = run(capsys, "db", "upgrade", url)
        assert (code, out) == (0, f"Already at head revision {HEAD}; nothing to do.\n")
        with admin.connect() as conn:  # the throw-away schema got the tables, public did not
            tables = sa.inspect(conn).get_table_names(schema=schema)
        assert {"contacts", "alembic_version"} <= set(tables)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


# --- reminders -----------------------------------------------------------------------------

#: A host application's module, as `opencrm reminders --app MODULE:NAME` finds it.
APP_MODULE = """
from opencrm import CRM, InMemoryUserDirectory, OutboxNotifier, User

URL = @URL@
USERS = [
    User(id="alice", name="Alice", email="alice@example.com"),
    User(id="bob", name="Bob", email="bob@example.com", language="de"),
]
OUTBOX = OutboxNotifier()


def get_crm():
    directory = InMemoryUserDirectory(USERS)
    return CRM.open(URL, directory=directory, notifier=OUTBOX, load_entrypoints=False)


crm = get_crm()
settings = {"url": URL}


def needs_arguments(url):
    return CRM.open(url)


def broken():
    raise RuntimeError("CRM_DATABASE_URL is not set")


def text():
    return "not a CRM"


def without_notifier():
    return CRM.open(URL, directory=InMemoryUserDirectory(USERS), load_entrypoints=False)


def without_directory():
    return CRM.open(URL, notifier=OUTBOX, load_entrypoints=False)
"""
APP_USERS = [User(id="alice", name="Alice"), User(id="bob", name="Bob")]
AT = "2099-03-14T09:30:00+00:00"
REMIND_AT = dt.datetime(2099, 3, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(module name, database URL) of a host app on sys.path, with a CRM factory over a SQLite
    file holding four tasks: two reminders due at AT, one an hour later, one without alert."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    name = f"crm_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / f"{name}.py").write_text(APP_MODULE.replace("@URL@", repr(url)))
    (tmp_path / "apps" / f"{name}_broken.py").write_text("SETTINGS = 1 / 0\n")
    monkeypatch.syspath_prepend(tmp_path / "apps")  # sys.path is restored afterwards
    with CRM.open(url, directory=InMemoryUserDirectory(APP_USERS), load_entrypoints=False) as crm:
        tasks = crm.session(APP_USERS[0]).tasks
        tasks.add("Call Bob back", REMIND_AT + dt.timedelta(minutes=15), alert=15)
        tasks.add("Send the offer", REMIND_AT + dt.timedelta(hours=1), alert=60, responsible="bob")
        tasks.add("Later", REMIND_AT + dt.timedelta(hours=2), alert=60, responsible="bob")
        tasks.add("No alert", REMIND_AT, alert=0)
    yield name, url
    module = sys.modules.pop(name, None)
    if module is not None:
        module.crm.close()


def test_reminders_sends_the_due_reminders_once(
    capsys: pytest.CaptureFixture[str], app: tuple[str, str]
) -> None:
    name, _ = app
    code, out, err = run(capsys, "reminders", "--app", f"{name}:get_crm", "--at", AT)
    assert (code, out, err) == (0, "2 reminders due; sent to their responsible users\n", "")
    outbox = sys.modules[name].OUTBOX
    sent = outbox.take()
    assert sorted(m.to for m in sent) == [("alice@example.com",), ("bob@example.com",)]

    code, out, err = run(capsys, "reminders", "--app", f"{name}:get_crm", "--at", AT)
    assert (code, out, err) == (0, "no reminders due\n", "")
    assert outbox.take() == []

    # an hour later (said in another offset), through a CRM instance instead of a factory
    code, out, err = run(
        capsys, "reminders", "--app", f"{name}:crm", "--at", "2099-03-14T11:30+01:00"
    )
    assert (code, out, err) == (0, "1 reminder due; sent to its responsible user\n", "")
    assert [m.to for m in outbox.take()] == [("bob@example.com",)]
    code, out, _ = run(capsys, "reminders", "--app", f"{name}:crm", "--at", "2099-03-14T23:00:00Z")
    assert (code, out) == (0, "no reminders due\n")


def test_reminders_without_at_use_the_current_time(
    capsys: pytest.CaptureFixture[str], app: tuple[str, str]
) -> None:
    name, _ = app  # the fixture's tasks are due in 2099
    code, out, err = run(capsys, "reminders", "--app", f"{name}:get_crm")
    assert (code, out, err) == (0, "no reminders due\n", "")


def test_reminders_finds_the_app_in_the_current_directory(
    capsys: pytest.CaptureFixture[str],
    app: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, _ = app
    (tmp_path / "apps" / f"{name}.py").rename(tmp_path / f"{name}.py")
    monkeypatch.chdir(tmp_path)  # cron: `cd /srv/app && opencrm reminders --app ...`
    code, out, _ = run(capsys, "reminders", "--app", f"{name}:get_crm", "--at", AT)
    assert (code, out) == (0, "2 reminders due; sent to their responsible users\n")


@pytest.mark.parametrize(
    ("app_arg", "fragments"),
    [
        ("no_such_module_4711:get_crm", ("no module named 'no_such_module_4711'",)),
        ("{app}_broken:get_crm", ("importing {app}_broken failed: ZeroDivisionError",)),
        ("{app}:get_mcr", ("has no 'get_mcr'",)),
        ("{app}", ("must be MODULE:NAME", "myapp.crm:get_crm")),
        ("{app}:", ("must be MODULE:NAME",)),
        (":get_crm", ("must be MODULE:NAME",)),
        ("{app}:settings", ("settings is a dict, not a CRM",)),
        ("{app}:text", ("text() returned a str, not a CRM",)),
        ("{app}:broken", ("calling broken() failed: RuntimeError: CRM_DATABASE_URL is not set",)),
        ("{app}:needs_arguments", ("calling needs_arguments() failed: TypeError",)),
        ("{app}:without_notifier", ("no notifier", "no reminder could be sent")),
        ("{app}:without_directory", ("no user directory",)),
    ],
)
def test_reminders_with_a_bad_app_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
    app: tuple[str, str],
    app_arg: str,
    fragments: tuple[str, ...],
) -> None:
    name, _ = app
    code, out, err = run(capsys, "reminders", "--app", app_arg.format(app=name), "--at", AT)
    assert (code, out) == (2, "")
    assert_one_line_error(err, *(f.format(app=name) for f in fragments))
    # nothing was claimed: the reminders still go out through a good app
    code, out, _ = run(capsys, "reminders", "--app", f"{name}:get_crm", "--at", AT)
    assert (code, out) == (0, "2 reminders due; sent to their responsible users\n")


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        ("2031-03-14T09:30:00", "has no UTC offset"),
        ("2031-03-14", "has no UTC offset"),
        ("tomorrow 9:30", "is not an ISO date and time"),
        ("", "is not an ISO date and time"),
    ],
)
def test_reminders_refuse_a_time_without_offset(
    capsys: pytest.CaptureFixture[str], app: tuple[str, str], at: str, fragment: str
) -> None:
    name, _ = app
    code, out, err = run(capsys, "reminders", "--app", f"{name}:get_crm", "--at", at)
    assert (code, out) == (2, "")
    assert_one_line_error(err, fragment, "2031-03-14T09:30:00+00:00")
    assert name not in sys.modules  # refused before the app was even imported


def test_reminders_needs_an_app(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "reminders")
    assert (code, out) == (2, "")
    assert "--app" in err


# --- demo ----------------------------------------------------------------------------------


def session_counts(path: Path) -> dict[str, object]:
    """What sessions report about a demo file, in the shape of a DemoSummary."""
    with open_demo(path) as crm:
        admin = crm.session(DEMO_USERS[0])
        c = admin.contacts
        total = c.count()
        everything = c.list(limit=500).items
        assert len(everything) == total
        types = [i.title for i in admin.lists.items("contact_type")]
        temps = [i.title for i in admin.lists.items("temperature")]
        by_type = {t: c.count(contact_type=t) for t in types}
        by_temp = {t: c.count(temperature=t) for t in temps}
        fields = {f.id: f.label for f in admin.fields.list()}
        categories = [i.title for i in admin.lists.items("task_category")]
        by_category = {t: n for t in categories if (n := admin.tasks.count(category=t))}
        opportunities = admin.opportunities.list(limit=500).items
        cases = admin.cases.list(limit=500).items
        records = [*everything, *opportunities, *cases]
        return {
            "tasks": admin.tasks.count(),
            "open_tasks": admin.tasks.count(closed=False),
            "by_task_category": by_category,
            "history": admin.history.count(),
            "companies": c.count(kind="company"),
            "persons": c.count(kind="person"),
            "by_type": {**by_type, NO_VALUE: total - sum(by_type.values())},
            "by_temperature": {**by_temp, NO_VALUE: total - sum(by_temp.values())},
            "by_access": {a.value: c.count(access=a) for a in Access},
            "by_tag": {t.title: n for t in admin.lists.tags() if (n := c.count(tags=t.title))},
            "infos": dict(Counter(i.type.value for x in everything for i in x.infos)),
            "custom_values": dict(Counter(fields[f] for x in records for f in x.custom)),
            "visible": {u.id: crm.session(u).contacts.count() for u in DEMO_USERS},
            "managed": {u.id: c.count(manager=u.id) for u in DEMO_USERS},
        }


def as_counts(summary: DemoSummary) -> dict[str, object]:
    return {
        "tasks": summary.tasks,
        "open_tasks": summary.open_tasks,
        "by_task_category": dict(summary.by_task_category),
        "history": summary.history,
        "companies": summary.companies,
        "persons": summary.persons,
        "by_type": dict(summary.by_type),
        "by_temperature": dict(summary.by_temperature),
        "by_access": dict(summary.by_access),
        "by_tag": dict(summary.by_tag),
        "infos": dict(summary.infos),
        "custom_values": {k: v for k, v in summary.custom_values.items() if v},
        "visible": dict(summary.visible),
        "managed": dict(summary.managed),
    }


def snapshot(path: Path) -> list[tuple[object, ...]]:
    """Every contact with the fields a seed decides (ids, names, links, infos, values)."""
    with open_demo(path) as crm:
        items = crm.session(DEMO_USERS[0]).contacts.list(limit=500, sort="created").items
    return [
        (
            c.id,
            c.display_name,
            getattr(c, "company_id", None),
            c.contact_type_id,
            c.temperature_id,
            c.access,
            tuple(sorted(c.managers)),
            tuple(sorted(c.tags)),
            tuple((i.type, i.category, i.value, i.is_primary) for i in c.infos),
            tuple(sorted(c.custom.items())),
            c.created_by,
        )
        for c in items
    ]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    return path, create_demo_file(path, contacts=80, seed=1)


def test_demo_summary_matches_what_sessions_report(demo_file: tuple[Path, DemoSummary]) -> None:
    path, summary = demo_file
    assert (summary.companies, summary.persons, summary.total) == (20, 60, 80)
    assert as_counts(summary) == session_counts(path)


def test_demo_data_is_realistic(demo_file: tuple[Path, DemoSummary]) -> None:
    path, summary = demo_file
    admin, *sales = DEMO_USERS
    assert admin.crm_admin
    assert 3 <= len(sales) <= 4
    assert not any(u.crm_admin for u in sales)
    with open_demo(path) as crm:
        everything = crm.session(admin).contacts.list(limit=500).items
        fields = {f.label: f for f in crm.session(admin).fields.list()}
    persons = [c for c in everything if isinstance(c, Person)]
    companies = {c.id: c for c in everything if isinstance(c, Company)}
    assert sum(p.company_id in companies for p in persons) >= len(persons) * 0.8
    assert all(p.company_id is None or p.company_id in companies for p in persons)
    for contact in everything:
        assert contact.email is not None
        assert contact.created_by in {u.id for u in sales}
        for info in contact.infos:
            if info.type is InfoType.PHONE:
                assert info.normalized is not None
                assert phonenumbers.is_possible_number(phonenumbers.parse(info.normalized))
                assert (
                    phonenumbers.format_number(
                        phonenumbers.parse(info.value), phonenumbers.PhoneNumberFormat.E164
                    )
                    == info.normalized
                )
    assert all(
        c.primary(InfoType.WEBSITE) and c.primary(InfoType.ADDRESS) for c in companies.values()
    )
    prefixes = {i.normalized[:3] for c in everything for i in c.infos if i.type is InfoType.PHONE}
    assert {"+44", "+49"} <= {p for p in prefixes if p}
    assert {(f.type, f.entity_type) for f in fields.values()} >= {
        ("select", "company"),
        ("checkbox", "person"),
        ("date", "company"),
    }
    assert all(summary.custom_values[label] > 0 for label in ("Industry segment", "Newsletter"))
    assert all(n > 0 for n in summary.by_access.values())
    assert sum(len(c.managers) > 1 for c in everything) > 0  # co-managed
    assert all(summary.managed[u.id] > 0 for u in sales)
    # the access rules at work: sales people see less than the admin, but more than they manage
    for u in sales:
        assert summary.managed[u.id] < summary.visible[u.id] < summary.visible[admin.id]
    assert len(summary.by_tag) >= 3
    assert 0 < summary.open_tasks < summary.tasks  # some closed, with a history event each
    assert summary.history > summary.tasks - summary.open_tasks
    assert len(summary.by_task_category) >= 5
    assert sum(n for t, n in summary.by_temperature.items() if t != NO_VALUE) > summary.total / 2


def test_demo_pipeline_cases_and_billing_match_what_sessions_report(
    demo_file: tuple[Path, DemoSummary],
) -> None:
    path, summary = demo_file
    with open_demo(path) as crm:
        admin = crm.session(DEMO_USERS[0])
        stages = admin.stages.list()
        opportunities = admin.opportunities.list(limit=500).items
        cases = admin.cases.list(limit=500).items
        invoices = admin.invoices.list(limit=500).items
        events = admin.history.list(limit=500).items
        open_tasks = admin.tasks.list(closed=False, limit=500).items
        pipeline = {}
        for stage in stages:
            budgets = [o.budget for o in opportunities if o.stage_id == stage.id]
            value = sum(m.amount for m in admin.currencies.convert_all(budgets, "EUR"))
            pipeline[stage.title] = (admin.opportunities.count(stage=stage.id), value)
        rates = {f"{r.from_currency}/{r.to_currency}": r.rate for r in admin.currencies.rates()}
        assert (admin.currencies.default(), len(admin.products.list())) == ("EUR", 7)
        assert {t.name: t.rate for t in admin.taxes.list()} == summary.taxes
    assert (summary.currency, summary.opportunities) == ("EUR", 30)
    assert summary.pipeline == pipeline
    assert all(n > 0 for n, _ in pipeline.values())  # every stage
    assert (
        summary.exchange_rates == rates == {"GBP/EUR": Decimal("1.17"), "USD/EUR": Decimal("0.92")}
    )
    assert summary.restricted_opportunities == sum(o.restricted for o in opportunities) > 0
    closed_types = {s.id for s in stages if s.type.value != "open"}
    for o in opportunities:  # won and lost ones closed on a past day, open ones not yet
        closed_on = o.actual_close
        assert (closed_on is not None) == (o.stage_id in closed_types)
        assert closed_on is None or closed_on < dt.date.today()
    assert (summary.cases, summary.closed_cases, summary.restricted_cases) == (
        len(cases),
        sum(c.closed for c in cases),
        sum(c.restricted for c in cases),
    )
    assert 0 < summary.closed_cases < summary.cases
    assert summary.restricted_cases > 0
    tally: dict[str, dict[str, tuple[int, Decimal]]] = {s.value: {} for s in InvoiceStatus}
    for invoice in invoices:
        n, total = tally[invoice.status.value].get(invoice.currency, (0, Decimal(0)))
        tally[invoice.status.value][invoice.currency] = (n + 1, total + invoice.total.amount)
    assert {k: dict(v) for k, v in summary.invoices.items()} == {
        k: dict(sorted(v.items())) for k, v in tally.items()
    }
    assert all(summary.invoices[s.value] for s in InvoiceStatus)  # every status
    assert len({i.currency for i in invoices}) >= 2
    assert summary.files == sum(len(e.files) for e in events) > 0
    assert summary.history == len(events)
    due = Counter(
        "overdue" if d < 0 else "today" if d == 0 else "week"
        for t in open_tasks
        if (d := (t.due_at.date() - dt.datetime.now(dt.UTC).date()).days) <= 7
    )
    assert all(summary.tasks_due[k] > 0 for k in ("overdue", "today", "week"))
    assert sum(due.values()) == sum(summary.tasks_due.values())


SMALL_DEMO = """\
Contacts: 3 (1 company, 2 persons)
  by contact type: Client 0, Supplier 0, Partner 0, Competitor 3, Reseller 0, (none) 0
  by temperature:  Cold 0, Warm 0, Hot 1, (none) 2
  by access:       private 1, read 1, read_write 1
  tags:            -
  contact infos:   phone 3, email 3, website 1, address 2
  custom fields:   Industry segment (select, company): 1
                   Newsletter (checkbox, person): 1
                   Lead source (select, opportunity): 6
                   Priority (select, case): 3
                   Contract renewal (date, company): 0
Tasks: 10 (10 open: 2 overdue, 2 due today, 3 in the next 7 days)
  by category:     Opportunity 7, Execution control 1, Expression of gratitude 1, Phone call 1
History events: 13 (6 attached files)
Pipeline: 9 opportunities (1 restricted), values in EUR:
  stage            count  value (EUR)
  Initial contact      1    18,500.00
  Preapproach          1    90,000.00
  Suspect              1     7,500.00
  Champion             1     7,500.00
  Opportunity          1     7,500.00
  Prospect             1     4,800.00
  Verbal               1    42,000.00
  Won                  1    18,500.00
  Lost                 1    90,000.00
Cases: 3 (1 closed, 1 restricted)
Billing: 8 invoices, 7 products, taxes: Reduced VAT 7%, VAT 19%
  exchange rates: 1 GBP = 1.17 EUR, 1 USD = 0.92 EUR
  status    count  totals
  draft         2  EUR 5,790.05
  billed        2  EUR 12,971.00, USD 14,098.91
  paid          3  EUR 5,099.15
  rejected      1  EUR 4,099.55"""


def test_a_small_demo_prints_its_summary_with_correct_counts_and_grammar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "demo", "--db", str(tmp_path / "d.db"), "--contacts", "3")
    assert code == 0
    summary = out.split("\n\n")[1]
    assert summary == SMALL_DEMO
    assert "First page of contacts (as admin, sorted by name, 3 of 3):" in out

    code, out, _ = run(capsys, "demo", "--db", str(tmp_path / "one.db"), "--contacts", "1")
    assert code == 0
    assert "(1 contact, seed 1, " in out
    assert "Contacts: 1 (1 company, 0 persons)\n" in out
    assert "sorted by name, 1 of 1):" in out


def test_demo_command_writes_the_file_and_prints_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_file: tuple[Path, DemoSummary]
) -> None:
    path = tmp_path / "demo.db"
    started = time.perf_counter()
    code, out, err = run(capsys, "demo", "--db", str(path), "--seed", "1")
    assert time.perf_counter() - started < 20  # "a few seconds"; generous for slow CI
    assert (code, err) == (0, "")
    assert is_demo_file(path)
    # no temp files left; the files of its history are kept next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db", "demo.db-files"]
    assert len(list((tmp_path / "demo.db-files").iterdir())) == demo_file[1].files
    summary = demo_file[1]  # same seed, same numbers
    assert f"Wrote the opencrm demo database {path}" in out
    assert "Contacts: 80 (20 companies, 60 persons)" in out
    assert f"Tasks: {summary.tasks} ({summary.open_tasks} open: " in out
    assert f"History events: {summary.history} ({summary.files} attached files)\n" in out
    access = ", ".join(f"{k} {v}" for k, v in summary.by_access.items())
    assert f"  by access:       {access}\n" in out
    types = ", ".join(f"{k} {v}" for k, v in summary.by_type.items())
    assert f"  by contact type: {types}\n" in out
    counts = session_counts(path)
    for user in DEMO_USERS:  # the table rows come from each user's own session
        row = next(line.split() for line in out.splitlines() if line.startswith(f"  {user.id} "))
        assert int(row[-4]) == counts["visible"][user.id]  # type: ignore[index]
        assert int(row[-1]) == counts["managed"][user.id]  # type: ignore[index]
    assert "Searches (s.contacts.search)" in out
    assert "First page of contacts (as admin, sorted by name, 10 of 80)" in out
    guide = (Path(__file__).parents[2] / "docs" / "getting-started.md").read_text()
    shown = guide.split("the pipeline and billing read:\n\n```text\n")[1].split("```")[0]
    assert shown in out  # the getting-started page shows what the default demo prints
    assert f"CRM.open('sqlite:///{path}', directory=demo_directory())" in out
    with open_demo(path) as crm:
        first = crm.session(DEMO_USERS[0]).contacts.list(limit=1).items[0]
    assert re.search(rf"^  +{first.id}  {re.escape(first.display_name[:21])}", out, re.M)


def test_demo_defaults_to_opencrm_demo_db_in_the_current_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "--contacts", "8")
    assert code == 0
    assert is_demo_file(tmp_path / "opencrm-demo.db")
    assert "Contacts: 8 (2 companies, 6 persons)" in out


def test_demo_twice_with_the_same_seed_gives_the_same_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "demo.db"
    outputs, summaries, snapshots = [], [], []
    for _ in range(2):
        code, out, _ = run(capsys, "demo", "--db", str(path), "--contacts", "30", "--seed", "7")
        assert code == 0  # the second run replaces the demo file without --force
        outputs.append([line for line in out.splitlines() if " s)" not in line])  # timing
        summaries.append(session_counts(path))
        snapshots.append(snapshot(path))
    assert summaries[0] == summaries[1]
    assert snapshots[0] == snapshots[1]
    assert outputs[0] == outputs[1]
    assert (summaries[0]["companies"], summaries[0]["persons"]) == (8, 22)
    assert run(capsys, "demo", "--db", str(path), "--contacts", "30", "--seed", "8")[0] == 0
    assert snapshot(path) != snapshots[0]


def test_build_demo_is_deterministic_in_memory() -> None:
    results = []
    for _ in range(2):
        with CRM.open("sqlite://", directory=demo_directory(), load_entrypoints=False) as crm:
            results.append(build_demo(crm, contacts=24, seed=42))
    assert results[0] == results[1]
    assert results[0].total == 24


def test_build_demo_refuses_bad_arguments() -> None:
    with CRM.open("sqlite://", directory=demo_directory(), load_entrypoints=False) as crm:
        with pytest.raises(ValidationError):
            build_demo(crm, contacts=0, seed=1)
        with pytest.raises(ValidationError):
            build_demo(crm, contacts=5, seed=1, users=DEMO_USERS[1:])
        assert crm.session(DEMO_USERS[0]).contacts.count() == 0


def test_demo_refuses_to_replace_a_file_that_is_not_a_demo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("not a database")
    code, out, err = run(capsys, "demo", "--db", str(notes))
    assert (code, out) == (2, "")
    assert_one_line_error(err, "is not an opencrm demo database", "--force")
    assert notes.read_text() == "not a database"

    real = tmp_path / "real.db"  # a real CRM with data is not replaced either
    assert run(capsys, "init", f"sqlite:///{real}")[0] == 0
    assert not is_demo_file(real)
    with pytest.raises(NotADemoDatabase):
        create_demo_file(real, contacts=4, seed=1)
    assert run(capsys, "demo", "--db", str(real))[0] == 2

    code, out, _ = run(capsys, "demo", "--db", str(notes), "--force", "--contacts", "8")
    assert code == 0
    assert is_demo_file(notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "notes.db-files", "real.db"]


def test_demo_into_a_missing_directory_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "demo", "--db", str(tmp_path / "nope" / "demo.db"))
    assert code == 2
    assert_one_line_error(err, "no directory")
    assert not (tmp_path / "nope").exists()


def test_an_empty_file_may_be_replaced(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    assert run(capsys, "demo", "--db", str(path), "--contacts", "4")[0] == 0
    assert is_demo_file(path)


# --- serve ---------------------------------------------------------------------------------
# The real server is started in tests/http/test_serve.py; here `run` is replaced, so these
# tests see what the command would serve without listening on a port.

HOST_APP_MODULE = """
from flask import Flask, request

from opencrm import CRM, InMemoryUserDirectory, User
from opencrm_flask import OpenCRM
from opencrm_flask.serve import demo_app

URL = @URL@
ALICE = User(id="alice", name="Alice")


def create_app():
    app = Flask("host")
    crm = CRM.open(URL, directory=InMemoryUserDirectory([ALICE]), load_entrypoints=False)
    # The host's own sign-in: a token header, here the only way to be anyone.
    OpenCRM(app, crm=crm, user_loader=lambda: ALICE if request.headers.get("X-Token") == "t0k"
            else None)
    return app


def bare():
    return Flask("bare")


def demo():
    return demo_app(contacts=1)


settings = {"url": URL}
"""


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, str, int]]:
    """What `opencrm serve` would serve: (app, host, port) of each `run` call."""
    from opencrm_flask import serve

    calls: list[tuple[object, str, int]] = []
    monkeypatch.setattr(serve, "run", lambda app, host, port: calls.append((app, host, port)))
    return calls


@pytest.fixture
def host_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module name of a host application with a Flask app factory, on sys.path."""
    name = f"web_app_{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{tmp_path / 'host.db'}"
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / f"{name}.py").write_text(HOST_APP_MODULE.replace("@URL@", repr(url)))
    monkeypatch.syspath_prepend(tmp_path / "apps")
    yield name
    sys.modules.pop(name, None)


def test_serve_needs_demo_or_app(
    capsys: pytest.CaptureFixture[str], served: list[tuple[object, str, int]]
) -> None:
    code, out, err = run(capsys, "serve")
    assert (code, out) == (2, "")
    assert_one_line_error(err, "serve needs --demo", "or --app MODULE:NAME")
    assert served == []


def test_serve_takes_demo_or_app_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "serve", "--demo", "--app", "myapp.web:create_app")
    assert (code, out) == (2, "")
    assert "argument --app: not allowed with argument --demo" in err


def test_serve_db_is_only_for_the_demo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, host_app: str
) -> None:
    code, out, err = run(
        capsys, "serve", "--app", f"{host_app}:create_app", "--db", str(tmp_path / "x.db")
    )
    assert (code, out) == (2, "")
    assert_one_line_error(err, "--db is for the demo (--demo)")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("app_arg", "fragments"),
    [
        ("create_app", ("--app must be MODULE:NAME, e.g. myapp.web:create_app",)),
        ("no_such_module_xyz:app", ("no module named 'no_such_module_xyz'",)),
        ("{app}:nothing", ("has no 'nothing'",)),
        ("{app}:settings", ("settings is a dict, not a Flask app or a function returning one",)),
        ("{app}:bare", ("does not mount opencrm", "OpenCRM(app, crm=..., user_loader=...)")),
        ("{app}:demo", ("is the demo app", "serve it with --demo")),
    ],
)
def test_serve_with_a_bad_app_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
    served: list[tuple[object, str, int]],
    host_app: str,
    app_arg: str,
    fragments: tuple[str, ...],
) -> None:
    code, out, err = run(capsys, "serve", "--app", app_arg.format(app=host_app))
    assert (code, out) == (2, "")
    assert_one_line_error(err, *fragments)
    assert served == []


def test_serve_app_honours_no_demo_user(
    capsys: pytest.CaptureFixture[str], served: list[tuple[object, str, int]], host_app: str
) -> None:
    from opencrm_flask.serve import DEMO_HEADER, DEMO_USER_HEADER

    code, out, err = run(
        capsys, "serve", "--app", f"{host_app}:create_app", "--port", "8123", "--host", "0.0.0.0"
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"opencrm API of {host_app}:create_app at http://0.0.0.0:8123/crm/ (development server)"
    )
    [(app, host, port)] = served
    assert (host, port) == ("0.0.0.0", 8123)
    client = app.test_client()  # type: ignore[attr-defined]
    claimed = client.get("/crm/contacts", headers={DEMO_USER_HEADER: "admin"})
    assert claimed.status_code == 401
    assert claimed.json["code"] == "unauthenticated"
    assert DEMO_HEADER not in claimed.headers
    signed_in = client.post(
        "/crm/persons", json={"first_name": "Grace"}, headers={"X-Token": "t0k"}
    )
    assert signed_in.status_code == 201
    assert signed_in.json["managers"] == ["alice"]
    assert DEMO_HEADER not in signed_in.headers


def test_serve_demo_builds_a_demo_crm_with_files_and_an_outbox(
    capsys: pytest.CaptureFixture[str], served: list[tuple[object, str, int]], tmp_path: Path
) -> None:
    from opencrm_flask import OpenCRM
    from opencrm_flask.serve import DEMO_HEADER, DEMO_USER_HEADER

    db = tmp_path / "demo.db"
    code, out, err = run(capsys, "serve", "--demo", "--db", str(db), "--contacts", "4")
    assert (code, err) == (0, "")
    assert out.splitlines()[:3] == [
        "Building a demo CRM with 4 contacts ...",
        "opencrm demo server at http://127.0.0.1:8000/ (development server, demo data only)",
        f"  database: {db} (kept)",
    ]
    assert "X-OpenCRM-Demo-User: <id> (admin, alice, bruno, chloe, dev; default admin)" in out
    assert is_demo_file(db)
    [(app, host, port)] = served
    assert (host, port) == ("127.0.0.1", 8000)
    crm = OpenCRM.state(app).crm  # type: ignore[arg-type]
    assert isinstance(crm.notifier, OutboxNotifier)
    assert isinstance(crm.file_store, LocalFileStore)
    assert crm.file_store.root == tmp_path / "demo.db-files"

    client = app.test_client()  # type: ignore[attr-defined]
    home = client.get("/")
    assert (home.status_code, home.headers["Location"]) == (302, "/crm/docs")
    assert home.headers[DEMO_HEADER] == "acting as admin; demo mode, not for production"
    as_admin = client.get("/crm/contacts", query_string={"count": "true"})
    as_dev = client.get("/crm/contacts?count=true", headers={DEMO_USER_HEADER: "dev"})
    assert as_dev.headers[DEMO_HEADER] == "acting as dev; demo mode, not for production"
    with open_demo(db) as check:
        assert as_admin.json["count"] == check.session(DEMO_USERS[0]).contacts.count() == 4
        dev = next(u for u in DEMO_USERS if u.id == "dev")
        assert as_dev.json["count"] == check.session(dev).contacts.count()
    unknown = client.get("/crm/contacts", headers={DEMO_USER_HEADER: "mallory"})
    assert unknown.status_code == 401
    assert unknown.json["code"] == "unknown_demo_user"
    assert unknown.headers[DEMO_HEADER] == "no acting user; demo mode, not for production"

    # the files attached to the demo's history are served from the same file store
    admin = crm.session(DEMO_USERS[0])
    event = next(e for e in admin.history.list(limit=500).items if e.files)
    attached = admin.history.open_file(event.id, event.files[0].id)
    assert attached.decode().endswith("\n")
    assert len(attached) == event.files[0].size

    # an upload lands in the demo's file store
    from io import BytesIO

    from PIL import Image

    png = BytesIO()
    Image.new("RGB", (40, 30), "teal").save(png, "PNG")
    contact_id = as_admin.json["items"][0]["id"]
    put = client.put(
        f"/crm/contacts/{contact_id}/photo",
        data={"file": (BytesIO(png.getvalue()), "face.png")},
        content_type="multipart/form-data",
    )
    assert put.status_code == 200, put.json
    assert [p.name for p in (tmp_path / "demo.db-files").iterdir() if not p.name.startswith(".")]


def test_serve_demo_refuses_a_db_that_is_no_demo(
    capsys: pytest.CaptureFixture[str], served: list[tuple[object, str, int]], tmp_path: Path
) -> None:
    precious = tmp_path / "real.db"
    precious.write_bytes(b"customer data")
    code, _, err = run(capsys, "serve", "--demo", "--db", str(precious))
    assert code == 2
    assert_one_line_error(err, "is not an opencrm demo database", "choose another --db")
    assert precious.read_bytes() == b"customer data"
    assert served == []


def test_the_command_does_not_import_flask() -> None:
    """Flask is an extra: only `opencrm serve` imports it."""
    import subprocess

    code = "import sys, opencrm.cli; print(sorted(m for m in sys.modules if 'flask' in m))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
