"""Contacts: persons and companies, their infos, photo and custom values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from opencrm.core.entities.activities import ContactPhoto
from opencrm.core.entities.contacts import Access, Company, Contact, ContactInfo, InfoType, Person
from opencrm.errors import NotFound
from opencrm.http._api import CUSTOM_QUERY, Call, Download, Listing, ListQuery, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TAG = "contacts"

#: A contact info's value: text, or for an address an object of its parts.
_INFO_VALUE = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {
                k: {"type": "string"} for k in ("street", "city", "state", "zip", "country")
            },
            "additionalProperties": False,
        },
    ]
}
_CUSTOM = {
    "type": "object",
    "description": "Custom field values by field label (or id); null clears one.",
    "additionalProperties": True,
}


@attrs.frozen(kw_only=True)
class InfoIn:
    """A phone, e-mail, website, social profile or address."""

    type: InfoType
    value: Any = attrs.field(metadata={"schema": _INFO_VALUE})
    category: str | None = None
    primary: bool = False


@attrs.frozen(kw_only=True)
class _ContactFields:
    contact_type: int | str | None = UNSET
    temperature: int | str | None = UNSET
    currency: str | None = UNSET
    about: str = UNSET
    tags: list[str] = UNSET
    custom: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _CUSTOM})
    access: Access = UNSET
    managers: list[str] = UNSET


@attrs.frozen(kw_only=True)
class PersonIn(_ContactFields):
    first_name: str
    last_name: str = UNSET
    job_title: str = UNSET
    company: int | None = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET
    website: str | None = UNSET
    infos: list[InfoIn] = UNSET


@attrs.frozen(kw_only=True)
class CompanyIn(_ContactFields):
    name: str
    industry: str = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET
    website: str | None = UNSET
    infos: list[InfoIn] = UNSET


@attrs.frozen(kw_only=True)
class ContactPatch(_ContactFields):
    """Fields to change; person fields apply to persons, company fields to companies."""

    first_name: str = UNSET
    last_name: str = UNSET
    job_title: str = UNSET
    company: int | None = UNSET
    name: str = UNSET
    industry: str = UNSET


@attrs.frozen(kw_only=True)
class ContactQuery(ListQuery):
    text: str = UNSET
    tags: list[str] = UNSET
    temperature: int = UNSET
    contact_type: int = UNSET
    kind: str = UNSET
    manager: str = UNSET
    access: Access = UNSET
    company: int = UNSET
    created_from: dt.datetime = UNSET
    created_to: dt.datetime = UNSET
    custom: list[str] = attrs.field(default=UNSET, metadata=CUSTOM_QUERY)


@attrs.frozen(kw_only=True)
class InfoPatch:
    value: Any = attrs.field(default=UNSET, metadata={"schema": _INFO_VALUE})
    category: str = UNSET
    primary: bool = UNSET


@attrs.frozen(kw_only=True)
class NamesQuery:
    ids: list[int] = attrs.field(
        metadata={"description": "Contact ids (repeat the parameter), at most 5,000."}
    )


@attrs.frozen(kw_only=True)
class PhotoQuery:
    size: str = UNSET


def _infos(args: dict[str, Any]) -> dict[str, Any]:
    if "infos" in args:
        args["infos"] = [attrs.asdict(i, recurse=False) for i in args["infos"]]
    return args


def list_contacts(c: Call) -> Any:
    return c.page(c.s.contacts)


def add_person(c: Call) -> Person:
    return c.s.contacts.add_person(**_infos(c.args()))  # type: ignore[no-any-return]


def add_company(c: Call) -> Company:
    return c.s.contacts.add_company(**_infos(c.args()))  # type: ignore[no-any-return]


def get_contact(c: Call) -> Contact:
    return c.s.contacts.get(c.path["contact_id"])  # type: ignore[no-any-return]


def update_contact(c: Call) -> Contact:
    return c.s.contacts.update(c.path["contact_id"], **c.args())  # type: ignore[no-any-return]


def delete_contact(c: Call) -> None:
    c.s.contacts.delete(c.path["contact_id"])


def contact_names(c: Call) -> dict[str, str]:
    found = c.s.contacts.names(c.query.ids)
    return {str(k): v for k, v in found.items()}


def get_custom_values(c: Call) -> dict[str, Any]:
    return c.s.contacts.custom_values(c.path["contact_id"])  # type: ignore[no-any-return]


def add_info(c: Call) -> ContactInfo:
    args = attrs.asdict(c.body, recurse=False)
    return c.s.contacts.add_info(c.path["contact_id"], **args)  # type: ignore[no-any-return]


def get_info(c: Call) -> ContactInfo:
    contact = c.s.contacts.get(c.path["contact_id"])
    info = next((i for i in contact.infos if i.id == c.path["info_id"]), None)
    if info is None:
        raise NotFound("contact info", c.path["info_id"])
    return info  # type: ignore[no-any-return]


def update_info(c: Call) -> ContactInfo:
    return c.s.contacts.update_info(  # type: ignore[no-any-return]
        c.path["contact_id"], c.path["info_id"], **c.args()
    )


def remove_info(c: Call) -> None:
    c.s.contacts.remove_info(c.path["contact_id"], c.path["info_id"])


def set_photo(c: Call) -> ContactPhoto:
    return c.s.contacts.set_photo(c.path["contact_id"], c.upload().stream)  # type: ignore[no-any-return]


def get_photo_info(c: Call) -> ContactPhoto:
    info = c.s.contacts.photo_info(c.path["contact_id"])
    if info is None:
        raise NotFound("photo of contact", c.path["contact_id"])
    return info  # type: ignore[no-any-return]


def get_photo(c: Call) -> Download:
    contact_id = c.path["contact_id"]
    size = c.query.size if c.query.size is not UNSET else "large"
    info = c.s.contacts.photo_info(contact_id)
    if info is None:
        raise NotFound("photo of contact", contact_id)
    data = c.s.contacts.photo(contact_id, size)
    extension = info.content_type.rpartition("/")[2]
    return Download(
        data, info.content_type, f"contact-{contact_id}-{size}.{extension}", inline=True
    )


def remove_photo(c: Call) -> None:
    c.s.contacts.remove_photo(c.path["contact_id"])


def _contact_location(contact: Contact) -> str:
    return f"/contacts/{contact.id}"


ONE = "/contacts/{contact_id}"
INFO = "/contacts/{contact_id}/infos/{info_id}"

ROUTES = [
    Route(
        method="GET",
        path="/contacts",
        handler=list_contacts,
        summary="List the contacts you may read",
        description="Filters combine with AND; `text` matches names, e-mails and phones "
        "(so this is also the contact search). `count=true` adds the total.",
        tag=TAG,
        query=ContactQuery,
        returns=Listing(Contact),
        exposes=("contacts.list", "contacts.count", "contacts.search"),
    ),
    Route(
        method="POST",
        path="/persons",
        handler=add_person,
        summary="Create a person",
        tag=TAG,
        body=PersonIn,
        returns=Person,
        status=201,
        location=_contact_location,
        exposes=("contacts.add_person",),
    ),
    Route(
        method="POST",
        path="/companies",
        handler=add_company,
        summary="Create a company",
        tag=TAG,
        body=CompanyIn,
        returns=Company,
        status=201,
        location=_contact_location,
        exposes=("contacts.add_company",),
    ),
    Route(
        method="GET",
        path="/contacts/names",
        handler=contact_names,
        summary="Display names of contacts by id (those you may read)",
        description="An object of id -> display name; ids you may not read, or that do not "
        "exist, are left out. For naming the contacts a page of other records links to.",
        tag=TAG,
        query=NamesQuery,
        returns=dict,
        exposes=("contacts.names",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_contact,
        summary="Read a contact",
        tag=TAG,
        returns=Contact,
        exposes=("contacts.get",),
    ),
    Route(
        method="PATCH",
        path=ONE,
        handler=update_contact,
        summary="Change fields of a contact (also its access and managers)",
        tag=TAG,
        body=ContactPatch,
        returns=Contact,
        current=get_contact,
        exposes=("contacts.update", "contacts.set_access"),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_contact,
        summary="Delete a contact",
        tag=TAG,
        current=get_contact,
        exposes=("contacts.delete",),
    ),
    Route(
        method="GET",
        path=ONE + "/custom-values",
        handler=get_custom_values,
        summary="A contact's custom values by field label",
        tag=TAG,
        returns=dict,
        exposes=("contacts.custom_values",),
    ),
    Route(
        method="POST",
        path=ONE + "/infos",
        handler=add_info,
        summary="Add a phone, e-mail, website, profile or address",
        tag=TAG,
        body=InfoIn,
        returns=ContactInfo,
        status=201,
        exposes=("contacts.add_info",),
    ),
    Route(
        method="GET",
        path=INFO,
        handler=get_info,
        summary="Read one contact info",
        tag=TAG,
        returns=ContactInfo,
    ),
    Route(
        method="PATCH",
        path=INFO,
        handler=update_info,
        summary="Change a contact info",
        tag=TAG,
        body=InfoPatch,
        returns=ContactInfo,
        exposes=("contacts.update_info",),
    ),
    Route(
        method="DELETE",
        path=INFO,
        handler=remove_info,
        summary="Remove a contact info",
        tag=TAG,
        exposes=("contacts.remove_info",),
    ),
    Route(
        method="PUT",
        path=ONE + "/photo",
        handler=set_photo,
        summary="Set the contact's photo (multipart field `file`; PNG, JPEG, GIF, WebP)",
        tag=TAG,
        upload=True,
        returns=ContactPhoto,
        exposes=("contacts.set_photo",),
    ),
    Route(
        method="GET",
        path=ONE + "/photo",
        handler=get_photo,
        summary="The contact's photo (`size`: large, medium or small)",
        tag=TAG,
        query=PhotoQuery,
        returns=Download,
        download_type="image/*",
        exposes=("contacts.photo",),
    ),
    Route(
        method="GET",
        path=ONE + "/photo/info",
        handler=get_photo_info,
        summary="The photo's renditions, type and size",
        tag=TAG,
        returns=ContactPhoto,
        exposes=("contacts.photo_info",),
    ),
    Route(
        method="DELETE",
        path=ONE + "/photo",
        handler=remove_photo,
        summary="Remove the contact's photo",
        tag=TAG,
        exposes=("contacts.remove_photo",),
    ),
]
