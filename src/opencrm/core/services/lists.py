"""Admin-managed lists, tags, custom field definitions and settings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from opencrm.core._inputs import MAX_ID, clean_id, clean_int, clean_key, single_line
from opencrm.core.contact_data import clean_name
from opencrm.core.entities.lists import (
    TAG_ENTITY_TYPES,
    CustomField,
    ListItem,
    ListKind,
    Stage,
    Tag,
)
from opencrm.core.fields import FIELD_ENTITY_TYPES
from opencrm.core.permissions import require_admin
from opencrm.core.query import limit_problem
from opencrm.core.regional import (
    LOCALE_KEY,
    TIME_ZONE_KEY,
    Regional,
    clean_locale,
    clean_time_zone,
)
from opencrm.core.services._base import MODULE_ACCESS_KEY, Service, Tx
from opencrm.core.services._records import mapping_of
from opencrm.core.users import ModuleAccess
from opencrm.errors import Conflict, NotFound, ValidationError

__all__ = ["CustomFieldService", "ListService", "SettingsService"]

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _kind(value: object) -> ListKind:
    try:
        return ListKind(str(value))
    except ValueError:
        raise ValidationError(
            {"kind": "must be one of " + ", ".join(k.value for k in ListKind)}
        ) from None


def _color(value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise ValidationError({"color": "must be a colour like #8a98d8"})
    return value.lower()


class ListService:
    """Contact types, temperature levels, task and history categories, stages and tags.

    Anyone may read them; only CRM admins change them. An item in use cannot be deleted
    (task categories move their tasks to another category first) and the last item of a list
    always stays.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    def items(self, kind: ListKind | str) -> Sequence[ListItem]:
        kind = _kind(kind)
        with self._s._tx(write=False) as tx:
            return tx.uow.lists.list(kind)

    def stages(self) -> Sequence[Stage]:
        with self._s._tx(write=False) as tx:
            return tx.uow.stages.list()

    def add(
        self,
        kind: ListKind | str,
        title: str,
        *,
        description: str = "",
        color: str | None = None,
        icon: str | None = None,
    ) -> ListItem:
        kind = _kind(kind)
        with self._s._tx() as tx:
            require_admin(tx.actor, "change lists")
            title = clean_name("title", title, required=True)
            if tx.uow.lists.find(kind, title) is not None:
                raise Conflict(f"{kind.value} {title!r} exists already")
            existing = tx.uow.lists.list(kind)
            item = ListItem(
                id=0,
                kind=kind,
                title=title,
                description=clean_name("description", description, required=False),
                color=_color(color, required=kind is ListKind.TEMPERATURE),
                icon=clean_name("icon", icon, required=False) or None,
                sort_order=max((i.sort_order for i in existing), default=0) + 1,
            )
            stored = tx.uow.lists.add(item)
            tx.emit("list_item.created", stored, after=stored)
            return stored

    def update(self, item_id: int, **changes: Any) -> ListItem:
        """Change ``title``, ``description``, ``color``, ``icon`` or ``sort_order``.

        Records refer to items by id, so renaming or recolouring an item in use is safe.
        """
        allowed = {"title", "description", "color", "icon", "sort_order"}
        bad = {k: "is not a field of a list item" for k in changes if k not in allowed}
        if bad:
            raise ValidationError(bad)
        with self._s._tx() as tx:
            require_admin(tx.actor, "change lists")
            before = self._get(tx, item_id)
            if before.system:
                raise Conflict("system list items cannot be changed")
            new: dict[str, Any] = {}
            if "title" in changes:
                new["title"] = clean_name("title", changes["title"], required=True)
                other = tx.uow.lists.find(before.kind, new["title"])
                if other is not None and other.id != item_id:
                    raise Conflict(f"{before.kind.value} {new['title']!r} exists already")
            if "description" in changes:
                new["description"] = clean_name(
                    "description", changes["description"], required=False
                )
            if "color" in changes:
                new["color"] = _color(
                    changes["color"], required=before.kind is ListKind.TEMPERATURE
                )
            if "icon" in changes:
                new["icon"] = clean_name("icon", changes["icon"], required=False) or None
            if "sort_order" in changes:
                new["sort_order"] = clean_int(changes["sort_order"], "sort_order", 0, MAX_ID)
            after = attrs.evolve(before, **new)
            if after != before:
                tx.uow.lists.update(after)
                tx.emit("list_item.updated", after, before=before, after=after)
            return after

    def delete(self, item_id: int, *, move_to: int | None = None) -> None:
        """Delete an item. An item in use is refused with :class:`Conflict`, except a task
        category, whose tasks move to the category ``move_to`` names."""
        if move_to is not None:
            move_to = clean_id(move_to, "move_to", ListItem)
        with self._s._tx() as tx:
            require_admin(tx.actor, "change lists")
            item = self._get(tx, item_id)
            if item.system:
                raise Conflict("system list items cannot be deleted")
            siblings = [i for i in tx.uow.lists.list(item.kind) if not i.system]
            if len(siblings) <= 1:
                raise Conflict(f"the last {item.kind.value.replace('_', ' ')} cannot be deleted")
            moved = 0
            if tx.uow.lists.usage(item):
                if item.kind is not ListKind.TASK_CATEGORY:
                    raise Conflict(f"{item.title!r} is in use and cannot be deleted")
                if move_to is None:
                    raise ValidationError(
                        {"move_to": "name the task category that takes this one's tasks"}
                    )
                target = self._get(tx, move_to, "move_to")
                if target.kind is not item.kind or target.id == item.id:
                    raise ValidationError({"move_to": "must be another task category"})
                moved = tx.uow.lists.reassign(item, target)
            tx.uow.lists.delete(item_id)
            tx.emit("list_item.deleted", item, before=item, data={"moved": moved})

    # --- tags -----------------------------------------------------------------------------

    def tags(self, entity_type: str = "contact") -> Sequence[Tag]:
        _tag_type(entity_type)
        with self._s._tx(write=False) as tx:
            return tx.uow.tags.list(entity_type)

    def add_tag(self, title: str, entity_type: str = "contact") -> Tag:
        _tag_type(entity_type)
        with self._s._tx() as tx:
            require_admin(tx.actor, "manage tags")
            title = clean_name("title", title, required=True)
            if tx.uow.tags.find(entity_type, title) is not None:
                raise Conflict(f"tag {title!r} exists already")
            tag = tx.uow.tags.add(entity_type, title)
            tx.emit("tag.created", tag, after=tag)
            return tag

    def rename_tag(self, tag_id: int, title: str) -> Tag:
        tag_id = clean_id(tag_id, "tag_id", Tag)
        title = clean_name("title", title, required=True)
        with self._s._tx() as tx:
            require_admin(tx.actor, "manage tags")
            tag = tx.uow.tags.get(tag_id)
            if tag is None:
                raise NotFound("tag", tag_id)
            other = tx.uow.tags.find(tag.entity_type, title)
            if other is not None and other.id != tag_id:
                raise Conflict(f"tag {title!r} exists already")
            tx.uow.tags.rename(tag, title)
            after = attrs.evolve(tag, title=title)
            tx.emit("tag.updated", after, before=tag, after=after)
            return after

    def delete_tag(self, tag_id: int) -> None:
        """Delete a tag and remove it from every record."""
        tag_id = clean_id(tag_id, "tag_id", Tag)
        with self._s._tx() as tx:
            require_admin(tx.actor, "manage tags")
            tag = tx.uow.tags.get(tag_id)
            if tag is None:
                raise NotFound("tag", tag_id)
            used = tx.uow.tags.usage(tag_id)
            tx.uow.tags.delete(tag_id)
            tx.emit("tag.deleted", tag, before=tag, data={"removed_from": used})

    def delete_unused_tags(self, entity_type: str = "contact") -> int:
        _tag_type(entity_type)
        with self._s._tx() as tx:
            require_admin(tx.actor, "manage tags")
            unused = tx.uow.tags.unused(entity_type)
            for tag in unused:
                tx.uow.tags.delete(tag.id)
                tx.emit("tag.deleted", tag, before=tag, data={"removed_from": 0})
            return len(unused)

    def _get(self, tx: Tx, item_id: object, field: str = "item_id") -> ListItem:
        item_id = clean_id(item_id, field, ListItem)
        item = tx.uow.lists.get(item_id)
        if item is None:
            raise NotFound("list item", item_id)
        return item


