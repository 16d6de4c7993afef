"""The URLs of the tests' Django project: opencrm mounted at /crm/, one host view, the
admin (opencrm's read-only pages)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

import django_host_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("crm/", include("opencrm_django.urls")),
    path("host/contact-and-note/", django_host_views.contact_and_note),
]
