"""Unmanaged models mirroring opencrm's main tables (contacts, opportunities, cases, tasks,
invoices) for hosts' foreign keys and read-only queries: no table is created or changed."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies: ClassVar[list[tuple[str, str]]] = [
        ("opencrm", "0001_opencrm_schema"),
    ]

    operations: ClassVar[list[Any]] = [
        migrations.CreateModel(
            name="Case",
            fields=[
                ("created_by", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField()),
                ("updated_by", models.CharField(max_length=255)),
                ("updated_at", models.DateTimeField()),
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=255)),
                ("closed", models.BooleanField()),
                ("restricted", models.BooleanField()),
            ],
            options={
                "db_table": "cases",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.CreateModel(
            name="Contact",
            fields=[
                ("created_by", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField()),
                ("updated_by", models.CharField(max_length=255)),
                ("updated_at", models.DateTimeField()),
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=10)),
                ("first_name", models.CharField(max_length=255)),
                ("last_name", models.CharField(max_length=255)),
                ("job_title", models.CharField(max_length=255)),
                ("company_name", models.CharField(max_length=255)),
                ("industry", models.CharField(max_length=255)),
                ("currency", models.CharField(max_length=3, null=True)),
                ("about", models.TextField()),
                ("access", models.CharField(max_length=10)),
            ],
            options={
                "db_table": "contacts",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("created_by", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField()),
                ("updated_by", models.CharField(max_length=255)),
                ("updated_at", models.DateTimeField()),
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("number", models.CharField(max_length=255)),
                ("status", models.CharField(max_length=10)),
                ("issue_date", models.DateField()),
                ("due_date", models.DateField()),
                ("language", models.CharField(max_length=20)),
                ("currency", models.CharField(max_length=3)),
                ("exchange_rate", models.CharField(max_length=40)),
                ("po_number", models.CharField(max_length=255)),
                ("terms", models.TextField()),
                ("notes", models.TextField()),
                ("subtotal_minor", models.BigIntegerField()),
                ("total_minor", models.BigIntegerField()),
            ],
            options={
                "db_table": "invoices",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.CreateModel(
            name="Opportunity",
            fields=[
                ("created_by", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField()),
                ("updated_by", models.CharField(max_length=255)),
                ("updated_at", models.DateTimeField()),
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=255)),
                ("description", models.TextField()),
                ("budget_minor", models.BigIntegerField()),
                ("currency", models.CharField(max_length=3)),
                ("bid_type", models.CharField(max_length=10)),
                ("period_count", models.IntegerField()),
                ("expected_close", models.DateField(null=True)),
                ("actual_close", models.DateField(null=True)),
                ("responsible", models.CharField(max_length=255)),
                ("probability", models.IntegerField()),
                ("restricted", models.BooleanField()),
                ("project_ref", models.CharField(max_length=255, null=True)),
            ],
            options={
                "verbose_name_plural": "opportunities",
                "db_table": "opportunities",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.CreateModel(
            name="Task",
            fields=[
                ("created_by", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField()),
                ("updated_by", models.CharField(max_length=255)),
                ("updated_at", models.DateTimeField()),
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=255)),
                ("description", models.TextField()),
                ("due_at", models.DateTimeField()),
                ("responsible", models.CharField(max_length=255)),
                ("alert_minutes", models.IntegerField()),
                ("remind_at", models.DateTimeField(null=True)),
                ("reminded_at", models.DateTimeField(null=True)),
                ("closed", models.BooleanField()),
                ("closed_at", models.DateTimeField(null=True)),
            ],
            options={
                "db_table": "tasks",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
