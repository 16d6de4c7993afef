"""Custom field definitions, CRM-wide settings, who may use the CRM, and the audit trail
(admins change and read them; the services refuse others)."""

from __future__ import annotations

from typing import Any

import attrs

from opencrm.core.entities.lists import CustomField
from opencrm.core.events import AuditEntry
from opencrm.core.regional import Regional
from opencrm.core.users import ModuleAccess
from opencrm.errors import NotFound
from opencrm.http._api import Call, Items, Route
from opencrm.http._convert import UNSET, given

__all__ = ["ROUTES"]

FIELDS = "custom-fields"
SETTINGS = "settings"

_OPTIONS = {
    "type": "object",
    "description": "The field type's settings: `size` of a text field, `rows` and `cols` of "
    "a text area, `choices` of a select.",
    "additionalProperties": True,
}


# --- custom fields ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FieldQuery:
    entity_type: str = UNSET


@attrs.frozen(kw_only=True)
class FieldIn:
    entity_type: str
    label: str
    type: str
    options: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _OPTIONS})


@attrs.frozen(kw_only=True)
class FieldPatch:
    label: str = UNSET
    type: str = UNSET
    options: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _OPTIONS})
    sort_order: int = UNSET


def list_custom_fields(c: Call) -> Any:
    return c.s.fields.list(**c.filters())


def add_custom_field(c: Call) -> CustomField:
    return c.s.fields.add(**c.args())  # type: ignore[no-any-return]


def get_custom_field(c: Call) -> CustomField:
    field_id = c.path["field_id"]
    found = next((f for f in c.s.fields.list() if f.id == field_id), None)
    if found is None:
        raise NotFound("custom field", field_id)
    return found  # type: ignore[no-any-return]


def update_custom_field(c: Call) -> CustomField:
    return c.s.fields.update(c.path["field_id"], **c.args())  # type: ignore[no-any-return]


def delete_custom_field(c: Call) -> None:
    c.s.fields.delete(c.path["field_id"])


# --- settings -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ModuleAccessIn:
    """Who may use the CRM: everyone, or only the listed users and members of the listed
    groups. CRM admins always may."""

    everyone: bool
    users: list[str] = attrs.field(factory=list)
    groups: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class Setting:
    """A stored setting; ``value`` is null when the key has none."""

    key: str
    value: Any = attrs.field(metadata={"schema": {"description": "any JSON value"}})


@attrs.frozen(kw_only=True)
class AuditQuery:
    entity_type: str = UNSET
    entity_id: str = UNSET
    limit: int = UNSET


def get_module_access(c: Call) -> ModuleAccess:
    return c.s.settings.module_access()  # type: ignore[no-any-return]


def set_module_access(c: Call) -> ModuleAccess:
    body = c.body
    c.s.settings.set_module_access(
        ModuleAccess(everyone=body.everyone, users=body.users, groups=body.groups)
    )
    return c.s.settings.module_access()  # type: ignore[no-any-return]


def get_setting(c: Call) -> Setting:
    key = c.path["key"]
    return Setting(key=key, value=c.s.settings.get(key))


def get_audit_trail(c: Call) -> Any:
    # Not c.filters(): that leaves out ``limit``, which the audit trail takes as is.
    return c.s.settings.audit_trail(**given(c.query))


@attrs.frozen(kw_only=True)
class RegionalPatch:
    """The CRM's locale (``de_DE``) and/or IANA time zone (``Europe/Berlin``)."""

    locale: str = UNSET
    time_zone: str = UNSET


def get_regional(c: Call) -> Regional:
    return c.s.settings.regional()  # type: ignore[no-any-return]


def set_regional(c: Call) -> Regional:
    return c.s.settings.set_regional(**c.args())  # type: ignore[no-any-return]


ONE_FIELD = "/custom-fields/{field_id}"
MODULE_ACCESS = "/settings/module-access"

ROUTES = [
    Route(
        method="GET",
        path="/custom-fields",
        handler=list_custom_fields,
        summary="The custom field definitions, of one entity type if `entity_type` is given",
        tag=FIELDS,
        query=FieldQuery,
        returns=Items(CustomField),
        exposes=("fields.list",),
    ),
    Route(
        method="POST",
        path="/custom-fields",
        handler=add_custom_field,
        summary="Define a custom field (admins)",
        description="`entity_type` is contact (persons and companies), person, company, "
        "opportunity or case; `type` names a field type (text, textarea, select, ...).",
        tag=FIELDS,
        body=FieldIn,
        returns=CustomField,
        status=201,
        location=lambda field: f"/custom-fields/{field.id}",
        exposes=("fields.add",),
    ),
    Route(
        method="GET",
        path=ONE_FIELD,
        handler=get_custom_field,
        summary="Read one custom field definition",
        tag=FIELDS,
        returns=CustomField,
    ),
    Route(
        method="PATCH",
        path=ONE_FIELD,
        handler=update_custom_field,
        summary="Change a custom field definition (admins)",
        description="A field with values keeps its type; a select's choices may then only grow.",
        tag=FIELDS,
        body=FieldPatch,
        returns=CustomField,
        current=get_custom_field,
        exposes=("fields.update",),
    ),
    Route(
        method="DELETE",
        path=ONE_FIELD,
        handler=delete_custom_field,
        summary="Delete a custom field and every value stored for it (admins)",
        tag=FIELDS,
        current=get_custom_field,
        exposes=("fields.delete",),
    ),
    # Before /settings/{key}: routes match in this order.
    Route(
        method="GET",
        path=MODULE_ACCESS,
        handler=get_module_access,
        summary="Who may use the CRM",
        tag=SETTINGS,
        returns=ModuleAccess,
        exposes=("settings.module_access",),
    ),
    Route(
        method="PUT",
        path=MODULE_ACCESS,
        handler=set_module_access,
        summary="Decide who may use the CRM (admins; admins always may)",
        tag=SETTINGS,
        body=ModuleAccessIn,
        returns=ModuleAccess,
        current=get_module_access,
        exposes=("settings.set_module_access",),
    ),
    Route(
        method="GET",
        path="/settings/{key}",
        handler=get_setting,
        summary="Read a stored setting (admins)",
        tag=SETTINGS,
        returns=Setting,
        exposes=("settings.get",),
    ),
    Route(
        method="GET",
        path="/audit-trail",
        handler=get_audit_trail,
        summary="The audit trail, newest first (admins)",
        description="Filter by `entity_type` and `entity_id`; `limit` entries (default 100).",
        tag=SETTINGS,
        query=AuditQuery,
        returns=Items(AuditEntry),
        exposes=("settings.audit_trail",),
    ),
    Route(
        method="GET",
        path="/settings/regional",
        handler=get_regional,
        summary="The CRM's locale and time zone (reports use them)",
        tag=SETTINGS,
        returns=Regional,
        exposes=("settings.regional",),
    ),
    Route(
        method="PATCH",
        path="/settings/regional",
        handler=set_regional,
        summary="Change the CRM's locale and/or time zone (admins)",
        tag=SETTINGS,
        body=RegionalPatch,
        returns=Regional,
        current=get_regional,
        exposes=("settings.set_regional",),
    ),
]
