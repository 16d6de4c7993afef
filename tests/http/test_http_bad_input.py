"""What a hostile or careless client sends: each gets the right status, a problem document
and no change; never a trace or a driver message."""

from __future__ import annotations

import base64
import json

import pytest


def _count(api) -> int:  # type: ignore[no-untyped-def]
    return int(api.as_("admin").get("/contacts", query={"count": "true"}).json["count"])


def _raw(api, body: bytes, content_type: str = "application/json", path: str = "/persons"):  # type: ignore[no-untyped-def]
    return api.post(path, data=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"first_name": "Ann"', "the body is not valid JSON"),
        (b'{"first_name": "Ann", "first_name": "Bo"}', "the key 'first_name' appears twice"),
        (b'{"first_name": NaN}', "NaN is not JSON"),
        (b"\xff\xfe{}", "the body is not UTF-8"),
        (b"[" * 100 + b"]" * 100, "the body nests deeper than 32 levels"),
        (b'["first_name"]', "the body must be a JSON object"),
        (b'"Ann"', "the body must be a JSON object"),
    ],
    ids=["truncated", "duplicate-key", "nan", "not-utf8", "deep", "array", "string"],
)
def test_malformed_bodies_are_400(api, body: bytes, detail: str) -> None:  # type: ignore[no-untyped-def]
    reply = _raw(api, body)
    assert reply.status == 400
    problem = reply.problem
    assert problem["code"] == "malformed_body"
    assert problem["detail"].startswith(detail)
    assert _count(api) == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"first_name": 7}, {"first_name": "must be a string"}),
        ({"first_name": "Ann", "tags": "vip"}, {"tags": "must be a JSON array"}),
        ({"first_name": "Ann", "tags": [1]}, {"tags[0]": "must be a string"}),
        ({"first_name": "Ann", "company": "1"}, {"company": "must be a whole number or null"}),
        ({"first_name": "Ann", "company": True}, {"company": "must be a whole number or null"}),
        (
            {"first_name": "Ann", "access": "public"},
            {"access": "must be one of private, read, read_write"},
        ),
        ({"first_name": "Ann", "password": "x"}, {"password": "unknown field"}),
        ({}, {"first_name": "is required"}),
        (
            {"first_name": "Ann", "infos": [{"type": "fax", "value": "1"}]},
            {
                "infos[0].type": "must be one of "
                + ", ".join(
                    [
                        "phone",
                        "email",
                        "website",
                        "address",
                        "skype",
                        "twitter",
                        "linkedin",
                        "facebook",
                        "livejournal",
                        "myspace",
                        "gmail",
                        "blogger",
                        "yahoo",
                        "msn",
                        "icq",
                        "jabber",
                        "aim",
                        "vk",
                    ]
                )
            },
        ),
    ],
    ids=[
        "int-for-str",
        "str-for-list",
        "list-item",
        "str-for-id",
        "bool-for-id",
        "enum",
        "unknown",
        "missing",
        "nested",
    ],
)
def test_wrong_shapes_are_422_naming_the_field(api, body, fields) -> None:  # type: ignore[no-untyped-def]
    reply = api.post("/persons", json=body)
    assert reply.fields() == fields
    assert _count(api) == 0


def test_nul_bytes_are_refused_and_nothing_is_written(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.post("/persons", json={"first_name": "An\x00n"})
    assert reply.status == 422
    assert set(reply.fields()) == {"first_name"}
    query = api.get("/contacts", query={"text": "a\x00b"})
    assert query.status == 422
    assert set(query.fields()) == {"text"}
    assert _count(api) == 0


def test_a_10_mb_body_is_413_before_it_is_read(api) -> None:  # type: ignore[no-untyped-def]
    big = b'{"first_name": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    reply = _raw(api, big)
    assert reply.status == 413
    assert reply.problem["code"] == "too_large"
    assert _count(api) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_wrong_content_type_is_415(api, content_type: str) -> None:  # type: ignore[no-untyped-def]
    reply = _raw(api, b'{"first_name": "Ann"}', content_type)
    assert reply.status == 415
    assert reply.problem["code"] == "unsupported_media_type"
    assert _count(api) == 0


def test_forged_and_foreign_cursors_are_422(api) -> None:  # type: ignore[no-untyped-def]
    for name in ("Ann", "Ben", "Cid"):
        api.post("/persons", json={"first_name": name})
    first = api.get("/contacts", query={"limit": "1", "sort": "name"}).json
    cursor = first["next"].rpartition("after=")[2]
    foreign = api.get("/contacts", query={"limit": "1", "sort": "created", "after": cursor})
    assert set(foreign.fields()) == {"after"}
    forged = base64.urlsafe_b64encode(json.dumps(["name", [{"x": 1}, "y"]]).encode()).decode()
    assert set(api.get("/contacts", query={"after": forged}).fields()) == {"after"}
    assert set(api.get("/contacts", query={"after": "%%%"}).fields()) == {"after"}


def test_sort_and_filters_come_from_allow_lists(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.get("/contacts", query={"sort": "name; DROP TABLE contacts"})
    assert set(reply.fields()) == {"sort"}
    unknown = api.get("/contacts", query={"owner_id": "1"})
    assert unknown.fields() == {"owner_id": "unknown query parameter"}
    assert api.get("/contacts", query={"limit": "ten"}).fields() == {
        "limit": "must be a whole number"
    }
    assert api.get("/contacts", query={"limit": "100000"}).status == 422
    twice = api.get("/contacts?kind=person&kind=company")
    assert twice.fields() == {"kind": "give this parameter once"}


def test_unknown_paths_methods_and_ids(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/nothing-here").problem["code"] == "no_route"
    assert api.get("/contacts/abc").status == 404
    assert api.get("/contacts/99999999999999999999999").status == 404
    assert api.get("/contacts/0").status == 404
    wrong = api.put("/contacts", json={})
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "GET, HEAD, OPTIONS"
    options = api.request("OPTIONS", "/contacts/1")
    assert options.status == 204
    assert options.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"


def test_nobody_signed_in_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.as_(None).get("/contacts")
    assert reply.status == api.nobody_status
    assert reply.problem["code"] == "unauthenticated"
    assert api.as_(None).post("/persons", json={"first_name": "Ann"}).status == api.nobody_status
    assert _count(api) == 0


def test_cross_site_form_post_with_the_browser_cookie_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    """A page on another site posting a form (or fetch without CORS) at the CRM with the
    user's session cookie: refused before any service runs."""
    cookie = {"Cookie": "session=abc"}
    evil = api.post(
        "/persons",
        data=b"first_name=Mallory",
        headers={
            **cookie,
            "Origin": "https://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert evil.status == 403
    assert evil.problem["code"] == "csrf"
    text_plain = api.post(
        "/persons",
        data=b'{"first_name": "Mallory"}',
        headers={**cookie, "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
    )
    assert text_plain.problem["code"] == "csrf"
    same_site_json = api.post(
        "/persons",
        json={"first_name": "Ann"},
        headers={**cookie, "Origin": "http://localhost"},
    )
    assert same_site_json.status == 201
    assert _count(api) == 1


def test_a_line_break_in_a_path_is_answered_by_the_api(api) -> None:  # type: ignore[no-untyped-def]
    reply = api.as_("admin").get("/settings/a%0Ab")
    assert reply.fields() == {"key": "may hold only ASCII letters, digits and _ . : -"}
    assert reply.headers["Content-Type"] == "application/problem+json"
