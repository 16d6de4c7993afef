"""S1 invoice access rules and the S7 status transitions: a stateful property test.

A plain-Python model holds every client contact (access, managers) and every invoice (client,
creator, status, notes, PO number). Five users (four members and a CRM admin) create clients,
re-share them, create invoices, edit, re-assign, bill, pay, reject and delete them in random
order; each attempt must succeed or fail exactly as the model predicts. After every step,
for every user, ``get``, ``list`` (all pages) and ``count`` must agree with S1:

* read: CRM admin, the creator, or whoever may read the client contact (so re-sharing a
  client changes who reads its invoices);
* edit (notes, PO number, client): CRM admin or the creator, and only while Draft; the new
  client must be one the editor may read;
* delete: CRM admin or the creator; Billed and Paid invoices are never deleted;
* status: CRM admin, the creator or whoever may edit the client, along Draft -> Billed ->
  Paid | Rejected, Rejected -> Draft, Paid -> Billed; anything else is ``InvalidTransition``;
  several at once are all or none;
* an invoice the user may not read is ``NotFound`` (as a missing one is); a reader without
  the right is ``PermissionDenied``; the right one at the wrong status is a ``Conflict``;
  naming a client the user may not read is a ``ValidationError``; a client named by an
  invoice cannot be deleted (``Conflict``).
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
    Conflict,
    InMemoryUserDirectory,
    InvalidTransition,
    Invoice,
    InvoiceStatus,
    NotFound,
    PermissionDenied,
    Session,
    User,
    ValidationError,
)
from opencrm.core.invoicing import TRANSITIONS

ADMIN = User(id="admin", name="Ada Admin", crm_admin=True)
MEMBERS = tuple(User(id=n, name=n.title()) for n in ("alice", "bob", "carol", "dave"))
ALL_USERS = (ADMIN, *MEMBERS)
USER_IDS = tuple(u.id for u in ALL_USERS)
IS_ADMIN = {u.id: u.crm_admin for u in ALL_USERS}
SORTS = ("number", "-number", "issue_date", "-issue_date", "status", "-status", "created")
TEXTS = ("", "Net 30", "Rush order", "PO-17")

SETTINGS = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Outcome = type[Exception] | None


# --- the model ------------------------------------------------------------------------------


@attrs.define
class Client:
    id: int
    access: Access
    managers: frozenset[str]


@attrs.define
class Inv:
    id: int
    client: int
    creator: str
    status: InvoiceStatus
    notes: str
    po_number: str


def reads_client(user_id: str, c: Client | None) -> bool:
    return c is not None and (
        IS_ADMIN[user_id] or c.access is not Access.PRIVATE or user_id in c.managers
    )


def edits_client(user_id: str, c: Client | None) -> bool:
    return c is not None and (
        IS_ADMIN[user_id] or c.access is Access.READ_WRITE or user_id in c.managers
    )


def contact_outcome(user_id: str, c: Client | None) -> Outcome:
    """The error a change of contact ``c`` by ``user_id`` must raise (None: success)."""
    if not reads_client(user_id, c):
        return NotFound
    if not edits_client(user_id, c):
        return PermissionDenied
    return None


def attempt(expected: Outcome, call: Callable[[], object]) -> object:
    """Run ``call``; it must raise exactly ``expected`` (or succeed when that is None)."""
    event(f"outcome: {expected.__name__ if expected else 'allowed'}")
    if expected is None:
        return call()
    with pytest.raises(expected) as info:
        call()
    assert type(info.value) is expected, info.value
    return None


def assert_matches(got: object, want: Inv) -> None:
    assert isinstance(got, Invoice)
    assert got.id == want.id
    assert got.client_id == want.client
    assert got.created_by == want.creator
    assert got.status is want.status
    assert got.notes == want.notes
    assert got.po_number == want.po_number


def wipe(engine: sa.Engine) -> None:
    """Delete the invoices and contacts (the audit log is append-only and stays)."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM invoice_lines"))
        conn.execute(sa.text("DELETE FROM invoices"))
        for table in ("entity_tags", "custom_values"):
            conn.execute(
                sa.text(f"DELETE FROM {table} WHERE entity_type IN ('contact', 'invoice')")
            )
        conn.execute(sa.text("DELETE FROM contact_infos"))
        conn.execute(sa.text("DELETE FROM contact_managers"))
        conn.execute(sa.text("UPDATE contacts SET company_id = NULL"))
        conn.execute(sa.text("DELETE FROM contacts"))


