"""Jobs: long work (exports, imports) whose state lives in the database, so that any app
server can tell how far a job is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("owner", JSONText(), nullable=False),
        sa.Column("params", JSONText(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("total", sa.BigInteger()),
        sa.Column("rate", sa.Float()),
        sa.Column("summary", JSONText(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("result_file_id", sa.String(64)),
        sa.Column("result_name", sa.String(255)),
        sa.Column("result_type", sa.String(255)),
        sa.Column("result_size", sa.BigInteger()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("heartbeat_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_owner_id", "jobs", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_id", table_name="jobs")
    op.drop_table("jobs")
