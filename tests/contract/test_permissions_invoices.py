"""Invoice access (SPEC S1): every user's list, count and get agree with the policy functions."""

from __future__ import annotations

import itertools

import pytest

from opencrm import NotFound, PermissionDenied, ValidationError
from opencrm.core import permissions as policy
from opencrm.errors import Conflict

ACCESS = ["private", "read", "read_write"]
CREATORS = ["admin", "alice", "bob"]


@pytest.fixture
def world(crm, users):
    """One client per (access, manager) and one invoice per (client, creator)."""
    sessions = {u: crm.session(users[u]) for u in ("admin", "alice", "bob", "carol")}
    admin = sessions["admin"]
    invoices = []
    for access, manager in itertools.product(ACCESS, ["alice", "bob"]):
        client = admin.contacts.add_company(
            f"{access} {manager}", access=access, managers={manager}
        )
        for creator in CREATORS:
            s = sessions[creator]
            line = [s.invoices.line("x", price="1")]
            if creator == "admin" or access != "private" or creator == manager:
                invoices.append((s.invoices.add(client=client.id, lines=line), client))
            else:  # who cannot read a client cannot name it on an invoice
                with pytest.raises(ValidationError):
                    s.invoices.add(client=client.id, lines=line)
    return sessions, invoices


def test_lists_counts_and_gets_follow_the_policy(world, users):
    sessions, invoices = world
    for uid, s in sessions.items():
        actor = users[uid]
        expected = {
            inv.id for inv, client in invoices if policy.can_read_invoice(actor, inv, client)
        }
        listed = {i.id for i in s.invoices.list(limit=500)}
        assert listed == expected, uid
        assert s.invoices.count() == len(expected)
        for inv, _ in invoices:
            if inv.id in expected:
                assert s.invoices.get(inv.id).id == inv.id
            else:
                with pytest.raises(NotFound):
                    s.invoices.get(inv.id)


def test_edit_delete_and_status_rights(world, users):
    sessions, invoices = world
    for (inv, client), uid in itertools.product(invoices, sessions):
        actor, s = users[uid], sessions[uid]
        if not policy.can_read_invoice(actor, inv, client):
            with pytest.raises(NotFound):
                s.invoices.update(inv.id, notes="x")
            continue
        if actor.crm_admin or inv.created_by == uid:
            assert s.invoices.update(inv.id, notes=f"by {uid}").notes == f"by {uid}"
        else:
            with pytest.raises(PermissionDenied):
                s.invoices.update(inv.id, notes="x")
            with pytest.raises(PermissionDenied):
                s.invoices.delete(inv.id)
        may_bill = policy.can_change_invoice_status(actor, inv, client)
        if not may_bill:
            with pytest.raises(PermissionDenied):
                s.invoices.set_status(inv.id, "billed")


def test_billed_invoices_are_neither_edited_nor_deleted(world):
    sessions, invoices = world
    admin = sessions["admin"]
    inv, _ = invoices[0]
    admin.invoices.set_status(inv.id, "billed")
    with pytest.raises(Conflict):
        admin.invoices.update(inv.id, notes="late change")
    with pytest.raises(Conflict):
        admin.invoices.delete(inv.id)
    admin.invoices.set_status(inv.id, "rejected")
    admin.invoices.delete(inv.id)
