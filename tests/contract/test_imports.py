"""Imports of contacts from real-world CSV and XLSX files, on every backend."""

from __future__ import annotations

import datetime as dt
import io

import attrs
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from opencrm import ValidationError
from opencrm.core.entities.contacts import Access, Company, Person
from opencrm.core.imports import ImportProgress, RowIssue, SourceRow
from opencrm.io import CsvRows, XlsxRows, open_rows

# --- files as other programs write them ---------------------------------------------------

GOOGLE_HEADER = (
    "Name,Given Name,Additional Name,Family Name,Yomi Name,Given Name Yomi,Additional Name Yomi,"
    "Family Name Yomi,Name Prefix,Name Suffix,Initials,Nickname,Short Name,Maiden Name,Birthday,"
    "Gender,Location,Billing Information,Directory Server,Mileage,Occupation,Hobby,Sensitivity,"
    "Priority,Subject,Notes,Language,Photo,Group Membership,E-mail 1 - Type,E-mail 1 - Value,"
    "E-mail 2 - Type,E-mail 2 - Value,Phone 1 - Type,Phone 1 - Value,Address 1 - Type,"
    "Address 1 - Formatted,Address 1 - Street,Address 1 - City,Address 1 - PO Box,"
    "Address 1 - Region,Address 1 - Postal Code,Address 1 - Country,"
    "Address 1 - Extended Address,Organization 1 - Type,Organization 1 - Name,"
    "Organization 1 - Yomi Name,Organization 1 - Title,Organization 1 - Department"
)


def google_row(**values: str) -> str:
    names = GOOGLE_HEADER.split(",")
    cells = [values.get(n, "") for n in names]
    return ",".join(f'"{c}"' if ("," in c or "\n" in c) else c for c in cells)


GOOGLE_CSV = "\r\n".join(
    [
        GOOGLE_HEADER,
        google_row(
            **{
                "Name": "Ada Lovelace",
                "Given Name": "Ada",
                "Family Name": "Lovelace",
                "Notes": "Met at the\nengine demo",
                "Group Membership": "* myContacts ::: Mathematicians",
                "E-mail 1 - Type": "* Work",
                "E-mail 1 - Value": "ada@analytical.example",
                "E-mail 2 - Type": "Home",
                "E-mail 2 - Value": "ada.home@example.org",
                "Phone 1 - Type": "Mobile",
                "Phone 1 - Value": "+44 20 7946 0018",
                "Address 1 - Street": "12 St James's Square",
                "Address 1 - City": "London",
                "Address 1 - Postal Code": "SW1Y 4JH",
                "Address 1 - Country": "United Kingdom",
                "Organization 1 - Name": "Analytical Engines Ltd",
                "Organization 1 - Title": "Programmer",
            }
        ),
        google_row(
            **{
                "Name": "Grace Hopper",
                "Given Name": "Grace",
                "Family Name": "Hopper",
                "Group Membership": "* myContacts",
                "E-mail 1 - Type": "* Work",
                "E-mail 1 - Value": "grace@navy.example",
                "Organization 1 - Name": "Analytical Engines Ltd",
            }
        ),
    ]
)
GOOGLE_MAPPING = {
    "first_name": "Given Name",
    "last_name": ["Additional Name", "Family Name"],
    "job_title": "Organization 1 - Title",
    "company": "Organization 1 - Name",
    "about": "Notes",
    "email": "E-mail 1 - Value",
    "email:home": "E-mail 2 - Value",
    "phone:mobile": "Phone 1 - Value",
    "address": {
        "street": "Address 1 - Street",
        "city": "Address 1 - City",
        "zip": "Address 1 - Postal Code",
        "country": "Address 1 - Country",
    },
    "tags": "Group Membership",
}

