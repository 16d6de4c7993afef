"""Contacts: persons and companies, with their contact infos."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

__all__ = ["Access", "Address", "Company", "Contact", "ContactInfo", "InfoType", "Person"]


class Access(StrEnum):
    """Who besides the managers may see a contact.

    ``private``: only managers (and CRM admins); ``read``: every CRM user reads, managers edit;
    ``read_write``: every CRM user reads and edits.
    """

    PRIVATE = "private"
    READ = "read"
    READ_WRITE = "read_write"


class InfoType(StrEnum):
    """The kinds of contact info the reference CRM knows."""

    PHONE = "phone"
    EMAIL = "email"
    WEBSITE = "website"
    ADDRESS = "address"
    SKYPE = "skype"
    TWITTER = "twitter"
    LINKEDIN = "linkedin"
    FACEBOOK = "facebook"
    LIVEJOURNAL = "livejournal"
    MYSPACE = "myspace"
    GMAIL = "gmail"
    BLOGGER = "blogger"
    YAHOO = "yahoo"
    MSN = "msn"
    ICQ = "icq"
    JABBER = "jabber"
    AIM = "aim"
    VK = "vk"

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories allowed for this type; the first is the default."""
        if self is InfoType.PHONE:
            return ("work", "home", "mobile", "fax", "direct", "other")
        if self is InfoType.ADDRESS:
            return ("work", "home", "postal", "office", "billing", "other")
        return ("work", "home", "other")


@attrs.frozen(kw_only=True)
class Address:
    street: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""

    def one_line(self) -> str:
        parts = (self.street, self.city, self.state, self.zip, self.country)
        return ", ".join(p for p in parts if p)


@attrs.frozen(kw_only=True)
class ContactInfo:
    """One phone, e-mail, website, profile or address of a contact.

    ``value`` is what the user typed (for an address, its one-line form); ``normalized`` is the
    canonical form used for search and duplicate detection: an E.164 phone number, a
    lower-cased e-mail address, a URL. ``address`` is set for address infos only.
    """

    id: int
    type: InfoType
    category: str
    value: str
    normalized: str | None = None
    is_primary: bool = False
    address: Address | None = None


def _mapping(value: Mapping[int, Any]) -> Mapping[int, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Contact:
    """Fields shared by persons and companies. Use :class:`Person` or :class:`Company`."""

    kind: ClassVar[str] = "contact"

    id: int
    contact_type_id: int | None = None
    temperature_id: int | None = None
    currency: str | None = None
    about: str = ""
    access: Access = Access.PRIVATE
    managers: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    infos: tuple[ContactInfo, ...] = ()
    custom: Mapping[int, Any] = attrs.field(factory=dict, converter=_mapping)
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime

    @property
    def display_name(self) -> str:
        raise NotImplementedError

    def primary(self, info_type: InfoType | str) -> ContactInfo | None:
        """The primary info of a type (or the first one when none is marked primary)."""
        of_type = [i for i in self.infos if i.type == info_type]
        return next((i for i in of_type if i.is_primary), of_type[0] if of_type else None)

    @property
    def email(self) -> str | None:
        info = self.primary(InfoType.EMAIL)
        return info.value if info else None

    @property
    def phone(self) -> str | None:
        info = self.primary(InfoType.PHONE)
        return info.value if info else None


@attrs.frozen(kw_only=True)
class Person(Contact):
    kind: ClassVar[str] = "person"

    first_name: str
    last_name: str = ""
    job_title: str = ""
    company_id: int | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@attrs.frozen(kw_only=True)
class Company(Contact):
    kind: ClassVar[str] = "company"

    name: str
    industry: str = ""

    @property
    def display_name(self) -> str:
        return self.name
