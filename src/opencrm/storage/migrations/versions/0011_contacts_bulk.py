"""Duplicate detection: a stored name key on contacts, and the index it groups on.

``contacts.name_key`` holds the name as duplicate detection compares it (see
``opencrm.core.matching``): a company's name without case, accents, punctuation or legal
form, a person's first and last name likewise. The duplicate scan groups companies by it,
and persons by it together with their company, in the order of ``ix_contacts_kind_name_key``
so that a page of clusters is read from the index. Existing rows are filled in here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from opencrm.core.matching import company_key, person_key

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_contacts = sa.table(
    "contacts",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("company_name", sa.String),
    sa.column("name_key", sa.String),
)
_BATCH = 5000


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild on SQLite, which would drop the FTS triggers).
    op.add_column(
        "contacts", sa.Column("name_key", sa.String(600), nullable=False, server_default="")
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                _contacts.c.id,
                _contacts.c.kind,
                _contacts.c.first_name,
                _contacts.c.last_name,
                _contacts.c.company_name,
            )
            .where(_contacts.c.id > last)
            .order_by(_contacts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        keys = [
            {
                "row_id": r.id,
                "key": company_key(r.company_name)
                if r.kind == "company"
                else person_key(r.first_name, r.last_name),
            }
            for r in rows
        ]
        conn.execute(
            _contacts.update()
            .where(_contacts.c.id == sa.bindparam("row_id"))
            .values(name_key=sa.bindparam("key")),
            keys,
        )
        last = rows[-1].id
    # ``access`` makes the index cover the read check of public rows (no table lookups).
    op.create_index(
        "ix_contacts_kind_name_key",
        "contacts",
        ["kind", "name_key", "company_id", "access", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_kind_name_key", "contacts")
    op.execute("ALTER TABLE contacts DROP COLUMN name_key")
