"""Group operations on contacts, on every backend: each record's permission is checked in the
query, the result names what was refused and why, one audit entry per changed record."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from opencrm import Conflict, GroupResult, Refusal, ValidationError
from opencrm.core.services import _contact_bulk
from opencrm.storage.sqlalchemy.tables import audit_log, contact_managers, contacts

DUE = dt.datetime(2030, 1, 15, 9, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def audit_count(engine: sa.Engine, action: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == action)
            ).scalar_one()
        )


@pytest.fixture
def world(admin, alice, bob):
    """alice's contacts, bob's read-only one, bob's private one, a public read-write one."""
    return {
        "mine": [alice.contacts.add_person(f"Mine {n}", managers={"alice"}) for n in range(3)],
        "read_only": bob.contacts.add_person("Bob's reader", access="read", managers={"bob"}),
        "hidden": bob.contacts.add_person("Bob's secret", access="private", managers={"bob"}),
        "shared": bob.contacts.add_person("Shared", access="read_write", managers={"bob"}),
    }


def test_add_tag_changes_only_editable_contacts_and_reports_the_rest(alice, admin, world, engine):
    mine, ro, hidden, shared = world["mine"], world["read_only"], world["hidden"], world["shared"]
    alice.contacts.update(mine[0].id, tags={"VIP"})
    ids = [m.id for m in mine] + [ro.id, hidden.id, shared.id, 999_999]
    result = alice.contacts.group_add_tag("vip", ids=ids)
    assert result == GroupResult(
        changed=(mine[1].id, mine[2].id, shared.id),
        unchanged=(mine[0].id,),
        refused=(
            Refusal(id=ro.id, reason="not_editable"),
            Refusal(id=hidden.id, reason="not_found"),
            Refusal(id=999_999, reason="not_found"),
        ),
    )
    assert result.changed_count == 3
    assert admin.contacts.get(ro.id).tags == frozenset()
    assert admin.contacts.get(hidden.id).tags == frozenset()
    assert admin.contacts.get(shared.id).tags == {"VIP"}
    assert audit_count(engine, "contact.group_changed") == 3

    removed = alice.contacts.group_remove_tag("VIP", ids=ids)
    assert removed.changed == (mine[0].id, mine[1].id, mine[2].id, shared.id)
    assert [r.id for r in removed.refused] == [ro.id, hidden.id, 999_999]
    assert alice.contacts.count(tags=["VIP"]) == 0


def test_ten_thousand_ids_with_foreign_ones(crm, alice, admin, engine):
    """10,000 stored contacts: alice manages most; some are bob's private ones (not found for
    alice) and some bob's read-only ones (not editable)."""
    rows, managers = [], []
    with engine.begin() as conn:
        first = (
            int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(contacts.c.id), 0))
                ).scalar_one()
            )
            + 1
        )
        for n in range(10_000):
            cid = first + n
            owner, access = ("alice", "private")
            if n % 50 == 0:
                owner, access = ("bob", "private")
            elif n % 50 == 1:
                owner, access = ("bob", "read")
            rows.append(
                {
                    "id": cid, "kind": "person", "first_name": f"P{n}", "sort_name": f"p{n}",
                    "name_key": f"p{n}", "access": access, "created_by": owner,
                    "created_at": NOW, "updated_by": owner, "updated_at": NOW,
                }
            )  # fmt: skip
            managers.append({"contact_id": cid, "user_id": owner})
        conn.execute(sa.insert(contacts), rows)
        conn.execute(sa.insert(contact_managers), managers)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('contacts', 'id'), "
                "(SELECT max(id) FROM contacts))"
            )
    ids = [r["id"] for r in rows]
    hidden = [i for n, i in enumerate(ids) if n % 50 == 0]
    read_only = [i for n, i in enumerate(ids) if n % 50 == 1]

    result = alice.contacts.group_add_tag("Mailing", ids=ids)

    assert len(result.changed) == 10_000 - 400
    assert set(result.changed).isdisjoint(hidden + read_only)
    assert [r.id for r in result.refused if r.reason == "not_found"] == hidden
    assert [r.id for r in result.refused if r.reason == "not_editable"] == read_only
    assert admin.contacts.count(tags=["Mailing"]) == 9_600
    assert audit_count(engine, "contact.group_changed") == 9_600
    with pytest.raises(ValidationError) as caught:
        alice.contacts.group_add_tag("Mailing", ids=[*ids, ids[-1] + 1])
    assert caught.value.errors == {"ids": "must hold at most 10000 ids"}


def test_a_filter_selects_as_the_contact_list_does(alice, world, monkeypatch):
    alice.contacts.update(world["mine"][0].id, tags={"Lead"})
    alice.contacts.update(world["shared"].id, tags={"Lead"})
    result = alice.contacts.group_set_temperature("Hot", where={"tags": ["Lead"]})
    assert result.changed == (world["mine"][0].id, world["shared"].id)
    assert alice.contacts.count(temperature="Hot") == 2
    # Bob's private contact is invisible, his read-only one refused:
    everything = alice.contacts.group_set_temperature("Cold", where={"kind": "person"})
    assert [r.id for r in everything.refused] == [world["read_only"].id]
    assert len(everything.changed) == 4
    monkeypatch.setattr(_contact_bulk, "MAX_SELECTION", 3)
    with pytest.raises(ValidationError) as caught:
        alice.contacts.group_set_temperature("Warm", where={"kind": "person"})
    assert list(caught.value.errors) == ["where"]
    assert alice.contacts.count(temperature="Warm") == 0


