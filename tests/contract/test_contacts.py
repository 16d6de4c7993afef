"""Contacts through the public API, on every backend."""

from __future__ import annotations

import datetime as dt

import pytest

from opencrm import Access, Address, Company, Conflict, NotFound, Person, ValidationError


def test_person_round_trip_with_every_field(admin):
    client = next(i for i in admin.lists.items("contact_type") if i.title == "Client")
    warm = next(i for i in admin.lists.items("temperature") if i.title == "Warm")
    acme = admin.contacts.add_company("Acme Ltd", industry="Tools")
    p = admin.contacts.add_person(
        " Ada ",
        "Lovelace",
        job_title="Engineer",
        company=acme,
        contact_type="client",
        temperature=warm.id,
        currency="eur",
        about="Met at the fair.\nLikes engines.",
        tags={"VIP", "lead"},
        access="read",
        managers={"alice", "bob"},
        infos=[
            {"type": "email", "value": "ada@example.com", "category": "home"},
            {"type": "phone", "value": "+44 20 7946 0018", "category": "mobile"},
            {
                "type": "address",
                "value": {"street": "1 Main St", "city": "London"},
                "category": "billing",
            },
            {"type": "twitter", "value": "@ada"},
        ],
    )
    got = admin.contacts.get(p.id)
    assert isinstance(got, Person)
    assert (got.first_name, got.last_name, got.job_title) == ("Ada", "Lovelace", "Engineer")
    assert got.display_name == "Ada Lovelace"
    assert got.company_id == acme.id
    assert got.contact_type_id == client.id
    assert got.temperature_id == warm.id
    assert got.currency == "EUR"
    assert got.about == "Met at the fair.\nLikes engines."
    assert got.tags == {"VIP", "Lead"}  # "lead" matched the seeded tag "Lead"
    assert got.access is Access.READ
    assert got.managers == {"alice", "bob"}
    assert [(i.type.value, i.category, i.value, i.normalized) for i in got.infos] == [
        ("email", "home", "ada@example.com", "ada@example.com"),
        ("phone", "mobile", "+44 20 7946 0018", "+442079460018"),
        ("address", "billing", "1 Main St, London", None),
        ("twitter", "work", "@ada", "@ada"),
    ]
    assert got.primary("address").address == Address(street="1 Main St", city="London")
    assert all(i.is_primary for i in got.infos)
    assert got.created_by == "admin"
    assert got.created_at.tzinfo is not None
    assert got == p


def test_persons_and_companies_take_a_website_like_an_email(alice):
    p = alice.contacts.add_person("Eve", website="eve.example", email="eve@one.example")
    c = alice.contacts.add_company("Eve Ltd", website="eve-ltd.example")
    got = alice.contacts.get(p.id)
    assert [(i.type.value, i.is_primary) for i in got.infos] == [
        ("email", True),
        ("website", True),
    ]
    assert [i.type.value for i in alice.contacts.get(c.id).infos] == ["website"]
    assert got.infos[1].value == c.infos[0].value.replace("-ltd", "")
    with pytest.raises(ValidationError):
        alice.contacts.add_person("Bad", website="not a website")
    assert alice.contacts.count(text="Bad") == 0


def test_creator_manages_by_default_and_contacts_are_private(alice, bob):
    c = alice.contacts.add_company("Quiet Co")
    assert c.access is Access.PRIVATE
    assert c.managers == {"alice"}
    with pytest.raises(NotFound):
        bob.contacts.get(c.id)


def test_one_primary_per_type(alice):
    p = alice.contacts.add_person("Eve", email="eve@one.example")
    second = alice.contacts.add_info(p.id, "email", "eve@two.example", primary=True)
    third = alice.contacts.add_info(p.id, "email", "eve@three.example")
    got = alice.contacts.get(p.id)
    assert [(i.value, i.is_primary) for i in got.infos] == [
        ("eve@one.example", False),
        ("eve@two.example", True),
        ("eve@three.example", False),
    ]
    assert got.email == "eve@two.example"
    alice.contacts.remove_info(p.id, second.id)
    got = alice.contacts.get(p.id)
    assert [(i.value, i.is_primary) for i in got.infos] == [
        ("eve@one.example", True),
        ("eve@three.example", False),
    ]
    updated = alice.contacts.update_info(p.id, third.id, value="eve@four.example", primary=True)
    assert (updated.value, updated.is_primary) == ("eve@four.example", True)
    assert alice.contacts.get(p.id).email == "eve@four.example"


