"""opencrm's records live in its own tables, written by opencrm only.

The app declares unmanaged models: :class:`CRMAccess` carries the ``opencrm.crm_admin``
permission (grant it to make a user or group CRM admins; superusers always are), and
:class:`Contact`, :class:`Opportunity`, :class:`Case`, :class:`Task` and :class:`Invoice`
mirror the main columns of opencrm's tables, read-only, so that a host's model can point
at a CRM record::

    contact = models.ForeignKey(
        "opencrm.Contact", on_delete=models.DO_NOTHING, db_constraint=False
    )

They bypass opencrm's access rules (who may see which record): read them in host code
that decides that itself, and change records through the CRM (``get_crm().session(user)``),
never through these models: ``save()``, ``delete()`` and the queryset's bulk writes raise.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.db import models
from django.db.utils import NotSupportedError

__all__ = ["CRMAccess", "Case", "Contact", "Invoice", "Opportunity", "Task"]


class CRMAccess(models.Model):
    """Holds the app's permissions; it has no table and no rows."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = (("crm_admin", "Is a CRM admin (sees and manages every record)"),)
        verbose_name = "CRM access"


def _read_only(what: str) -> NoReturn:
    raise NotSupportedError(
        f"{what}: opencrm's records are read-only in Django; change them through the CRM "
        "(opencrm_django.get_crm().session(user))"
    )


class ReadOnlyQuerySet(models.QuerySet):
    """A queryset whose writes raise (``update``, ``delete`` and the bulk writes)."""

    def update(self, **kwargs: Any) -> NoReturn:
        _read_only(f"{self.model.__name__}.objects.update()")

    def delete(self) -> NoReturn:
        _read_only(f"{self.model.__name__}.objects.delete()")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _read_only(f"{self.model.__name__}.objects.bulk_create()")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _read_only(f"{self.model.__name__}.objects.bulk_update()")


class ReadOnlyModel(models.Model):
    """An unmanaged mirror of one of opencrm's tables; ``save()`` and ``delete()`` raise."""

    objects: ClassVar[Any] = ReadOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        managed = False

    def save(self, *args: Any, **kwargs: Any) -> NoReturn:
        _read_only(f"{type(self).__name__}.save()")

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _read_only(f"{type(self).__name__}.delete()")


def _link(to: str, column: str, related_name: str, *, null: bool = True) -> Any:
    """A foreign key of one mirrored table to another: no constraint of Django's, no
    cascade (opencrm's own foreign keys do that)."""
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_column=column,
        null=null,
        related_name=related_name,
    )


class _Stamped(ReadOnlyModel):
    """Who created and last changed a record, and when (user ids of the user directory)."""

    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    updated_by = models.CharField(max_length=255)
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True
        managed = False


class Contact(_Stamped):
    """A person or a company (``kind``); a person's ``company`` is another contact."""

    id = models.AutoField(primary_key=True)
    kind = models.CharField(max_length=10)
    first_name = models.CharField(max_length=255)
    last_name = models.CharField(max_length=255)
    job_title = models.CharField(max_length=255)
    company_name = models.CharField(max_length=255)
    industry = models.CharField(max_length=255)
    company = _link("self", "company_id", "employees")
    currency = models.CharField(max_length=3, null=True)
    about = models.TextField()
    access = models.CharField(max_length=10)

    class Meta:
        managed = False
        db_table = "contacts"
        default_permissions = ("view",)

    def __str__(self) -> str:
        if self.kind == "company":
            return str(self.company_name)
        return f"{self.first_name} {self.last_name}".strip()


class Opportunity(_Stamped):
    """A sales opportunity; ``budget_minor`` is the budget in the currency's minor units."""

    id = models.AutoField(primary_key=True)
    title = models.CharField(max_length=255)
    description = models.TextField()
    contact = _link("opencrm.Contact", "contact_id", "opportunities")
    budget_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    bid_type = models.CharField(max_length=10)
    period_count = models.IntegerField()
    expected_close = models.DateField(null=True)
    actual_close = models.DateField(null=True)
    responsible = models.CharField(max_length=255)
    probability = models.IntegerField()
    restricted = models.BooleanField()
    project_ref = models.CharField(max_length=255, null=True)

    class Meta:
        managed = False
        db_table = "opportunities"
        default_permissions = ("view",)
        verbose_name_plural = "opportunities"

    def __str__(self) -> str:
        return str(self.title)


class Case(_Stamped):
    """A case (project); ``restricted`` ones are seen only by their members."""

    id = models.AutoField(primary_key=True)
    title = models.CharField(max_length=255)
    closed = models.BooleanField()
    restricted = models.BooleanField()

    class Meta:
        managed = False
        db_table = "cases"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return str(self.title)


class Task(_Stamped):
    """A task, due at ``due_at``, of a contact and an opportunity or a case."""

    id = models.AutoField(primary_key=True)
    title = models.CharField(max_length=255)
    description = models.TextField()
    due_at = models.DateTimeField()
    responsible = models.CharField(max_length=255)
    contact = _link("opencrm.Contact", "contact_id", "tasks")
    opportunity = _link("opencrm.Opportunity", "opportunity_id", "tasks")
    case = _link("opencrm.Case", "case_id", "tasks")
    alert_minutes = models.IntegerField()
    remind_at = models.DateTimeField(null=True)
    reminded_at = models.DateTimeField(null=True)
    closed = models.BooleanField()
    closed_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "tasks"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return str(self.title)


class Invoice(_Stamped):
    """An invoice; amounts are in the currency's minor units, ``exchange_rate`` is a
    decimal number as text (exact)."""

    id = models.AutoField(primary_key=True)
    number = models.CharField(max_length=255)
    status = models.CharField(max_length=10)
    issue_date = models.DateField()
    due_date = models.DateField()
    client = _link("opencrm.Contact", "client_id", "invoices", null=False)
    consignee = _link("opencrm.Contact", "consignee_id", "consigned_invoices")
    opportunity = _link("opencrm.Opportunity", "opportunity_id", "invoices")
    language = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    exchange_rate = models.CharField(max_length=40)
    po_number = models.CharField(max_length=255)
    terms = models.TextField()
    notes = models.TextField()
    subtotal_minor = models.BigIntegerField()
    total_minor = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "invoices"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return str(self.number)
