"""Every built-in route, grouped by area (one module each)."""

from __future__ import annotations

from opencrm.http._api import Route
from opencrm.http.routes import contacts, currencies, invoices, products, taxes

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = (
    *contacts.ROUTES,
    *invoices.ROUTES,
    *products.ROUTES,
    *taxes.ROUTES,
    *currencies.ROUTES,
)
