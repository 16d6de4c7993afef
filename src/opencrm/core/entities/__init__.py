"""Domain entities: immutable attrs classes, mapped by storage but unaware of it."""

from opencrm.core.entities.contacts import (
    Access,
    Address,
    Company,
    Contact,
    ContactInfo,
    InfoType,
    Person,
)
from opencrm.core.entities.deals import BidType, Case, Opportunity
from opencrm.core.entities.lists import CustomField, ListItem, ListKind, Stage, StageType, Tag

__all__ = [
    "Access",
    "Address",
    "BidType",
    "Case",
    "Company",
    "Contact",
    "ContactInfo",
    "CustomField",
    "InfoType",
    "ListItem",
    "ListKind",
    "Opportunity",
    "Person",
    "Stage",
    "StageType",
    "Tag",
]
