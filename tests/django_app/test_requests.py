"""Requests through the Django app with Django's own users, sessions and CSRF, the CRM
opened on the project's database (alias ``default`` = SQLite, ``postgresql``)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.models import User as DjangoUser
from django.db import connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from opencrm_django import get_crm
from opencrm_django.runtime import get_api, user_adapter
from opencrm_django.views import csrf_exempt_routes

from opencrm import User


def _person(client: Client, first_name: str, **extra: object) -> object:
    return client.post(
        "/crm/persons",
        json.dumps({"first_name": first_name}),
        content_type="application/json",
        **extra,
    )


def _stored_first_names(alias: str, last_name: str) -> list[str]:
    """Read through Django's own connection: the CRM wrote into the project's database."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT first_name FROM contacts WHERE last_name = %s", [last_name])
        return sorted(r[0] for r in cursor.fetchall())


@pytest.fixture
def ann(alias: str) -> DjangoUser:
    user = DjangoUser.objects.create_user(
        "ann", "ann@example.org", "pw", first_name="Ann", last_name="Lee"
    )
    user.groups.add(Group.objects.create(name="sales"))
    return user


def test_a_logged_in_user_creates_and_lists_contacts_in_the_projects_database(
    alias: str, ann: DjangoUser
) -> None:
    client = Client(HTTP_HOST="localhost")
    client.force_login(ann)
    created = client.post(
        "/crm/persons",
        json.dumps({"first_name": "Zed", "last_name": f"Django-{alias}"}),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.headers["Location"] == f"/crm/contacts/{created.json()['id']}"
    assert created.json()["created_by"] == str(ann.pk)
    listed = client.get("/crm/contacts", {"text": "Zed"})
    assert [c["first_name"] for c in listed.json()["items"]] == ["Zed"]
    assert _stored_first_names(alias, f"Django-{alias}") == ["Zed"]


def test_anonymous_requests_are_403_except_the_public_docs(alias: str) -> None:
    client = Client(HTTP_HOST="localhost")
    refused = client.get("/crm/contacts")
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "unauthenticated"
    assert _person(client, "Anon").status_code == 403
    assert client.get("/crm/openapi.json").status_code == 200


def test_csrf_session_writes_need_djangos_token(alias: str, ann: DjangoUser) -> None:
    client = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")
    client.force_login(ann)
    refused = _person(client, "Forged")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf"
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    assert (
        _person(client, "Wrong", headers={"X-CSRFToken": _get_new_csrf_string()}).status_code == 403
    )
    accepted = _person(client, "Real", headers={"X-CSRFToken": token})
    assert accepted.status_code == 201, accepted.content
    assert client.get("/crm/contacts").status_code == 200  # reads need no token
    names = [c["first_name"] for c in client.get("/crm/contacts").json()["items"]]
    assert "Forged" not in names
    assert "Real" in names


def test_routes_exempt_from_csrf_are_listed_in_one_place(alias: str) -> None:
    """Only public routes that change data take writes without Django's token: the
    telephony webhooks, which no browser session sends and which prove themselves with the
    provider's signature."""
    assert csrf_exempt_routes(get_api()) == [
        ("POST", "/voip/webhooks/{kind}"),
        ("POST", "/web-forms/post"),
    ]


def test_the_default_user_adapter_maps_django_users(alias: str, ann: DjangoUser) -> None:
    admin = DjangoUser.objects.create_superuser("root", "root@example.org", "pw")
    manager = DjangoUser.objects.create_user("max", "")
    manager.user_permissions.add(Permission.objects.get(codename="crm_admin"))
    adapter = user_adapter()
    assert adapter.to_crm_user(ann) == User(
        id=str(ann.pk), name="Ann Lee", email="ann@example.org", groups=frozenset({"sales"})
    )
    assert adapter.to_crm_user(admin) == User(
        id=str(admin.pk), name="root", email="root@example.org", crm_admin=True
    )
    manager = DjangoUser.objects.get(pk=manager.pk)  # permissions are cached per instance
    assert adapter.to_crm_user(manager) == User(id=str(manager.pk), name="max", crm_admin=True)
    directory = get_crm().directory
    assert directory is not None
    assert directory.get(str(ann.pk)) == adapter.to_crm_user(ann)
    assert directory.get("not-a-number") is None
    assert directory.get("999999") is None
    DjangoUser.objects.filter(pk=admin.pk).update(is_active=False)
    assert set(directory.get_many([str(ann.pk), str(admin.pk), "x"])) == {str(ann.pk)}
