from opencrm import Company, Person


def test_add_and_get_person(alice, bob):
    acme = alice.contacts.add_company("Acme Ltd", contact_type="Client", tags={"vip"})
    p = alice.contacts.add_person(
        "Bob", "Smith", company=acme, email="Bob@Acme.example", phone="+49 30 1234567"
    )
    got = alice.contacts.get(p.id)
    assert isinstance(got, Person)
    assert isinstance(alice.contacts.get(acme.id), Company)
    assert got.company_id == acme.id
    assert got.email == "Bob@acme.example"
    assert got.primary("phone").normalized == "+49301234567"
    assert got.managers == {"alice"}
    assert [c.display_name for c in alice.contacts.search("smi")] == ["Bob Smith"]
    assert [c.display_name for c in alice.contacts.search("bob@acme")] == ["Bob Smith"]
    assert [c.display_name for c in alice.contacts.search("+49301")] == ["Bob Smith"]
    assert alice.contacts.count() == 2
    assert bob.contacts.count() == 0
