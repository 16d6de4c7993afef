"""S1 access rules for opportunities and cases: a stateful property test.

A plain-Python model holds every opportunity and case (creator, responsible, restricted flag,
access list, members, title). Five users (four members and a CRM admin) create records,
restrict them, change access lists and responsibles, add members and delete records in random
order. After every step, for every user and both record types, ``get``, ``list`` (paged),
``count``, ``search`` and the contact-page list (``contact=``) must agree with S1:

* read (and edit, delete): CRM admin, or not restricted, or on the access list, which always
  holds the creator and, for an opportunity, the responsible;
* changing ``restricted`` or the access list: CRM admin or the creator;
* a record the user may not read is ``NotFound``; a reader without the access right gets
  ``PermissionDenied``; a contact being added as member that the user may not read is a
  ``ValidationError`` and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from opencrm import (
    CRM,
    InMemoryUserDirectory,
    NotFound,
    PermissionDenied,
    Session,
    User,
    ValidationError,
)

ADMIN = User(id="admin", name="Ada Admin", crm_admin=True)
MEMBERS = tuple(User(id=n, name=n.title()) for n in ("alice", "bob", "carol", "dave"))
ALL_USERS = (ADMIN, *MEMBERS)
USER_IDS = tuple(u.id for u in ALL_USERS)
IS_ADMIN = {u.id: u.crm_admin for u in ALL_USERS}
KINDS = ("opportunity", "case")
WORDS = ("Harlow", "Barlow", "Marsh", "Lowell")
FRAGMENTS = ("arlow", "LOW", "mar", "ell", "zzz", "b")

SETTINGS = settings(
    max_examples=10,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@attrs.define
class Model:
    kind: str
    id: int
    creator: str
    responsible: str | None
    restricted: bool
    access_list: set[str]
    members: set[int]
    title: str


def may_read(user_id: str, r: Model) -> bool:
    return IS_ADMIN[user_id] or not r.restricted or user_id in r.access_list


def may_change_access(user_id: str, r: Model) -> bool:
    return IS_ADMIN[user_id] or user_id == r.creator


def wipe(engine: sa.Engine) -> None:
    """Delete the records and contacts (the audit log is append-only and stays)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM entity_tags WHERE entity_type IN ('opportunity', 'case', 'contact')"
            )
        )
        conn.execute(
            sa.text(
                "DELETE FROM custom_values WHERE entity_type IN ('opportunity', 'case', 'contact')"
            )
        )
        for table in (
            "opportunity_members",
            "opportunity_access",
            "opportunities",
            "case_members",
            "case_access",
            "cases",
            "contact_infos",
            "contact_managers",
        ):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE contacts SET company_id = NULL"))
        conn.execute(sa.text("DELETE FROM contacts"))


def service(session: Session, kind: str):  # type: ignore[no-untyped-def]
    return session.opportunities if kind == "opportunity" else session.cases


def all_ids(session: Session, kind: str, limit: int, **filters: object) -> list[int]:
    out: list[int] = []
    cursor: str | None = None
    for _ in range(500):
        page = service(session, kind).list(limit=limit, after=cursor, **filters)
        out.extend(r.id for r in page)
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("paging does not end")


def attempt(expected: type[Exception] | None, call: Callable[[], object]) -> object:
    if expected is None:
        return call()
    with pytest.raises(expected) as info:
        call()
    assert type(info.value) is expected
    return None


users = st.sampled_from(USER_IDS)
kinds = st.sampled_from(KINDS)
user_sets = st.sets(st.sampled_from(USER_IDS), max_size=3)


