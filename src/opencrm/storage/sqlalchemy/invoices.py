"""Repositories of taxes, products, exchange rates and invoices.

Money columns hold whole minor units; unit prices (up to six decimals, with the scale they
were entered with), rates, quantities and percentages exact decimal text. Both convert back
to ``Money``/``Decimal`` here, so every backend returns the same values.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from moneyed import Money
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    String,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opencrm.core.entities._trusted import Pending, minor_money, stored_money, trusted_builder
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
from opencrm.storage.sqlalchemy._raw import fetch_all
from opencrm.storage.sqlalchemy._related import PAGE_ID, decoded_rows, json_array_of, rows_of_page
from opencrm.storage.sqlalchemy.paging import after_bound, after_cursor, after_params, next_cursor
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

    def lookup(
        self, names: Iterable[str], ids: Iterable[int]
    ) -> tuple[dict[str, Tax], dict[int, Tax]]:
        name_keys = {n: _key(n) for n in names}
        id_list = list(dict.fromkeys(ids))
        if not name_keys and not id_list:
            return {}, {}
        params = {"keys": list(set(name_keys.values())), "ids": id_list}
        by_key = {r.name_key: _tax(r) for r in self._c.execute(_TAXES_BY, params)}
        by_name = {n: by_key[k] for n, k in name_keys.items() if k in by_key}
        return by_name, {t.id: t for t in by_key.values()}

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


_TAXES_BY = select(taxes).where(
    or_(
        taxes.c.name_key.in_(bindparam("keys", expanding=True)),
        taxes.c.id.in_(bindparam("ids", expanding=True)),
    )
)


# --- products -------------------------------------------------------------------------------


def _product(r: Row[Any]) -> Product:
    return Product(
        id=r.id,
        title=r.title,
        description=r.description,
        sku=r.sku,
        price=Money(Decimal(r.price), r.currency),
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
            "price": format(p.price.amount, "f"),
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

    def _next_number(self) -> str | None:
        # One UPDATE ... RETURNING takes the next value and locks the counter row until the
        # transaction ends on PostgreSQL (SQLite's writing transactions are BEGIN IMMEDIATE,
        # so writers are serialised already). A rolled-back creation rolls the counter back
        # with it: committed numbers have no gaps. None when automatic numbering is off.
        r = self._c.execute(_NEXT_NUMBER).first()
        if r is None:
            return None
        return f"{r.prefix}{r.next_value - 1:0{r.width}d}"

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

    @staticmethod
    def _line_rows(invoice_id: int, lines: Sequence[InvoiceLine]) -> builtins.list[dict[str, Any]]:
        rows = []
        for n, line in enumerate(lines):
            row: dict[str, Any] = {
                "invoice_id": invoice_id,
                "position": n,
                "product_id": line.product_id,
                "description": line.description,
                "quantity": str(line.quantity),
                "price": format(line.price.amount, "f"),
                "discount": str(line.discount),
                "subtotal_minor": to_minor(line.subtotal),
                "discount_minor": to_minor(line.discount_amount),
                "net_minor": to_minor(line.net),
                "total_minor": to_minor(line.total),
            }
            line_taxes = line.taxes
            for i, (id_key, name_key, rate_key, minor_key) in enumerate(_TAX_KEYS):
                if i < len(line_taxes):
                    tax = line_taxes[i]
                    row[id_key] = tax.tax_id
                    row[name_key] = tax.name
                    row[rate_key] = str(tax.rate)
                    row[minor_key] = to_minor(tax.amount)
                else:
                    row[id_key] = row[name_key] = row[rate_key] = row[minor_key] = None
            rows.append(row)
        return rows

    def _write_lines(self, invoice_id: int, lines: Sequence[InvoiceLine]) -> None:
        rows = self._line_rows(invoice_id, lines)
        if rows:
            self._c.execute(insert(invoice_lines), rows)

    def _insert(self, invoice: Invoice, number: str | None) -> Invoice | None:
        """Insert the invoice and its lines (in one statement each) and build the stored
        invoice from the inserted values and the returned ids, as :meth:`get` would read it.
        ``number`` None: take the next automatic number (None when numbering is manual)."""
        row = self._row(invoice)
        row["created_by"] = invoice.created_by
        row["created_at"] = invoice.created_at
        line_rows = self._line_rows(0, invoice.lines)  # validated and converted before the lock
        if number is not None:
            row["number"] = number
            new_id = self._c.execute(_INSERT_INVOICE, row).scalar_one()
        else:
            skip_taken = _INSERT_NUMBERED.get(self._c.dialect.name)
            while True:
                auto = self._next_number()  # locks the counter: the statements left are few
                if auto is None:
                    return None
                row["number"] = auto
                if skip_taken is None:  # another dialect: check first, then insert
                    if self.number_taken(auto):
                        continue
                    new_id = self._c.execute(_INSERT_INVOICE, row).scalar_one()
                    break
                found = self._c.execute(skip_taken, row).scalar()
                if found is not None:
                    new_id = found
                    break  # else a manual number took it: skip it
        for line_row in line_rows:
            line_row["invoice_id"] = new_id
        line_ids = self._c.execute(_INSERT_LINES, line_rows).scalars().all() if line_rows else []
        currency = row["currency"]
        lines = tuple(
            _line_of(line_row, line_id, currency)
            for line_row, line_id in zip(line_rows, line_ids, strict=True)
        )
        # What the database hands back for the timestamps: the same instant, in UTC.
        row["created_at"] = row["created_at"].astimezone(dt.UTC)
        row["updated_at"] = row["updated_at"].astimezone(dt.UTC)
        return _invoice_of(row, new_id, lines)

    def add(self, invoice: Invoice) -> Invoice:
        stored = self._insert(invoice, invoice.number)
        assert stored is not None
        return stored

    def add_numbered(self, invoice: Invoice) -> Invoice | None:
        return self._insert(invoice, None)

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
        rows = self._c.execute(_invoices_by_id(self._c.dialect.name), {"ids": ids}).all()
        by_id = {r.id: r for r in rows}
        return self._build([by_id[i] for i in ids if i in by_id])

    def list(
        self, scope: InvoiceScope, where: InvoiceFilter, page: PageRequest
    ) -> tuple[Sequence[Invoice], Cursor | None]:
        dialect = self._c.dialect.name
        if where == _UNFILTERED:
            # The plain list: its statement is built once per sort and shape, the user,
            # the page size and the cursor's values are parameters, run on the DBAPI cursor.
            query, keys = _unfiltered_page(
                dialect, page.sort, page.descending, page.after is not None, scope.everything
            )
            params = {_READER: scope.user_id, _PAGE_SIZE: page.limit + 1}
            rows: Sequence[Any] = fetch_all(self._c, query, params | after_params(keys, page))
        else:
            keys = _sort_keys(page.sort)
            ids = select(invoices.c.id.label(PAGE_ID), *keys).where(*self._conditions(scope, where))
            after = after_cursor(keys, page)
            if after is not None:
                ids = ids.where(after)
            order = [k.desc() if page.descending else k.asc() for k in keys]
            query = rows_of_page(
                invoices,
                ids.order_by(*order).limit(page.limit + 1),
                keys,
                _lines_column(dialect),
                descending=page.descending,
            )
            rows = self._c.execute(query).all()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return self._build_listed(rows), next_cursor(
            rows[-1] if more and rows else None, keys, page
        )

    def count(self, scope: InvoiceScope, where: InvoiceFilter) -> int:
        query = select(func.count()).select_from(invoices).where(*self._conditions(scope, where))
        return int(self._c.execute(query).scalar_one())

    def _conditions(
        self, scope: InvoiceScope, where: InvoiceFilter
    ) -> builtins.list[ColumnElement[bool]]:
        conds: builtins.list[ColumnElement[bool]] = []
        if not scope.everything:
            conds.append(_readable_by(scope.user_id))
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

    def _build(self, rows: Sequence[Any]) -> builtins.list[Invoice]:
        """Invoices from rows carrying their lines as a JSON array (see
        :func:`_lines_column`); stored values were checked when written, so entities and
        amounts are built without their constructors' conversions."""
        built = []
        for r, items in zip(rows, decoded_rows([r.lines for r in rows]), strict=True):
            lines, tax_totals = _lines_and_totals(items, r.currency)
            built.append(_stored_invoice(r, lines, tax_totals))
        return built

    def _build_listed(self, rows: Sequence[Any]) -> builtins.list[Invoice]:
        """:meth:`_build` for a list page, whose lines and tax totals are built when an
        invoice's are first read (most list users show the invoices' own columns only):
        each invoice holds a :class:`_PendingLines`, and the first read decodes the line
        arrays of the whole page (one ``json.loads``), then builds that invoice's."""
        page = _PageLines([r.lines for r in rows])
        built = []
        for n, r in enumerate(rows):
            pending = _PendingLines(page, n, r)
            built.append(_stored_invoice(r, pending, pending))
        return built


