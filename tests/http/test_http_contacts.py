"""Contacts over HTTP: create, read, change, delete, lists, infos, photos, access."""

from __future__ import annotations

import io

from PIL import Image


def _person(api, **extra):  # type: ignore[no-untyped-def]
    body = {"first_name": "Bob", "last_name": "Smith", "email": "Bob@Acme.example", **extra}
    reply = api.post("/persons", json=body)
    assert reply.status == 201, reply.body
    return reply


def test_create_person_returns_201_location_and_the_contact(api) -> None:  # type: ignore[no-untyped-def]
    reply = _person(api, tags=["vip"], phone="+49 30 1234567")
    data = reply.json
    assert reply.headers["Location"] == f"/crm/contacts/{data['id']}"
    assert data["kind"] == "person"
    assert data["display_name"] == "Bob Smith"
    assert data["tags"] == ["vip"]
    assert data["managers"] == ["alice"]
    assert data["access"] == "private"
    assert [(i["type"], i["value"], i["normalized"]) for i in data["infos"]] == [
        ("email", "Bob@acme.example", "bob@acme.example"),
        ("phone", "+49 30 1234567", "+49301234567"),
    ]
    assert data["created_at"].endswith("+00:00")
    again = api.get(f"/contacts/{data['id']}")
    assert again.status == 200
    assert again.json == data
    assert again.headers["ETag"] == reply.headers["ETag"]


def test_company_with_address_info(api) -> None:  # type: ignore[no-untyped-def]
    body = {
        "name": "Acme Ltd",
        "infos": [{"type": "address", "value": {"city": "Berlin", "country": "DE"}}],
    }
    reply = api.post("/companies", json=body)
    assert reply.status == 201
    [info] = reply.json["infos"]
    assert info["address"] == {
        "street": "",
        "city": "Berlin",
        "state": "",
        "zip": "",
        "country": "DE",
    }
    assert info["value"] == "Berlin, DE"


def test_patch_with_stale_etag_is_412_and_changes_nothing(api) -> None:  # type: ignore[no-untyped-def]
    created = _person(api)
    url = created.headers["Location"].removeprefix("/crm")
    tag = created.headers["ETag"]
    first = api.patch(url, json={"job_title": "CEO"}, headers={"If-Match": tag})
    assert first.status == 200
    assert first.json["job_title"] == "CEO"
    stale = api.patch(url, json={"job_title": "CTO"}, headers={"If-Match": tag})
    assert stale.status == 412
    assert stale.problem["code"] == "precondition_failed"
    assert stale.headers["ETag"] == first.headers["ETag"]
    assert api.get(url).json["job_title"] == "CEO"


def test_private_contact_of_another_user_is_404_everywhere(api) -> None:  # type: ignore[no-untyped-def]
    url = _person(api).headers["Location"].removeprefix("/crm")
    bob = api.as_("bob")
    assert bob.get(url).status == 404
    assert bob.patch(url, json={"job_title": "x"}).status == 404
    assert bob.delete(url).status == 404
    listed = bob.get("/contacts", query={"count": "true"})
    assert listed.json == {"items": [], "next": None, "count": 0}
    assert api.get(url).json["job_title"] == ""


def test_list_pages_with_next_links(api) -> None:  # type: ignore[no-untyped-def]
    for first in ("Ann", "Ben", "Cid"):
        _person(api, first_name=first, last_name="Doe", email=None)
    page = api.get("/contacts", query={"limit": "2", "sort": "name", "count": "true"})
    assert page.status == 200
    assert [c["display_name"] for c in page.json["items"]] == ["Ann Doe", "Ben Doe"]
    assert page.json["count"] == 3
    nxt = page.json["next"]
    assert nxt.startswith("/crm/contacts?")
    rest = api.get(nxt.removeprefix("/crm"))
    assert [c["display_name"] for c in rest.json["items"]] == ["Cid Doe"]
    assert rest.json["next"] is None


def test_infos_add_change_remove(api) -> None:  # type: ignore[no-untyped-def]
    cid = _person(api).json["id"]
    added = api.post(f"/contacts/{cid}/infos", json={"type": "phone", "value": "+44 20 7946 0000"})
    assert added.status == 201
    info = added.json
    assert info["normalized"] == "+442079460000"
    assert api.get(f"/contacts/{cid}/infos/{info['id']}").json == info
    changed = api.patch(f"/contacts/{cid}/infos/{info['id']}", json={"category": "mobile"})
    assert changed.json["category"] == "mobile"
    assert api.delete(f"/contacts/{cid}/infos/{info['id']}").status == 204
    assert api.get(f"/contacts/{cid}/infos/{info['id']}").status == 404


