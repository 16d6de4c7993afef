"""Opportunities and cases: the records, their members and access lists, title search.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BID_TYPES = "bid_type IN ('fixed', 'per_hour', 'per_day', 'per_week', 'per_month', 'per_year')"


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "opportunities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("title_key", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("contact_id", sa.Integer()),
        sa.Column("budget_minor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("bid_type", sa.String(10), nullable=False),
        sa.Column("period_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("value_key", sa.BigInteger(), nullable=False),
        sa.Column("expected_close", sa.Date()),
        sa.Column("actual_close", sa.Date()),
        sa.Column("responsible", sa.String(255), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("project_ref", sa.String(255)),
        *_stamps(),
        sa.CheckConstraint(_BID_TYPES, name="ck_opportunities_bid_type"),
        sa.CheckConstraint("period_count >= 1", name="ck_opportunities_period_count"),
        sa.CheckConstraint("probability BETWEEN 0 AND 100", name="ck_opportunities_probability"),
        sa.CheckConstraint("budget_minor >= 0", name="ck_opportunities_budget_minor"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            ondelete="SET NULL",
            name="fk_opportunities_contact_id_contacts",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["opportunity_stages.id"],
            name="fk_opportunities_stage_id_opportunity_stages",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_opportunities"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_opportunities_contact_id", "opportunities", ["contact_id"])
    op.create_index("ix_opportunities_stage_id", "opportunities", ["stage_id"])
    op.create_index("ix_opportunities_title_key_id", "opportunities", ["title_key", "id"])
    op.create_index("ix_opportunities_responsible_id", "opportunities", ["responsible", "id"])
    op.create_index("ix_opportunities_value_key_id", "opportunities", ["value_key", "id"])
    op.create_index("ix_opportunities_expected_close_id", "opportunities", ["expected_close", "id"])
    op.create_index("ix_opportunities_created_at_id", "opportunities", ["created_at", "id"])
    op.create_table(
        "opportunity_members",
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            ondelete="CASCADE",
            name="fk_opportunity_members_opportunity_id_opportunities",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            ondelete="CASCADE",
            name="fk_opportunity_members_contact_id_contacts",
        ),
        sa.PrimaryKeyConstraint("opportunity_id", "contact_id", name="pk_opportunity_members"),
    )
    op.create_index(
        "ix_opportunity_members_contact_id_opportunity_id",
        "opportunity_members",
        ["contact_id", "opportunity_id"],
    )
    op.create_table(
        "opportunity_access",
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            ondelete="CASCADE",
            name="fk_opportunity_access_opportunity_id_opportunities",
        ),
        sa.PrimaryKeyConstraint("opportunity_id", "user_id", name="pk_opportunity_access"),
    )
    op.create_index(
        "ix_opportunity_access_user_id_opportunity_id",
        "opportunity_access",
        ["user_id", "opportunity_id"],
    )

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("title_key", sa.String(255), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("restricted", sa.Boolean(), nullable=False, server_default="0"),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_cases_title_key_id", "cases", ["title_key", "id"])
    op.create_index("ix_cases_created_at_id", "cases", ["created_at", "id"])
    op.create_table(
        "case_members",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            ondelete="CASCADE",
            name="fk_case_members_case_id_cases",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            ondelete="CASCADE",
            name="fk_case_members_contact_id_contacts",
        ),
        sa.PrimaryKeyConstraint("case_id", "contact_id", name="pk_case_members"),
    )
    op.create_index("ix_case_members_contact_id_case_id", "case_members", ["contact_id", "case_id"])
    op.create_table(
        "case_access",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            ondelete="CASCADE",
            name="fk_case_access_case_id_cases",
        ),
        sa.PrimaryKeyConstraint("case_id", "user_id", name="pk_case_access"),
    )
    op.create_index("ix_case_access_user_id_case_id", "case_access", ["user_id", "case_id"])

    if op.get_bind().dialect.name == "sqlite":
        _sqlite_extras()
    else:
        _postgresql_extras()


def _sqlite_extras() -> None:
    # Substring search on titles through FTS5 trigram indexes kept in step by triggers, as
    # for contact names (0001).
    for table in ("opportunities", "cases"):
        fts = f"{table}_fts"
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5("
            f"title_key, content='{table}', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, title_key) VALUES (new.id, new.title_key); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, title_key) "
            "VALUES ('delete', old.id, old.title_key); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF title_key ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, title_key) "
            "VALUES ('delete', old.id, old.title_key); "
            f"INSERT INTO {fts}(rowid, title_key) VALUES (new.id, new.title_key); END"
        )


def _postgresql_extras() -> None:
    bind = op.get_bind()
    has_trgm = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar()
    if has_trgm:
        for table in ("opportunities", "cases"):
            op.execute(
                f"CREATE INDEX ix_{table}_title_key_trgm ON {table} "
                "USING gin (title_key gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE cases_fts")
        op.execute("DROP TABLE opportunities_fts")
    for table in (
        "case_access",
        "case_members",
        "cases",
        "opportunity_access",
        "opportunity_members",
        "opportunities",
    ):
        op.drop_table(table)
