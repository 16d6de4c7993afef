"""Validation shared by the opportunity and case services.

Every helper raises :class:`~opencrm.errors.ValidationError` naming the offending field, so
that a service can collect all bad fields of one call into a single error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from opencrm.core import permissions as policy
from opencrm.core.contact_data import has_control, no_control
from opencrm.core.entities.contacts import Contact
from opencrm.core.services._base import Service, Tx
from opencrm.core.users import User
from opencrm.errors import NotFound, ValidationError

__all__ = [
    "FieldChecker",
    "access_event",
    "check_names",
    "clean_bool",
    "clean_date",
    "contact_filter",
    "custom_values",
    "given_filters",
    "items_of",
    "mapping_of",
    "member_ids",
    "record_id",
    "tag_titles",
    "tags_filter",
    "text_filter",
]

READ_ONLY = frozenset({"id", "kind", "created_by", "created_at", "updated_by", "updated_at"})


class FieldChecker:
    """Runs one cleaner per given field and collects every failure."""

    def __init__(self, changes: Mapping[str, Any]) -> None:
        self.changes = changes
        self.errors: dict[str, str] = {}
        self.new: dict[str, Any] = {}

    def __call__(self, name: str, clean: Any, *, to: str | None = None) -> None:
        if name in self.changes:
            try:
                self.new[to or name] = clean(self.changes[name])
            except ValidationError as exc:
                self.errors.update(exc.errors)

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise ValidationError(self.errors)
        return self.new


class _Restrictable(Protocol):
    @property
    def restricted(self) -> bool: ...
    @property
    def access_list(self) -> frozenset[str]: ...


def access_event(tx: Tx, name: str, before: _Restrictable | None, after: _Restrictable) -> None:
    """Emit ``<entity>.access_changed`` when a record becomes restricted or public, or the
    access list of a restricted one changes. ``granted`` names the users put on the list of a
    restricted record (not the actor): the ones to notify."""
    was_restricted = before is not None and before.restricted
    if after.restricted:
        old = before.access_list if before is not None and was_restricted else frozenset()
        if was_restricted and old == after.access_list:
            return
        granted = after.access_list - old - {tx.actor.id}
    elif was_restricted:
        granted = frozenset()
    else:
        return
    tx.emit(name, after, data={"granted": sorted(granted), "restricted": after.restricted})


def check_names(given: Iterable[str], allowed: Iterable[str], what: str) -> None:
    allowed = set(allowed)
    errors = {}
    for name in given:
        if name in READ_ONLY or name == "value":
            errors[name] = "is read-only"
        elif name not in allowed:
            errors[name] = f"is not a field of {what}"
    if errors:
        raise ValidationError(errors)


def given_filters(filters: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The filters of a list call that were given (None means "not given"); a name outside
    the allow-list ``known`` is a :class:`ValidationError` naming the known ones."""
    allowed = set(known)
    unknown = sorted(set(filters) - allowed)
    if unknown:
        listed = ", ".join(sorted(allowed))
        raise ValidationError(dict.fromkeys(unknown, f"unknown filter; known: {listed}"))
    return {k: v for k, v in filters.items() if v is not None}


def storable_id(value: int) -> bool:
    """Whether an integer can be a record id at all (ids are INTEGER columns: 32 bits on
    PostgreSQL); a larger one names no record, and must not reach the driver."""
    return -(2**31) <= value < 2**31


def items_of(value: object, field: str, message: str) -> list[Any]:
    """The items of an argument that must be a collection (list, tuple, set, generator). A
    single string, bytes, a mapping or a non-iterable raises ``ValidationError({field:
    message})`` instead of iterating over characters or failing with a ``TypeError``."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise ValidationError({field: message})
    return list(value)


def mapping_of(value: object, field: str) -> dict[Any, Any]:
    """A copy of an argument that must be a mapping (None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError({field: "must be a mapping"})
    return dict(value)


def record_id(
    value: object,
    field: str,
    cls: type[Any] | None = None,
    *,
    noun: str | None = None,
    link: bool = False,
) -> int:
    """An id given as the record itself or as an integer.

    An integer no record can have is refused as a missing record would be: ``NotFound``
    (``noun``, default the field name without ``_id``), or with ``link`` (the id names a
    record to link to) ``ValidationError`` "no <noun> you may read with id ...".
    """
    if cls is not None and isinstance(value, cls):
        value = value.id
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: "must be an integer id"})
    if not storable_id(value):
        what = noun or field.removesuffix("_id")
        if link:
            raise ValidationError({field: f"no {what} you may read with id {value}"})
        raise NotFound(what, value)
    return value


