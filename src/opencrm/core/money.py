"""Money: exact amounts in ISO 4217 currencies, explicit rounding, exchange rates.

Every amount is a :class:`decimal.Decimal` inside a py-moneyed :class:`~moneyed.Money`. A
``float`` (or NaN, or an infinity) is refused with a :class:`~opencrm.errors.ValidationError`
wherever an amount, price, rate, percentage or quantity enters: binary floats cannot hold
``0.1`` and would make totals depend on how a number was typed. Rounding always names its
mode and rounds to the currency's minor units (JPY 0 digits, EUR 2, KWD 3).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from decimal import Decimal

from moneyed import Money

from opencrm.core.currencies import get_currency, is_known_currency
from opencrm.errors import MissingExchangeRates, ValidationError

__all__ = [
    "MAX_AMOUNT",
    "MAX_RATE",
    "ROUNDING_MODES",
    "ExchangeRates",
    "Money",
    "clean_currency",
    "clean_rounding",
    "from_minor",
    "minor_units",
    "money",
    "quantum",
    "round_amount",
    "to_decimal",
    "to_minor",
]

#: The largest amount opencrm stores, in major units of any currency (a price, a line total,
#: an invoice total). In minor units it fits a signed 64-bit integer for every currency.
MAX_AMOUNT = Decimal("999999999999.999")
#: The largest exchange rate (as in the reference CRM).
MAX_RATE = Decimal("99999999.99")

#: The rounding modes an admin may choose for invoices (names of :mod:`decimal` constants).
ROUNDING_MODES = (
    decimal.ROUND_HALF_UP,
    decimal.ROUND_HALF_EVEN,
    decimal.ROUND_HALF_DOWN,
    decimal.ROUND_UP,
    decimal.ROUND_DOWN,
    decimal.ROUND_CEILING,
    decimal.ROUND_FLOOR,
)

# Enough digits for any product of two stored amounts: no intermediate result is ever rounded
# by the context, only by the explicit quantize calls below.
_CONTEXT = decimal.Context(
    prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation]
)


def to_decimal(value: object, field: str, places: int | None = None) -> Decimal:
    """Read an exact number: a ``Decimal``, an ``int`` or a numeric string.

    Refused with :class:`ValidationError` on ``field``: floats, bools, NaN, infinities,
    unparsable text and (when ``places`` is given) more than ``places`` decimal digits.
    """
    if isinstance(value, bool):
        raise ValidationError({field: "must be a number, not a bool"})
    if isinstance(value, float):
        raise ValidationError(
            {field: "must be exact: a Decimal, an int or a string such as '19.99', not a float"}
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace("_", ""))
        except decimal.InvalidOperation:
            raise ValidationError({field: f"{value!r} is not a number"}) from None
    else:
        raise ValidationError({field: "must be a Decimal, an int or a numeric string"})
    if not number.is_finite():
        raise ValidationError({field: "must be a finite number"})
    if places is not None and _places(number) > places:
        raise ValidationError({field: f"has more than {places} decimal places"})
    return number + 0  # normalises -0 to 0


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers only
    return max(0, -exponent)


def clean_currency(value: object, field: str = "currency") -> str:
    """An ISO code of a currency opencrm knows, upper-cased."""
    code = value.code if hasattr(value, "code") else value
    if isinstance(code, str) and is_known_currency(code.strip().upper()):
        return code.strip().upper()
    raise ValidationError({field: f"unknown currency {value!r}"})


def clean_rounding(value: object, field: str = "rounding") -> str:
    if value not in ROUNDING_MODES:
        raise ValidationError({field: "must be one of " + ", ".join(ROUNDING_MODES)})
    return str(value)


def minor_units(currency: str) -> int:
    """Digits after the decimal point of ``currency`` per ISO 4217."""
    return get_currency(currency).minor_units


def quantum(currency: str) -> Decimal:
    """The smallest unit of ``currency``: ``Decimal('0.01')`` for EUR, ``Decimal('1')`` for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_amount(amount: Decimal, currency: str, rounding: str) -> Decimal:
    """Round ``amount`` to the minor units of ``currency`` with the named rounding mode."""
    return amount.quantize(quantum(currency), rounding=rounding, context=_CONTEXT)


def money(amount: object, currency: object, *, field: str = "amount") -> Money:
    """A :class:`Money` from exact inputs, refusing amounts finer than the currency's minor unit
    and beyond :data:`MAX_AMOUNT`."""
    code = clean_currency(currency)
    if isinstance(amount, Money):
        if amount.currency.code != code:
            raise ValidationError({field: f"is in {amount.currency.code}, expected {code}"})
        amount = amount.amount
    number = to_decimal(amount, field, places=minor_units(code))
    if abs(number) > MAX_AMOUNT:
        raise ValidationError({field: f"must not exceed {MAX_AMOUNT} in size"})
    return Money(number.quantize(quantum(code)), code)


def to_minor(amount: Money) -> int:
    """The amount as a whole number of minor units (cents): how storage keeps money exactly."""
    code = amount.currency.code
    value = amount.amount.scaleb(minor_units(code), context=_CONTEXT)
    if value != value.to_integral_value():
        raise ValueError(f"{amount} is finer than the minor unit of {code}")
    return int(value)


def from_minor(units: int, currency: str) -> Money:
    """The inverse of :func:`to_minor`."""
    return Money(Decimal(units).scaleb(-minor_units(currency)), currency)


class ExchangeRates:
    """Manual exchange rates: ``rate(a, b)`` is how many units of ``b`` one unit of ``a`` buys.

    Built from the admin-kept table; a pair stored one way also converts the other way by its
    inverse. Conversion rounds to the target currency with an explicit mode.
    """

    def __init__(
        self, rates: Mapping[tuple[str, str], Decimal] | Iterable[tuple[str, str, Decimal]]
    ):
        items = rates.items() if isinstance(rates, Mapping) else (((a, b), r) for a, b, r in rates)
        self._rates: dict[tuple[str, str], Decimal] = {}
        for (a, b), r in items:
            self._rates[(a, b)] = r

    def rate(self, from_currency: str, to_currency: str) -> Decimal | None:
        if from_currency == to_currency:
            return Decimal(1)
        direct = self._rates.get((from_currency, to_currency))
        if direct is not None:
            return direct
        inverse = self._rates.get((to_currency, from_currency))
        if inverse is not None:
            return _CONTEXT.divide(Decimal(1), inverse)
        return None

    def convert(
        self, amount: Money, to_currency: str, *, rounding: str = decimal.ROUND_HALF_UP
    ) -> Money:
        """``amount`` in ``to_currency``; :class:`MissingExchangeRates` without a rate."""
        return self.convert_all([amount], to_currency, rounding=rounding)[0]

    def convert_all(
        self, amounts: Iterable[Money], to_currency: str, *, rounding: str = decimal.ROUND_HALF_UP
    ) -> list[Money]:
        """Convert several amounts; a :class:`MissingExchangeRates` names every missing pair."""
        amounts = list(amounts)
        missing = {
            (a.currency.code, to_currency)
            for a in amounts
            if self.rate(a.currency.code, to_currency) is None
        }
        if missing:
            raise MissingExchangeRates(missing)
        out = []
        for a in amounts:
            rate = self.rate(a.currency.code, to_currency)
            assert rate is not None
            value = _CONTEXT.multiply(a.amount, rate)
            out.append(Money(round_amount(value, to_currency, rounding), to_currency))
        return out
