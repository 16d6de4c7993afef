"""Cases through the public API, on every backend."""

from __future__ import annotations

import pytest

from opencrm import CRM, Case, NotFound, PermissionDenied, ValidationError, hookimpl

TABLES = ("cases", "case_members", "case_access", "entity_tags", "tags", "custom_values")


def counts(crm: CRM) -> dict[str, int]:
    with crm.engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES}


def titles(page) -> list[str]:
    return [c.title for c in page]


def test_round_trip_and_defaults(admin, alice):
    acme = admin.contacts.add_company("Acme", access="read")
    joe = admin.contacts.add_person("Joe", access="read")
    field = admin.fields.add("case", "Severity", "select", {"choices": ["low", "high"]})
    made = alice.cases.add(
        "  Pump   broken ",
        members=[acme, joe.id],
        tags={"urgent", "Pump"},
        custom={"Severity": "high"},
        restricted=True,
        access_list=["bob"],
    )
    got = alice.cases.get(made.id)
    assert isinstance(got, Case)
    assert got == made
    assert (got.title, got.members, got.closed) == ("Pump broken", {acme.id, joe.id}, False)
    assert got.tags == {"urgent", "Pump"}
    assert dict(got.custom) == {field.id: "high"}
    assert alice.cases.custom_values(got.id) == {"Severity": "high"}
    assert (got.restricted, got.access_list) == (True, {"alice", "bob"})
    assert (got.created_by, got.updated_by) == ("alice", "alice")

    bare = alice.cases.add("Bare")
    assert (bare.members, bare.tags, bare.restricted, bare.access_list, bare.closed) == (
        frozenset(),
        frozenset(),
        False,
        {"alice"},
        False,
    )


def test_close_and_reopen(engine, directory, users):
    seen: list[str] = []

    class Recorder:
        @hookimpl
        def opencrm_event_committed(self, event):
            seen.append(event.name)

    crm = CRM(engine, plugins=[Recorder()], load_entrypoints=False, directory=directory)
    s = crm.session(users["bob"])
    case = s.cases.add("Claim")
    assert s.cases.close(case.id).closed is True
    assert s.cases.close(case.id).closed is True  # already closed: nothing happens
    assert s.cases.reopen(case.id).closed is False
    s.cases.update(case.id, title="Claim 2")
    s.cases.set_access(case.id, restricted=True, access_list=["carol"])
    s.cases.delete(case.id)
    assert seen == [
        "case.created",
        "case.closed",
        "case.reopened",
        "case.updated",
        "case.updated",
        "case.access_changed",
        "case.deleted",
    ]
    trail = crm.session(users["admin"]).settings.audit_trail(entity_type="case")
    assert [e.action for e in trail] == seen[::-1]
    assert (trail[-2].before["closed"], trail[-2].after["closed"]) == (False, True)


def test_restricted_cases(admin, alice, bob, users, crm):
    carol = crm.session(users["carol"])
    secret = alice.cases.add("Zeta secret", restricted=True, access_list=["carol"])
    alice.cases.add("Zeta open")
    assert titles(carol.cases.search("zeta")) == ["Zeta open", "Zeta secret"]
    assert titles(bob.cases.search("zeta")) == ["Zeta open"]
    assert (bob.cases.count(), carol.cases.count(), admin.cases.count()) == (1, 2, 2)
    with pytest.raises(NotFound):
        bob.cases.get(secret.id)
    with pytest.raises(NotFound):
        bob.cases.close(secret.id)
    # Carol may edit and close, but only admin and the creator change access.
    assert carol.cases.close(secret.id).closed is True
    with pytest.raises(PermissionDenied):
        carol.cases.set_access(secret.id, access_list=["bob"])
    assert alice.cases.set_access(secret.id, access_list=[]).access_list == {"alice"}
    with pytest.raises(NotFound):
        carol.cases.get(secret.id)
    assert admin.cases.set_access(secret.id, restricted=False).restricted is False
    assert bob.cases.get(secret.id).title == "Zeta secret"


