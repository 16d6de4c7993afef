"""Website contact forms and the rate limit of their posts.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("spec", JSONText(), nullable=False),
        sa.Column("form_key", sa.String(64), nullable=False),
        sa.Column("posts", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_forms"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "web_form_hits",
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("window", UTCDateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["web_forms.id"],
            ondelete="CASCADE",
            name="fk_web_form_hits_form_id_web_forms",
        ),
        sa.PrimaryKeyConstraint("form_id", "client", "window", name="pk_web_form_hits"),
    )
    op.create_index("ix_web_form_hits_window", "web_form_hits", ["window"])


def downgrade() -> None:
    op.drop_index("ix_web_form_hits_window", table_name="web_form_hits")
    op.drop_table("web_form_hits")
    op.drop_table("web_forms")
