"""Our import reads our export back with no loss, on every backend: a rich contact set
exported as CSV and as XLSX, imported into a fresh CRM with ``mapping="export"``, exported
again, and the two exports compared cell by cell (the CRM's own ids and stamps aside)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from moneyed import Money

from opencrm import CRM, InMemoryUserDirectory, User
from opencrm.core.entities.lists import ListKind
from opencrm.core.services.imports import EXPORT_IGNORED, export_mapping, restore
from opencrm.errors import ValidationError
from opencrm.io import CsvRows, XlsxRows, neutralise, stream_export
from opencrm.io.columns import sheet_for
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade

USERS = [
    User(id="admin", name="Ada", email="ada@example.com", crm_admin=True),
    User(id="alice", name="Alice", email="alice@example.com"),
]
#: Columns that name the CRM's own records (they differ in another CRM by design).
OWN = ("Id", "Company id", "Created at", "Updated at")


@pytest.fixture
def fresh_engine(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[sa.Engine]:
    """A second, empty CRM database on the same backend."""
    if backend == "sqlite":
        engine = create_engine_for(f"sqlite:///{tmp_path / 'fresh.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
    else:
        # Another private schema, made as the session's own test database is.
        db = type(request.getfixturevalue("pg_database"))()
        yield db.engine
        db.drop()


def open_crm(engine: sa.Engine) -> CRM:
    return CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(USERS))


def define_fields(admin: Any) -> None:
    """The custom fields of the data set, one of each type (a CRM's fields are its setup:
    the import fills them, it does not define them)."""
    admin.fields.add("contact", "Birthday", "date")
    admin.fields.add("contact", "Segment", "select", {"choices": ["Retail", "=Wholesale"]})
    admin.fields.add("person", "Shoe size", "text")
    admin.fields.add("company", "Vetted", "checkbox")
    admin.fields.add("contact", "Notes", "textarea")


def rich_contacts(admin: Any, alice: Any) -> None:
    define_fields(admin)
    admin.lists.add(ListKind.CONTACT_TYPE, "Reseller")
    admin.lists.add(ListKind.TEMPERATURE, "Glowing", color="#77cf9a")
    acme = alice.contacts.add_company(
        "Acme Ltd",
        industry="Tools",
        tags={"vip", "north, east"},
        currency="EUR",
        about="-5% on everything\nsince 2024",
        contact_type="Reseller",
        custom={"Vetted": True, "Segment": "=Wholesale", "Notes": "line one\nline two"},
        infos=[
            {"type": "website", "category": "work", "value": "https://acme.example"},
            {"type": "phone", "category": "fax", "value": "+49 30 7654321"},
        ],
    )
    alice.contacts.add_company("Empty Co", custom={"Vetted": False})
    alice.contacts.add_person(
        "Bob",
        "Smith",
        job_title="=Buyer",
        company=acme,
        temperature="Glowing",
        about="'=quoted on purpose",
        tags={"vip", "@home"},
        custom={"Birthday": dt.date(1980, 5, 17), "Shoe size": "+44", "Segment": "Retail"},
        infos=[
            {"type": "email", "category": "work", "value": "bob@acme.example", "primary": True},
            {"type": "email", "category": "work", "value": "b.smith@acme.example"},
            {"type": "email", "category": "home", "value": "bob@home.example"},
            {"type": "phone", "category": "mobile", "value": "+49 30 1234567"},
            {"type": "phone", "category": "work", "value": "+49 30 1234568"},
            {
                "type": "address",
                "category": "postal",
                "value": {"street": "Main St 1", "city": "Berlin", "zip": "10115"},
            },
            {
                "type": "address",
                "category": "postal",
                "value": {"city": "Hamburg", "country": "Germany", "state": "HH"},
            },
            {
                "type": "address",
                "category": "home",
                "value": {"street": "Elm 2", "city": "Potsdam", "country": "Germany"},
            },
        ],
    )
    # Every other info type, with each of its categories.
    others = [
        {"type": t, "category": c, "value": f"{t}-{c}-handle"}
        for t in (
            "skype",
            "twitter",
            "linkedin",
            "facebook",
            "livejournal",
            "myspace",
            "blogger",
            "yahoo",
            "msn",
            "icq",
            "jabber",
            "aim",
            "vk",
        )
        for c in ("work", "home", "other")
    ]
    others.append({"type": "gmail", "category": "other", "value": "carol@gmail.example"})
    brand = alice.contacts.add_company("Brand New GmbH")
    alice.contacts.add_person("Carol", infos=others, company=brand)
    alice.contacts.add_person("Dave", "O'Neil", email="dave@example.com", tags={"+plus"})


def export(session: Any, fmt: str) -> bytes:
    return b"".join(stream_export(session, "contacts", fmt))


def cells(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """The export's rows by header, without the CRM's own ids and stamps, in a stable
    order (the records' ids differ between the two CRMs)."""
    if fmt == "csv":
        rows: list[dict[str, Any]] = list(
            csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        )
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
        raw = [[c.value for c in row] for row in sheet.iter_rows()]
        rows = [dict(zip(raw[0], row, strict=True)) for row in raw[1:]]
    kept = [{k: v for k, v in r.items() if k not in OWN} for r in rows]
    return sorted(kept, key=lambda r: (r["Kind"], str(r["First name"]), str(r["Company name"])))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imports_back_with_no_loss(crm: CRM, fresh_engine: sa.Engine, fmt: str) -> None:
    alice, admin = crm.session(USERS[1]), crm.session(USERS[0])
    rich_contacts(admin, alice)
    first = export(alice, fmt)
    fresh = open_crm(fresh_engine)
    define_fields(fresh.session(USERS[0]))
    target = fresh.session(USERS[1])
    reader = CsvRows(first) if fmt == "csv" else XlsxRows(first)
    # Into another CRM: the file's ids are the first CRM's, so the import does not update by
    # them (skip matches by e-mail, phone and company name only).
    report = target.imports.run("contacts", reader, "export", on_duplicate="skip")
    assert report.counts() == {
        "rows": 6,
        "created": 6,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
        "companies_created": 0,
    }
    assert report.issues == ()
    second = export(target, fmt)
    before, after = cells(first, fmt), cells(second, fmt)
    assert [r["Company name"] for r in before if r["Kind"] == "company"] == [
        "Acme Ltd",
        "Brand New GmbH",
        "Empty Co",
    ]
    bob = next(r for r in before if r["First name"] == "Bob")
    assert (bob["Email (work)"], bob["Address (postal): city"], bob["Job title"]) == (
        "bob@acme.example\nb.smith@acme.example",
        "Berlin\nHamburg",
        "'=Buyer" if fmt == "csv" else "=Buyer",  # neutralised in CSV only
    )
    assert (bob["Temperature"], bob["Company name"], bob["Custom: Segment"]) == (
        "Glowing",
        "Acme Ltd",
        "Retail",
    )
    assert after == before
    # The target's own export read back with update changes nothing: every row, Carol (no
    # e-mail, no phone) too, is matched by its id.
    again = CsvRows(second) if fmt == "csv" else XlsxRows(second)
    repeat = target.imports.run("contacts", again, "export", on_duplicate="update")
    assert (repeat.unchanged, repeat.created, repeat.issues) == (6, 0, ())
    # By e-mail, phone and company name (skip), Carol matches nothing: she is created again.
    again = CsvRows(second) if fmt == "csv" else XlsxRows(second)
    repeat = target.imports.run("contacts", again, "export", on_duplicate="skip")
    assert (repeat.skipped, repeat.created) == (5, 1)


def test_the_export_mapping_covers_every_column_the_export_writes(alice: Any, admin: Any) -> None:
    define_fields(admin)
    header = sheet_for("contacts", alice).header
    mapping = export_mapping(header)
    mapped = {
        c
        for v in mapping.values()
        for c in ([v] if isinstance(v, str) else list(v.values()) if isinstance(v, dict) else v)
    }
    assert set(header) - mapped == set(EXPORT_IGNORED)
    assert mapping["email:work"] == "Email (work)"
    assert mapping["address:postal"] == {
        "street": "Address (postal): street",
        "city": "Address (postal): city",
        "state": "Address (postal): state",
        "zip": "Address (postal): zip",
        "country": "Address (postal): country",
    }
    assert mapping["custom:Shoe size"] == "Custom: Shoe size"
    with pytest.raises(ValidationError) as caught:
        export_mapping(["First name", "E-mail 1 - Value"])
    assert caught.value.errors == {
        "mapping": "the file is not an opencrm export of contacts: no export has 'E-mail 1 - Value'"
    }


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+49", "-5", "@SUM(A1)", "\tx", "\rx", "'=x", "''+x", "'plain", "plain", "'", ""],
)
def test_restore_undoes_neutralise(text: str) -> None:
    assert restore(neutralise(text)) == text


