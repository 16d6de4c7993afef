"""The tables, as SQLAlchemy Core metadata for queries.

The schema itself is created and changed only by the Alembic migrations in
``opencrm.storage.migrations``; a test checks that the migrated schema matches this file.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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
    "case_access",
    "case_documents",
    "case_members",
    "cases",
    "contact_infos",
    "contact_managers",
    "contact_photos",
    "contacts",
    "custom_fields",
    "custom_values",
    "entity_tags",
    "history_events",
    "history_files",
    "jobs",
    "list_items",
    "metadata",
    "opportunities",
    "opportunity_access",
    "opportunity_members",
    "opportunity_stages",
    "settings",
    "tags",
    "tasks",
    "voip_accounts",
    "voip_call_legs",
    "voip_calls",
    "voip_numbers",
    "voip_operators",
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
    # The name as duplicate detection compares it (opencrm.core.matching; migration 0011).
    Column("name_key", String(600), nullable=False, server_default=""),
    CheckConstraint("kind IN ('person', 'company')", name="kind"),
    CheckConstraint("access IN ('private', 'read', 'read_write')", name="access"),
    Index("ix_contacts_sort_name_id", "sort_name", "id"),
    Index("ix_contacts_created_at_id", "created_at", "id"),
    Index("ix_contacts_access_sort_name", "access", "sort_name", "id"),
    Index("ix_contacts_kind_name_key", "kind", "name_key", "company_id", "access", "id"),
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


# --- opportunities and cases (migration 0003) -------------------------------------------------
# Title search uses opportunities_fts / cases_fts (SQLite FTS5) or ix_*_title_key_trgm
# (PostgreSQL pg_trgm), created by the migration and kept outside this metadata.

opportunities = Table(
    "opportunities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(255), nullable=False),
    # Casefolded title: the sort key and the text-search target.
    Column("title_key", String(255), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="SET NULL"), index=True),
    # The budget in the currency's minor units: exact, never a float.
    Column("budget_minor", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("bid_type", String(10), nullable=False),
    Column("period_count", Integer, nullable=False, server_default="1"),
    # The value in thousandths of the currency's unit: one scale for every currency to sort on.
    Column("value_key", BigInteger, nullable=False),
    Column("expected_close", Date),
    Column("actual_close", Date),
    Column("responsible", String(255), nullable=False),
    Column("stage_id", Integer, ForeignKey("opportunity_stages.id"), nullable=False, index=True),
    Column("probability", Integer, nullable=False),
    Column("restricted", Boolean, nullable=False, server_default="0"),
    Column("project_ref", String(255)),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "bid_type IN ('fixed', 'per_hour', 'per_day', 'per_week', 'per_month', 'per_year')",
        name="bid_type",
    ),
    CheckConstraint("period_count >= 1", name="period_count"),
    CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
    CheckConstraint("budget_minor >= 0", name="budget_minor"),
    Index("ix_opportunities_title_key_id", "title_key", "id"),
    Index("ix_opportunities_responsible_id", "responsible", "id"),
    Index("ix_opportunities_value_key_id", "value_key", "id"),
    Index("ix_opportunities_expected_close_id", "expected_close", "id"),
    Index("ix_opportunities_created_at_id", "created_at", "id"),
    sqlite_autoincrement=True,
)

opportunity_members = Table(
    "opportunity_members",
    metadata,
    Column(
        "opportunity_id",
        Integer,
        ForeignKey("opportunities.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("opportunity_id", "contact_id"),
    Index("ix_opportunity_members_contact_id_opportunity_id", "contact_id", "opportunity_id"),
)

opportunity_access = Table(
    "opportunity_access",
    metadata,
    Column(
        "opportunity_id",
        Integer,
        ForeignKey("opportunities.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", String(255), nullable=False),
    PrimaryKeyConstraint("opportunity_id", "user_id"),
    Index("ix_opportunity_access_user_id_opportunity_id", "user_id", "opportunity_id"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("title_key", String(255), nullable=False),
    Column("closed", Boolean, nullable=False, server_default="0"),
    Column("restricted", Boolean, nullable=False, server_default="0"),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_cases_title_key_id", "title_key", "id"),
    Index("ix_cases_created_at_id", "created_at", "id"),
    sqlite_autoincrement=True,
)

case_members = Table(
    "case_members",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("case_id", "contact_id"),
    Index("ix_case_members_contact_id_case_id", "contact_id", "case_id"),
)

case_access = Table(
    "case_access",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(255), nullable=False),
    PrimaryKeyConstraint("case_id", "user_id"),
    Index("ix_case_access_user_id_case_id", "user_id", "case_id"),
)


# --- Invoices, products, taxes and currencies (migration 0004) -----------------------------
# Money is whole minor units in BIGINT columns; unit prices (up to six decimals, migration
# 0010), rates, quantities and percentages are exact decimal text (SQLite has no decimal type
# and would hand back floats).

taxes = Table(
    "taxes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("name_key", String(255), nullable=False),
    Column("rate", String(40), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name_key"),
)

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(255), nullable=False, index=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("sku", String(255), nullable=False, server_default=""),
    Column("price", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tax1_id", Integer, ForeignKey("taxes.id"), index=True),
    Column("tax2_id", Integer, ForeignKey("taxes.id"), index=True),
    Column("track_inventory", Boolean, nullable=False),
    Column("stock_quantity", String(40), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("from_currency", String(3), nullable=False),
    Column("to_currency", String(3), nullable=False),
    Column("rate", String(40), nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("from_currency", "to_currency"),
    CheckConstraint("from_currency <> to_currency", name="pair"),
)

# One row per number series ("invoice"); locked while a number is allocated.
invoice_numbering = Table(
    "invoice_numbering",
    metadata,
    Column("name", String(30), primary_key=True),
    Column("automatic", Boolean, nullable=False),
    Column("prefix", String(50), nullable=False),
    Column("next_value", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(255), nullable=False),
    Column("status", String(10), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("client_id", Integer, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("consignee_id", Integer, ForeignKey("contacts.id"), index=True),
    Column("billing_address_id", Integer),
    Column("billing_address", JSONText),
    Column("delivery_address_id", Integer),
    Column("delivery_address", JSONText),
    Column("opportunity_id", Integer, index=True),  # no foreign key yet (see migration 0004)
    Column("language", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("exchange_rate", String(40), nullable=False),
    Column("po_number", String(255), nullable=False, server_default=""),
    Column("terms", Text, nullable=False, server_default=""),
    Column("notes", Text, nullable=False, server_default=""),
    Column("rounding", String(20), nullable=False),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("number"),
    CheckConstraint("status IN ('draft', 'billed', 'paid', 'rejected')", name="status"),
    CheckConstraint("due_date >= issue_date", name="due_after_issue"),
    Index("ix_invoices_issue_date_id", "issue_date", "id"),
    Index("ix_invoices_due_date_id", "due_date", "id"),
    Index("ix_invoices_status_id", "status", "id"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "invoice_id",
        Integer,
        ForeignKey("invoices.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("position", Integer, nullable=False),
    Column("product_id", Integer, ForeignKey("products.id"), index=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("quantity", String(40), nullable=False),
    Column("price", String(40), nullable=False),
    Column("discount", String(40), nullable=False),
    Column("tax1_id", Integer, ForeignKey("taxes.id"), index=True),
    Column("tax1_name", String(255)),
    Column("tax1_rate", String(40)),
    Column("tax1_minor", BigInteger),
    Column("tax2_id", Integer, ForeignKey("taxes.id"), index=True),
    Column("tax2_name", String(255)),
    Column("tax2_rate", String(40)),
    Column("tax2_minor", BigInteger),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
)


# --- Files: case documents (migration 0005) --------------------------------------------------

case_documents = Table(
    "case_documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "case_id",
        Integer,
        ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("file_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("file_id"),
)


# --- Tasks, history events and their files, contact photos (migration 0006) -----------------

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("title_key", String(255), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("category_id", Integer, ForeignKey("list_items.id"), nullable=False, index=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("responsible", String(255), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), index=True),
    Column(
        "opportunity_id", Integer, ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    ),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), index=True),
    # Minutes before ``due_at`` the responsible is reminded; 0 = never.
    Column("alert_minutes", Integer, nullable=False),
    # When the reminder is due (NULL: none, or the task is closed) and when it was sent.
    Column("remind_at", UTCDateTime),
    Column("reminded_at", UTCDateTime),
    Column("closed", Boolean, nullable=False, server_default="0"),
    Column("closed_at", UTCDateTime),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("opportunity_id IS NULL OR case_id IS NULL", name="one_link"),
    CheckConstraint("alert_minutes >= 0", name="alert_minutes"),
    Index("ix_tasks_title_key_id", "title_key", "id"),
    Index("ix_tasks_due_at_id", "due_at", "id"),
    Index("ix_tasks_responsible_due_at", "responsible", "due_at"),
    Index("ix_tasks_remind_at", "remind_at"),
    sqlite_autoincrement=True,
)

history_events = Table(
    "history_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("content", Text, nullable=False),
    # Casefolded content: what the text filter searches (SQLite's lower() folds ASCII only).
    Column("content_key", Text, nullable=False),
    Column("category_id", Integer, ForeignKey("list_items.id"), nullable=False, index=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE")),
    Column("opportunity_id", Integer, ForeignKey("opportunities.id", ondelete="CASCADE")),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE")),
    # The task whose closing wrote the event (system events only).
    Column("task_id", Integer, ForeignKey("tasks.id", ondelete="SET NULL"), index=True),
    Column("happened_at", UTCDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "contact_id IS NOT NULL OR opportunity_id IS NOT NULL OR case_id IS NOT NULL",
        name="parent",
    ),
    CheckConstraint("opportunity_id IS NULL OR case_id IS NULL", name="one_link"),
    Index("ix_history_events_contact_id_happened_at", "contact_id", "happened_at", "id"),
    Index("ix_history_events_opportunity_id_happened_at", "opportunity_id", "happened_at", "id"),
    Index("ix_history_events_case_id_happened_at", "case_id", "happened_at", "id"),
    Index("ix_history_events_happened_at_id", "happened_at", "id"),
    sqlite_autoincrement=True,
)

history_files = Table(
    "history_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "event_id",
        Integer,
        ForeignKey("history_events.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("file_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("file_id"),
    sqlite_autoincrement=True,
)

contact_photos = Table(
    "contact_photos",
    metadata,
    Column(
        "contact_id",
        Integer,
        ForeignKey("contacts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Stored-file ids of the three renditions (see opencrm.core.photos).
    Column("large_file_id", String(64), nullable=False),
    Column("medium_file_id", String(64), nullable=False),
    Column("small_file_id", String(64), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- VoIP (migration 0014) ----------------------------------------------------------------

voip_accounts = Table(
    "voip_accounts",
    metadata,
    # One account per CRM: the row with id 1.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("provider", String(50), nullable=False),
    Column("account_sid", String(100), nullable=False),
    Column("auth_token", String(200), nullable=False),
    Column("public_url", String(1000), nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("id = 1", name="single"),
)

voip_numbers = Table(
    "voip_numbers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sid", String(64), nullable=False),
    Column("number", String(32), nullable=False),
    Column("alias", String(255), nullable=False, server_default=""),
    Column("outgoing", Boolean, nullable=False, server_default="1"),
    Column("recording", Boolean, nullable=False, server_default="1"),
    Column("greeting_audio", String(1000), nullable=False, server_default=""),
    Column("hold_audio", String(1000), nullable=False, server_default=""),
    Column("voicemail_audio", String(1000), nullable=False, server_default=""),
    Column("queue_size", Integer, nullable=False, server_default="5"),
    Column("queue_wait", Integer, nullable=False, server_default="300"),
    Column("hours_start", String(5)),
    Column("hours_end", String(5)),
    Column("timezone", String(64)),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("number"),
    UniqueConstraint("sid"),
    CheckConstraint("queue_size >= 0", name="queue_size"),
    CheckConstraint("queue_wait >= 0", name="queue_wait"),
    sqlite_autoincrement=True,
)

voip_operators = Table(
    "voip_operators",
    metadata,
    # A user operates one number: the user id is the key.
    Column("user_id", String(255), primary_key=True),
    Column(
        "number_id",
        Integer,
        ForeignKey("voip_numbers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("outgoing", Boolean, nullable=False),
    Column("recording", Boolean, nullable=False),
    Column("status", String(10), nullable=False),
    Column("answer_to", String(32), nullable=False, server_default=""),
    Column("timeout", Integer, nullable=False, server_default="30"),
)

voip_calls = Table(
    "voip_calls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sid", String(64), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("number_id", Integer, ForeignKey("voip_numbers.id", ondelete="SET NULL"), index=True),
    Column("from_number", String(64), nullable=False),
    Column("to_number", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="SET NULL"), index=True),
    Column("operator", String(255)),
    Column("answered_by", String(255)),
    Column("missed", Boolean, nullable=False, server_default="0"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("duration", Integer, nullable=False, server_default="0"),
    # Prices in ten-thousandths of ``currency`` (the provider's precision), exact.
    Column("price_e4", BigInteger),
    Column("currency", String(3), nullable=False, server_default="USD"),
    Column("recording_sid", String(64), nullable=False, server_default=""),
    Column("recording_url", String(1000), nullable=False, server_default=""),
    Column("recording_duration", Integer, nullable=False, server_default="0"),
    Column("recording_price_e4", BigInteger),
    Column("history_event_id", Integer, ForeignKey("history_events.id", ondelete="SET NULL")),
    # The replay guard: one row per provider call id.
    UniqueConstraint("sid"),
    Index("ix_voip_calls_started_at_id", "started_at", "id"),
    Index("ix_voip_calls_answered_by_started_at", "answered_by", "started_at"),
    sqlite_autoincrement=True,
)

voip_call_legs = Table(
    "voip_call_legs",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column(
        "call_id",
        Integer,
        ForeignKey("voip_calls.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("operator", String(255)),
    Column("to_number", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("duration", Integer, nullable=False, server_default="0"),
    Column("price_e4", BigInteger),
)

# --- jobs (0008) ------------------------------------------------------------------------------

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("owner_id", String(255), nullable=False, index=True),
    # A snapshot of the owner (id, name, e-mail, admin, groups, language) for the worker.
    Column("owner", JSONText, nullable=False),
    Column("params", JSONText, nullable=False),
    Column("status", String(16), nullable=False),
    Column("done", BigInteger, nullable=False, server_default="0"),
    Column("total", BigInteger),
    # Units per second since the job started: a rate shown to people, not money.
    Column("rate", Float),
    Column("summary", JSONText, nullable=False),
    Column("error", Text),
    Column("result_file_id", String(64)),
    Column("result_name", String(255)),
    Column("result_type", String(255)),
    Column("result_size", BigInteger),
    Column("cancel_requested", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
)

# --- Generated reports (migration 0012) ------------------------------------------------------

generated_reports = Table(
    "generated_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", String(255), nullable=False),
    Column("report_type", String(100), nullable=False),
    Column("title", String(255), nullable=False),
    Column("parameters", JSONText, nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    # The file itself: reports are size-limited, and any app server can serve them.
    Column("content", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_generated_reports_user_id_id", "user_id", "id"),
    sqlite_autoincrement=True,
)


# Covering indexes of the report aggregates (migration 0012; see its docstring).
Index(
    "ix_opportunities_report",
    opportunities.c.responsible,
    opportunities.c.stage_id,
    opportunities.c.currency,
    opportunities.c.created_at,
    opportunities.c.actual_close,
    opportunities.c.expected_close,
    opportunities.c.value_key,
    opportunities.c.probability,
    opportunities.c.contact_id,
)
Index(
    "ix_tasks_report",
    tasks.c.responsible,
    tasks.c.category_id,
    tasks.c.closed,
    tasks.c.created_at,
    tasks.c.closed_at,
    tasks.c.due_at,
)
Index(
    "ix_invoices_report",
    invoices.c.created_by,
    invoices.c.currency,
    invoices.c.status,
    invoices.c.issue_date,
    invoices.c.due_date,
    invoices.c.updated_at,
    invoices.c.total_minor,
    invoices.c.created_at,
)
Index(
    "ix_contacts_report",
    contacts.c.created_by,
    contacts.c.contact_type_id,
    contacts.c.temperature_id,
    contacts.c.created_at,
)

# --- website contact forms (migration 0017) -----------------------------------------------

web_forms = Table(
    "web_forms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    # fields, required, tags, managers, access, notify, return_urls, rate_limit
    Column("spec", JSONText, nullable=False),
    Column("form_key", String(64), nullable=False),
    Column("posts", BigInteger, nullable=False, server_default="0"),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

# Posts per form, client address and hour: the rate limit, shared by every app server.
web_form_hits = Table(
    "web_form_hits",
    metadata,
    Column("form_id", Integer, ForeignKey("web_forms.id", ondelete="CASCADE"), nullable=False),
    Column("client", String(64), nullable=False),
    Column("window", UTCDateTime, nullable=False),
    Column("hits", Integer, nullable=False),
    PrimaryKeyConstraint("form_id", "client", "window"),
)
Index("ix_web_form_hits_window", web_form_hits.c.window)
