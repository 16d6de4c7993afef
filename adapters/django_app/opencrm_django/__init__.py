"""opencrm for Django: the CRM's API, schema and users inside a Django project.

Add ``"opencrm_django"`` to ``INSTALLED_APPS`` (app label ``opencrm``), include
``opencrm_django.urls`` and run ``manage.py migrate``. The settings are documented in
:mod:`opencrm_django.conf`, the checks in :mod:`opencrm_django.checks`.

The app only translates: routing, JSON, errors and the OpenAPI document live in
:mod:`opencrm.http`, storage in opencrm itself (on the project's own database).
"""

from __future__ import annotations

from opencrm_django.runtime import get_crm, use_crm

__all__ = ["get_crm", "use_crm"]
