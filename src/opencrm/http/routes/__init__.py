"""Every built-in route, grouped by area (one module each)."""

from __future__ import annotations

from opencrm.http._api import Route
from opencrm.http.routes import contacts, docs, lists, settings

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = (
    *docs.ROUTES,
    *contacts.ROUTES,
    *lists.ROUTES,
    *settings.ROUTES,
)
