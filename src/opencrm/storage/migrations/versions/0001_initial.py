"""Initial schema: settings, lists, stages, contacts, tags, custom fields, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Ids that users and other systems hold must never be handed out again after a delete:
    # SQLite reuses the highest rowid unless the table is AUTOINCREMENT (PostgreSQL
    # sequences never reuse).
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", JSONText(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )
    op.create_table(
        "list_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("title_key", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255), nullable=False, server_default=""),
        sa.Column("color", sa.String(7)),
        sa.Column("icon", sa.String(255)),
        sa.Column("sort_order", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("system", sa.Boolean(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_list_items"),
        sa.UniqueConstraint("kind", "title_key", name="uq_list_items_kind_title_key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "opportunity_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255), nullable=False, server_default=""),
        sa.Column("color", sa.String(7)),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("stage_type", sa.String(10), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "probability BETWEEN 0 AND 100", name="ck_opportunity_stages_probability"
        ),
        sa.CheckConstraint(
            "stage_type IN ('open', 'won', 'lost')", name="ck_opportunity_stages_stage_type"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_opportunity_stages"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("first_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("job_title", sa.String(255), nullable=False, server_default=""),
        sa.Column("company_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("industry", sa.String(255), nullable=False, server_default=""),
        sa.Column("sort_name", sa.String(600), nullable=False),
        sa.Column("company_id", sa.Integer()),
        sa.Column("contact_type_id", sa.Integer()),
        sa.Column("temperature_id", sa.Integer()),
        sa.Column("currency", sa.String(3)),
        sa.Column("about", sa.Text(), nullable=False, server_default=""),
        sa.Column("access", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('person', 'company')", name="ck_contacts_kind"),
        sa.CheckConstraint(
            "access IN ('private', 'read', 'read_write')", name="ck_contacts_access"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["contacts.id"],
            ondelete="SET NULL",
            name="fk_contacts_company_id_contacts",
        ),
        sa.ForeignKeyConstraint(
            ["contact_type_id"], ["list_items.id"], name="fk_contacts_contact_type_id_list_items"
        ),
        sa.ForeignKeyConstraint(
            ["temperature_id"], ["list_items.id"], name="fk_contacts_temperature_id_list_items"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contacts_company_id", "contacts", ["company_id"])
    op.create_index("ix_contacts_contact_type_id", "contacts", ["contact_type_id"])
    op.create_index("ix_contacts_temperature_id", "contacts", ["temperature_id"])
    op.create_index("ix_contacts_sort_name_id", "contacts", ["sort_name", "id"])
    op.create_index("ix_contacts_created_at_id", "contacts", ["created_at", "id"])
    op.create_index("ix_contacts_access_sort_name", "contacts", ["access", "sort_name", "id"])

    op.create_table(
        "contact_managers",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            ondelete="CASCADE",
            name="fk_contact_managers_contact_id_contacts",
        ),
        sa.PrimaryKeyConstraint("contact_id", "user_id", name="pk_contact_managers"),
    )
    op.create_index(
        "ix_contact_managers_user_id_contact_id", "contact_managers", ["user_id", "contact_id"]
    )
    op.create_table(
        "contact_infos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("info_type", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("value", sa.String(1000), nullable=False),
        sa.Column("normalized", sa.String(1000)),
        sa.Column("address", JSONText()),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            ondelete="CASCADE",
            name="fk_contact_infos_contact_id_contacts",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_infos"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contact_infos_contact_id", "contact_infos", ["contact_id"])
    op.create_index(
        "ix_contact_infos_info_type_normalized", "contact_infos", ["info_type", "normalized"]
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(20), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("title_key", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("entity_type", "title_key", name="uq_tags_entity_type_title_key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "entity_tags",
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], ondelete="CASCADE", name="fk_entity_tags_tag_id_tags"
        ),
        sa.PrimaryKeyConstraint("tag_id", "entity_type", "entity_id", name="pk_entity_tags"),
    )
    op.create_index(
        "ix_entity_tags_entity_type_entity_id", "entity_tags", ["entity_type", "entity_id"]
    )
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(20), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("field_type", sa.String(50), nullable=False),
        sa.Column("options", JSONText(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_custom_fields"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "custom_values",
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["custom_fields.id"],
            ondelete="CASCADE",
            name="fk_custom_values_field_id_custom_fields",
        ),
        sa.PrimaryKeyConstraint("field_id", "entity_type", "entity_id", name="pk_custom_values"),
    )
    op.create_index(
        "ix_custom_values_entity_type_entity_id", "custom_values", ["entity_type", "entity_id"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("entity_type", sa.String(50), nullable=False),
        sa.Column("entity_id", sa.String(100)),
        sa.Column("before", JSONText()),
        sa.Column("after", JSONText()),
        sa.Column("data", JSONText()),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_entity_type_entity_id", "audit_log", ["entity_type", "entity_id"])

    if op.get_bind().dialect.name == "sqlite":
        _sqlite_extras()
    else:
        _postgresql_extras()


def _sqlite_extras() -> None:
    # Substring search on names through an FTS5 trigram index kept in step by triggers.
    op.execute(
        "CREATE VIRTUAL TABLE contacts_fts USING fts5("
        "sort_name, content='contacts', content_rowid='id', tokenize='trigram')"
    )
    op.execute(
        "CREATE TRIGGER contacts_fts_ai AFTER INSERT ON contacts BEGIN "
        "INSERT INTO contacts_fts(rowid, sort_name) VALUES (new.id, new.sort_name); END"
    )
    op.execute(
        "CREATE TRIGGER contacts_fts_ad AFTER DELETE ON contacts BEGIN "
        "INSERT INTO contacts_fts(contacts_fts, rowid, sort_name) "
        "VALUES ('delete', old.id, old.sort_name); END"
    )
    op.execute(
        "CREATE TRIGGER contacts_fts_au AFTER UPDATE OF sort_name ON contacts BEGIN "
        "INSERT INTO contacts_fts(contacts_fts, rowid, sort_name) "
        "VALUES ('delete', old.id, old.sort_name); "
        "INSERT INTO contacts_fts(rowid, sort_name) VALUES (new.id, new.sort_name); END"
    )
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log BEGIN "
            "SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def _postgresql_extras() -> None:
    bind = op.get_bind()
    has_trgm = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar()
    if not has_trgm:
        available = bind.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
        ).scalar()
        if available:
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            has_trgm = True
    if has_trgm:
        op.execute(
            "CREATE INDEX ix_contacts_sort_name_trgm ON contacts USING gin (sort_name gin_trgm_ops)"
        )
    op.execute(
        "CREATE FUNCTION opencrm_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION opencrm_audit_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE contacts_fts")
    else:
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION opencrm_audit_append_only()")
    for table in (
        "audit_log",
        "custom_values",
        "custom_fields",
        "entity_tags",
        "tags",
        "contact_infos",
        "contact_managers",
        "contacts",
        "opportunity_stages",
        "list_items",
        "settings",
    ):
        op.drop_table(table)
