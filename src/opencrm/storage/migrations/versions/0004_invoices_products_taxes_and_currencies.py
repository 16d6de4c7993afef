"""Invoices, products, taxes and currencies.

Money is stored as whole minor units (cents) in BIGINT columns, and rates, quantities and
percentages as exact decimal text: SQLite has no decimal type and would hand back floats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATUSES = "status IN ('draft', 'billed', 'paid', 'rejected')"


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "taxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("name_key", sa.String(255), nullable=False),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_taxes"),
        sa.UniqueConstraint("name_key", name="uq_taxes_name_key"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("sku", sa.String(255), nullable=False, server_default=""),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("tax1_id", sa.Integer(), nullable=True),
        sa.Column("tax2_id", sa.Integer(), nullable=True),
        sa.Column("track_inventory", sa.Boolean(), nullable=False),
        sa.Column("stock_quantity", sa.String(40), nullable=False),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.ForeignKeyConstraint(["tax1_id"], ["taxes.id"], name="fk_products_tax1_id_taxes"),
        sa.ForeignKeyConstraint(["tax2_id"], ["taxes.id"], name="fk_products_tax2_id_taxes"),
    )
    op.create_index("ix_products_tax1_id", "products", ["tax1_id"])
    op.create_index("ix_products_tax2_id", "products", ["tax2_id"])
    op.create_index("ix_products_title", "products", ["title"])
    op.create_table(
        "exchange_rates",
        sa.Column("from_currency", sa.String(3), nullable=False),
        sa.Column("to_currency", sa.String(3), nullable=False),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("from_currency", "to_currency", name="pk_exchange_rates"),
        sa.CheckConstraint("from_currency <> to_currency", name="ck_exchange_rates_pair"),
    )
    op.create_table(
        "invoice_numbering",
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("prefix", sa.String(50), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_invoice_numbering"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(255), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("consignee_id", sa.Integer(), nullable=True),
        sa.Column("billing_address_id", sa.Integer(), nullable=True),
        sa.Column("billing_address", JSONText(), nullable=True),
        sa.Column("delivery_address_id", sa.Integer(), nullable=True),
        sa.Column("delivery_address", JSONText(), nullable=True),
        # No foreign key yet: opportunities arrive in their own migration.
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("exchange_rate", sa.String(40), nullable=False),
        sa.Column("po_number", sa.String(255), nullable=False, server_default=""),
        sa.Column("terms", sa.Text(), nullable=False, server_default=""),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        sa.Column("rounding", sa.String(20), nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.UniqueConstraint("number", name="uq_invoices_number"),
        sa.ForeignKeyConstraint(
            ["client_id"], ["contacts.id"], name="fk_invoices_client_id_contacts"
        ),
        sa.ForeignKeyConstraint(
            ["consignee_id"], ["contacts.id"], name="fk_invoices_consignee_id_contacts"
        ),
        sa.CheckConstraint(STATUSES, name="ck_invoices_status"),
        sa.CheckConstraint("due_date >= issue_date", name="ck_invoices_due_after_issue"),
    )
    op.create_index("ix_invoices_client_id", "invoices", ["client_id"])
    op.create_index("ix_invoices_consignee_id", "invoices", ["consignee_id"])
    op.create_index("ix_invoices_opportunity_id", "invoices", ["opportunity_id"])
    op.create_index("ix_invoices_created_by", "invoices", ["created_by"])
    op.create_index("ix_invoices_issue_date_id", "invoices", ["issue_date", "id"])
    op.create_index("ix_invoices_due_date_id", "invoices", ["due_date", "id"])
    op.create_index("ix_invoices_status_id", "invoices", ["status", "id"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("quantity", sa.String(40), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.String(40), nullable=False),
        sa.Column("tax1_id", sa.Integer(), nullable=True),
        sa.Column("tax1_name", sa.String(255), nullable=True),
        sa.Column("tax1_rate", sa.String(40), nullable=True),
        sa.Column("tax1_minor", sa.BigInteger(), nullable=True),
        sa.Column("tax2_id", sa.Integer(), nullable=True),
        sa.Column("tax2_name", sa.String(255), nullable=True),
        sa.Column("tax2_rate", sa.String(40), nullable=True),
        sa.Column("tax2_minor", sa.BigInteger(), nullable=True),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoice_lines"),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name="fk_invoice_lines_invoice_id_invoices",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_invoice_lines_product_id_products"
        ),
        sa.ForeignKeyConstraint(["tax1_id"], ["taxes.id"], name="fk_invoice_lines_tax1_id_taxes"),
        sa.ForeignKeyConstraint(["tax2_id"], ["taxes.id"], name="fk_invoice_lines_tax2_id_taxes"),
    )
    op.create_index("ix_invoice_lines_invoice_id", "invoice_lines", ["invoice_id"])
    op.create_index("ix_invoice_lines_product_id", "invoice_lines", ["product_id"])
    op.create_index("ix_invoice_lines_tax1_id", "invoice_lines", ["tax1_id"])
    op.create_index("ix_invoice_lines_tax2_id", "invoice_lines", ["tax2_id"])

    numbering = sa.table(
        "invoice_numbering",
        sa.column("name", sa.String),
        sa.column("automatic", sa.Boolean),
        sa.column("prefix", sa.String),
        sa.column("next_value", sa.BigInteger),
        sa.column("width", sa.Integer),
    )
    op.bulk_insert(
        numbering,
        [{"name": "invoice", "automatic": True, "prefix": "INV-", "next_value": 1, "width": 7}],
    )
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(
        settings,
        [
            {"key": "invoice_rounding", "value": '"ROUND_HALF_UP"'},
            {"key": "invoice_terms", "value": '""'},
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM settings WHERE key IN ('invoice_rounding', 'invoice_terms')")
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
    op.drop_table("invoice_numbering")
    op.drop_table("exchange_rates")
    op.drop_table("products")
    op.drop_table("taxes")
