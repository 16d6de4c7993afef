"""Domain events, the hooks that hang off them, and the audit trail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from opencrm import CRM, OpenCRMError, ValidationError, hookimpl


class Recorder:
    def __init__(self) -> None:
        self.committed: list[str] = []
        self.pending: list[list[str]] = []

    @hookimpl
    def opencrm_before_commit(self, crm, uow, events):
        self.pending.append([e.name for e in events])

    @hookimpl
    def opencrm_event_committed(self, crm, event):
        self.committed.append(event.name)


@pytest.fixture
def recorder(engine, directory):
    rec = Recorder()
    crm = CRM(engine, plugins=[rec], load_entrypoints=False, directory=directory)
    return rec, crm


def test_events_after_commit_only(recorder, users):
    rec, crm = recorder
    s = crm.session(users["alice"])
    c = s.contacts.add_company("Evented", tags={"fresh tag"}, managers={"alice", "bob"})
    assert rec.committed == ["tag.created", "contact.created", "contact.access_changed"]
    s.contacts.update(c.id, name="Evented Ltd")
    assert rec.committed[-1] == "contact.updated"
    with pytest.raises(ValidationError):
        s.contacts.update(c.id, name="")
    assert rec.committed[-1] == "contact.updated"
    assert len(rec.committed) == 4
    s.contacts.get(c.id)  # reads emit nothing
    s.contacts.delete(c.id)
    assert rec.committed[-1] == "contact.deleted"
    assert rec.pending == [
        ["tag.created", "contact.created", "contact.access_changed"],
        ["contact.updated"],
        ["contact.deleted"],
    ]


def test_access_changed_names_the_granted_users(recorder, users):
    _rec, crm = recorder
    got = []

    class Grants:
        @hookimpl
        def opencrm_event_committed(self, crm, event):
            if event.name == "contact.access_changed":
                got.append(list(event.data["granted"]))

    crm.plugin_manager.register(Grants())
    s = crm.session(users["alice"])
    c = s.contacts.add_person("Grant")
    s.contacts.set_access(c.id, managers={"alice", "bob", "carol"})
    s.contacts.set_access(c.id, access="read")
    assert got == [["bob", "carol"], []]


def test_a_veto_rolls_the_change_back(engine, directory, users):
    class Veto:
        @hookimpl
        def opencrm_before_commit(self, crm, uow, events):
            if any(e.name == "contact.created" for e in events):
                raise OpenCRMError("not today")

    crm = CRM(engine, plugins=[Veto()], load_entrypoints=False, directory=directory)
    s = crm.session(users["admin"])
    with pytest.raises(OpenCRMError, match="not today"):
        s.contacts.add_company("Vetoed", tags={"veto tag"})
    assert s.contacts.count() == 0
    assert "veto tag" not in [t.title for t in s.lists.tags()]
    assert s.settings.audit_trail() == []


def test_a_failing_reaction_does_not_undo_the_change(engine, directory, users):
    class Broken:
        @hookimpl
        def opencrm_event_committed(self, crm, event):
            raise RuntimeError("boom")

    crm = CRM(engine, plugins=[Broken()], load_entrypoints=False, directory=directory)
    s = crm.session(users["admin"])
    c = s.contacts.add_company("Still here")
    assert s.contacts.get(c.id).name == "Still here"


def test_audit_trail_records_who_what_when_before_after(admin, alice, users):
    c = alice.contacts.add_company("Audited", access="read_write")
    admin.contacts.update(c.id, name="Audited Ltd")
    admin.contacts.delete(c.id)
    entries = admin.settings.audit_trail(entity_type="contact", entity_id=c.id)
    assert [(e.action, e.actor_id) for e in entries] == [
        ("contact.deleted", "admin"),
        ("contact.updated", "admin"),
        ("contact.created", "alice"),
    ]
    created, updated, deleted = reversed(entries)
    assert created.before is None
    assert created.after["name"] == "Audited"
    assert created.after["kind"] == "company"
    assert (updated.before["name"], updated.after["name"]) == ("Audited", "Audited Ltd")
    assert deleted.before["name"] == "Audited Ltd"
    assert deleted.after is None
    assert created.at <= updated.at <= deleted.at
    with pytest.raises(OpenCRMError):
        alice.settings.audit_trail()


def test_audit_log_is_append_only(crm, admin):
    admin.contacts.add_company("Logged")
    for statement in ("UPDATE audit_log SET actor_id = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError), crm.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert [e.actor_id for e in admin.settings.audit_trail()] == ["admin"]


def test_list_and_field_changes_are_audited(admin):
    item = admin.lists.add("contact_type", "Reseller")
    admin.lists.delete(item.id)
    f = admin.fields.add("person", "Shoe size", "text")
    actions = [e.action for e in admin.settings.audit_trail()]
    assert actions == ["custom_field.created", "list_item.deleted", "list_item.created"]
    assert f.id > 0


def test_module_access_rule(admin, alice, bob, users, crm):
    from opencrm import ModuleAccess, PermissionDenied

    alice.contacts.add_company("Before")
    admin.settings.set_module_access(ModuleAccess.only(users={"alice"}, groups={"sales"}))
    assert alice.contacts.count() == 1
    with pytest.raises(PermissionDenied):
        bob.contacts.count()
    carol = crm.session(users["carol"])  # in group "sales"
    assert carol.contacts.count() == 0
    assert admin.settings.module_access() == ModuleAccess.only(users={"alice"}, groups={"sales"})
    with pytest.raises(PermissionDenied):
        alice.settings.set_module_access(ModuleAccess())


def test_reactions_may_take_fewer_arguments_and_all_run(engine, directory, users):
    seen = []

    class Broken:
        @hookimpl
        def opencrm_event_committed(self, event):
            raise RuntimeError("boom")

    class OnlyEvent:
        @hookimpl
        def opencrm_event_committed(self, event):
            seen.append(event.name)

    crm = CRM(engine, plugins=[OnlyEvent(), Broken()], load_entrypoints=False, directory=directory)
    crm.session(users["admin"]).contacts.add_company("Heard")
    assert seen == ["contact.created"]


def test_only_admins_read_settings(admin, alice):
    from opencrm import PermissionDenied

    assert admin.settings.get("default_currency") == "USD"
    with pytest.raises(PermissionDenied):
        alice.settings.get("default_currency")
