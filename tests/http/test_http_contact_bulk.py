"""Merging, duplicates and group operations over HTTP, through both adapters."""

from __future__ import annotations


def _person(api, first, **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/persons", json={"first_name": first, **extra})
    assert reply.status == 201, reply.body
    return reply.json


def _company(api, name, **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/companies", json={"name": name, **extra})
    assert reply.status == 201, reply.body
    return reply.json


def test_merge_over_http(api) -> None:  # type: ignore[no-untyped-def]
    keep = _company(api, "Acme Ltd", email="info@acme.example")
    twin = _company(api, "ACME", industry="Tools", tags=["Lead"], phone="+44 20 7946 0018")
    reply = api.post(f"/contacts/{keep['id']}/merge", json={"source": twin["id"]})
    assert reply.status == 200, reply.body
    assert (reply.json["id"], reply.json["industry"], reply.json["tags"]) == (
        keep["id"],
        "Tools",
        ["Lead"],
    )
    assert [i["normalized"] for i in reply.json["infos"]] == ["info@acme.example", "+442079460018"]
    assert api.get(f"/contacts/{twin['id']}").status == 404


def test_merge_bad_inputs_are_problems(api) -> None:  # type: ignore[no-untyped-def]
    mine = _person(api, "Ann")
    itself = api.post(f"/contacts/{mine['id']}/merge", json={"source": mine["id"]})
    assert itself.status == 422
    assert itself.fields() == {"source": "a contact cannot be merged into itself"}
    theirs = api.as_("bob").post(
        "/persons", json={"first_name": "Ben", "access": "read", "managers": ["bob"]}
    )
    denied = api.post(f"/contacts/{theirs.json['id']}/merge", json={"source": mine["id"]})
    assert denied.status == 403
    hidden = api.as_("bob").post("/persons", json={"first_name": "Sam", "managers": ["bob"]})
    missing = api.post(f"/contacts/{mine['id']}/merge", json={"source": hidden.json["id"]})
    assert missing.status == 404
    assert api.post(f"/contacts/{mine['id']}/merge", json={"source": "x"}).status == 422
    assert api.post(f"/contacts/{mine['id']}/merge", json={}).status == 422
    assert api.get(f"/contacts/{mine['id']}").status == 200


def test_duplicates_scan_and_check(api) -> None:  # type: ignore[no-untyped-def]
    a = _company(api, "Acme Ltd", email="info@acme.example")
    b = _company(api, "Acme GmbH", email="INFO@acme.example")
    page = api.get("/contacts/duplicates?limit=1")
    assert page.status == 200, page.body
    [cluster] = page.json["items"]
    assert (cluster["reason"], cluster["key"], cluster["size"]) == ("company", "acme", 2)
    assert [c["id"] for c in cluster["contacts"]] == [a["id"], b["id"]]
    nxt = api.get("/contacts/duplicates?" + page.json["next"].partition("?")[2])
    assert nxt.status == 200, (page.json["next"], nxt.body)
    assert [c["reason"] for c in nxt.json["items"]] == ["email"]
    assert nxt.json["next"] is None
    assert api.get("/contacts/duplicates?after=forged").status == 422
    check = api.post("/contacts/duplicates-of", json={"emails": ["Info@Acme.example"]})
    assert check.status == 200, check.body
    assert [(m["contact"]["id"], m["reasons"]) for m in check.json["items"]] == [
        (a["id"], ["email"]),
        (b["id"], ["email"]),
    ]
    bad = api.post("/contacts/duplicates-of", json={"emails": ["nope"]})
    assert bad.status == 422
    assert list(bad.fields()) == ["emails.0"]


def test_group_operations_over_http(api) -> None:  # type: ignore[no-untyped-def]
    mine = [_person(api, f"P{n}") for n in range(3)]
    theirs = api.as_("bob").post(
        "/persons", json={"first_name": "Ben", "access": "read", "managers": ["bob"]}
    )
    hidden = api.as_("bob").post("/persons", json={"first_name": "Sam", "managers": ["bob"]})
    ids = [p["id"] for p in mine] + [theirs.json["id"], hidden.json["id"], 987_654]
    tagged = api.post("/contacts/group/add-tag", json={"tag": "Mailing", "ids": ids})
    assert tagged.status == 200, tagged.body
    assert tagged.json == {
        "changed": [p["id"] for p in mine],
        "unchanged": [],
        "refused": [
            {"id": theirs.json["id"], "reason": "not_editable"},
            {"id": hidden.json["id"], "reason": "not_found"},
            {"id": 987_654, "reason": "not_found"},
        ],
    }
    by_filter = api.post(
        "/contacts/group/temperature", json={"temperature": "Hot", "where": {"tags": ["Mailing"]}}
    )
    assert by_filter.json["changed"] == [p["id"] for p in mine]
    access = api.post(
        "/contacts/group/access", json={"ids": ids[:1], "access": "read", "add_managers": ["bob"]}
    )
    assert access.json["changed"] == ids[:1]
    task = api.post(
        "/contacts/group/tasks",
        json={"ids": ids[:2], "title": "Call", "due": "2030-01-15T09:00:00+00:00"},
    )
    assert task.status == 200, task.body
    assert task.json["changed"] == ids[:2]
    untagged = api.post("/contacts/group/remove-tag", json={"tag": "Mailing", "ids": ids[:1]})
    assert untagged.json["changed"] == ids[:1]
    deleted = api.post("/contacts/group/delete", json={"ids": ids[2:]})
    assert deleted.json["changed"] == [mine[2]["id"]]
    assert api.get(f"/contacts/{mine[2]['id']}").status == 404
    assert api.as_("bob").get(f"/contacts/{hidden.json['id']}").status == 200


def test_group_operation_bad_inputs(api) -> None:  # type: ignore[no-untyped-def]
    neither = api.post("/contacts/group/add-tag", json={"tag": "X"})
    assert neither.status == 422
    assert list(neither.fields()) == ["ids"]
    too_many = api.post("/contacts/group/delete", json={"ids": list(range(1, 10_002))})
    assert too_many.status == 422
    assert too_many.fields() == {"ids": "must hold at most 10000 ids"}
    bad_filter = api.post("/contacts/group/delete", json={"where": {"colour": "red"}})
    assert bad_filter.status == 422
    foreign = api.post("/contacts/group/delete", json={"ids": list(range(1, 10_001))})
    assert foreign.status == 200
    assert (foreign.json["changed"], len(foreign.json["refused"])) == ([], 10_000)
