"""Tasks, history events with their files, and contact photos.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import uuid

import sqlalchemy as sa
from alembic import op

from opencrm.storage.sqlalchemy.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def _fk(table: str, column: str, target: str, ondelete: str | None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], ondelete=ondelete, name=f"fk_{table}_{column}_{target}"
    )


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("title_key", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("responsible", sa.String(255), nullable=False),
        sa.Column("contact_id", sa.Integer()),
        sa.Column("opportunity_id", sa.Integer()),
        sa.Column("case_id", sa.Integer()),
        sa.Column("alert_minutes", sa.Integer(), nullable=False),
        sa.Column("remind_at", UTCDateTime()),
        sa.Column("reminded_at", UTCDateTime()),
        sa.Column("closed", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("closed_at", UTCDateTime()),
        *_stamps(),
        sa.CheckConstraint("opportunity_id IS NULL OR case_id IS NULL", name="ck_tasks_one_link"),
        sa.CheckConstraint("alert_minutes >= 0", name="ck_tasks_alert_minutes"),
        _fk("tasks", "category_id", "list_items", None),
        _fk("tasks", "contact_id", "contacts", "CASCADE"),
        _fk("tasks", "opportunity_id", "opportunities", "CASCADE"),
        _fk("tasks", "case_id", "cases", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sqlite_autoincrement=True,
    )
    for name, cols in (
        ("ix_tasks_category_id", ["category_id"]),
        ("ix_tasks_contact_id", ["contact_id"]),
        ("ix_tasks_opportunity_id", ["opportunity_id"]),
        ("ix_tasks_case_id", ["case_id"]),
        ("ix_tasks_title_key_id", ["title_key", "id"]),
        ("ix_tasks_due_at_id", ["due_at", "id"]),
        ("ix_tasks_responsible_due_at", ["responsible", "due_at"]),
        ("ix_tasks_remind_at", ["remind_at"]),
    ):
        op.create_index(name, "tasks", cols)

    op.create_table(
        "history_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_key", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer()),
        sa.Column("opportunity_id", sa.Integer()),
        sa.Column("case_id", sa.Integer()),
        sa.Column("task_id", sa.Integer()),
        sa.Column("happened_at", UTCDateTime(), nullable=False),
        *_stamps(),
        sa.CheckConstraint(
            "contact_id IS NOT NULL OR opportunity_id IS NOT NULL OR case_id IS NOT NULL",
            name="ck_history_events_parent",
        ),
        sa.CheckConstraint(
            "opportunity_id IS NULL OR case_id IS NULL", name="ck_history_events_one_link"
        ),
        _fk("history_events", "category_id", "list_items", None),
        _fk("history_events", "contact_id", "contacts", "CASCADE"),
        _fk("history_events", "opportunity_id", "opportunities", "CASCADE"),
        _fk("history_events", "case_id", "cases", "CASCADE"),
        _fk("history_events", "task_id", "tasks", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_history_events"),
        sqlite_autoincrement=True,
    )
    for name, cols in (
        ("ix_history_events_category_id", ["category_id"]),
        ("ix_history_events_task_id", ["task_id"]),
        ("ix_history_events_contact_id_happened_at", ["contact_id", "happened_at", "id"]),
        (
            "ix_history_events_opportunity_id_happened_at",
            ["opportunity_id", "happened_at", "id"],
        ),
        ("ix_history_events_case_id_happened_at", ["case_id", "happened_at", "id"]),
        ("ix_history_events_happened_at_id", ["happened_at", "id"]),
    ):
        op.create_index(name, "history_events", cols)

    op.create_table(
        "history_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("history_files", "event_id", "history_events", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_history_files"),
        sa.UniqueConstraint("file_id", name="uq_history_files_file_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_history_files_event_id", "history_files", ["event_id"])

    op.create_table(
        "contact_photos",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("large_file_id", sa.String(64), nullable=False),
        sa.Column("medium_file_id", sa.String(64), nullable=False),
        sa.Column("small_file_id", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("contact_photos", "contact_id", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", name="pk_contact_photos"),
    )

    # A random id of this database: calendar UIDs must be globally unique (RFC 5545), and
    # task ids repeat from one installation to the next.
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(settings, [{"key": "instance_id", "value": f'"{uuid.uuid4().hex}"'}])

    if op.get_bind().dialect.name == "sqlite":
        _sqlite_extras()
    else:
        _postgresql_extras()


def _sqlite_extras() -> None:
    # Substring search on task titles, as for opportunities and cases (0003).
    fts = "tasks_fts"
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5("
        "title_key, content='tasks', content_rowid='id', tokenize='trigram')"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON tasks BEGIN "
        f"INSERT INTO {fts}(rowid, title_key) VALUES (new.id, new.title_key); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON tasks BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, title_key) VALUES ('delete', old.id, old.title_key); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF title_key ON tasks BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, title_key) VALUES ('delete', old.id, old.title_key); "
        f"INSERT INTO {fts}(rowid, title_key) VALUES (new.id, new.title_key); END"
    )


def _postgresql_extras() -> None:
    bind = op.get_bind()
    has_trgm = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar()
    if has_trgm:
        op.execute(
            "CREATE INDEX ix_tasks_title_key_trgm ON tasks USING gin (title_key gin_trgm_ops)"
        )


def downgrade() -> None:
    op.execute("DELETE FROM settings WHERE key = 'instance_id'")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE tasks_fts")
    for table in ("contact_photos", "history_files", "history_events", "tasks"):
        op.drop_table(table)
