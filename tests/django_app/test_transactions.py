"""A CRM call made inside the host's ``transaction.atomic()`` joins it (a savepoint on
Django's connection); outside one, it commits on its own. On SQLite and PostgreSQL (see the
transactions section of the Django guide)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.models import User as DjangoUser
from django.db import connections, transaction
from django.test import Client, override_settings
from django.urls import resolve
from opencrm_django import conf, get_crm, runtime
from opencrm_django.runtime import user_adapter

from opencrm import Event, hookimpl


class Recorder:
    """Records the events whose reactions ran; with ``fail`` set, makes every CRM call
    fail in the database after its writes (a statement the database refuses)."""

    def __init__(self) -> None:
        self.reacted: list[tuple[str, str]] = []
        self.fail = False

    @hookimpl
    def opencrm_before_commit(self, crm: Any, uow: Any, events: Any) -> None:
        if self.fail:
            uow.connection.exec_driver_sql("SELECT no_such_column FROM contacts")

    @hookimpl
    def opencrm_event_committed(self, event: Event) -> None:
        self.reacted.append((event.name, event.entity.last_name))  # type: ignore[attr-defined]


@pytest.fixture
def recorder(alias: str) -> Iterator[Recorder]:
    plugin = Recorder()
    with override_settings(OPENCRM_CRM_OPTIONS={"plugins": [plugin], "load_entrypoints": False}):
        yield plugin


@pytest.fixture
def client(alias: str, recorder: Recorder) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(DjangoUser.objects.create_user("host", ""))
    return client


def _contacts(last_name: str) -> list[str]:
    session = get_crm().session(user_adapter().to_crm_user(DjangoUser.objects.get()))
    return [c.first_name for c in session.contacts.list(text=last_name)]


def _groups(alias: str) -> list[str]:
    return sorted(Group.objects.using(alias).values_list("name", flat=True))


def test_a_host_write_then_a_crm_write_in_autocommit(
    alias: str, client: Client, recorder: Recorder
) -> None:
    """Django's default autocommit: the host's row is committed before the CRM writes in a
    transaction of its own (on SQLite, it finds the database free: no lock wait)."""
    reply = client.get("/host/contact-and-note/", {"mode": "plain"})
    assert reply.status_code == 201, reply.content
    assert _groups(alias) == ["host-plain"]
    assert _contacts("plain") == ["Hosted"]
    assert recorder.reacted == [("contact.created", "plain")]


def test_a_crm_call_inside_atomic_commits_with_the_host(
    alias: str, client: Client, recorder: Recorder
) -> None:
    """Host write, then CRM write, in one atomic() block: no lock wait on SQLite (one
    connection), both committed; the plugin reaction ran after the commit."""
    reply = client.get("/host/contact-and-note/", {"mode": "joined"})
    assert reply.status_code == 201, reply.content
    assert _groups(alias) == ["host-joined"]
    assert _contacts("joined") == ["Hosted"]
    assert recorder.reacted == [("contact.created", "joined")]


def test_a_failing_host_transaction_undoes_the_crm_call(
    alias: str, client: Client, recorder: Recorder
) -> None:
    """The block rolls back: the host's row and the CRM's contact are gone, and no plugin
    heard of a contact that never was."""
    reply = client.get("/host/contact-and-note/", {"mode": "fail"})
    assert reply.status_code == 201, reply.content
    assert list(reply.json()) == ["contact"]  # the CRM made it, in the block
    assert _groups(alias) == []
    assert _contacts("fail") == []
    assert recorder.reacted == []


def test_a_failing_crm_call_rolls_back_only_its_savepoint(
    alias: str, client: Client, recorder: Recorder
) -> None:
    """The CRM call fails in the database after writing (on PostgreSQL that aborts the
    transaction): its savepoint is rolled back, the host's block goes on and commits."""
    recorder.fail = True
    reply = client.get("/host/contact-and-note/", {"mode": "crm_fails"})
    assert reply.status_code == 201, reply.content
    assert reply.json()["error"] == "StorageError"
    assert _groups(alias) == ["host-crm_fails", "host-crm_fails-after"]
    recorder.fail = False
    assert _contacts("crm_fails") == []
    assert recorder.reacted == []


def test_the_on_commit_pattern_still_works(alias: str, client: Client, recorder: Recorder) -> None:
    """A CRM call deferred with transaction.on_commit runs after the block, on its own."""
    reply = client.get("/host/contact-and-note/", {"mode": "on_commit"})
    assert reply.status_code == 201, reply.content
    assert _groups(alias) == ["host-on_commit"]
    assert _contacts("on_commit") == ["Hosted"]


