"""The Django app's own tests, in the tests' Django project (django_settings.py).

``alias`` is the ``DATABASES`` alias the CRM opens on, parametrized over SQLite (``default``)
and PostgreSQL (``postgresql``); the auth tables and sessions stay in ``default``. Tests that
write through both Django and the CRM are transactional (``transaction=True``): the CRM has
its own connections and must see what Django committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")

import django
import pytest
from django.apps import apps

if not apps.ready:
    django.setup()

from django.test import override_settings
from opencrm_django import runtime


def _on(alias: str) -> object:
    return pytest.mark.django_db(databases=sorted({"default", alias}), transaction=True)


@pytest.fixture(
    params=[
        pytest.param("default", marks=_on("default"), id="sqlite"),
        pytest.param(
            "postgresql", marks=[_on("postgresql"), pytest.mark.postgresql], id="postgresql"
        ),
    ]
)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """The CRM opens on this alias, from the settings, as in a project."""
    with override_settings(OPENCRM_DATABASE_ALIAS=request.param):
        runtime.use_crm(None)
        try:
            yield str(request.param)
        finally:
            runtime.reset()
