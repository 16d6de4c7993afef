"""The shop's one view: the signed-in user's orders, and placing one for a CRM contact."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods
from opencrm import NotFound
from opencrm_django import get_crm
from opencrm_django.runtime import user_adapter

from shop.models import Order


@login_required
@require_http_methods(["GET", "POST"])
def orders(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        data = json.loads(request.body)
        # Read the customer through the CRM as this user, so opencrm's access rules apply
        # (the mirrored model would show private contacts too).
        crm = get_crm().session(user_adapter().user_for(request))
        try:
            customer = crm.contacts.get(int(data["customer"]))
        except NotFound:
            return JsonResponse({"error": "no such customer"}, status=404)
        order = Order.objects.create(
            customer_id=customer.id, item=str(data["item"]), placed_by=request.user
        )
        return JsonResponse(_order(order), status=201)
    mine = Order.objects.filter(placed_by=request.user).select_related("customer")
    return JsonResponse({"items": [_order(order) for order in mine]})


def _order(order: Order) -> dict[str, object]:
    return {
        "id": order.pk,
        "item": order.item,
        "customer": {"id": order.customer_id, "name": str(order.customer)},
    }