def _readable_by(user_id: Any) -> ColumnElement[bool]:
    """The same rule as permissions.can_read_invoice: the creator, or a reader of the client
    contact (not private, or managed by the user ``user_id``, a value or a bound parameter)."""
    managed = exists().where(
        contact_managers.c.contact_id == invoices.c.client_id,
        contact_managers.c.user_id == user_id,
    )
    public_client = exists().where(
        contacts.c.id == invoices.c.client_id, contacts.c.access != Access.PRIVATE.value
    )
    return or_(invoices.c.created_by == user_id, public_client, managed)


def _sort_keys(sort: str) -> builtins.list[Any]:
    return [_SORT_COLUMNS[sort].label("k_sort"), invoices.c.id.label("k_id")]


#: A line's columns in the JSON array of :func:`_lines_column`, position first.
_LINE_COLUMNS = (
    "position",
    "id",
    "product_id",
    "description",
    "quantity",
    "price",
    "discount",
    "tax1_id",
    "tax1_name",
    "tax1_rate",
    "tax1_minor",
    "tax2_id",
    "tax2_name",
    "tax2_rate",
    "tax2_minor",
    "subtotal_minor",
    "discount_minor",
    "net_minor",
    "total_minor",
)


@functools.cache
def _lines_column(dialect: str) -> Any:
    """Built once per dialect: the column ``lines`` of a SELECT from ``invoices``, the JSON
    array of the invoice's lines, each an array of :data:`_LINE_COLUMNS` (decimals are
    stored as text and amounts as whole minor units, so JSON carries them exactly)."""
    array = json_array_of(
        dialect,
        [invoice_lines.c[name] for name in _LINE_COLUMNS],
        invoice_lines.c.invoice_id == invoices.c.id,
    )
    text = sql_cast(array, Text) if dialect == "postgresql" else type_coerce(array, Text)
    return text.label("lines")


