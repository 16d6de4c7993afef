"""What tasks and history events share: their links to a contact and an opportunity or case,
the access decisions that follow from those links, and list item lookups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from opencrm.core import permissions as policy
from opencrm.core._inputs import clean_datetime, clean_id
from opencrm.core.contact_data import has_control
from opencrm.core.entities.activities import HistoryEvent
from opencrm.core.entities.contacts import Contact
from opencrm.core.entities.deals import Case, Opportunity
from opencrm.core.entities.lists import ListItem, ListKind
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Tx
from opencrm.core.users import User, UserDirectory
from opencrm.errors import NotFound, ValidationError

__all__ = [
    "FILES_UPLOADED",
    "TASK_CLOSED",
    "Links",
    "ListKind",
    "category",
    "clean_when",
    "contact_name",
    "created_data",
    "deal_filter",
    "deal_title",
    "link_fields",
    "names_for",
    "parents",
    "parents_of",
    "reader",
    "system_category",
]

#: Titles of the seeded system history categories opencrm writes events under.
TASK_CLOSED = "Task closed"
FILES_UPLOADED = "Files uploaded"


class Links:
    """The link ids of a task or event (``contact_id``, ``opportunity_id``, ``case_id``)."""

    __slots__ = ("case_id", "contact_id", "opportunity_id")

    def __init__(
        self, contact_id: int | None, opportunity_id: int | None, case_id: int | None
    ) -> None:
        self.contact_id = contact_id
        self.opportunity_id = opportunity_id
        self.case_id = case_id


def parents(
    tx: Tx, contact_id: int | None, opportunity_id: int | None, case_id: int | None
) -> policy.Parents:
    """What reading a task or event linked to these ids depends on, for the acting user."""
    contact = None
    if contact_id is not None:
        contact = tx.uow.contacts.access_of(contact_id, tx.actor.id)
    deal: Opportunity | Case | None = None
    if opportunity_id is not None:
        deal = tx.uow.opportunities.get(opportunity_id)
    elif case_id is not None:
        deal = tx.uow.cases.get(case_id)
    return policy.Parents(contact=contact, deal=deal)


def parents_of(tx: Tx, record: Any) -> policy.Parents:
    return parents(tx, record.contact_id, record.opportunity_id, record.case_id)


def _readable_deal(tx: Tx, kind: str, value: object) -> int:
    cls = Opportunity if kind == "opportunity" else Case
    rid = rec.record_id(value, kind, cls)
    repo = tx.uow.opportunities if kind == "opportunity" else tx.uow.cases
    found = repo.get(rid)
    if found is None or not policy.can_read_deal(tx.actor, found):
        raise ValidationError({kind: f"no {kind} you may read with id {rid}"})
    return rid


def link_fields(tx: Tx, changes: dict[str, Any], current: Links) -> dict[str, int | None]:
    """Clean ``contact``, ``opportunity`` and ``case`` among ``changes`` (records or ids the
    actor may read, or None to unlink) into ``*_id`` values; a task or event links to at most
    one opportunity or case."""
    check = rec.FieldChecker(changes)
    check(
        "contact",
        lambda v: None if v is None else rec.readable_contact(tx, v, "contact"),
        to="contact_id",
    )
    check(
        "opportunity",
        lambda v: None if v is None else _readable_deal(tx, "opportunity", v),
        to="opportunity_id",
    )
    check("case", lambda v: None if v is None else _readable_deal(tx, "case", v), to="case_id")
    out = check.done()
    opportunity_id = out.get("opportunity_id", current.opportunity_id)
    case_id = out.get("case_id", current.case_id)
    if "opportunity_id" in out and out["opportunity_id"] is not None and "case_id" not in out:
        case_id = None  # linking an opportunity replaces a case link
    if "case_id" in out and out["case_id"] is not None and "opportunity_id" not in out:
        opportunity_id = None
    if opportunity_id is not None and case_id is not None:
        raise ValidationError({"case": "link either an opportunity or a case, not both"})
    return {
        "contact_id": out.get("contact_id", current.contact_id),
        "opportunity_id": opportunity_id,
        "case_id": case_id,
    }


def category(tx: Tx, kind: ListKind, value: object, *, allow_system: bool = False) -> ListItem:
    """A task or history category given as a list item, its id or its title."""
    item: ListItem | None
    if isinstance(value, ListItem):
        item = tx.uow.lists.get(value.id)
    elif isinstance(value, int) and not isinstance(value, bool):
        item = tx.uow.lists.get(clean_id(value, "category"))
    elif isinstance(value, str):
        if len(value) > 255 or has_control(value):
            raise ValidationError({"category": f"no {kind.value.replace('_', ' ')} {value!r}"})
        item = tx.uow.lists.find(kind, " ".join(value.split()))
    else:
        raise ValidationError({"category": "must be a list item, its id or its title"})
    if item is None or item.kind is not kind:
        raise ValidationError({"category": f"no {kind.value.replace('_', ' ')} {value!r}"})
    if item.system and not allow_system:
        raise ValidationError({"category": f"{item.title!r} is written by opencrm itself"})
    return item


def system_category(tx: Tx, title: str) -> ListItem:
    item = tx.uow.lists.find(ListKind.HISTORY_CATEGORY, title)
    if item is None or not item.system:  # pragma: no cover - seeded by migration 0002
        raise RuntimeError(f"the system history category {title!r} is missing")
    return item


def clean_when(value: object, field: str) -> dt.datetime:
    """A timezone-aware datetime (naive ones are refused, not guessed), normalised to UTC;
    see :func:`opencrm.core._inputs.clean_datetime`."""
    return clean_datetime(value, field)


def contact_name(tx: Tx, contact_id: int | None) -> str:
    if contact_id is None:
        return ""
    found: Contact | None = tx.uow.contacts.get(contact_id)
    return found.display_name if found is not None else ""


def deal_title(tx: Tx, opportunity_id: int | None, case_id: int | None) -> tuple[str, str]:
    """(opportunity title, case title), empty when not linked."""
    opp = tx.uow.opportunities.get(opportunity_id) if opportunity_id is not None else None
    case = tx.uow.cases.get(case_id) if case_id is not None else None
    return (opp.title if opp else "", case.title if case else "")


def deal_filter(tx: Tx, kind: str, value: object) -> int:
    """The opportunity or case whose records are listed; an unreadable one is NotFound, as on
    its own page."""
    rid = rec.record_id(value, kind, Opportunity if kind == "opportunity" else Case)
    repo = tx.uow.opportunities if kind == "opportunity" else tx.uow.cases
    found = repo.get(rid)
    if found is None or not policy.can_read_deal(tx.actor, found):
        raise NotFound(kind, rid)
    return rid


def created_data(
    tx: Tx, event: HistoryEvent, notify: Sequence[str], files: Sequence[str]
) -> dict[str, Any]:
    """The ``data`` of a ``history.created`` event: the notify list, the category's title,
    what the event was added to ("contact / opportunity") and the attached file names."""
    item = tx.uow.lists.get(event.category_id)
    opportunity, case = deal_title(tx, event.opportunity_id, event.case_id)
    parent = " / ".join(p for p in (contact_name(tx, event.contact_id), opportunity, case) if p)
    return {
        "notify": list(notify),
        "category": item.title if item is not None else "",
        "parent": parent,
        "files": list(files),
    }


def names_for(tx: Tx, task: Any, reader: User) -> dict[str, str]:
    """The names of what ``task`` is linked to, as ``reader`` (the user a message about it
    goes to) may see them: a contact, opportunity or case they may not read is left out, so a
    mail never names what the recipient could not open."""
    contact = ""
    if task.contact_id is not None:
        access = tx.uow.contacts.access_of(task.contact_id, reader.id)
        if access is not None and policy.can_read_contact_with(reader, *access):
            contact = contact_name(tx, task.contact_id)
    deal: Opportunity | Case | None = None
    if task.opportunity_id is not None:
        deal = tx.uow.opportunities.get(task.opportunity_id)
    elif task.case_id is not None:
        deal = tx.uow.cases.get(task.case_id)
    title = deal.title if deal is not None and policy.can_read_deal(reader, deal) else ""
    return {
        "contact": contact,
        "opportunity": title if isinstance(deal, Opportunity) else "",
        "case": title if isinstance(deal, Case) else "",
    }


def reader(directory: UserDirectory | None, user_id: str) -> User:
    """The user a message goes to, as the host's directory knows them (an unknown one reads
    as a plain, non-admin user)."""
    found = directory.get(user_id) if directory is not None else None
    return found if found is not None else User(id=user_id)
