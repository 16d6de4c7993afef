"""Invoice arithmetic, numbers and statuses: pure functions, no storage.

The line math is SPEC S7 (no tax-on-tax; every step rounded to the currency's minor units with
the invoice's rounding mode)::

    subtotal = round(price x quantity)
    discount = round(subtotal x discount% / 100)
    net      = subtotal - discount
    tax_i    = round(net x rate_i / 100)          # each tax on the discounted net
    total    = net + sum(tax_i)

The invoice subtotal is the sum of the nets, each distinct tax gets one total (the sum of its
line amounts) and the invoice total is the sum of the line totals, so ``subtotal + taxes ==
total`` holds exactly. The reference CRM rounds differently in two code paths; opencrm has one.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from decimal import Decimal

import attrs

from opencrm.core.entities.invoices import InvoiceStatus
from opencrm.core.money import MAX_AMOUNT, round_amount
from opencrm.errors import InvalidTransition, ValidationError

__all__ = [
    "MAX_LINE_TAXES",
    "TRANSITIONS",
    "InvoiceAmounts",
    "LineAmounts",
    "LineInput",
    "TaxRef",
    "check_transition",
    "compute",
    "compute_line",
    "format_number",
    "parse_start_number",
]

MAX_LINE_TAXES = 2

#: The allowed status changes (SPEC S7); anything else raises :class:`InvalidTransition`.
TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.BILLED}),
    InvoiceStatus.BILLED: frozenset({InvoiceStatus.PAID, InvoiceStatus.REJECTED}),
    InvoiceStatus.REJECTED: frozenset({InvoiceStatus.DRAFT}),
    InvoiceStatus.PAID: frozenset({InvoiceStatus.BILLED}),
}

_HUNDRED = Decimal(100)
# The arithmetic between the named roundings is exact: a unit price (at most 18 digits, 6 of
# them decimals) times a quantity (at most 16 digits) has at most 34 digits, and no step
# after it has more. Its own context, so a host application's decimal context (a lower
# precision, another rounding) never changes an invoice.
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


@attrs.frozen
class TaxRef:
    """A tax as a line uses it; ``key`` identifies it across lines (the tax id)."""

    key: int
    name: str
    rate: Decimal


@attrs.frozen(kw_only=True)
class LineInput:
    price: Decimal
    quantity: Decimal
    discount: Decimal = Decimal(0)
    taxes: tuple[TaxRef, ...] = ()


@attrs.frozen(kw_only=True)
class LineAmounts:
    subtotal: Decimal
    discount: Decimal
    net: Decimal
    taxes: tuple[Decimal, ...]
    total: Decimal


@attrs.frozen(kw_only=True)
class InvoiceAmounts:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    #: ``(tax, amount)`` per distinct tax, in order of first use.
    taxes: tuple[tuple[TaxRef, Decimal], ...]
    total: Decimal


def compute_line(line: LineInput, currency: str, rounding: str) -> LineAmounts:
    """One line's amounts, each rounded to ``currency`` with ``rounding``."""

    def r(value: Decimal) -> Decimal:
        return round_amount(value, currency, rounding)

    with decimal.localcontext(_EXACT):
        subtotal = r(line.price * line.quantity)
        discount = r(subtotal * line.discount / _HUNDRED)
        net = subtotal - discount
        taxes = tuple(r(net * t.rate / _HUNDRED) for t in line.taxes)
        return LineAmounts(
            subtotal=subtotal, discount=discount, net=net, taxes=taxes, total=net + sum(taxes)
        )


def compute(lines: Sequence[LineInput], currency: str, rounding: str) -> InvoiceAmounts:
    """Every line's amounts and the invoice totals.

    :raises ValidationError: when an amount would exceed :data:`opencrm.core.money.MAX_AMOUNT`.
    """
    with decimal.localcontext(_EXACT):
        return _compute(lines, currency, rounding)


def _compute(lines: Sequence[LineInput], currency: str, rounding: str) -> InvoiceAmounts:
    amounts = tuple(compute_line(line, currency, rounding) for line in lines)
    per_tax: dict[tuple[int, str, Decimal], Decimal] = {}
    for line, a in zip(lines, amounts, strict=True):
        for tax, value in zip(line.taxes, a.taxes, strict=True):
            key = (tax.key, tax.name, tax.rate)
            per_tax[key] = per_tax.get(key, Decimal(0)) + value
    subtotal = sum((a.net for a in amounts), Decimal(0))
    total = sum((a.total for a in amounts), Decimal(0))
    errors = {}
    for n, a in enumerate(amounts):
        if max(abs(a.subtotal), abs(a.total)) > MAX_AMOUNT:
            errors[f"lines.{n}"] = f"the line amount exceeds {MAX_AMOUNT}"
    if abs(total) > MAX_AMOUNT or abs(subtotal) > MAX_AMOUNT:
        errors["total"] = f"the invoice total exceeds {MAX_AMOUNT}"
    if errors:
        raise ValidationError(errors)
    return InvoiceAmounts(
        lines=amounts,
        subtotal=subtotal,
        taxes=tuple((TaxRef(k, n, rate), v) for (k, n, rate), v in per_tax.items()),
        total=total,
    )


def check_transition(current: InvoiceStatus, requested: InvoiceStatus) -> None:
    """:raises InvalidTransition: unless SPEC S7 allows ``current -> requested``."""
    if requested not in TRANSITIONS[current]:
        raise InvalidTransition("invoice", current.value, requested.value)


def format_number(prefix: str, value: int, width: int) -> str:
    """``format_number("INV-", 1, 7) == "INV-0000001"``."""
    return f"{prefix}{value:0{width}d}"


def parse_start_number(text: object) -> tuple[int, int]:
    """An admin's start number as typed (``"0000001"``) -> ``(1, 7)``: its value and width."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text, len(str(text))
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text), len(text)
    raise ValidationError({"start": "must be digits such as '0000001' (at most 18)"})


def distinct_taxes(lines: Iterable[LineInput]) -> list[TaxRef]:
    seen: dict[int, TaxRef] = {}
    for line in lines:
        for tax in line.taxes:
            seen.setdefault(tax.key, tax)
    return list(seen.values())
