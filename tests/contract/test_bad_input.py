"""Bad input: each case is a typed error and leaves nothing written."""

from __future__ import annotations

import pytest

from opencrm import NotFound, PermissionDenied, ValidationError

TABLES = (
    "contacts",
    "contact_infos",
    "contact_managers",
    "entity_tags",
    "tags",
    "custom_values",
    "audit_log",
)


def snapshot(crm):
    with crm.engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES}


CREATE_CASES = {
    "unknown field": ({"shoe_size": 42}, "shoe_size"),
    "read-only field": ({"created_by": "mallory"}, "created_by"),
    "read-only id": ({"id": 7}, "id"),
    "invalid email": ({"email": "not-an-email"}, "email"),
    "invalid phone": ({"phone": "12"}, "phone"),
    "phone without country": ({"phone": "030 1234567"}, "phone"),
    "javascript url": ({"infos": [{"type": "website", "value": "javascript:alert(1)"}]}, "website"),
    "malformed url host": ({"infos": [{"type": "website", "value": "http://["}]}, "website"),
    "unknown currency": ({"currency": "XYZ"}, "currency"),
    "float as currency": ({"currency": 1.5}, "currency"),
    "unknown contact type": ({"contact_type": "Alien"}, "contact_type"),
    "unknown temperature id": ({"temperature": 999_999}, "temperature"),
    "bad access": ({"access": "public"}, "access"),
    "unknown manager": ({"managers": {"nobody"}}, "managers"),
    "managers as one string": ({"managers": "alice"}, "managers"),
    "over-long about": ({"about": "x" * 65_001}, "about"),
    "over-long tag": ({"tags": {"t" * 256}}, "tags"),
    "tags as one string": ({"tags": "vip"}, "tags"),
    "unknown info type": ({"infos": [{"type": "pager", "value": "123"}]}, "infos.0.type"),
    "unknown custom field": ({"custom": {"Shoe size": "42"}}, "custom.Shoe size"),
}


@pytest.mark.parametrize("case", sorted(CREATE_CASES))
def test_bad_create_is_a_validation_error_and_writes_nothing(crm, alice, case):
    fields, error_key = CREATE_CASES[case]
    before = snapshot(crm)
    with pytest.raises(ValidationError) as info:
        alice.contacts.add_person("Valid", **fields)
    assert error_key in info.value.errors
    assert snapshot(crm) == before


@pytest.mark.parametrize(
    ("first_name", "reason"),
    [
        ("", "is required"),
        ("   ", "is required"),
        ("x" * 256, "is longer than 255 characters"),
        (None, "is required"),
        (42, "must be a string"),
    ],
)
def test_empty_or_bad_names(crm, alice, first_name, reason):
    before = snapshot(crm)
    with pytest.raises(ValidationError) as info:
        alice.contacts.add_person(first_name)
    assert info.value.errors == {"first_name": reason}
    with pytest.raises(ValidationError) as info:
        alice.contacts.add_company(first_name)
    assert info.value.errors == {"name": reason}
    assert snapshot(crm) == before


def test_every_bad_field_is_reported_at_once(alice):
    with pytest.raises(ValidationError) as info:
        alice.contacts.add_person("", currency="XYZ", access="nope")
    assert set(info.value.errors) == {"first_name", "currency", "access"}


def test_bad_update_writes_nothing(crm, alice):
    p = alice.contacts.add_person("Keep", "Me", tags={"Lead"})
    before = snapshot(crm)
    for changes in (
        {"last_name": "Changed", "email": "x@example.com"},  # email is not an update field
        {"last_name": "Changed", "name": "Company name"},  # a company field on a person
        {"last_name": "Changed", "updated_at": None},
        {"last_name": "Changed", "currency": "???"},
        {"last_name": "Changed", "tags": {"New tag"}, "access": "open"},
    ):
        with pytest.raises(ValidationError):
            alice.contacts.update(p.id, **changes)
    assert snapshot(crm) == before
    assert alice.contacts.get(p.id).last_name == "Me"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"sort": "email"}, "sort"),
        ({"sort": "name; DROP TABLE contacts"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": 10_000_000}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"after": "garbage"}, "after"),
        ({"colour": "red"}, "colour"),
        ({"kind": "robot"}, "kind"),
        ({"tags": [3]}, "tags"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"text": "x" * 300}, "text"),
    ],
)
def test_bad_list_requests(alice, kwargs, key):
    with pytest.raises(ValidationError) as info:
        alice.contacts.list(**kwargs)
    assert key in info.value.errors


def test_cursor_of_another_sort_is_refused(admin):
    for n in range(3):
        admin.contacts.add_company(f"C{n}")
    cursor = admin.contacts.list(limit=1).next_cursor
    with pytest.raises(ValidationError):
        admin.contacts.list(sort="created", after=cursor)


def test_count_with_unknown_filter(alice):
    with pytest.raises(ValidationError) as info:
        alice.contacts.count(owner="bob")
    assert "owner" in info.value.errors


def test_missing_ids_and_wrong_id_types(alice):
    with pytest.raises(NotFound):
        alice.contacts.get(123_456)
    with pytest.raises(ValidationError):
        alice.contacts.get("1")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        alice.contacts.update(123_456, first_name="X")
    with pytest.raises(NotFound):
        alice.contacts.delete(123_456)


def test_non_admin_cannot_change_lists_or_fields(crm, alice):
    before = snapshot(crm)
    with pytest.raises(PermissionDenied):
        alice.lists.add("contact_type", "Reseller")
    with pytest.raises(PermissionDenied):
        alice.fields.add("contact", "Shoe size", "text")
    with pytest.raises(PermissionDenied):
        alice.lists.add_tag("Secret")
    assert snapshot(crm) == before
