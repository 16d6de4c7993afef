"""Repositories of taxes, products, exchange rates and invoices.

Money columns hold whole minor units; rates, quantities and percentages exact decimal text.
Both convert back to ``Money``/``Decimal`` here, so every backend returns the same values.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from moneyed import Money
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from opencrm.core.entities.contacts import Access, Address
from opencrm.core.entities.invoices import (
    ExchangeRate,
    Invoice,
    InvoiceLine,
    InvoiceNumbering,
    InvoiceStatus,
    LineTax,
    Product,
    Tax,
    TaxTotal,
)
from opencrm.core.invoice_ports import InvoiceFilter, InvoiceScope
from opencrm.core.money import from_minor, to_minor
from opencrm.core.query import Cursor, PageRequest
from opencrm.errors import ValidationError
from opencrm.storage.sqlalchemy.tables import (
    contact_managers,
    contacts,
    exchange_rates,
    invoice_lines,
    invoice_numbering,
    invoices,
    products,
    taxes,
)

__all__ = [
    "SqlExchangeRateRepository",
    "SqlInvoiceRepository",
    "SqlProductRepository",
    "SqlTaxRepository",
]

_SERIES = "invoice"


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _dec(text: str) -> Decimal:
    return Decimal(text)


# --- taxes ----------------------------------------------------------------------------------


def _tax(r: Row[Any]) -> Tax:
    return Tax(
        id=r.id,
        name=r.name,
        rate=_dec(r.rate),
        description=r.description,
        created_by=r.created_by,
        created_at=r.created_at,
        updated_by=r.updated_by,
        updated_at=r.updated_at,
    )


class SqlTaxRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self) -> Sequence[Tax]:
        return [_tax(r) for r in self._c.execute(select(taxes).order_by(taxes.c.name_key))]

    def get(self, tax_id: int) -> Tax | None:
        r = self._c.execute(select(taxes).where(taxes.c.id == tax_id)).first()
        return _tax(r) if r else None

    def find(self, name: str) -> Tax | None:
        r = self._c.execute(select(taxes).where(taxes.c.name_key == _key(name))).first()
        return _tax(r) if r else None

    def _row(self, tax: Tax) -> dict[str, Any]:
        return {
            "name": tax.name,
            "name_key": _key(tax.name),
            "rate": str(tax.rate),
            "description": tax.description,
            "updated_by": tax.updated_by,
            "updated_at": tax.updated_at,
        }

    def add(self, tax: Tax) -> Tax:
        row = self._row(tax) | {"created_by": tax.created_by, "created_at": tax.created_at}
        new_id = self._c.execute(insert(taxes).values(**row).returning(taxes.c.id)).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, tax: Tax) -> Tax:
        self._c.execute(update(taxes).where(taxes.c.id == tax.id).values(**self._row(tax)))
        stored = self.get(tax.id)
        assert stored is not None
        return stored

    def delete(self, tax_id: int) -> None:
        self._c.execute(delete(taxes).where(taxes.c.id == tax_id))

    def in_use(self, tax_id: int) -> bool:
        used = or_(
            exists().where(or_(products.c.tax1_id == tax_id, products.c.tax2_id == tax_id)),
            exists().where(
                or_(invoice_lines.c.tax1_id == tax_id, invoice_lines.c.tax2_id == tax_id)
            ),
        )
        return bool(self._c.execute(select(used)).scalar())


# --- products -------------------------------------------------------------------------------


def _product(r: Row[Any]) -> Product:
    return Product(
        id=r.id,
        title=r.title,
        description=r.description,
        sku=r.sku,
        price=from_minor(r.price_minor, r.currency),
        tax_ids=tuple(t for t in (r.tax1_id, r.tax2_id) if t is not None),
        track_inventory=r.track_inventory,
        stock_quantity=_dec(r.stock_quantity),
        created_by=r.created_by,
        created_at=r.created_at,
        updated_by=r.updated_by,
        updated_at=r.updated_at,
    )


class SqlProductRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self, *, text: str | None = None, in_stock: bool | None = None) -> Sequence[Product]:
        query = select(products).order_by(products.c.title, products.c.id)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(
                    products.c.title.ilike(pattern, escape="\\"),
                    products.c.sku.ilike(pattern, escape="\\"),
                )
            )
        found = [_product(r) for r in self._c.execute(query)]
        if in_stock is not None:  # stock is exact text: compared as Decimal, not in SQL
            found = [p for p in found if p.track_inventory and (p.stock_quantity > 0) == in_stock]
        return found

    def get(self, product_id: int) -> Product | None:
        found = self.get_many([product_id])
        return found[0] if found else None

    def get_many(self, product_ids: Iterable[int]) -> Sequence[Product]:
        ids = list(dict.fromkeys(product_ids))
        if not ids:
            return []
        rows = self._c.execute(select(products).where(products.c.id.in_(ids)))
        return [_product(r) for r in rows]

    def _row(self, p: Product) -> dict[str, Any]:
        tax_ids = [*p.tax_ids, None, None]
        return {
            "title": p.title,
            "description": p.description,
            "sku": p.sku,
            "price_minor": to_minor(p.price),
            "currency": p.price.currency.code,
            "tax1_id": tax_ids[0],
            "tax2_id": tax_ids[1],
            "track_inventory": p.track_inventory,
            "stock_quantity": str(p.stock_quantity),
            "updated_by": p.updated_by,
            "updated_at": p.updated_at,
        }

    def add(self, product: Product) -> Product:
        row = self._row(product) | {
            "created_by": product.created_by,
            "created_at": product.created_at,
        }
        new_id = self._c.execute(
            insert(products).values(**row).returning(products.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, product: Product) -> Product:
        self._c.execute(
            update(products).where(products.c.id == product.id).values(**self._row(product))
        )
        stored = self.get(product.id)
        assert stored is not None
        return stored

    def delete(self, product_id: int) -> None:
        self._c.execute(delete(products).where(products.c.id == product_id))

    def in_use(self, product_id: int) -> bool:
        used = exists().where(invoice_lines.c.product_id == product_id)
        return bool(self._c.execute(select(used)).scalar())

    def adjust_stock(self, deltas: dict[int, Decimal]) -> None:
        if not deltas:
            return
        rows = self._c.execute(
            select(products.c.id, products.c.stock_quantity)
            .where(products.c.id.in_(sorted(deltas)), products.c.track_inventory)
            .order_by(products.c.id)
            .with_for_update()  # PostgreSQL: two billings of one product queue here
        ).all()
        for pid, stock in rows:
            self._c.execute(
                update(products)
                .where(products.c.id == pid)
                .values(stock_quantity=str(_dec(stock) + deltas[pid]))
            )


# --- exchange rates -------------------------------------------------------------------------


class SqlExchangeRateRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    @staticmethod
    def _rate(r: Row[Any]) -> ExchangeRate:
        return ExchangeRate(
            from_currency=r.from_currency,
            to_currency=r.to_currency,
            rate=_dec(r.rate),
            updated_by=r.updated_by,
            updated_at=r.updated_at,
        )

    def list(self) -> Sequence[ExchangeRate]:
        query = select(exchange_rates).order_by(
            exchange_rates.c.from_currency, exchange_rates.c.to_currency
        )
        return [self._rate(r) for r in self._c.execute(query)]

    def get(self, from_currency: str, to_currency: str) -> ExchangeRate | None:
        r = self._c.execute(
            select(exchange_rates).where(
                exchange_rates.c.from_currency == from_currency,
                exchange_rates.c.to_currency == to_currency,
            )
        ).first()
        return self._rate(r) if r else None

    def set(self, rate: ExchangeRate) -> None:
        values = {
            "rate": str(rate.rate),
            "updated_by": rate.updated_by,
            "updated_at": rate.updated_at,
        }
        done = self._c.execute(
            update(exchange_rates)
            .where(
                exchange_rates.c.from_currency == rate.from_currency,
                exchange_rates.c.to_currency == rate.to_currency,
            )
            .values(**values)
        )
        if done.rowcount == 0:
            self._c.execute(
                insert(exchange_rates).values(
                    from_currency=rate.from_currency, to_currency=rate.to_currency, **values
                )
            )

    def delete(self, from_currency: str, to_currency: str) -> None:
        self._c.execute(
            delete(exchange_rates).where(
                exchange_rates.c.from_currency == from_currency,
                exchange_rates.c.to_currency == to_currency,
            )
        )


# --- invoices -------------------------------------------------------------------------------

_SORT_COLUMNS: dict[str, Any] = {
    "number": invoices.c.number,
    "issue_date": invoices.c.issue_date,
    "due_date": invoices.c.due_date,
    "status": invoices.c.status,
    "created": invoices.c.created_at,
}


def _address(value: Any) -> Address | None:
    return Address(**value) if value else None


def _address_json(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {
        "street": address.street,
        "city": address.city,
        "state": address.state,
        "zip": address.zip,
        "country": address.country,
    }


class SqlInvoiceRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    # numbering

    def numbering(self) -> InvoiceNumbering:
        r = self._c.execute(
            select(invoice_numbering).where(invoice_numbering.c.name == _SERIES)
        ).one()
        return InvoiceNumbering(
            automatic=r.automatic, prefix=r.prefix, next_value=r.next_value, width=r.width
        )

    def set_numbering(self, numbering: InvoiceNumbering) -> None:
        self._c.execute(
            update(invoice_numbering)
            .where(invoice_numbering.c.name == _SERIES)
            .values(
                automatic=numbering.automatic,
                prefix=numbering.prefix,
                next_value=numbering.next_value,
                width=numbering.width,
            )
        )

    def allocate_number(self) -> str:
        # SELECT ... FOR UPDATE holds the counter row until commit on PostgreSQL (SQLite's
        # writing transactions are BEGIN IMMEDIATE, so writers are serialised already). A
        # rolled-back creation rolls the counter back with it: committed numbers have no gaps.
        r = self._c.execute(
            select(invoice_numbering).where(invoice_numbering.c.name == _SERIES).with_for_update()
        ).one()
        value = r.next_value
        number = f"{r.prefix}{value:0{r.width}d}"
        while self.number_taken(number):  # a manual number took it: skip it
            value += 1
            number = f"{r.prefix}{value:0{r.width}d}"
        self._c.execute(
            update(invoice_numbering)
            .where(invoice_numbering.c.name == _SERIES)
            .values(next_value=value + 1)
        )
        return number

    def number_taken(self, number: str, *, other_than: int | None = None) -> bool:
        cond = [invoices.c.number == number]
        if other_than is not None:
            cond.append(invoices.c.id != other_than)
        return bool(self._c.execute(select(exists().where(*cond))).scalar())

    # writing

    def _row(self, inv: Invoice) -> dict[str, Any]:
        return {
            "number": inv.number,
            "status": inv.status.value,
            "issue_date": inv.issue_date,
            "due_date": inv.due_date,
            "client_id": inv.client_id,
            "consignee_id": inv.consignee_id,
            "billing_address_id": inv.billing_address_id,
            "billing_address": _address_json(inv.billing_address),
            "delivery_address_id": inv.delivery_address_id,
            "delivery_address": _address_json(inv.delivery_address),
            "opportunity_id": inv.opportunity_id,
            "language": inv.language,
            "currency": inv.currency,
            "exchange_rate": str(inv.exchange_rate),
            "po_number": inv.po_number,
            "terms": inv.terms,
            "notes": inv.notes,
            "rounding": inv.rounding,
            "subtotal_minor": to_minor(inv.subtotal),
            "total_minor": to_minor(inv.total),
            "updated_by": inv.updated_by,
            "updated_at": inv.updated_at,
        }

    def _write_lines(self, invoice_id: int, lines: Sequence[InvoiceLine]) -> None:
        rows = []
        for n, line in enumerate(lines):
            t: list[LineTax | None] = [*line.taxes, None, None]
            row: dict[str, Any] = {
                "invoice_id": invoice_id,
                "position": n,
                "product_id": line.product_id,
                "description": line.description,
                "quantity": str(line.quantity),
                "price_minor": to_minor(line.price),
                "discount": str(line.discount),
                "subtotal_minor": to_minor(line.subtotal),
                "discount_minor": to_minor(line.discount_amount),
                "net_minor": to_minor(line.net),
                "total_minor": to_minor(line.total),
            }
            for i in (1, 2):
                tax = t[i - 1]
                row[f"tax{i}_id"] = tax.tax_id if tax else None
                row[f"tax{i}_name"] = tax.name if tax else None
                row[f"tax{i}_rate"] = str(tax.rate) if tax else None
                row[f"tax{i}_minor"] = to_minor(tax.amount) if tax else None
            rows.append(row)
        if rows:
            self._c.execute(insert(invoice_lines), rows)

    def add(self, invoice: Invoice) -> Invoice:
        row = self._row(invoice) | {
            "created_by": invoice.created_by,
            "created_at": invoice.created_at,
        }
        new_id = self._c.execute(
            insert(invoices).values(**row).returning(invoices.c.id)
        ).scalar_one()
        self._write_lines(new_id, invoice.lines)
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, invoice: Invoice) -> Invoice:
        self._c.execute(
            update(invoices).where(invoices.c.id == invoice.id).values(**self._row(invoice))
        )
        self._c.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id == invoice.id))
        self._write_lines(invoice.id, invoice.lines)
        stored = self.get(invoice.id)
        assert stored is not None
        return stored

    def set_status(
        self, invoice_ids: Sequence[int], status: InvoiceStatus, actor_id: str, at: dt.datetime
    ) -> None:
        self._c.execute(
            update(invoices)
            .where(invoices.c.id.in_(list(invoice_ids)))
            .values(status=status.value, updated_by=actor_id, updated_at=at)
        )

    def delete(self, invoice_id: int) -> None:
        self._c.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id))
        self._c.execute(delete(invoices).where(invoices.c.id == invoice_id))

    # reading

    def get(self, invoice_id: int) -> Invoice | None:
        found = self.get_many([invoice_id])
        return found[0] if found else None

    def get_many(self, invoice_ids: Iterable[int]) -> Sequence[Invoice]:
        ids = list(dict.fromkeys(invoice_ids))
        if not ids:
            return []
        rows = self._c.execute(select(invoices).where(invoices.c.id.in_(ids))).all()
        by_id = {r.id: r for r in rows}
        return self._build([by_id[i] for i in ids if i in by_id])

    def list(
        self, scope: InvoiceScope, where: InvoiceFilter, page: PageRequest
    ) -> tuple[Sequence[Invoice], Cursor | None]:
        keys = [_SORT_COLUMNS[page.sort].label("k_sort"), invoices.c.id.label("k_id")]
        query = select(invoices, *keys).where(*self._conditions(scope, where))
        if page.after is not None:
            if len(page.after.values) != len(keys):
                raise ValidationError({"after": "is not a cursor of this list and sort"})
            values = list(page.after.values)
            if page.sort == "issue_date" or page.sort == "due_date":
                values[0] = dt.date.fromisoformat(str(values[0]))
            cursor_values = tuple_(*[literal(v) for v in values])
            row_keys = tuple_(*keys)
            query = query.where(
                row_keys < cursor_values if page.descending else row_keys > cursor_values
            )
        order = [k.desc() if page.descending else k.asc() for k in keys]
        rows = self._c.execute(query.order_by(*order).limit(page.limit + 1)).all()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        cursor = None
        if more and rows:
            last = rows[-1]
            first = (
                last.k_sort.isoformat()
                if isinstance(last.k_sort, dt.date) and not isinstance(last.k_sort, dt.datetime)
                else last.k_sort
            )
            sort = f"-{page.sort}" if page.descending else page.sort
            cursor = Cursor(sort, (first, last.k_id))
        return self._build(rows), cursor

    def count(self, scope: InvoiceScope, where: InvoiceFilter) -> int:
        query = select(func.count()).select_from(invoices).where(*self._conditions(scope, where))
        return int(self._c.execute(query).scalar_one())

    def _conditions(
        self, scope: InvoiceScope, where: InvoiceFilter
    ) -> builtins.list[ColumnElement[bool]]:
        conds: builtins.list[ColumnElement[bool]] = []
        if not scope.everything:
            # The same rule as permissions.can_read_invoice: the creator, or a reader of the
            # client contact (not private, or managed by the user).
            managed = exists().where(
                contact_managers.c.contact_id == invoices.c.client_id,
                contact_managers.c.user_id == scope.user_id,
            )
            public_client = exists().where(
                contacts.c.id == invoices.c.client_id, contacts.c.access != Access.PRIVATE.value
            )
            conds.append(or_(invoices.c.created_by == scope.user_id, public_client, managed))
        if where.status is not None:
            conds.append(invoices.c.status == where.status.value)
        if where.client_id is not None:
            conds.append(invoices.c.client_id == where.client_id)
        if where.opportunity_id is not None:
            conds.append(invoices.c.opportunity_id == where.opportunity_id)
        if where.currency is not None:
            conds.append(invoices.c.currency == where.currency)
        if where.issued_from is not None:
            conds.append(invoices.c.issue_date >= where.issued_from)
        if where.issued_to is not None:
            conds.append(invoices.c.issue_date < where.issued_to)
        if where.overdue_on is not None:
            conds.append(
                and_(
                    invoices.c.status == InvoiceStatus.BILLED.value,
                    invoices.c.due_date < where.overdue_on,
                )
            )
        if where.text:
            needle = where.text.casefold()
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            conds.append(
                or_(
                    func.lower(invoices.c.number).like(pattern, escape="\\"),
                    func.lower(invoices.c.notes).like(pattern, escape="\\"),
                )
            )
        return conds

    def _build(self, rows: Sequence[Row[Any]]) -> builtins.list[Invoice]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        lines: dict[int, builtins.list[InvoiceLine]] = defaultdict(builtins.list)
        currency_of = {r.id: r.currency for r in rows}
        query = (
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id.in_(ids))
            .order_by(invoice_lines.c.invoice_id, invoice_lines.c.position)
        )
        for ln in self._c.execute(query):
            cur = currency_of[ln.invoice_id]
            line_taxes = tuple(
                LineTax(
                    tax_id=getattr(ln, f"tax{i}_id"),
                    name=getattr(ln, f"tax{i}_name"),
                    rate=_dec(getattr(ln, f"tax{i}_rate")),
                    amount=from_minor(getattr(ln, f"tax{i}_minor"), cur),
                )
                for i in (1, 2)
                if getattr(ln, f"tax{i}_name") is not None
            )
            lines[ln.invoice_id].append(
                InvoiceLine(
                    id=ln.id,
                    product_id=ln.product_id,
                    description=ln.description,
                    quantity=_dec(ln.quantity),
                    price=from_minor(ln.price_minor, cur),
                    discount=_dec(ln.discount),
                    taxes=line_taxes,
                    subtotal=from_minor(ln.subtotal_minor, cur),
                    discount_amount=from_minor(ln.discount_minor, cur),
                    net=from_minor(ln.net_minor, cur),
                    total=from_minor(ln.total_minor, cur),
                )
            )
        out = []
        for r in rows:
            its_lines = tuple(lines[r.id])
            out.append(
                Invoice(
                    id=r.id,
                    number=r.number,
                    status=InvoiceStatus(r.status),
                    issue_date=r.issue_date,
                    due_date=r.due_date,
                    client_id=r.client_id,
                    consignee_id=r.consignee_id,
                    billing_address_id=r.billing_address_id,
                    billing_address=_address(r.billing_address),
                    delivery_address_id=r.delivery_address_id,
                    delivery_address=_address(r.delivery_address),
                    opportunity_id=r.opportunity_id,
                    language=r.language,
                    currency=r.currency,
                    exchange_rate=_dec(r.exchange_rate),
                    po_number=r.po_number,
                    terms=r.terms,
                    notes=r.notes,
                    rounding=r.rounding,
                    lines=its_lines,
                    subtotal=from_minor(r.subtotal_minor, r.currency),
                    tax_totals=_tax_totals(its_lines, r.currency),
                    total=from_minor(r.total_minor, r.currency),
                    created_by=r.created_by,
                    created_at=r.created_at,
                    updated_by=r.updated_by,
                    updated_at=r.updated_at,
                )
            )
        return out


def _tax_totals(lines: Sequence[InvoiceLine], currency: str) -> tuple[TaxTotal, ...]:
    """One total per distinct tax (id, name and rate as written), in order of first use."""
    sums: dict[tuple[int, str, Decimal], Decimal] = {}
    for line in lines:
        for t in line.taxes:
            key = (t.tax_id, t.name, t.rate)
            sums[key] = sums.get(key, Decimal(0)) + t.amount.amount
    return tuple(
        TaxTotal(tax_id=k, name=n, rate=rate, amount=Money(v, currency))
        for (k, n, rate), v in sums.items()
    )
