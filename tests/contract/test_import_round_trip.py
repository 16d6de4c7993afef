"""Our import reads our export back with no loss, on every backend: a rich contact set
exported as CSV and as XLSX, imported into a fresh CRM with ``mapping="export"``, exported
again, and the two exports compared cell by cell (the CRM's own ids and stamps aside)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

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
    report = target.imports.run("contacts", reader, "export", on_duplicate="update")
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
    # Reading the same file again changes nothing, but for Carol: a person with neither
    # e-mail nor phone matches nothing, so she is created again (see the docs' limits).
    again = CsvRows(first) if fmt == "csv" else XlsxRows(first)
    repeat = target.imports.run("contacts", again, "export", on_duplicate="update")
    assert (repeat.unchanged, repeat.created) == (5, 1)


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
