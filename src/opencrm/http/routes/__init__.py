"""Every built-in route, grouped by area (one module each)."""

from __future__ import annotations

from opencrm.http._api import Route
from opencrm.http.routes import (
    activities,
    contact_bulk,
    contacts,
    currencies,
    deals,
    docs,
    imports,
    invoices,
    jobs,
    lists,
    mass_mail,
    products,
    reports,
    search,
    settings,
    taxes,
    voip,
    web_forms,
)

__all__ = ["ROUTES"]

# The order is the order of the OpenAPI document; matching does not depend on it (a fixed
# path segment wins over a {parameter}, see API).
ROUTES: tuple[Route, ...] = (
    *docs.ROUTES,
    *contact_bulk.ROUTES,
    *contacts.ROUTES,
    *deals.ROUTES,
    *activities.ROUTES,
    *lists.ROUTES,
    *invoices.ROUTES,
    *products.ROUTES,
    *taxes.ROUTES,
    *currencies.ROUTES,
    *settings.ROUTES,
    *voip.ROUTES,
    *jobs.ROUTES,
    *imports.ROUTES,
    *reports.ROUTES,
    *mass_mail.ROUTES,
    *search.ROUTES,
    *web_forms.ROUTES,
)
