"""Imports of tasks from CSV and XLSX files, on every backend."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import attrs
import pytest
from openpyxl import Workbook

from opencrm import ValidationError
from opencrm.core.imports import RowIssue
from opencrm.io import CsvRows, XlsxRows

HEADER = "Title,Due,Category,Owner,Client,Notes,Alert"
MAPPING = {
    "title": "Title",
    "due": "Due",
    "category": "Category",
    "responsible": "Owner",
    "contact": "Client",
    "description": "Notes",
    "alert": "Alert",
}
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def csv_of(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


@pytest.fixture
def ann(admin):  # type: ignore[no-untyped-def]
    admin.settings.set_regional(time_zone="Europe/Berlin")
    return admin.contacts.add_person("Ann", "Lee", email="ann@example.com", access="read_write")


def test_rows_become_tasks_in_the_crms_time_zone(admin, ann):
    data = csv_of(
        "Call back,2030-05-01 09:30,Phone call,alice,ANN@example.com,About the offer,60",
        "Send quote,2030-05-02,,,,,",
        "Exact,2030-05-03T08:00:00+00:00,Phone call,,,,0",
    )
    report = admin.imports.run("tasks", CsvRows(data), MAPPING)
    assert (report.created, report.rejected, report.issues) == (3, 0, ())
    tasks = {t.title: t for t in admin.tasks.list().items}
    call = tasks["Call back"]
    assert call.due_at == dt.datetime(2030, 5, 1, 9, 30, tzinfo=BERLIN)
    assert (call.responsible, call.contact_id, call.description) == (
        "alice",
        ann.id,
        "About the offer",
    )
    assert call.alert_minutes == 60
    categories = {c.id: c.title for c in admin.lists.items("task_category")}
    assert categories[call.category_id] == "Phone call"  # created: it did not exist
    quote = tasks["Send quote"]
    assert quote.due_at == dt.datetime(2030, 5, 2, 23, 59, tzinfo=BERLIN)
    assert quote.responsible == "admin"
    assert quote.alert_minutes == 1440
    assert categories[quote.category_id] == admin.lists.items("task_category")[0].title
    assert tasks["Exact"].due_at == dt.datetime(2030, 5, 3, 8, 0, tzinfo=dt.UTC)
    assert tasks["Exact"].category_id == call.category_id
    ids = sorted(t.id for t in tasks.values())
    assert report.created_ids == ((ids[0], ids[-1]),)


def test_bad_rows_are_reported_and_good_rows_import(admin, ann):
    data = csv_of(
        "No date,someday,,,,,",
        "Nobody,2030-01-01,,ghost,,,",
        "Stranger,2030-01-01,,,zed@example.com,,",
        "Odd alert,2030-01-01,,,,,7",
        "New kind,2030-01-01,Brand new,,,,",
        "No due,,,,,,",
        ",2030-01-01,,,,,",
        "Good,2030-01-01,,,ann@example.com,,",
    )
    report = admin.imports.run("tasks", CsvRows(data), MAPPING, create_missing=False)
    assert (report.created, report.rejected) == (1, 7)
    assert report.issues == (
        RowIssue(2, "Due", "'someday' is not a date or date and time (ISO 8601)"),
        RowIssue(3, "Owner", "no user 'ghost'"),
        RowIssue(5, "Alert", "must be one of 0, 5, 15, 30, 60, 120, 1440 (minutes; 0 = never)"),
        RowIssue(6, "Category", "no task category 'Brand new'"),
        RowIssue(7, "Due", "has no due date"),
        RowIssue(8, None, "has no title"),
        RowIssue(4, "Client", "no contact with the e-mail 'zed@example.com'"),
    )
    [good] = admin.tasks.list().items
    assert (good.title, good.contact_id) == ("Good", ann.id)


def test_duplicates_dry_run_and_all_or_nothing(admin, ann):
    data = csv_of(
        "Call,2030-01-01 10:00,,,ann@example.com,,",
        "call,2030-01-01 10:00,,,ann@example.com,,",
        "Call,2030-01-01 11:00,,,ann@example.com,,",
        "Bad,2030-13-01,,,,,",
    )
    dry = admin.imports.run("tasks", CsvRows(data), MAPPING, dry_run=True)
    assert admin.tasks.count() == 0
    real = admin.imports.run("tasks", CsvRows(data), MAPPING)
    assert (real.created, real.skipped, real.rejected) == (2, 1, 1)
    assert attrs.evolve(dry, dry_run=False, committed=True, created_ids=real.created_ids) == real
    again = admin.imports.run("tasks", CsvRows(data), MAPPING, atomic=True)
    assert (again.skipped, again.rejected, again.committed) == (3, 1, False)
    forced = admin.imports.run(
        "tasks", CsvRows(data[: data.index(b"Bad")]), MAPPING, on_duplicate="create"
    )
    assert forced.created == 3
    assert admin.tasks.count() == 5
    with pytest.raises(ValidationError) as caught:
        admin.imports.run("tasks", CsvRows(data), {"title": "Title"})
    assert list(caught.value.errors) == ["mapping.due"]


def test_contacts_the_importer_may_not_read_are_not_found(bob, alice):
    hidden = bob.contacts.add_person("Hid", "Den", email="hidden@example.com")
    data = f"Title,Due,Contact id\nLook,2030-01-01,{hidden.id}\n".encode()
    mapping = {"title": "Title", "due": "Due", "contact_id": "Contact id"}
    report = alice.imports.run("tasks", CsvRows(data), mapping)
    assert report.issues == (RowIssue(2, "Contact id", f"no contact #{hidden.id}"),)
    assert bob.imports.run("tasks", CsvRows(data), mapping).created == 1


def test_xlsx_dates(admin, ann):
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Title", "Due"])
    sheet.append(["Sheet task", dt.datetime(2031, 1, 2, 15, 0)])
    out = io.BytesIO()
    book.save(out)
    report = admin.imports.run("tasks", XlsxRows(out.getvalue()), {"title": "Title", "due": "Due"})
    assert report.created == 1, report.issues
    [task] = admin.tasks.list().items
    assert task.due_at == dt.datetime(2031, 1, 2, 15, 0, tzinfo=BERLIN)
