"""Admin lists: contact types, temperature levels, task and history categories, tags and
opportunity stages. Anyone reads them; CRM admins change them (the services refuse others)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from opencrm.core.entities.lists import ListItem, ListKind, Stage, StageType, Tag
from opencrm.core.services.lists import TAG_ENTITY_TYPES
from opencrm.errors import NotFound
from opencrm.http._api import Call, Items, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]


def _find(records: Iterable[Any], record_id: int, what: str) -> Any:
    """The record of ``records`` with this id; the services read whole lists only."""
    found = next((r for r in records if r.id == record_id), None)
    if found is None:
        raise NotFound(what, record_id)
    return found


# --- list items ---------------------------------------------------------------------------

LISTS = "lists"
_KINDS = ", ".join(k.value for k in ListKind)


@attrs.frozen(kw_only=True)
class ListItemIn:
    title: str
    description: str = UNSET
    color: str | None = UNSET
    icon: str | None = UNSET


@attrs.frozen(kw_only=True)
class ListItemPatch:
    title: str = UNSET
    description: str = UNSET
    color: str | None = UNSET
    icon: str | None = UNSET
    sort_order: int = UNSET


@attrs.frozen(kw_only=True)
class DeleteItemQuery:
    move_to: int = UNSET


def list_items(c: Call) -> Any:
    return c.s.lists.items(c.path["kind"])


def add_list_item(c: Call) -> ListItem:
    return c.s.lists.add(c.path["kind"], **c.args())  # type: ignore[no-any-return]


def get_list_item(c: Call) -> ListItem:
    item_id = c.path["item_id"]
    return _find(  # type: ignore[no-any-return]
        (i for k in ListKind for i in c.s.lists.items(k)), item_id, "list item"
    )


def update_list_item(c: Call) -> ListItem:
    return c.s.lists.update(c.path["item_id"], **c.args())  # type: ignore[no-any-return]


def delete_list_item(c: Call) -> None:
    c.s.lists.delete(c.path["item_id"], **c.filters())


# --- tags ---------------------------------------------------------------------------------

TAGS = "tags"


@attrs.frozen(kw_only=True)
class TagQuery:
    entity_type: str = UNSET


@attrs.frozen(kw_only=True)
class TagIn:
    title: str
    entity_type: str = UNSET


@attrs.frozen(kw_only=True)
class TagRename:
    title: str


@attrs.frozen(kw_only=True)
class UnusedTagsIn:
    entity_type: str = UNSET


@attrs.frozen(kw_only=True)
class TagsDeleted:
    """How many unused tags were deleted."""

    deleted: int


def list_tags(c: Call) -> Any:
    return c.s.lists.tags(**c.filters())


def add_tag(c: Call) -> Tag:
    return c.s.lists.add_tag(**c.args())  # type: ignore[no-any-return]


def get_tag(c: Call) -> Tag:
    tag_id = c.path["tag_id"]
    return _find(  # type: ignore[no-any-return]
        (t for k in TAG_ENTITY_TYPES for t in c.s.lists.tags(k)), tag_id, "tag"
    )


def rename_tag(c: Call) -> Tag:
    return c.s.lists.rename_tag(c.path["tag_id"], c.body.title)  # type: ignore[no-any-return]


def delete_tag(c: Call) -> None:
    c.s.lists.delete_tag(c.path["tag_id"])


def delete_unused_tags(c: Call) -> TagsDeleted:
    return TagsDeleted(deleted=c.s.lists.delete_unused_tags(**c.args()))


# --- opportunity stages -------------------------------------------------------------------

STAGES = "stages"


@attrs.frozen(kw_only=True)
class StageIn:
    title: str
    color: str
    probability: int = UNSET
    type: StageType = UNSET
    description: str = UNSET
    sort_order: int = UNSET


@attrs.frozen(kw_only=True)
class StagePatch:
    title: str = UNSET
    color: str = UNSET
    probability: int = UNSET
    type: StageType = UNSET
    description: str = UNSET
    sort_order: int = UNSET


def list_stages(c: Call) -> Any:
    return c.s.stages.list()


def add_stage(c: Call) -> Stage:
    args = c.args()
    return c.s.stages.add(args.pop("title"), **args)  # type: ignore[no-any-return]


def get_stage(c: Call) -> Stage:
    return _find(c.s.stages.list(), c.path["stage_id"], "stage")  # type: ignore[no-any-return]


def update_stage(c: Call) -> Stage:
    return c.s.stages.update(c.path["stage_id"], **c.args())  # type: ignore[no-any-return]


def delete_stage(c: Call) -> None:
    c.s.stages.delete(c.path["stage_id"])


ITEM = "/list-items/{item_id}"
TAG = "/tags/{tag_id}"
STAGE = "/stages/{stage_id}"

ROUTES = [
    Route(
        method="GET",
        path="/lists/{kind}",
        handler=list_items,
        summary="The items of an admin list, in their order",
        description=f"`kind` is one of {_KINDS}.",
        tag=LISTS,
        returns=Items(ListItem),
        exposes=("lists.items",),
    ),
    Route(
        method="POST",
        path="/lists/{kind}",
        handler=add_list_item,
        summary="Add an item to an admin list (admins)",
        description=f"`kind` is one of {_KINDS}. A temperature needs a `color`.",
        tag=LISTS,
        body=ListItemIn,
        returns=ListItem,
        status=201,
        location=lambda item: f"/list-items/{item.id}",
        exposes=("lists.add",),
    ),
    Route(
        method="GET",
        path=ITEM,
        handler=get_list_item,
        summary="Read one list item",
        tag=LISTS,
        returns=ListItem,
    ),
    Route(
        method="PATCH",
        path=ITEM,
        handler=update_list_item,
        summary="Change a list item (admins)",
        tag=LISTS,
        body=ListItemPatch,
        returns=ListItem,
        current=get_list_item,
        exposes=("lists.update",),
    ),
    Route(
        method="DELETE",
        path=ITEM,
        handler=delete_list_item,
        summary="Delete a list item that is not in use (admins)",
        description="A task category in use moves its tasks to the category `move_to` names.",
        tag=LISTS,
        query=DeleteItemQuery,
        current=get_list_item,
        exposes=("lists.delete",),
    ),
    Route(
        method="GET",
        path="/tags",
        handler=list_tags,
        summary="The tags of an entity type (`entity_type`, default contact)",
        tag=TAGS,
        query=TagQuery,
        returns=Items(Tag),
        exposes=("lists.tags",),
    ),
    Route(
        method="POST",
        path="/tags",
        handler=add_tag,
        summary="Create a tag (admins)",
        tag=TAGS,
        body=TagIn,
        returns=Tag,
        status=201,
        location=lambda tag: f"/tags/{tag.id}",
        exposes=("lists.add_tag",),
    ),
    Route(
        method="POST",
        path="/tags/delete-unused",
        handler=delete_unused_tags,
        summary="Delete the tags of an entity type no record carries (admins)",
        tag=TAGS,
        body=UnusedTagsIn,
        returns=TagsDeleted,
        exposes=("lists.delete_unused_tags",),
    ),
    Route(
        method="GET",
        path=TAG,
        handler=get_tag,
        summary="Read one tag",
        tag=TAGS,
        returns=Tag,
    ),
    Route(
        method="PATCH",
        path=TAG,
        handler=rename_tag,
        summary="Rename a tag (admins)",
        tag=TAGS,
        body=TagRename,
        returns=Tag,
        current=get_tag,
        exposes=("lists.rename_tag",),
    ),
    Route(
        method="DELETE",
        path=TAG,
        handler=delete_tag,
        summary="Delete a tag and remove it from every record (admins)",
        tag=TAGS,
        current=get_tag,
        exposes=("lists.delete_tag",),
    ),
    Route(
        method="GET",
        path="/stages",
        handler=list_stages,
        summary="The opportunity stages in their order",
        tag=STAGES,
        returns=Items(Stage),
        exposes=("stages.list", "lists.stages"),
    ),
    Route(
        method="POST",
        path="/stages",
        handler=add_stage,
        summary="Add an opportunity stage (admins)",
        description="It goes last unless `sort_order` says otherwise.",
        tag=STAGES,
        body=StageIn,
        returns=Stage,
        status=201,
        location=lambda stage: f"/stages/{stage.id}",
        exposes=("stages.add",),
    ),
    Route(
        method="GET",
        path=STAGE,
        handler=get_stage,
        summary="Read one opportunity stage",
        tag=STAGES,
        returns=Stage,
    ),
    Route(
        method="PATCH",
        path=STAGE,
        handler=update_stage,
        summary="Change an opportunity stage (admins)",
        description="A stage in use, or the last of its type, keeps its type.",
        tag=STAGES,
        body=StagePatch,
        returns=Stage,
        current=get_stage,
        exposes=("stages.update",),
    ),
    Route(
        method="DELETE",
        path=STAGE,
        handler=delete_stage,
        summary="Delete an opportunity stage no opportunity uses (admins)",
        tag=STAGES,
        current=get_stage,
        exposes=("stages.delete",),
    ),
]
