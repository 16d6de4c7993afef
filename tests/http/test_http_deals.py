"""Opportunities and cases over HTTP: create, read, change, stage, access, lists, custom
values, the host's project, and case documents."""

from __future__ import annotations

import dataclasses
import datetime as dt

from opencrm import hookimpl

PDF = b"%PDF-1.4\n% a tiny test document\n"


def _stages(crm, users):  # type: ignore[no-untyped-def]
    return {s.title: s.id for s in crm.session(users["admin"]).stages.list()}


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _contact(api, first="Joe", **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/persons", json={"first_name": first, "last_name": "Doe", **extra})
    assert reply.status == 201, reply.body
    return reply.json["id"]


def _opportunity(api, **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/opportunities", json={"title": "Website relaunch", **extra})
    assert reply.status == 201, reply.body
    return reply


def _case(api, **extra):  # type: ignore[no-untyped-def]
    reply = api.post("/cases", json={"title": "Broken printer", **extra})
    assert reply.status == 201, reply.body
    return reply


# --- opportunities ----------------------------------------------------------------------------


def test_create_opportunity_returns_201_location_and_the_record(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    stages = _stages(web_crm, users)
    cid = _contact(api)
    reply = _opportunity(
        api,
        contact=cid,
        budget={"amount": "1200.50", "currency": "EUR"},
        bid_type="per_month",
        period_count=3,
        stage="Prospect",
        expected_close="2030-05-01",
        tags=["big"],
    )
    data = reply.json
    assert reply.headers["Location"] == f"/crm/opportunities/{data['id']}"
    assert data["budget"] == {"amount": "1200.50", "currency": "EUR"}
    assert data["value"] == {"amount": "3601.50", "currency": "EUR"}
    assert data["bid_type"] == "per_month"
    assert data["stage_id"] == stages["Prospect"]
    assert data["probability"] == 75
    assert data["expected_close"] == "2030-05-01"
    assert data["actual_close"] is None
    assert (data["contact_id"], data["members"]) == (cid, [cid])
    assert (data["responsible"], data["access_list"], data["restricted"]) == (
        "alice",
        ["alice"],
        False,
    )
    assert data["tags"] == ["big"]
    again = api.get(f"/opportunities/{data['id']}")
    assert again.status == 200
    assert again.json == data
    assert again.headers["ETag"] == reply.headers["ETag"]


def test_default_budget_and_first_open_stage(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    data = _opportunity(api).json
    assert data["budget"] == {"amount": "0.00", "currency": "USD"}
    assert data["stage_id"] == _stages(web_crm, users)["Initial contact"]
    assert data["probability"] == 1


def test_stage_action_by_title_and_by_id(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    stages = _stages(web_crm, users)
    oid = _opportunity(api).json["id"]
    before = _today()
    won = api.post(f"/opportunities/{oid}/stage", json={"stage": "won"})
    assert won.status == 200, won.body
    assert (won.json["stage_id"], won.json["probability"]) == (stages["Won"], 100)
    assert won.json["actual_close"] in {before, _today()}
    back = api.post(
        f"/opportunities/{oid}/stage", json={"stage": stages["Champion"], "probability": 33}
    )
    assert (back.json["stage_id"], back.json["probability"]) == (stages["Champion"], 33)
    assert back.json["actual_close"] is None
    bad = api.post(f"/opportunities/{oid}/stage", json={"stage": "Nowhere"})
    assert bad.fields() == {"stage": "no stage 'Nowhere'"}
    typed = api.post(f"/opportunities/{oid}/stage", json={"stage": True})
    assert typed.fields() == {"stage": "must be a whole number or a string"}
    assert api.get(f"/opportunities/{oid}").json == back.json


def test_patch_changes_only_the_fields_sent(api) -> None:  # type: ignore[no-untyped-def]
    created = _opportunity(api, description="First talk", tags=["web"]).json
    url = f"/opportunities/{created['id']}"
    changed = api.patch(
        url,
        json={
            "budget": {"amount": 99, "currency": "GBP"},
            "responsible": "bob",
            "expected_close": None,
        },
    )
    assert changed.status == 200, changed.body
    data = changed.json
    assert data["budget"] == {"amount": "99.00", "currency": "GBP"}
    assert data["responsible"] == "bob"
    assert data["access_list"] == ["alice", "bob"]
    assert (data["description"], data["tags"], data["title"]) == (
        "First talk",
        ["web"],
        "Website relaunch",
    )


def test_opportunity_validation_names_the_fields_and_writes_nothing(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.post(
        "/opportunities",
        json={"budget": {"amount": "1.5"}, "probability": "high", "colour": "red"},
    )
    assert reply.fields() == {
        "title": "is required",
        "budget": 'must be {"amount": "12.30", "currency": "EUR"}',
        "probability": "must be a whole number",
        "colour": "unknown field",
    }
    cents = api.post(
        "/opportunities", json={"title": "X", "budget": {"amount": "1.505", "currency": "EUR"}}
    )
    assert set(cents.fields()) == {"budget"}
    service = api.post(
        "/opportunities",
        json={"title": "X", "probability": 101, "contact": 999999, "responsible": "nobody"},
    )
    assert set(service.fields()) == {"probability", "contact", "responsible"}
    assert api.get("/opportunities", query={"count": "true"}).json["count"] == 0


def test_list_filters_search_sort_and_count(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    stages = _stages(web_crm, users)
    cid = _contact(api)
    _opportunity(api, title="Alpha site", budget={"amount": "10", "currency": "USD"})
    _opportunity(
        api, title="Beta shop", budget={"amount": "30", "currency": "USD"}, stage="Won", contact=cid
    )
    _opportunity(api, title="Gamma site", budget={"amount": "20", "currency": "USD"})
    by_value = api.get("/opportunities", query={"sort": "-value", "count": "true"})
    assert [o["title"] for o in by_value.json["items"]] == ["Beta shop", "Gamma site", "Alpha site"]
    assert by_value.json["count"] == 3
    search = api.get("/opportunities", query={"text": "site", "count": "true"})
    assert [o["title"] for o in search.json["items"]] == ["Alpha site", "Gamma site"]
    assert search.json["count"] == 2
    won = api.get("/opportunities", query={"stage_type": "won"})
    assert [o["title"] for o in won.json["items"]] == ["Beta shop"]
    at_stage = api.get("/opportunities", query={"stage": str(stages["Won"])})
    assert [o["title"] for o in at_stage.json["items"]] == ["Beta shop"]
    of_contact = api.get("/opportunities", query={"contact": str(cid)})
    assert [o["title"] for o in of_contact.json["items"]] == ["Beta shop"]
    page = api.get("/opportunities", query={"limit": "2"})
    assert [o["title"] for o in page.json["items"]] == ["Alpha site", "Beta shop"]
    rest = api.get(page.json["next"].removeprefix("/crm"))
    assert [o["title"] for o in rest.json["items"]] == ["Gamma site"]
    bad = api.get("/opportunities", query={"stage_type": "maybe", "sort": "colour"})
    assert bad.fields() == {"stage_type": "must be one of open, won, lost"}
    assert set(api.get("/opportunities", query={"sort": "colour"}).fields()) == {"sort"}


def test_restricted_opportunity_of_another_user_is_404_everywhere(api) -> None:  # type: ignore[no-untyped-def]
    url = _opportunity(api, restricted=True, access_list=["carol"]).headers["Location"]
    url = url.removeprefix("/crm")
    _opportunity(api, title="Public one")
    bob = api.as_("bob")
    assert bob.get(url).problem["code"] == "not_found"
    assert bob.patch(url, json={"title": "Mine"}).status == 404
    assert bob.post(url + "/stage", json={"stage": "Won"}).status == 404
    assert bob.get(url + "/custom-values").status == 404
    assert bob.get(url + "/project").status == 404
    assert bob.delete(url).status == 404
    listed = bob.get("/opportunities", query={"count": "true"})
    assert [o["title"] for o in listed.json["items"]] == ["Public one"]
    assert listed.json["count"] == 1
    assert bob.get("/opportunities", query={"text": "relaunch", "count": "true"}).json == {
        "items": [],
        "next": None,
        "count": 0,
    }
    assert api.as_("carol").get(url).status == 200
    assert api.as_("admin").get(url).status == 200
    assert api.get(url).json["title"] == "Website relaunch"


def test_only_admin_or_creator_changes_access(api) -> None:  # type: ignore[no-untyped-def]
    url = _opportunity(api).headers["Location"].removeprefix("/crm")
    bob = api.as_("bob")
    refused = bob.patch(url, json={"restricted": True})
    assert refused.status == 403
    assert refused.problem["code"] == "permission_denied"
    assert bob.patch(url, json={"title": "Renamed"}).json["title"] == "Renamed"
    restricted = api.patch(url, json={"restricted": True})
    assert (restricted.json["restricted"], restricted.json["access_list"]) == (True, ["alice"])
    assert bob.get(url).status == 404


def test_stale_if_match_is_412_on_patch_and_delete(api) -> None:  # type: ignore[no-untyped-def]
    created = _opportunity(api)
    url = created.headers["Location"].removeprefix("/crm")
    tag = created.headers["ETag"]
    first = api.patch(url, json={"title": "New"}, headers={"If-Match": tag})
    assert first.status == 200
    stale = api.patch(url, json={"title": "Newer"}, headers={"If-Match": tag})
    assert stale.status == 412
    assert stale.problem["code"] == "precondition_failed"
    assert api.delete(url, headers={"If-Match": tag}).status == 412
    assert api.get(url).json["title"] == "New"
    assert api.delete(url, headers={"If-Match": first.headers["ETag"]}).status == 204
    assert api.get(url).status == 404


def test_custom_values_by_label(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    web_crm.session(users["admin"]).fields.add("opportunity", "Source", "text")
    oid = _opportunity(api, custom={"Source": "Fair"}).json["id"]
    reply = api.get(f"/opportunities/{oid}/custom-values")
    assert reply.status == 200
    assert reply.json == {"Source": "Fair"}
    api.patch(f"/opportunities/{oid}", json={"custom": {"Source": None}})
    assert api.get(f"/opportunities/{oid}/custom-values").json == {}


def test_project_without_a_host_answer_is_null(api) -> None:  # type: ignore[no-untyped-def]
    oid = _opportunity(api, project_ref="PRJ-7").json["id"]
    reply = api.get(f"/opportunities/{oid}/project")
    assert reply.status == 200
    assert reply.json == {"project": None}


@dataclasses.dataclass
class _Project:
    code: str
    started: dt.date


class _Opaque:
    def __str__(self) -> str:
        return "Project Seven"


class _HostProjects:
    @hookimpl
    def opencrm_opportunity_project(self, opportunity):  # type: ignore[no-untyped-def]
        return {
            "PRJ-1": "Website",
            "PRJ-2": _Project("P2", dt.date(2030, 1, 2)),
            "PRJ-3": _Opaque(),
        }.get(opportunity.project_ref)


def test_project_is_the_host_object_as_json(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    web_crm.plugin_manager.register(_HostProjects())
    found = {}
    for ref in ("PRJ-1", "PRJ-2", "PRJ-3", "none"):
        oid = _opportunity(api, project_ref=ref).json["id"]
        found[ref] = api.get(f"/opportunities/{oid}/project").json
    assert found == {
        "PRJ-1": {"project": "Website"},
        "PRJ-2": {"project": {"code": "P2", "started": "2030-01-02"}},
        "PRJ-3": {"project": "Project Seven"},
        "none": {"project": None},
    }


# --- cases ------------------------------------------------------------------------------------


def test_case_lifecycle(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    created = _case(api, members=[cid], tags=["support"])
    data = created.json
    url = f"/cases/{data['id']}"
    assert created.headers["Location"] == "/crm" + url
    assert (data["title"], data["members"], data["tags"], data["closed"]) == (
        "Broken printer",
        [cid],
        ["support"],
        False,
    )
    assert (data["access_list"], data["restricted"]) == (["alice"], False)
    assert api.get(url).json == data
    renamed = api.patch(url, json={"title": "Printer on fire", "members": []})
    assert (renamed.json["title"], renamed.json["members"]) == ("Printer on fire", [])
    closed = api.post(url + "/close")
    assert closed.status == 200
    assert closed.json["closed"] is True
    assert api.post(url + "/close").json == closed.json
    assert api.post(url + "/reopen").json["closed"] is False
    assert api.delete(url).status == 204
    assert api.get(url).status == 404
    assert api.post(url + "/close").status == 404


def test_case_list_filters_and_count(api) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(api)
    _case(api, title="Alpha", members=[cid])
    beta = _case(api, title="Beta").json["id"]
    _case(api, title="Alphabet")
    api.post(f"/cases/{beta}/close")
    closed = api.get("/cases", query={"closed": "true", "count": "true"})
    assert ([c["title"] for c in closed.json["items"]], closed.json["count"]) == (["Beta"], 1)
    search = api.get("/cases", query={"text": "alpha", "closed": "false"})
    assert [c["title"] for c in search.json["items"]] == ["Alpha", "Alphabet"]
    assert [c["title"] for c in api.get("/cases", query={"contact": cid}).json["items"]] == [
        "Alpha"
    ]
    newest = api.get("/cases", query={"sort": "-created", "limit": "1"})
    assert [c["title"] for c in newest.json["items"]] == ["Alphabet"]
    assert api.get("/cases", query={"closed": "yes"}).fields() == {
        "closed": "must be true or false"
    }


def test_restricted_case_of_another_user_is_404_everywhere(api) -> None:  # type: ignore[no-untyped-def]
    url = _case(api, restricted=True).headers["Location"].removeprefix("/crm")
    upload = api.post(url + "/documents", files={"file": ("a.pdf", PDF)})
    assert upload.status == 201, upload.body
    document = upload.headers["Location"].removeprefix("/crm")
    _case(api, title="Public case")
    bob = api.as_("bob")
    assert bob.get(url).problem["code"] == "not_found"
    assert bob.patch(url, json={"title": "Mine"}).status == 404
    assert bob.post(url + "/close").status == 404
    assert bob.get(url + "/documents").status == 404
    assert bob.get(document).status == 404
    assert bob.delete(document).status == 404
    assert bob.post(url + "/documents", files={"file": ("b.pdf", PDF)}).status == 404
    assert bob.delete(url).status == 404
    listed = bob.get("/cases", query={"count": "true"})
    assert [c["title"] for c in listed.json["items"]] == ["Public case"]
    assert listed.json["count"] == 1
    assert api.get(url).json["closed"] is False
    assert len(api.get(url + "/documents").json["items"]) == 1


def test_case_patch_with_stale_etag_is_412(api) -> None:  # type: ignore[no-untyped-def]
    created = _case(api)
    url = created.headers["Location"].removeprefix("/crm")
    assert api.post(url + "/close").status == 200
    stale = api.patch(url, json={"title": "Late"}, headers={"If-Match": created.headers["ETag"]})
    assert stale.status == 412
    assert api.get(url).json["title"] == "Broken printer"


def test_case_validation_names_the_fields(api) -> None:  # type: ignore[no-untyped-def]
    assert api.post("/cases", json={"title": "", "members": ["7"]}).fields() == {
        "members[0]": "must be a whole number"
    }
    assert set(api.post("/cases", json={"title": " ", "access_list": ["nobody"]}).fields()) == {
        "title",
        "access_list",
    }
    assert api.get("/cases", query={"count": "true"}).json["count"] == 0


def test_case_custom_values(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    web_crm.session(users["admin"]).fields.add("case", "Ticket", "text")
    cid = _case(api, custom={"Ticket": "T-1"}).json["id"]
    assert api.get(f"/cases/{cid}/custom-values").json == {"Ticket": "T-1"}


def test_case_documents_upload_list_download_remove(api) -> None:  # type: ignore[no-untyped-def]
    cid = _case(api).json["id"]
    reply = api.post(
        f"/cases/{cid}/documents",
        files={"file": ("Offer ä.pdf", PDF)},
        headers={"X-Requested-With": "test"},
    )
    assert reply.status == 201, reply.body
    doc = reply.json
    assert reply.headers["Location"] == f"/crm/cases/{cid}/documents/{doc['id']}"
    assert (doc["case_id"], doc["name"], doc["content_type"], doc["size"]) == (
        cid,
        "Offer ä.pdf",
        "application/pdf",
        len(PDF),
    )
    assert doc["created_by"] == "alice"
    assert api.get(f"/cases/{cid}/documents").json == {"items": [doc]}
    got = api.get(f"/cases/{cid}/documents/{doc['id']}")
    assert got.status == 200
    assert got.body == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"Offer _.pdf\"; filename*=UTF-8''Offer%20%C3%A4.pdf"
    )
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    text = api.post(f"/cases/{cid}/documents", files={"file": ("notes.txt", b"plain words")})
    shown = api.get(text.headers["Location"].removeprefix("/crm"))
    assert shown.headers["Content-Disposition"].startswith("attachment;")
    assert api.delete(f"/cases/{cid}/documents/{doc['id']}").status == 204
    assert api.get(f"/cases/{cid}/documents/{doc['id']}").problem["code"] == "not_found"
    assert [d["name"] for d in api.get(f"/cases/{cid}/documents").json["items"]] == ["notes.txt"]


def test_refused_case_documents_store_nothing(api) -> None:  # type: ignore[no-untyped-def]
    cid = _case(api).json["id"]
    html = api.post(f"/cases/{cid}/documents", files={"file": ("a.pdf", b"<html><script>")})
    assert html.fields() == {"file": "is of a type that is not accepted (text/html)"}
    empty = api.post(f"/cases/{cid}/documents", files={"file": ("a.pdf", b"")})
    assert set(empty.fields()) == {"file"}
    wrong_field = api.post(f"/cases/{cid}/documents", files={"upload": ("a.pdf", PDF)})
    assert wrong_field.fields() == {"file": "send exactly one file in this form field"}
    as_json = api.post(f"/cases/{cid}/documents", json={"file": "x"})
    assert as_json.status == 415
    assert api.get(f"/cases/{cid}/documents").json == {"items": []}
    assert api.get(f"/cases/{cid}/documents/{999}").status == 404