def test_info_category_must_fit_the_type(alice):
    p = alice.contacts.add_person("Eve")
    with pytest.raises(ValidationError) as info:
        alice.contacts.add_info(p.id, "email", "eve@example.com", category="fax")
    assert "email.category" in info.value.errors
    assert alice.contacts.add_info(p.id, "phone", "+1 415 555 2671", category="fax").category == (
        "fax"
    )


def test_update_changes_fields_and_stamps_the_editor(alice, bob):
    p = alice.contacts.add_person("Ann", "Old", access="read_write")
    changed = bob.contacts.update(p.id, last_name="New", tags=["Customer"])
    assert (changed.last_name, changed.tags, changed.updated_by) == ("New", {"Customer"}, "bob")
    assert changed.created_by == "alice"
    assert alice.contacts.update(p.id, last_name="New") == changed  # no change, no write


def test_company_membership_and_delete_unlinks_persons(alice):
    acme = alice.contacts.add_company("Acme")
    p1 = alice.contacts.add_person("P1", company=acme)
    p2 = alice.contacts.add_person("P2", company=acme.id)
    assert [c.id for c in alice.contacts.list(company=acme.id)] == [p1.id, p2.id]
    alice.contacts.delete(acme.id)
    with pytest.raises(NotFound):
        alice.contacts.get(acme.id)
    assert alice.contacts.get(p1.id).company_id is None
    assert alice.contacts.get(p2.id).company_id is None


def test_company_link_must_be_a_readable_company(alice, bob):
    hidden = alice.contacts.add_company("Hidden")
    person = bob.contacts.add_person("Pat")
    with pytest.raises(ValidationError) as info:
        bob.contacts.update(person.id, company=hidden.id)
    assert "company" in info.value.errors
    with pytest.raises(ValidationError):
        bob.contacts.update(person.id, company=person.id)  # a person is not a company


def test_delete_removes_infos_tags_and_custom_values(admin, crm):
    field = admin.fields.add("contact", "Segment", "text")
    p = admin.contacts.add_person(
        "Del", email="del@example.com", tags={"Lead"}, custom={field.id: "A"}
    )
    admin.contacts.delete(p.id)
    with crm.engine.connect() as conn:
        for table in ("contact_infos", "contact_managers"):
            n = conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE contact_id = {p.id}")
            assert n.scalar() == 0
        for table in ("entity_tags", "custom_values"):
            n = conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE entity_id = {p.id}")
            assert n.scalar() == 0


def _names(page):
    return [c.display_name for c in page]


def test_list_filters(admin):
    warm = "Warm"
    a = admin.contacts.add_company(
        "Alpha", tags={"Lead"}, temperature=warm, contact_type="Partner", access="read"
    )
    b = admin.contacts.add_person("Beta", "Person", tags={"Lead", "Staff"}, managers={"bob"})
    c = admin.contacts.add_person("Gamma", "Person", company=a, access="read_write")
    assert _names(admin.contacts.list()) == ["Alpha", "Beta Person", "Gamma Person"]
    assert _names(admin.contacts.list(tags=["lead"])) == ["Alpha", "Beta Person"]
    assert _names(admin.contacts.list(tags=["Lead", "Staff"])) == ["Beta Person"]
    assert _names(admin.contacts.list(temperature="warm")) == ["Alpha"]
    assert _names(admin.contacts.list(contact_type="Partner")) == ["Alpha"]
    assert _names(admin.contacts.list(kind="person")) == ["Beta Person", "Gamma Person"]
    assert _names(admin.contacts.list(kind="company")) == ["Alpha"]
    assert _names(admin.contacts.list(manager="bob")) == ["Beta Person"]
    assert _names(admin.contacts.list(access="read_write")) == ["Gamma Person"]
    assert _names(admin.contacts.list(company=a)) == ["Gamma Person"]
    assert _names(admin.contacts.list(text="pers")) == ["Beta Person", "Gamma Person"]
    assert _names(admin.contacts.list(text="ga")) == ["Gamma Person"]
    assert admin.contacts.count(text="person", tags={"staff"}) == 1
    later = c.created_at + dt.timedelta(seconds=1)
    assert admin.contacts.count(created_to=later) == 3
    assert admin.contacts.count(created_from=later) == 0
    assert b.id < c.id


