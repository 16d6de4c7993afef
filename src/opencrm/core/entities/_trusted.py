"""Building entities from stored rows without running their ``__init__`` again.

Storage reads rows that were checked when they were written, and a list page builds
hundreds of entities from them. :func:`trusted_builder` makes, once per class, a function
that sets the slots of a new frozen instance directly: no keyword-argument dict, no
converters (the caller passes every field already in its final form: ``custom`` as a
``MappingProxyType``, sets as frozensets), no defaults. The instance is the same frozen,
comparable, hashable object the class's own ``__init__`` makes; a contract test builds both
ways from the same rows and compares them.

Only for trusted stored values: anything that comes from a caller goes through the class.

:func:`lazy_slots` lets storage leave some fields of such an instance unbuilt until they
are first read (an invoice's lines on a list page); see :class:`Pending`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from moneyed import Currency, Money, get_currency

__all__ = [
    "LazySlot",
    "Pending",
    "lazy_slots",
    "minor_money",
    "slot_setters",
    "stored_minor",
    "stored_money",
    "trusted_builder",
]

T = TypeVar("T")


def _slot(cls: type, name: str) -> Any:
    """The slot descriptor of field ``name`` (the slot itself for a :class:`LazySlot`)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            found = klass.__dict__[name]
            return found.slot if isinstance(found, LazySlot) else found
    raise TypeError(f"{cls.__name__}.{name} is not a slot")  # pragma: no cover


def slot_setters(cls: type) -> dict[str, Callable[[Any, Any], None]]:
    """The ``__set__`` of each attrs field's slot of the plain slotted attrs class ``cls``
    (no ``__attrs_post_init__``), by field name, in the order of the fields: what a
    trusted builder calls on a new instance made with ``object.__new__(cls)``."""
    fields = attrs.fields(cls)  # raises for a non-attrs class
    if getattr(cls, "__attrs_post_init__", None) is not None or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a plain slotted attrs class")
    return {f.name: _slot(cls, f.name).__set__ for f in fields}


class Pending:
    """What the lazy slots of an instance hold until one of them is first read (see
    :func:`lazy_slots`): the same object in each of them. :meth:`resolve` returns the final
    values of those slots, in the order :func:`lazy_slots` was given them.

    Subclasses hold what they need to build the values (raw stored text, a currency...);
    the object never leaves the instance: every read of a lazy slot, by whatever code
    (``==``, ``hash``, ``repr``, ``attrs.evolve``, pickling, copying, cattrs), gets the
    built values."""

    __slots__ = ()

    def resolve(self) -> Sequence[Any]:
        raise NotImplementedError


#: Held while a pending instance is resolved: two threads reading the same instance at
#: once build its values once, and both get the same objects. Resolving is pure Python
#: (no I/O), so under the GIL one lock costs no parallelism.
_RESOLVING = threading.RLock()


class LazySlot:
    """A data descriptor around the slot descriptor of one field of a slotted class.

    Setting delegates to the slot (the class's ``__init__``, ``__setstate__`` and trusted
    builders set it as before); reading returns the slot's value, unless that value is a
    :class:`Pending`: then every lazy slot of the instance is resolved once, under a lock,
    set through the slots, and the built value returned. Read on the class it returns
    itself, like the slot descriptor it replaces."""

    __slots__ = ("_get", "group", "slot")

    def __init__(self, slot: Any, group: tuple[Any, ...]) -> None:
        self.slot = slot
        self.group = group  # the slot descriptors of all the lazy fields, in order
        self._get = slot.__get__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self._get(obj)
        if isinstance(value, Pending):
            return self._resolve(obj)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.slot.__delete__(obj)

    def __getattr__(self, name: str) -> Any:
        # __name__, __objclass__, __doc__...: what the slot descriptor answered
        return getattr(self.slot, name)

    def _resolve(self, obj: Any) -> Any:
        with _RESOLVING:
            pending = self._get(obj)
            if isinstance(pending, Pending):  # else another thread resolved it meanwhile
                values = pending.resolve()
                for slot, value in zip(self.group, values, strict=True):
                    slot.__set__(obj, value)
            return self._get(obj)


def lazy_slots(cls: type, *names: str) -> None:
    """Make fields ``names`` of the slotted attrs class ``cls`` lazy: a trusted builder may
    set all of them to one :class:`Pending`, resolved when any of them is first read.

    The fields stay ordinary attrs fields: the class's ``__init__``, ``attrs.fields``,
    ``attrs.evolve``, ``==``, ``hash``, ``repr``, pickling and copying behave as before, and
    only ever see the resolved values."""
    if "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted class")
    slots = tuple(_slot(cls, name) for name in names)
    for name, slot in zip(names, slots, strict=True):
        setattr(cls, name, LazySlot(slot, slots))


def trusted_builder(cls: type[T], *, positional: Sequence[str] | None = None) -> Callable[..., T]:
    """A function ``build(*, field=value, ...)`` that takes every attrs field of the slotted
    class ``cls`` by keyword (none may be left out) and returns an instance, without
    converters or defaults.

    With ``positional`` (every field name, in any order) it takes the fields by position in
    that order instead: ``build(*values)`` for a row whose columns come in that order."""
    setters = slot_setters(cls)
    names = list(setters)
    signature = f"*, {', '.join(names)}"
    if positional is not None:
        if sorted(positional) != sorted(names):
            raise TypeError(f"positional must name every field of {cls.__name__} once")
        signature = ", ".join(positional)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build({signature}):", "    self = _new(_cls)"]
    for name in names:
        namespace[f"_set_{name}"] = setters[name]
        lines.append(f"    _set_{name}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = build.__name__ = f"trusted_{cls.__name__}"
    return build


_new_money = object.__new__


@functools.cache
def _currency(code: str) -> Currency:
    return get_currency(code)


def stored_money(amount: Decimal, code: str) -> Money:
    """``Money(amount, code)`` for a stored amount (a ``Decimal`` already) and a stored
    currency code, without the constructor's conversions: the same object, several times
    faster (an invoice page builds fifteen amounts per invoice)."""
    money = _new_money(Money)
    # A new instance, not yet seen by anyone: what Money.__init__ itself does.
    money.amount = amount  # type: ignore[misc]
    money.currency = _currency(code)  # type: ignore[misc]
    return money


@functools.cache
def _exponent(code: str) -> int:
    from opencrm.core.money import minor_units

    return -minor_units(code)


def stored_minor(units: int, code: str) -> Money:
    """``from_minor(units, code)`` (a whole number of minor units, as storage keeps amounts)
    built as :func:`stored_money` builds."""
    return minor_money(code)(units)


@functools.cache
def minor_money(code: str) -> Callable[[int], Money]:
    """:func:`stored_minor` for one currency, its currency and exponent looked up once: an
    invoice builds fifteen amounts in its currency."""
    currency = _currency(code)
    # Multiplying by 1E-2 gives the digits and exponent of ``scaleb(-2)`` (the same
    # Decimal, ``12500.50``) in a third of the time: scaleb converts its int argument on
    # every call.
    scale = Decimal(1).scaleb(_exponent(code))
    new = _new_money

    def build(units: int) -> Money:
        money = new(Money)
        money.amount = Decimal(units) * scale  # type: ignore[misc]
        money.currency = currency  # type: ignore[misc]
        return money

    return build
