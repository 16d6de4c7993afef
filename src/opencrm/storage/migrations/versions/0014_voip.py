"""VoIP: the telephony account, virtual numbers, operators, calls and their legs.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import UTCDateTime

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], ondelete=ondelete, name=f"fk_{table}_{column}_{target}"
    )


def upgrade() -> None:
    op.create_table(
        "voip_accounts",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("account_sid", sa.String(100), nullable=False),
        sa.Column("auth_token", sa.String(200), nullable=False),
        sa.Column("public_url", sa.String(1000), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_voip_accounts_single"),
        sa.PrimaryKeyConstraint("id", name="pk_voip_accounts"),
    )
    op.create_table(
        "voip_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False, server_default=""),
        sa.Column("outgoing", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("recording", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("greeting_audio", sa.String(1000), nullable=False, server_default=""),
        sa.Column("hold_audio", sa.String(1000), nullable=False, server_default=""),
        sa.Column("voicemail_audio", sa.String(1000), nullable=False, server_default=""),
        sa.Column("queue_size", sa.Integer(), nullable=False, server_default="5"),
        sa.Column("queue_wait", sa.Integer(), nullable=False, server_default="300"),
        sa.Column("hours_start", sa.String(5)),
        sa.Column("hours_end", sa.String(5)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("queue_size >= 0", name="ck_voip_numbers_queue_size"),
        sa.CheckConstraint("queue_wait >= 0", name="ck_voip_numbers_queue_wait"),
        sa.PrimaryKeyConstraint("id", name="pk_voip_numbers"),
        sa.UniqueConstraint("number", name="uq_voip_numbers_number"),
        sa.UniqueConstraint("sid", name="uq_voip_numbers_sid"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "voip_operators",
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("outgoing", sa.Boolean(), nullable=False),
        sa.Column("recording", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("answer_to", sa.String(32), nullable=False, server_default=""),
        sa.Column("timeout", sa.Integer(), nullable=False, server_default="30"),
        _fk("voip_operators", "number_id", "voip_numbers", "CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name="pk_voip_operators"),
    )
    op.create_index("ix_voip_operators_number_id", "voip_operators", ["number_id"])
    op.create_table(
        "voip_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("number_id", sa.Integer()),
        sa.Column("from_number", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer()),
        sa.Column("operator", sa.String(255)),
        sa.Column("answered_by", sa.String(255)),
        sa.Column("missed", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime()),
        sa.Column("ended_at", UTCDateTime()),
        sa.Column("duration", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("price_e4", sa.BigInteger()),
        sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
        sa.Column("recording_sid", sa.String(64), nullable=False, server_default=""),
        sa.Column("recording_url", sa.String(1000), nullable=False, server_default=""),
        sa.Column("recording_duration", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("recording_price_e4", sa.BigInteger()),
        sa.Column("history_event_id", sa.Integer()),
        _fk("voip_calls", "number_id", "voip_numbers", "SET NULL"),
        _fk("voip_calls", "contact_id", "contacts", "SET NULL"),
        _fk("voip_calls", "history_event_id", "history_events", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_voip_calls"),
        sa.UniqueConstraint("sid", name="uq_voip_calls_sid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_voip_calls_number_id", "voip_calls", ["number_id"])
    op.create_index("ix_voip_calls_contact_id", "voip_calls", ["contact_id"])
    op.create_index("ix_voip_calls_started_at_id", "voip_calls", ["started_at", "id"])
    op.create_index(
        "ix_voip_calls_answered_by_started_at", "voip_calls", ["answered_by", "started_at"]
    )
    op.create_table(
        "voip_call_legs",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(255)),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("price_e4", sa.BigInteger()),
        _fk("voip_call_legs", "call_id", "voip_calls", "CASCADE"),
        sa.PrimaryKeyConstraint("sid", name="pk_voip_call_legs"),
    )
    op.create_index("ix_voip_call_legs_call_id", "voip_call_legs", ["call_id"])


def downgrade() -> None:
    for table in ("voip_call_legs", "voip_calls", "voip_operators", "voip_numbers"):
        op.drop_table(table)
    op.drop_table("voip_accounts")