def user_id(value: object, field: str) -> str:
    """A user id given as a :class:`~opencrm.core.users.User` or a string: non-empty, at
    most 255 characters, no control characters."""
    uid = value.id if isinstance(value, User) else value
    if not isinstance(uid, str) or not uid or len(uid) > 255 or has_control(uid):
        raise ValidationError({field: "must be a user id"})
    return uid


def clean_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError({field: "must be True or False"})
    return value


def clean_date(value: object, field: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError({field: "must be a datetime.date (or None)"})
    return value


def clean_tag_title(value: object, field: str = "tags") -> str:
    if not isinstance(value, str):
        raise ValidationError({field: "each tag is a string"})
    title = " ".join(value.split())
    if not title or len(title) > 255:
        raise ValidationError({field: "each tag has 1 to 255 characters"})
    return title


def tag_titles(tx: Tx, entity_type: str, value: object) -> frozenset[str]:
    """Resolve tag titles of ``entity_type`` case-insensitively; new titles become tags."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError({"tags": "must be a collection of tag titles"})
    titles = set()
    for raw in value:
        title = clean_tag_title(raw)
        tag = tx.uow.tags.find(entity_type, title)
        if tag is None:
            tag = tx.uow.tags.add(entity_type, title)
            tx.emit("tag.created", tag, after=tag)
        titles.add(tag.title)
    return frozenset(titles)


def custom_values(
    service: Service, tx: Tx, kind: str, current: Mapping[int, str], value: object
) -> dict[int, str]:
    """Merge custom values given by field id or label into ``current`` (None clears one)."""
    if not isinstance(value, Mapping):
        raise ValidationError({"custom": "must map field ids or labels to values"})
    fields = [f for f in tx.uow.fields.list() if f.applies_to(kind)]
    by_id = {f.id: f for f in fields}
    by_label = {f.label.casefold(): f for f in fields}
    result = dict(current)
    errors = {}
    for key, raw in value.items():
        field = by_id.get(key) if isinstance(key, int) else by_label.get(str(key).casefold())
        if field is None:
            errors[f"custom.{key}"] = f"no custom field {key!r} for this {kind}"
            continue
        try:
            text = service._ctx.field_types.get(field.type).clean(raw, field.options)
        except ValidationError as exc:
            errors[f"custom.{key}"] = "; ".join(exc.errors.values())
            continue
        if text is None:
            result.pop(field.id, None)
        else:
            result[field.id] = text
    if errors:
        raise ValidationError(errors)
    return result


def member_ids(
    tx: Tx, value: object, existing: frozenset[int], field: str = "members"
) -> frozenset[int]:
    """Contacts (or their ids) taking part. Contacts already linked stay allowed; a contact
    being added must exist and be readable by the actor, else the whole call is refused."""
    if isinstance(value, (str, Contact)) or not isinstance(value, Iterable):
        raise ValidationError({field: "must be a collection of contacts or contact ids"})
    ids = {record_id(v, field, Contact, noun="contact", link=True) for v in value}
    added = ids - existing
    readable = {
        c.id for c in tx.uow.contacts.get_many(added) if policy.can_read_contact(tx.actor, c)
    }
    refused = sorted(added - readable)
    if refused:
        listed = ", ".join(str(i) for i in refused)
        raise ValidationError({field: f"no contact you may read with id {listed}"})
    return frozenset(ids)


def readable_contact(tx: Tx, value: object, field: str) -> int:
    cid = record_id(value, field, Contact, noun="contact", link=True)
    contact = tx.uow.contacts.get(cid)
    if contact is None or not policy.can_read_contact(tx.actor, contact):
        raise ValidationError({field: f"no contact you may read with id {cid}"})
    return cid


# --- list filters ---------------------------------------------------------------------------


def text_filter(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 255:
        raise ValidationError({"text": "must be a string of at most 255 characters"})
    if "\x00" in value:
        raise ValidationError({"text": "must not contain NUL characters"})
    no_control("text", value)
    return " ".join(value.split()) or None


def tags_filter(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise ValidationError({"tags": "must be a collection of tag titles"})
    return frozenset(clean_tag_title(v) for v in value)


def contact_filter(tx: Tx, value: object) -> int:
    """The contact whose records are listed; one the actor may not read is NotFound, as on
    the contact's own page."""
    cid = record_id(value, "contact", Contact)  # out of range: NotFound, as when missing
    contact = tx.uow.contacts.get(cid)
    if contact is None or not policy.can_read_contact(tx.actor, contact):
        raise NotFound("contact", cid)
    return cid