OUTLOOK_HEADER = (
    '"First Name","Middle Name","Last Name","Title","Suffix","Nickname","E-mail Address",'
    '"E-mail 2 Address","Home Phone","Business Phone","Mobile Phone","Job Title","Department",'
    '"Company","Business Street","Business City","Business State","Business Postal Code",'
    '"Business Country/Region","Categories","Notes"'
)
OUTLOOK_CSV = (
    OUTLOOK_HEADER
    + "\r\n"
    + '"José","","Núñez","","","","jose@example.es","","","+34 912 345 678","","Jefe de ventas",'
    '"","Ibérica SA","Calle Mayor 1","Madrid","","28013","España","Clientes;VIP",""\r\n'
    + '"","","","","","","info@nord.example","","","+49 30 1234567","","","",'
    '"Nordwind GmbH","","Berlin","","","Deutschland","Lieferanten",""\r\n'
)
OUTLOOK_MAPPING = {
    "first_name": "First Name",
    "last_name": ["Middle Name", "Last Name"],
    "job_title": "Job Title",
    "company": "Company",
    "email": "E-mail Address",
    "phone": "Business Phone",
    "address": {
        "street": "Business Street",
        "city": "Business City",
        "zip": "Business Postal Code",
        "country": "Business Country/Region",
    },
    "tags": "Categories",
}

BASIC = {"first_name": "First", "last_name": "Last", "email": "Email", "phone": "Phone"}


def csv_of(*rows: str, encoding: str = "utf-8") -> bytes:
    return "\n".join(["First,Last,Email,Phone", *rows]).encode(encoding)


def by_name(session) -> dict:  # type: ignore[no-untyped-def]
    return {c.display_name: c for c in session.contacts.list(limit=200).items}


def counts(report) -> dict:  # type: ignore[no-untyped-def]
    return report.counts()


# --- real-world files -------------------------------------------------------------------------


def test_google_contacts_csv(admin):
    rows = CsvRows(GOOGLE_CSV.encode())
    report = admin.imports.run(
        "contacts", rows, GOOGLE_MAPPING, tag_separator=":::", defaults={"access": "read"}
    )
    assert counts(report) == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
        "companies_created": 1,
    }
    found = by_name(admin)
    ada = found["Ada Lovelace"]
    company = found["Analytical Engines Ltd"]
    assert isinstance(ada, Person)
    assert isinstance(company, Company)
    assert ada.company_id == company.id == found["Grace Hopper"].company_id
    assert ada.job_title == "Programmer"
    assert ada.about == "Met at the\nengine demo"
    assert ada.tags == {"* myContacts", "Mathematicians"}
    assert [(i.type.value, i.category, i.value, i.is_primary) for i in ada.infos] == [
        ("email", "work", "ada@analytical.example", True),
        ("email", "home", "ada.home@example.org", False),
        ("phone", "mobile", "+44 20 7946 0018", True),
        ("address", "work", "12 St James's Square, London, SW1Y 4JH, United Kingdom", True),
    ]
    assert ada.access is Access.READ
    assert ada.managers == {"admin"}
    assert company.access is Access.READ
    assert company.managers == {"admin"}


def test_outlook_csv_in_windows_1252(admin):
    rows = CsvRows(OUTLOOK_CSV.encode("cp1252"))
    assert rows.encoding == "cp1252"
    report = admin.imports.run("contacts", rows, OUTLOOK_MAPPING, tag_separator=";")
    assert (report.created, report.companies_created, report.rejected) == (2, 1, 0)
    found = by_name(admin)
    jose = found["José Núñez"]
    assert jose.job_title == "Jefe de ventas"
    assert jose.tags == {"Clientes", "VIP"}
    assert found["Ibérica SA"].id == jose.company_id
    nord = found["Nordwind GmbH"]
    assert isinstance(nord, Company)
    assert nord.email == "info@nord.example"
    assert nord.primary("phone").normalized == "+49301234567"  # type: ignore[union-attr]
    assert nord.primary("address").value == "Berlin, Deutschland"  # type: ignore[union-attr]


