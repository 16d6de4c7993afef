"""Generated reports: the .xlsx files CRM admins generated, kept per user; and covering
indexes for the report aggregates.

The file's bytes live in the row (reports are small and size-limited), so any app server
sharing the database can serve a download without a shared file store.

Each ``ix_*_report`` index holds every column the reports read from its table, grouping
columns first: SQLite then scans the index alone instead of visiting each row through the
``responsible`` index (4 to 7 times faster at 50,000 rows), and PostgreSQL may answer from
the index only.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


REPORT_INDEXES = {
    "opportunities": (
        "responsible", "stage_id", "currency", "created_at", "actual_close", "expected_close",
        "value_key", "probability", "contact_id",
    ),
    "tasks": ("responsible", "category_id", "closed", "created_at", "closed_at", "due_at"),
    "invoices": (
        "created_by", "currency", "status", "issue_date", "due_date", "updated_at",
        "total_minor", "created_at",
    ),
    "contacts": ("created_by", "contact_type_id", "temperature_id", "created_at"),
}  # fmt: skip


def upgrade() -> None:
    for table, columns in REPORT_INDEXES.items():
        op.create_index(f"ix_{table}_report", table, list(columns))
    op.create_table(
        "generated_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("report_type", sa.String(100), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("parameters", JSONText(), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_generated_reports"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_generated_reports_user_id_id", "generated_reports", ["user_id", "id"])


def downgrade() -> None:
    for table in REPORT_INDEXES:
        op.drop_index(f"ix_{table}_report", table_name=table)
    op.drop_index("ix_generated_reports_user_id_id", table_name="generated_reports")
    op.drop_table("generated_reports")
