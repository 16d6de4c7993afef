"""The tables, as SQLAlchemy Core metadata for queries.

The schema itself is created and changed only by the Alembic migrations in
``opencrm.storage.migrations``; a test checks that the migrated schema matches this file.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

__all__ = [
    "audit_log",
    "contact_infos",
    "contact_managers",
    "contacts",
    "custom_fields",
    "custom_values",
    "entity_tags",
    "list_items",
    "metadata",
    "opportunity_stages",
    "settings",
    "tags",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSONText, nullable=False),
)

list_items = Table(
    "list_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("title", String(255), nullable=False),
    Column("title_key", String(255), nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("color", String(7)),
    Column("icon", String(255)),
    Column("sort_order", Integer, nullable=False, server_default="0"),
    Column("system", Boolean, nullable=False, server_default="0"),
    UniqueConstraint("kind", "title_key"),
    sqlite_autoincrement=True,
)

opportunity_stages = Table(
    "opportunity_stages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("color", String(7)),
    Column("probability", Integer, nullable=False),
    Column("stage_type", String(10), nullable=False),
    Column("sort_order", Integer, nullable=False),
    CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
    CheckConstraint("stage_type IN ('open', 'won', 'lost')", name="stage_type"),
    sqlite_autoincrement=True,
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("first_name", String(255), nullable=False, server_default=""),
    Column("last_name", String(255), nullable=False, server_default=""),
    Column("job_title", String(255), nullable=False, server_default=""),
    Column("company_name", String(255), nullable=False, server_default=""),
    Column("industry", String(255), nullable=False, server_default=""),
    # Casefolded display name: the sort key and the text-search target.
    Column("sort_name", String(600), nullable=False),
    Column(
        "company_id",
        Integer,
        ForeignKey("contacts.id", ondelete="SET NULL"),
        index=True,
    ),
    Column("contact_type_id", Integer, ForeignKey("list_items.id"), index=True),
    Column("temperature_id", Integer, ForeignKey("list_items.id"), index=True),
    Column("currency", String(3)),
    Column("about", Text, nullable=False, server_default=""),
    Column("access", String(10), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('person', 'company')", name="kind"),
    CheckConstraint("access IN ('private', 'read', 'read_write')", name="access"),
    Index("ix_contacts_sort_name_id", "sort_name", "id"),
    Index("ix_contacts_created_at_id", "created_at", "id"),
    Index("ix_contacts_access_sort_name", "access", "sort_name", "id"),
    sqlite_autoincrement=True,
)

contact_managers = Table(
    "contact_managers",
    metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(255), nullable=False),
    PrimaryKeyConstraint("contact_id", "user_id"),
    Index("ix_contact_managers_user_id_contact_id", "user_id", "contact_id"),
)

contact_infos = Table(
    "contact_infos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "contact_id",
        Integer,
        ForeignKey("contacts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("info_type", String(20), nullable=False),
    Column("category", String(20), nullable=False),
    Column("value", String(1000), nullable=False),
    Column("normalized", String(1000)),
    Column("address", JSONText),
    Column("is_primary", Boolean, nullable=False, server_default="0"),
    Index("ix_contact_infos_info_type_normalized", "info_type", "normalized"),
    sqlite_autoincrement=True,
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entity_type", String(20), nullable=False),
    Column("title", String(255), nullable=False),
    Column("title_key", String(255), nullable=False),
    UniqueConstraint("entity_type", "title_key"),
    sqlite_autoincrement=True,
)

entity_tags = Table(
    "entity_tags",
    metadata,
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("entity_type", String(20), nullable=False),
    Column("entity_id", Integer, nullable=False),
    PrimaryKeyConstraint("tag_id", "entity_type", "entity_id"),
    Index("ix_entity_tags_entity_type_entity_id", "entity_type", "entity_id"),
)

custom_fields = Table(
    "custom_fields",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entity_type", String(20), nullable=False),
    Column("label", String(255), nullable=False),
    Column("field_type", String(50), nullable=False),
    Column("options", JSONText, nullable=False),
    Column("sort_order", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

custom_values = Table(
    "custom_values",
    metadata,
    Column("field_id", Integer, ForeignKey("custom_fields.id", ondelete="CASCADE"), nullable=False),
    Column("entity_type", String(20), nullable=False),
    Column("entity_id", Integer, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("field_id", "entity_type", "entity_id"),
    Index("ix_custom_values_entity_type_entity_id", "entity_type", "entity_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_id", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("entity_type", String(50), nullable=False),
    Column("entity_id", String(100)),
    Column("before", JSONText),
    Column("after", JSONText),
    Column("data", JSONText),
    Index("ix_audit_log_entity_type_entity_id", "entity_type", "entity_id"),
    sqlite_autoincrement=True,
)
