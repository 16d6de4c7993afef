"""The URLs of the tests' Django project: opencrm mounted at /crm/, one host view."""

from __future__ import annotations

from django.urls import include, path

import django_host_views

urlpatterns = [
    path("crm/", include("opencrm_django.urls")),
    path("host/contact-and-note/", django_host_views.contact_and_note),
]
