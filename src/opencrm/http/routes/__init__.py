"""Every built-in route, grouped by area (one module each)."""

from __future__ import annotations

from opencrm.http._api import Route
from opencrm.http.routes import activities, contacts, deals, docs, lists, settings

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = (
    *docs.ROUTES,
    *contacts.ROUTES,
    *deals.ROUTES,
    *activities.ROUTES,
    *lists.ROUTES,
    *settings.ROUTES,
)