@functools.cache
def _invoices_by_id(dialect: str) -> Any:
    """Built once per dialect: the ids arrive as one expanding parameter."""
    return select(invoices, _lines_column(dialect)).where(
        invoices.c.id.in_(bindparam("ids", expanding=True))
    )


_UNFILTERED = InvoiceFilter()
_READER = "reader_id"
_PAGE_SIZE = "page_size"


@functools.cache
def _unfiltered_page(
    dialect: str, sort: str, descending: bool, after: bool, everything: bool
) -> tuple[Any, builtins.list[Any]]:
    """The statement of an unfiltered invoice page and its sort keys, built once per shape
    (the same SQL as a filtered page with no filter)."""
    keys = _sort_keys(sort)
    conds = [] if everything else [_readable_by(bindparam(_READER, type_=String()))]
    if after:
        conds.append(after_bound(keys, descending=descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    ids = (
        select(invoices.c.id.label(PAGE_ID), *keys)
        .where(*conds)
        .order_by(*order)
        .limit(bindparam(_PAGE_SIZE, type_=Integer()))
    )
    return rows_of_page(invoices, ids, keys, _lines_column(dialect), descending=descending), keys


_STATUS = {s.value: s for s in InvoiceStatus}
#: The fields of an invoice read as they are stored, in the order :data:`_new_invoice`
#: takes them first (one ``attrgetter`` call per row).
_INVOICE_STORED = (
    "id",
    "number",
    "issue_date",
    "due_date",
    "client_id",
    "consignee_id",
    "billing_address_id",
    "delivery_address_id",
    "opportunity_id",
    "language",
    "currency",
    "po_number",
    "terms",
    "notes",
    "rounding",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
)
_invoice_stored = operator.attrgetter(*_INVOICE_STORED)
_new_invoice = trusted_builder(
    Invoice,
    positional=(
        *_INVOICE_STORED,
        "status",
        "billing_address",
        "delivery_address",
        "exchange_rate",
        "lines",
        "subtotal",
        "tax_totals",
        "total",
    ),
)
_new_line = trusted_builder(InvoiceLine)
_new_line_tax = trusted_builder(LineTax)
_new_tax_total = trusted_builder(TaxTotal)


def _stored_line(item: Sequence[Any], cur: str, money: Callable[[int], Money]) -> InvoiceLine:
    """A line from its array in the ``lines`` column (see :data:`_LINE_COLUMNS`); ``money``
    makes the amounts in the invoice's currency ``cur`` (see ``minor_money``)."""
    (
        _position,
        line_id,
        product_id,
        description,
        quantity,
        price,
        discount,
        tax1_id,
        tax1_name,
        tax1_rate,
        tax1_minor,
        tax2_id,
        tax2_name,
        tax2_rate,
        tax2_minor,
        subtotal_minor,
        discount_minor,
        net_minor,
        total_minor,
    ) = item
    line_taxes: tuple[LineTax, ...] = ()
    if tax1_name is not None:
        first = _new_line_tax(
            tax_id=tax1_id,
            name=tax1_name,
            rate=Decimal(tax1_rate),
            amount=money(tax1_minor),
        )
        line_taxes = (first,)
        if tax2_name is not None:
            second = _new_line_tax(
                tax_id=tax2_id,
                name=tax2_name,
                rate=Decimal(tax2_rate),
                amount=money(tax2_minor),
            )
            line_taxes = (first, second)
    elif tax2_name is not None:
        line_taxes = (
            _new_line_tax(
                tax_id=tax2_id,
                name=tax2_name,
                rate=Decimal(tax2_rate),
                amount=money(tax2_minor),
            ),
        )
    return _new_line(
        id=line_id,
        product_id=product_id,
        description=description,
        quantity=Decimal(quantity),
        price=stored_money(Decimal(price), cur),
        discount=Decimal(discount),
        taxes=line_taxes,
        subtotal=money(subtotal_minor),
        discount_amount=money(discount_minor),
        net=money(net_minor),
        total=money(total_minor),
    )


class _PageLines:
    """The ``lines`` column of every row of a list page, decoded together on first need."""

    __slots__ = ("items", "texts")

    def __init__(self, texts: builtins.list[str | None]) -> None:
        self.texts = texts
        self.items: builtins.list[Any] | None = None

    def of(self, index: int) -> Any:
        items = self.items
        if items is None:
            items = self.items = decoded_rows(self.texts)
        return items[index]


class _PendingLines(Pending):
    """The ``lines`` and ``tax_totals`` of a listed invoice until read: the invoice's
    place in its page's :class:`_PageLines`, and its row (for the currency)."""

    __slots__ = ("index", "page", "row")

    def __init__(self, page: _PageLines, index: int, row: Any) -> None:
        self.page = page
        self.index = index
        self.row = row

    def resolve(self) -> tuple[tuple[InvoiceLine, ...], tuple[TaxTotal, ...]]:
        return _lines_and_totals(self.page.of(self.index), self.row.currency)


def _lines_and_totals(
    items: builtins.list[Any] | None, cur: str
) -> tuple[tuple[InvoiceLine, ...], tuple[TaxTotal, ...]]:
    """The lines of an invoice in currency ``cur`` from the decoded array of its ``lines``
    column, and its tax totals (one per distinct tax, in order of first use)."""
    if not items:
        return (), ()
    money = minor_money(cur)
    items.sort()  # by position, the first item
    lines = tuple([_stored_line(item, cur, money) for item in items])
    sums: dict[tuple[int, str, Decimal], Decimal] = {}
    for line in lines:
        for t in line.taxes:
            key = (t.tax_id, t.name, t.rate)
            sums[key] = sums.get(key, _ZERO) + t.amount.amount
    tax_totals = tuple(
        [
            _new_tax_total(tax_id=k, name=n, rate=rate, amount=stored_money(v, cur))
            for (k, n, rate), v in sums.items()
        ]
    )
    return lines, tax_totals


def _stored_invoice(r: Any, lines: Any, tax_totals: Any) -> Invoice:
    """An invoice from its row and its lines and tax totals (or one :class:`_PendingLines`
    for both)."""
    cur = r.currency
    money = minor_money(cur)
    # Positionally (see _INVOICE_STORED): a keyword call naming 27 fields cost about
    # twice as much.
    return _new_invoice(
        *_invoice_stored(r),
        _STATUS[r.status],
        _address(r.billing_address),
        _address(r.delivery_address),
        Decimal(r.exchange_rate),
        lines,
        money(r.subtotal_minor),
        tax_totals,
        money(r.total_minor),
    )


_ZERO = Decimal(0)


# Built once: executed with parameters, they cost no statement construction per call.
_NEXT_NUMBER = (
    update(invoice_numbering)
    .where(invoice_numbering.c.name == _SERIES, invoice_numbering.c.automatic)
    .values(next_value=invoice_numbering.c.next_value + 1)
    .returning(
        invoice_numbering.c.prefix, invoice_numbering.c.next_value, invoice_numbering.c.width
    )
)
_INSERT_INVOICE = insert(invoices).returning(invoices.c.id)
# The insert of an automatic number skips (returns no id) when a manual number took it.
_INSERT_NUMBERED: dict[str, Any] = {
    "postgresql": pg_insert(invoices)
    .on_conflict_do_nothing(index_elements=[invoices.c.number])
    .returning(invoices.c.id),
    "sqlite": sqlite_insert(invoices)
    .on_conflict_do_nothing(index_elements=[invoices.c.number])
    .returning(invoices.c.id),
}
# One INSERT ... VALUES (...), (...) RETURNING id, the ids in the order of the lines.
_INSERT_LINES = insert(invoice_lines).returning(invoice_lines.c.id, sort_by_parameter_order=True)
_TAX_KEYS = tuple((f"tax{i}_id", f"tax{i}_name", f"tax{i}_rate", f"tax{i}_minor") for i in (1, 2))


def _line_of(m: Mapping[Any, Any], line_id: int, cur: str) -> InvoiceLine:
    """A line from its stored values (a row read back, or the values just inserted)."""
    return InvoiceLine(
        id=line_id,
        product_id=m["product_id"],
        description=m["description"],
        quantity=_dec(m["quantity"]),
        price=Money(Decimal(m["price"]), cur),
        discount=_dec(m["discount"]),
        taxes=tuple(
            LineTax(
                tax_id=m[id_key],
                name=m[name_key],
                rate=_dec(m[rate_key]),
                amount=from_minor(m[minor_key], cur),
            )
            for id_key, name_key, rate_key, minor_key in _TAX_KEYS
            if m[name_key] is not None
        ),
        subtotal=from_minor(m["subtotal_minor"], cur),
        discount_amount=from_minor(m["discount_minor"], cur),
        net=from_minor(m["net_minor"], cur),
        total=from_minor(m["total_minor"], cur),
    )


def _invoice_of(m: Mapping[Any, Any], invoice_id: int, lines: tuple[InvoiceLine, ...]) -> Invoice:
    """An invoice from its stored values (a row read back, or the values just inserted)."""
    currency = m["currency"]
    return Invoice(
        id=invoice_id,
        number=m["number"],
        status=InvoiceStatus(m["status"]),
        issue_date=m["issue_date"],
        due_date=m["due_date"],
        client_id=m["client_id"],
        consignee_id=m["consignee_id"],
        billing_address_id=m["billing_address_id"],
        billing_address=_address(m["billing_address"]),
        delivery_address_id=m["delivery_address_id"],
        delivery_address=_address(m["delivery_address"]),
        opportunity_id=m["opportunity_id"],
        language=m["language"],
        currency=currency,
        exchange_rate=_dec(m["exchange_rate"]),
        po_number=m["po_number"],
        terms=m["terms"],
        notes=m["notes"],
        rounding=m["rounding"],
        lines=lines,
        subtotal=from_minor(m["subtotal_minor"], currency),
        tax_totals=_tax_totals(lines, currency),
        total=from_minor(m["total_minor"], currency),
        created_by=m["created_by"],
        created_at=m["created_at"],
        updated_by=m["updated_by"],
        updated_at=m["updated_at"],
    )


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
