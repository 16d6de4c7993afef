"""Invoices, their lines, products & services, taxes and exchange rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

import attrs
from moneyed import Money

from opencrm.core.entities._trusted import lazy_slots
from opencrm.core.entities.contacts import Address

__all__ = [
    "ExchangeRate",
    "Invoice",
    "InvoiceDocument",
    "InvoiceLine",
    "InvoiceNumbering",
    "InvoiceStatus",
    "LineTax",
    "Organisation",
    "Product",
    "Tax",
    "TaxTotal",
]


class InvoiceStatus(StrEnum):
    """Draft -> Billed -> Paid | Rejected; Rejected -> Draft; Paid -> Billed."""

    DRAFT = "draft"
    BILLED = "billed"
    PAID = "paid"
    REJECTED = "rejected"


@attrs.frozen(kw_only=True)
class Tax:
    """A tax: a unique name and a rate in percent (``Decimal('19')`` for 19 %)."""

    id: int
    name: str
    rate: Decimal
    description: str = ""
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class Product:
    """A product or service. ``price`` is per unit, in the default currency it was entered
    in, with up to six decimal places kept as entered (it may be finer than the minor unit);
    ``tax_ids`` are the (up to two) taxes a new invoice line gets by default. With
    ``track_inventory`` billing an invoice decrements ``stock_quantity`` and rejecting it
    restores it."""

    id: int
    title: str
    description: str = ""
    sku: str = ""
    price: Money
    tax_ids: tuple[int, ...] = ()
    track_inventory: bool = False
    stock_quantity: Decimal = Decimal(0)
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class ExchangeRate:
    """One unit of ``from_currency`` is worth ``rate`` units of ``to_currency``."""

    from_currency: str
    to_currency: str
    rate: Decimal
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class LineTax:
    """A tax as applied to one line: its name and rate as they were when the line was written."""

    tax_id: int
    name: str
    rate: Decimal
    amount: Money


@attrs.frozen(kw_only=True)
class InvoiceLine:
    """One line. ``price`` is per unit in the invoice currency (up to six decimal places,
    kept as entered), ``discount`` a percentage.

    The amounts: ``subtotal = round(price x quantity)``, ``discount_amount =
    round(subtotal x discount / 100)``, ``net = subtotal - discount_amount``, each tax
    ``round(net x rate / 100)``, ``total = net + taxes``.
    """

    id: int = 0
    product_id: int | None = None
    description: str = ""
    quantity: Decimal
    price: Money
    discount: Decimal = Decimal(0)
    taxes: tuple[LineTax, ...] = ()
    subtotal: Money
    discount_amount: Money
    net: Money
    total: Money


@attrs.frozen(kw_only=True)
class TaxTotal:
    """The sum of one tax over every line of an invoice."""

    tax_id: int
    name: str
    rate: Decimal
    amount: Money


@attrs.frozen(kw_only=True)
class Invoice:
    """An invoice. Amounts are in ``currency``; ``exchange_rate`` is how many units of the
    default currency one unit of ``currency`` was worth. ``rounding`` is the rounding mode the
    totals were computed with, kept so that they never change afterwards.

    An invoice of a list page builds its ``lines`` and ``tax_totals`` when either is first
    read (a list shows number, client, status, dates and total): the same values, equal,
    hashed, printed, copied and pickled as an invoice built with them."""

    id: int
    number: str
    status: InvoiceStatus = InvoiceStatus.DRAFT
    issue_date: dt.date
    due_date: dt.date
    client_id: int
    consignee_id: int | None = None
    billing_address_id: int | None = None
    billing_address: Address | None = None
    delivery_address_id: int | None = None
    delivery_address: Address | None = None
    opportunity_id: int | None = None
    language: str = "en"
    currency: str
    exchange_rate: Decimal = Decimal(1)
    po_number: str = ""
    terms: str = ""
    notes: str = ""
    rounding: str
    lines: tuple[InvoiceLine, ...] = ()
    subtotal: Money
    tax_totals: tuple[TaxTotal, ...] = ()
    total: Money
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime

    @property
    def tax_total(self) -> Money:
        return self.total - self.subtotal


# Storage may leave these two unbuilt until read (see opencrm.core.entities._trusted).
lazy_slots(Invoice, "lines", "tax_totals")


@attrs.frozen(kw_only=True)
class InvoiceNumbering:
    """How new invoices are numbered: ``prefix`` + the counter zero-padded to ``width``
    digits (``INV-0000001``) when ``automatic``; otherwise each invoice needs a number."""

    automatic: bool = True
    prefix: str = "INV-"
    next_value: int = 1
    width: int = 7

    @property
    def next_number(self) -> str:
        return f"{self.prefix}{self.next_value:0{self.width}d}"


@attrs.frozen(kw_only=True)
class Organisation:
    """The seller on every invoice: name, address and an optional PNG or JPEG logo."""

    name: str = ""
    address: Address = attrs.field(factory=Address)
    logo: bytes | None = None


@attrs.frozen(kw_only=True)
class InvoiceDocument:
    """Everything an invoice document shows, gathered for a renderer (no storage access)."""

    invoice: Invoice
    seller: Organisation
    client_name: str
    consignee_name: str | None
    product_titles: dict[int, str] = attrs.field(factory=dict)
