"""Currencies: the known ones, the default currency, manual exchange rates and conversion."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs
from moneyed import Money

from opencrm.core.currencies import Currency
from opencrm.core.entities.invoices import ExchangeRate
from opencrm.core.money import ROUNDING_MODES, clean_currency
from opencrm.http._api import Call, Items, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUNDING_SCHEMA", "ROUTES"]

TAG = "currencies"

#: A rounding mode: the name of a :mod:`decimal` constant.
ROUNDING_SCHEMA = {"type": "string", "enum": list(ROUNDING_MODES)}


@attrs.frozen(kw_only=True)
class DefaultCurrency:
    #: An ISO 4217 code.
    currency: str


@attrs.frozen(kw_only=True)
class RateIn:
    #: Units of the second currency one unit of the first buys; 0 removes the pair.
    rate: Decimal


@attrs.frozen(kw_only=True)
class ConvertIn:
    amounts: list[Money]
    #: The ISO 4217 code to convert to.
    to: str
    #: The invoice rounding setting when left out.
    rounding: str = attrs.field(default=UNSET, metadata={"schema": ROUNDING_SCHEMA})


@attrs.frozen(kw_only=True)
class Converted:
    """The amounts converted, in the order given."""

    amounts: list[Money]


def list_currencies(c: Call) -> Sequence[Currency]:
    return c.s.currencies.list()  # type: ignore[no-any-return]


def get_default_currency(c: Call) -> DefaultCurrency:
    return DefaultCurrency(currency=c.s.currencies.default())


def set_default_currency(c: Call) -> DefaultCurrency:
    c.s.currencies.set_default(c.body.currency)
    return get_default_currency(c)


def list_exchange_rates(c: Call) -> Sequence[ExchangeRate]:
    return c.s.currencies.rates()  # type: ignore[no-any-return]


def set_exchange_rate(c: Call) -> ExchangeRate | None:
    pair = c.path["from_currency"], c.path["to_currency"]
    c.s.currencies.set_rate(*pair, c.body.rate)
    wanted = clean_currency(pair[0]), clean_currency(pair[1])  # valid: set_rate took them
    rates = c.s.currencies.rates()
    return next((r for r in rates if (r.from_currency, r.to_currency) == wanted), None)


def remove_exchange_rate(c: Call) -> None:
    c.s.currencies.set_rate(c.path["from_currency"], c.path["to_currency"], 0)


def convert_amounts(c: Call) -> Converted:
    options = {"rounding": c.body.rounding} if c.body.rounding is not UNSET else {}
    return Converted(amounts=c.s.currencies.convert_all(c.body.amounts, c.body.to, **options))


RATE = "/exchange-rates/{from_currency}/{to_currency}"

ROUTES = [
    Route(
        method="GET",
        path="/currencies",
        handler=list_currencies,
        summary="The currencies opencrm knows, basic ones first",
        tag=TAG,
        returns=Items(Currency),
        exposes=("currencies.list",),
    ),
    Route(
        method="POST",
        path="/currencies/convert",
        handler=convert_amounts,
        summary="Convert amounts into one currency with the stored exchange rates",
        description="409 `missing_exchange_rates` names the pairs without a stored rate.",
        tag=TAG,
        body=ConvertIn,
        returns=Converted,
        exposes=("currencies.convert", "currencies.convert_all"),
    ),
    Route(
        method="GET",
        path="/settings/default-currency",
        handler=get_default_currency,
        summary="The default currency (of prices and new invoices)",
        tag=TAG,
        returns=DefaultCurrency,
        exposes=("currencies.default",),
    ),
    Route(
        method="PUT",
        path="/settings/default-currency",
        handler=set_default_currency,
        summary="Set the default currency (admins)",
        tag=TAG,
        body=DefaultCurrency,
        returns=DefaultCurrency,
        exposes=("currencies.set_default",),
    ),
    Route(
        method="GET",
        path="/exchange-rates",
        handler=list_exchange_rates,
        summary="The stored exchange rates",
        tag=TAG,
        returns=Items(ExchangeRate),
        exposes=("currencies.rates",),
    ),
    Route(
        method="PUT",
        path=RATE,
        handler=set_exchange_rate,
        summary="Store the exchange rate of a currency pair (admins)",
        description="Replaces the pair's rate; the inverse pair converts by its inverse. "
        "A rate of 0 removes the pair (204).",
        tag=TAG,
        body=RateIn,
        returns=ExchangeRate,
        exposes=("currencies.set_rate",),
    ),
    Route(
        method="DELETE",
        path=RATE,
        handler=remove_exchange_rate,
        summary="Remove the exchange rate of a currency pair (admins)",
        tag=TAG,
        exposes=("currencies.set_rate",),
    ),
]