def test_filters_sorts_and_paging(admin, alice):
    acme = admin.contacts.add_company("Acme", access="read")
    private = admin.contacts.add_company("Private")
    a = alice.cases.add("Alpha", members=[acme], tags={"x"})
    b = alice.cases.add("beta", tags={"x", "y"})
    c = alice.cases.add("Gamma", members=[acme])
    alice.cases.close(b.id)
    hidden = admin.cases.add("Aardvark", members=[acme, private], restricted=True)
    cases = [
        ({}, ["Alpha", "beta", "Gamma"]),
        ({"contact": acme}, ["Alpha", "Gamma"]),
        ({"tags": {"x"}}, ["Alpha", "beta"]),
        ({"tags": ["X", "y"]}, ["beta"]),
        ({"closed": True}, ["beta"]),
        ({"closed": False}, ["Alpha", "Gamma"]),
        ({"text": "amm"}, ["Gamma"]),
        ({"text": "al"}, ["Alpha"]),
        ({"text": "a", "closed": False, "contact": acme.id}, ["Alpha"]),
    ]
    for filters, want in cases:
        assert titles(alice.cases.list(**filters)) == want, filters
        assert alice.cases.count(**filters) == len(want), filters
    assert titles(admin.cases.list(contact=acme)) == ["Aardvark", "Alpha", "Gamma"]
    with pytest.raises(NotFound):
        alice.cases.list(contact=private.id)
    assert hidden.members == {acme.id, private.id}

    for sort, want in (
        ("title", ["Alpha", "beta", "Gamma"]),
        ("-title", ["Gamma", "beta", "Alpha"]),
        ("created", [a.title, b.title, c.title]),
        ("-created", [c.title, b.title, a.title]),
    ):
        got: list[str] = []
        cursor = None
        while True:
            page = alice.cases.list(sort=sort, limit=1, after=cursor)
            got.extend(titles(page))
            cursor = page.next_cursor
            if cursor is None:
                break
        assert got == want, sort


def test_delete_removes_links_tags_and_custom_values(crm, admin):
    joe = admin.contacts.add_person("Joe")
    admin.fields.add("case", "Severity", "text")
    before = counts(crm)
    case = admin.cases.add(
        "Doomed", members=[joe], tags={"t"}, custom={"Severity": "x"}, restricted=True
    )
    admin.cases.delete(case.id)
    after = counts(crm)
    for table in ("cases", "case_members", "case_access", "entity_tags", "custom_values"):
        assert after[table] == before[table], table
    with pytest.raises(NotFound):
        admin.cases.get(case.id)


def test_deleting_a_contact_removes_its_participation(admin):
    joe = admin.contacts.add_person("Joe")
    ann = admin.contacts.add_person("Ann")
    case = admin.cases.add("Case", members=[joe, ann])
    admin.contacts.delete(joe.id)
    assert admin.cases.get(case.id).members == {ann.id}


CREATE_CASES = {
    "empty title": ({"title": "  "}, "title"),
    "long title": ({"title": "t" * 256}, "title"),
    "unknown field": ({"closed": True}, "closed"),
    "read-only": ({"created_by": "mallory"}, "created_by"),
    "members as string": ({"members": "1"}, "members"),
    "missing member": ({"members": [999_999]}, "members"),
    "restricted as int": ({"restricted": 1}, "restricted"),
    "unknown user": ({"access_list": ["mallory"]}, "access_list"),
    "tags as string": ({"tags": "x"}, "tags"),
    "custom of another entity": ({"custom": {"Shoe": "1"}}, "custom.Shoe"),
}


@pytest.mark.parametrize("case", sorted(CREATE_CASES))
def test_bad_create_is_a_validation_error_and_writes_nothing(crm, alice, case):
    fields, key = CREATE_CASES[case]
    values = {"title": "Case", **fields}
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.cases.add(values.pop("title"), **values)
    assert key in info.value.errors, info.value.errors
    assert counts(crm) == before


def test_unreadable_member_is_refused(crm, alice, bob):
    mine = bob.contacts.add_person("Bob's")
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.cases.add("Case", members=[mine])
    assert info.value.errors == {"members": f"no contact you may read with id {mine.id}"}
    assert counts(crm) == before
    case = bob.cases.add("Case", members=[mine])
    assert alice.cases.update(case.id, title="Kept").members == {mine.id}


def test_bad_list_requests(alice):
    with pytest.raises(ValidationError):
        alice.cases.list(sort="stage")
    with pytest.raises(ValidationError):
        alice.cases.list(colour="red")
    with pytest.raises(ValidationError):
        alice.cases.count(closed="yes")
    with pytest.raises(ValidationError):
        alice.cases.get("1")
    with pytest.raises(NotFound):
        alice.cases.delete(999_999)
