"""Admin lists, tags, stages, custom fields, settings and the audit trail over HTTP."""

from __future__ import annotations

import datetime as dt


def _titles(reply):  # type: ignore[no-untyped-def]
    assert reply.status == 200, reply.body
    return [i["title"] for i in reply.json["items"]]


def _url(reply):  # type: ignore[no-untyped-def]
    return reply.headers["Location"].removeprefix("/crm")


# --- list items ---------------------------------------------------------------------------


def test_list_item_add_read_change_delete(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    assert _titles(api.get("/lists/temperature")) == ["Cold", "Warm", "Hot"]
    added = admin.post("/lists/temperature", json={"title": " Boiling ", "color": "#FF0000"})
    assert added.status == 201, added.body
    item = added.json
    assert _url(added) == f"/list-items/{item['id']}"
    assert item == {
        "id": item["id"],
        "kind": "temperature",
        "title": "Boiling",
        "description": "",
        "color": "#ff0000",
        "icon": None,
        "sort_order": 4,
        "system": False,
    }
    assert api.get(_url(added)).json == item
    assert _titles(api.get("/lists/temperature")) == ["Cold", "Warm", "Hot", "Boiling"]

    tag = added.headers["ETag"]
    changed = admin.patch(_url(added), json={"title": "Scorching", "sort_order": 0})
    assert changed.status == 200
    assert (changed.json["title"], changed.json["sort_order"]) == ("Scorching", 0)
    stale = admin.delete(_url(added), headers={"If-Match": tag})
    assert stale.status == 412
    assert admin.delete(_url(added), headers={"If-Match": changed.headers["ETag"]}).status == 204
    assert api.get(_url(added)).problem["code"] == "not_found"
    assert _titles(api.get("/lists/temperature")) == ["Cold", "Warm", "Hot"]


def test_lists_are_changed_by_admins_only(api) -> None:  # type: ignore[no-untyped-def]
    client = api.get("/lists/contact_type").json["items"][0]
    assert api.post("/lists/contact_type", json={"title": "Reseller"}).status == 403
    assert api.patch(f"/list-items/{client['id']}", json={"title": "X"}).status == 403
    assert api.delete(f"/list-items/{client['id']}").problem["code"] == "permission_denied"
    assert api.get(f"/list-items/{client['id']}").json == client
    assert _titles(api.get("/lists/contact_type")) == [
        "Client",
        "Supplier",
        "Partner",
        "Competitor",
    ]


def test_list_item_validation_and_conflicts(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    assert set(admin.get("/lists/colours").fields()) == {"kind"}
    assert set(admin.post("/lists/temperature", json={"title": "Icy"}).fields()) == {"color"}
    assert admin.post("/lists/temperature", json={"title": 3}).fields() == {
        "title": "must be a string"
    }
    assert admin.post("/lists/temperature", json={"title": "Hot", "color": "#000000"}).status == 409
    hot = admin.get("/lists/temperature").json["items"][2]
    assert admin.patch(f"/list-items/{hot['id']}", json={"sort_order": -1}).fields() == {
        "sort_order": "must be a whole number >= 0"
    }
    assert admin.get("/list-items/abc").status == 404
    assert admin.get("/list-items/999999").problem["code"] == "not_found"
    assert _titles(admin.get("/lists/temperature")) == ["Cold", "Warm", "Hot"]
    system = next(i for i in admin.get("/lists/history_category").json["items"] if i["system"])
    assert admin.delete(f"/list-items/{system['id']}").status == 409


def test_task_category_in_use_is_deleted_by_moving_its_tasks(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    categories = {i["title"]: i["id"] for i in admin.get("/lists/task_category").json["items"]}
    due = dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC)
    task = web_crm.session(users["alice"]).tasks.add("Show it", due, category="Demo")
    demo = f"/list-items/{categories['Demo']}"
    assert admin.delete(demo).fields() == {
        "move_to": "name the task category that takes this one's tasks"
    }
    assert admin.delete(demo, query={"move_to": "soon"}).fields() == {
        "move_to": "must be a whole number"
    }
    assert set(admin.delete(demo, query={"move_to": str(categories["Demo"])}).fields()) == {
        "move_to"
    }
    assert admin.get(demo).status == 200
    moved = admin.delete(demo, query={"move_to": str(categories["Phone call"])})
    assert moved.status == 204
    assert admin.get(demo).status == 404
    assert (
        web_crm.session(users["alice"]).tasks.get(task.id).category_id == categories["Phone call"]
    )


def test_a_list_item_in_use_cannot_be_deleted(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    supplier = admin.get("/lists/contact_type").json["items"][1]
    created = api.post("/companies", json={"name": "Acme", "contact_type": supplier["id"]})
    assert created.status == 201
    refused = admin.delete(f"/list-items/{supplier['id']}")
    assert refused.status == 409
    assert refused.problem["detail"] == "'Supplier' is in use and cannot be deleted"


# --- tags ---------------------------------------------------------------------------------


def test_tags_add_rename_delete(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    assert _titles(api.get("/tags")) == ["Customer", "Lead", "Staff", "Supplier"]
    assert _titles(api.get("/tags", query={"entity_type": "opportunity"})) == []
    added = admin.post("/tags", json={"title": "Upsell", "entity_type": "opportunity"})
    assert added.status == 201, added.body
    tag = added.json
    assert tag == {"id": tag["id"], "entity_type": "opportunity", "title": "Upsell"}
    assert _url(added) == f"/tags/{tag['id']}"
    assert api.get(_url(added)).json == tag
    assert admin.post("/tags", json={"title": "VIP"}).json["entity_type"] == "contact"

    renamed = admin.patch(_url(added), json={"title": "Cross-sell"})
    assert renamed.json == {**tag, "title": "Cross-sell"}
    stale = admin.patch(
        _url(added), json={"title": "X"}, headers={"If-Match": added.headers["ETag"]}
    )
    assert stale.status == 412
    assert _titles(api.get("/tags", query={"entity_type": "opportunity"})) == ["Cross-sell"]
    assert admin.delete(_url(added)).status == 204
    assert api.get(_url(added)).status == 404
    assert admin.delete(_url(added)).status == 404


def test_tag_changes_are_admin_only_and_validated(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    assert api.post("/tags", json={"title": "Mine"}).status == 403
    lead = next(t for t in api.get("/tags").json["items"] if t["title"] == "Lead")
    assert api.patch(f"/tags/{lead['id']}", json={"title": "X"}).status == 403
    assert api.delete(f"/tags/{lead['id']}").status == 403
    assert api.post("/tags/delete-unused", json={}).status == 403
    assert api.get("/tags", query={"entity_type": "invoice"}).fields() == {
        "entity_type": "must be one of contact, opportunity, case"
    }
    assert set(admin.post("/tags", json={"title": " "}).fields()) == {"title"}
    assert admin.patch(f"/tags/{lead['id']}", json={}).fields() == {"title": "is required"}
    assert admin.post("/tags", json={"title": "lead"}).status == 409
    assert _titles(api.get("/tags")) == ["Customer", "Lead", "Staff", "Supplier"]


def test_delete_unused_tags_keeps_the_used_ones(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    assert api.post("/persons", json={"first_name": "Ann", "tags": ["Lead"]}).status == 201
    done = admin.post("/tags/delete-unused", json={})
    assert done.status == 200
    assert done.json == {"deleted": 3}
    assert _titles(api.get("/tags")) == ["Lead"]
    assert admin.post("/tags/delete-unused", json={"entity_type": "case"}).json == {"deleted": 0}
    assert set(admin.post("/tags/delete-unused", json={"entity_type": "x"}).fields()) == {
        "entity_type"
    }


# --- stages -------------------------------------------------------------------------------


def test_stages_add_change_delete(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    stages = api.get("/stages").json["items"]
    assert [(s["title"], s["type"]) for s in stages[-3:]] == [
        ("Verbal", "open"),
        ("Won", "won"),
        ("Lost", "lost"),
    ]
    body = {"title": "Gone quiet", "color": "#AABBCC", "type": "lost", "probability": 0}
    added = admin.post("/stages", json=body)
    assert added.status == 201, added.body
    stage = added.json
    assert stage == {
        "id": stage["id"],
        "title": "Gone quiet",
        "description": "",
        "color": "#aabbcc",
        "probability": 0,
        "type": "lost",
        "sort_order": 10,
    }
    assert _url(added) == f"/stages/{stage['id']}"
    assert api.get(_url(added)).json == stage
    changed = admin.patch(_url(added), json={"probability": 5, "description": "No reply"})
    assert (changed.json["probability"], changed.json["description"]) == (5, "No reply")
    stale = admin.delete(_url(added), headers={"If-Match": added.headers["ETag"]})
    assert stale.status == 412
    assert admin.delete(_url(added)).status == 204
    assert api.get(_url(added)).status == 404
    assert [s["id"] for s in api.get("/stages").json["items"]] == [s["id"] for s in stages]


def test_stage_rules_and_validation(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    stages = {s["title"]: s for s in api.get("/stages").json["items"]}
    lost = f"/stages/{stages['Lost']['id']}"
    assert api.post("/stages", json={"title": "Mine", "color": "#000000"}).status == 403
    assert api.patch(lost, json={"probability": 1}).status == 403
    assert admin.delete(lost).problem["detail"] == (
        "'Lost' is the last lost stage and cannot be deleted"
    )
    assert admin.patch(lost, json={"type": "open"}).status == 409
    assert admin.patch(lost, json={"type": "maybe"}).fields() == {
        "type": "must be one of open, won, lost"
    }
    assert admin.post("/stages", json={"title": "New"}).fields() == {"color": "is required"}
    bad = admin.post("/stages", json={"title": "New", "color": "red", "probability": 101})
    assert set(bad.fields()) == {"color", "probability"}
    assert admin.post("/stages", json={"title": "won", "color": "#000000"}).status == 409
    assert api.get(lost).json == stages["Lost"]
    assert len(api.get("/stages").json["items"]) == len(stages)


# --- custom fields ------------------------------------------------------------------------


def test_custom_fields_define_change_delete(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    body = {
        "entity_type": "contact",
        "label": "Size",
        "type": "select",
        "options": {"choices": ["S", "M"]},
    }
    added = admin.post("/custom-fields", json=body)
    assert added.status == 201, added.body
    field = added.json
    assert field == {**body, "id": field["id"], "sort_order": 1}
    assert _url(added) == f"/custom-fields/{field['id']}"
    assert api.get(_url(added)).json == field
    other = admin.post(
        "/custom-fields", json={"entity_type": "opportunity", "label": "Source", "type": "text"}
    )
    assert other.json["options"] == {"size": 40}
    assert [f["label"] for f in api.get("/custom-fields").json["items"]] == ["Size", "Source"]
    listed = api.get("/custom-fields", query={"entity_type": "contact"}).json["items"]
    assert listed == [field]

    grown = admin.patch(_url(added), json={"options": {"choices": ["S", "M", "L"]}})
    assert grown.json["options"] == {"choices": ["S", "M", "L"]}
    assert api.post("/persons", json={"first_name": "Ann", "custom": {"Size": "L"}}).status == 201
    assert admin.patch(_url(added), json={"type": "text"}).status == 409
    shrunk = admin.patch(_url(added), json={"options": {"choices": ["S"]}})
    assert shrunk.fields() == {"options.choices": "choices in use cannot be removed: M, L"}
    stale = admin.patch(
        _url(added), json={"label": "X"}, headers={"If-Match": added.headers["ETag"]}
    )
    assert stale.status == 412
    assert api.get(_url(added)).json == grown.json
    assert admin.delete(_url(added)).status == 204
    assert api.get(_url(added)).status == 404


def test_custom_fields_are_admin_only_and_validated(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    body = {"entity_type": "contact", "label": "Size", "type": "text"}
    assert api.post("/custom-fields", json=body).status == 403
    assert set(admin.post("/custom-fields", json={**body, "type": "colour"}).fields()) == {"type"}
    assert set(admin.post("/custom-fields", json={**body, "entity_type": "x"}).fields()) == {
        "entity_type"
    }
    assert admin.post("/custom-fields", json={**body, "options": []}).fields() == {
        "options": "must be a JSON object"
    }
    assert api.get("/custom-fields", query={"entity_type": "x"}).fields() == {
        "entity_type": "must be one of contact, person, company, opportunity, case"
    }
    assert api.get("/custom-fields").json == {"items": []}
    field = admin.post("/custom-fields", json=body).json
    assert api.patch(f"/custom-fields/{field['id']}", json={"label": "X"}).status == 403
    assert api.delete(f"/custom-fields/{field['id']}").status == 403
    assert admin.post("/custom-fields", json={**body, "entity_type": "person"}).status == 409
    assert admin.delete("/custom-fields/999999").status == 404


# --- settings and the audit trail ---------------------------------------------------------


def test_module_access_decides_who_uses_the_crm(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    first = api.get("/settings/module-access")
    assert first.json == {"everyone": True, "users": [], "groups": []}
    rule = {"everyone": False, "users": ["bob", "alice"], "groups": ["sales"]}
    assert api.put("/settings/module-access", json=rule).status == 403
    put = admin.put("/settings/module-access", json={**rule, "users": ["bob"]})
    assert put.status == 200, put.body
    assert put.json == {"everyone": False, "users": ["bob"], "groups": ["sales"]}
    assert api.get("/contacts").status == 403
    assert api.as_("bob").get("/contacts").status == 200
    assert api.as_("carol").get("/contacts").status == 200
    stale = admin.put(
        "/settings/module-access", json=rule, headers={"If-Match": first.headers["ETag"]}
    )
    assert stale.status == 412
    assert admin.get("/settings/module_access").json == {
        "key": "module_access",
        "value": {"everyone": False, "users": ["bob"], "groups": ["sales"]},
    }
    assert admin.put("/settings/module-access", json={"users": "bob"}).fields() == {
        "everyone": "is required",
        "users": "must be a JSON array",
    }


def test_settings_are_read_by_admins_only(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/settings/module_access").status == 403
    assert api.as_("admin").get("/settings/nothing-here").json == {
        "key": "nothing-here",
        "value": None,
    }
    assert api.post("/settings/module-access", json={}).status == 405


def test_audit_trail_with_filters(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    first = admin.post("/tags", json={"title": "One"}).json
    second = admin.post("/tags", json={"title": "Two"}).json
    admin.patch(f"/tags/{second['id']}", json={"title": "Deux"})
    trail = admin.get("/audit-trail", query={"entity_type": "tag"})
    assert trail.status == 200, trail.body
    entries = trail.json["items"]
    assert [(e["action"], e["entity_id"]) for e in entries] == [
        ("tag.updated", str(second["id"])),
        ("tag.created", str(second["id"])),
        ("tag.created", str(first["id"])),
    ]
    newest = entries[0]
    assert newest["actor_id"] == "admin"
    assert newest["entity_type"] == "tag"
    assert newest["before"] == second
    assert newest["after"] == {**second, "title": "Deux"}
    assert dt.datetime.fromisoformat(newest["at"]).utcoffset() == dt.timedelta(0)
    one = admin.get("/audit-trail", query={"entity_type": "tag", "entity_id": str(first["id"])})
    assert [e["action"] for e in one.json["items"]] == ["tag.created"]
    limited = admin.get("/audit-trail", query={"limit": "1"}).json["items"]
    assert limited == [newest]
    assert api.get("/audit-trail").status == 403
    assert admin.get("/audit-trail", query={"limit": "many"}).fields() == {
        "limit": "must be a whole number"
    }
    for bad in ("0", "-1", "501"):
        assert admin.get("/audit-trail", query={"limit": bad}).fields() == {
            "limit": "must be a whole number from 1 to 500"
        }