def test_a_joined_call_reads_the_host_rows_of_the_open_block(
    alias: str, client: Client, recorder: Recorder
) -> None:
    """Inside the block the CRM sees what the host wrote but did not commit yet: a user
    created in the block can be made the contact's manager (the user directory and the
    CRM read through the same transaction)."""
    host = DjangoUser.objects.get()
    crm_user = user_adapter().to_crm_user(host)
    # (the tests' auth tables are in "default", the CRM in ``alias``: a block on each)
    with transaction.atomic(using=alias), transaction.atomic(using="default"):
        colleague = DjangoUser.objects.create_user("colleague", "")
        contact = (
            get_crm()
            .session(crm_user)
            .contacts.add_person("Shared", "Row", managers={crm_user.id, str(colleague.pk)})
        )
        assert recorder.reacted == []  # not before the host commits
    assert sorted(contact.managers) == sorted({crm_user.id, str(colleague.pk)})
    assert recorder.reacted == [("contact.created", "Row"), ("contact.access_changed", "Row")]


def test_django_connection_is_left_as_it_was(alias: str, recorder: Recorder) -> None:
    """Joining neither commits, ends nor closes Django's connection, nor changes its
    functions: the block goes on with Django's own queries after the CRM call."""
    DjangoUser.objects.create_user("host", "")
    crm_user = user_adapter().to_crm_user(DjangoUser.objects.get())
    conn = connections[alias]
    with transaction.atomic(using=alias):
        Group.objects.using(alias).create(name="before")
        raw = conn.connection
        get_crm().session(crm_user).contacts.add_person("Kept", "Open")
        assert conn.connection is raw
        assert conn.in_atomic_block
        assert Group.objects.using(alias).filter(name__regex=r"^bef").count() == 1
        transaction.set_rollback(True, using=alias)
    assert _groups(alias) == []
    assert _contacts("Open") == []
    assert recorder.reacted == []


@pytest.fixture(
    params=[
        pytest.param("default", marks=pytest.mark.django_db(databases=["default"]), id="sqlite"),
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.django_db(databases=["default", "postgresql"]),
                pytest.mark.postgresql,
            ],
            id="postgresql",
        ),
    ]
)
def in_test_transaction(request: pytest.FixtureRequest) -> Iterator[str]:
    """The CRM on this alias, in a test that Django wraps in a transaction (TestCase)."""
    with override_settings(OPENCRM_DATABASE_ALIAS=request.param):
        runtime.use_crm(None)
        try:
            yield str(request.param)
        finally:
            runtime.reset()


def test_api_requests_in_a_django_test_case_join_its_transaction(in_test_transaction: str) -> None:
    """A host's TestCase-style test: Django holds a transaction around the test and rolls
    it back afterwards. API requests join it, after a host write (no lock wait on SQLite),
    and what they write is in that transaction only."""
    alias = in_test_transaction
    conn = connections[alias]
    assert conn.in_atomic_block
    user = DjangoUser.objects.create_user("tester", "")
    Group.objects.using(alias).create(name="host-row")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    created = client.post(
        "/crm/persons",
        json.dumps({"first_name": "In", "last_name": "Test"}),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    listed = client.get("/crm/contacts", {"text": "Test"})
    assert [c["first_name"] for c in listed.json()["items"]] == ["In"]
    with conn.cursor() as cursor:
        cursor.execute("SELECT first_name FROM contacts WHERE last_name = %s", ["Test"])
        assert cursor.fetchall() == [("In",)]
    with get_crm().engine.connect() as own:  # opencrm's own connection: not committed
        count = "SELECT count(*) FROM contacts WHERE last_name = 'Test'"
        assert own.exec_driver_sql(count).scalar() == 0


def test_the_api_view_is_never_wrapped_by_atomic_requests() -> None:
    """With ATOMIC_REQUESTS, every API call would join a transaction Django holds around
    the view; the API commits each call itself, as in Flask."""
    resolved = resolve("/crm/contacts")
    assert all(alias in resolved.func._non_atomic_requests for alias in settings.DATABASES)


def test_the_crm_options_may_not_replace_the_host_transaction() -> None:
    with override_settings(OPENCRM_CRM_OPTIONS={"outer_transaction": None}):
        assert conf.problems() == [
            ("OPENCRM_CRM_OPTIONS", "may not set outer_transaction: the app sets it")
        ]
