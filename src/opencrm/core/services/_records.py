"""Validation shared by the opportunity and case services.

Every helper raises :class:`~opencrm.errors.ValidationError` naming the offending field, so
that a service can collect all bad fields of one call into a single error.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from opencrm.core import _inputs
from opencrm.core import permissions as policy
from opencrm.core._inputs import MAX_ID, clean_bool, clean_id, clean_ids, has_control, single_line
from opencrm.core.entities.contacts import Contact
from opencrm.core.entities.lists import CustomField
from opencrm.core.query import MAX_FILTER_TEXT, MAX_FILTER_VALUES
from opencrm.core.services._base import Service, Tx
from opencrm.core.users import User
from opencrm.errors import NotFound, ValidationError

__all__ = [
    "FieldChecker",
    "access_event",
    "bounded",
    "check_names",
    "clean_bool",
    "clean_date",
    "contact_filter",
    "custom_filter",
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
    """The filters of a list call that were given (None means "not given"), held to the
    limits of :mod:`opencrm.core.query`: a name outside the allow-list ``known`` is a
    :class:`ValidationError` naming the known ones; a text value longer than
    ``MAX_FILTER_TEXT`` characters, or a collection of more than ``MAX_FILTER_VALUES``
    values (read no further than that), one naming the filter. Collections come back as
    lists, so a generator is read once."""
    allowed = set(known)
    unknown = sorted(set(filters) - allowed)
    if unknown:
        listed = ", ".join(sorted(allowed))
        raise ValidationError(dict.fromkeys(unknown, f"unknown filter; known: {listed}"))
    given: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        try:
            given[name] = bounded(value, name)
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    return given


def bounded(value: Any, field: str) -> Any:
    """``value`` held to the filter limits (see :func:`given_filters`); a collection other
    than a mapping comes back as a list."""
    if isinstance(value, str):
        if len(value) > MAX_FILTER_TEXT:
            raise ValidationError({field: f"must have at most {MAX_FILTER_TEXT} characters"})
        return value
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        return value
    values = list(itertools.islice(value, MAX_FILTER_VALUES + 1))
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationError({field: f"must have at most {MAX_FILTER_VALUES} values"})
    return values


def storable_id(value: int) -> bool:
    """Whether an integer can be a record id at all (1 to :data:`~opencrm.core._inputs.MAX_ID`);
    a lookup with any other must not reach the driver."""
    return 1 <= value <= MAX_ID


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


def record_id(value: object, field: str, cls: type[Any] | None = None) -> int:
    """An id given as the record itself or as an integer: see
    :func:`opencrm.core._inputs.clean_id` (a wrong type or an id out of range is a
    :class:`ValidationError` on ``field``; a missing record is the caller's ``NotFound``)."""
    return clean_id(value, field, cls)


def user_id(value: object, field: str) -> str:
    """A user id given as a :class:`~opencrm.core.users.User` or a string: non-empty, at
    most 255 characters, no control characters."""
    uid = value.id if isinstance(value, User) else value
    if not isinstance(uid, str) or not uid or len(uid) > 255 or has_control(uid):
        raise ValidationError({field: "must be a user id"})
    return uid


def clean_date(value: object, field: str) -> dt.date | None:
    """A date (see :func:`opencrm.core._inputs.clean_date`), or None."""
    return None if value is None else _inputs.clean_date(value, field)


def clean_tag_title(value: object, field: str = "tags") -> str:
    if not isinstance(value, str):
        raise ValidationError({field: "each tag is a string"})
    title = single_line(value, field, max_length=255)
    if not title:
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


def _field_named(
    key: object, by_id: Mapping[int, CustomField], by_label: Mapping[str, CustomField]
) -> CustomField | None:
    """The field a ``custom`` key names: an id, or a label (any case); a text of digits that
    is no label is read as an id (JSON object keys and query strings are always text)."""
    if isinstance(key, int):
        return by_id.get(key)
    text = str(key)
    found = by_label.get(text.casefold())
    if found is None and text.isascii() and text.isdigit() and len(text) <= 10:
        return by_id.get(int(text))
    return found


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
        field = _field_named(key, by_id, by_label)
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


def custom_filter(
    service: Service, tx: Tx, value: object, kinds: tuple[str, ...], what: str
) -> tuple[tuple[int, str], ...]:
    """The ``custom`` filter of a list call: field ids or labels (of fields applying to one
    of ``kinds``) mapped to the value each must equal, compared as stored (the value is
    cleaned by its field type, so ``"42"`` and ``42`` match a number field alike). At most
    ``MAX_FILTER_VALUES`` fields; text values of at most ``MAX_FILTER_TEXT`` characters."""
    if not isinstance(value, Mapping) or not value:
        raise ValidationError({"custom": "must map field ids or labels to values"})
    if len(value) > MAX_FILTER_VALUES:
        raise ValidationError({"custom": f"must have at most {MAX_FILTER_VALUES} values"})
    fields = [f for f in tx.uow.fields.list() if any(f.applies_to(k) for k in kinds)]
    by_id = {f.id: f for f in fields}
    by_label = {f.label.casefold(): f for f in fields}
    wanted: dict[int, str] = {}
    errors: dict[str, str] = {}
    for key, raw in value.items():
        name = f"custom.{key}"
        field = _field_named(key, by_id, by_label)
        if field is None:
            errors[name] = f"no custom field {key!r} for {what}"
            continue
        if isinstance(raw, str) and len(raw) > MAX_FILTER_TEXT:
            errors[name] = f"must have at most {MAX_FILTER_TEXT} characters"
            continue
        try:
            text = service._ctx.field_types.get(field.type).clean(raw, field.options)
        except ValidationError as exc:
            errors[name] = "; ".join(exc.errors.values())
            continue
        if text is None:
            errors[name] = "must be a value to match"
        elif field.id in wanted:
            errors[name] = "names a field given already"
        else:
            wanted[field.id] = text
    if errors:
        raise ValidationError(errors)
    return tuple(sorted(wanted.items()))


def member_ids(
    tx: Tx, value: object, existing: frozenset[int], field: str = "members"
) -> frozenset[int]:
    """Contacts (or their ids) taking part. Contacts already linked stay allowed; a contact
    being added must exist and be readable by the actor, else the whole call is refused."""
    if isinstance(value, (str, Contact)) or not isinstance(value, Iterable):
        raise ValidationError({field: "must be a collection of contacts or contact ids"})
    ids = set(clean_ids(value, field, Contact))
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
    cid = record_id(value, field, Contact)
    contact = tx.uow.contacts.get(cid)
    if contact is None or not policy.can_read_contact(tx.actor, contact):
        raise ValidationError({field: f"no contact you may read with id {cid}"})
    return cid


# --- list filters ---------------------------------------------------------------------------


def text_filter(value: object) -> str | None:
    """The ``text`` filter of a list call: one line of at most ``MAX_FILTER_TEXT`` characters."""
    if not isinstance(value, str):
        raise ValidationError({"text": "must be a string"})
    bounded(value, "text")
    return single_line(value, "text", max_length=MAX_FILTER_TEXT) or None


def tags_filter(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ValidationError({"tags": "must be a collection of tag titles"})
    return frozenset(clean_tag_title(v) for v in bounded(value, "tags"))


def contact_filter(tx: Tx, value: object) -> int:
    """The contact whose records are listed; one the actor may not read is NotFound, as on
    the contact's own page."""
    cid = record_id(value, "contact", Contact)
    contact = tx.uow.contacts.get(cid)
    if contact is None or not policy.can_read_contact(tx.actor, contact):
        raise NotFound("contact", cid)
    return cid
