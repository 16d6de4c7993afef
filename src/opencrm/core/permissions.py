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
    "ContactScope",
    "DealScope",
    "can_change_deal_access",
    "can_change_invoice_status",
    "can_delete_contact",
    "can_delete_invoice",
    "can_edit_contact",
    "can_edit_invoice",
    "can_read_contact",
    "can_read_contact_with",
    "can_read_deal",
    "can_read_invoice",
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
    return actor.crm_admin or contact.access is Access.READ_WRITE or actor.id in contact.managers


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
