"""The Django app of opencrm (label ``opencrm``)."""

from __future__ import annotations

from django.apps import AppConfig


class OpenCRMConfig(AppConfig):
    name = "opencrm_django"
    label = "opencrm"
    verbose_name = "opencrm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks and the settings receiver; nothing else (no
        database access, no CRM opened: that happens on first use)."""
        from django.core import checks
        from django.core.signals import setting_changed

        from opencrm_django.checks import check_settings
        from opencrm_django.receivers import settings_changed

        checks.register(check_settings, "opencrm")
        setting_changed.connect(settings_changed, dispatch_uid="opencrm_settings_changed")
