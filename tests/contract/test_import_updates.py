"""``on_duplicate="update"`` for opportunities, cases and tasks, on every backend: the mapped,
non-empty cells overwrite the matched record (by its duplicate key, or by the id the file
maps), nothing else is touched, a second run reports "unchanged", and a record the importer
may not edit is reported, never written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest
from moneyed import Money

from opencrm.core.imports import RowIssue
from opencrm.io import CsvRows

DEAL_MAPPING = {
    "title": "Title",
    "contact": "Client",
    "budget": "Amount",
    "description": "Notes",
    "tags": "Tags",
    "expected_close": "Close",
}


@pytest.fixture
def people(admin):  # type: ignore[no-untyped-def]
    admin.fields.add("opportunity", "Segment", "text")
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com", access="read_write")
    bo = admin.contacts.add_person("Bo", "Ek", email="bo@example.com", access="read_write")
    return ann, bo


def same_but_stamps(before, after):  # type: ignore[no-untyped-def]
    return attrs.evolve(after, updated_at=before.updated_at, updated_by=before.updated_by) == before


def test_an_opportunity_update_writes_the_mapped_cells_and_nothing_else(admin, people):
    ann, bo = people
    deal = admin.opportunities.add(
        "Fleet",
        contact=ann.id,
        members=[bo.id],
        budget=Money(100, "EUR"),
        description="keep me",
        probability=20,
        tags={"old"},
        custom={"Segment": "Retail"},
        expected_close=dt.date(2030, 1, 1),
        responsible="alice",
    )
    other = admin.opportunities.add("Other", contact=bo.id)
    data = (
        b"Title,Client,Amount,Notes,Tags,Close\n"
        b"fleet,ANN@example.com,250.5,,new;hot,2031-02-03\n"
        b"Other,bo@example.com,,,,\n"
    )

    def run(**options):  # type: ignore[no-untyped-def]
        return admin.imports.run(
            "opportunities",
            CsvRows(data),
            DEAL_MAPPING,
            on_duplicate="update",
            tag_separator=";",
            **options,
        )

    dry = run(dry_run=True)
    assert admin.opportunities.get(deal.id) == deal
    real = run()
    assert real.counts() == {
        "rows": 2,
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        "skipped": 0,
        "rejected": 0,
        "companies_created": 0,
    }
    assert real.updated_ids == ((deal.id, deal.id),)
    assert attrs.evolve(dry, dry_run=False, committed=True, updated_ids=real.updated_ids) == real
    after = admin.opportunities.get(deal.id)
    # Written: the title as the file spells it, the amount in the record's own currency
    # (the file maps none), the tags (replaced), the close date.
    assert after.title == "fleet"
    assert after.budget == Money(Decimal("250.50"), "EUR")
    assert after.tags == {"new", "hot"}
    assert after.expected_close == dt.date(2031, 2, 3)
    # Untouched: the empty notes cell, and everything the file does not map.
    assert after.description == "keep me"
    assert (after.contact_id, after.members) == (ann.id, {ann.id, bo.id})
    assert (after.probability, after.stage_id, after.responsible) == (
        20,
        deal.stage_id,
        "alice",
    )
    assert admin.opportunities.custom_values(after) == {"Segment": "Retail"}
    assert (after.id, after.created_at, after.created_by) == (deal.id, deal.created_at, "admin")
    assert admin.opportunities.get(other.id) == other
    again = run()
    assert (again.updated, again.unchanged, again.updated_ids) == (0, 2, ())
    assert admin.opportunities.get(deal.id) == after
    entries = [e.data for e in admin.settings.audit_trail() if e.action == "import.finished"]
    assert sorted((d["updated"], d["unchanged"], d["updated_ids"]) for d in entries) == [
        (0, 2, []),
        (1, 1, [[deal.id, deal.id]]),
    ]


def test_a_new_stage_brings_its_probability_and_close_date(admin, people):
    deal = admin.opportunities.add("Deal", probability=5)
    won = next(s for s in admin.lists.stages() if s.title == "Won")
    data = b"Title,Stage\nDeal,won\n"
    mapping = {"title": "Title", "stage": "Stage"}
    report = admin.imports.run("opportunities", CsvRows(data), mapping, on_duplicate="update")
    assert report.updated == 1
    after = admin.opportunities.get(deal.id)
    assert (after.stage_id, after.probability) == (won.id, won.probability)
    assert after.actual_close == after.updated_at.date()
    back = b"Title,Stage,Probability,Closed on\nDeal,Won,90,2031-01-02\n"
    mapping |= {"probability": "Probability", "actual_close": "Closed on"}
    report = admin.imports.run("opportunities", CsvRows(back), mapping, on_duplicate="update")
    after = admin.opportunities.get(deal.id)
    assert (report.updated, after.probability, after.actual_close) == (
        1,
        90,
        dt.date(2031, 1, 2),
    )


def test_an_update_by_id_and_ids_that_name_nothing(admin, alice, bob, people):
    deal = admin.opportunities.add("Deal", budget=Money(1, "USD"))
    secret = bob.opportunities.add("Secret", restricted=True)
    data = (
        f"Id,Title,Amount\n{deal.id},Renamed,5\n999999,Ghost,1\nx,Bad,1\n"
        f"{secret.id},Secret,2\n,Fresh,3\n0,Zero,1\n"
    ).encode()
    mapping = {"id": "Id", "title": "Title", "budget": "Amount"}
    dry = alice.imports.run(
        "opportunities", CsvRows(data), mapping, on_duplicate="update", dry_run=True
    )
    report = alice.imports.run("opportunities", CsvRows(data), mapping, on_duplicate="update")
    assert (report.updated, report.created, report.rejected) == (1, 1, 4)
    # A restricted opportunity alice may not read is named as if it did not exist.
    assert report.issues == (
        RowIssue(4, "Id", "'x' is not a whole number"),
        RowIssue(7, "Id", "0 is not a record id"),
        RowIssue(3, "Id", "no opportunity #999999"),
        RowIssue(5, "Id", f"no opportunity #{secret.id}"),
    )
    assert (
        attrs.evolve(
            dry,
            dry_run=False,
            committed=True,
            updated_ids=report.updated_ids,
            created_ids=report.created_ids,
        )
        == report
    )
    renamed = admin.opportunities.get(deal.id)
    assert (renamed.title, renamed.budget, renamed.updated_by) == (
        "Renamed",
        Money(5, "USD"),
        "alice",
    )
    assert bob.opportunities.get(secret.id) == secret
    assert sorted(o.title for o in admin.opportunities.list().items) == [
        "Fresh",
        "Renamed",
        "Secret",
    ]
    # Skip and create do not read the ids: the file's rows are matched by title and contact.
    skip = alice.imports.run("opportunities", CsvRows(data), mapping)
    assert (skip.created, skip.skipped, skip.rejected) == (2, 2, 2)  # Ghost, Secret created


def test_two_rows_of_one_file_update_one_record_in_turn(admin, people):
    deal = admin.opportunities.add("Deal", description="was")
    data = b"Title,Notes\nDeal,first\nDeal,second\nNew,a\nnew,b\n"
    mapping = {"title": "Title", "description": "Notes"}
    report = admin.imports.run(
        "opportunities", CsvRows(data), mapping, on_duplicate="update", batch_size=3
    )
    assert (report.updated, report.created) == (3, 1)
    assert admin.opportunities.get(deal.id).description == "second"
    [new] = [o for o in admin.opportunities.list().items if o.id != deal.id]
    assert (new.title, new.description) == ("new", "b")


def test_a_case_update(admin, bob):
    admin.fields.add("case", "Severity", "select", {"choices": ["low", "high"]})
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com", access="read_write")
    bo = admin.contacts.add_person("Bo", "Ek", email="bo@example.com", access="read_write")
    pump = admin.cases.add("Pump", members=[ann.id], tags={"old"}, custom={"Severity": "low"})
    quiet = admin.cases.add("Quiet", members=[ann.id])
    hidden = admin.cases.add("Hidden", restricted=True)
    data = (
        "Case,Who,Closed,Severity,Tags,Id\n"
        "Pump,bo@example.com,yes,high,,\n"
        "Quiet,,,,,\n"
        f"Hidden,,true,,,{hidden.id}\n"
        "Pump,,maybe,,,\n"
    ).encode()
    mapping = {
        "title": "Case",
        "members": "Who",
        "closed": "Closed",
        "custom:Severity": "Severity",
        "tags": "Tags",
        "id": "Id",
    }
    report = bob.imports.run(
        "cases", CsvRows(data), mapping, on_duplicate="update", defaults={"tags": ["seen"]}
    )
    assert (report.updated, report.unchanged, report.rejected) == (2, 0, 2)
    assert report.issues == (
        RowIssue(5, "Closed", "'maybe' is not true or false"),
        RowIssue(4, "Id", f"no case #{hidden.id}"),
    )
    after = admin.cases.get(pump.id)
    assert (after.members, after.closed, after.tags) == ({bo.id}, True, {"old", "seen"})
    assert admin.cases.custom_values(after) == {"Severity": "high"}
    assert admin.cases.get(quiet.id).tags == {"seen"}  # the default tags, as for contacts
    assert admin.cases.get(quiet.id).members == {ann.id}
    assert admin.cases.get(hidden.id) == hidden
    again = bob.imports.run(
        "cases", CsvRows(data), mapping, on_duplicate="update", defaults={"tags": ["seen"]}
    )
    assert (again.updated, again.unchanged, again.rejected) == (0, 2, 2)


TASK_MAPPING = {
    "title": "Title",
    "due": "Due",
    "description": "Notes",
    "category": "Category",
    "alert": "Alert",
}


def test_a_task_update_by_its_duplicate_key(crm, admin, alice):
    due = dt.datetime(2030, 5, 1, 9, 30, tzinfo=dt.UTC)
    mine = alice.tasks.add("Call", due, description="keep", alert=60)
    data = b"Title,Due,Notes,Category,Alert\ncall,2030-05-01T09:30:00Z,,Visit,15\n"
    report = alice.imports.run("tasks", CsvRows(data), TASK_MAPPING, on_duplicate="update")
    assert (report.updated, report.created, report.issues) == (1, 0, ())
    after = alice.tasks.get(mine.id)
    categories = {c.id: c.title for c in alice.lists.items("task_category")}
    assert (after.title, categories[after.category_id], after.alert_minutes) == (
        "call",
        "Visit",
        15,
    )
    assert (after.description, after.due_at, after.responsible) == ("keep", due, "alice")
    again = alice.imports.run("tasks", CsvRows(data), TASK_MAPPING, on_duplicate="update")
    assert (again.updated, again.unchanged) == (0, 1)
    # Another time is another task (the key holds the due time): created.
    later = data.replace(b"09:30", b"10:30")
    assert (
        alice.imports.run("tasks", CsvRows(later), TASK_MAPPING, on_duplicate="update").created == 1
    )


def test_a_task_update_by_id_rearms_the_reminder(crm, admin):
    due = dt.datetime(2030, 5, 1, 9, 30, tzinfo=dt.UTC)
    task = admin.tasks.add("Call", due, alert=60)
    [reminded] = crm.due_reminders(now=due)
    assert reminded.id == task.id
    assert admin.tasks.get(task.id).reminded_at is not None
    data = f"Id,Title,Due,Closed\n{task.id},Call,2030-06-01T09:30:00Z,\n".encode()
    mapping = {"id": "Id", "title": "Title", "due": "Due", "closed": "Closed"}
    assert admin.imports.run("tasks", CsvRows(data), mapping, on_duplicate="update").updated == 1
    moved = admin.tasks.get(task.id)
    assert (moved.due_at, moved.reminded_at) == (
        dt.datetime(2030, 6, 1, 9, 30, tzinfo=dt.UTC),
        None,
    )
    closing = data.replace(b",\n", b",true\n")
    assert admin.imports.run("tasks", CsvRows(closing), mapping, on_duplicate="update").updated == 1
    closed = admin.tasks.get(task.id)
    assert closed.closed
    assert closed.closed_at == closed.updated_at
    again = admin.imports.run("tasks", CsvRows(closing), mapping, on_duplicate="update")
    assert (again.unchanged, admin.tasks.get(task.id)) == (1, closed)


def test_a_task_the_importer_may_not_edit_is_reported(admin, alice, bob):
    due = dt.datetime(2030, 5, 1, 9, 30, tzinfo=dt.UTC)
    public = bob.tasks.add("Public", due)  # linked to nothing: everyone reads it
    private = bob.contacts.add_person("Pri", "Vate")
    hidden = bob.tasks.add("Hidden", due, contact=private.id)
    deal = admin.opportunities.add("Secret", restricted=True)
    data = (
        "Id,Title,Due,Deal\n"
        f"{public.id},Mine now,2030-05-01T09:30:00Z,\n"
        f"{hidden.id},Mine now,2030-05-01T09:30:00Z,\n"
        f"999999,Ghost,2030-05-01T09:30:00Z,\n"
        f",Linked,2030-05-01T09:30:00Z,{deal.id}\n"
        ",Public,2030-05-01T09:30:00Z,\n"
    ).encode()
    mapping = {"id": "Id", "title": "Title", "due": "Due", "opportunity_id": "Deal"}
    report = alice.imports.run("tasks", CsvRows(data), mapping, on_duplicate="update")
    assert report.issues == (
        RowIssue(2, None, f"matches task #{public.id}, which you may not edit", "skipped"),
        RowIssue(3, "Id", f"no task #{hidden.id}"),
        RowIssue(4, "Id", "no task #999999"),
        RowIssue(5, "Deal", f"no opportunity #{deal.id}"),
    )
    # Bob's "Public" is not alice's to edit, so her row of that title is a task of hers.
    assert (report.skipped, report.rejected, report.created, report.updated) == (1, 3, 1, 0)
    assert bob.tasks.get(public.id) == public
    assert bob.tasks.get(hidden.id) == hidden


def test_bad_cells_of_an_update_are_located_row_errors(admin, people):
    yen = admin.opportunities.add("Yen deal", budget=Money(100, "JPY"))
    data = b"Title,Amount\nYen deal,1.5\nYen deal,2\n"
    mapping = {"title": "Title", "budget": "Amount"}
    report = admin.imports.run("opportunities", CsvRows(data), mapping, on_duplicate="update")
    # 1.5 is a valid amount of the default currency, not of the record's own.
    assert report.issues == (RowIssue(2, "Amount", "has more decimals than JPY allows (0)"),)
    assert (report.updated, report.rejected) == (1, 1)
    assert admin.opportunities.get(yen.id).budget == Money(2, "JPY")
    case = admin.cases.add("Case")
    task = admin.tasks.add("Task", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    rows = (
        "Id,Title,Due,Deal,Case,Closed at\n"
        f"{task.id},Task,2030-01-01T00:00:00Z,{yen.id},{case.id},\n"
        f"{task.id},Task,2030-01-01T00:00:00Z,,,yesterday\n"
        f"{task.id},Task,9999-12-31T23:59:00Z,,,\n"
        f"{task.id},Task,2030-01-01T00:00:00Z,,{case.id},\n"
    ).encode()
    mapping = {
        "id": "Id",
        "title": "Title",
        "due": "Due",
        "opportunity_id": "Deal",
        "case_id": "Case",
        "closed_at": "Closed at",
    }
    report = admin.imports.run("tasks", CsvRows(rows), mapping, on_duplicate="update")
    assert report.issues == (
        RowIssue(2, "Case", "link either an opportunity or a case, not both"),
        RowIssue(3, "Closed at", "'yesterday' is not a date or date and time (ISO 8601)"),
        RowIssue(4, "Due", "must be from 1900-01-01 to 9000-12-31"),
    )
    assert (report.updated, report.rejected) == (1, 3)
    assert admin.tasks.get(task.id).case_id == case.id
