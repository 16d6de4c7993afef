"""The shop's one view: the signed-in user's orders, and placing one for a CRM contact."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods
from opencrm import NotFound, ValidationError
from opencrm_django import get_crm
from opencrm_django.runtime import user_adapter

from shop.models import Order


class NoItem(Exception):
    pass


@login_required
@require_http_methods(["GET", "POST"])
def orders(request: HttpRequest) -> JsonResponse:
    """GET: my orders. POST ``{"customer": CONTACT_ID, "item": ...}`` places an order for a
    CRM contact; ``{"new_customer": {"first_name": ..., "last_name": ...}, "item": ...}``
    adds the customer to the CRM and places the order in one transaction: when the order
    is refused, the new contact is rolled back with it."""
    if request.method == "POST":
        data = json.loads(request.body)
        item = str(data.get("item", "")).strip()
        # Through the CRM as this user, so opencrm's access rules apply (the mirrored
        # model would show private contacts too).
        crm = get_crm().session(user_adapter().user_for(request))
        try:
            with transaction.atomic():  # a CRM call inside joins this transaction
                if "new_customer" in data:
                    new = data["new_customer"]
                    customer = crm.contacts.add_person(
                        new.get("first_name"), new.get("last_name", "")
                    )
                else:
                    customer = crm.contacts.get(int(data["customer"]))
                if not item:
                    raise NoItem
                order = Order.objects.create(
                    customer_id=customer.id, item=item, placed_by=request.user
                )
        except NotFound:
            return JsonResponse({"error": "no such customer"}, status=404)
        except ValidationError as exc:
            return JsonResponse({"error": "bad customer", "fields": exc.errors}, status=422)
        except NoItem:
            return JsonResponse({"error": "an order needs an item"}, status=400)
        return JsonResponse(_order(order), status=201)
    mine = Order.objects.filter(placed_by=request.user).select_related("customer")
    return JsonResponse({"items": [_order(order) for order in mine]})


def _order(order: Order) -> dict[str, object]:
    return {
        "id": order.pk,
        "item": order.item,
        "customer": {"id": order.customer_id, "name": str(order.customer)},
    }
