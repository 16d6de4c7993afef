"""Global search over HTTP: ranked hits of every kind, permission-filtered, paged."""

from __future__ import annotations


def _add(api, path, **body):  # type: ignore[no-untyped-def]
    reply = api.post(path, json=body)
    assert reply.status == 201, reply.body
    return reply.json["id"]


def test_search_returns_ranked_hits_and_pages_with_next_links(api) -> None:  # type: ignore[no-untyped-def]
    pump = _add(api, "/companies", name="Pump", access="read")
    secret = _add(api, "/companies", name="Secret pumps", access="private")
    deal = _add(api, "/opportunities", title="New pump line")
    case = _add(api, "/cases", title="Pump broken")
    page = api.get("/search", query={"q": "PUMP", "limit": "2"})
    assert page.status == 200
    assert page.json["items"] == [
        {"kind": "contact", "id": pump, "label": "Pump", "snippet": "", "rank": 3},
        {"kind": "case", "id": case, "label": "Pump broken", "snippet": "", "rank": 2},
    ]
    nxt = page.json["next"]
    assert nxt.startswith("/crm/search?")
    rest = api.get(nxt.removeprefix("/crm"))
    assert [(h["kind"], h["id"]) for h in rest.json["items"]] == [
        ("contact", secret),
        ("opportunity", deal),
    ]
    assert rest.json["next"] is None
    # bob may not read alice's private company
    found = api.as_("bob").get("/search", query={"q": "pump", "kinds": "contact,case"})
    assert [(h["kind"], h["id"]) for h in found.json["items"]] == [
        ("contact", pump),
        ("case", case),
    ]


def test_bad_search_queries_are_422_naming_the_parameter(api) -> None:  # type: ignore[no-untyped-def]
    for query, field in (
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 256}, "q"),
        ({"q": "pump", "kinds": "deal"}, "kinds"),
        ({"q": "pump", "after": "forged"}, "after"),
        ({"q": "pump", "limit": "0"}, "limit"),
    ):
        reply = api.get("/search", query=query)
        assert reply.status == 422, (query, reply.body)
        assert [e["field"] for e in reply.problem["errors"]] == [field], query