def test_sorts_and_keyset_paging_are_stable(admin):
    for i in range(23):
        admin.contacts.add_person(
            f"Name{i % 5}", f"{i:02d}", contact_type="Client" if i % 2 else "Supplier"
        )
    all_ids = []
    after = None
    while True:
        page = admin.contacts.list(limit=7, after=after)
        all_ids += [c.id for c in page]
        after = page.next_cursor
        if after is None:
            break
    expected = sorted(
        admin.contacts.list(limit=500), key=lambda c: (c.display_name.casefold(), c.id)
    )
    assert all_ids == [c.id for c in expected]
    desc = admin.contacts.list(sort="-name", limit=500)
    assert [c.id for c in desc] == list(reversed(all_ids))
    by_created = admin.contacts.list(sort="created", limit=500)
    assert [c.id for c in by_created] == sorted(all_ids)
    _by_type, after, seen = [], None, []
    while True:
        page = admin.contacts.list(sort="type", limit=4, after=after)
        seen += list(page)
        after = page.next_cursor
        if after is None:
            break
    types = [c.contact_type_id for c in seen]
    assert types == sorted(types)  # Client (1) before Supplier (2), the seeded order
    assert len({c.id for c in seen}) == 23


def test_search_matches_names_emails_and_phones(alice):
    alice.contacts.add_person("Jane", "Doe", email="jane@north.example", phone="+1 415 555 2671")
    alice.contacts.add_company("Northwind Traders", email="sales@northwind.example")
    alice.contacts.add_person("John", "Smith", email="john@south.example")
    assert _names(alice.contacts.search("north")) == ["Northwind Traders"]
    assert _names(alice.contacts.search("jane@")) == ["Jane Doe"]
    assert _names(alice.contacts.search("sales@north")) == ["Northwind Traders"]
    assert _names(alice.contacts.search("+1 415 555")) == ["Jane Doe"]
    assert _names(alice.contacts.search("+14155552671")) == ["Jane Doe"]
    assert _names(alice.contacts.search("J")) == ["Jane Doe", "John Smith"]
    assert _names(alice.contacts.search("oh")) == []  # two letters: a name prefix only
    assert _names(alice.contacts.search("ohn")) == ["John Smith"]
    assert _names(alice.contacts.search('100% "odd" _chars\\')) == []


def test_delete_refused_while_an_invoice_names_the_contact(alice, monkeypatch):
    from opencrm.storage.sqlalchemy.repositories import SqlContactRepository

    c = alice.contacts.add_company("Billed Co")
    monkeypatch.setattr(SqlContactRepository, "in_use_by_invoices", lambda self, cid: True)
    with pytest.raises(Conflict):
        alice.contacts.delete(c.id)
    monkeypatch.undo()
    assert isinstance(alice.contacts.get(c.id), Company)


def test_custom_values_are_validated_per_type(admin):
    seg = admin.fields.add("company", "Segment", "select", {"choices": ["SMB", "Enterprise"]})
    news = admin.fields.add("contact", "Newsletter", "checkbox")
    renew = admin.fields.add("contact", "Renewal", "date")
    only_person = admin.fields.add("person", "Birthday", "date")
    c = admin.contacts.add_company(
        "Custom Co", custom={"segment": "SMB", news.id: "on", "Renewal": "2027-01-31"}
    )
    assert dict(c.custom) == {seg.id: "SMB", news.id: "true", renew.id: "2027-01-31"}
    with pytest.raises(ValidationError) as info:
        admin.contacts.update(
            c.id, custom={seg.id: "Huge", only_person.id: "2000-01-01", renew.id: "31/01/2027"}
        )
    assert set(info.value.errors) == {
        f"custom.{seg.id}",
        f"custom.{only_person.id}",
        f"custom.{renew.id}",
    }
    cleared = admin.contacts.update(c.id, custom={news.id: None})
    assert dict(cleared.custom) == {seg.id: "SMB", renew.id: "2027-01-31"}


