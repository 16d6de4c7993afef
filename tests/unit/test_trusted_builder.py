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
