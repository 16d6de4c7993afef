"""opencrm's schema, brought to its head revision by opencrm's own (Alembic) migrations.

The tables are not Django models: opencrm creates and upgrades them itself. This migration
runs that upgrade when ``manage.py migrate`` runs on the CRM's database alias. Every later
opencrm release that changes the schema ships another such migration, so ``showmigrations``
tells what is applied. ``migrate opencrm zero`` refuses: the tables hold the CRM's data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError

from opencrm_django.runtime import migrate_schema


def upgrade(apps: Any, schema_editor: Any) -> None:
    migrate_schema(schema_editor.connection.alias)


def refuse(apps: Any, schema_editor: Any) -> None:
    raise IrreversibleError(
        "opencrm's tables hold the CRM's records; `migrate opencrm zero` does not drop "
        "them. Back up the data, then drop the tables yourself (opencrm's own tables and "
        "alembic_version) if you really mean to remove the CRM."
    )


class Migration(migrations.Migration):
    # opencrm's upgrade runs on its own connection and commits there: outside the
    # transaction Django would open for the migration (on SQLite, inside it would wait for
    # Django's own write lock).
    atomic = False

    initial = True
    dependencies: ClassVar[list[tuple[str, str]]] = []

    operations: ClassVar[list[Any]] = [
        migrations.CreateModel(
            name="CRMAccess",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "CRM access",
                "managed": False,
                "default_permissions": (),
                "permissions": (("crm_admin", "Is a CRM admin (sees and manages every record)"),),
            },
        ),
        migrations.RunPython(upgrade, refuse, elidable=False),
    ]