def test_latin1_semicolon_spreadsheet(admin):
    data = (
        "Vorname;Nachname;E-Mail;Firma\n"
        "Jürgen;Müller;jm@straße.example;Bäckerei Groß\n"
        "Zoë;Ångström;zoe@example.se;\n"
    ).encode("latin-1")
    rows = CsvRows(data)
    assert rows.delimiter == ";"
    mapping = {"first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail"}
    mapping["company"] = "Firma"
    report = admin.imports.run("contacts", rows, mapping)
    assert (report.created, report.rejected) == (2, 0)
    found = by_name(admin)
    assert found["Jürgen Müller"].email == "jm@straße.example"
    assert "Zoë Ångström" in found
    assert "Bäckerei Groß" in found


def test_utf16_tab_separated_text(admin):
    data = "First\tLast\tEmail\tPhone\n太郎\t山田\ttaro@example.jp\t+81 3-1234-5678\n"
    rows = CsvRows(data.encode("utf-16"))
    assert (rows.encoding, rows.delimiter) == ("utf-16", "\t")
    report = admin.imports.run("contacts", rows, BASIC)
    assert report.created == 1
    assert by_name(admin)["太郎 山田"].email == "taro@example.jp"


def _workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", None, "E-mail", "Birthday", "Employees", "Since"])
    sheet.merge_cells("A1:B1")  # "Name" spans first and last name
    sheet.append(["Marie", "Curie", "marie@radium.example", dt.date(1867, 11, 7), 12, None])
    sheet.append(["Pierre", "Curie", "pierre@radium.example", dt.date(1859, 5, 15), 3.0, None])
    sheet["F2"] = dt.datetime(2024, 3, 1, 9, 30)
    sheet["F2"].number_format = "yyyy-mm-dd hh:mm"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_merged_header_cells_and_dates(admin):
    admin.fields.add("person", "Birthday", "date")
    admin.fields.add("person", "Employees", "text")
    rows = XlsxRows(_workbook())
    assert rows.columns == ("Name", "Name (2)", "E-mail", "Birthday", "Employees", "Since")
    values = [r.values for r in rows]
    assert values[0]["Birthday"] == dt.date(1867, 11, 7)
    assert values[0]["Since"] == dt.datetime(2024, 3, 1, 9, 30)
    mapping = {
        "first_name": "Name",
        "last_name": "Name (2)",
        "email": "E-mail",
        "custom:Birthday": "Birthday",
        "custom:Employees": "Employees",
    }
    report = admin.imports.run("contacts", open_rows(_workbook()), mapping)
    assert (report.created, report.rejected) == (2, 0)
    found = by_name(admin)
    marie = admin.contacts.custom_values(found["Marie Curie"].id)
    assert marie["Birthday"] == dt.date(1867, 11, 7)
    assert admin.contacts.custom_values(found["Pierre Curie"].id)["Employees"] == "3"


# --- bad rows ----------------------------------------------------------------------------------


def test_bad_rows_are_reported_and_good_rows_import(admin):
    admin.fields.add("person", "Segment", "select", {"choices": ["A", "B"]})
    long_name = "N" * 300
    data = "\n".join(
        [
            "First,Last,Email,Phone,Segment,Notes",
            "Good,One,good1@example.com,+1 202 555 0101,A,fine",
            "Bad,Mail,not-an-address,,,",
            "Bad,Phone,,call me maybe,,",
            f"{long_name},Long,,,,",
            "Nul,Byte\x00,,,,",
            "Big,Field,,,," + "x" * 200_000,
            "Odd,Option,,,C,",
            '"=HYPERLINK(""http://evil.example"",""click"")",+SUM(A1),,,,@cmd',
            "Good,Two,good2@example.com,,B,",
        ]
    ).encode()
    mapping = {**BASIC, "custom:Segment": "Segment", "about": "Notes"}
    mapping["first_name"], mapping["last_name"] = "First", "Last"
    report = admin.imports.run("contacts", CsvRows(data), mapping)
    assert (report.rows, report.created, report.rejected) == (9, 3, 6)
    assert report.issues == (
        RowIssue(
            3, "Email", "is not a valid e-mail address (An email address must have an @-sign.)"
        ),
        RowIssue(
            4, "Phone", "may hold only digits, spaces, + ( ) . - / and an extension such as x12"
        ),
        RowIssue(5, "First", "is longer than 255 characters"),
        RowIssue(6, "Last", "contains a NUL byte"),
        RowIssue(7, "Notes", "is longer than 131,072 characters (200,000)"),
        RowIssue(8, "Segment", "must be one of A, B"),
    )
    found = by_name(admin)
    assert sorted(found) == [
        '=HYPERLINK("http://evil.example","click") +SUM(A1)',
        "Good One",
        "Good Two",
    ]
    formula = found['=HYPERLINK("http://evil.example","click") +SUM(A1)']
    assert formula.first_name == '=HYPERLINK("http://evil.example","click")'  # type: ignore[attr-defined]
    assert formula.about == "@cmd"
    # Nothing of a rejected row was written: no contact, no info.
    assert admin.contacts.count() == 3


