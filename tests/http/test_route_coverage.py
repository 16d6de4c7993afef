"""Every public method of every service on Session is reachable over HTTP, or is on the short
exclusion list below with the reason. A new capability cannot land without its routes."""

from __future__ import annotations

import inspect

from opencrm import CRM, User
from opencrm.http.routes import ROUTES

#: Service methods with no route of their own, and why.
EXCLUDED: dict[str, str] = {
    "invoices.document": "the renderer's input for plugins; HTTP serves it rendered, by the "
    "PDF and HTML routes (invoices.pdf, invoices.html)",
}


def service_methods() -> set[str]:
    crm = CRM.open("sqlite://", load_entrypoints=False)
    try:
        session = crm.session(User(id="x", name="X"))
        found = set()
        for area, service in vars(session).items():
            if area == "user":
                continue
            for name, _ in inspect.getmembers(service, inspect.ismethod):
                if not name.startswith("_"):
                    found.add(f"{area}.{name}")
        return found
    finally:
        crm.close()


def test_every_service_method_has_a_route_or_a_reason() -> None:
    exposed = {name for route in ROUTES for name in route.exposes}
    missing = sorted(service_methods() - exposed - set(EXCLUDED))
    assert missing == [], f"service methods without a route: {missing}"


def test_routes_expose_only_methods_that_exist() -> None:
    methods = service_methods()
    unknown = sorted({n for r in ROUTES for n in r.exposes} - methods)
    assert unknown == []
    assert sorted(set(EXCLUDED) - methods) == []


def test_every_route_is_documented_and_unique() -> None:
    seen = set()
    for route in ROUTES:
        assert route.summary, route.path
        key = (route.method, route.path)
        assert key not in seen, key
        seen.add(key)
        assert route.operation_id not in {r.operation_id for r in ROUTES if r is not route}
