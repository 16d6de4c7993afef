"""The constructor storage uses for stored rows: same objects, no converters, no defaults."""

from __future__ import annotations

import attrs
import pytest

from opencrm.core.entities import Address
from opencrm.core.entities._trusted import trusted_builder


@attrs.frozen(kw_only=True)
class _Pair:
    left: int
    right: tuple[int, ...] = attrs.field(default=(), converter=tuple)


def test_builds_what_the_class_builds_from_final_values() -> None:
    build = trusted_builder(_Pair)
    made = build(left=1, right=(2, 3))
    assert made == _Pair(left=1, right=[2, 3])
    assert made.right == (2, 3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.left = 5  # type: ignore[misc]
    assert trusted_builder(Address)(street="", city="Köln", state="", zip="", country="") == (
        Address(city="Köln")
    )


def test_runs_no_converter_and_fills_no_default() -> None:
    build = trusted_builder(_Pair)
    assert build(left=1, right=[2]).right == [2]  # the caller passes final values
    with pytest.raises(TypeError, match="right"):
        build(left=1)


def test_refuses_a_class_it_cannot_fill_slot_by_slot() -> None:
    @attrs.define(slots=False)
    class Loose:
        x: int

    with pytest.raises(TypeError, match="not a plain slotted attrs class"):
        trusted_builder(Loose)

    @attrs.frozen
    class Checked:
        x: int

        def __attrs_post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="not a plain slotted attrs class"):
        trusted_builder(Checked)


def test_takes_fields_by_position_in_the_order_given() -> None:
    build = trusted_builder(_Pair, positional=("right", "left"))
    assert build((2, 3), 1) == _Pair(left=1, right=(2, 3))
    with pytest.raises(TypeError, match="every field"):
        trusted_builder(_Pair, positional=("left",))
    with pytest.raises(TypeError, match="every field"):
        trusted_builder(_Pair, positional=("left", "left"))


@pytest.mark.parametrize(
    ("units", "code", "text"),
    [
        (12345, "EUR", "123.45"),
        (0, "EUR", "0.00"),
        (-5, "USD", "-0.05"),
        (7, "JPY", "7"),
        (1234, "KWD", "1.234"),
        (0, "JPY", "0"),
        (2**63 - 1, "EUR", "92233720368547758.07"),  # the largest amount a BIGINT holds
    ],
)
def test_stored_amounts_equal_the_constructors_amounts(units: int, code: str, text: str) -> None:
    from decimal import Decimal

    from moneyed import Money

    from opencrm.core.entities._trusted import minor_money, stored_minor, stored_money
    from opencrm.core.money import from_minor

    expected = from_minor(units, code)
    for made in (stored_minor(units, code), minor_money(code)(units)):
        assert type(made) is Money
        assert made == expected == Money(Decimal(text), code)
        assert str(made.amount) == text
        assert made.amount.as_tuple() == expected.amount.as_tuple()
        assert made.currency is expected.currency
    priced = stored_money(Decimal("0.123456"), code)
    assert priced == Money(Decimal("0.123456"), code)
    assert str(priced.amount) == "0.123456"
