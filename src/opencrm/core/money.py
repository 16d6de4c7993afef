"""Money: exact amounts in ISO 4217 currencies, explicit rounding, exchange rates.

Every amount is a :class:`decimal.Decimal` inside a py-moneyed :class:`~moneyed.Money`. A
``float`` (or NaN, or an infinity) is refused with a :class:`~opencrm.errors.ValidationError`
wherever an amount, price, rate, percentage or quantity enters: binary floats cannot hold
``0.1`` and would make totals depend on how a number was typed. Rounding always names its
mode and rounds to the currency's minor units (JPY 0 digits, EUR 2, KWD 3).

Amounts (totals, taxes, budgets) have at most the currency's minor units. A *unit price* may
be finer, up to :data:`UNIT_PRICE_PLACES` decimals in every currency (per-minute rates,
utility tariffs, fuel): accounting systems price units in 4-6 decimals while every amount
computed from them is rounded to the minor unit.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal

from moneyed import Money

from opencrm.core.currencies import get_currency, is_known_currency
from opencrm.errors import MissingExchangeRates, ValidationError

__all__ = [
    "MAX_AMOUNT",
    "MAX_RATE",
    "ROUNDING_MODES",
    "UNIT_PRICE_PLACES",
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
    "unit_price",
]

#: The largest amount opencrm stores, in major units of any currency (a price, a line total,
#: an invoice total). In minor units it fits a signed 64-bit integer for every currency.
MAX_AMOUNT = Decimal("999999999999.999")
#: The most decimal places of a unit price (of a product or an invoice line), in any currency.
UNIT_PRICE_PLACES = 6
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


# The parser's own context: wide enough for every number it accepts, and every signal that
# would change a digit or leave the range is an error (never a silent rounding).
_PARSE = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=99,
    Emin=-99,
    traps=[
        decimal.InvalidOperation,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Inexact,
        decimal.Subnormal,
    ],
)
_CODE = re.compile(r"[A-Za-z]{3}", re.ASCII)
#: The longest numeric string :func:`to_decimal` reads.
MAX_NUMBER_TEXT = 60
# ASCII digits only: ``Decimal()`` itself would read Arabic-Indic or full-width digits.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def to_decimal(
    value: object,
    field: str,
    places: int | None = None,
    *,
    low: Decimal | None = None,
    high: Decimal | None = None,
) -> Decimal:
    """Read an exact number: a ``Decimal``, an ``int`` or a numeric string.

    The one parser of every price, quantity, discount, rate and stock figure. Refused with
    :class:`ValidationError` on ``field``: floats, bools, NaN, infinities, text that is not
    a plain ASCII number (``"19.99"``, ``"-3"``, ``"1e3"``; ``_`` between digits is
    allowed), more than ``places`` decimal digits (no digit is ever rounded away), and
    numbers outside ``low`` .. ``high``. Exponents are checked before any arithmetic, so
    ``"1e1000000"`` is an ordinary refusal.
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
        if value.bit_length() > 200:
            raise ValidationError({field: "is too large"})
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if "_" in text:
            if "__" in text or not re.fullmatch(r"[^_](?:.*[^_])?", text):
                raise ValidationError({field: f"{value[:MAX_NUMBER_TEXT]!r} is not a number"})
            text = re.sub(r"(?<=\d)_(?=\d)", "", text)
        if len(text) > MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
            raise ValidationError({field: f"{value[:MAX_NUMBER_TEXT]!r} is not a number"})
        number = Decimal(text)
    else:
        raise ValidationError({field: "must be a Decimal, an int or a numeric string"})
    if not number.is_finite():
        raise ValidationError({field: "must be a finite number"})
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    shift = exponent + len(digits) - significant  # exponent once trailing zeros are dropped
    if not number:
        shift = 0
    if number and number.adjusted() > 40:
        raise ValidationError({field: "is too large"})
    if places is not None and -shift > places:
        raise ValidationError({field: f"has more than {places} decimal places"})
    if -shift > 40:
        raise ValidationError({field: "has too many decimal places"})
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValidationError({field: _range_text(low, high)})
    # Drop trailing zeros beyond ``places`` (or beyond 40 digits) and positive exponents:
    # exact, as only zeros go.
    target = min(max(exponent, -places if places is not None else -40), 0)
    exact = number.quantize(Decimal(1).scaleb(target), context=_PARSE)
    return _PARSE.add(exact, Decimal(0))  # -0 becomes 0


def _range_text(low: Decimal | None, high: Decimal | None) -> str:
    if low is None:
        return f"must not exceed {high:f}"
    if high is None:
        return f"must be at least {low:f}"
    return f"must be between {low:f} and {high:f}"


def clean_currency(value: object, field: str = "currency") -> str:
    """An ISO 4217 code of a currency opencrm knows, returned upper-cased: exactly three
    ASCII letters in any case (``"eur"`` is EUR), nothing trimmed (``" EUR"`` is refused)."""
    code = value.code if hasattr(value, "code") else value
    if isinstance(code, str) and _CODE.fullmatch(code) and is_known_currency(code.upper()):
        return code.upper()
    shown = repr(code[:10]) if isinstance(code, str) else type(code).__name__
    raise ValidationError({field: f"unknown currency {shown}"})


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


def unit_price(amount: object, currency: object, *, field: str = "price") -> Money:
    """A price per unit: up to :data:`UNIT_PRICE_PLACES` decimal places in every currency
    (JPY and KWD too), never rounded; refused beyond :data:`MAX_AMOUNT`.

    The scale is kept as entered, but never below the currency's minor units: ``"0.125000"``
    stays ``0.125000`` and ``"12.3"`` in EUR becomes ``12.30``, so documents show the price
    the way it was typed. Zeros beyond the sixth place change no value and are dropped
    (``"1.50000000"`` is ``1.500000``); a seventh significant decimal is refused.
    """
    code = clean_currency(currency)
    if isinstance(amount, Money):
        if amount.currency.code != code:
            raise ValidationError({field: f"is in {amount.currency.code}, expected {code}"})
        amount = amount.amount
    number = to_decimal(amount, field, places=UNIT_PRICE_PLACES)
    if abs(number) > MAX_AMOUNT:
        raise ValidationError({field: f"must not exceed {MAX_AMOUNT} in size"})
    places = max(-_exponent(number), minor_units(code))
    return Money(number.quantize(Decimal(1).scaleb(-places), context=_CONTEXT), code)


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    return exponent


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
