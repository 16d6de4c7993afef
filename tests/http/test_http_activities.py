"""Tasks and history events over HTTP: create, read, change, close, access, lists, the
calendar feed and the files of history events."""

from __future__ import annotations

import icalendar

PDF = b"%PDF-1.4\n% minutes of the meeting\n"
DUE = "2030-01-02T09:00:00+01:00"


def _categories(crm, users, kind):  # type: ignore[no-untyped-def]
    return {i.title: i.id for i in crm.session(users["admin"]).lists.items(kind)}


def _contact(api, first="Joe", **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/persons", json={"first_name": first, "last_name": "Doe", **extra})
    assert reply.status == 201, reply.body
    return reply.json["id"]


def _task(api, **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/tasks", json={"title": "Call Joe", "due": DUE, **extra})
    assert reply.status == 201, reply.body
    return reply


def _event(api, **extra):  # type: ignore[no-untyped-def]
    reply = api.post(
        "/history-events", json={"content": "Met at the fair", "category": "Note", **extra}
    )
    assert reply.status == 201, reply.body
    return reply


# --- tasks ------------------------------------------------------------------------------------


def test_create_task_returns_201_location_and_the_task(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    categories = _categories(web_crm, users, "task_category")
    cid = _contact(api)
    oid = api.post("/opportunities", json={"title": "Deal"}).json["id"]
    reply = _task(
        api,
        category="Demo",
        responsible="bob",
        description="Bring the slides",
        contact=cid,
        opportunity=oid,
        alert=30,
        notify=False,
    )
    data = reply.json
    assert reply.headers["Location"] == f"/crm/tasks/{data['id']}"
    assert data["due_at"] == "2030-01-02T08:00:00+00:00"
    assert data["category_id"] == categories["Demo"]
    assert (data["responsible"], data["created_by"]) == ("bob", "alice")
    assert (data["contact_id"], data["opportunity_id"], data["case_id"]) == (cid, oid, None)
    assert (data["alert_minutes"], data["closed"], data["closed_at"]) == (30, False, None)
    again = api.get(f"/tasks/{data['id']}")
    assert again.json == data
    assert again.headers["ETag"] == reply.headers["ETag"]


def test_task_defaults(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    data = _task(api).json
    assert data["category_id"] == _categories(web_crm, users, "task_category")["Phone call"]
    assert (data["responsible"], data["alert_minutes"], data["description"]) == ("alice", 1440, "")


def test_task_validation_names_the_fields_and_writes_nothing(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.post("/tasks", json={"title": "X", "due": "2030-01-02T09:00:00", "alert": "7"})
    assert reply.fields() == {
        "due": "must be a date-time in ISO 8601 with a UTC offset",
        "alert": "must be a whole number",
    }
    service = api.post("/tasks", json={"title": "X", "due": DUE, "alert": 7, "category": "Nope"})
    assert set(service.fields()) == {"alert", "category"}
    assert set(api.post("/tasks", json={"title": "X", "due": DUE, "case": 999}).fields()) == {
        "case"
    }
    assert api.post("/tasks", json={"due": DUE}).fields() == {"title": "is required"}
    assert api.get("/tasks", query={"count": "true"}).json["count"] == 0


def test_patch_close_reopen_and_delete(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    url = _task(api, contact=cid).headers["Location"].removeprefix("/crm")
    changed = api.patch(url, json={"title": "Visit Joe", "due": "2030-02-01T10:00:00+00:00"})
    assert changed.status == 200, changed.body
    assert (changed.json["title"], changed.json["due_at"]) == (
        "Visit Joe",
        "2030-02-01T10:00:00+00:00",
    )
    assert changed.json["contact_id"] == cid
    closed = api.post(url + "/close")
    assert closed.status == 200
    assert closed.json["closed"] is True
    assert closed.json["closed_at"].endswith("+00:00")
    events = api.get("/history-events", query={"contact": cid}).json["items"]
    assert [(e["content"], e["task_id"]) for e in events] == [("Visit Joe", closed.json["id"])]
    reopened = api.post(url + "/reopen")
    assert (reopened.json["closed"], reopened.json["closed_at"]) == (False, None)
    unlinked = api.patch(url, json={"contact": None})
    assert unlinked.json["contact_id"] is None
    assert api.delete(url).status == 204
    assert api.get(url).status == 404


def test_task_patch_with_stale_etag_is_412(api) -> None:  # type: ignore[no-untyped-def]
    created = _task(api)
    url = created.headers["Location"].removeprefix("/crm")
    tag = created.headers["ETag"]
    assert api.patch(url, json={"title": "One"}, headers={"If-Match": tag}).status == 200
    stale = api.patch(url, json={"title": "Two"}, headers={"If-Match": tag})
    assert stale.status == 412
    assert api.delete(url, headers={"If-Match": tag}).status == 412
    assert api.get(url).json["title"] == "One"


def test_tasks_for_contacts_all_or_nothing(api) -> None:  # type: ignore[no-untyped-def]
    ann, ben = _contact(api, "Ann"), _contact(api, "Ben")
    reply = api.post(
        "/tasks/for-contacts",
        json={"contacts": [ann, ben, ann], "title": "Send the offer", "due": DUE, "alert": 0},
    )
    assert reply.status == 201, reply.body
    items = reply.json["items"]
    assert [(t["contact_id"], t["title"], t["alert_minutes"]) for t in items] == [
        (ann, "Send the offer", 0),
        (ben, "Send the offer", 0),
    ]
    assert "Location" not in reply.headers
    private = _contact(api.as_("bob"), "Bobs")
    refused = api.post(
        "/tasks/for-contacts", json={"contacts": [ann, private], "title": "Again", "due": DUE}
    )
    assert refused.fields() == {"contacts": f"no contact you may read with id {private}"}
    assert api.post(
        "/tasks/for-contacts", json={"contacts": [], "title": "None", "due": DUE}
    ).fields() == {"contacts": "name at least one contact"}
    unknown = api.post(
        "/tasks/for-contacts", json={"contacts": [ann], "contact": ann, "title": "X", "due": DUE}
    )
    assert unknown.fields() == {"contact": "unknown field"}
    assert api.get("/tasks", query={"count": "true"}).json["count"] == 2


def test_task_access(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)  # private to alice
    hidden = _task(api, title="Hidden", contact=cid).headers["Location"].removeprefix("/crm")
    shared = _task(api, title="Shared").headers["Location"].removeprefix("/crm")
    bob = api.as_("bob")
    assert bob.get(hidden).problem["code"] == "not_found"
    assert bob.patch(hidden, json={"title": "x"}).status == 404
    assert bob.post(hidden + "/close").status == 404
    assert bob.delete(hidden).status == 404
    listed = bob.get("/tasks", query={"count": "true"})
    assert ([t["title"] for t in listed.json["items"]], listed.json["count"]) == (["Shared"], 1)
    assert bob.get(shared).status == 200
    refused = bob.patch(shared, json={"title": "Mine"})
    assert refused.status == 403
    assert refused.problem["code"] == "permission_denied"
    assert bob.delete(shared).status == 403
    assert api.get(shared).json["title"] == "Shared"


def test_task_list_filters_sort_and_paging(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    categories = _categories(web_crm, users, "task_category")
    cid = _contact(api)
    _task(api, title="Early", due="2030-01-01T08:00:00+00:00", contact=cid)
    late = _task(api, title="Late", due="2030-03-01T08:00:00+00:00", category="Demo").json
    _task(api, title="Middle", due="2030-02-01T08:00:00+00:00", responsible="bob", notify=False)
    api.post(f"/tasks/{late['id']}/close")
    by_due = api.get("/tasks", query={"limit": "2", "count": "true"})
    assert [t["title"] for t in by_due.json["items"]] == ["Early", "Middle"]
    assert by_due.json["count"] == 3
    rest = api.get(by_due.json["next"].removeprefix("/crm"))
    assert [t["title"] for t in rest.json["items"]] == ["Late"]

    def titles(**query):  # type: ignore[no-untyped-def]
        reply = api.get("/tasks", query=query)
        assert reply.status == 200, reply.body
        return [t["title"] for t in reply.json["items"]]

    assert titles(closed="false", sort="-due") == ["Middle", "Early"]
    assert titles(due_from="2030-02-01T08:00:00+00:00", due_to="2030-03-01T08:00:00Z") == ["Middle"]
    assert titles(responsible="bob") == ["Middle"]
    assert titles(category=categories["Demo"]) == ["Late"]
    assert titles(contact=cid) == ["Early"]
    assert titles(text="midd") == ["Middle"]
    naive = api.get("/tasks", query={"due_from": "2030-01-01T00:00:00"})
    assert naive.fields() == {"due_from": "must be a date-time in ISO 8601 with a UTC offset"}


def test_calendar_feed_is_inline_text_calendar(api) -> None:  # type: ignore[no-untyped-def]
    _task(api, title="Call Joe", alert=15)
    _task(api, title="Someone else's", responsible="bob", notify=False)
    reply = api.get("/tasks/calendar.ics")
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert reply.headers["Content-Disposition"].startswith('inline; filename="tasks.ics"')
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    (todo,) = icalendar.Calendar.from_ical(reply.body).walk("VTODO")
    assert str(todo["summary"]) == "Call Joe"
    assert todo["due"].dt.isoformat() == "2030-01-02T08:00:00+00:00"
    assert api.as_(None).get("/tasks/calendar.ics").status == api.nobody_status
    wrong = api.patch("/tasks/calendar.ics", json={})
    assert (wrong.status, wrong.headers["Allow"]) == (405, "GET, HEAD, OPTIONS")
    assert api.get("/tasks/calendar").problem["code"] == "no_route"


# --- history ----------------------------------------------------------------------------------


def test_create_history_event_returns_201_location_and_the_event(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    categories = _categories(web_crm, users, "history_category")
    cid = _contact(api)
    case = api.post("/cases", json={"title": "Claim"}).json["id"]
    reply = _event(
        api,
        contact=cid,
        case=case,
        category="Phone call",
        happened_at="2029-12-31T23:30:00-01:00",
        notify=["bob"],
    )
    data = reply.json
    assert reply.headers["Location"] == f"/crm/history-events/{data['id']}"
    assert data["content"] == "Met at the fair"
    assert data["category_id"] == categories["Phone call"]
    assert (data["contact_id"], data["opportunity_id"], data["case_id"]) == (cid, None, case)
    assert data["happened_at"] == "2030-01-01T00:30:00+00:00"
    assert (data["files"], data["created_by"], data["task_id"]) == ([], "alice", None)
    again = api.get(f"/history-events/{data['id']}")
    assert again.json == data
    assert again.headers["ETag"] == reply.headers["ETag"]


def test_history_validation_names_the_fields_and_writes_nothing(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    unlinked = api.post("/history-events", json={"content": "x", "category": "Note"})
    assert unlinked.fields() == {"contact": "name a contact, an opportunity or a case"}
    blank = api.post("/history-events", json={"content": " ", "category": "Note", "contact": cid})
    assert blank.fields() == {"content": "is required"}
    system = api.post(
        "/history-events", json={"content": "x", "category": "Task closed", "contact": cid}
    )
    assert set(system.fields()) == {"category"}
    typed = api.post(
        "/history-events",
        json={"content": "x", "category": ["Note"], "contact": cid, "files": []},
    )
    assert typed.fields() == {
        "category": "must be a whole number or a string",
        "files": "unknown field",
    }
    assert api.get("/history-events", query={"count": "true"}).json["count"] == 0


def test_history_patch_with_stale_etag_is_412_and_delete(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    created = _event(api, contact=cid)
    url = created.headers["Location"].removeprefix("/crm")
    tag = created.headers["ETag"]
    changed = api.patch(url, json={"content": "Met at the fair, again"}, headers={"If-Match": tag})
    assert changed.status == 200
    assert changed.json["content"] == "Met at the fair, again"
    assert changed.json["contact_id"] == cid
    assert api.patch(url, json={"content": "Lost"}, headers={"If-Match": tag}).status == 412
    assert api.patch(url, json={"contact": cid}).fields() == {"contact": "unknown field"}
    assert api.delete(url).status == 204
    assert api.get(url).status == 404


def test_history_of_a_private_contact_is_404_to_others(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    url = _event(api, contact=cid).headers["Location"].removeprefix("/crm")
    public_case = api.post("/cases", json={"title": "Open case"}).json["id"]
    _event(api, case=public_case, content="On the case")
    bob = api.as_("bob")
    assert bob.get(url).problem["code"] == "not_found"
    assert bob.patch(url, json={"content": "x"}).status == 404
    assert bob.delete(url).status == 404
    assert bob.post(url + "/files", files={"file": ("a.pdf", PDF)}).status == 404
    listed = bob.get("/history-events", query={"count": "true"})
    assert [e["content"] for e in listed.json["items"]] == ["On the case"]
    assert listed.json["count"] == 1
    assert bob.get("/history-events", query={"contact": cid}).status == 404


def test_history_list_filters(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    categories = _categories(web_crm, users, "history_category")
    ann, ben = _contact(api, "Ann"), _contact(api, "Ben")
    _event(api, contact=ann, content="First", happened_at="2030-01-01T10:00:00+00:00")
    _event(
        api,
        contact=ben,
        content="Second",
        category="Email",
        happened_at="2030-01-02T10:00:00+00:00",
    )
    _event(api, contact=ann, content="Third", happened_at="2030-01-03T10:00:00+00:00")

    def contents(**query):  # type: ignore[no-untyped-def]
        reply = api.get("/history-events", query=query)
        assert reply.status == 200, reply.body
        return [e["content"] for e in reply.json["items"]]

    assert contents() == ["Third", "Second", "First"]
    assert contents(sort="date", limit="2") == ["First", "Second"]
    assert contents(contact=ann) == ["Third", "First"]
    assert contents(category=categories["Email"]) == ["Second"]
    assert contents(text="THIRD") == ["Third"]
    assert contents(author="bob") == []
    assert contents(happened_from="2030-01-02T10:00:00+00:00", happened_to="2030-01-03T10:00Z") == [
        "Second"
    ]
    assert api.get("/history-events", query={"contact": ann, "count": "true"}).json["count"] == 2


def test_history_files_attach_download_remove(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    eid = _event(api, contact=cid).json["id"]
    reply = api.post(
        f"/history-events/{eid}/files",
        files={"file": ("minutes.pdf", PDF)},
        headers={"X-Requested-With": "test"},
    )
    assert reply.status == 201, reply.body
    added = reply.json
    assert reply.headers["Location"] == f"/crm/history-events/{eid}/files/{added['id']}"
    assert (added["event_id"], added["name"], added["content_type"], added["size"]) == (
        eid,
        "minutes.pdf",
        "application/pdf",
        len(PDF),
    )
    assert api.get(f"/history-events/{eid}").json["files"] == [added]
    got = api.get(f"/history-events/{eid}/files/{added['id']}")
    assert got.status == 200
    assert got.body == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Disposition"].startswith('attachment; filename="minutes.pdf"')
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    refused = api.post(f"/history-events/{eid}/files", files={"file": ("x.svg", b"<svg/>")})
    assert set(refused.fields()) == {"file"}
    assert api.delete(f"/history-events/{eid}/files/{added['id']}").status == 204
    assert api.get(f"/history-events/{eid}/files/{added['id']}").status == 404
    assert api.get(f"/history-events/{eid}").json["files"] == []


def test_history_file_of_another_event_is_404(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    first = _event(api, contact=cid).json["id"]
    second = _event(api, contact=cid).json["id"]
    added = api.post(f"/history-events/{first}/files", files={"file": ("a.txt", b"words")}).json
    assert api.get(f"/history-events/{second}/files/{added['id']}").status == 404
    assert api.delete(f"/history-events/{second}/files/{added['id']}").status == 404
    assert api.get(f"/history-events/{first}/files/{added['id']}").body == b"words"
