"""The read-only Django models mirroring opencrm's main tables, and their admin pages."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from django.contrib.auth.models import User as DjangoUser
from django.core.management import call_command
from django.db import connections, models
from django.db.utils import NotSupportedError
from django.test import Client
from opencrm_django import get_crm, runtime
from opencrm_django.models import Case, Contact, Invoice, Opportunity, Task
from opencrm_django.runtime import user_adapter

from opencrm.storage.sqlalchemy import tables
from opencrm.storage.sqlalchemy.types import JSONText, UTCDateTime

MIRRORS = [Contact, Opportunity, Case, Task, Invoice]


def _column_kind(column: sa.Column[object]) -> str:
    kinds: list[tuple[type[object], str]] = [
        (UTCDateTime, "datetime"),
        (JSONText, "json"),
        (sa.BigInteger, "bigint"),  # before Integer: a subclass of it
        (sa.Integer, "int"),
        (sa.Text, "text"),  # before String: a subclass of it
        (sa.String, "str"),
        (sa.Boolean, "bool"),
        (sa.Date, "date"),
    ]
    return next(kind for cls, kind in kinds if isinstance(column.type, cls))


def _field_kind(field: models.Field[object, object]) -> str:
    if field.is_relation:
        field = field.target_field
    return {
        "AutoField": "int",
        "IntegerField": "int",
        "BigIntegerField": "bigint",
        "CharField": "str",
        "TextField": "text",
        "BooleanField": "bool",
        "DateField": "date",
        "DateTimeField": "datetime",
    }[field.get_internal_type()]


@pytest.mark.parametrize("model", MIRRORS, ids=lambda m: m.__name__)
def test_a_model_matches_the_table_it_mirrors(model: type[models.Model]) -> None:
    table = tables.metadata.tables[model._meta.db_table]
    assert not model._meta.managed
    assert model._meta.pk.column == "id"
    assert [c.name for c in table.primary_key.columns] == ["id"]
    for field in model._meta.concrete_fields:
        assert field.column in table.c, f"{model.__name__}.{field.name}: no such column"
        column = table.c[field.column]
        assert (field.column, _field_kind(field)) == (field.column, _column_kind(column))
        assert (field.column, field.null) == (field.column, column.nullable)
        if _field_kind(field) == "str":
            assert (field.column, field.max_length) == (field.column, column.type.length)
    if any(f.is_relation for f in model._meta.concrete_fields):
        assert {f.remote_field.on_delete for f in model._meta.concrete_fields if f.is_relation} == {
            models.DO_NOTHING
        }


def test_the_drift_check_catches_a_wrong_type() -> None:
    """The comparison above fails for a field whose type differs from its column's."""
    wrong = models.IntegerField(name="total_minor")
    wrong.set_attributes_from_name("total_minor")
    assert _field_kind(wrong) != _column_kind(tables.invoices.c.total_minor)


def test_a_crm_record_reads_through_the_models(alias: str) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    session = get_crm().session(user_adapter().to_crm_user(alice))
    acme = session.contacts.add_company("Acme")
    ada = session.contacts.add_person(first_name="Ada", last_name="Lovelace", company=acme.id)
    due = dt.datetime(2099, 3, 14, 9, 30, tzinfo=dt.UTC)
    task = session.tasks.add("Call Ada", due, contact=ada.id, alert=15)

    found = Contact.objects.using(alias).get(pk=ada.id)
    assert (found.kind, found.first_name, found.last_name, str(found)) == (
        "person",
        "Ada",
        "Lovelace",
        "Ada Lovelace",
    )
    assert found.company_id == acme.id
    assert found.company.company_name == "Acme"
    assert found.created_by == str(alice.pk)
    assert found.created_at == ada.created_at
    read = Task.objects.using(alias).get(pk=task.id)
    assert (read.title, read.due_at, read.alert_minutes, read.closed) == (
        "Call Ada",
        due,
        15,
        False,
    )
    assert read.remind_at == due - dt.timedelta(minutes=15)
    assert list(found.tasks.values_list("title", flat=True)) == ["Call Ada"]
    companies = Contact.objects.using(alias).filter(kind="company", employees=found)
    assert list(companies) == [found.company]


def test_the_models_refuse_writes(alias: str) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    session = get_crm().session(user_adapter().to_crm_user(alice))
    ada = session.contacts.add_person(first_name="Ada", last_name="Lovelace")
    count = Contact.objects.using(alias).count()
    found = Contact.objects.using(alias).get(pk=ada.id)
    found.first_name = "Eve"
    with pytest.raises(NotSupportedError, match=r"^Contact.save\(\): opencrm's records are"):
        found.save(using=alias)
    with pytest.raises(NotSupportedError, match=r"^Contact.delete\(\)"):
        found.delete(using=alias)
    with pytest.raises(NotSupportedError, match=r"objects.update\(\)"):
        Contact.objects.using(alias).update(first_name="Eve")
    with pytest.raises(NotSupportedError, match=r"objects.delete\(\)"):
        Contact.objects.using(alias).all().delete()
    with pytest.raises(NotSupportedError, match=r"^Contact.save\(\)"):
        Contact.objects.using(alias).create(kind="person", first_name="Eve")
    assert session.contacts.get(ada.id).first_name == "Ada"
    assert Contact.objects.using(alias).count() == count


@pytest.mark.django_db(transaction=True)
def test_the_migration_creates_no_table() -> None:
    """Unmanaged: Django's migrations of the app create and drop nothing."""
    for backwards in (False, True):
        out = io.StringIO()
        call_command("sqlmigrate", "opencrm", "0002", backwards=backwards, stdout=out)
        statements = [line for line in out.getvalue().splitlines() if not line.startswith("--")]
        assert statements == ["BEGIN;", "COMMIT;"]
        assert out.getvalue().count("(no-op)") == 5


@pytest.fixture
def on_default() -> Iterator[None]:
    """The CRM on the ``default`` alias, where the admin reads (SQLite)."""
    runtime.use_crm(None)
    try:
        yield
    finally:
        runtime.reset()


@pytest.mark.django_db(transaction=True)
def test_the_admin_lists_records_and_refuses_writes(on_default: None) -> None:
    assert connections["default"].vendor == "sqlite"
    admin = DjangoUser.objects.create_superuser("admin", "admin@example.com", "pw")
    session = get_crm().session(user_adapter().to_crm_user(admin))
    ada = session.contacts.add_person(first_name="Ada", last_name="Lovelace")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    listing = client.get("/admin/opencrm/contact/")
    assert listing.status_code == 200
    assert b"Ada Lovelace" in listing.content
    assert client.get(f"/admin/opencrm/contact/{ada.id}/change/").status_code == 200
    assert client.get("/admin/opencrm/contact/add/").status_code == 403
    assert client.post(f"/admin/opencrm/contact/{ada.id}/delete/").status_code == 403
    assert client.get("/admin/opencrm/invoice/").status_code == 200
    assert session.contacts.get(ada.id).first_name == "Ada"
