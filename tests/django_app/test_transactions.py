"""CRM calls do not join the host's transaction: the CRM commits each call on its own
connection. What that means for a host view, on SQLite and PostgreSQL (see the transactions
section of the Django guide)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.models import User as DjangoUser
from django.test import Client
from django.urls import resolve
from opencrm_django import get_crm
from opencrm_django.runtime import user_adapter


@pytest.fixture
def client(alias: str) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(DjangoUser.objects.create_user("host", ""))
    return client


def _contacts(last_name: str) -> list[str]:
    session = get_crm().session(user_adapter().to_crm_user(DjangoUser.objects.get()))
    return [c.first_name for c in session.contacts.list(text=last_name)]


def test_a_host_write_then_a_crm_write_in_one_request(alias: str, client: Client) -> None:
    """Django's default autocommit: the host's row is committed before the CRM writes, so
    on SQLite the CRM's write transaction finds the database free (no lock wait)."""
    reply = client.get("/host/contact-and-note/", {"mode": "plain"})
    assert reply.status_code == 201, reply.content
    assert Group.objects.using(alias).filter(pk=reply.json()["group"]).exists()
    assert _contacts("plain") == ["Hosted"]


def test_inside_atomic_the_crm_write_goes_in_on_commit(alias: str, client: Client) -> None:
    """The documented pattern in a host's atomic() block: the CRM call runs once the
    host's transaction has committed (and not at all when it rolls back)."""
    reply = client.get("/host/contact-and-note/", {"mode": "on_commit"})
    assert reply.status_code == 201, reply.content
    assert Group.objects.using(alias).filter(pk=reply.json()["group"]).exists()
    assert _contacts("on_commit") == ["Hosted"]


def test_a_failing_host_transaction_does_not_undo_a_crm_call(alias: str, client: Client) -> None:
    """Not joined: the CRM committed its call; the host's rolled-back rows are gone."""
    reply = client.get("/host/contact-and-note/", {"mode": "fail"})
    assert reply.status_code == 201, reply.content
    assert not Group.objects.using(alias).filter(name="host-fail").exists()
    assert _contacts("fail") == ["Hosted"]


def test_the_api_view_is_never_wrapped_by_atomic_requests() -> None:
    """With ATOMIC_REQUESTS, Django would hold a transaction around the view that the
    CRM's own connection cannot join (and on SQLite, one that a host middleware's write
    would turn into a lock the CRM waits for)."""
    resolved = resolve("/crm/contacts")
    assert all(alias in resolved.func._non_atomic_requests for alias in settings.DATABASES)