def test_only_an_export_mapping_restores_cells(alice: Any) -> None:
    data = b"First name,Last name,About\r\n'=Ada,x,'-y\r\n"
    mine = alice.imports.run(
        "contacts", CsvRows(data, delimiter=",", quotechar='"'), {"first_name": "First name"}
    )
    assert mine.created == 1
    [ada] = alice.contacts.list()
    assert ada.first_name == "'=Ada"  # someone else's file: taken as written
    with pytest.raises(ValidationError) as caught:
        alice.imports.run("contacts", CsvRows(data), "everything")
    assert caught.value.errors == {"mapping": "must map fields to columns, or be 'export'"}


# --- tasks and cases --------------------------------------------------------------------

#: The columns a re-import hands out anew (the records' ids and stamps).
RECORD_OWN = ("Id", "Created at", "Updated at")


def records_of(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """An export's rows by header, without its own ids and stamps, by title and due time."""
    if fmt == "csv":
        rows: list[dict[str, Any]] = list(
            csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        )
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
        raw = [[c.value for c in row] for row in sheet.iter_rows()]
        rows = [dict(zip(raw[0], row, strict=True)) for row in raw[1:]]
    kept = [{k: v for k, v in r.items() if k not in RECORD_OWN} for r in rows]
    return sorted(kept, key=lambda r: (str(r["Title"]), str(r.get("Due at"))))


def rich_cases(admin: Any) -> None:
    admin.fields.add("case", "Severity", "select", {"choices": ["low", "=high"]})
    admin.fields.add("case", "Opened", "date")
    admin.fields.add("case", "Notes", "textarea")
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com")
    bo = admin.contacts.add_person("Bo", "Ek")
    admin.cases.add(
        "=Broken pump",
        members=[ann.id, bo.id],
        tags={"urgent", "north, east", "@ops"},
        custom={"Severity": "=high", "Opened": dt.date(2026, 3, 4), "Notes": "-5 °C\nline two"},
    )
    closed = admin.cases.add("Closed one", members=[bo.id], custom={"Severity": "low"})
    admin.cases.close(closed.id)
    admin.cases.add("Plain")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_cases_export_imports_back_with_no_loss(admin: Any, fmt: str) -> None:
    rich_cases(admin)
    first = export_of(admin, "cases", fmt)
    for case in admin.cases.list().items:
        admin.cases.delete(case.id)
    report = admin.imports.run("cases", reader_of(first, fmt), "export")
    assert (report.created, report.rejected, report.issues) == (3, 0, ())
    again = export_of(admin, "cases", fmt)
    assert records_of(again, fmt) == records_of(first, fmt)
    pump = next(r for r in records_of(first, fmt) if "Broken pump" in r["Title"])
    assert (pump["Title"], pump["Tags"], pump["Custom: Severity"]) == (
        ("=Broken pump", "@ops\nnorth, east\nurgent", "=high")
        if fmt == "xlsx"
        else ("'=Broken pump", "'@ops\nnorth, east\nurgent", "'=high")
    )
    assert [r["Closed"] for r in records_of(again, fmt)] == (
        [False, True, False] if fmt == "xlsx" else ["false", "true", "false"]
    )


def rich_tasks(admin: Any, alice: Any) -> None:
    admin.settings.set_regional(time_zone="Europe/Berlin")
    admin.lists.add(ListKind.TASK_CATEGORY, "=Visit")
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com", access="read_write")
    deal = admin.opportunities.add("Deal", contact=ann.id)
    case = admin.cases.add("Case")
    due = dt.datetime(2030, 5, 1, 9, 30, 15, 123000, tzinfo=dt.UTC)
    admin.tasks.add(
        "-Call back",
        due,
        description="=about the offer\nline two",
        category="=Visit",
        responsible="alice",
        contact=ann.id,
        opportunity=deal.id,
        alert=60,
    )
    admin.tasks.add("Case task", due + dt.timedelta(days=1), case=case.id, alert=0)
    done = admin.tasks.add("Done", due - dt.timedelta(days=400), contact=ann.id)
    admin.tasks.close(done.id)
    alice.tasks.add("Hers", due, responsible="admin")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_tasks_export_imports_back_with_no_loss(admin: Any, alice: Any, fmt: str) -> None:
    rich_tasks(admin, alice)
    first = export_of(admin, "tasks", fmt)
    for task in admin.tasks.list().items:
        admin.tasks.delete(task.id)
    report = admin.imports.run("tasks", reader_of(first, fmt), "export")
    assert (report.created, report.rejected, report.issues) == (4, 0, ())
    again = export_of(admin, "tasks", fmt)
    before, after = records_of(first, fmt), records_of(again, fmt)
    # Alice's task comes back as the importer's: "Created by" is who imports.
    assert [r["Created by"] for r in before] == ["admin", "admin", "admin", "alice"]
    assert [r["Created by"] for r in after] == ["admin"] * 4
    strip = [{k: v for k, v in r.items() if k not in ("Created by", "Updated by")} for r in before]
    assert [
        {k: v for k, v in r.items() if k not in ("Created by", "Updated by")} for r in after
    ] == strip
    call = next(r for r in before if r["Title"] in ("-Call back", "'-Call back"))
    assert (call["Category"], call["Closed"]) == (
        ("=Visit", False) if fmt == "xlsx" else ("'=Visit", "false")
    )
    done = next(r for r in after if r["Title"] == "Done")
    assert done["Closed at"] not in ("", None)


def export_of(session: Any, entity: str, fmt: str) -> bytes:
    return b"".join(stream_export(session, entity, fmt))


def sheet_cells(data: bytes, fmt: str) -> list[list[Any]]:
    """The file's cells, row by row (an XLSX file's bytes also hold the time it was
    written, to the second)."""
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return [[c.value for c in row] for row in sheet.iter_rows()]


def reader_of(data: bytes, fmt: str) -> Any:
    return CsvRows(data) if fmt == "csv" else XlsxRows(data)


def edited(data: bytes, fmt: str, changes: dict[tuple[str, str], Any], key: str = "Title") -> bytes:
    """The export with cells changed, as a person would in a spreadsheet: ``changes`` maps
    (the row's title, or its ``key`` column, a header) to the new cell."""
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        header = rows[0]
        for row in rows[1:]:
            for (title, column), value in changes.items():
                if row[header.index(key)] == title:
                    row[header.index(column)] = value
        out = io.StringIO(newline="")
        csv.writer(out, quoting=csv.QUOTE_ALL).writerows(rows)
        return out.getvalue().encode("utf-8-sig")
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for (title, column), value in changes.items():
            if str(row[header.index(key)].value) == title:
                row[header.index(column)].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_edit_and_import_updates_contacts(admin: Any, alice: Any, fmt: str) -> None:
    rich_contacts(admin, alice)
    before = {c.display_name: c for c in alice.contacts.list().items}
    bob, dave, empty = before["Bob Smith"], before["Dave O'Neil"], before["Empty Co"]
    first = export(alice, fmt)
    changes = {
        # A changed e-mail: the row is still Dave's, found by its Id.
        (str(dave.id), "First name"): "David",
        (str(dave.id), "Email (work)"): "david@example.com",
        (str(bob.id), "Email (work)"): "robert@acme.example",
        (str(empty.id), "Company name"): "Full Co",
    }
    report = alice.imports.run(
        "contacts",
        reader_of(edited(first, fmt, changes, key="Id"), fmt),
        "export",
        on_duplicate="update",
    )
    assert (report.updated, report.unchanged, report.created, report.issues) == (3, 3, 0, ())
    assert alice.contacts.count() == 6
    david = alice.contacts.get(dave.id)
    assert (david.first_name, david.last_name) == ("David", "O'Neil")
    # Contact infos are only ever added by an import: the new e-mail joins the old one.
    assert [i.value for i in david.infos] == ["dave@example.com", "david@example.com"]
    assert [i.value for i in alice.contacts.get(bob.id).infos if i.type.value == "email"] == [
        "bob@acme.example",
        "b.smith@acme.example",
        "bob@home.example",
        "robert@acme.example",
    ]
    assert alice.contacts.get(empty.id).name == "Full Co"
    for name in ("Acme Ltd", "Brand New GmbH", "Carol"):
        assert alice.contacts.get(before[name].id) == before[name]
    updated = {c.id: c for c in alice.contacts.list().items}
    second = export(alice, fmt)
    repeat = alice.imports.run("contacts", reader_of(second, fmt), "export", on_duplicate="update")
    assert (repeat.unchanged, repeat.updated, repeat.created, repeat.issues) == (6, 0, 0, ())
    assert {c.id: c for c in alice.contacts.list().items} == updated


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_edit_and_import_updates_opportunities(admin: Any, fmt: str) -> None:
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com")
    bo = admin.contacts.add_person("Bo", "Ek")
    admin.fields.add("opportunity", "Segment", "text")
    deal = admin.opportunities.add(
        "Deal", contact=ann.id, budget=Money(Decimal("100.00"), "EUR"), tags={"a", "b"}
    )
    kept = admin.opportunities.add("Kept", members=[bo.id], custom={"Segment": "=x"})
    first = export_of(admin, "opportunities", fmt)
    changes = {
        ("Deal", "Amount"): "250.75" if fmt == "csv" else Decimal("250.75"),
        ("Deal", "Tags"): "b\nc",
        ("Deal", "Participant ids"): f"{ann.id}\n{bo.id}",
        ("Deal", "Custom: Segment"): "Retail",
        ("Deal", "Stage"): "Won",
    }
    report = admin.imports.run(
        "opportunities",
        reader_of(edited(first, fmt, changes), fmt),
        "export",
        on_duplicate="update",
    )
    assert (report.updated, report.unchanged, report.created, report.issues) == (1, 1, 0, ())
    after = admin.opportunities.get(deal.id)
    assert after.budget == Money(Decimal("250.75"), "EUR")
    assert (after.tags, after.members) == ({"b", "c"}, {ann.id, bo.id})
    assert admin.opportunities.custom_values(after) == {"Segment": "Retail"}
    won = next(s for s in admin.lists.stages() if s.title == "Won")
    assert (after.stage_id, after.probability) == (won.id, won.probability)
    assert (after.title, after.contact_id, after.description) == ("Deal", ann.id, "")
    assert admin.opportunities.get(kept.id) == kept
    second = export_of(admin, "opportunities", fmt)
    repeat = admin.imports.run(
        "opportunities", reader_of(second, fmt), "export", on_duplicate="update"
    )
    assert (repeat.unchanged, repeat.updated, repeat.created) == (2, 0, 0)
    assert sheet_cells(export_of(admin, "opportunities", fmt), fmt) == sheet_cells(second, fmt)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_edit_and_import_updates_cases(admin: Any, fmt: str) -> None:
    rich_cases(admin)
    ann = next(c for c in admin.contacts.list().items if c.display_name == "Ann Lee")
    first = export_of(admin, "cases", fmt)
    before = {c.title: c for c in admin.cases.list().items}
    changes = {
        ("Plain", "Closed"): "true" if fmt == "csv" else True,
        ("Plain", "Participant ids"): str(ann.id) if fmt == "csv" else ann.id,
        ("Plain", "Custom: Notes"): "now with notes",
    }
    report = admin.imports.run(
        "cases", reader_of(edited(first, fmt, changes), fmt), "export", on_duplicate="update"
    )
    assert (report.updated, report.unchanged, report.created, report.issues) == (1, 2, 0, ())
    plain = admin.cases.get(before["Plain"].id)
    assert (plain.closed, plain.members) == (True, {ann.id})
    assert admin.cases.custom_values(plain) == {"Notes": "now with notes"}
    for title in ("=Broken pump", "Closed one"):
        assert admin.cases.get(before[title].id) == before[title]
    second = export_of(admin, "cases", fmt)
    repeat = admin.imports.run("cases", reader_of(second, fmt), "export", on_duplicate="update")
    assert (repeat.unchanged, repeat.updated, repeat.created) == (3, 0, 0)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_edit_and_import_updates_tasks(admin: Any, alice: Any, fmt: str) -> None:
    rich_tasks(admin, alice)
    first = export_of(admin, "tasks", fmt)
    before = {t.title: t for t in admin.tasks.list().items}
    new_due = dt.datetime(2031, 1, 2, 8, 0, tzinfo=dt.UTC)
    changes = {
        ("Case task", "Due at"): "2031-01-02T08:00:00Z"
        if fmt == "csv"
        else new_due.replace(tzinfo=None),
        ("Case task", "Description"): "moved",
        ("Case task", "Closed"): "true" if fmt == "csv" else True,
    }
    report = admin.imports.run(
        "tasks", reader_of(edited(first, fmt, changes), fmt), "export", on_duplicate="update"
    )
    assert (report.updated, report.unchanged, report.created, report.issues) == (1, 3, 0, ())
    moved = admin.tasks.get(before["Case task"].id)
    assert (moved.due_at, moved.description, moved.closed) == (new_due, "moved", True)
    assert moved.closed_at == moved.updated_at
    assert (moved.case_id, moved.alert_minutes) == (before["Case task"].case_id, 0)
    for title in ("-Call back", "Done", "Hers"):
        assert admin.tasks.get(before[title].id) == before[title]
    second = export_of(admin, "tasks", fmt)
    repeat = admin.imports.run("tasks", reader_of(second, fmt), "export", on_duplicate="update")
    assert (repeat.unchanged, repeat.updated, repeat.created) == (4, 0, 0)


def test_the_export_mappings_of_tasks_and_cases(admin: Any) -> None:
    admin.fields.add("case", "Severity", "text")
    assert export_mapping(sheet_for("tasks", admin).header, "tasks") == {
        "id": "Id",
        "title": "Title",
        "description": "Description",
        "due": "Due at",
        "responsible": "Responsible",
        "category": "Category",
        "contact_id": "Contact id",
        "opportunity_id": "Opportunity id",
        "case_id": "Case id",
        "alert": "Alert minutes",
        "closed": "Closed",
        "closed_at": "Closed at",
    }
    assert export_mapping(sheet_for("cases", admin).header, "cases") == {
        "id": "Id",
        "title": "Title",
        "closed": "Closed",
        "member_ids": "Participant ids",
        "tags": "Tags",
        "custom:Severity": "Custom: Severity",
    }
    with pytest.raises(ValidationError) as caught:
        export_mapping(["Title", "Due at", "Custom: Mood"], "tasks")
    assert caught.value.errors == {
        "mapping": "the file is not an opencrm export of tasks: no export has 'Custom: Mood'"
    }
    with pytest.raises(ValidationError) as caught:
        export_mapping(["Number"], "invoices")
    assert caught.value.errors == {"mapping": "'export' does not read invoices"}