def test_wrong_encoding_is_an_error_naming_row_and_byte(admin):
    data = csv_of("Ann,Lee,ann@example.com,", "Jürgen,Müller,jm@example.de,", encoding="latin-1")
    with pytest.raises(ValidationError) as caught:
        admin.imports.run("contacts", CsvRows(data, encoding="utf-8"), BASIC)
    offset = data.index("ü".encode("latin-1"))
    assert caught.value.errors == {
        "file": f"row 3: byte {offset} (0xfc) is not utf-8 text; give the file's encoding"
    }


def test_a_mapping_naming_a_missing_column_is_refused(admin):
    with pytest.raises(ValidationError) as caught:
        admin.imports.run(
            "contacts", CsvRows(csv_of()), {"first_name": "Vorname", "email": "Email"}
        )
    assert caught.value.errors == {"mapping.first_name": "no column 'Vorname'"}


def test_rows_and_callbacks_of_the_wrong_type_are_refused(admin):
    good = [SourceRow(2, {"First": "Ann", "E-mail": "ann@example.com"})]
    mapping = {"first_name": "First", "email": "E-mail"}
    for rows in (None, "First,Ann", {"First": "Ann"}):
        with pytest.raises(ValidationError) as caught:
            admin.imports.run("contacts", rows, mapping)
        assert caught.value.errors == {
            "rows": "must be a reader of opencrm.io or rows of SourceRow"
        }
    with pytest.raises(ValidationError) as caught:
        admin.imports.run("contacts", good, mapping, progress="print")
    assert caught.value.errors == {"progress": "must be a function or None"}
    with pytest.raises(ValidationError) as caught:
        admin.imports.run("contacts", good, mapping, should_stop=True)
    assert caught.value.errors == {"should_stop": "must be a function or None"}
    # A stray item is refused before its batch is written.
    with pytest.raises(ValidationError) as caught:
        admin.imports.run("contacts", [*good, ("Bob", "bob@example.com")], mapping)
    assert caught.value.errors == {"rows": "holds a tuple, not a SourceRow"}
    assert admin.contacts.count() == 0


# --- duplicates, idempotency, dry run ---------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(admin):
    first = admin.imports.run("contacts", CsvRows(GOOGLE_CSV.encode()), GOOGLE_MAPPING)
    for mode in ("skip", "update"):
        again = admin.imports.run(
            "contacts", CsvRows(GOOGLE_CSV.encode()), GOOGLE_MAPPING, on_duplicate=mode
        )
        expected = {"skip": (0, 0, 2), "update": (0, 2, 0)}[mode]
        assert (again.created, again.unchanged, again.skipped) == expected
        assert again.updated == 0
    assert first.created == 2
    assert admin.contacts.count() == 3


def test_update_writes_only_mapped_fields_and_keeps_the_record(admin):
    ada = admin.contacts.add_person(
        "Ada", "Byron", job_title="Countess", email="ADA@analytical.example", about="keep me"
    )
    report = admin.imports.run(
        "contacts",
        CsvRows(csv_of("Ada,Lovelace,ada@analytical.example,+44 20 7946 0018")),
        BASIC,
        on_duplicate="update",
    )
    assert (report.updated, report.created, report.updated_ids) == (1, 0, ((ada.id, ada.id),))
    after = admin.contacts.get(ada.id)
    assert after.last_name == "Lovelace"  # type: ignore[attr-defined]
    assert after.job_title == "Countess"
    assert after.about == "keep me"
    assert [i.value for i in after.infos] == ["ADA@analytical.example", "+44 20 7946 0018"]
    assert after.infos[0].id == ada.infos[0].id  # merged into, never re-created


