"""Read-only admin pages of opencrm's records (imported by the admin's autodiscovery when
``django.contrib.admin`` is installed): staff with the ``view`` permission of a model may
browse it; nobody adds, changes or deletes through the admin (opencrm's rules and history
apply only to changes made through the CRM)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opencrm_django.models import Case, Contact, Invoice, Opportunity, Task

__all__ = ["ReadOnlyAdmin"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows records; every write permission is refused."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ("id", "__str__", "kind", "company_name", "access", "updated_at")
    search_fields = ("first_name", "last_name", "company_name")


@admin.register(Opportunity)
class OpportunityAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "responsible", "currency", "probability", "updated_at")
    search_fields = ("title",)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "closed", "updated_at")
    search_fields = ("title",)


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "responsible", "due_at", "closed")
    search_fields = ("title",)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("id", "number", "status", "issue_date", "currency", "total_minor")
    search_fields = ("number",)