def _tag_type(entity_type: str) -> None:
    if not isinstance(entity_type, str) or entity_type not in TAG_ENTITY_TYPES:
        raise ValidationError({"entity_type": "must be one of " + ", ".join(TAG_ENTITY_TYPES)})


def _type_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError({"type": "must be the name of a field type"})
    return value


class CustomFieldService:
    """Custom field definitions (admin). A field's type is fixed once it has values; a select
    field's choices may then only grow."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def list(self, entity_type: str | None = None) -> Sequence[CustomField]:
        if entity_type is not None:
            _field_entity(entity_type)
        with self._s._tx(write=False) as tx:
            return tx.uow.fields.list(entity_type)

    def add(
        self,
        entity_type: str,
        label: str,
        type: str,
        options: Mapping[str, Any] | None = None,
    ) -> CustomField:
        _field_entity(entity_type)
        with self._s._tx() as tx:
            require_admin(tx.actor, "define custom fields")
            label = clean_name("label", label, required=True)
            field_type = self._s._ctx.field_types.get(_type_name(type))
            cleaned = field_type.clean_options(mapping_of(options, "options"))
            existing = tx.uow.fields.list(entity_type)
            _check_label_free(tx, entity_type, label)
            field = CustomField(
                id=0,
                entity_type=entity_type,
                label=label,
                type=type,
                options=cleaned,
                sort_order=max((f.sort_order for f in existing), default=0) + 1,
            )
            stored = tx.uow.fields.add(field)
            tx.emit("custom_field.created", stored, after=stored)
            return stored

    def update(
        self,
        field_id: int,
        *,
        label: str | None = None,
        type: str | None = None,
        options: Mapping[str, Any] | None = None,
        sort_order: int | None = None,
    ) -> CustomField:
        field_id = clean_id(field_id, "field_id", CustomField)
        with self._s._tx() as tx:
            require_admin(tx.actor, "define custom fields")
            before = tx.uow.fields.get(field_id)
            if before is None:
                raise NotFound("custom field", field_id)
            used = tx.uow.fields.value_count(field_id) > 0
            new_type = before.type if type is None else _type_name(type)
            if new_type != before.type and used:
                raise Conflict("the field has values; its type cannot change")
            field_type = self._s._ctx.field_types.get(new_type)
            new_options = before.options if options is None else mapping_of(options, "options")
            cleaned = field_type.clean_options(dict(new_options))
            if used:
                field_type.check_change(before.options, cleaned)
            changes: dict[str, Any] = {"type": new_type, "options": cleaned}
            if label is not None:
                changes["label"] = clean_name("label", label, required=True)
                _check_label_free(tx, before.entity_type, changes["label"], field_id)
            if sort_order is not None:
                changes["sort_order"] = clean_int(sort_order, "sort_order", -MAX_ID, MAX_ID)
            after = attrs.evolve(before, **changes)
            if after != before:
                tx.uow.fields.update(after)
                tx.emit("custom_field.updated", after, before=before, after=after)
            return after

    def delete(self, field_id: int) -> None:
        """Delete a field and every value stored for it."""
        field_id = clean_id(field_id, "field_id", CustomField)
        with self._s._tx() as tx:
            require_admin(tx.actor, "define custom fields")
            field = tx.uow.fields.get(field_id)
            if field is None:
                raise NotFound("custom field", field_id)
            tx.uow.fields.delete(field_id)
            tx.emit("custom_field.deleted", field, before=field)


_SHOWN_TOGETHER = {
    "contact": ("contact", "person", "company"),
    "person": ("person", "contact"),
    "company": ("company", "contact"),
}


def _check_label_free(tx: Tx, entity_type: str, label: str, field_id: int | None = None) -> None:
    """Values are addressed by label, so two fields shown on the same record (a ``contact``
    field and a ``company`` field, say) must not share one."""
    for kind in _SHOWN_TOGETHER.get(entity_type, (entity_type,)):
        for f in tx.uow.fields.list(kind):
            if f.id != field_id and f.label.casefold() == label.casefold():
                raise Conflict(f"a {f.entity_type} field {label!r} exists already")


def _field_entity(entity_type: str) -> None:
    if not isinstance(entity_type, str) or entity_type not in FIELD_ENTITY_TYPES:
        raise ValidationError({"entity_type": "must be one of " + ", ".join(FIELD_ENTITY_TYPES)})


class SettingsService:
    """CRM-wide settings (admin to change)."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def module_access(self) -> ModuleAccess:
        from opencrm.core.services._base import load_module_access

        with self._s._tx(write=False) as tx:
            return load_module_access(tx.uow)

    def set_module_access(self, rule: ModuleAccess) -> None:
        """Decide who may use the CRM; CRM admins always may."""
        if not isinstance(rule, ModuleAccess) or not isinstance(rule.everyone, bool):
            raise ValidationError({"rule": "must be a ModuleAccess"})
        for name in (*rule.users, *rule.groups):
            if not isinstance(name, str) or not name or len(name) > 255:
                raise ValidationError({"rule": "users and groups are names of 1 to 255 characters"})
            single_line(name, "rule", trim=False)
        with self._s._tx() as tx:
            require_admin(tx.actor, "change settings")
            value = {
                "everyone": rule.everyone,
                "users": sorted(rule.users),
                "groups": sorted(rule.groups),
            }
            before = tx.uow.settings.get(MODULE_ACCESS_KEY)
            tx.uow.settings.set(MODULE_ACCESS_KEY, value)
            tx.emit(
                "setting.updated",
                entity_id=MODULE_ACCESS_KEY,
                data={"key": MODULE_ACCESS_KEY, "before": before, "after": value},
            )

    def regional(self) -> Regional:
        """The CRM's locale and time zone: reports are written in the locale (dates, month
        names, the first day of the week) and read their periods in the time zone."""
        with self._s._tx(write=False) as tx:
            return Regional.from_settings(tx.uow.settings.get_many([LOCALE_KEY, TIME_ZONE_KEY]))

    def set_regional(self, *, locale: str | None = None, time_zone: str | None = None) -> Regional:
        """Change the CRM's ``locale`` (``en_US``, ``de_DE``...) and/or ``time_zone`` (IANA,
        such as ``Europe/Berlin``); admins only."""
        changes: dict[str, str] = {}
        errors: dict[str, str] = {}
        for key, value, clean in (
            (LOCALE_KEY, locale, clean_locale),
            (TIME_ZONE_KEY, time_zone, clean_time_zone),
        ):
            if value is None:
                continue
            try:
                changes[key] = clean(value)
            except ValidationError as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        with self._s._tx() as tx:
            require_admin(tx.actor, "change settings")
            for key, value in changes.items():
                before = tx.uow.settings.get(key)
                if before == value:
                    continue
                tx.uow.settings.set(key, value)
                tx.emit(
                    "setting.updated",
                    entity_id=key,
                    data={"key": key, "before": before, "after": value},
                )
            return Regional.from_settings(tx.uow.settings.get_many([LOCALE_KEY, TIME_ZONE_KEY]))

    def get(self, key: str) -> Any:
        """A stored setting (admin only: settings will hold keys and credentials). ``key``
        is 1 to 100 ASCII letters, digits and ``_ . : -``."""
        key = clean_key(key, "key")
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "read settings")
            if not isinstance(key, str):
                raise ValidationError({"key": "must be a setting name"})
            return tx.uow.settings.get(key)

    def audit_trail(
        self,
        *,
        entity_type: str | None = None,
        entity_id: int | str | None = None,
        limit: int = 100,
    ) -> Sequence[Any]:
        """The newest ``limit`` (1-500, as a page) audit entries first (admin only),
        optionally of one ``entity_type`` (such as ``"contact"``) and one ``entity_id``."""
        errors: dict[str, str] = {}
        if (why := limit_problem(limit)) is not None:
            errors["limit"] = why
        if entity_type is not None:
            try:
                clean_key(entity_type, "entity_type", max_length=50)
            except ValidationError as exc:
                errors.update(exc.errors)
        if entity_id is not None:
            if isinstance(entity_id, bool) or not isinstance(entity_id, (int, str)):
                errors["entity_id"] = "must be an id or a key"
            elif isinstance(entity_id, int) and not -MAX_ID <= entity_id <= MAX_ID:
                errors["entity_id"] = f"must be an id up to {MAX_ID}"
            elif isinstance(entity_id, str):
                try:
                    single_line(entity_id, "entity_id", max_length=100, trim=False)
                except ValidationError as exc:
                    errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "read the audit trail")
            return tx.uow.audit.entries(entity_type=entity_type, entity_id=entity_id, limit=limit)
