"""The access policy: the one place that decides who may read, edit or delete what.

Single records are checked with the ``can_*`` functions. Lists, counts and searches receive a
*scope* (a small value object) that storage compiles to a SQL predicate; the scope states the
same rule as ``can_read_contact`` so that the two never disagree (the stateful property test
checks it).
"""

from __future__ import annotations

import attrs

from opencrm.core.entities.contacts import Access, Contact
from opencrm.core.users import User
from opencrm.errors import PermissionDenied

__all__ = [
    "ContactScope",
    "can_delete_contact",
    "can_edit_contact",
    "can_read_contact",
    "contact_scope",
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
    return actor.crm_admin or contact.access is not Access.PRIVATE or actor.id in contact.managers


def can_edit_contact(actor: User, contact: Contact) -> bool:
    return actor.crm_admin or contact.access is Access.READ_WRITE or actor.id in contact.managers


def can_delete_contact(actor: User, contact: Contact) -> bool:
    """Editing rights; the "no invoice names it" rule is checked against storage separately."""
    return can_edit_contact(actor, contact)


def require_admin(actor: User, what: str) -> None:
    if not actor.crm_admin:
        raise PermissionDenied(f"only a CRM admin may {what}")