def test_duplicates_inside_one_file_and_create_mode(admin):
    data = csv_of(
        "Ann,Lee,ann@example.com,", "Ann,Lee-Smith,ANN@example.com,", "Bo,Ek,,+46 8 123 456 78"
    )
    report = admin.imports.run("contacts", CsvRows(data), BASIC, on_duplicate="update")
    assert (report.created, report.updated) == (2, 1)
    assert sorted(by_name(admin)) == ["Ann Lee-Smith", "Bo Ek"]
    again = admin.imports.run("contacts", CsvRows(data), BASIC, on_duplicate="create")
    assert again.created == 3
    assert admin.contacts.count() == 5


def test_dry_run_reports_exactly_what_the_real_run_does(admin):
    admin.contacts.add_person("Ann", "Lee", email="ann@example.com")
    data = csv_of(
        "Ann,Lee-Smith,ann@example.com,",
        "New,Person,new@example.com,",
        "Bad,Mail,nope,",
        "New,Person,new@example.com,",
    )
    for mode in ("skip", "update", "create"):
        before = admin.contacts.count()
        dry = admin.imports.run("contacts", CsvRows(data), BASIC, on_duplicate=mode, dry_run=True)
        assert admin.contacts.count() == before
        real = admin.imports.run("contacts", CsvRows(data), BASIC, on_duplicate=mode)
        assert dry.dry_run
        assert not dry.committed
        assert real.committed
        assert (
            attrs.evolve(
                dry,
                dry_run=False,
                committed=True,
                created_ids=real.created_ids,
                updated_ids=real.updated_ids,
            )
            == real
        )


def test_all_or_nothing_commits_nothing_when_a_row_is_bad(admin):
    data = csv_of("Ann,Lee,ann@example.com,", "Bad,Mail,nope,")
    report = admin.imports.run("contacts", CsvRows(data), BASIC, atomic=True)
    assert (report.created, report.rejected, report.committed) == (1, 1, False)
    assert admin.contacts.count() == 0
    good = admin.imports.run(
        "contacts", CsvRows(csv_of("Ann,Lee,ann@example.com,")), BASIC, atomic=True
    )
    assert good.committed
    assert admin.contacts.count() == 1


# --- batches: progress, cancellation, audit ------------------------------------------------------


def test_progress_and_cancellation_between_batches(admin):
    data = csv_of(*(f"P{n},Q,p{n}@example.com," for n in range(7)))
    seen: list[ImportProgress] = []
    report = admin.imports.run(
        "contacts",
        CsvRows(data),
        BASIC,
        batch_size=3,
        progress=seen.append,
        should_stop=lambda: len(seen) == 2,
    )
    assert [p.rows for p in seen] == [3, 6]
    assert all(p.rows_per_second > 0 for p in seen)
    assert (report.cancelled, report.stopped_at, report.created) == (True, 7, 6)
    assert admin.contacts.count() == 6  # the committed batches stay


def test_one_audit_entry_per_import(admin):
    admin.imports.run("contacts", CsvRows(csv_of("Ann,Lee,ann@example.com,", "Bo,Ek,,")), BASIC)
    trail = admin.settings.audit_trail()
    assert [e.action for e in trail] == ["import.finished"]
    ids = [c.id for c in admin.contacts.list().items]
    data = dict(trail[0].data)
    assert data["created_ids"] == [[min(ids), max(ids)]]
    assert (data["kind"], data["created"], data["rows"], data["committed"]) == (
        "contacts",
        2,
        2,
        True,
    )


# --- update by record id ------------------------------------------------------------------

BY_ID = {
    "id": "Id",
    "first_name": "First",
    "last_name": "Last",
    "company": "Company",
    "email": "Email",
}


