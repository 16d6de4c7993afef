"""The access policy: the one place that decides who may read, edit or delete what.

Single records are checked with the ``can_*`` functions. Lists, counts and searches receive a
*scope* (a small value object) that storage compiles to a SQL predicate; the scope states the
same rule as ``can_read_contact`` so that the two never disagree (the stateful property test
checks it).
"""

from __future__ import annotations

from typing import Protocol

import attrs

from opencrm.core.entities.contacts import Access, Contact
from opencrm.core.entities.invoices import Invoice, InvoiceStatus
from opencrm.core.invoice_ports import InvoiceScope
from opencrm.core.users import User
from opencrm.errors import PermissionDenied

__all__ = [
    "ActivityScope",
    "ContactScope",
    "DealScope",
    "Parents",
    "activity_scope",
    "can_change_deal_access",
    "can_change_invoice_status",
    "can_delete_contact",
    "can_delete_invoice",
    "can_edit_contact",
    "can_edit_history_event",
    "can_edit_invoice",
    "can_edit_task",
    "can_read_contact",
    "can_read_contact_with",
    "can_read_deal",
    "can_read_history_event",
    "can_read_invoice",
    "can_read_parents",
    "can_read_task",
    "contact_scope",
    "deal_scope",
    "invoice_scope",
    "require_admin",
]


@attrs.frozen
class ContactScope:
    """Which contacts a query may return.

    ``everything`` for CRM admins; otherwise contacts whose access is not private, plus those
    that ``user_id`` manages.
    """

    everything: bool
    user_id: str


def contact_scope(actor: User) -> ContactScope:
    return ContactScope(everything=actor.crm_admin, user_id=actor.id)


def can_read_contact(actor: User, contact: Contact) -> bool:
    return can_read_contact_with(actor, contact.access, actor.id in contact.managers)


def can_read_contact_with(actor: User, access: Access, managed: bool) -> bool:
    """:func:`can_read_contact` from the contact's access level and whether the actor manages
    it (what :meth:`~opencrm.core.ports.ContactRepository.access_of` reads in one query)."""
    return actor.crm_admin or access is not Access.PRIVATE or managed


def can_edit_contact(actor: User, contact: Contact) -> bool:
    return can_edit_contact_with(actor, contact.access, actor.id in contact.managers)


def can_edit_contact_with(actor: User, access: Access, managed: bool) -> bool:
    """:func:`can_edit_contact` from the contact's access level and whether the actor manages
    it."""
    return actor.crm_admin or access is Access.READ_WRITE or managed


def can_delete_contact(actor: User, contact: Contact) -> bool:
    """Editing rights; the "no invoice names it" rule is checked against storage separately."""
    return can_edit_contact(actor, contact)


def require_admin(actor: User, what: str) -> None:
    if not actor.crm_admin:
        raise PermissionDenied(f"only a CRM admin may {what}")


# --- opportunities and cases (S1): public unless restricted to an access list -----------------


class _Restrictable(Protocol):
    @property
    def restricted(self) -> bool: ...
    @property
    def access_list(self) -> frozenset[str]: ...
    @property
    def created_by(self) -> str: ...


@attrs.frozen
class DealScope:
    """Which opportunities or cases a query may return: ``everything`` for CRM admins;
    otherwise the unrestricted ones plus the restricted ones with ``user_id`` on the access
    list."""

    everything: bool
    user_id: str


def deal_scope(actor: User) -> DealScope:
    return DealScope(everything=actor.crm_admin, user_id=actor.id)


def can_read_deal(actor: User, record: _Restrictable) -> bool:
    """Read (and so edit and delete) an opportunity or case. The creator, and for an
    opportunity the responsible, are always on the access list, so the list alone decides."""
    return actor.crm_admin or not record.restricted or actor.id in record.access_list


def can_change_deal_access(actor: User, record: _Restrictable) -> bool:
    return actor.crm_admin or actor.id == record.created_by


