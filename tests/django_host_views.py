"""Host views of the tests' Django project: host rows and CRM records in one request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from opencrm_django import get_crm
from opencrm_django.runtime import user_adapter

from opencrm import OpenCRMError


def contact_and_note(request: HttpRequest) -> JsonResponse:
    """A host row, then a CRM contact, in one request. ``?mode=`` says how:

    - ``plain``: the host writes in autocommit (Django's default), then calls the CRM;
    - ``on_commit``: the host writes inside ``atomic()`` and defers the CRM call to
      ``transaction.on_commit``;
    - ``joined``: inside ``atomic()`` the host writes a row, calls the CRM (which joins the
      block), and the block commits;
    - ``fail``: as ``joined``, but the host view then fails: the block rolls back;
    - ``crm_fails``: inside ``atomic()`` the host writes a row and calls the CRM, which
      fails (a plugin makes it); the host catches the error, writes a second row, and the
      block commits.
    """
    user = user_adapter().user_for(request)
    assert user is not None
    crm = get_crm().session(user)
    mode = request.GET["mode"]
    db = settings.OPENCRM_DATABASE_ALIAS  # the host's rows go in the CRM's database
    groups = Group.objects.using(db)
    made: dict[str, Any] = {}

    def add_contact() -> None:
        made["contact"] = crm.contacts.add_person(first_name="Hosted", last_name=mode).id

    if mode == "plain":
        made["group"] = groups.create(name=f"host-{mode}").pk
        add_contact()
    elif mode == "on_commit":
        with transaction.atomic(using=db):
            made["group"] = groups.create(name=f"host-{mode}").pk
            transaction.on_commit(add_contact, using=db)
    elif mode == "joined":
        with transaction.atomic(using=db):
            made["group"] = groups.create(name=f"host-{mode}").pk
            add_contact()
    elif mode == "fail":
        try:
            with transaction.atomic(using=db):
                groups.create(name=f"host-{mode}")
                add_contact()
                raise RuntimeError("the host view fails")
        except RuntimeError:
            pass
    else:
        with transaction.atomic(using=db):
            made["group"] = groups.create(name=f"host-{mode}").pk
            try:
                add_contact()
            except OpenCRMError as exc:
                made["error"] = type(exc).__name__
            made["second_group"] = groups.create(name=f"host-{mode}-after").pk
    return JsonResponse(made, status=201)
