"""S1 contact access rules: a stateful property test and the exact cases it generalises.

The state machine keeps a plain-Python model of every contact (kind, access, managers, name)
and lets six users (five members and one CRM admin) create, re-share, rename and delete
contacts in random order; each attempt must succeed or fail exactly as the model predicts.
After every step, single reads, lists (also paged), counts and searches must agree, for every
user, with the rule stated in S1:

* read: CRM admin, or access is not private, or the user is a manager;
* edit (rename, change access/managers, delete): CRM admin, or access is read_write, or the
  user is a manager;
* a contact the user may not read is ``NotFound`` (as a missing one is); one the user may
  read but not edit is ``PermissionDenied``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from opencrm import (
    CRM,
    Access,
    Company,
    Contact,
    InMemoryUserDirectory,
    NotFound,
    PermissionDenied,
    Person,
    Session,
    User,
    ValidationError,
)

ADMIN = User(id="admin", name="Ada Admin", crm_admin=True)
MEMBERS = tuple(
    User(id=name, name=name.title()) for name in ("alice", "bob", "carol", "dave", "erin")
)
ALL_USERS = (ADMIN, *MEMBERS)
USER_IDS = tuple(u.id for u in ALL_USERS)
IS_ADMIN = {u.id: u.crm_admin for u in ALL_USERS}

# Words that share fragments ("arlow", "low", "sha", "mar", "ell"), so a search matches several
# contacts and the permission filter has something to remove.
WORDS = ("Harlow", "Barlow", "Marsh", "Marlowe", "Oshawa", "Shaw", "Willow", "Lowell")
FIXED_FRAGMENTS = ("arlow", "LOW", "sha", "Mar", "ell", "zzz")

SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Outcome = type[Exception] | None


# --- the model ------------------------------------------------------------------------------


@attrs.define
class Model:
    """What the test believes one contact looks like."""

    id: int
    kind: str
    access: Access
    managers: frozenset[str]
    word: str
    tag: str  # unique per contact, e.g. "K7Q"

    @property
    def display_name(self) -> str:
        return f"{self.word} {self.tag}"


def may_read(user_id: str, c: Model) -> bool:
    return IS_ADMIN[user_id] or c.access is not Access.PRIVATE or user_id in c.managers


def may_edit(user_id: str, c: Model) -> bool:
    return IS_ADMIN[user_id] or c.access is Access.READ_WRITE or user_id in c.managers


def expected_outcome(user_id: str, c: Model | None) -> Outcome:
    """The error an edit by ``user_id`` must raise (None: it must succeed)."""
    if c is None or not may_read(user_id, c):
        return NotFound
    if not may_edit(user_id, c):
        return PermissionDenied
    return None


def attempt(expected: Outcome, call: Callable[[], object]) -> object:
    """Run ``call``; it must raise exactly ``expected`` (or succeed when that is None)."""
    event(f"outcome: {expected.__name__ if expected else 'allowed'}")
    if expected is None:
        return call()
    with pytest.raises(expected) as info:
        call()
    assert type(info.value) is expected
    return None


def assert_matches(got: Contact, want: Model) -> None:
    assert got.id == want.id
    assert got.kind == want.kind
    assert isinstance(got, Person if want.kind == "person" else Company)
    assert got.access is want.access
    assert got.managers == want.managers
    assert got.display_name == want.display_name


def wipe_contacts(engine: sa.Engine) -> None:
    """Delete every contact and what hangs off it (the audit log is append-only and stays)."""
    with engine.begin() as conn:
        for table in ("entity_tags", "custom_values"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE entity_type = 'contact'"))
        conn.execute(sa.text("DELETE FROM contact_infos"))
        conn.execute(sa.text("DELETE FROM contact_managers"))
        conn.execute(sa.text("UPDATE contacts SET company_id = NULL"))
        conn.execute(sa.text("DELETE FROM contacts"))


def all_pages(session: Session, *, sort: str = "name", limit: int = 500) -> list[Contact]:
    out: list[Contact] = []
    cursor: str | None = None
    for _ in range(1000):
        page = session.contacts.list(sort=sort, limit=limit, after=cursor)
        out.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return out
        assert page.items, "a page with a next_cursor must not be empty"
    raise AssertionError("paging does not end")


# --- the state machine ----------------------------------------------------------------------

users = st.sampled_from(USER_IDS)
accesses = st.sampled_from(tuple(Access))
manager_sets = st.frozensets(st.sampled_from(USER_IDS), max_size=3)


def make_machine(crm: CRM, engine: sa.Engine) -> type[RuleBasedStateMachine]:
    class ContactAccessMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            wipe_contacts(engine)
            self.sessions = {u.id: crm.session(u) for u in ALL_USERS}
            self.model: dict[int, Model] = {}
            self.gone: dict[int, Model] = {}
            self.serial = 0
            self.fragment = "low"
            # Since the last invariant check: the contacts a rule touched (changed or tried
            # to), whether any rule succeeded in changing one, whether the fragment changed.
            self.touched: set[int] = set()
            self.changed = True
            self.new_fragment = True

        # --- rules ----------------------------------------------------------------------

        @initialize(data=st.data())
        def seed(self, data: st.DataObject) -> None:
            """Start with a few contacts, so that most steps act on a populated CRM."""
            for _ in range(data.draw(st.integers(0, 8), label="seed contacts")):
                self._create(data)

        @rule(data=st.data())
        def create(self, data: st.DataObject) -> None:
            self._create(data)

        def _create(self, data: st.DataObject) -> int:
            """A random user creates a person or company with random access and managers: by
            default the creator; else named managers, with or without the creator."""
            actor = data.draw(users, label="actor")
            kind = data.draw(st.sampled_from(("person", "company")), label="kind")
            word = data.draw(st.sampled_from(WORDS), label="word")
            access = data.draw(st.none() | accesses, label="access")
            managers_mode = data.draw(
                st.sampled_from(("default", "with_creator", "others_only")), label="managers"
            )
            self.serial += 1
            tag = f"K{self.serial}Q"
            fields: dict[str, object] = {}
            if access is not None:
                fields["access"] = data.draw(st.sampled_from((access, access.value)))
            if managers_mode == "default":
                want_managers = frozenset({actor})
            else:
                others = [u for u in USER_IDS if u != actor]
                picked = data.draw(st.frozensets(st.sampled_from(others), min_size=1, max_size=3))
                want_managers = picked | {actor} if managers_mode == "with_creator" else picked
                fields["managers"] = data.draw(
                    st.sampled_from((sorted(want_managers), set(want_managers)))
                )
            s = self.sessions[actor].contacts
            if kind == "person":
                got: Contact = s.add_person(word, tag, **fields)
            else:
                got = s.add_company(f"{word} {tag}", **fields)
            want = Model(got.id, kind, access or Access.PRIVATE, want_managers, word, tag)
            assert got.id not in self.model
            # SQLite hands out the id of the newest deleted contact again (pinned by
            # test_deleted_contact_ids_are_not_reused); the model follows so that the access
            # rules stay this test's subject.
            self.gone.pop(got.id, None)
            assert got.created_by == actor
            assert_matches(got, want)
            self.model[got.id] = want
            self.touched.add(got.id)
            self.changed = True
            return got.id

        def pick_contact(self, data: st.DataObject) -> int:
            """Mostly a live contact, sometimes a deleted one (which is NotFound for all)."""
            if self.gone and (not self.model or data.draw(st.integers(0, 4)) == 0):
                return data.draw(st.sampled_from(sorted(self.gone)), label="deleted contact")
            return data.draw(st.sampled_from(sorted(self.model)), label="contact")

        def pick_actor(self, data: st.DataObject, cid: int) -> str:
            """Any user, or (as often) one who is neither admin nor manager of ``cid``: the
            users for whom the access setting decides."""
            c = self.model.get(cid)
            outsiders = [u for u in USER_IDS if c and not IS_ADMIN[u] and u not in c.managers]
            if outsiders:
                return data.draw(users | st.sampled_from(outsiders), label="actor")
            return data.draw(users, label="actor")

        @precondition(lambda self: self.model or self.gone)
        @rule(
            access=st.none() | accesses,
            managers=st.none() | manager_sets,
            data=st.data(),
        )
        def set_access(
            self, access: Access | None, managers: frozenset[str] | None, data: st.DataObject
        ) -> None:
            cid = self.pick_contact(data)
            actor = self.pick_actor(data, cid)
            self.touched.add(cid)
            c = self.model.get(cid)
            expected = expected_outcome(actor, c)
            got = attempt(
                expected,
                lambda: self.sessions[actor].contacts.set_access(cid, access, managers),
            )
            if expected is None:
                assert c is not None
                if access is not None:
                    c.access = access
                if managers is not None:
                    c.managers = managers
                self.changed = True
                assert isinstance(got, Contact)
                assert_matches(got, c)

        @precondition(lambda self: self.model or self.gone)
        @rule(access=st.none() | accesses, data=st.data())
        def set_unknown_manager(self, access: Access | None, data: st.DataObject) -> None:
            """Reading and editing rights are checked before the input: a user who may not
            read gets NotFound even for a bad request, a reader who may not edit gets
            PermissionDenied, an editor the ValidationError; and nothing changes."""
            cid = self.pick_contact(data)
            actor = self.pick_actor(data, cid)
            self.touched.add(cid)
            c = self.model.get(cid)
            expected = expected_outcome(actor, c) or ValidationError
            attempt(
                expected,
                lambda: self.sessions[actor].contacts.set_access(cid, access, {actor, "mallory"}),
            )

        @precondition(lambda self: self.model or self.gone)
        @rule(word=st.sampled_from(WORDS), data=st.data())
        def rename(self, word: str, data: st.DataObject) -> None:
            cid = self.pick_contact(data)
            actor = self.pick_actor(data, cid)
            c = self.model.get(cid) or self.gone.get(cid)
            assert c is not None
            changes = {"first_name": word} if c.kind == "person" else {"name": f"{word} {c.tag}"}
            self.touched.add(cid)
            live = self.model.get(cid)
            expected = expected_outcome(actor, live)
            got = attempt(expected, lambda: self.sessions[actor].contacts.update(cid, **changes))
            if expected is None:
                assert live is not None
                live.word = word
                self.changed = True
                assert isinstance(got, Contact)
                assert_matches(got, live)

        @precondition(lambda self: self.model or self.gone)
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            cid = self.pick_contact(data)
            actor = self.pick_actor(data, cid)
            self.touched.add(cid)
            c = self.model.get(cid)
            expected = expected_outcome(actor, c)
            attempt(expected, lambda: self.sessions[actor].contacts.delete(cid))
            if expected is None:
                assert c is not None
                self.gone[cid] = self.model.pop(cid)
                self.changed = True

        @rule(data=st.data())
        def choose_fragment(self, data: st.DataObject) -> None:
            """Pick the text the invariant searches for: a piece of some contact's name
            (live or deleted) in random case, or a fixed fragment."""
            names = sorted(c.display_name for c in [*self.model.values(), *self.gone.values()])
            if names and data.draw(st.booleans()):
                name = data.draw(st.sampled_from(names))
                start = data.draw(st.integers(0, len(name) - 3))
                stop = data.draw(st.integers(start + 3, min(len(name), start + 6)))
                piece = name[start:stop]
                if piece != piece.strip():
                    return
                self.fragment = data.draw(
                    st.sampled_from((piece, piece.lower(), piece.upper(), piece.swapcase()))
                )
            else:
                self.fragment = data.draw(st.sampled_from(FIXED_FRAGMENTS))
            self.new_fragment = True

        @rule(
            actor=users,
            sort=st.sampled_from(("name", "-name", "created", "-created", "type", "-type")),
            limit=st.integers(1, 4),
        )
        def page_through(self, actor: str, sort: str, limit: int) -> None:
            """Keyset paging with the permission filter: every readable contact exactly once."""
            ids = [c.id for c in all_pages(self.sessions[actor], sort=sort, limit=limit)]
            assert len(ids) == len(set(ids)), f"duplicates while paging: {ids}"
            assert set(ids) == self.readable(actor)

        # --- invariants -----------------------------------------------------------------

        def readable(self, user_id: str) -> set[int]:
            return {cid for cid, c in self.model.items() if may_read(user_id, c)}

        def check_get(self, ids: set[int]) -> None:
            """``get`` works for exactly the users S1 lets read (deleted: for nobody)."""
            for user_id, session in self.sessions.items():
                for cid in sorted(ids):
                    c = self.model.get(cid)
                    if c is not None and may_read(user_id, c):
                        assert_matches(session.contacts.get(cid), c)
                    else:
                        with pytest.raises(NotFound):
                            session.contacts.get(cid)

        @invariant()
        def every_user_sees_exactly_what_s1_allows(self) -> None:
            """For every user: ``get`` of each touched contact, ``list`` (all pages),
            ``count`` and ``search`` return exactly what S1 allows.

            To stay within the time budget, reads whose answer cannot have changed are not
            repeated: ``get`` is checked for the contacts a rule touched (a contact's
            readability depends on its own state only; deleted ones must be NotFound), and
            after a step that changed nothing (a refused edit, paging) only the admin's list,
            which reads back every contact's access, managers and name, must still match
            the model.
            """
            self.check_get(self.touched)
            self.touched.clear()
            everyone = self.changed
            for user_id, session in self.sessions.items():
                if everyone or IS_ADMIN[user_id]:
                    self.check_list(user_id, session)
                if everyone or self.new_fragment:
                    self.check_search(user_id, session)
            self.changed = self.new_fragment = False

        def check_list(self, user_id: str, session: Session) -> None:
            allowed = self.readable(user_id)
            listed = all_pages(session)
            ids = [c.id for c in listed]
            assert len(ids) == len(set(ids)), f"{user_id}: duplicates in list: {ids}"
            assert set(ids) == allowed, user_id
            for got in listed:
                assert_matches(got, self.model[got.id])
            assert session.contacts.count() == len(allowed), user_id

        def check_search(self, user_id: str, session: Session) -> None:
            needle = self.fragment.strip().casefold()
            want = {
                cid
                for cid in self.readable(user_id)
                if needle in self.model[cid].display_name.casefold()
            }
            found = {c.id for c in session.contacts.search(self.fragment, limit=500)}
            assert found == want, (user_id, self.fragment)

    return ContactAccessMachine


def test_contact_access_state_machine(engine: sa.Engine) -> None:
    crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(ALL_USERS))
    run_state_machine_as_test(make_machine(crm, engine), settings=SETTINGS)


# --- the same rules, pinned with exact values -----------------------------------------------


@pytest.fixture
def carol(crm: CRM, users: dict[str, User]) -> Session:
    return crm.session(users["carol"])


def visible(session: Session) -> tuple[set[int], int, set[int]]:
    """(ids listed, count, ids found by searching "Zeta") as ``session`` sees them."""
    listed = {c.id for c in session.contacts.list(limit=500)}
    found = {c.id for c in session.contacts.search("zeta", limit=500)}
    return listed, session.contacts.count(), found


def test_private_contact_is_invisible_to_non_managers(admin, alice, bob):
    c = alice.contacts.add_person("Zeta", "Private")
    assert (c.access, c.managers) == (Access.PRIVATE, frozenset({"alice"}))

    with pytest.raises(NotFound) as hidden:
        bob.contacts.get(c.id)
    with pytest.raises(NotFound) as missing:
        bob.contacts.get(c.id + 1000)
    # No existence oracle: the same error, worded the same way, as for a missing id.
    assert str(hidden.value) == f"contact {c.id!r} not found"
    assert str(missing.value) == f"contact {c.id + 1000!r} not found"

    with pytest.raises(NotFound):
        bob.contacts.update(c.id, first_name="Mine")
    with pytest.raises(NotFound):
        bob.contacts.set_access(c.id, "read_write", {"bob"})
    with pytest.raises(NotFound):
        bob.contacts.delete(c.id)
    # Rights are checked before the input: a bad request on a hidden contact is still NotFound.
    with pytest.raises(NotFound):
        bob.contacts.set_access(c.id, "nonsense", {"mallory"})

    assert visible(bob) == (set(), 0, set())
    assert visible(alice) == ({c.id}, 1, {c.id})
    assert visible(admin) == ({c.id}, 1, {c.id})
    assert alice.contacts.get(c.id).display_name == "Zeta Private"


def test_read_access_lets_everyone_read_but_only_managers_edit(alice, bob, carol):
    c = alice.contacts.add_company("Zeta Readable", access="read")
    assert (c.access, c.managers) == (Access.READ, frozenset({"alice"}))

    assert bob.contacts.get(c.id).display_name == "Zeta Readable"
    assert visible(bob) == ({c.id}, 1, {c.id})
    with pytest.raises(PermissionDenied):
        bob.contacts.update(c.id, name="Bob's now")
    with pytest.raises(PermissionDenied):
        bob.contacts.set_access(c.id, managers={"bob"})
    with pytest.raises(PermissionDenied):
        bob.contacts.set_access(c.id, access="read_write")
    with pytest.raises(PermissionDenied):
        bob.contacts.delete(c.id)
    # Editing rights come before input checks: a reader's bad request is PermissionDenied.
    with pytest.raises(PermissionDenied):
        bob.contacts.set_access(c.id, managers={"mallory"})

    unchanged = alice.contacts.get(c.id)
    assert (unchanged.display_name, unchanged.access, unchanged.managers) == (
        "Zeta Readable",
        Access.READ,
        frozenset({"alice"}),
    )

    # A manager edits: alice names carol a co-manager, and carol may then edit.
    alice.contacts.set_access(c.id, managers={"alice", "carol"})
    assert carol.contacts.update(c.id, name="Zeta Carol").display_name == "Zeta Carol"
    with pytest.raises(PermissionDenied):
        bob.contacts.update(c.id, name="Zeta Bob")


def test_read_write_lets_everyone_edit_and_reshare(alice, bob, carol):
    c = alice.contacts.add_person("Zeta", "Shared", access="read_write")
    assert (c.access, c.managers) == (Access.READ_WRITE, frozenset({"alice"}))

    assert bob.contacts.update(c.id, last_name="Edited").display_name == "Zeta Edited"
    changed = bob.contacts.set_access(c.id, "private", {"bob"})
    assert (changed.access, changed.managers) == (Access.PRIVATE, frozenset({"bob"}))
    assert changed.updated_by == "bob"

    # Now private and managed by bob alone: alice, the creator, lost it.
    with pytest.raises(NotFound):
        alice.contacts.get(c.id)
    assert visible(alice) == (set(), 0, set())
    assert visible(bob) == ({c.id}, 1, {c.id})

    # Bob shares it read-only again: carol reads but may not edit; bob deletes it.
    bob.contacts.set_access(c.id, "read")
    assert carol.contacts.get(c.id).managers == {"bob"}
    with pytest.raises(PermissionDenied):
        carol.contacts.delete(c.id)
    bob.contacts.delete(c.id)
    with pytest.raises(NotFound):
        bob.contacts.get(c.id)


def test_explicit_managers_replace_the_creator(alice, bob):
    c = alice.contacts.add_person("Zeta", "Delegated", managers={"bob"})
    assert (c.access, c.managers, c.created_by) == (Access.PRIVATE, frozenset({"bob"}), "alice")
    with pytest.raises(NotFound):
        alice.contacts.get(c.id)
    assert visible(alice) == (set(), 0, set())
    assert visible(bob) == ({c.id}, 1, {c.id})


def test_admin_reads_and_edits_everything(admin, alice, bob):
    a = alice.contacts.add_person("Zeta", "Alice")
    b = bob.contacts.add_company("Zeta Bob", access="read")
    assert visible(admin) == ({a.id, b.id}, 2, {a.id, b.id})
    assert admin.contacts.update(a.id, last_name="Admin").display_name == "Zeta Admin"
    moved = admin.contacts.set_access(b.id, "private", {"alice"})
    assert (moved.access, moved.managers) == (Access.PRIVATE, frozenset({"alice"}))
    assert visible(bob) == (set(), 0, set())
    assert visible(alice) == ({a.id, b.id}, 2, {a.id, b.id})
    admin.contacts.delete(a.id)
    assert visible(alice) == ({b.id}, 1, {b.id})


def test_an_empty_manager_list_leaves_a_private_contact_to_admins(admin, alice):
    c = alice.contacts.add_person("Zeta", "Orphan")
    orphan = alice.contacts.set_access(c.id, managers=[])
    assert (orphan.access, orphan.managers) == (Access.PRIVATE, frozenset())
    with pytest.raises(NotFound):
        alice.contacts.get(c.id)
    assert admin.contacts.get(c.id).managers == frozenset()


def test_deleted_contact_ids_are_not_reused(admin):
    # A reused id would point stale references (links, the audit trail's entity ids, a host
    # app's copy) at a different contact.
    first = admin.contacts.add_person("Zeta", "First")
    admin.contacts.delete(first.id)
    second = admin.contacts.add_person("Zeta", "Second")
    assert second.id != first.id
    with pytest.raises(NotFound):
        admin.contacts.get(first.id)
