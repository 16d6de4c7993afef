"""The currencies opencrm accepts: the reference CRM's list, with its flags.

``basic`` currencies are offered first in pickers; ``convertible`` ones take part in automatic
conversion. Minor units follow ISO 4217 and come from babel's CLDR data.
"""

from __future__ import annotations

import functools

import attrs
from babel.numbers import get_currency_precision

__all__ = ["CURRENCIES", "Currency", "get_currency", "is_known_currency"]


@attrs.frozen
class Currency:
    code: str
    basic: bool
    convertible: bool

    @property
    def minor_units(self) -> int:
        """Digits after the decimal point per ISO 4217 (JPY 0, EUR 2, KWD 3)."""
        return _minor_units(self.code)


@functools.cache
def _minor_units(code: str) -> int:
    # Looked up once per currency: the data is fixed, and every amount read from storage
    # asks (babel's lookup was a third of an invoice page's time).
    return _ISO_4217_NOT_CLDR.get(code) or int(get_currency_precision(code))


# CLDR (babel) gives the digits usually *displayed*; for these four ISO 4217 keeps two
# minor units, and invoices must round to the ISO unit.
_ISO_4217_NOT_CLDR = {"COP": 2, "HUF": 2, "IDR": 2, "MGA": 2}


_BASIC = "AUD CAD CHF EUR GBP JPY USD"
_NOT_CONVERTIBLE = "DZD AOA AMD AZN BYR BYN CRC CUP ETB GEL KZT LVL LTL MNT TTD UZS VEF"
_CONVERTIBLE = (
    "ARS BDT BRL BGN XAF CLP CNY COP HRK CZK DKK DOP HKD HUF INR IDR ILS KES KWD MGA MYR MUR MXN "
    "MDL MAD NZD NGN NOK OMR XPF PKR PHP PLN QAR RON RUB SAR RSD SGD ZAR KRW SEK THB TND TRY UAH "
    "AED VES VND XOF"
)

CURRENCIES: dict[str, Currency] = {
    **{c: Currency(c, basic=True, convertible=True) for c in _BASIC.split()},
    **{c: Currency(c, basic=False, convertible=True) for c in _CONVERTIBLE.split()},
    **{c: Currency(c, basic=False, convertible=False) for c in _NOT_CONVERTIBLE.split()},
}


def is_known_currency(code: str) -> bool:
    return code in CURRENCIES


def get_currency(code: str) -> Currency:
    """Return the currency with this ISO code; ``KeyError`` when opencrm does not know it."""
    return CURRENCIES[code]
