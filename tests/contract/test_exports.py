"""Exports on every backend: exact cells of a small dataset in CSV and XLSX, formula payloads
neutralised (CSV) or kept as strings (XLSX), only what the user can read, read page by page,
and the admin's full ZIP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from opencrm import CRM, LocalFileStore, Money
from opencrm.errors import PermissionDenied, ValidationError
from opencrm.io import DANGEROUS_PREFIXES, neutralise, stream_export, stream_full_export
from opencrm.io._writers import csv_chunks
from opencrm.io.columns import INFO_COLUMNS

PAYLOADS = ["=1+1", "+41 cmd", "-2+3", "@SUM(A1:A2)", '=HYPERLINK("http://x","y")']


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(data: bytes) -> list[dict[str, Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
    return [dict(zip(header, [c.value for c in row], strict=True)) for row in rows[1:]]


def export(session: Any, entity: str, fmt: str = "csv", **filters: Any) -> bytes:
    return b"".join(stream_export(session, entity, fmt, **filters))


@pytest.fixture
def dataset(admin: Any, alice: Any) -> dict[str, Any]:
    admin.fields.add("contact", "Birthday", "date")
    admin.fields.add("person", "Shoe size", "text")
    acme = alice.contacts.add_company("Acme Ltd", industry="Tools", tags={"vip"})
    bob = alice.contacts.add_person(
        "Bob",
        "Smith",
        job_title="Buyer",
        company=acme,
        currency="EUR",
        about="Met at the fair",
        tags={"vip", "north, east"},
        custom={"Birthday": dt.date(1980, 5, 17), "Shoe size": "44"},
        infos=[
            {"type": "email", "category": "work", "value": "bob@acme.example", "primary": True},
            {"type": "email", "category": "work", "value": "b.smith@acme.example"},
            {"type": "phone", "category": "mobile", "value": "+49 30 1234567"},
            {
                "type": "address",
                "category": "postal",
                "value": {"street": "Main St 1", "city": "Berlin", "zip": "10115"},
            },
        ],
    )
    return {"acme": acme, "bob": bob}


def test_contacts_csv_has_exact_cells(alice: Any, dataset: dict[str, Any]) -> None:
    rows = read_csv(export(alice, "contacts"))
    assert [r["Id"] for r in rows] == [str(dataset["acme"].id), str(dataset["bob"].id)]
    company, person = rows
    bob = dataset["bob"]
    expected = {
        "Kind": "person",
        "First name": "Bob",
        "Last name": "Smith",
        "Company name": "Acme Ltd",
        "Company id": str(dataset["acme"].id),
        "Job title": "Buyer",
        "Industry": "",
        "Currency": "EUR",
        "About": "Met at the fair",
        "Access": "private",
        "Managers": "alice",
        "Tags": "north, east\nvip",
        "Email (work)": "bob@acme.example\nb.smith@acme.example",
        # A text cell starting with "+" is neutralised, phone numbers too (Excel would
        # evaluate "+49 30 1234567"); the import strips the quote again.
        "Phone (mobile)": "'+49 30 1234567",
        "Address (postal): street": "Main St 1",
        "Address (postal): city": "Berlin",
        "Address (postal): zip": "10115",
        "Address (postal): country": "",
        "Custom: Birthday": "1980-05-17",
        "Custom: Shoe size": "44",
        "Created by": "alice",
        "Created at": bob.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert {k: person[k] for k in expected} == expected
    assert company["Kind"] == "company"
    assert company["Company name"] == "Acme Ltd"
    assert company["Industry"] == "Tools"
    assert company["Custom: Shoe size"] == ""  # a person's field, not a company's
    assert len(person) == 15 + len(INFO_COLUMNS) + 2 + 4


def test_contacts_xlsx_has_typed_cells(alice: Any, dataset: dict[str, Any]) -> None:
    rows = read_xlsx(export(alice, "contacts", "xlsx"))
    person = rows[1]
    assert person["Id"] == dataset["bob"].id
    assert person["Company id"] == dataset["acme"].id
    assert person["Custom: Birthday"] == dt.datetime(1980, 5, 17)  # a date cell
    assert person["Tags"] == "north, east\nvip"
    created = dataset["bob"].created_at.astimezone(dt.UTC).replace(tzinfo=None)
    assert abs(person["Created at"] - created) < dt.timedelta(milliseconds=1)
    assert person["Job title"] == "Buyer"
    assert person["Industry"] is None


def test_opportunity_money_is_an_amount_and_a_currency(alice: Any, dataset: dict[str, Any]) -> None:
    deal = alice.opportunities.add(
        "Renewal", contact=dataset["acme"], budget=Money("1234.50", "EUR")
    )
    [row] = read_csv(export(alice, "opportunities"))
    assert (row["Id"], row["Title"], row["Client"]) == (str(deal.id), "Renewal", "Acme Ltd")
    assert (row["Amount"], row["Currency"]) == ("1234.50", "EUR")
    [cells] = read_xlsx(export(alice, "opportunities", "xlsx"))
    assert cells["Amount"] == 1234.5
    assert cells["Client id"] == dataset["acme"].id


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_payloads_never_come_out_live(alice: Any, fmt: str) -> None:
    for payload in PAYLOADS:
        alice.contacts.add_person(payload, about=payload, tags={payload})
    data = export(alice, "contacts", fmt, sort="created")
    rows = read_csv(data) if fmt == "csv" else read_xlsx(data)
    if fmt == "csv":
        assert [r["First name"] for r in rows] == ["'" + p for p in PAYLOADS]
        assert [r["About"] for r in rows] == ["'" + p for p in PAYLOADS]
    else:
        assert [r["First name"] for r in rows] == PAYLOADS  # plain strings, not formulas
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sheet = archive.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in sheet
        assert b"<f " not in sheet


@pytest.mark.parametrize("prefix", DANGEROUS_PREFIXES)
def test_every_dangerous_prefix_is_neutralised_in_csv(prefix: str) -> None:
    text = prefix + "cmd|' /C calc'!A0"
    assert neutralise(text) == "'" + text
    data = b"".join(csv_chunks(["h"], [[text], [Decimal("-5")], [-5], ["ok"]]))
    assert read_csv(data) == [{"h": "'" + text}, {"h": "-5"}, {"h": "-5"}, {"h": "ok"}]


def test_an_export_holds_only_what_the_user_can_read(alice: Any, bob: Any) -> None:
    mine = alice.contacts.add_person("Mine")
    bob.contacts.add_person("Bobs private")
    shared = bob.contacts.add_person("Bobs shared", access="read")
    rows = read_csv(export(alice, "contacts", sort="created"))
    assert [int(r["Id"]) for r in rows] == [mine.id, shared.id]
    restricted = bob.opportunities.add("Secret", budget=Money("1", "EUR"), restricted=True)
    public = bob.opportunities.add("Open", budget=Money("1", "EUR"))
    assert [int(r["Id"]) for r in read_csv(export(alice, "opportunities"))] == [public.id]
    assert restricted.id != public.id


def test_filters_are_those_of_the_list(alice: Any) -> None:
    alice.contacts.add_person("Tagged", tags={"vip"})
    alice.contacts.add_person("Plain")
    assert [r["First name"] for r in read_csv(export(alice, "contacts", tags=["vip"]))] == [
        "Tagged"
    ]
    with pytest.raises(ValidationError):
        export(alice, "contacts", colour="red")
    with pytest.raises(ValidationError):
        export(alice, "planets")


def test_the_export_reads_page_by_page(alice: Any) -> None:
    for i in range(5):
        alice.contacts.add_person(f"P{i}")
    calls: list[dict[str, Any]] = []
    original = alice.contacts.list

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    alice.contacts.list = counting
    chunks = stream_export(alice, "contacts", "csv", page_size=2)
    assert calls == []  # nothing is read before the first chunk is asked for
    rows = read_csv(b"".join(chunks))
    assert len(rows) == 5
    assert [c["limit"] for c in calls] == [2, 2, 2]
    assert calls[0]["after"] is None
    assert all(c["after"] for c in calls[1:])


def test_tasks_cases_and_invoices_export(admin: Any, alice: Any) -> None:
    acme = alice.contacts.add_company("Acme")
    due = dt.datetime(2026, 12, 24, 15, 0, tzinfo=dt.UTC)
    task = alice.tasks.add("Call back", due, contact=acme)
    case = alice.cases.add("Broken pump", members=[acme], tags={"urgent"})
    [t] = read_csv(export(alice, "tasks"))
    assert (t["Id"], t["Title"], t["Due at"], t["Contact"]) == (
        str(task.id),
        "Call back",
        "2026-12-24T15:00:00Z",
        "Acme",
    )
    [c] = read_csv(export(alice, "cases"))
    assert (c["Title"], c["Participants"], c["Tags"], c["Closed"]) == (
        "Broken pump",
        "Acme",
        "urgent",
        "false",
    )
    assert int(c["Id"]) == case.id
    invoice = alice.invoices.add(
        client=acme, currency="USD", lines=[alice.invoices.line("Support", quantity=2, price="600")]
    )
    [i] = read_csv(export(alice, "invoices"))
    assert (i["Number"], i["Client"], i["Currency"], i["Subtotal"], i["Lines"]) == (
        invoice.number,
        "Acme",
        "USD",
        "1200.00",
        "1",
    )


def test_the_full_export_is_a_zip_of_csv_files_for_admins_only(
    admin: Any, alice: Any, crm: CRM
) -> None:
    alice.contacts.add_person("Bob")
    admin.products.add("Support hour", price=Money("80", "USD"))
    with pytest.raises(PermissionDenied):
        b"".join(stream_full_export(alice))
    with pytest.raises(PermissionDenied):
        alice.exports.start_full()
    data = b"".join(stream_full_export(admin))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        contacts = read_csv(archive.read("contacts.csv"))
        products = read_csv(archive.read("products.csv"))
        history = archive.read("history.csv").decode("utf-8-sig").splitlines()[0]
    assert names == [
        "contacts.csv",
        "opportunities.csv",
        "cases.csv",
        "tasks.csv",
        "history.csv",
        "products.csv",
        "invoices.csv",
    ]
    assert [r["First name"] for r in contacts] == ["Bob"]
    assert [(p["Name"], p["Price"], p["Currency"]) for p in products] == [
        ("Support hour", "80.00", "USD")
    ]
    assert history.startswith('"Id","Content","Category","Contact"')


def test_an_export_job_checks_its_filters_first(crm: CRM, alice: Any, tmp_path: Any) -> None:
    with pytest.raises(ValidationError):
        alice.exports.start("contacts", colour="red")
    with pytest.raises(ValidationError):
        alice.exports.start("contacts", format="pdf")
    assert list(alice.jobs.list()) == []


def test_paging_arguments_are_not_export_filters(alice: Any) -> None:
    alice.contacts.add_person("Ann")
    cursor = alice.contacts.list(limit=1).next_cursor
    with pytest.raises(ValidationError) as limit:
        alice.exports.start("contacts", limit=5)
    assert limit.value.errors == {"limit": "is not a filter of an export"}
    with pytest.raises(ValidationError) as after:
        alice.exports.start("contacts", after=cursor, kind="person")
    assert after.value.errors == {"after": "is not a filter of an export"}
    assert list(alice.jobs.list()) == []


def test_an_export_job_keeps_date_filters(engine: Any, directory: Any, tmp_path: Any) -> None:
    web = CRM(
        engine,
        load_entrypoints=False,
        directory=directory,
        file_store=LocalFileStore(tmp_path / "f"),
    )
    alice = web.session(directory.get("alice"))
    alice.contacts.add_person("Old")
    job = alice.exports.start(
        "contacts", created_from=dt.datetime(2999, 1, 1, tzinfo=dt.UTC), format="csv"
    )
    web.jobs.wait(timeout=30)
    done = alice.jobs.get(job.id)
    assert done.params["filters"] == {"created_from": {"$datetime": "2999-01-01T00:00:00+00:00"}}
    assert done.summary["rows"] == 0
    assert read_csv(b"".join(alice.jobs.download(job.id).chunks)) == []
