"""Generated reports: the .xlsx files CRM admins generated, kept per user.

The file's bytes live in the row (reports are small and size-limited), so any app server
sharing the database can serve a download without a shared file store.

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.drop_index("ix_generated_reports_user_id_id", table_name="generated_reports")
    op.drop_table("generated_reports")
