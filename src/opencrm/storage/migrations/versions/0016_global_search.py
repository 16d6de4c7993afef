"""Global search: an index on history content, and one on invoice numbers.

History content was only ever filtered within one record's history; a search across all
of it needs an index: on SQLite an FTS5 trigram table kept in step by triggers (as the
titles of 0003 and 0006), on PostgreSQL a pg_trgm GIN index on the casefolded content,
which serves ``LIKE '%text%'``. Invoice numbers are searched casefolded by substring:
a trigram index on ``lower(number)`` on PostgreSQL (invoices are few next to history,
so SQLite reads them from the table).

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-02
"""

from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

_FTS = "history_fts"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE {_FTS} USING fts5("
            "content_key, content='history_events', content_rowid='id', tokenize='trigram')"
        )
        op.execute(f"INSERT INTO {_FTS}({_FTS}) VALUES ('rebuild')")
        op.execute(
            f"CREATE TRIGGER {_FTS}_ai AFTER INSERT ON history_events BEGIN "
            f"INSERT INTO {_FTS}(rowid, content_key) VALUES (new.id, new.content_key); END"
        )
        op.execute(
            f"CREATE TRIGGER {_FTS}_ad AFTER DELETE ON history_events BEGIN "
            f"INSERT INTO {_FTS}({_FTS}, rowid, content_key) "
            "VALUES ('delete', old.id, old.content_key); END"
        )
        op.execute(
            f"CREATE TRIGGER {_FTS}_au AFTER UPDATE OF content_key ON history_events BEGIN "
            f"INSERT INTO {_FTS}({_FTS}, rowid, content_key) "
            "VALUES ('delete', old.id, old.content_key); "
            f"INSERT INTO {_FTS}(rowid, content_key) VALUES (new.id, new.content_key); END"
        )
        return
    has_trgm = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar()
    if has_trgm:
        op.execute(
            "CREATE INDEX ix_history_events_content_key_trgm ON history_events "
            "USING gin (content_key gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_invoices_number_trgm ON invoices "
            "USING gin (lower(number) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The triggers live on history_events, so they go first.
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {_FTS}_{suffix}")
        op.execute(f"DROP TABLE {_FTS}")
        return
    op.execute("DROP INDEX IF EXISTS ix_invoices_number_trgm")
    op.execute("DROP INDEX IF EXISTS ix_history_events_content_key_trgm")