# --- invoices (S1): creator, admin, or whoever may read the client ---------------------------


def invoice_scope(actor: User) -> InvoiceScope:
    return InvoiceScope(everything=actor.crm_admin, user_id=actor.id)


def can_read_invoice(actor: User, invoice: Invoice, client: Contact | None) -> bool:
    """Admin, the creator, or whoever may read the client contact."""
    return (
        actor.crm_admin
        or invoice.created_by == actor.id
        or (client is not None and can_read_contact(actor, client))
    )


def can_edit_invoice(actor: User, invoice: Invoice) -> bool:
    """Admin or creator, and only while the invoice is a draft."""
    return (actor.crm_admin or invoice.created_by == actor.id) and (
        invoice.status is InvoiceStatus.DRAFT
    )


def can_delete_invoice(actor: User, invoice: Invoice) -> bool:
    """Admin or creator; billed and paid invoices are never deleted."""
    return (actor.crm_admin or invoice.created_by == actor.id) and invoice.status not in (
        InvoiceStatus.BILLED,
        InvoiceStatus.PAID,
    )


def can_change_invoice_status(actor: User, invoice: Invoice, client: Contact | None) -> bool:
    """Admin, the creator, or whoever may edit the client contact (its managers): the people
    who bill the client and follow up its payments. (The reference lets every reader do it.)"""
    return (
        actor.crm_admin
        or invoice.created_by == actor.id
        or (client is not None and can_edit_contact(actor, client))
    )


# --- tasks and history events (S1): through what they are linked to --------------------------


@attrs.frozen
class Parents:
    """What a task or history event is linked to, as far as access depends on it: the linked
    contact's ``(access, managed by the actor)`` (None: no contact) and the linked opportunity
    or case (None: neither)."""

    contact: tuple[Access, bool] | None = None
    deal: _Restrictable | None = None

    @property
    def linked(self) -> bool:
        return self.contact is not None or self.deal is not None


@attrs.frozen
class ActivityScope:
    """Which tasks or history events a query may return: ``everything`` for CRM admins;
    otherwise those whose every linked record ``user_id`` may read, plus (tasks) those the
    user is responsible for or created, and tasks linked to nothing."""

    everything: bool
    user_id: str


def activity_scope(actor: User) -> ActivityScope:
    return ActivityScope(everything=actor.crm_admin, user_id=actor.id)


def can_read_parents(actor: User, parents: Parents) -> bool:
    """Whether the actor may read every record in ``parents`` (True when there is none).

    A task or event linked to a public contact *and* a restricted opportunity stays hidden
    from users outside the opportunity's access list (the reference lets the contact decide)."""
    if actor.crm_admin:
        return True
    if parents.contact is not None and not can_read_contact_with(actor, *parents.contact):
        return False
    return parents.deal is None or can_read_deal(actor, parents.deal)


def can_read_task(actor: User, responsible: str, created_by: str, parents: Parents) -> bool:
    """Admin, the responsible, the creator, or whoever may read what the task is linked to
    (every CRM user, for a task linked to nothing)."""
    return (
        actor.crm_admin or actor.id in (responsible, created_by) or can_read_parents(actor, parents)
    )


def can_edit_task(actor: User, responsible: str, created_by: str) -> bool:
    """Edit, close, reopen or delete: admin, the responsible or the creator."""
    return actor.crm_admin or actor.id in (responsible, created_by)


def can_read_history_event(actor: User, parents: Parents) -> bool:
    """A history event is read with its parents: every linked record must be readable."""
    return can_read_parents(actor, parents)


def can_edit_history_event(actor: User, author: str, parents: Parents) -> bool:
    """Edit or delete: whoever reads the event and is its author, a CRM admin, or may edit
    every record it hangs off (a contact's editors; an opportunity's or case's readers)."""
    if not can_read_parents(actor, parents):
        return False
    if actor.crm_admin or actor.id == author:
        return True
    return parents.contact is None or can_edit_contact_with(actor, *parents.contact)
