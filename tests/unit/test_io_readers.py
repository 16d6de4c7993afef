"""The streaming CSV and XLSX readers, without a database."""

from __future__ import annotations

import codecs

import pytest

from opencrm import ValidationError
from opencrm.io import CsvRows, XlsxRows, detect_encoding, open_rows


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a,b\n", "utf-8"),
        (codecs.BOM_UTF8 + "Zoë,b\n".encode(), "utf-8-sig"),
        ("Zoë,b\n".encode("utf-16"), "utf-16"),
        ("Zoë,b\n".encode("utf-16-be"), "utf-16-be"),  # no BOM: told by its NUL bytes
        ("Zoë,b\n".encode("utf-16-le"), "utf-16-le"),
        ("Zoë,€\n".encode("cp1252"), "cp1252"),
        (b"Zo\xeb,\x81\n", "latin-1"),  # 0x81 is undefined in Windows-1252
        ("Zoë,b\n".encode("utf-32"), "utf-32"),
    ],
    ids=[
        "ascii",
        "utf8-bom",
        "utf16",
        "utf16be-no-bom",
        "utf16le-no-bom",
        "cp1252",
        "latin1",
        "utf32",
    ],
)
def test_encoding_detection(data, expected):
    assert detect_encoding(data) == expected


def test_a_utf8_bom_is_not_part_of_the_first_column():
    rows = CsvRows(codecs.BOM_UTF8 + b"Name,Email\nAnn,a@example.com\n")
    assert rows.columns == ("Name", "Email")
    assert [dict(r.values) for r in rows] == [{"Name": "Ann", "Email": "a@example.com"}]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter):
    text = delimiter.join(["Name", "City", "Note"]) + "\n"
    text += delimiter.join(["Ann", '"Paris, France"', "x"]) + "\n"
    rows = CsvRows(text.encode())
    assert rows.delimiter == delimiter
    [row] = rows
    assert row.values["Name"] == "Ann"


def test_given_delimiter_and_quote_win():
    rows = CsvRows(b"Name;Note\n'Ann;Lee';x\n", delimiter=";", quotechar="'")
    [row] = rows
    assert dict(row.values) == {"Name": "Ann;Lee", "Note": "x"}


def test_rows_are_numbered_as_a_spreadsheet_shows_them():
    data = b'Name,Note\nAnn,"two\nlines"\n\nBo,x\n'
    assert [(r.number, r.values["Name"]) for r in CsvRows(data)] == [(2, "Ann"), (4, "Bo")]


def test_header_names_are_made_unique():
    rows = CsvRows(b"Name,,Name,\nA,B,C,D\n")
    assert rows.columns == ("Name", "Name (2)", "Name (3)", "Name (4)")


def test_without_a_header_columns_are_numbered():
    rows = CsvRows(b"Ann,Lee\nBo,Ek\n", header=False)
    assert rows.columns == ("column 1", "column 2")
    assert [r.values["column 2"] for r in rows] == ["Lee", "Ek"]


def test_cell_problems_are_reported_on_their_row():
    data = b"A,B\nx\x00y,ok\n" + b"z," + b"w" * 131_073 + b"\nq,r,extra\n"
    rows = list(CsvRows(data))
    assert [dict(r.problems) for r in rows] == [
        {"A": "contains a NUL byte"},
        {"B": "is longer than 131,072 characters (131,073)"},
        {"(extra cells)": "has 3 cells; the header has 2"},
    ]
    assert rows[0].values == {"A": None, "B": "ok"}


def test_unknown_encoding_and_empty_files_are_refused():
    with pytest.raises(ValidationError) as caught:
        CsvRows(b"a\n", encoding="klingon-8")
    assert caught.value.errors == {"encoding": "unknown encoding 'klingon-8'"}
    with pytest.raises(ValidationError) as caught:
        CsvRows(b"\n\n")
    assert caught.value.errors == {"file": "is empty: no header row"}


def test_a_bad_byte_late_in_a_big_file_names_its_row():
    data = b"Name\n" + b"Ann\n" * 50_000 + b"Zo\xeb\n"
    rows = CsvRows(data, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        list(rows)
    offset = len(data) - 2
    assert caught.value.errors == {
        "file": f"row 50002: byte {offset:,} (0xeb) is not utf-8 text; give the file's encoding"
    }


def test_open_rows_tells_xlsx_from_csv_and_refuses_a_fake_workbook():
    assert isinstance(open_rows(b"a,b\n1,2\n"), CsvRows)
    with pytest.raises(ValidationError) as caught:
        XlsxRows(b"PK\x03\x04 not really a zip")
    assert list(caught.value.errors) == ["file"]
    assert caught.value.errors["file"].startswith("is not an XLSX workbook")
