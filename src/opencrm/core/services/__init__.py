"""Use cases, one module per area. Each public method is one transaction."""

from opencrm.core.services.contacts import ContactService
from opencrm.core.services.lists import CustomFieldService, ListService, SettingsService

__all__ = ["ContactService", "CustomFieldService", "ListService", "SettingsService"]
