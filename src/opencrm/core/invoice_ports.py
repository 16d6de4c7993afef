"""Ports for invoicing: the repositories of taxes, products, exchange rates and invoices,
and the filter an invoice list takes. Storage implements them; ``ports.UnitOfWork`` exposes
them as ``taxes``, ``products``, ``exchange_rates`` and ``invoices``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

import attrs

from opencrm.core.entities.invoices import (
    ExchangeRate,
    Invoice,
    InvoiceNumbering,
    InvoiceStatus,
    Product,
    Tax,
)
from opencrm.core.query import Cursor, PageRequest

__all__ = [
    "INVOICE_SORTS",
    "ExchangeRateRepository",
    "InvoiceFilter",
    "InvoiceRepository",
    "InvoiceScope",
    "ProductRepository",
    "TaxRepository",
]

INVOICE_SORTS = ("number", "issue_date", "due_date", "status", "created")


@attrs.frozen
class InvoiceScope:
    """Which invoices a query may return: all for CRM admins; otherwise those ``user_id``
    created plus those whose client contact ``user_id`` may read (SPEC S1)."""

    everything: bool
    user_id: str


@attrs.frozen(kw_only=True)
class InvoiceFilter:
    """Invoice list filters; each optional, combined with AND. ``overdue`` keeps billed
    invoices whose due date is before ``today``."""

    status: InvoiceStatus | None = None
    client_id: int | None = None
    opportunity_id: int | None = None
    currency: str | None = None
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None
    overdue_on: dt.date | None = None
    text: str | None = None


class TaxRepository(Protocol):
    def list(self) -> Sequence[Tax]: ...

    def get(self, tax_id: int) -> Tax | None: ...

    def find(self, name: str) -> Tax | None:
        """The tax with this name, compared case-insensitively."""

    def lookup(
        self, names: Iterable[str], ids: Iterable[int]
    ) -> tuple[dict[str, Tax], dict[int, Tax]]:
        """In one query: the taxes found by these names (as :meth:`find` matches them), keyed
        by the name given, and those with these ids (plus the named ones), keyed by id."""

    def add(self, tax: Tax) -> Tax: ...

    def update(self, tax: Tax) -> Tax: ...

    def delete(self, tax_id: int) -> None: ...

    def in_use(self, tax_id: int) -> bool:
        """Whether a product or an invoice line uses the tax."""


class ProductRepository(Protocol):
    def list(
        self, *, text: str | None = None, in_stock: bool | None = None
    ) -> Sequence[Product]: ...

    def get(self, product_id: int) -> Product | None: ...

    def get_many(self, product_ids: Iterable[int]) -> Sequence[Product]: ...

    def add(self, product: Product) -> Product: ...

    def update(self, product: Product) -> Product: ...

    def delete(self, product_id: int) -> None: ...

    def in_use(self, product_id: int) -> bool:
        """Whether an invoice line uses the product."""

    def adjust_stock(self, deltas: dict[int, Decimal]) -> None:
        """Add each delta to the product's stock (tracked products only), under a row lock."""


class ExchangeRateRepository(Protocol):
    def list(self) -> Sequence[ExchangeRate]: ...

    def get(self, from_currency: str, to_currency: str) -> ExchangeRate | None: ...

    def set(self, rate: ExchangeRate) -> None: ...

    def delete(self, from_currency: str, to_currency: str) -> None: ...


class InvoiceRepository(Protocol):
    def numbering(self) -> InvoiceNumbering: ...

    def set_numbering(self, numbering: InvoiceNumbering) -> None: ...

    def add_numbered(self, invoice: Invoice) -> Invoice | None:
        """Store a new invoice under the next automatic number, skipping numbers already
        taken, and return it as stored; None (nothing stored) when numbering is manual.
        Locks the counter until the transaction ends, so concurrent creators queue and a
        rollback leaves no gap: call it as late as possible."""

    def number_taken(self, number: str, *, other_than: int | None = None) -> bool: ...

    def add(self, invoice: Invoice) -> Invoice: ...

    def get(self, invoice_id: int) -> Invoice | None: ...

    def get_many(self, invoice_ids: Iterable[int]) -> Sequence[Invoice]: ...

    def update(self, invoice: Invoice) -> Invoice:
        """Replace a stored invoice and all its lines."""

    def set_status(
        self, invoice_ids: Sequence[int], status: InvoiceStatus, actor_id: str, at: dt.datetime
    ) -> None: ...

    def delete(self, invoice_id: int) -> None: ...

    def list(
        self, scope: InvoiceScope, where: InvoiceFilter, page: PageRequest
    ) -> tuple[Sequence[Invoice], Cursor | None]: ...

    def count(self, scope: InvoiceScope, where: InvoiceFilter) -> int: ...
