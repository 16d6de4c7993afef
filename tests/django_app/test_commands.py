"""``manage.py opencrm_reminders``: ``opencrm reminders`` on the project's CRM."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.contrib.auth.models import User as DjangoUser
from django.core.management import CommandError, call_command
from django.test import override_settings
from moneyed import Money
from opencrm_django import get_crm
from opencrm_django.runtime import user_adapter

from opencrm import OutboxNotifier

REMIND_AT = dt.datetime(2099, 3, 14, 9, 30, tzinfo=dt.UTC)
AT = "2099-03-14T09:30:00+00:00"


def reminders(*args: str) -> str:
    out = io.StringIO()
    call_command("opencrm_reminders", *args, stdout=out)
    return out.getvalue()


def test_a_due_reminder_is_sent_once_to_the_django_user(alias: str) -> None:
    outbox = OutboxNotifier()
    with override_settings(OPENCRM_CRM_OPTIONS={"notifier": outbox}):
        alice = DjangoUser.objects.create_user("alice", "alice@example.com")
        tasks = get_crm().session(user_adapter().to_crm_user(alice)).tasks
        tasks.add("Call Bob back", REMIND_AT + dt.timedelta(minutes=15), alert=15)
        tasks.add("Later", REMIND_AT + dt.timedelta(hours=2), alert=60)
        outbox.take()
        assert reminders("--at", AT) == "1 reminder due; sent to its responsible user\n"
        assert [m.to for m in outbox.take()] == [("alice@example.com",)]
        assert reminders("--at", AT) == "no reminders due\n"
        assert outbox.take() == []


def test_without_a_notifier_nothing_is_claimed(alias: str) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    get_crm().session(user_adapter().to_crm_user(alice)).tasks.add(
        "Call Bob back", REMIND_AT + dt.timedelta(minutes=15), alert=15
    )
    with pytest.raises(CommandError) as raised:
        reminders("--at", AT)
    assert str(raised.value) == (
        "opencrm_reminders: the CRM has no notifier (and no plugin delivers notifications), "
        "so no reminder could be sent; give it one (OPENCRM_CRM_OPTIONS['notifier'])"
    )
    outbox = OutboxNotifier()
    with override_settings(OPENCRM_CRM_OPTIONS={"notifier": outbox}):
        assert reminders("--at", AT) == "1 reminder due; sent to its responsible user\n"


def test_a_time_without_offset_is_refused(alias: str) -> None:
    with pytest.raises(CommandError, match="has no UTC offset"):
        reminders("--at", "2099-03-14T09:30")


# --- manage.py opencrm_export ---------------------------------------------------------------


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("opencrm_export", *args, "--quiet", stdout=out)
    return out.getvalue()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline="")))


def test_export_writes_what_the_django_user_sees(alias: str, tmp_path: Path) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    bob = DjangoUser.objects.create_user("bob", "bob@example.com")
    # The CRM's tables outlive a test: this test's contacts carry a tag of their own.
    tag = f"t{uuid.uuid4().hex}"
    get_crm().session(user_adapter().to_crm_user(alice)).contacts.add_person("Ann", tags={tag})
    get_crm().session(user_adapter().to_crm_user(bob)).contacts.add_person("Bob's own", tags={tag})
    target = tmp_path / "contacts.csv"
    summary = export("contacts", "--user", "alice", "--out", str(target), "--filter", f"tags={tag}")
    assert summary.startswith(f"exported 1 row of contacts to {target} (CSV, ")
    assert [(r["Kind"], r["First name"], r["Tags"]) for r in _csv_rows(target)] == [
        ("person", "Ann", tag)
    ]
    # New contacts are private to their creator: each export holds its user's own.
    export("contacts", "--user", "bob", "--out", str(target), "--filter", f"tags={tag}")
    assert [r["First name"] for r in _csv_rows(target)] == ["Bob's own"]


def test_the_full_export_is_for_crm_admins(alias: str, tmp_path: Path) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    DjangoUser.objects.create_superuser("root", "root@example.com", "pw")
    name = f"Acme {uuid.uuid4().hex}"  # the CRM's tables outlive a test: a name of its own
    get_crm().session(user_adapter().to_crm_user(alice)).contacts.add_company(name)
    target = tmp_path / "all.zip"
    with pytest.raises(CommandError) as raised:
        export("--all", "--user", "alice", "--out", str(target))
    assert str(raised.value).startswith("opencrm_export: ")
    assert not target.exists()
    assert export("--all", "--user", "root", "--out", str(target)).startswith("exported ")
    with zipfile.ZipFile(target) as archive:
        contacts = archive.read("contacts.csv").decode("utf-8-sig")
    found = [r["Company name"] for r in csv.DictReader(io.StringIO(contacts))]
    assert found.count(name) == 1


def test_export_refuses_unknown_users_and_bad_arguments(alias: str, tmp_path: Path) -> None:
    DjangoUser.objects.create_user("alice", "alice@example.com")
    target = str(tmp_path / "x.csv")
    with pytest.raises(CommandError) as raised:
        export("contacts", "--user", "nobody", "--out", target)
    assert str(raised.value) == "opencrm_export: no user 'nobody'"
    with pytest.raises(CommandError) as raised:
        export("--user", "alice", "--out", target)
    assert str(raised.value) == ("opencrm_export: name one ENTITY to export, or --all (not both)")
    with pytest.raises(CommandError) as raised:
        export("planets", "--user", "alice", "--out", target)
    assert str(raised.value).startswith("opencrm_export: ")


# --- manage.py opencrm_import ---------------------------------------------------------------


def import_(*args: str) -> str:
    out = io.StringIO()
    call_command("opencrm_import", *args, "--quiet", stdout=out)
    return out.getvalue()


def test_import_acts_as_the_django_user(alias: str, tmp_path: Path) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    DjangoUser.objects.create_user("bob", "bob@example.com")
    # The CRM's tables outlive a test: this test's contacts carry a tag and e-mails of their own.
    tag = f"t{uuid.uuid4().hex}"
    people = tmp_path / "people.csv"
    people.write_text(
        f"First,Last,Email\nAnn,Lee,ann-{tag}@example.com\nBad,Row,not-mail\n", encoding="utf-8"
    )
    argv = ["contacts", str(people), "--user", "alice", "--tags", tag]
    argv += ["--map", "first_name=First", "--map", "last_name=Last", "--map", "email=Email"]
    dry = import_(*argv, "--dry-run")
    assert dry.startswith("Dry run: nothing was written\n")
    assert "│ created           │ 1 │" in dry
    assert "│ 3   │ Email  │ is not a valid e-mail address" in dry
    contacts = get_crm().session(user_adapter().to_crm_user(alice)).contacts
    assert list(contacts.list(tags=[tag])) == []
    issues = tmp_path / "issues.csv"
    done = import_(*argv, "--issues", str(issues))
    assert done.startswith("Import finished\n")
    assert issues.read_text("utf-8").splitlines()[1].startswith("3,Email,is not a valid e-mail")
    [ann] = contacts.list(tags=[tag])
    assert (ann.display_name, ann.managers) == ("Ann Lee", frozenset({str(alice.pk)}))
    assert "│ unchanged         │ 1 │" in import_(*argv, "--on-duplicate", "update")
    # Bob may not edit Alice's private contact: his update skips it, and says why.
    bob_argv = [a if a != "alice" else "bob" for a in argv]
    by_bob = import_(*bob_argv, "--on-duplicate", "update")
    assert "│ skipped           │ 1 │" in by_bob
    assert "matches a contact, which you may not edit" in by_bob
    assert [c.first_name for c in contacts.list(tags=[tag])] == ["Ann"]


def test_import_reads_an_export_back(alias: str, tmp_path: Path) -> None:
    DjangoUser.objects.create_user("alice", "alice@example.com")
    name = f"Acme {uuid.uuid4().hex}"
    people = tmp_path / "people.csv"
    people.write_text(f"Company\n{name}\n", encoding="utf-8")
    import_("contacts", str(people), "--user", "alice", "--map", "company=Company")
    target = tmp_path / "contacts.csv"
    export("contacts", "--user", "alice", "--out", str(target), "--filter", f"text={name}")
    again = import_(
        "contacts", str(target), "--user", "alice", "--map", "export", "--on-duplicate", "update"
    )
    assert "│ unchanged         │ 1 │" in again


def test_import_refuses_unknown_users_and_bad_arguments(alias: str, tmp_path: Path) -> None:
    DjangoUser.objects.create_user("alice", "alice@example.com")
    people = tmp_path / "people.csv"
    people.write_text("First\nAnn\n", encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        import_("contacts", str(people), "--user", "nobody", "--map", "first_name=First")
    assert str(raised.value) == "opencrm_import: no user 'nobody'"
    with pytest.raises(CommandError) as raised:
        import_("contacts", str(people), "--user", "alice")
    assert str(raised.value) == ("opencrm_import: --map: give the mapping with --map or --map-file")
    with pytest.raises(CommandError) as raised:
        import_("contacts", str(people), "--user", "alice", "--map", "first_name=Given")
    assert str(raised.value) == "opencrm_import: mapping.first_name: no column 'Given'"
    with pytest.raises(CommandError) as raised:
        import_("contacts", str(tmp_path / "none.csv"), "--user", "alice", "--map", "a=b")
    assert str(raised.value).startswith("opencrm_import: ")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"First,Email\nAnn,ann-{uuid.uuid4().hex}@example.com\nBob,x\n", "utf-8")
    with pytest.raises(CommandError) as raised:
        import_(
            "contacts",
            str(bad),
            "--user",
            "alice",
            "--atomic",
            "--map",
            "first_name=First",
            "--map",
            "email=Email",
        )
    assert str(raised.value) == "opencrm_import: a row was rejected, so nothing was written"


def test_import_of_opportunities_tasks_and_cases(alias: str, tmp_path: Path) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    # The CRM's tables outlive a test: this test's records carry a tag of their own.
    tag = f"t{uuid.uuid4().hex}"
    deals = tmp_path / "deals.csv"
    deals.write_text(f"Deal,Amount\nRenewal {tag},1500\nBad {tag},1.234\n", encoding="utf-8")
    argv = ["--user", "alice", "--tags", tag, "--map", "title=Deal"]
    out = import_("opportunities", str(deals), *argv, "--map", "budget=Amount")
    assert "│ created           │ 1 │" in out
    assert "│ rejected          │ 1 │" in out
    session = get_crm().session(user_adapter().to_crm_user(alice))
    [deal] = session.opportunities.list(tags=[tag]).items
    assert (deal.title, str(deal.budget.amount), deal.responsible) == (
        f"Renewal {tag}",
        "1500.00",
        str(alice.pk),
    )
    tasks = tmp_path / "tasks.csv"
    tasks.write_text(f"Deal,Due\nCall {tag},2030-01-01 10:00\n", encoding="utf-8")
    out = import_("tasks", str(tasks), "--user", "alice", "--map", "title=Deal", "--map", "due=Due")
    assert "│ created           │ 1 │" in out
    assert [t.title for t in session.tasks.list(text=tag).items] == [f"Call {tag}"]
    out = import_("cases", str(deals), *argv)
    assert "│ created           │ 2 │" in out
    assert len(session.cases.list(tags=[tag]).items) == 2


# --- manage.py opencrm_report ---------------------------------------------------------------


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("opencrm_report", *args, stdout=out)
    return out.getvalue()


def _manager() -> DjangoUser:
    """A manager of this test's own: the CRM's tables outlive a test and its user ids are
    Django primary keys, so a unique key keeps other tests' opportunities out of the report."""
    key = 1_000_000 + uuid.uuid4().int % 1_000_000_000
    return DjangoUser.objects.create_user(f"m{key}", f"m{key}@example.com", id=key)


