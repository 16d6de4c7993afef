"""HTTP tests: one set of tests, run through each adapter's own test client, on every
storage backend.

``api`` is a :class:`~crm_client.Client` acting as ``alice`` by default; ``api.as_("bob")``
acts as another user and ``api.as_(None)`` as nobody. Every reply has ``status``,
``headers``, ``json`` and ``body``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from crm_client import Client, DjangoClient, HeaderUserAdapter, flask_app

from opencrm import CRM, LocalFileStore, OutboxNotifier, User

# The Django variant runs in the tests' Django project (pytest-django reads it lazily).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")


@pytest.fixture(params=["flask", "django"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web_crm(engine, directory, tmp_path) -> CRM:  # type: ignore[no-untyped-def]
    """A CRM with a file store and an outbox, as a host app would open it."""
    return CRM(
        engine,
        load_entrypoints=False,
        directory=directory,
        notifier=OutboxNotifier(),
        file_store=LocalFileStore(tmp_path / "files"),
    )


@pytest.fixture
def api(adapter: str, web_crm: CRM, users: dict[str, User]) -> Iterator[Client]:
    if adapter == "flask":
        app = flask_app(web_crm, users)
        yield Client(app.test_client(), "/crm", "alice", adapter)
    else:
        yield from _django_client(web_crm, users)


def _django_client(crm: CRM, users: dict[str, User]) -> Iterator[Client]:
    """Django's test client on the tests' project, serving ``crm`` (the backend's CRM)."""
    import django
    from django.apps import apps
    from django.test import Client as RawDjangoClient
    from django.test import override_settings
    from opencrm_django import use_crm

    if not apps.ready:
        django.setup()
    HeaderUserAdapter.users = users
    with override_settings(OPENCRM_USER_ADAPTER="crm_client.HeaderUserAdapter"):
        use_crm(crm)
        try:
            yield DjangoClient(RawDjangoClient(HTTP_HOST="localhost"), "/crm", "alice", "django")
        finally:
            use_crm(None)