def make_machine(crm: CRM, engine: sa.Engine) -> type[RuleBasedStateMachine]:
    class DealAccessMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            wipe(engine)
            self.sessions = {u.id: crm.session(u) for u in ALL_USERS}
            admin = self.sessions["admin"].contacts
            # Contacts to add as members, and who (besides admins) may read each.
            shared = admin.add_company("Shared Co", access="read")
            alices = admin.add_person("Alice's", managers={"alice"})
            bobs = admin.add_person("Bob's", managers={"bob"})
            nobodys = admin.add_person("Nobody's", managers=[])
            self.contact_readers = {
                shared.id: set(USER_IDS),
                alices.id: {"alice"},
                bobs.id: {"bob"},
                nobodys.id: set(),
            }
            self.model: dict[tuple[str, int], Model] = {}
            self.gone: dict[tuple[str, int], Model] = {}
            self.serial = 0
            self.fragment = "low"
            # Since the last check: records a rule touched, whether a rule changed anything,
            # whether the search fragment changed (reads that cannot have changed are skipped).
            self.touched: set[tuple[str, int]] = set()
            self.changed = True
            self.new_fragment = True

        def reads_contact(self, user_id: str, contact_id: int) -> bool:
            return IS_ADMIN[user_id] or user_id in self.contact_readers[contact_id]

        def pick(self, data: st.DataObject) -> tuple[str, int]:
            if self.gone and (not self.model or data.draw(st.integers(0, 5)) == 0):
                key = data.draw(st.sampled_from(sorted(self.gone)), label="deleted record")
            else:
                key = data.draw(st.sampled_from(sorted(self.model)), label="record")
            self.touched.add(key)
            return key

        # --- rules ----------------------------------------------------------------------

        @rule(
            kind=kinds,
            actor=users,
            restricted=st.booleans(),
            access=user_sets,
            responsible=users,
            word=st.sampled_from(WORDS),
            data=st.data(),
        )
        def create(
            self,
            kind: str,
            actor: str,
            restricted: bool,
            access: set[str],
            responsible: str,
            word: str,
            data: st.DataObject,
        ) -> None:
            members = data.draw(st.sets(st.sampled_from(sorted(self.contact_readers))))
            self.serial += 1
            title = f"{word} {kind[0].upper()}{self.serial}"
            fields: dict[str, object] = {
                "members": sorted(members),
                "restricted": restricted,
                "access_list": sorted(access),
            }
            if kind == "opportunity":
                fields["responsible"] = responsible
            ok = all(self.reads_contact(actor, c) for c in members)
            got = attempt(
                None if ok else ValidationError,
                lambda: service(self.sessions[actor], kind).add(title, **fields),
            )
            if not ok:
                return
            resp = responsible if kind == "opportunity" else None
            want = Model(
                kind,
                got.id,  # type: ignore[attr-defined]
                actor,
                resp,
                restricted,
                access | {actor} | ({resp} if resp else set()),
                set(members),
                title,
            )
            assert (kind, want.id) not in self.model
            self.gone.pop((kind, want.id), None)
            self.check_record(got, want)
            self.model[(kind, want.id)] = want
            self.touched.add((kind, want.id))
            self.changed = True

        @precondition(lambda self: self.model or self.gone)
        @rule(
            actor=users,
            restricted=st.none() | st.booleans(),
            access=st.none() | user_sets,
            data=st.data(),
        )
        def set_access(
            self,
            actor: str,
            restricted: bool | None,
            access: set[str] | None,
            data: st.DataObject,
        ) -> None:
            key = self.pick(data)
            r = self.model.get(key)
            if r is None or not may_read(actor, r):
                expected: type[Exception] | None = NotFound
            elif not may_change_access(actor, r):
                expected = PermissionDenied
            else:
                expected = None
            got = attempt(
                expected,
                lambda: service(self.sessions[actor], key[0]).set_access(
                    key[1], restricted, None if access is None else sorted(access)
                ),
            )
            if expected is None:
                assert r is not None
                if restricted is not None:
                    r.restricted = restricted
                if access is not None:
                    r.access_list = (
                        access | {r.creator} | ({r.responsible} if r.responsible else set())
                    )
                self.check_record(got, r)
                self.changed = True

        @precondition(lambda self: any(k[0] == "opportunity" for k in self.model))
        @rule(actor=users, responsible=users, data=st.data())
        def change_responsible(self, actor: str, responsible: str, data: st.DataObject) -> None:
            keys = sorted(k for k in self.model if k[0] == "opportunity")
            key = data.draw(st.sampled_from(keys))
            self.touched.add(key)
            r = self.model[key]
            expected = None if may_read(actor, r) else NotFound
            got = attempt(
                expected,
                lambda: self.sessions[actor].opportunities.update(key[1], responsible=responsible),
            )
            if expected is None:
                r.responsible = responsible
                r.access_list.add(responsible)
                self.check_record(got, r)
                self.changed = True

        @precondition(lambda self: self.model or self.gone)
        @rule(actor=users, data=st.data())
        def add_member(self, actor: str, data: st.DataObject) -> None:
            key = self.pick(data)
            contact = data.draw(st.sampled_from(sorted(self.contact_readers)))
            r = self.model.get(key)
            if r is None or not may_read(actor, r):
                expected: type[Exception] | None = NotFound
            elif contact not in r.members and not self.reads_contact(actor, contact):
                expected = ValidationError
            else:
                expected = None
            members = sorted((r.members if r else set()) | {contact})
            got = attempt(
                expected,
                lambda: service(self.sessions[actor], key[0]).update(key[1], members=members),
            )
            if expected is None:
                assert r is not None
                r.members.add(contact)
                self.check_record(got, r)
                self.changed = True

        @precondition(lambda self: self.model or self.gone)
        @rule(actor=users, data=st.data())
        def delete(self, actor: str, data: st.DataObject) -> None:
            key = self.pick(data)
            r = self.model.get(key)
            expected = None if r is not None and may_read(actor, r) else NotFound
            attempt(expected, lambda: service(self.sessions[actor], key[0]).delete(key[1]))
            if expected is None:
                self.gone[key] = self.model.pop(key)
                self.changed = True

        @rule(fragment=st.sampled_from(FRAGMENTS))
        def choose_fragment(self, fragment: str) -> None:
            self.new_fragment = fragment != self.fragment
            self.fragment = fragment

        # --- invariants -----------------------------------------------------------------

        def check_record(self, got: object, want: Model) -> None:
            assert got.id == want.id  # type: ignore[attr-defined]
            assert got.title == want.title  # type: ignore[attr-defined]
            assert got.restricted is want.restricted  # type: ignore[attr-defined]
            assert got.access_list == want.access_list  # type: ignore[attr-defined]
            assert got.members == want.members  # type: ignore[attr-defined]
            if want.kind == "opportunity":
                assert got.responsible == want.responsible  # type: ignore[attr-defined]

        def readable(self, user_id: str, kind: str) -> set[int]:
            return {k[1] for k, r in self.model.items() if k[0] == kind and may_read(user_id, r)}

        @invariant()
        def every_user_sees_exactly_what_s1_allows(self) -> None:
            """``get`` of every touched record for every user; after a change, every user's
            lists (paged), counts, searches and contact pages; after a new search fragment,
            the searches. A refused step changes nothing, so only the admin's list, which
            reads back every record, is repeated then."""
            touched, self.touched = self.touched, set()
            for user_id, session in self.sessions.items():
                for kind in KINDS:
                    for key in sorted(k for k in touched if k[0] == kind):
                        self.check_get(user_id, session, key)
                    if self.changed or IS_ADMIN[user_id]:
                        self.check_list(user_id, session, kind)
                    if self.changed or self.new_fragment:
                        self.check_search(user_id, session, kind)
            self.changed = self.new_fragment = False

        def check_get(self, user_id: str, session: Session, key: tuple[str, int]) -> None:
            r = self.model.get(key)
            if r is not None and may_read(user_id, r):
                self.check_record(service(session, key[0]).get(key[1]), r)
            else:
                with pytest.raises(NotFound):
                    service(session, key[0]).get(key[1])

        def check_list(self, user_id: str, session: Session, kind: str) -> None:
            allowed = self.readable(user_id, kind)
            listed = all_ids(session, kind, limit=4)
            assert len(listed) == len(set(listed)), (user_id, kind, listed)
            assert set(listed) == allowed, (user_id, kind)
            assert service(session, kind).count() == len(allowed), (user_id, kind)
            if IS_ADMIN[user_id]:
                for r in service(session, kind).list(limit=500):
                    self.check_record(r, self.model[(kind, r.id)])
            for contact in self.contact_readers:
                if not self.reads_contact(user_id, contact):
                    with pytest.raises(NotFound):
                        service(session, kind).count(contact=contact)
                    continue
                on_page = {i for i in allowed if contact in self.model[(kind, i)].members}
                assert set(all_ids(session, kind, 500, contact=contact)) == on_page
                if contact == min(self.contact_readers):  # the shared contact, readable to all
                    assert service(session, kind).count(contact=contact) == len(on_page)

        def check_search(self, user_id: str, session: Session, kind: str) -> None:
            needle = self.fragment.casefold()
            titles = {
                i: self.model[(kind, i)].title.casefold() for i in self.readable(user_id, kind)
            }
            if len(needle) >= 3:
                want = {i for i, t in titles.items() if needle in t}
            else:
                want = {i for i, t in titles.items() if t.startswith(needle)}
            found = {r.id for r in service(session, kind).search(self.fragment, limit=500)}
            assert found == want, (user_id, kind, self.fragment)

    return DealAccessMachine


def test_opportunity_and_case_access_state_machine(engine: sa.Engine) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(ALL_USERS))
    run_state_machine_as_test(make_machine(crm, engine), settings=SETTINGS)
