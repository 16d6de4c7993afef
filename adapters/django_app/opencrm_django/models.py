"""opencrm's records live in its own tables, written by opencrm only; the app declares
one unmanaged model here, to carry the ``opencrm.crm_admin`` permission (grant it to make a
user or group CRM admins; superusers always are)."""

from __future__ import annotations

from django.db import models


class CRMAccess(models.Model):
    """Holds the app's permissions; it has no table and no rows."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = (("crm_admin", "Is a CRM admin (sees and manages every record)"),)
        verbose_name = "CRM access"