def test_photo_upload_download_and_removal(api) -> None:  # type: ignore[no-untyped-def]
    cid = _person(api).json["id"]
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "red").save(buf, "PNG")
    put = api.put(
        f"/contacts/{cid}/photo",
        files={"file": ("me.png", buf.getvalue())},
        headers={"X-Requested-With": "test"},
    )
    assert put.status == 200, put.body
    assert (put.json["width"], put.json["height"]) == (200, 150)
    got = api.get(f"/contacts/{cid}/photo", query={"size": "small"})
    assert got.status == 200
    assert got.headers["Content-Type"] == "image/jpeg"  # opaque photos are re-encoded as JPEG
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(got.body)).size == (40, 40)
    assert api.delete(f"/contacts/{cid}/photo").status == 204
    assert api.get(f"/contacts/{cid}/photo").problem["code"] == "not_found"


def test_validation_errors_name_the_fields_and_write_nothing(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.post("/persons", json={"first_name": 3, "colour": "red"})
    assert reply.fields() == {"first_name": "must be a string", "colour": "unknown field"}
    service = api.post("/persons", json={"first_name": "A", "email": "not-an-email"})
    assert set(service.fields()) == {"email"}
    assert api.get("/contacts", query={"count": "true"}).json["count"] == 0


def test_lists_filter_by_custom_values_given_as_field_equals_value(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    admin = web_crm.session(users["admin"])
    size = admin.fields.add("person", "Shoe size", "text")
    admin.fields.add("contact", "Newsletter", "checkbox")
    admin.fields.add("opportunity", "Source", "text")
    for first, shoe, news in [("Ann", "42", True), ("Ben", "42", False), ("Cid", "4=2", True)]:
        assert (
            _person(api, first_name=first, custom={"Shoe size": shoe, "Newsletter": news}).status
            == 201
        )
    reply = api.get("/contacts", query={"custom": ["Shoe size=42", "newsletter=on"]})
    assert [c["first_name"] for c in reply.json["items"]] == ["Ann"]
    dan = _person(api, first_name="Dan", custom={str(size.id): "41"}).json  # a key of digits
    assert dan["custom"] == {str(size.id): "41"}
    reply = api.get("/contacts", query={"custom": f"{size.id}=41"})
    assert [c["first_name"] for c in reply.json["items"]] == ["Dan"]
    reply = api.get("/contacts", query={"custom": f"{size.id}=4=2", "count": "true"})
    assert ([c["first_name"] for c in reply.json["items"]], reply.json["count"]) == (["Cid"], 1)
    assert api.get("/contacts", query={"custom": "Shoe size"}).fields() == {
        "custom": "each value must be FIELD=VALUE"
    }
    assert api.get("/contacts", query={"custom": ["Shoe size=1", f"{size.id}=2"]}).fields() == {
        f"custom.{size.id}": "names a field given already"
    }
    assert api.get("/contacts", query={"custom": "Source=web"}).fields() == {
        "custom.Source": "no custom field 'Source' for contacts"
    }
    deal = api.post("/opportunities", json={"title": "Web", "custom": {"Source": "web"}})
    assert deal.status == 201, deal.body
    api.post("/opportunities", json={"title": "Fair", "custom": {"Source": "fair"}})
    found = api.get("/opportunities", query={"custom": "Source=web"}).json["items"]
    assert [o["title"] for o in found] == ["Web"]
    assert api.get("/cases", query={"custom": "Source=web"}).fields() == {
        "custom.Source": "no custom field 'Source' for cases"
    }


def test_a_person_takes_a_website(api) -> None:  # type: ignore[no-untyped-def]
    reply = _person(api, website="ann.example")
    assert reply.status == 201, reply.body
    assert [i["type"] for i in reply.json["infos"]] == ["email", "website"]


def test_names_by_id_leave_out_what_the_user_may_not_read(api) -> None:  # type: ignore[no-untyped-def]
    bob_smith = _person(api).json["id"]
    acme = api.post("/companies", json={"name": "Acme"}).json["id"]
    query = {"ids": [str(bob_smith), str(acme), "999999"]}
    reply = api.get("/contacts/names", query=query)
    assert reply.status == 200
    assert reply.json == {str(bob_smith): "Bob Smith", str(acme): "Acme"}
    assert api.as_("bob").get("/contacts/names", query=query).json == {}
    refused = api.get("/contacts/names", query={"ids": ["x"]})
    assert refused.status == 422
    assert refused.problem["errors"] == [{"field": "ids", "message": "must be a whole number"}]
    missing = api.get("/contacts/names")
    assert missing.status == 422
    assert missing.problem["errors"] == [{"field": "ids", "message": "required"}]
