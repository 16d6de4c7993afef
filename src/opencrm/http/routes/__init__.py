"""Every built-in route, grouped by area (one module each)."""

from __future__ import annotations

from opencrm.http._api import Route
from opencrm.http.routes import activities, contacts, deals

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = (*contacts.ROUTES, *deals.ROUTES, *activities.ROUTES)