def id_csv(*rows: str) -> bytes:
    return "\n".join(["Id,First,Last,Company,Email", *rows]).encode()


def test_update_matches_a_row_by_its_id_even_when_its_email_changed(admin):
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com", job_title="Buyer")
    acme = admin.contacts.add_company("Acme")
    data = id_csv(f"{ann.id},Anne,Lee,,ann.lee@new.example", f"{acme.id},,,Acme Ltd,")
    report = admin.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="update")
    assert counts(report) == {
        "rows": 2,
        "created": 0,
        "updated": 2,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
        "companies_created": 0,
    }
    assert (report.issues, report.updated_ids) == ((), ((ann.id, acme.id),))
    after = admin.contacts.get(ann.id)
    assert (after.first_name, after.last_name, after.job_title) == ("Anne", "Lee", "Buyer")
    # Contact infos are only ever added by an import: the new e-mail joins the old one.
    assert [(i.value, i.is_primary) for i in after.infos] == [
        ("ann@example.com", True),
        ("ann.lee@new.example", False),
    ]
    assert after.infos[0].id == ann.infos[0].id  # updated in place, never re-created
    assert (after.created_at, after.created_by) == (ann.created_at, ann.created_by)
    assert admin.contacts.get(acme.id).name == "Acme Ltd"
    assert admin.contacts.count() == 2
    again = admin.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="update")
    assert (again.unchanged, again.updated, again.created, again.issues) == (2, 0, 0, ())


def test_update_by_id_reports_ids_it_may_not_use(crm, users, alice):
    bob = crm.session(users["bob"])
    hidden = bob.contacts.add_person("Hid", "Den")
    shown = bob.contacts.add_person("Read", "Only", access="read")
    mine = alice.contacts.add_person("Mine", "Own")
    firm = alice.contacts.add_company("Firm")
    data = id_csv(
        "999999,Ghost,Row,,",
        f"{hidden.id},Hid,Changed,,",
        f"{shown.id},Read,Changed,,",
        f"{firm.id},Firm,Person,,",
        f"{mine.id},,,Mine Inc,",
        "x,Bad,Id,,",
        "0,Zero,Id,,",
        f"{mine.id},Mine,Changed,,",
    )
    dry = alice.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="update", dry_run=True)
    report = alice.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="update")
    assert (counts(dry), dry.issues) == (counts(report), report.issues)
    assert counts(report) == {
        "rows": 8,
        "created": 0,
        "updated": 1,
        "unchanged": 0,
        "skipped": 1,
        "rejected": 6,
        "companies_created": 0,
    }
    assert report.issues == (
        RowIssue(7, "Id", "'x' is not a whole number"),
        RowIssue(8, "Id", "0 is not a record id"),
        RowIssue(2, "Id", "no contact #999999"),
        RowIssue(3, "Id", f"no contact #{hidden.id}"),  # not the importer's to know of
        RowIssue(4, None, f"matches contact #{shown.id}, which you may not edit", "skipped"),
        RowIssue(5, "Id", f"contact #{firm.id} is a company, not a person"),
        RowIssue(6, "Id", f"contact #{mine.id} is a person, not a company"),
    )
    assert bob.contacts.get(hidden.id) == hidden
    assert bob.contacts.get(shown.id) == shown
    assert alice.contacts.get(firm.id) == firm
    assert alice.contacts.get(mine.id).last_name == "Changed"  # type: ignore[attr-defined]
    assert alice.contacts.count() == 3  # hers and the one she may read; nothing created


def test_skip_and_create_ignore_ids_but_refuse_bad_ones(admin):
    ann = admin.contacts.add_person("Ann", "Lee", email="ann@example.com")
    data = id_csv(
        f"{ann.id},Bo,Ek,,bo@example.com",
        "1.5,Cy,Fu,,cy@example.com",
        f"{ann.id},Ann,Changed,,ann@example.com",
    )
    skip = admin.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="skip")
    assert (skip.created, skip.skipped, skip.rejected) == (1, 1, 1)
    assert skip.issues == (RowIssue(3, "Id", "'1.5' is not a whole number"),)
    assert admin.contacts.get(ann.id) == ann
    create = admin.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="create")
    assert (create.created, create.rejected, create.issues) == (2, 1, skip.issues)
    assert admin.contacts.get(ann.id) == ann
    names = sorted(c.display_name for c in admin.contacts.list().items)
    assert names == ["Ann Changed", "Ann Lee", "Bo Ek", "Bo Ek"]