def test_report_writes_json_and_xlsx_as_a_django_admin(alias: str, tmp_path: Path) -> None:
    DjangoUser.objects.create_superuser("root", "root@example.com", "pw")
    manager = _manager()
    crm = get_crm()
    admin = crm.session(user_adapter().to_crm_user(DjangoUser.objects.get(username="root")))
    currency = admin.currencies.default()
    mid = user_adapter().to_crm_user(manager).id
    won = next(s.id for s in admin.stages.list() if s.type == "won")
    admin.opportunities.add(
        "Renewal",
        budget=Money("1200", currency),
        responsible=mid,
        stage=won,
        actual_close=dt.date(2026, 1, 5),
    )
    admin.opportunities.add("Upgrade", budget=Money("300", currency), responsible=mid)

    out = tmp_path / "deals.json"
    args = ("--period", "all_time", "--manager", manager.username, "--user", "root")
    summary = report("opportunities_by_managers", *args, "--out", str(out))
    assert summary == (
        f"Opportunities by managers (all time, {currency}): 1 row written to {out}\n"
    )
    data = json.loads(out.read_text("utf-8"))
    assert data["parameters"] == {"period": "all_time", "managers": [mid]}
    assert data["tables"][0]["rows"] == [
        [manager.username, 1, "300.00", 1, "1200.00", 0, "0.00", 2, "1500.00"]
    ]
    xlsx = tmp_path / "deals.xlsx"
    assert report("opportunities_by_managers", *args, "--out", str(xlsx)).endswith(f"{xlsx}\n")
    ws = openpyxl.load_workbook(xlsx).active
    row = next(r for r in ws.iter_rows(values_only=True) if r[0] == manager.username)
    assert row[:9] == (manager.username, 1, 300, 1, 1200, 0, 0, 2, 1500)


def test_report_is_for_crm_admins_and_refuses_bad_arguments(alias: str, tmp_path: Path) -> None:
    DjangoUser.objects.create_user("alice", "alice@example.com")
    DjangoUser.objects.create_superuser("root", "root@example.com", "pw")
    target = tmp_path / "x.xlsx"
    cases = [
        (("sales_funnel", "--user", "alice"), "opencrm_report: only a CRM admin"),
        (("sales_funnel", "--user", "nobody"), "opencrm_report: no user 'nobody'"),
        (("sales_funnel", "--user", "root", "--manager", "ghost"), "opencrm_report: no manager "),
        (("nope", "--user", "root"), "opencrm_report: name: must be one of sales_by"),
        (
            ("sales_funnel", "--user", "root", "--period", "all_time"),
            "opencrm_report: period: must be one of today",
        ),
    ]
    for args, message in cases:
        with pytest.raises(CommandError) as raised:
            report(*args, "--out", str(target))
        assert str(raised.value).startswith(message), str(raised.value)
    with pytest.raises(CommandError) as raised:
        report("sales_funnel", "--user", "root", "--out", str(tmp_path / "x.csv"))
    assert "--out must end in .xlsx or .json" in str(raised.value)
    assert not target.exists()
