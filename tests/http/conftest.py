"""HTTP tests: one set of tests, run through each adapter's own test client, on every
storage backend.

``api`` is a :class:`~crm_client.Client` acting as ``alice`` by default; ``api.as_("bob")``
acts as another user and ``api.as_(None)`` as nobody. Every reply has ``status``,
``headers``, ``json`` and ``body``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_client import Client, flask_app

from opencrm import CRM, LocalFileStore, OutboxNotifier, User


@pytest.fixture(params=["flask"])
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
    else:  # pragma: no cover - the Django adapter comes with its own issue
        raise AssertionError(adapter)
