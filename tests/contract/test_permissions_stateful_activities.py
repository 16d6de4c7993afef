"""S1 access rules for tasks and history events: a stateful property test.

A plain-Python model holds every contact (access, managers), opportunity and case (creator,
responsible, restricted flag, access list), task (creator, responsible, links, description,
closed) and history event (author, links, content, closing task). Four users (three members
and a CRM admin) create all of these, re-share contacts and deals, hand tasks to another
responsible, close, reopen and delete tasks, and delete events, contacts and deals in random
order; each attempt must succeed or fail exactly as the model predicts. The model states the
rules itself (it does not call :mod:`opencrm.core.permissions`):

* a record linked to a contact and/or an opportunity or case has readable *parents* for a
  user when the user may read every one of them (contact: not private, or managed by the
  user; opportunity/case: not restricted, or on its access list, which always holds the
  creator and an opportunity's responsible); CRM admins read everything;
* task: read by an admin, its responsible, its creator, or whoever reads its parents (every
  user, for a task linked to nothing); edit, close, reopen, delete only by an admin, the
  responsible or the creator;
* history event: read by whoever reads its parents; edit and delete by a reader who is its
  author, an admin, or may edit every linked record (a contact's editors: managers, or
  everybody for ``read_write``; an opportunity's or case's readers);
* an unreadable record is ``NotFound`` (as a missing one is), a reader without the right gets
  ``PermissionDenied``; linking a record the creator may not read is a ``ValidationError``;
* closing a linked task writes a "Task closed" event (author: who closed it) with the task's
  links; deleting a contact, opportunity or case deletes its tasks and events; deleting a task
  keeps the events its closing wrote, without the task.

After every step, for every user, ``get`` and an edit probe (``tasks.update`` of the
description, ``history.update`` of the content) of every touched task and event, and ``list``
(all pages, with a small page size and a random sort, in order where the test can recompute
it) and ``count`` of both, must agree with the model; so must the lists of one record's tasks
and events (``contact=``, ``opportunity=``, ``case=``; NotFound for a record the user may not
read). A task or event linked to a readable contact and a restricted opportunity or case is
hidden from users outside the access list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

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
    InMemoryUserDirectory,
    NotFound,
    PermissionDenied,
    Session,
    User,
    ValidationError,
)

ADMIN = User(id="admin", name="Ada Admin", crm_admin=True)
MEMBERS = tuple(User(id=n, name=n.title()) for n in ("alice", "bob", "carol"))
ALL_USERS = (ADMIN, *MEMBERS)
USER_IDS = tuple(u.id for u in ALL_USERS)
IS_ADMIN = {u.id: u.crm_admin for u in ALL_USERS}
KINDS = ("opportunity", "case")
# What a task or event is linked to: a contact and/or an opportunity or a case.
TASK_SHAPES = (
    (),
    ("contact",),
    ("opportunity",),
    ("case",),
    ("contact", "opportunity"),
    ("contact", "case"),
)
EVENT_SHAPES = TASK_SHAPES[1:]
TASK_CATEGORIES = ("Phone call", "Email", "Note")
HISTORY_CATEGORIES = ("Note", "Phone call")
TASK_SORTS = ("due", "-due", "title", "-title", "created", "-created", "category", "contact")
HISTORY_SORTS = ("-date", "date", "created", "-created")
WORDS = ("Call", "call", "Visit", "Quote")
# Few distinct times, so that sort keys tie and the id decides the page boundaries.
BASE = dt.datetime(2030, 3, 2, 9, 0, tzinfo=dt.UTC)
hours = st.integers(0, 2)

# About 10 s per backend. Derandomized, so that CI runs the same examples every time (the
# rules are grouped into few, as Hypothesis leaves out a random subset of rules per example).
SETTINGS = settings(
    max_examples=7,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Outcome = type[Exception] | None
DealKey = tuple[str, int]


# --- the model ------------------------------------------------------------------------------


@attrs.define
class ContactM:
    access: Access
    managers: frozenset[str]


@attrs.define
class DealM:
    creator: str
    responsible: str | None  # opportunities only
    restricted: bool
    access_list: frozenset[str]


@attrs.define
class TaskM:
    id: int
    title: str
    creator: str
    responsible: str
    contact: int | None
    deal: DealKey | None
    description: str = ""
    closed: bool = False


@attrs.define
class EventM:
    id: int
    author: str
    contact: int | None
    deal: DealKey | None
    content: str
    task: int | None = None


def reads_contact(user_id: str, c: ContactM | None) -> bool:
    return c is not None and (
        IS_ADMIN[user_id] or c.access is not Access.PRIVATE or user_id in c.managers
    )


def edits_contact(user_id: str, c: ContactM | None) -> bool:
    return c is not None and (
        IS_ADMIN[user_id] or c.access is Access.READ_WRITE or user_id in c.managers
    )


def reads_deal(user_id: str, d: DealM | None) -> bool:
    return d is not None and (IS_ADMIN[user_id] or not d.restricted or user_id in d.access_list)


def contact_outcome(user_id: str, c: ContactM | None) -> Outcome:
    if not reads_contact(user_id, c):
        return NotFound
    if not edits_contact(user_id, c):
        return PermissionDenied
    return None


def link_ids(contact: int | None, deal: DealKey | None) -> dict[str, int | None]:
    return {
        "contact_id": contact,
        "opportunity_id": deal[1] if deal and deal[0] == "opportunity" else None,
        "case_id": deal[1] if deal and deal[0] == "case" else None,
    }


def attempt(expected: Outcome, call: Callable[[], object]) -> Any:
    """Run ``call``; it must raise exactly ``expected`` (or succeed when that is None)."""
    event(f"outcome: {expected.__name__ if expected else 'allowed'}")
    if expected is None:
        return call()
    with pytest.raises(expected) as info:
        call()
    assert type(info.value) is expected, info.value
    return None


def assert_task(got: Any, want: TaskM) -> None:
    assert got.id == want.id
    assert got.title == want.title
    assert got.created_by == want.creator
    assert got.responsible == want.responsible
    assert {k: getattr(got, k) for k in ("contact_id", "opportunity_id", "case_id")} == (
        link_ids(want.contact, want.deal)
    ), want
    assert got.description == want.description
    assert got.closed is want.closed


def assert_event(got: Any, want: EventM) -> None:
    assert got.id == want.id
    assert got.created_by == want.author
    assert {k: getattr(got, k) for k in ("contact_id", "opportunity_id", "case_id")} == (
        link_ids(want.contact, want.deal)
    ), want
    assert got.content == want.content
    assert got.task_id == want.task


def wipe(engine: sa.Engine) -> None:
    """Delete activities, deals and contacts (the audit log is append-only and stays)."""
    with engine.begin() as conn:
        for table in ("history_files", "history_events", "tasks"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
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


def all_pages(list_page: Callable[..., Any], sort: str, limit: int) -> list[Any]:
    """Every item of a keyset-paged list, walking the cursors."""
    out: list[Any] = []
    cursor: str | None = None
    for _ in range(500):
        page = list_page(sort=sort, limit=limit, after=cursor)
        assert len(page.items) <= limit
        out.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return out
        assert page.items, "a page with a next_cursor must not be empty"
    raise AssertionError("paging does not end")


# Sort keys the test can recompute from the returned records (the others are only checked
# for completeness and uniqueness).
TASK_KEYS: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "due": lambda t: (t.due_at, t.id),
    "title": lambda t: (t.title.casefold(), t.id),
    "created": lambda t: (t.created_at, t.id),
}
EVENT_KEYS: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "date": lambda e: (e.happened_at, e.id),
    "created": lambda e: (e.created_at, e.id),
}


def assert_sorted(items: list[Any], sort: str, keys: dict[str, Callable[[Any], Any]]) -> None:
    key = keys.get(sort.lstrip("-"))
    if key is None:
        return
    got = [key(i) for i in items]
    assert got == sorted(got, reverse=sort.startswith("-")), sort


users = st.sampled_from(USER_IDS)
accesses = st.sampled_from(tuple(Access))
user_sets = st.frozensets(st.sampled_from(USER_IDS), max_size=3)


def make_machine(crm: CRM, engine: sa.Engine) -> type[RuleBasedStateMachine]:
    class ActivityAccessMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            wipe(engine)
            self.sessions = {u.id: crm.session(u) for u in ALL_USERS}
            self.contacts: dict[int, ContactM] = {}
            self.gone_contacts: set[int] = set()
            self.deals: dict[DealKey, DealM] = {}
            self.gone_deals: set[DealKey] = set()
            self.tasks: dict[int, TaskM] = {}
            self.gone_tasks: set[int] = set()
            self.events: dict[int, EventM] = {}
            self.gone_events: set[int] = set()
            self.serial = 0
            self.task_sort, self.event_sort, self.limit = "due", "-date", 3
            # Since the last check: the tasks and events whose readability or editability may
            # have changed (or that a rule tried to change), and whether anything changed.
            self.touched_tasks: set[int] = set()
            self.touched_events: set[int] = set()
            self.changed = True

        # --- the rules of S1, on the model ------------------------------------------------

        def reads_parents(self, user_id: str, contact: int | None, deal: DealKey | None) -> bool:
            if IS_ADMIN[user_id]:
                return True
            if contact is not None and not reads_contact(user_id, self.contacts.get(contact)):
                return False
            return deal is None or reads_deal(user_id, self.deals.get(deal))

        def reads_task(self, user_id: str, t: TaskM | None) -> bool:
            return t is not None and (
                IS_ADMIN[user_id]
                or user_id in (t.responsible, t.creator)
                or self.reads_parents(user_id, t.contact, t.deal)
            )

        def task_outcome(self, user_id: str, t: TaskM | None) -> Outcome:
            if t is None or not self.reads_task(user_id, t):
                return NotFound
            if not (IS_ADMIN[user_id] or user_id in (t.responsible, t.creator)):
                return PermissionDenied
            return None

        def reads_event(self, user_id: str, e: EventM | None) -> bool:
            return e is not None and self.reads_parents(user_id, e.contact, e.deal)

        def event_outcome(self, user_id: str, e: EventM | None) -> Outcome:
            if e is None or not self.reads_event(user_id, e):
                return NotFound
            if IS_ADMIN[user_id] or user_id == e.author:
                return None
            # A reader of the event reads its opportunity or case, and so may edit it.
            if e.contact is None or edits_contact(user_id, self.contacts.get(e.contact)):
                return None
            return PermissionDenied

        def links_readable(self, user_id: str, contact: int | None, deal: DealKey | None) -> bool:
            """Whether ``user_id`` may link these records (each one exists and is readable)."""
            if contact is not None and not reads_contact(user_id, self.contacts.get(contact)):
                return False
            return deal is None or reads_deal(user_id, self.deals.get(deal))

        def touch_linked(self, contact: int | None = None, deal: DealKey | None = None) -> None:
            """Mark the tasks and events linked to a contact or deal whose access changed."""
            for t in self.tasks.values():
                if (contact is not None and t.contact == contact) or (
                    deal is not None and t.deal == deal
                ):
                    self.touched_tasks.add(t.id)
            for e in self.events.values():
                if (contact is not None and e.contact == contact) or (
                    deal is not None and e.deal == deal
                ):
                    self.touched_events.add(e.id)

        def drop_linked(self, contact: int | None = None, deal: DealKey | None = None) -> None:
            """A deleted contact or deal takes its tasks and events with it."""
            self.touch_linked(contact, deal)
            for tid in [
                t.id
                for t in self.tasks.values()
                if (contact is not None and t.contact == contact)
                or (deal is not None and t.deal == deal)
            ]:
                del self.tasks[tid]
                self.gone_tasks.add(tid)
            for eid in [
                e.id
                for e in self.events.values()
                if (contact is not None and e.contact == contact)
                or (deal is not None and e.deal == deal)
            ]:
                del self.events[eid]
                self.gone_events.add(eid)

        # --- picking ----------------------------------------------------------------------

        def pick_contact(self, data: st.DataObject) -> int:
            """Mostly a live contact, sometimes a deleted one."""
            if self.gone_contacts and (not self.contacts or data.draw(st.integers(0, 5)) == 0):
                return data.draw(st.sampled_from(sorted(self.gone_contacts)), label="gone contact")
            return data.draw(st.sampled_from(sorted(self.contacts)), label="contact")

        def pick_deal(self, data: st.DataObject, kind: str | None = None) -> DealKey:
            live = sorted(k for k in self.deals if kind in (None, k[0]))
            gone = sorted(k for k in self.gone_deals if kind in (None, k[0]))
            if gone and (not live or data.draw(st.integers(0, 5)) == 0):
                return data.draw(st.sampled_from(gone), label="gone deal")
            return data.draw(st.sampled_from(live), label="deal")

        def pick_links(
            self, data: st.DataObject, shapes: Iterable[tuple[str, ...]]
        ) -> tuple[int | None, DealKey | None] | None:
            """Links of a random shape among those the known records allow (None: none)."""
            have = {
                "contact": bool(self.contacts or self.gone_contacts),
                **{k: any(d[0] == k for d in (*self.deals, *self.gone_deals)) for k in KINDS},
            }
            possible = [s for s in shapes if all(have[p] for p in s)]
            if not possible:
                return None
            shape = data.draw(st.sampled_from(possible), label="links")
            contact = self.pick_contact(data) if "contact" in shape else None
            kind = next((k for k in KINDS if k in shape), None)
            deal = self.pick_deal(data, kind) if kind else None
            return contact, deal

        def pick_task(self, data: st.DataObject) -> int:
            if self.gone_tasks and (not self.tasks or data.draw(st.integers(0, 5)) == 0):
                tid = data.draw(st.sampled_from(sorted(self.gone_tasks)), label="gone task")
            else:
                tid = data.draw(st.sampled_from(sorted(self.tasks)), label="task")
            self.touched_tasks.add(tid)
            return tid

        def pick_event(self, data: st.DataObject) -> int:
            if self.gone_events and (not self.events or data.draw(st.integers(0, 5)) == 0):
                eid = data.draw(st.sampled_from(sorted(self.gone_events)), label="gone event")
            else:
                eid = data.draw(st.sampled_from(sorted(self.events)), label="event")
            self.touched_events.add(eid)
            return eid

        def pick_actor(self, data: st.DataObject, *people: str | None) -> str:
            """Any user, one of ``people`` (creator, responsible, author), or a member who is
            none of them: the users for whom the links decide."""
            named = sorted({p for p in people if p is not None})
            others = [u for u in USER_IDS if not IS_ADMIN[u] and u not in named]
            choice = users
            if named:
                choice |= st.sampled_from(named)
            if others:
                choice |= st.sampled_from(others)
            return data.draw(choice, label="actor")

        # --- rules: contacts and deals -----------------------------------------------------

        @initialize(data=st.data())
        def seed(self, data: st.DataObject) -> None:
            """Start with a few contacts, deals, tasks and events, one of them made unreadable
            to a member, and one task closed (or tried to), so most steps act on states that
            matter."""
            for _ in range(data.draw(st.integers(2, 3), label="seed contacts")):
                self.add_contact(data.draw(users), data.draw(accesses), data.draw(user_sets))
            for kind in (*KINDS, data.draw(st.sampled_from(KINDS))):
                self.add_deal(
                    kind,
                    data.draw(users),
                    data.draw(st.booleans()),
                    data.draw(user_sets),
                    data.draw(users),
                )
            for _ in range(data.draw(st.integers(3, 6), label="seed tasks")):
                self.add_task(data)
            for _ in range(data.draw(st.integers(3, 6), label="seed events")):
                self.add_event(data)
            for _ in range(data.draw(st.integers(1, 2), label="seed lock-outs")):
                if self.linked_records():
                    self.lock_out(data)
            if self.tasks:
                self.close_or_reopen(True, data)

        @rule(kind=st.sampled_from(("contact", *KINDS)), data=st.data())
        def add_record(self, kind: str, data: st.DataObject) -> None:
            """A random user adds a contact with random access and managers, or an opportunity
            or case, restricted or not, with a random access list (and responsible)."""
            if kind == "contact":
                self.add_contact(data.draw(users), data.draw(accesses), data.draw(user_sets))
            else:
                self.add_deal(
                    kind,
                    data.draw(users),
                    data.draw(st.booleans()),
                    data.draw(user_sets),
                    data.draw(users),
                )

        def add_contact(self, actor: str, access: Access, managers: frozenset[str]) -> None:
            self.serial += 1
            got = self.sessions[actor].contacts.add_company(
                f"Client {self.serial}", access=access, managers=sorted(managers)
            )
            assert (got.access, got.managers) == (access, managers)
            assert got.id not in self.contacts
            self.gone_contacts.discard(got.id)  # in case SQLite hands out a deleted id again
            self.contacts[got.id] = ContactM(access, managers)

        def add_deal(
            self,
            kind: str,
            actor: str,
            restricted: bool,
            access: frozenset[str],
            responsible: str,
        ) -> None:
            self.serial += 1
            fields: dict[str, Any] = {"restricted": restricted, "access_list": sorted(access)}
            if kind == "opportunity":
                fields["responsible"] = responsible
            s = self.sessions[actor]
            service = s.opportunities if kind == "opportunity" else s.cases
            got = service.add(f"{kind.title()} {self.serial}", **fields)
            resp = responsible if kind == "opportunity" else None
            want = DealM(actor, resp, restricted, access | {actor} | {p for p in (resp,) if p})
            assert (got.restricted, got.access_list) == (want.restricted, want.access_list)
            key = (kind, got.id)
            assert key not in self.deals
            self.gone_deals.discard(key)
            self.deals[key] = want

        @precondition(lambda self: self.contacts or self.deals)
        @rule(data=st.data())
        def share(self, data: st.DataObject) -> None:
            """Change who may read a contact, opportunity or case, and so what is linked to it
            (one rule, so that Hypothesis's swarm testing, which leaves out some rules in each
            example, does not leave out re-sharing)."""
            ops: list[Callable[[st.DataObject], None]] = []
            if self.contacts:
                ops.append(self.share_contact)
            if self.deals:
                ops.append(self.share_deal)
            if self.linked_records():
                ops.append(self.lock_out)
            if any(k[0] == "opportunity" for k in self.deals):
                ops.append(self.change_opportunity_responsible)
            data.draw(st.sampled_from(ops), label="share")(data)

        def share_contact(self, data: st.DataObject) -> None:
            """Re-sharing a contact changes who reads (and edits) what is linked to it."""
            access = data.draw(st.none() | accesses, label="access")
            managers = data.draw(st.none() | user_sets, label="managers")
            cid = data.draw(st.sampled_from(sorted(self.contacts)), label="contact")
            actor = self.pick_actor(data, *sorted(self.contacts[cid].managers))
            self.set_contact_access(actor, cid, access, managers)

        def share_deal(self, data: st.DataObject) -> None:
            """Restricting an opportunity or case, or changing its access list (admin or
            creator), changes who reads what is linked to it."""
            restricted = data.draw(st.none() | st.booleans(), label="restricted")
            access = data.draw(st.none() | user_sets, label="access list")
            key = data.draw(st.sampled_from(sorted(self.deals)), label="deal")
            actor = self.pick_actor(data, self.deals[key].creator)
            self.set_deal_access(actor, key, restricted, access)

        def linked_records(self) -> list[TaskM | EventM]:
            """The live tasks and events linked to something."""
            records: list[TaskM | EventM] = [*self.tasks.values(), *self.events.values()]
            return [r for r in records if r.contact is not None or r.deal is not None]

        def lock_out(self, data: st.DataObject) -> None:
            """Make one linked record of a task or event unreadable to one member (mostly its
            creator, responsible or author): the states in which only being the creator or
            the responsible still shows a task, or a public contact no longer shows a
            restricted deal's records. The change is made by whoever may make it (the admin,
            a manager of the contact, the creator of the deal), or tried by anyone."""
            linked = self.linked_records()
            tasks: list[TaskM | EventM] = [r for r in linked if isinstance(r, TaskM)]
            if data.draw(st.booleans(), label="a task") and tasks:
                linked = tasks
            r = data.draw(st.sampled_from(linked), label="record")
            people = (r.creator, r.responsible) if isinstance(r, TaskM) else (r.author,)
            named = [u for u in people if not IS_ADMIN[u]]
            if not named or data.draw(st.integers(0, 3), label="anyone") == 0:
                named = [u for u in USER_IDS if not IS_ADMIN[u]]
            locked = data.draw(st.sampled_from(named), label="locked out")
            others = st.frozensets(st.sampled_from([u for u in USER_IDS if u != locked]))
            anyone = data.draw(st.integers(0, 3), label="any actor") == 0
            if r.contact is not None and (r.deal is None or data.draw(st.booleans())):
                c = self.contacts[r.contact]
                entitled = st.sampled_from(["admin", *sorted(c.managers)])
                actor = data.draw(users if anyone else entitled, label="actor")
                self.set_contact_access(actor, r.contact, Access.PRIVATE, data.draw(others))
            else:
                assert r.deal is not None
                d = self.deals[r.deal]
                entitled = st.sampled_from(["admin", d.creator])
                actor = data.draw(users if anyone else entitled, label="actor")
                self.set_deal_access(actor, r.deal, True, data.draw(others))

        def set_contact_access(
            self, actor: str, cid: int, access: Access | None, managers: frozenset[str] | None
        ) -> None:
            c = self.contacts[cid]
            expected = contact_outcome(actor, c)
            got = attempt(
                expected,
                lambda: self.sessions[actor].contacts.set_access(
                    cid, access, None if managers is None else sorted(managers)
                ),
            )
            if expected is None:
                c.access = access if access is not None else c.access
                c.managers = managers if managers is not None else c.managers
                assert (got.access, got.managers) == (c.access, c.managers)
                self.touch_linked(contact=cid)
                self.changed = True

        def set_deal_access(
            self, actor: str, key: DealKey, restricted: bool | None, access: frozenset[str] | None
        ) -> None:
            d = self.deals[key]
            if not reads_deal(actor, d):
                expected: Outcome = NotFound
            elif not (IS_ADMIN[actor] or actor == d.creator):
                expected = PermissionDenied
            else:
                expected = None
            s = self.sessions[actor]
            service = s.opportunities if key[0] == "opportunity" else s.cases
            got = attempt(
                expected,
                lambda: service.set_access(
                    key[1], restricted, None if access is None else sorted(access)
                ),
            )
            if expected is None:
                if restricted is not None:
                    d.restricted = restricted
                if access is not None:
                    d.access_list = access | {d.creator} | {p for p in (d.responsible,) if p}
                assert (got.restricted, got.access_list) == (d.restricted, d.access_list)
                self.touch_linked(deal=key)
                self.changed = True

        def change_opportunity_responsible(self, data: st.DataObject) -> None:
            """Any reader may hand an opportunity on; the new responsible joins its list."""
            responsible = data.draw(users, label="responsible")
            keys = sorted(k for k in self.deals if k[0] == "opportunity")
            key = data.draw(st.sampled_from(keys), label="opportunity")
            d = self.deals[key]
            actor = self.pick_actor(data, d.creator, d.responsible)
            expected = None if reads_deal(actor, d) else NotFound
            got = attempt(
                expected,
                lambda: self.sessions[actor].opportunities.update(key[1], responsible=responsible),
            )
            if expected is None:
                d.responsible = responsible
                d.access_list |= {responsible}
                assert (got.responsible, got.access_list) == (responsible, d.access_list)
                self.touch_linked(deal=key)
                self.changed = True

        @precondition(lambda self: self.contacts or self.deals)
        @rule(data=st.data())
        def delete_parent(self, data: st.DataObject) -> None:
            """Deleting a contact (its editors) or an opportunity or case (its readers) takes
            the tasks and events linked to it along."""
            links = self.pick_links(data, (("contact",), ("opportunity",), ("case",)))
            assert links is not None
            contact, deal = links
            if contact is not None:
                c = self.contacts.get(contact)
                actor = self.pick_actor(data, *sorted(c.managers if c else ()))
                expected = contact_outcome(actor, c)
                attempt(expected, lambda: self.sessions[actor].contacts.delete(contact))
                if expected is None:
                    self.drop_linked(contact=contact)
                    del self.contacts[contact]
                    self.gone_contacts.add(contact)
                    self.changed = True
                return
            assert deal is not None
            d = self.deals.get(deal)
            actor = self.pick_actor(data, *((d.creator,) if d else ()))
            expected = None if reads_deal(actor, d) else NotFound
            s = self.sessions[actor]
            service = s.opportunities if deal[0] == "opportunity" else s.cases
            attempt(expected, lambda: service.delete(deal[1]))
            if expected is None:
                self.drop_linked(deal=deal)
                del self.deals[deal]
                self.gone_deals.add(deal)
                self.changed = True

        # --- rules: tasks ------------------------------------------------------------------

        @rule(data=st.data())
        def add_task(self, data: st.DataObject) -> None:
            """A random user creates a task for a random responsible; each linked record must
            be one the creator may read (else ValidationError, and nothing is created)."""
            links = self.pick_links(data, TASK_SHAPES)
            assert links is not None  # the shape () is always possible
            contact, deal = links
            actor = data.draw(users, label="actor")
            responsible = data.draw(users, label="responsible")
            self.serial += 1
            title = f"{data.draw(st.sampled_from(WORDS))} T{self.serial}"
            fields: dict[str, Any] = {
                "category": data.draw(st.sampled_from(TASK_CATEGORIES)),
                "responsible": responsible,
            }
            if contact is not None:
                fields["contact"] = contact
            if deal is not None:
                fields[deal[0]] = deal[1]
            due = BASE + dt.timedelta(hours=data.draw(hours))
            ok = self.links_readable(actor, contact, deal)
            got = attempt(
                None if ok else ValidationError,
                lambda: self.sessions[actor].tasks.add(title, due, **fields),
            )
            if not ok:
                return
            want = TaskM(got.id, title, actor, responsible, contact, deal)
            assert got.id not in self.tasks
            assert got.id not in self.gone_tasks, "a deleted task's id was handed out again"
            assert_task(got, want)
            self.tasks[got.id] = want
            self.touched_tasks.add(got.id)
            self.changed = True

        @precondition(lambda self: self.tasks or self.gone_tasks)
        @rule(op=st.sampled_from(("hand on", "close", "reopen", "delete")), data=st.data())
        def change_task(self, op: str, data: st.DataObject) -> None:
            """Hand a task on, close, reopen or delete it (one rule, for swarm testing)."""
            if op == "hand on":
                self.hand_on_task(data)
            elif op == "delete":
                self.delete_task(data)
            else:
                self.close_or_reopen(op == "close", data)

        def hand_on_task(self, data: st.DataObject) -> None:
            """Changing the responsible (admin, responsible, creator): the old one may lose
            the task, the new one reads it."""
            responsible = data.draw(users, label="responsible")
            tid = self.pick_task(data)
            t = self.tasks.get(tid)
            actor = self.pick_actor(data, *((t.creator, t.responsible) if t else ()))
            expected = self.task_outcome(actor, t)
            got = attempt(
                expected,
                lambda: self.sessions[actor].tasks.update(
                    tid, responsible=responsible, notify=False
                ),
            )
            if expected is None:
                assert t is not None
                t.responsible = responsible
                assert_task(got, t)
                self.changed = True

        def close_or_reopen(self, close: bool, data: st.DataObject) -> None:
            """Closing an open task linked to something writes a "Task closed" event with the
            same links, whose author is who closed it."""
            tid = self.pick_task(data)
            t = self.tasks.get(tid)
            actor = self.pick_actor(data, *((t.creator, t.responsible) if t else ()))
            expected = self.task_outcome(actor, t)
            tasks = self.sessions[actor].tasks
            got = attempt(expected, lambda: tasks.close(tid) if close else tasks.reopen(tid))
            if expected is None:
                assert t is not None
                writes_event = close and not t.closed and (t.contact or t.deal) is not None
                t.closed = close
                assert_task(got, t)
                self.changed = True
                if writes_event:
                    with engine.connect() as conn:
                        eid = conn.execute(
                            sa.text("SELECT max(id) FROM history_events WHERE task_id = :t"),
                            {"t": tid},
                        ).scalar_one()
                    assert eid is not None
                    assert eid not in self.events
                    assert eid not in self.gone_events, "a deleted event's id was handed out"
                    self.events[eid] = EventM(eid, actor, t.contact, t.deal, t.title, tid)
                    self.touched_events.add(eid)

        def delete_task(self, data: st.DataObject) -> None:
            """Deleting a task keeps the events its closing wrote (without the task)."""
            tid = self.pick_task(data)
            t = self.tasks.get(tid)
            actor = self.pick_actor(data, *((t.creator, t.responsible) if t else ()))
            expected = self.task_outcome(actor, t)
            attempt(expected, lambda: self.sessions[actor].tasks.delete(tid))
            if expected is None:
                del self.tasks[tid]
                self.gone_tasks.add(tid)
                for e in self.events.values():
                    if e.task == tid:
                        e.task = None
                self.changed = True

        # --- rules: history events ---------------------------------------------------------

        @precondition(lambda self: self.contacts or self.gone_contacts or self.deals)
        @rule(data=st.data())
        def add_event(self, data: st.DataObject) -> None:
            """A random user records an event on at least one record; each must be one the
            author may read (else ValidationError, and nothing is created)."""
            links = self.pick_links(data, EVENT_SHAPES)
            if links is None:
                return
            contact, deal = links
            actor = data.draw(users, label="actor")
            self.serial += 1
            content = f"{data.draw(st.sampled_from(WORDS))} E{self.serial}"
            fields: dict[str, Any] = {
                "happened_at": BASE + dt.timedelta(hours=data.draw(hours)),
            }
            if contact is not None:
                fields["contact"] = contact
            if deal is not None:
                fields[deal[0]] = deal[1]
            category = data.draw(st.sampled_from(HISTORY_CATEGORIES))
            ok = self.links_readable(actor, contact, deal)
            got = attempt(
                None if ok else ValidationError,
                lambda: self.sessions[actor].history.add(content, category, **fields),
            )
            if not ok:
                return
            want = EventM(got.id, actor, contact, deal, content)
            assert got.id not in self.events
            assert got.id not in self.gone_events, "a deleted event's id was handed out again"
            assert_event(got, want)
            self.events[got.id] = want
            self.touched_events.add(got.id)
            self.changed = True

        @precondition(lambda self: self.events or self.gone_events)
        @rule(data=st.data())
        def delete_event(self, data: st.DataObject) -> None:
            eid = self.pick_event(data)
            e = self.events.get(eid)
            people: tuple[str, ...] = (e.author,) if e else ()
            if e is not None and e.contact is not None:
                people += tuple(sorted(self.contacts[e.contact].managers))
            actor = self.pick_actor(data, *people)
            expected = self.event_outcome(actor, e)
            attempt(expected, lambda: self.sessions[actor].history.delete(eid))
            if expected is None:
                del self.events[eid]
                self.gone_events.add(eid)
                self.changed = True

        # --- rules: reading ----------------------------------------------------------------

        @rule(
            task_sort=st.sampled_from(TASK_SORTS),
            event_sort=st.sampled_from(HISTORY_SORTS),
            limit=st.integers(2, 4),
        )
        def choose_paging(self, task_sort: str, event_sort: str, limit: int) -> None:
            """The sorts and page size the invariant lists with."""
            new = (task_sort, event_sort, limit)
            self.changed = self.changed or new != (self.task_sort, self.event_sort, self.limit)
            self.task_sort, self.event_sort, self.limit = new

        @precondition(lambda self: self.contacts or self.deals)
        @rule(actor=users, data=st.data())
        def list_by_parent(self, actor: str, data: st.DataObject) -> None:
            """The tasks and events of one record (its page): the readable ones linked to it;
            a record the user may not read (or a deleted one) is NotFound."""
            links = self.pick_links(data, (("contact",), ("opportunity",), ("case",)))
            assert links is not None
            contact, deal = links
            readable = self.links_readable(actor, contact, deal)
            if contact is not None:
                name, ident = "contact", contact
            else:
                assert deal is not None
                name, ident = deal
            s = self.sessions[actor]
            by: dict[str, Any] = {name: ident}
            if not readable:
                attempt(NotFound, lambda: s.tasks.count(**by))
                attempt(NotFound, lambda: s.tasks.list(**by))
                attempt(NotFound, lambda: s.history.count(**by))
                attempt(NotFound, lambda: s.history.list(**by))
                return

            def linked(r: TaskM | EventM) -> bool:
                return r.contact == ident if name == "contact" else r.deal == (name, ident)

            want_tasks = {
                t.id for t in self.tasks.values() if linked(t) and self.reads_task(actor, t)
            }
            want_events = {
                e.id for e in self.events.values() if linked(e) and self.reads_event(actor, e)
            }
            got_tasks = all_pages(lambda **kw: s.tasks.list(**kw, **by), self.task_sort, self.limit)
            assert {t.id for t in got_tasks} == want_tasks, (actor, name, ident)
            assert s.tasks.count(**by) == len(want_tasks)
            got_events = all_pages(
                lambda **kw: s.history.list(**kw, **by), self.event_sort, self.limit
            )
            assert {e.id for e in got_events} == want_events, (actor, name, ident)
            assert s.history.count(**by) == len(want_events)

        # --- invariants -------------------------------------------------------------------

        @invariant()
        def every_user_sees_exactly_what_s1_allows(self) -> None:
            """For every user: ``get`` and an edit probe of each touched task and event; after
            a change, ``list`` (all pages) and ``count`` of both.

            Reads whose answer cannot have changed are skipped: a record's rights depend on
            its own people and its links only, so single records are checked when a rule
            touched them (including everything linked to a re-shared or deleted record);
            after a step that changed nothing only the admin's lists, which read back every
            record, are repeated."""
            touched_tasks, self.touched_tasks = sorted(self.touched_tasks), set()
            touched_events, self.touched_events = sorted(self.touched_events), set()
            for user_id, session in self.sessions.items():
                for tid in touched_tasks:
                    self.check_task(user_id, session, tid)
                for eid in touched_events:
                    self.check_event(user_id, session, eid)
            for user_id, session in self.sessions.items():
                if self.changed or IS_ADMIN[user_id]:
                    self.check_lists(user_id, session)
            self.changed = False

        def check_task(self, user_id: str, session: Session, tid: int) -> None:
            """``get`` per the read rule, then an edit of the description per the edit rule
            (a successful one is kept in the model)."""
            t = self.tasks.get(tid)
            if self.reads_task(user_id, t):
                assert t is not None
                assert_task(session.tasks.get(tid), t)
            else:
                with pytest.raises(NotFound):
                    session.tasks.get(tid)
            text = f"probed by {user_id}"
            expected = self.task_outcome(user_id, t)
            got = attempt(expected, lambda: session.tasks.update(tid, description=text))
            if expected is None:
                assert t is not None
                t.description = text
                assert_task(got, t)

        def check_event(self, user_id: str, session: Session, eid: int) -> None:
            """``get`` per the read rule, then an edit of the content per the edit rule."""
            e = self.events.get(eid)
            if self.reads_event(user_id, e):
                assert e is not None
                assert_event(session.history.get(eid), e)
            else:
                with pytest.raises(NotFound):
                    session.history.get(eid)
            text = f"{e.content.split(' probed')[0] if e else 'gone'} probed by {user_id}"
            expected = self.event_outcome(user_id, e)
            got = attempt(expected, lambda: session.history.update(eid, content=text))
            if expected is None:
                assert e is not None
                e.content = text
                assert_event(got, e)

        def check_lists(self, user_id: str, session: Session) -> None:
            want_tasks = {i for i, t in self.tasks.items() if self.reads_task(user_id, t)}
            got = all_pages(session.tasks.list, self.task_sort, self.limit)
            ids = [t.id for t in got]
            assert len(ids) == len(set(ids)), (user_id, self.task_sort, ids)
            assert set(ids) == want_tasks, (user_id, self.task_sort)
            assert session.tasks.count() == len(want_tasks), user_id
            assert_sorted(got, self.task_sort, TASK_KEYS)
            if IS_ADMIN[user_id]:
                for t in got:
                    assert_task(t, self.tasks[t.id])

            want_events = {i for i, e in self.events.items() if self.reads_event(user_id, e)}
            got = all_pages(session.history.list, self.event_sort, self.limit)
            ids = [e.id for e in got]
            assert len(ids) == len(set(ids)), (user_id, self.event_sort, ids)
            assert set(ids) == want_events, (user_id, self.event_sort)
            assert session.history.count() == len(want_events), user_id
            assert_sorted(got, self.event_sort, EVENT_KEYS)
            if IS_ADMIN[user_id]:
                for e in got:
                    assert_event(e, self.events[e.id])

    return ActivityAccessMachine


def test_task_and_history_access_state_machine(engine: sa.Engine) -> None:
    crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(ALL_USERS))
    run_state_machine_as_test(make_machine(crm, engine), settings=SETTINGS)