def all_ids(session: Session, sort: str, limit: int) -> list[int]:
    out: list[int] = []
    cursor: str | None = None
    for _ in range(500):
        page = session.invoices.list(sort=sort, limit=limit, after=cursor)
        out.extend(i.id for i in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return out
        assert page.items, "a page with a next_cursor must not be empty"
    raise AssertionError("paging does not end")


users = st.sampled_from(USER_IDS)
accesses = st.sampled_from(tuple(Access))
statuses = st.sampled_from(tuple(InvoiceStatus))
manager_sets = st.frozensets(st.sampled_from(USER_IDS), max_size=3)


def make_machine(crm: CRM, engine: sa.Engine) -> type[RuleBasedStateMachine]:
    class InvoiceAccessMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            wipe(engine)
            self.sessions = {u.id: crm.session(u) for u in ALL_USERS}
            self.clients: dict[int, Client] = {}
            self.gone_clients: set[int] = set()
            self.model: dict[int, Inv] = {}
            self.gone: dict[int, Inv] = {}
            self.sort = "-issue_date"
            self.limit = 3
            # Since the last check: the invoices a rule touched (changed, tried to, or whose
            # client changed), and whether any rule changed anything.
            self.touched: set[int] = set()
            self.changed = True

        # --- helpers --------------------------------------------------------------------

        def may_read(self, user_id: str, inv: Inv | None) -> bool:
            return inv is not None and (
                IS_ADMIN[user_id]
                or inv.creator == user_id
                or reads_client(user_id, self.clients.get(inv.client))
            )

        def owns(self, user_id: str, inv: Inv) -> bool:
            return IS_ADMIN[user_id] or inv.creator == user_id

        def may_bill(self, user_id: str, inv: Inv) -> bool:
            return self.owns(user_id, inv) or edits_client(user_id, self.clients.get(inv.client))

        def status_outcome(self, user_id: str, inv: Inv | None, target: InvoiceStatus) -> Outcome:
            if inv is None or not self.may_read(user_id, inv):
                return NotFound
            if not self.may_bill(user_id, inv):
                return PermissionDenied
            if target not in TRANSITIONS[inv.status]:
                return InvalidTransition
            return None

        def owner_outcome(
            self, user_id: str, inv: Inv | None, allowed: set[InvoiceStatus]
        ) -> Outcome:
            """Editing and deleting: readers only, then admin or creator, then the status."""
            if inv is None or not self.may_read(user_id, inv):
                return NotFound
            if not self.owns(user_id, inv):
                return PermissionDenied
            if inv.status not in allowed:
                return Conflict
            return None

        def pick_client(self, data: st.DataObject) -> int:
            """Mostly a live client, sometimes a deleted one."""
            if self.gone_clients and (not self.clients or data.draw(st.integers(0, 5)) == 0):
                return data.draw(st.sampled_from(sorted(self.gone_clients)), label="gone client")
            return data.draw(st.sampled_from(sorted(self.clients)), label="client")

        def pick_invoice(self, data: st.DataObject) -> int:
            """Mostly a live invoice, sometimes a deleted one (NotFound for everybody)."""
            if self.gone and (not self.model or data.draw(st.integers(0, 5)) == 0):
                ident = data.draw(st.sampled_from(sorted(self.gone)), label="deleted invoice")
            else:
                ident = data.draw(st.sampled_from(sorted(self.model)), label="invoice")
            self.touched.add(ident)
            return ident

        def pick_actor(self, data: st.DataObject, inv: Inv | None) -> str:
            """Any user, the creator, or one who is neither admin nor creator (the users for
            whom the client's access decides), each about as often."""
            if inv is None:
                return data.draw(users, label="actor")
            others = [u for u in USER_IDS if not IS_ADMIN[u] and u != inv.creator]
            return data.draw(users | st.just(inv.creator) | st.sampled_from(others), label="actor")

        def pick_status(self, data: st.DataObject, inv: Inv | None) -> InvoiceStatus:
            """Any status, or (as often) one the invoice may move to."""
            if inv is None:
                return data.draw(statuses, label="status")
            allowed = sorted(TRANSITIONS[inv.status], key=lambda s: s.value)
            return data.draw(statuses | st.sampled_from(allowed), label="status")

        # --- rules: clients -------------------------------------------------------------

        @initialize(data=st.data())
        def seed(self, data: st.DataObject) -> None:
            """Start with a few clients and invoices, so most steps act on a populated CRM."""
            for _ in range(data.draw(st.integers(1, 4), label="seed clients")):
                self.add_client(data.draw(users), data.draw(accesses), data.draw(manager_sets))
            for _ in range(data.draw(st.integers(0, 4), label="seed invoices")):
                self.create_invoice(data)

        @rule(actor=users, access=accesses, managers=manager_sets)
        def add_client(self, actor: str, access: Access, managers: frozenset[str]) -> None:
            s = self.sessions[actor].contacts
            got = s.add_company(f"Client {len(self.clients)}", access=access, managers=managers)
            assert (got.access, got.managers) == (access, managers)
            # SQLite may hand out the id of the newest deleted contact again.
            self.gone_clients.discard(got.id)
            assert got.id not in self.clients
            self.clients[got.id] = Client(got.id, access, managers)

        @precondition(lambda self: self.clients)
        @rule(
            actor=users,
            access=st.none() | accesses,
            managers=st.none() | manager_sets,
            data=st.data(),
        )
        def share_client(
            self,
            actor: str,
            access: Access | None,
            managers: frozenset[str] | None,
            data: st.DataObject,
        ) -> None:
            """Re-sharing a client changes who reads (and who bills) its invoices."""
            cid = data.draw(st.sampled_from(sorted(self.clients)), label="client")
            c = self.clients[cid]
            expected = contact_outcome(actor, c)
            attempt(
                expected, lambda: self.sessions[actor].contacts.set_access(cid, access, managers)
            )
            if expected is None:
                c.access = access if access is not None else c.access
                c.managers = managers if managers is not None else c.managers
                self.touched |= {i for i, inv in self.model.items() if inv.client == cid}
                self.changed = True

        @precondition(lambda self: self.clients)
        @rule(actor=users, data=st.data())
        def delete_client(self, actor: str, data: st.DataObject) -> None:
            """A client named by an invoice stays (Conflict, after the contact's own rights)."""
            cid = data.draw(st.sampled_from(sorted(self.clients)), label="client")
            expected = contact_outcome(actor, self.clients[cid])
            if expected is None and any(i.client == cid for i in self.model.values()):
                expected = Conflict
            attempt(expected, lambda: self.sessions[actor].contacts.delete(cid))
            if expected is None:
                del self.clients[cid]
                self.gone_clients.add(cid)

        # --- rules: invoices ------------------------------------------------------------

        @precondition(lambda self: self.clients)
        @rule(data=st.data())
        def create_invoice(self, data: st.DataObject) -> None:
            """Anyone may invoice a client they may read; any other is a ValidationError."""
            actor = data.draw(users, label="actor")
            cid = self.pick_client(data)
            notes = data.draw(st.sampled_from(TEXTS), label="notes")
            po = data.draw(st.sampled_from(TEXTS), label="po_number")
            ok = reads_client(actor, self.clients.get(cid))
            s = self.sessions[actor].invoices
            got = attempt(
                None if ok else ValidationError,
                lambda: s.add(
                    client=cid, lines=[s.line("Work", price="10")], notes=notes, po_number=po
                ),
            )
            if not ok:
                return
            assert isinstance(got, Invoice)
            want = Inv(got.id, cid, actor, InvoiceStatus.DRAFT, notes, po)
            assert got.id not in self.model
            self.gone.pop(got.id, None)  # SQLite may reuse the newest deleted id
            assert_matches(got, want)
            self.model[got.id] = want
            self.touched.add(got.id)
            self.changed = True

        @precondition(lambda self: self.model or self.gone)
        @rule(as_text=st.booleans(), data=st.data())
        def set_status(self, as_text: bool, data: st.DataObject) -> None:
            ident = self.pick_invoice(data)
            inv = self.model.get(ident)
            actor = self.pick_actor(data, inv)
            status = self.pick_status(data, inv)
            expected = self.status_outcome(actor, inv, status)
            value = status.value if as_text else status
            got = attempt(expected, lambda: self.sessions[actor].invoices.set_status(ident, value))
            if expected is None:
                assert inv is not None
                inv.status = status
                assert_matches(got, inv)
                self.changed = True

        @precondition(lambda self: len(self.model) + len(self.gone) >= 2)
        @rule(actor=users, data=st.data())
        def set_status_many(self, actor: str, data: st.DataObject) -> None:
            """All or none: the first refused invoice (in the order given) decides the error."""
            ids = [self.pick_invoice(data) for _ in range(data.draw(st.integers(2, 3)))]
            status = self.pick_status(data, self.model.get(ids[0]))
            expected: Outcome = None
            for ident in dict.fromkeys(ids):
                expected = self.status_outcome(actor, self.model.get(ident), status)
                if expected is not None:
                    break
            got = attempt(
                expected, lambda: self.sessions[actor].invoices.set_status_many(ids, status)
            )
            if expected is None:
                assert isinstance(got, list)
                assert [i.id for i in got] == list(dict.fromkeys(ids))
                for new in got:
                    self.model[new.id].status = status
                    assert_matches(new, self.model[new.id])
                self.changed = True

        @precondition(lambda self: self.model or self.gone)
        @rule(
            field=st.sampled_from(("notes", "po_number", "client")),
            text=st.sampled_from(TEXTS),
            data=st.data(),
        )
        def edit(self, field: str, text: str, data: st.DataObject) -> None:
            """Only drafts, only by admin or creator; a new client must be readable to them."""
            ident = self.pick_invoice(data)
            inv = self.model.get(ident)
            actor = self.pick_actor(data, inv)
            expected = self.owner_outcome(actor, inv, {InvoiceStatus.DRAFT})
            value: object = text
            if field == "client":
                value = self.pick_client(data)
                if expected is None and not reads_client(actor, self.clients.get(value)):
                    expected = ValidationError
            got = attempt(
                expected, lambda: self.sessions[actor].invoices.update(ident, **{field: value})
            )
            if expected is None:
                assert inv is not None
                setattr(inv, field, value)
                assert_matches(got, inv)
                self.changed = True

        @precondition(lambda self: self.model or self.gone)
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            ident = self.pick_invoice(data)
            inv = self.model.get(ident)
            actor = self.pick_actor(data, inv)
            allowed = {InvoiceStatus.DRAFT, InvoiceStatus.REJECTED}
            expected = self.owner_outcome(actor, inv, allowed)
            attempt(expected, lambda: self.sessions[actor].invoices.delete(ident))
            if expected is None:
                self.gone[ident] = self.model.pop(ident)
                self.changed = True

        @rule(sort=st.sampled_from(SORTS), limit=st.integers(1, 5))
        def choose_paging(self, sort: str, limit: int) -> None:
            """The sort and page size the invariant lists with."""
            self.changed = self.changed or (sort, limit) != (self.sort, self.limit)
            self.sort, self.limit = sort, limit

        # --- invariants -----------------------------------------------------------------

        def readable(self, user_id: str) -> set[int]:
            return {i for i, inv in self.model.items() if self.may_read(user_id, inv)}

        @invariant()
        def every_user_sees_exactly_what_s1_allows(self) -> None:
            """For every user: ``get`` of each touched invoice, and after a change ``list``
            (all pages) and ``count``, return exactly the invoices S1 lets them read.

            Reads whose answer cannot have changed are skipped: an invoice's readability
            depends on its own creator and its client only, so ``get`` is checked for the
            invoices a rule touched (including every invoice of a re-shared client); after a
            step that changed nothing only the admin's list, which reads back every invoice,
            is repeated."""
            touched, self.touched = self.touched, set()
            for user_id, session in self.sessions.items():
                for ident in sorted(touched):
                    inv = self.model.get(ident)
                    if self.may_read(user_id, inv):
                        assert inv is not None
                        assert_matches(session.invoices.get(ident), inv)
                    else:
                        with pytest.raises(NotFound):
                            session.invoices.get(ident)
                if self.changed or IS_ADMIN[user_id]:
                    self.check_list(user_id, session)
            self.changed = False

        def check_list(self, user_id: str, session: Session) -> None:
            allowed = self.readable(user_id)
            listed = all_ids(session, self.sort, self.limit)
            assert len(listed) == len(set(listed)), (user_id, self.sort, listed)
            assert set(listed) == allowed, (user_id, self.sort)
            assert session.invoices.count() == len(allowed), user_id
            if IS_ADMIN[user_id]:
                for got in session.invoices.list(limit=500).items:
                    assert_matches(got, self.model[got.id])

    return InvoiceAccessMachine


def test_invoice_access_state_machine(engine: sa.Engine) -> None:
    crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(ALL_USERS))
    run_state_machine_as_test(make_machine(crm, engine), settings=SETTINGS)