def test_lists_filter_by_custom_values_as_stored(admin, alice):
    size = admin.fields.add("person", "Shoe size", "text")
    news = admin.fields.add("contact", "Newsletter", "checkbox")
    seg = admin.fields.add("company", "Segment", "select", {"choices": ["SMB", "Enterprise"]})
    deal_field = admin.fields.add("opportunity", "Source", "text")
    ann = admin.contacts.add_person("Ann", custom={size.id: "42", news.id: True}, access="read")
    admin.contacts.add_person("Ben", custom={size.id: "42"}, access="read")
    admin.contacts.add_person("Cid", custom={size.id: "43", news.id: True}, access="read")
    admin.contacts.add_person("Dee", custom={size.id: "42", news.id: True})  # private
    admin.contacts.add_company("Eve Ltd", custom={seg.id: "SMB", news.id: True}, access="read")

    def names(s, **filters):
        return [c.display_name for c in s.contacts.list(**filters)]

    assert names(admin, custom={"shoe SIZE": "42"}) == ["Ann", "Ben", "Dee"]
    # Cleaned by the field type, then compared with the stored text: "on" is a checked box.
    assert names(admin, custom={"Shoe size": "42", news.id: "on"}) == ["Ann", "Dee"]
    assert names(admin, custom={news.id: True}, kind="company") == ["Eve Ltd"]
    assert names(admin, custom={"Segment": "SMB"}) == ["Eve Ltd"]
    assert names(admin, custom={"Shoe size": "4"}) == []  # equality, not a prefix
    assert names(alice, custom={"Shoe size": "42"}) == ["Ann", "Ben"]  # access still holds
    assert alice.contacts.count(custom={"Shoe size": "42", "Newsletter": True}) == 1
    assert [c.display_name for c in admin.contacts.list(custom={size.id: "42"}, limit=1)] == ["Ann"]
    page = admin.contacts.list(custom={size.id: "42"}, limit=2)
    rest = admin.contacts.list(custom={size.id: "42"}, limit=2, after=page.next_cursor)
    assert [c.display_name for c in rest] == ["Dee"]
    with pytest.raises(ValidationError) as info:
        admin.contacts.list(
            custom={deal_field.id: "x", "Nope": "x", "Segment": "Huge", size.id: None}
        )
    assert info.value.errors == {
        f"custom.{deal_field.id}": f"no custom field {deal_field.id} for contacts",
        "custom.Nope": "no custom field 'Nope' for contacts",
        "custom.Segment": "must be one of SMB, Enterprise",
        f"custom.{size.id}": "must be a value to match",
    }
    for bad, reason in [
        ("42", "must map field ids or labels to values"),
        ({}, "must map field ids or labels to values"),
        (dict.fromkeys(range(1, 52), "x"), "must have at most 50 values"),
    ]:
        with pytest.raises(ValidationError) as info:
            admin.contacts.count(custom=bad)
        assert info.value.errors == {"custom": reason}
    with pytest.raises(ValidationError) as info:
        admin.contacts.count(custom={size.id: "x" * 256})
    assert info.value.errors == {f"custom.{size.id}": "must have at most 255 characters"}
    with pytest.raises(ValidationError) as info:
        admin.contacts.count(custom={size.id: "42", "Shoe size": "42"})
    assert info.value.errors == {"custom.Shoe size": "names a field given already"}
    assert ann.custom[news.id] == "true"
    # Keys are text in JSON and query strings: digits that are no label name a field by id,
    # and a label of digits wins over an id.
    year = admin.fields.add("person", str(size.id), "text")
    admin.contacts.update(ann.id, custom={str(year.id): "x", str(size.id): "2024"})
    assert dict(admin.contacts.get(ann.id).custom) == {
        size.id: "42",
        news.id: "true",
        year.id: "2024",
    }
    assert names(admin, custom={str(news.id): "on", str(size.id): "2024"}) == ["Ann"]


