"""The duplicate scan and ``duplicates_of``, on every backend: SQL grouping on normalised
keys, the read permission inside the query, keyset pages."""

from __future__ import annotations

import pytest

from opencrm import ValidationError


def clusters(session, limit=25):
    out, after = [], None
    while True:
        page = session.contacts.duplicates(limit=limit, after=after)
        out += [(c.reason, c.key, c.company_id, c.size, [x.id for x in c.contacts]) for c in page]
        after = page.next_cursor
        if after is None:
            return out


@pytest.fixture
def twins(admin, bob):
    acme = admin.contacts.add_company("Acme Ltd", access="read", email="info@acme.example")
    acme2 = admin.contacts.add_company("ACME, Inc.", access="read", phone="+44 20 7946 0018")
    other = admin.contacts.add_company("Acme Tools", access="read", email="Info@ACME.example")
    p1 = admin.contacts.add_person("José", "Núñez", company=acme, access="read")
    p2 = admin.contacts.add_person(
        "jose", "nunez", company=acme, access="read", phone="+442079460018"
    )
    p3 = admin.contacts.add_person("Jose", "Nunez", company=other, access="read")
    secret = bob.contacts.add_person(
        "Sam", "Secret", access="private", managers={"bob"}, email="info@acme.example"
    )
    return {
        "acme": acme,
        "acme2": acme2,
        "other": other,
        "p1": p1,
        "p2": p2,
        "p3": p3,
        "secret": secret,
    }


def test_clusters_by_every_key(admin, twins):
    t = twins
    assert clusters(admin) == [
        ("company", "acme", None, 2, [t["acme"].id, t["acme2"].id]),
        ("email", "info@acme.example", None, 3, [t["acme"].id, t["other"].id, t["secret"].id]),
        ("person", "jose nunez", t["acme"].id, 2, [t["p1"].id, t["p2"].id]),
        ("phone", "+442079460018", None, 2, [t["acme2"].id, t["p2"].id]),
    ]


def test_contacts_the_user_cannot_read_are_not_counted(alice, twins):
    t = twins
    email = [c for c in clusters(alice) if c[0] == "email"]
    assert email == [("email", "info@acme.example", None, 2, [t["acme"].id, t["other"].id])]


def test_a_cluster_of_one_visible_contact_is_no_cluster(admin, alice, bob):
    admin.contacts.add_person("Ann", email="ann@example.com", access="read")
    bob.contacts.add_person("Ann B", email="ANN@example.com", access="private", managers={"bob"})
    assert clusters(alice) == []
    assert [c[1] for c in clusters(admin)] == ["ann@example.com"]


def test_pages_of_one_give_the_same_clusters(admin, twins):
    assert clusters(admin, limit=1) == clusters(admin)
    assert clusters(admin, limit=3) == clusters(admin)


def test_renaming_changes_the_key(admin, twins):
    admin.contacts.update(twins["acme2"].id, name="Globex")
    assert [c[0] for c in clusters(admin)] == ["email", "person", "phone"]


def test_bad_cursors_and_limits(admin, twins):
    tasks_cursor = admin.tasks.list(limit=1).next_cursor
    for bad in ("x", "abc.def", tasks_cursor or "zz"):
        with pytest.raises(ValidationError) as caught:
            admin.contacts.duplicates(after=bad)
        assert list(caught.value.errors) == ["after"]
    for bad in (0, -1, 101, 10_000, "5", True):
        with pytest.raises(ValidationError) as caught:
            admin.contacts.duplicates(limit=bad)
        assert list(caught.value.errors) == ["limit"]


def test_duplicates_of(admin, alice, twins):
    t = twins

    def found(session, **kwargs):
        return [(m.contact.id, m.reasons) for m in session.contacts.duplicates_of(**kwargs)]

    assert found(admin, name="acme gmbh") == [
        (t["acme"].id, ("company",)),
        (t["acme2"].id, ("company",)),
    ]
    assert found(admin, first_name="JOSE", last_name="Núñez", company=t["acme"]) == [
        (t["p1"].id, ("person",)),
        (t["p2"].id, ("person",)),
    ]
    assert found(admin, first_name="Jose", last_name="Nunez") == []  # no company: no name match
    assert found(admin, emails=["INFO@acme.example"], phones=["+44 (0)20 7946 0018"]) == [
        (t["acme"].id, ("email",)),
        (t["acme2"].id, ("phone",)),
        (t["other"].id, ("email",)),
        (t["p2"].id, ("phone",)),
        (t["secret"].id, ("email",)),
    ]
    assert [i for i, _ in found(alice, emails=["info@acme.example"])] == [
        t["acme"].id,
        t["other"].id,
    ]
    assert found(admin, emails=["info@acme.example"], limit=1) == [(t["acme"].id, ("email",))]
    assert found(admin) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"emails": ["not an email"]}, "emails.0"),
        ({"emails": "a@b.example"}, "emails"),
        ({"phones": ["", "+1"]}, "phones.0"),
        ({"name": ""}, "name"),
        ({"first_name": "   "}, "first_name"),
        ({"company": "x"}, "company"),
        ({"limit": 0}, "limit"),
    ],
)
def test_duplicates_of_bad_input(admin, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        admin.contacts.duplicates_of(**kwargs)
    assert field in caught.value.errors
