"""Seed the reference CRM's default lists, stages, tags and settings (runs once).

The values are written out here, not imported, so that later changes to opencrm's code never
change what this migration did.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CONTACT_TYPES = ["Client", "Supplier", "Partner", "Competitor"]
TEMPERATURES = [("Cold", "#8a98d8"), ("Warm", "#ffd267"), ("Hot", "#df7895")]
TASK_CATEGORIES = [
    ("Phone call", "call"),
    ("Opportunity", "deal"),
    ("Demo", "demo"),
    ("Email", "email"),
    ("Fax", "fax"),
    ("Execution control", "follow_up"),
    ("Lunch", "lunch"),
    ("Appointment", "meeting"),
    ("Note", "note"),
    ("Delivery", "ship"),
    ("Social networks", "social_networks"),
    ("Expression of gratitude", "thank_you"),
]
HISTORY_CATEGORIES = [
    ("Note", "note", False),
    ("Email", "email", False),
    ("Phone call", "call", False),
    ("Appointment", "meeting", False),
    ("Task closed", "close", True),
    ("Files uploaded", "attach_file", True),
    ("Mail message", "email", True),
]
STAGES = [
    (
        "Initial contact",
        1,
        "open",
        "#e795c1",
        "A contact with the potential buyer is needed to understand the future sales prospective",
    ),
    (
        "Preapproach",
        2,
        "open",
        "#df7895",
        "Application of initial fit criteria to the potential buyer",
    ),
    ("Suspect", 3, "open", "#f48454", "The potential buyer may need the product"),
    ("Champion", 20, "open", "#b58fd6", "Need assessment: someone inside supports the deal"),
    ("Opportunity", 50, "open", "#d28cc8", "A qualified prospect with a real need and budget"),
    ("Prospect", 75, "open", "#ffb45e", "A proposal has been made"),
    ("Verbal", 90, "open", "#ffd267", "Negotiations: the buyer has agreed verbally"),
    ("Won", 100, "won", "#6bbd72", "Closure: the transaction is done"),
    ("Lost", 0, "lost", "#f2a9be", "Unsuccessfully closed"),
]
CONTACT_TAGS = ["Lead", "Customer", "Supplier", "Staff"]

list_items = sa.table(
    "list_items",
    sa.column("kind", sa.String),
    sa.column("title", sa.String),
    sa.column("title_key", sa.String),
    sa.column("color", sa.String),
    sa.column("icon", sa.String),
    sa.column("sort_order", sa.Integer),
    sa.column("system", sa.Boolean),
)
stages = sa.table(
    "opportunity_stages",
    sa.column("title", sa.String),
    sa.column("description", sa.String),
    sa.column("color", sa.String),
    sa.column("probability", sa.Integer),
    sa.column("stage_type", sa.String),
    sa.column("sort_order", sa.Integer),
)
tags = sa.table(
    "tags",
    sa.column("entity_type", sa.String),
    sa.column("title", sa.String),
    sa.column("title_key", sa.String),
)
settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))


def _item(
    kind: str,
    title: str,
    n: int,
    color: str | None = None,
    icon: str | None = None,
    system: bool = False,
) -> dict[str, object]:
    return {
        "kind": kind,
        "title": title,
        "title_key": title.casefold(),
        "color": color,
        "icon": icon,
        "sort_order": n,
        "system": system,
    }


def upgrade() -> None:
    rows = [_item("contact_type", t, n) for n, t in enumerate(CONTACT_TYPES, 1)]
    rows += [_item("temperature", t, n, color=c) for n, (t, c) in enumerate(TEMPERATURES, 1)]
    rows += [
        _item("task_category", t, n, icon=f"task_category_{i}.png")
        for n, (t, i) in enumerate(TASK_CATEGORIES, 1)
    ]
    rows += [
        _item("history_category", t, n, icon=f"event_category_{i}.png", system=s)
        for n, (t, i, s) in enumerate(HISTORY_CATEGORIES, 1)
    ]
    op.bulk_insert(list_items, rows)
    op.bulk_insert(
        stages,
        [
            {
                "title": t,
                "probability": p,
                "stage_type": k,
                "color": c,
                "description": d,
                "sort_order": n,
            }
            for n, (t, p, k, c, d) in enumerate(STAGES, 1)
        ],
    )
    op.bulk_insert(
        tags,
        [{"entity_type": "contact", "title": t, "title_key": t.casefold()} for t in CONTACT_TAGS],
    )
    op.bulk_insert(settings, [{"key": "default_currency", "value": '"USD"'}])


def downgrade() -> None:
    op.execute("DELETE FROM settings WHERE key = 'default_currency'")
    op.execute("DELETE FROM tags")
    op.execute("DELETE FROM opportunity_stages")
    op.execute("DELETE FROM list_items")