def test_opportunities_and_cases_filter_by_custom_values(admin):
    source = admin.fields.add("opportunity", "Source", "text")
    severity = admin.fields.add("case", "Severity", "select", {"choices": ["low", "high"]})
    web = admin.opportunities.add("Web deal", custom={source.id: "web"})
    admin.opportunities.add("Fair deal", custom={source.id: "fair"})
    admin.opportunities.add("No source")
    assert [o.title for o in admin.opportunities.list(custom={"Source": "web"})] == [web.title]
    assert admin.opportunities.count(custom={source.id: "fair"}) == 1
    high = admin.cases.add("Outage", custom={severity.id: "high"})
    admin.cases.add("Typo", custom={severity.id: "low"})
    assert [c.title for c in admin.cases.list(custom={"severity": "high"})] == [high.title]
    assert admin.cases.count(custom={severity.id: "low"}, closed=False) == 1
    with pytest.raises(ValidationError) as info:
        admin.cases.list(custom={source.id: "web"})
    assert info.value.errors == {f"custom.{source.id}": f"no custom field {source.id} for cases"}
    with pytest.raises(ValidationError):
        admin.opportunities.count(custom={"Severity": "high"})


def test_phone_search_reads_local_numbers_in_the_crm_region(engine, directory, users):
    from opencrm import CRM

    crm = CRM(engine, load_entrypoints=False, directory=directory, phone_region="DE")
    s = crm.session(users["alice"])
    s.contacts.add_person("Lokal", phone="030 1234567")
    assert _names(s.contacts.search("030 1234567")) == ["Lokal"]
    assert _names(s.contacts.search("+49 30 123")) == ["Lokal"]


def test_descending_sorts_page_with_their_cursor(admin):
    for n in range(7):
        admin.contacts.add_company(f"Co {n}")
    for sort in ("-name", "-created", "-type"):
        seen, after = [], None
        while True:
            page = admin.contacts.list(sort=sort, limit=3, after=after)
            seen += [c.name for c in page]
            after = page.next_cursor
            if after is None:
                break
        assert sorted(seen, reverse=True) == seen or sort == "-type"
        assert len(seen) == len(set(seen)) == 7


def test_custom_values_come_back_as_python_values(admin):
    import datetime as dt

    admin.fields.add("contact", "Newsletter", "checkbox")
    admin.fields.add("contact", "Renewal", "date")
    admin.fields.add("contact", "Tier", "select", {"choices": ["Gold", "Silver"]})
    c = admin.contacts.add_company(
        "Typed", custom={"Newsletter": "yes", "Renewal": dt.date(2027, 1, 31), "Tier": "Gold"}
    )
    assert admin.contacts.custom_values(c) == {
        "Newsletter": True,
        "Renewal": dt.date(2027, 1, 31),
        "Tier": "Gold",
    }


def test_names_are_display_names_of_readable_contacts_only(alice, bob):
    acme = alice.contacts.add_company("Acme")
    ada = alice.contacts.add_person("Ada", "Lovelace", company=acme.id)
    shared = bob.contacts.add_person("Grace", "Hopper", access=Access.READ)
    hidden = bob.contacts.add_person("Alan", "Turing")
    ids = [ada.id, acme.id, shared.id, hidden.id, 10**9]
    assert alice.contacts.names(ids) == {
        ada.id: "Ada Lovelace",
        acme.id: "Acme",
        shared.id: "Grace Hopper",
    }
    assert alice.contacts.names([]) == {}
    with pytest.raises(ValidationError) as caught:
        alice.contacts.names(range(1, 5002))
    assert list(caught.value.errors) == ["contact_ids"]
