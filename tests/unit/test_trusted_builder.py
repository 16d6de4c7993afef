"""The constructor storage uses for stored rows: same objects, no converters, no defaults;
and fields left unbuilt until first read."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from collections.abc import Sequence
from typing import Any

import attrs
import pytest

from opencrm.core.entities import Address
from opencrm.core.entities._trusted import LazySlot, Pending, lazy_slots, trusted_builder


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


# --- lazy fields ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Order:
    number: str
    items: tuple[str, ...] = ()
    count: int = 0


lazy_slots(_Order, "items", "count")
_new_order = trusted_builder(_Order)


class _Later(Pending):
    """Builds ``items`` and ``count``, counting its calls; ``slow`` seconds each, failing
    the first ``failures`` times."""

    __slots__ = ("calls", "entered", "failures", "slow")

    def __init__(self, *, slow: float = 0, failures: int = 0) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.failures = failures
        self.slow = slow

    def resolve(self) -> Sequence[Any]:
        self.calls += 1
        self.entered.set()
        time.sleep(self.slow)
        if self.calls <= self.failures:
            raise RuntimeError("not now")
        return (("pen", "ink"), 2)


def _pending(later: _Later | None = None) -> _Order:
    later = later or _Later()
    return _new_order(number="A-1", items=later, count=later)


_BUILT = _Order(number="A-1", items=("pen", "ink"), count=2)


def test_lazy_fields_are_built_once_on_the_first_read_of_either() -> None:
    later = _Later()
    order = _pending(later)
    assert later.calls == 0
    assert order.number == "A-1"
    assert later.calls == 0
    assert order.count == 2
    assert order.items == ("pen", "ink")
    assert order.items is order.items
    assert later.calls == 1
    assert order == _BUILT


@pytest.mark.parametrize(
    "seen",
    [
        lambda o: o,
        lambda o: hash(o),
        lambda o: repr(o),
        lambda o: attrs.asdict(o),
        lambda o: attrs.astuple(o),
        lambda o: attrs.evolve(o, number="A-2"),
        lambda o: pickle.loads(pickle.dumps(o)),
        lambda o: pickle.dumps(o),
        lambda o: copy.copy(o),
        lambda o: copy.deepcopy(o),
    ],
    ids=["eq", "hash", "repr", "asdict", "astuple", "evolve", "pickle", "bytes", "copy", "deep"],
)
def test_whatever_reads_the_fields_first_sees_the_built_values(seen: Any) -> None:
    assert seen(_pending()) == seen(_BUILT)
    order = _pending()
    seen(order)
    assert (order.items, order.count) == (("pen", "ink"), 2)


def test_the_class_its_constructor_and_its_fields_are_unchanged() -> None:
    assert [f.name for f in attrs.fields(_Order)] == ["number", "items", "count"]
    assert _Order(number="B", items=("x",), count=1).items == ("x",)
    assert _Order(number="B").items == ()
    assert isinstance(_Order.items, LazySlot)
    assert (_Order.items.__name__, _Order.count.__objclass__) == ("items", _Order)  # type: ignore[attr-defined]
    later = _Later()
    order = _pending(later)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        order.items = ()  # type: ignore[misc]
    assert later.calls == 0  # refusing the write read nothing
    assert order.items == ("pen", "ink")

    @attrs.define(slots=False)
    class Loose:
        x: int

    with pytest.raises(TypeError, match="not a slotted class"):
        lazy_slots(Loose, "x")


def test_threads_reading_at_once_build_the_fields_once_and_see_the_same_objects() -> None:
    later = _Later(slow=0.05)
    order = _pending(later)
    seen: list[tuple[Any, int]] = []

    def read() -> None:
        seen.append((order.items, order.count))

    first = threading.Thread(target=read)
    first.start()
    assert later.entered.wait(5)
    others = [threading.Thread(target=read) for _ in range(3)]  # while the first builds
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join()
    assert later.calls == 1
    assert len(seen) == 4
    assert all(items is seen[0][0] and count == 2 for items, count in seen)


def test_a_failed_build_leaves_the_fields_to_build_on_the_next_read() -> None:
    later = _Later(failures=1)
    order = _pending(later)
    with pytest.raises(RuntimeError, match="not now"):
        order.count  # noqa: B018
    assert order.items == ("pen", "ink")
    assert later.calls == 2
