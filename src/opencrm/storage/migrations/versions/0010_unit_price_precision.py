"""Unit prices finer than the currency's minor unit.

Products and invoice lines kept their unit price as whole minor units (``price_minor``,
BIGINT), so a price could not be finer than a cent. A unit price now has up to six decimal
places in any currency (per-minute rates, utility tariffs, fuel) and is kept with the scale
it was entered with, so it moves to exact decimal text (``price``), like quantities and
rates: SQLite has no decimal type and would hand back floats. Amounts computed from it stay
whole minor units.

Existing prices are copied exactly: ``1230`` minor units of EUR become ``"12.30"``, of JPY
``"1230"``, of KWD ``"1.230"``. The minor units are those of the currency table this opencrm
reads every other money column with, so old and new values agree.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from opencrm.core.currencies import get_currency

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

# Rows are copied in slices so that a large invoice table is not read into memory at once.
_SLICE = 5000

_products = sa.table(
    "products",
    sa.column("id", sa.Integer),
    sa.column("currency", sa.String),
    sa.column("price_minor", sa.BigInteger),
    sa.column("price", sa.String),
)
_invoices = sa.table("invoices", sa.column("id", sa.Integer), sa.column("currency", sa.String))
_lines = sa.table(
    "invoice_lines",
    sa.column("id", sa.Integer),
    sa.column("invoice_id", sa.Integer),
    sa.column("price_minor", sa.BigInteger),
    sa.column("price", sa.String),
)


def _minor_units(currency: str) -> int:
    return get_currency(currency).minor_units


def _rows(query: sa.Select[Any]) -> Iterator[list[tuple[int, int, str]]]:
    """``(id, price_minor, currency)`` in slices, by id."""
    conn = op.get_bind()
    last = None
    id_column = query.selected_columns[0]
    while True:
        page = query if last is None else query.where(id_column > last)
        rows = [(r[0], r[1], r[2]) for r in conn.execute(page.order_by(id_column).limit(_SLICE))]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _product_rows() -> Iterator[list[tuple[int, int, str]]]:
    return _rows(sa.select(_products.c.id, _products.c.price_minor, _products.c.currency))


def _line_rows() -> Iterator[list[tuple[int, int, str]]]:
    return _rows(
        sa.select(_lines.c.id, _lines.c.price_minor, _invoices.c.currency).join(
            _invoices, _invoices.c.id == _lines.c.invoice_id
        )
    )


def upgrade() -> None:
    conn = op.get_bind()
    for table, rows in ((_products, _product_rows), (_lines, _line_rows)):
        op.add_column(table.name, sa.Column("price", sa.String(40), nullable=True))
        change = (
            sa.update(table).where(table.c.id == sa.bindparam("pk")).values(price=sa.bindparam("p"))
        )
        for page in rows():
            conn.execute(
                change,
                [
                    {"pk": pk, "p": format(Decimal(minor).scaleb(-_minor_units(cur)), "f")}
                    for pk, minor, cur in page
                ],
            )
        with op.batch_alter_table(table.name) as batch:
            batch.alter_column("price", existing_type=sa.String(40), nullable=False)
            batch.drop_column("price_minor")


def downgrade() -> None:
    """Back to whole minor units; refused while a price is finer than its currency's minor
    unit (it would have to be rounded, and a downgrade must not change an invoice)."""
    conn = op.get_bind()
    prices = {
        _products: sa.select(_products.c.id, _products.c.price, _products.c.currency),
        _lines: sa.select(_lines.c.id, _lines.c.price, _invoices.c.currency).join(
            _invoices, _invoices.c.id == _lines.c.invoice_id
        ),
    }
    values = {}
    for table, query in prices.items():
        minor = {}
        for pk, price, cur in conn.execute(query):
            scaled = Decimal(price).scaleb(_minor_units(cur))
            if scaled != scaled.to_integral_value():
                raise RuntimeError(
                    f"cannot downgrade: {table.name} row {pk} has the unit price {price} "
                    f"{cur}, finer than the minor unit of {cur}"
                )
            minor[pk] = int(scaled)
        values[table] = minor
    for table, minor in values.items():
        op.add_column(table.name, sa.Column("price_minor", sa.BigInteger(), nullable=True))
        change = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("pk"))
            .values(price_minor=sa.bindparam("m"))
        )
        if minor:
            conn.execute(change, [{"pk": pk, "m": m} for pk, m in minor.items()])
        with op.batch_alter_table(table.name) as batch:
            batch.alter_column("price_minor", existing_type=sa.BigInteger(), nullable=False)
            batch.drop_column("price")
