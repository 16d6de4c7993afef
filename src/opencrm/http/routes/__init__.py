"""Every built-in route, grouped by area (one module each)."""

from __future__ import annotations

from opencrm.http._api import Route
from opencrm.http.routes import (
    contacts,
    currencies,
    docs,
    invoices,
    lists,
    products,
    settings,
    taxes,
)

__all__ = ["ROUTES"]

# Routes match in this order: areas with fixed /settings/... paths come before the
# settings area, whose GET /settings/{key} would answer for them.
ROUTES: tuple[Route, ...] = (
    *docs.ROUTES,
    *contacts.ROUTES,
    *lists.ROUTES,
    *invoices.ROUTES,
    *products.ROUTES,
    *taxes.ROUTES,
    *currencies.ROUTES,
    *settings.ROUTES,
)
