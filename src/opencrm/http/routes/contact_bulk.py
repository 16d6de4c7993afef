"""Contacts in bulk: merging, the duplicate scan and check, group operations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from opencrm.core.entities.bulk import DuplicateCluster, DuplicateMatch, GroupResult
from opencrm.core.entities.contacts import Access, Contact
from opencrm.http._api import Call, Items, Listing, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TAG = "contacts"

_WHERE = {
    "type": "object",
    "description": "Contact list filters, as `GET /contacts` takes them (`tags`, `kind`, "
    "`temperature`, `manager`, `company`, `custom`, ...): the selection is every contact the "
    "list would show. Give `ids` or `where`.",
    "additionalProperties": True,
}
_IDS = {"description": "Contact ids, at most 10,000. Give `ids` or `where`."}


@attrs.frozen(kw_only=True)
class MergeIn:
    """The contact to merge into the one in the path (it is deleted)."""

    source: int


@attrs.frozen(kw_only=True)
class DuplicatesQuery:
    limit: int = UNSET
    after: str = UNSET


@attrs.frozen(kw_only=True)
class DuplicatesOfIn:
    """A contact about to be created: a person (names and company) or a company (name)."""

    first_name: str = UNSET
    last_name: str = UNSET
    name: str = UNSET
    emails: list[str] = UNSET
    phones: list[str] = UNSET
    company: int = UNSET
    limit: int = UNSET


@attrs.frozen(kw_only=True)
class _Selection:
    ids: list[int] = attrs.field(default=UNSET, metadata=_IDS)
    where: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _WHERE})


@attrs.frozen(kw_only=True)
class TagIn(_Selection):
    tag: str


@attrs.frozen(kw_only=True)
class TemperatureIn(_Selection):
    """``temperature``: an item id or title; null clears it."""

    temperature: int | str | None
    cascade: bool = UNSET


@attrs.frozen(kw_only=True)
class AccessIn(_Selection):
    access: Access = UNSET
    managers: list[str] = UNSET
    add_managers: list[str] = UNSET
    remove_managers: list[str] = UNSET


@attrs.frozen(kw_only=True)
class TaskIn(_Selection):
    title: str
    due: dt.datetime
    notify: bool = UNSET
    category: int | str = UNSET
    responsible: str = UNSET
    description: str = UNSET
    opportunity: int = UNSET
    case: int = UNSET
    alert: int = UNSET


@attrs.frozen(kw_only=True)
class DeleteIn(_Selection):
    pass


def merge_contacts(c: Call) -> Contact:
    return c.s.contacts.merge(c.body.source, into=c.path["contact_id"])  # type: ignore[no-any-return]


def list_duplicates(c: Call) -> Any:
    args = {k: getattr(c.query, k) for k in ("limit", "after") if getattr(c.query, k) is not UNSET}
    return c.s.contacts.duplicates(**args)


def check_duplicates(c: Call) -> Any:
    return c.s.contacts.duplicates_of(**c.args())


def group_add_tag(c: Call) -> GroupResult:
    return c.s.contacts.group_add_tag(**c.args())  # type: ignore[no-any-return]


def group_remove_tag(c: Call) -> GroupResult:
    return c.s.contacts.group_remove_tag(**c.args())  # type: ignore[no-any-return]


def group_set_temperature(c: Call) -> GroupResult:
    return c.s.contacts.group_set_temperature(**c.args())  # type: ignore[no-any-return]


def group_set_access(c: Call) -> GroupResult:
    return c.s.contacts.group_set_access(**c.args())  # type: ignore[no-any-return]


def group_add_task(c: Call) -> GroupResult:
    return c.s.contacts.group_add_task(**c.args())  # type: ignore[no-any-return]


def group_delete(c: Call) -> GroupResult:
    return c.s.contacts.group_delete(**c.args())  # type: ignore[no-any-return]


_GROUP = "/contacts/group/"
_GROUP_HELP = (
    "Only contacts you may edit change; the answer lists the ids `changed` and `unchanged`, "
    "and `refused` ones with a reason (`not_found`, `not_editable`, `in_use`). One "
    "transaction; at most 10,000 contacts."
)

ROUTES = [
    Route(
        method="POST",
        path="/contacts/{contact_id}/merge",
        handler=merge_contacts,
        summary="Merge another contact (`source`, deleted) into this one",
        description="Everything that named the source names this contact afterwards; see "
        "the merge guide. Needs edit rights on both.",
        tag=TAG,
        body=MergeIn,
        returns=Contact,
        exposes=("contacts.merge",),
    ),
    Route(
        method="GET",
        path="/contacts/duplicates",
        handler=list_duplicates,
        summary="Clusters of likely duplicates among the contacts you may read",
        tag=TAG,
        query=DuplicatesQuery,
        returns=Listing(DuplicateCluster),
        exposes=("contacts.duplicates",),
    ),
    Route(
        method="POST",
        path="/contacts/duplicates-of",
        handler=check_duplicates,
        summary="Stored contacts that look like the one described (check before creating)",
        tag=TAG,
        body=DuplicatesOfIn,
        returns=Items(DuplicateMatch),
        exposes=("contacts.duplicates_of",),
    ),
    Route(
        method="POST",
        path=_GROUP + "add-tag",
        handler=group_add_tag,
        summary="Tag a selection of contacts",
        description=_GROUP_HELP,
        tag=TAG,
        body=TagIn,
        returns=GroupResult,
        exposes=("contacts.group_add_tag",),
    ),
    Route(
        method="POST",
        path=_GROUP + "remove-tag",
        handler=group_remove_tag,
        summary="Remove a tag from a selection of contacts",
        description=_GROUP_HELP,
        tag=TAG,
        body=TagIn,
        returns=GroupResult,
        exposes=("contacts.group_remove_tag",),
    ),
    Route(
        method="POST",
        path=_GROUP + "temperature",
        handler=group_set_temperature,
        summary="Set the temperature of a selection (optionally of the companies' persons too)",
        description=_GROUP_HELP,
        tag=TAG,
        body=TemperatureIn,
        returns=GroupResult,
        exposes=("contacts.group_set_temperature",),
    ),
    Route(
        method="POST",
        path=_GROUP + "access",
        handler=group_set_access,
        summary="Change the access level and managers of a selection",
        description=_GROUP_HELP,
        tag=TAG,
        body=AccessIn,
        returns=GroupResult,
        exposes=("contacts.group_set_access",),
    ),
    Route(
        method="POST",
        path=_GROUP + "tasks",
        handler=group_add_task,
        summary="Create the same task for each contact of a selection",
        description=_GROUP_HELP,
        tag=TAG,
        body=TaskIn,
        returns=GroupResult,
        exposes=("contacts.group_add_task",),
    ),
    Route(
        method="POST",
        path=_GROUP + "delete",
        handler=group_delete,
        summary="Delete a selection of contacts",
        description=_GROUP_HELP,
        tag=TAG,
        body=DeleteIn,
        returns=GroupResult,
        exposes=("contacts.group_delete",),
    ),
]