def test_temperature_cascades_to_editable_persons(admin, alice, bob):
    acme = alice.contacts.add_company("Acme", access="read_write")
    mine = alice.contacts.add_person("Ann", company=acme)
    theirs = bob.contacts.add_person("Ben", company=acme, access="read", managers={"bob"})
    plain = alice.contacts.group_set_temperature("Hot", ids=[acme.id])
    assert plain.changed == (acme.id,)
    cascaded = alice.contacts.group_set_temperature("Warm", cascade=True, ids=[acme.id])
    assert cascaded.changed == (acme.id, mine.id)
    assert cascaded.refused == (Refusal(id=theirs.id, reason="not_editable"),)
    warm = next(i for i in admin.lists.items("temperature") if i.title == "Warm")
    assert admin.contacts.get(mine.id).temperature_id == warm.id
    assert admin.contacts.get(theirs.id).temperature_id is None
    cleared = alice.contacts.group_set_temperature(None, ids=[acme.id, mine.id])
    assert cleared.changed == (acme.id, mine.id)
    with pytest.raises(ValidationError):
        alice.contacts.group_set_temperature("Boiling", ids=[acme.id])


def test_access_and_managers(alice, admin, world, engine):
    mine = world["mine"]
    result = alice.contacts.group_set_access(
        access="read", add_managers=["bob"], ids=[m.id for m in mine] + [world["read_only"].id]
    )
    assert result.changed == tuple(m.id for m in mine)
    assert result.refused == (Refusal(id=world["read_only"].id, reason="not_editable"),)
    got = admin.contacts.get(mine[0].id)
    assert (got.access.value, got.managers) == ("read", {"alice", "bob"})
    assert audit_count(engine, "contact.access_changed") == 3
    again = alice.contacts.group_set_access(remove_managers=["bob"], ids=[mine[0].id])
    assert again.changed == (mine[0].id,)
    assert admin.contacts.get(mine[0].id).managers == {"alice"}
    same = alice.contacts.group_set_access(managers=["alice"], ids=[mine[0].id])
    assert (same.changed, same.unchanged) == ((), (mine[0].id,))
    with pytest.raises(ValidationError) as caught:
        alice.contacts.group_set_access(add_managers=["nobody"], ids=[mine[0].id])
    assert list(caught.value.errors) == ["add_managers"]


def test_the_same_task_for_each(alice, world):
    ids = [m.id for m in world["mine"]] + [world["hidden"].id]
    result = alice.contacts.group_add_task("Call back", DUE, ids=ids, description="Q3")
    assert result.changed == tuple(m.id for m in world["mine"])
    assert [r.reason for r in result.refused] == ["not_found"]
    tasks = alice.tasks.list(text="Call back").items
    assert sorted(t.contact_id for t in tasks) == list(result.changed)
    assert {t.description for t in tasks} == {"Q3"}
    # One transaction: a bad field creates nothing.
    with pytest.raises(ValidationError):
        alice.contacts.group_add_task("Other", "tomorrow", ids=ids)
    assert alice.tasks.list(text="Other").items == []


def test_delete_refuses_contacts_named_by_invoices(admin, alice, world):
    mine = world["mine"]
    acme = alice.contacts.add_company("Acme")
    member = alice.contacts.add_person("Ann", company=acme)
    admin.invoices.add(client=mine[0], lines=[admin.invoices.line("X", price="1")])
    with pytest.raises(Conflict):
        alice.contacts.delete(mine[0].id)
    result = alice.contacts.group_delete(
        ids=[mine[0].id, mine[1].id, acme.id, world["read_only"].id]
    )
    assert result.changed == (mine[1].id, acme.id)
    assert result.refused == (
        Refusal(id=mine[0].id, reason="in_use"),
        Refusal(id=world["read_only"].id, reason="not_editable"),
    )
    assert admin.contacts.get(member.id).company_id is None
    assert admin.contacts.get(mine[0].id).first_name == "Mine 0"
    assert admin.contacts.count() == 6  # the world (6) and Acme with Ann, less the 2 deleted


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "ids"),
        ({"ids": [1], "where": {}}, "ids"),
        ({"ids": []}, "ids"),
        ({"ids": "1,2"}, "ids"),
        ({"ids": [1, "x"]}, "ids"),
        ({"where": ["kind"]}, "where"),
        ({"where": {"colour": "red"}}, "colour"),
    ],
)
def test_bad_selections(alice, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        alice.contacts.group_add_tag("X", **kwargs)
    assert list(caught.value.errors) == [field]


def test_bad_tag(alice, world):
    for bad in (None, 5, "", "a\x00b"):
        with pytest.raises(ValidationError):
            alice.contacts.group_add_tag(bad, ids=[world["mine"][0].id])
    assert alice.contacts.get(world["mine"][0].id).tags == frozenset()
