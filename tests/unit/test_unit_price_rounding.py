"""Unit prices finer than the currency's minor unit: parsing, scale and the line rounding."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from moneyed import Money

from opencrm.core.invoicing import LineInput, TaxRef, compute, compute_line
from opencrm.core.money import MAX_AMOUNT, UNIT_PRICE_PLACES, minor_units, to_decimal, unit_price
from opencrm.core.services.invoices import MAX_QUANTITY
from opencrm.errors import ValidationError

D = Decimal


@pytest.mark.parametrize(
    ("text", "currency", "kept"),
    [
        ("0.123456", "EUR", "0.123456"),
        ("0.125000", "EUR", "0.125000"),  # trailing zeros as entered
        ("0.125", "EUR", "0.125"),
        ("12.3", "EUR", "12.30"),  # never fewer places than the minor units
        ("12", "EUR", "12.00"),
        ("0.5", "JPY", "0.5"),
        ("1200", "JPY", "1200"),
        ("0.000001", "JPY", "0.000001"),
        ("1.2345", "KWD", "1.2345"),
        ("1.2", "KWD", "1.200"),
        ("1.50000000", "EUR", "1.500000"),  # zeros past the sixth place change no value
        ("1e2", "EUR", "100.00"),
        ("-0", "EUR", "0.00"),
        (D("0.0123"), "USD", "0.0123"),
        (7, "KWD", "7.000"),
        (Money("0.0105", "EUR"), "EUR", "0.0105"),
    ],
)
def test_a_unit_price_keeps_up_to_six_places_as_entered(text, currency, kept):
    price = unit_price(text, currency)
    assert price.currency.code == currency
    assert format(price.amount, "f") == kept


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD"])
def test_a_seventh_decimal_is_refused_with_the_field_path(currency):
    with pytest.raises(ValidationError) as caught:
        unit_price("0.1234567", currency, field="lines.2.price")
    assert caught.value.errors == {"lines.2.price": "has more than 6 decimal places"}


def test_a_unit_price_is_exact_bounded_and_in_its_currency():
    with pytest.raises(ValidationError) as caught:
        unit_price(0.5, "EUR")
    assert "not a float" in caught.value.errors["price"]
    assert unit_price(MAX_AMOUNT, "EUR").amount == MAX_AMOUNT
    with pytest.raises(ValidationError) as caught:
        unit_price("1000000000000", "EUR")
    assert caught.value.errors == {"price": "must not exceed 999999999999.999 in size"}
    with pytest.raises(ValidationError) as caught:
        unit_price(Money("1.5", "USD"), "EUR")
    assert caught.value.errors == {"price": "is in USD, expected EUR"}
    with pytest.raises(ValidationError, match="unknown currency"):
        unit_price("1", "XXX")


@pytest.mark.parametrize(
    ("price", "quantity", "currency", "rounding", "subtotal"),
    [
        ("0.5", "3", "JPY", ROUND_HALF_UP, "2"),  # 1.5 yen: half up to 2
        ("0.5", "5", "JPY", ROUND_HALF_UP, "3"),  # 2.5 yen: half up to 3
        ("0.5", "5", "JPY", ROUND_HALF_EVEN, "2"),  # 2.5 yen: half to even is 2
        ("1.2345", "2", "KWD", ROUND_HALF_UP, "2.469"),  # exact, no rounding needed
        ("1.2345", "3", "KWD", ROUND_HALF_UP, "3.704"),  # 3.7035
        ("0.125000", "1", "EUR", ROUND_HALF_UP, "0.13"),
        ("0.125000", "1", "EUR", ROUND_HALF_EVEN, "0.12"),
        ("0.0123", "1000", "USD", ROUND_HALF_UP, "12.30"),
        ("0.000001", "0.5", "EUR", ROUND_HALF_UP, "0.00"),
    ],
)
def test_line_subtotal_rounds_price_times_quantity_to_the_minor_unit(
    price, quantity, currency, rounding, subtotal
):
    line = LineInput(price=unit_price(price, currency).amount, quantity=D(quantity))
    amounts = compute_line(line, currency, rounding)
    assert format(amounts.subtotal, "f") == subtotal
    assert amounts.total == amounts.subtotal  # no discount, no tax


def test_discount_and_taxes_keep_their_rule_on_a_fine_price():
    # 0.0123 x 1000 = 12.30; 10 % discount 1.23; net 11.07; 19 % VAT 2.1033 -> 2.10
    line = LineInput(
        price=D("0.0123"),
        quantity=D(1000),
        discount=D(10),
        taxes=(TaxRef(1, "VAT", D(19)),),
    )
    amounts = compute_line(line, "EUR", ROUND_HALF_UP)
    assert (amounts.subtotal, amounts.discount, amounts.net) == (D("12.30"), D("1.23"), D("11.07"))
    assert amounts.taxes == (D("2.10"),)
    assert amounts.total == D("13.17")


def _half_up(units: int, divisor: int) -> int:
    """``units / divisor`` rounded half up, in integers (an oracle independent of Decimal)."""
    whole, rest = divmod(units, divisor)
    return whole + 1 if 2 * rest >= divisor else whole


def _decimal_text(units: int, places: int) -> str:
    return format(D(units).scaleb(-places), "f")


_CURRENCIES = ["JPY", "KRW", "EUR", "USD", "KWD", "OMR"]  # 0, 2 and 3 minor digits


@st.composite
def _lines(draw: st.DrawFn) -> tuple[str, int, int, int]:
    """``(currency, price places, price x 10^places, quantity x 10^6)``: any price and
    quantity within their limits, and half the time an exact half of a minor unit (a tie,
    where rounding modes differ)."""
    currency = draw(st.sampled_from(_CURRENCIES))
    minor = minor_units(currency)
    places = draw(st.integers(0, UNIT_PRICE_PLACES))
    if places > minor and draw(st.booleans()):
        price_scaled = (10 * draw(st.integers(0, 10**6)) + 5) * 10 ** (places - minor - 1)
        quantity_units = draw(st.integers(0, 20)) * 10**6
    else:
        price_scaled = draw(st.integers(0, 10**18 - 1))
        quantity_units = draw(st.integers(0, int(MAX_QUANTITY) * 10**6))
    return currency, places, price_scaled, quantity_units


@given(_lines())
def test_line_total_is_price_times_quantity_rounded_half_up_to_minor_units(line):
    """For any unit price with at most six decimals and any quantity with at most six (both
    within their documented ranges), the line total is the exact product rounded half up to
    the minor units of the currency."""
    currency, price_places, price_scaled, quantity_units = line
    assume(D(price_scaled).scaleb(-price_places) <= MAX_AMOUNT)
    price_text = _decimal_text(price_scaled, price_places)
    quantity_text = _decimal_text(quantity_units, 6)
    price = unit_price(price_text, currency)
    quantity = to_decimal(quantity_text, "quantity", 6)
    assert price.amount == D(price_text)
    # The exact product in units of 10^-(price_places + 6), then to minor units by integers.
    exact = price_scaled * quantity_units
    minor = minor_units(currency)
    expected_minor = _half_up(exact * 10**minor, 10 ** (price_places + 6))
    amounts = compute_line(
        LineInput(price=price.amount, quantity=quantity), currency, ROUND_HALF_UP
    )
    assert amounts.subtotal == D(expected_minor).scaleb(-minor)
    assert amounts.total == amounts.subtotal
    assert amounts.subtotal.as_tuple().exponent == -minor  # the amount has the minor scale


def test_a_host_decimal_context_never_changes_the_line_math():
    """An application that lowers the decimal precision for its own work (5 digits here)
    still gets the exact products: 999,999.123456 x 999.5 = 999,499,123.894272."""
    line = LineInput(price=D("999999.123456"), quantity=D("999.5"), discount=D("12.5"),
                     taxes=(TaxRef(1, "VAT", D("19.25")),))  # fmt: skip
    with localcontext(prec=5, rounding=ROUND_DOWN):
        inside = compute([line], "EUR", ROUND_HALF_UP)
    assert inside == compute([line], "EUR", ROUND_HALF_UP)
    (amounts,) = inside.lines
    assert amounts.subtotal == D("999499123.89")  # half up
    assert amounts.discount == D("124937390.49")  # 12.5 % of it: 124937390.48625
    assert amounts.net == D("874561733.40")
    assert amounts.taxes == (D("168353133.68"),)  # 19.25 % of the net: 168353133.6795
