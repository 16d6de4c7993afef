"""Imports of opportunities from CSV and XLSX files, on every backend."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import attrs
import openpyxl
import pytest
from moneyed import Money
from openpyxl import Workbook

from opencrm import ValidationError
from opencrm.core.imports import RowIssue
from opencrm.io import CsvRows, XlsxRows, stream_export

HEADER = "Title,Stage,Amount,Currency,Probability,Close,Client,Members,Tags,Notes,Segment"
MAPPING = {
    "title": "Title",
    "stage": "Stage",
    "budget": "Amount",
    "currency": "Currency",
    "probability": "Probability",
    "expected_close": "Close",
    "contact": "Client",
    "members": "Members",
    "tags": "Tags",
    "description": "Notes",
    "custom:Segment": "Segment",
}


def csv_of(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


@pytest.fixture
def people(admin):  # type: ignore[no-untyped-def]
    admin.fields.add("opportunity", "Segment", "text")
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com", access="read_write")
    bo = admin.contacts.add_person("Bo", "Ek", email="bo@example.com", access="read_write")
    return ann, bo


def test_rows_become_opportunities_with_every_field(admin, people):
    ann, bo = people
    data = csv_of(
        'Big deal,Negotiation,"1,250.50",eur,40,2030-05-01,ANN@example.com,bo@example.com,'
        "hot;q2,First talk,Retail",
        "Small deal,,99,,,,,,,,",
    )
    report = admin.imports.run("opportunities", CsvRows(data), MAPPING, tag_separator=";")
    assert report.counts() == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
        "companies_created": 0,
    }
    assert report.issues == ()
    big, small = sorted(admin.opportunities.list().items, key=lambda o: o.title)
    stages = {s.id: s for s in admin.lists.stages()}
    assert big.title == "Big deal"
    assert stages[big.stage_id].title == "Negotiation"
    assert stages[big.stage_id].color == "#77cf9a"  # created, as the reference colours them
    assert big.budget == Money(Decimal("1250.50"), "EUR")
    assert big.probability == 40
    assert big.expected_close == dt.date(2030, 5, 1)
    assert big.contact_id == ann.id
    assert big.members == {ann.id, bo.id}
    assert big.tags == {"hot", "q2"}
    assert big.description == "First talk"
    assert admin.opportunities.custom_values(big) == {"Segment": "Retail"}
    assert big.responsible == "admin"
    assert big.access_list == {"admin"}
    assert not big.restricted
    first_open = next(s for s in admin.lists.stages() if s.type.value == "open")
    assert small.stage_id == first_open.id
    assert small.probability == first_open.probability
    assert small.budget == Money(Decimal("99.00"), "USD")
    assert (small.contact_id, small.members, small.tags) == (None, frozenset(), frozenset())
    assert report.created_ids == ((min(big.id, small.id), max(big.id, small.id)),)


def test_bad_rows_are_reported_and_good_rows_import(admin, people):
    data = csv_of(
        "Unknown stage,Nowhere,1,,,,,,,,",
        "Bad money,,12.345,USD,,,,,,,",
        "Bad currency,,1,XXQ,,,,,,,",
        "Nobody,,1,,,,zed@example.com,,,,",
        "Bad date,,1,,,31/02/2030,,,,,",
        "Bad probability,,1,,150,,,,,,",
        ",,1,,,,,,,,",
        "Good,,1,,,,ann@example.com,,,,",
    )
    report = admin.imports.run("opportunities", CsvRows(data), MAPPING, create_missing=False)
    assert (report.created, report.rejected) == (1, 7)
    assert report.issues == (
        RowIssue(2, "Stage", "no stage 'Nowhere'"),
        RowIssue(3, "Amount", "has more decimals than USD allows (2)"),
        RowIssue(4, "Amount", "unknown currency 'XXQ'"),
        RowIssue(6, "Close", "'31/02/2030' is not a date (YYYY-MM-DD)"),
        RowIssue(7, "Probability", "must be a whole number from 0 to 100"),
        RowIssue(8, None, "has no title"),
        RowIssue(5, "Client", "no contact with the e-mail 'zed@example.com'"),
    )
    [good] = admin.opportunities.list().items
    assert good.title == "Good"
    assert [s.title for s in admin.lists.stages() if s.title == "Nowhere"] == []


def test_a_responsible_who_does_not_exist_is_refused(admin, people):
    data = b"Title,Owner\nMine,alice\nTheirs,ghost\n"
    mapping = {"title": "Title", "responsible": "Owner"}
    report = admin.imports.run("opportunities", CsvRows(data), mapping)
    assert report.issues == (RowIssue(3, "Owner", "no user 'ghost'"),)
    [mine] = admin.opportunities.list().items
    assert (mine.responsible, mine.access_list) == ("alice", {"admin", "alice"})
    with pytest.raises(ValidationError) as caught:
        admin.imports.run(
            "opportunities", CsvRows(data), mapping, defaults={"responsible": "ghost"}
        )
    assert list(caught.value.errors) == ["defaults.responsible"]


def test_duplicates_are_matched_by_title_and_main_contact(admin, people):
    data = csv_of(
        "Deal,,1,,,,ann@example.com,,,,",
        "deal,,2,,,,ann@example.com,,,,",  # the same title (any case) and main contact
        "Deal,,3,,,,bo@example.com,,,,",  # another main contact: another opportunity
        "Deal,,4,,,,,,,,",
    )
    first = admin.imports.run("opportunities", CsvRows(data), MAPPING)
    assert (first.created, first.skipped) == (3, 1)
    assert first.issues == (
        RowIssue(3, None, "an opportunity with this title and main contact exists", "skipped"),
    )
    again = admin.imports.run("opportunities", CsvRows(data), MAPPING)
    assert (again.created, again.skipped) == (0, 4)
    both = admin.imports.run("opportunities", CsvRows(data), MAPPING, on_duplicate="create")
    assert both.created == 4
    assert admin.opportunities.count() == 7
    # An update writes over the first (lowest id) record of each key: the second row
    # renames the first "Deal" of ann and sets its amount; the others hold what they say.
    updated = admin.imports.run("opportunities", CsvRows(data), MAPPING, on_duplicate="update")
    assert (updated.updated, updated.unchanged, updated.created) == (1, 3, 0)
    first_id = min(o.id for o in admin.opportunities.list().items)
    renamed = admin.opportunities.get(first_id)
    assert (renamed.title, renamed.budget) == ("deal", Money(Decimal("2.00"), "USD"))
    assert updated.updated_ids == ((first_id, first_id),)


def test_dry_run_reports_exactly_what_the_real_run_does(admin, people):
    data = csv_of(
        "Deal,New stage,1,,,,ann@example.com,,,,",
        "Deal,,2,,,,ann@example.com,,,,",
        "Bad,,-1,,,,,,,,",
    )
    stages = len(admin.lists.stages())
    dry = admin.imports.run("opportunities", CsvRows(data), MAPPING, dry_run=True)
    assert admin.opportunities.count() == 0
    assert len(admin.lists.stages()) == stages
    real = admin.imports.run("opportunities", CsvRows(data), MAPPING)
    assert (real.created, real.skipped, real.rejected) == (1, 1, 1)
    assert attrs.evolve(dry, dry_run=False, committed=True, created_ids=real.created_ids) == real


def test_all_or_nothing_progress_cancel_and_audit(admin, people):
    bad = csv_of("Good,,1,,,,,,,,", "Bad,,x,,,,,,,,")
    report = admin.imports.run("opportunities", CsvRows(bad), MAPPING, atomic=True)
    assert (report.created, report.rejected, report.committed) == (1, 1, False)
    assert admin.opportunities.count() == 0
    data = csv_of(*(f"D{n},,1,,,,,,,," for n in range(7)))
    seen = []
    report = admin.imports.run(
        "opportunities",
        CsvRows(data),
        MAPPING,
        batch_size=3,
        progress=seen.append,
        should_stop=lambda: len(seen) == 2,
    )
    assert [p.rows for p in seen] == [3, 6]
    assert (report.cancelled, report.stopped_at, report.created) == (True, 7, 6)
    assert admin.opportunities.count() == 6
    entries = [e.data for e in admin.settings.audit_trail() if e.action == "import.finished"]
    ids = sorted(o.id for o in admin.opportunities.list().items)
    summary = sorted((d["kind"], d["created"], d["committed"], d["created_ids"]) for d in entries)
    assert summary == [
        ("opportunities", 1, False, []),  # the refused all-or-nothing import
        ("opportunities", 6, True, [[ids[0], ids[-1]]]),
    ]


def test_restricted_defaults_and_what_the_importer_may_see(crm, users, admin, alice, bob):
    hidden = bob.contacts.add_person("Hid", "Den", email="hidden@example.com")
    bob.opportunities.add("Secret", restricted=True)
    data = b"Title,Client\nSecret,\nOpen,hidden@example.com\n"
    mapping = {"title": "Title", "contact": "Client"}
    report = alice.imports.run(
        "opportunities",
        CsvRows(data),
        mapping,
        defaults={"restricted": True, "access_list": ["bob"], "tags": ["imported"]},
    )
    # Bob's restricted opportunity is not alice's to see: hers is a new one, and a contact
    # she may not read is not found.
    assert (report.created, report.rejected) == (1, 1)
    assert report.issues == (
        RowIssue(3, "Client", "no contact with the e-mail 'hidden@example.com'"),
    )
    assert hidden.id not in {o.contact_id for o in admin.opportunities.list().items}
    [mine] = alice.opportunities.list().items
    assert (mine.title, mine.restricted, mine.access_list, mine.tags) == (
        "Secret",
        True,
        {"alice", "bob"},
        {"imported"},
    )
    assert admin.opportunities.count() == 2


def test_a_stage_is_created_only_by_an_admin(alice):
    data = b"Title,Stage\nDeal,Brand new\n"
    report = alice.imports.run("opportunities", CsvRows(data), {"title": "Title", "stage": "Stage"})
    assert report.issues == (
        RowIssue(2, "Stage", "no stage 'Brand new' (only a CRM admin adds stages)"),
    )


def test_xlsx_cells_keep_their_types(admin, people):
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Title", "Amount", "Close", "Probability", "Client id"])
    sheet.append(["Sheet deal", 1500, dt.datetime(2031, 1, 2), 15, people[1].id])
    out = io.BytesIO()
    book.save(out)
    mapping = {
        "title": "Title",
        "budget": "Amount",
        "expected_close": "Close",
        "probability": "Probability",
        "contact_id": "Client id",
    }
    report = admin.imports.run("opportunities", XlsxRows(out.getvalue()), mapping)
    assert report.created == 1, report.issues
    [deal] = admin.opportunities.list().items
    assert (deal.budget, deal.expected_close, deal.probability, deal.contact_id) == (
        Money(Decimal("1500.00"), "USD"),
        dt.date(2031, 1, 2),
        15,
        people[1].id,
    )


def _cells(data: bytes, fmt: str) -> list[dict]:
    """An export's rows by header, without the ids and stamps the CRM hands out itself."""
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
        raw = [[c.value for c in row] for row in sheet.iter_rows()]
        rows = [dict(zip(raw[0], row, strict=True)) for row in raw[1:]]
    own = ("Id", "Created at", "Updated at")
    return sorted(
        ({k: v for k, v in r.items() if k not in own} for r in rows), key=lambda r: r["Title"]
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_our_export_reads_back_cell_for_cell(admin, people, fmt):
    ann, bo = people
    admin.fields.add("opportunity", "Notes", "textarea")
    admin.opportunities.add(
        "=Formula-looking deal",
        contact=ann.id,
        members=[bo.id],
        budget=Money(Decimal("1234.56"), "EUR"),
        bid_type="per_month",
        period_count=6,
        expected_close=dt.date(2030, 5, 1),
        probability=35,
        tags={"hot", "north, east"},
        description="line one\nline two",
        custom={"Segment": "Retail", "Notes": "-5% off"},
        responsible="alice",
    )
    admin.opportunities.add("Won deal", stage="Won", budget=Money(10, "USD"))
    admin.opportunities.add("Plain")
    first = b"".join(stream_export(admin, "opportunities", fmt))
    for o in admin.opportunities.list().items:
        admin.opportunities.delete(o.id)
    rows = CsvRows(first) if fmt == "csv" else XlsxRows(first)
    report = admin.imports.run("opportunities", rows, "export")
    assert (report.created, report.rejected, report.issues) == (3, 0, ())
    again = b"".join(stream_export(admin, "opportunities", fmt))
    assert _cells(again, fmt) == _cells(first, fmt)
    assert len(_cells(first, fmt)) == 3
