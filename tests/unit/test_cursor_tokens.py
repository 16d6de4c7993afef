"""List cursors: the token format stays what earlier releases handed out (a client may
hold one across an upgrade), every value type survives the round trip, and a token that
was not signed for this list and sort is refused."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from opencrm.core.query import Cursor, CursorKey, PageRequest
from opencrm.errors import ValidationError

KEY = CursorKey(bytes(range(32)), "tasks")
VALUES = (
    dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC),
    None,
    'Zoë "x"',
    12345678901234,
    dt.date(2026, 2, 28),
)
# Made by the encoder before it dropped base64's and json's wrappers.
TOKEN = (
    "WyItZHVlIixbeyJkdCI6IjIwMjctMDEtMDVUMDk6MzA6MDArMDA6MDAifSxudWxsLCJab8OrIFwieFwiIiwx"
    "MjM0NTY3ODkwMTIzNCx7ImQiOiIyMDI2LTAyLTI4In1dXQ.VU8mhJDttjHPLmkcCDHc2A"
)


def test_a_cursor_encodes_as_before_and_decodes_to_its_values() -> None:
    assert KEY.encode(Cursor("-due", VALUES)) == TOKEN
    assert KEY.decode(TOKEN, "-due") == Cursor("-due", VALUES)
    naive = Cursor("created", (dt.datetime(2027, 1, 5, 9, 30), -(2**63), ""))
    assert KEY.decode(KEY.encode(naive), "created") == naive


def test_opening_a_page_request_decodes_its_token() -> None:
    page = PageRequest.build("-due", 50, TOKEN, ("due", "title"))
    assert KEY.open(page) == PageRequest("due", True, 50, Cursor("-due", VALUES), None)
    first = PageRequest.build("due", 50, None, ("due", "title"))
    assert KEY.open(first) is first


@pytest.mark.parametrize(
    ("token", "sort", "key"),
    [
        (TOKEN, "due", KEY),  # another sort
        (TOKEN, "-due", CursorKey(bytes(range(32)), "opportunities")),  # another list
        (TOKEN, "-due", CursorKey(bytes(32), "tasks")),  # another database's secret
        (TOKEN[:-1] + "B", "-due", KEY),  # signature edited
        ("A" + TOKEN[1:], "-due", KEY),  # payload edited
        ("not a cursor", "-due", KEY),
        ("é.é", "-due", KEY),
    ],
)
def test_a_foreign_or_edited_token_is_refused(token: str, sort: str, key: CursorKey) -> None:
    with pytest.raises(ValidationError) as caught:
        key.decode(token, sort)
    assert caught.value.errors == {"after": "is not a cursor of this list and sort"}


@pytest.mark.parametrize(
    "values",
    [[{"dt": "2027-01-05", "d": "2027-01-05"}], [{"x": 1}], [2**63], [True], ["a\x00b"], [1.5]],
)
def test_signed_values_no_column_can_hold_are_refused(values: list[object]) -> None:
    data = base64.urlsafe_b64encode(json.dumps(["due", values]).encode()).decode().rstrip("=")
    with pytest.raises(ValidationError):
        KEY.decode(f"{data}.{KEY._mac(data)}", "due")
