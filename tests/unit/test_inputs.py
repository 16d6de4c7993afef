"""The argument cleaners and the decimal parser, on their own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from opencrm import ValidationError
from opencrm.core import _inputs as inp
from opencrm.core.contact_data import clean_email, clean_phone
from opencrm.core.money import clean_currency, to_decimal


def refusal(fn, *args, **kwargs) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    return info.value.errors


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e1000000", "is too large"),
        (Decimal("9e999999"), "is too large"),
        (10**100, "is too large"),
        ("1e-1000000", "has more than 6 decimal places"),
        ("0.0000001", "has more than 6 decimal places"),
        ("1.0000000000000000000000000000001", "has more than 6 decimal places"),
        ("\u0663", "'\u0663' is not a number"),
        ("\uff11", "'\uff11' is not a number"),
        ("NaN", "'NaN' is not a number"),
        ("Infinity", "'Infinity' is not a number"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("-Infinity"), "must be a finite number"),
        (1.5, "must be exact: a Decimal, an int or a string such as '19.99', not a float"),
        (True, "must be a number, not a bool"),
        ("1__0", "'1__0' is not a number"),
        ("_1", "'_1' is not a number"),
        ("1" * 61, f"{'1' * 60!r} is not a number"),
        ("-1", "must be between 0 and 1000"),
        ("1000.000001", "must be between 0 and 1000"),
        (None, "must be a Decimal, an int or a numeric string"),
    ],
)
def test_to_decimal_refuses_exactly(value, reason):
    errors = refusal(to_decimal, value, "rate", 6, low=Decimal(0), high=Decimal(1000))
    assert errors == {"rate": reason}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19.99", "19.99"),
        (" 7 ", "7"),
        ("1e2", "100"),
        ("1_00.5", "100.5"),
        ("-0", "0"),
        ("1.500000000000", "1.500000"),
        (Decimal("0E-1000000"), "0.000000"),
        (Decimal("1.50"), "1.50"),
        (12, "12"),
    ],
)
def test_to_decimal_reads_exact_numbers(value, expected):
    got = to_decimal(value, "n", 6, low=Decimal(0), high=Decimal(1000))
    assert str(got) == expected


# --- ids, ints, bools -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.0, True, "1", None, 0, -1, 2**31, 2**70, Decimal(1)])
def test_clean_id_refuses(value):
    assert list(refusal(inp.clean_id, value, "task_id")) == ["task_id"]


def test_clean_id_accepts_the_range_and_records():
    class Rec:
        id = 5

    assert inp.clean_id(1, "x") == 1
    assert inp.clean_id(inp.MAX_ID, "x") == 2**31 - 1
    assert inp.clean_id(Rec(), "x", Rec) == 5


def test_clean_ids():
    assert inp.clean_ids([3, 1, 3], "ids") == [3, 1]
    for bad in ("12", 5, [1, 1.5], [1, 2**40], {1: 2}):
        assert list(refusal(inp.clean_ids, bad, "ids")) == ["ids"]
    assert "ids" in refusal(inp.clean_ids, range(1, 10), "ids", max_items=5)


@pytest.mark.parametrize("value", ["yes", "no", 0, 1, None, "True"])
def test_clean_bool_refuses_everything_but_bools(value):
    assert refusal(inp.clean_bool, value, "notify") == {"notify": "must be True or False"}


def test_clean_int():
    assert inp.clean_int(1000, "limit", 1, 1000) == 1000
    for bad in (0, 1001, "10", True, 5.0):
        assert refusal(inp.clean_int, bad, "limit", 1, 1000) == {
            "limit": "must be a whole number from 1 to 1000"
        }


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["a\x00b", "a\nb", "a\r", "a\tb", "a\x1bb", "a\x85", "a\u2028b", "a\ud800", "\x7f"]
)
def test_single_line_refuses_breaks_and_controls(value):
    assert refusal(inp.single_line, value, "subject") == {
        "subject": "must be one line without control characters"
    }


def test_single_line_trims_and_bounds():
    assert inp.single_line("  a   b ", "t") == "a b"
    assert inp.single_line(" a ", "t", trim=False) == " a "
    assert refusal(inp.single_line, "x" * 256, "t") == {"t": "is longer than 255 characters"}
    assert refusal(inp.single_line, "  ", "t", required=True) == {"t": "is required"}
    assert refusal(inp.single_line, 5, "t") == {"t": "must be a string"}


def test_multi_line_keeps_lines_and_tabs_only():
    assert inp.multi_line(" a\r\nb\rc\td \n", "notes") == "a\nb\nc\td"
    for bad in ("a\x00", "a\x0bb", "a\udfff", "a\x9b"):
        assert refusal(inp.multi_line, bad, "notes") == {"notes": "contains control characters"}


def test_clean_key():
    assert inp.clean_key("invoice_rounding", "key") == "invoice_rounding"
    for bad in ("", "a b", "a\x00", "k" * 101, "ключ", 5):
        assert list(refusal(inp.clean_key, bad, "key")) == ["key"]


# --- dates ----------------------------------------------------------------------------------


def test_dates_are_bounded():
    assert inp.clean_date(dt.date(1900, 1, 1), "d") == dt.date(1900, 1, 1)
    for bad in (dt.date.min, dt.date.max, dt.date(1899, 12, 31), dt.datetime(2030, 1, 1), "2030"):
        assert list(refusal(inp.clean_date, bad, "d")) == ["d"]


def test_datetimes_are_aware_bounded_and_utc():
    plus2 = dt.timezone(dt.timedelta(hours=2))
    got = inp.clean_datetime(dt.datetime(2030, 1, 1, 12, tzinfo=plus2), "at")
    assert got == dt.datetime(2030, 1, 1, 10, tzinfo=dt.UTC)
    assert got.tzinfo is dt.UTC
    for bad in (
        dt.datetime(2030, 1, 1),
        dt.datetime.max.replace(tzinfo=dt.UTC),
        dt.datetime.min.replace(tzinfo=dt.UTC),
        dt.date(2030, 1, 1),
    ):
        assert list(refusal(inp.clean_datetime, bad, "at")) == ["at"]


def test_add_days_never_overflows():
    assert inp.add_days(dt.date(2030, 1, 1), 30, "due_in") == dt.date(2030, 1, 31)
    assert list(refusal(inp.add_days, dt.date.max, 1, "due_in")) == ["due_in"]
    assert list(refusal(inp.add_days, dt.date(9000, 12, 31), 1, "due_in")) == ["due_in"]


# --- currencies, phones, e-mail -------------------------------------------------------------


def test_currency_codes_are_exact():
    assert clean_currency("eur") == "EUR"
    for bad in (" EUR", "EUR ", "EURO", "E\u00dcR", "XYZ", 1.5):
        assert list(refusal(clean_currency, bad)) == ["currency"]


def test_phone_letters_are_refused_but_extensions_kept():
    assert clean_phone("+49 30 1234567 x12", region=None)[1] == "+49301234567"
    assert clean_phone("+49 30 1234567 ext. 12", region=None)[1] == "+49301234567"
    for bad in ("+1-800-FLOWERS", "+49 \u0663\u0660 1234567", "+49 30 1234567\x00"):
        assert list(refusal(clean_phone, bad, region=None)) == ["phone"]


def test_idn_email_is_normalised_to_ascii():
    assert clean_email("Ada@B\u00fccher.example") == (
        "Ada@b\u00fccher.example",
        "ada@xn--bcher-kva.example",
    )
    assert list(refusal(clean_email, "ada@example.com\x00")) == ["email"]
