"""The secret that signs list cursors, one per database.

Cursors travel through clients and come back as ``after``; they are signed with this secret
(HMAC-SHA256), stored in the database so that every app server sharing it agrees. opencrm
also makes it on first use when it is missing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import json
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    op.bulk_insert(settings, [{"key": "cursor_secret", "value": json.dumps(secrets.token_hex(32))}])


def downgrade() -> None:
    op.execute("DELETE FROM settings WHERE key = 'cursor_secret'")