def test_update_by_id_reads_a_batch_of_ids_in_one_query(crm, admin):
    people = [admin.contacts.add_person(f"P{i}", "Old") for i in range(12)]

    def statements(chosen: list, last: str) -> list[str]:
        data = id_csv(*(f"{p.id},{p.first_name},{last},," for p in chosen))
        sent: list[str] = []

        def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            sent.append(statement.split()[0].upper())

        sa.event.listen(crm.engine, "before_cursor_execute", record)
        try:
            report = admin.imports.run("contacts", CsvRows(data), BY_ID, on_duplicate="update")
        finally:
            sa.event.remove(crm.engine, "before_cursor_execute", record)
        assert (report.updated, report.rows) == (len(chosen), len(chosen))
        return sent

    # Two rows or twelve: the same statements (no round trip per row).
    assert statements(people[:2], "Two") == statements(people, "Twelve")
    assert {c.last_name for c in admin.contacts.list().items} == {"Twelve"}


# --- access ----------------------------------------------------------------------------------


def test_imports_never_update_what_the_importer_may_not_edit(crm, users, admin, alice):
    bob = crm.session(users["bob"])
    hidden = bob.contacts.add_person("Hid", "Den", email="hidden@example.com")
    shown = bob.contacts.add_person("Read", "Only", email="shown@example.com", access="read")
    data = csv_of("Hid,Changed,hidden@example.com,", "Read,Changed,shown@example.com,")
    report = alice.imports.run("contacts", CsvRows(data), BASIC, on_duplicate="update")
    assert (report.skipped, report.updated) == (2, 0)
    assert report.issues == (
        RowIssue(2, None, "matches a contact, which you may not edit", "skipped"),
        RowIssue(3, None, f"matches contact #{shown.id}, which you may not edit", "skipped"),
    )
    assert bob.contacts.get(hidden.id).last_name == "Den"  # type: ignore[attr-defined]


def test_imported_records_get_the_default_managers_and_access(admin, alice):
    report = admin.imports.run(
        "contacts",
        CsvRows(csv_of("Ann,Lee,ann@example.com,")),
        BASIC,
        defaults={"managers": ["alice", "bob"], "access": "private", "tags": ["import 2024"]},
    )
    [ann] = alice.contacts.list().items
    assert ann.managers == {"alice", "bob"}
    assert ann.access is Access.PRIVATE
    assert ann.tags == {"import 2024"}
    assert report.created == 1


def test_unknown_types_are_created_unless_forbidden(admin):
    data = b"Name,Type,Temperature\nAcme,Reseller,Lukewarm\n"
    mapping = {"company": "Name", "contact_type": "Type", "temperature": "Temperature"}
    refused = admin.imports.run("contacts", CsvRows(data), mapping, create_missing=False)
    assert refused.issues == (
        RowIssue(2, "Type", "no contact type 'Reseller'"),
        RowIssue(2, "Temperature", "no temperature 'Lukewarm'"),
    )
    report = admin.imports.run("contacts", CsvRows(data), mapping)
    assert report.created == 1
    [acme] = admin.contacts.list().items
    [temperature] = [t for t in admin.lists.items("temperature") if t.id == acme.temperature_id]
    assert (temperature.title, temperature.color) == ("Lukewarm", "#77cf9a")


def test_ids_of_deleted_contacts_are_never_reused(admin):
    gone = admin.contacts.add_person("Gone", email="gone@example.com")
    admin.contacts.delete(gone.id)
    report = admin.imports.run("contacts", CsvRows(csv_of("Ann,Lee,ann@example.com,")), BASIC)
    [(first, last)] = report.created_ids
    assert first == last > gone.id
    assert admin.contacts.add_person("Bo").id > last
