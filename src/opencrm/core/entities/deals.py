"""Opportunities (deals) and cases: records with members, restricted access and a lifecycle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
from moneyed import Money

__all__ = ["BidType", "Case", "Opportunity"]


class BidType(StrEnum):
    """How an opportunity's budget is meant: once, or per period of time."""

    FIXED = "fixed"
    PER_HOUR = "per_hour"
    PER_DAY = "per_day"
    PER_WEEK = "per_week"
    PER_MONTH = "per_month"
    PER_YEAR = "per_year"


def _mapping(value: Mapping[int, Any]) -> Mapping[int, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Opportunity:
    """A possible sale.

    ``contact_id`` is the main contact (None once that contact is deleted); ``members`` are the
    ids of every contact taking part, the main contact included. ``budget`` is a
    :class:`moneyed.Money`; with a per-period ``bid_type`` it is the price of one period and
    ``period_count`` says how many periods are sold. ``probability`` (0-100) starts as the
    stage's and may be overridden. ``actual_close`` is the day the opportunity moved to a won
    or lost stage, and None while its stage is open.

    A ``restricted`` opportunity is visible only to CRM admins and the users on its
    ``access_list``, which always holds the creator and the responsible; an unrestricted one is
    visible to every CRM user. ``project_ref`` is an opaque reference to a project in the host
    application (see the ``opencrm_opportunity_project`` hook).
    """

    kind: ClassVar[str] = "opportunity"

    id: int
    title: str
    description: str = ""
    contact_id: int | None = None
    members: frozenset[int] = frozenset()
    budget: Money
    bid_type: BidType = BidType.FIXED
    period_count: int = 1
    expected_close: dt.date | None = None
    actual_close: dt.date | None = None
    responsible: str
    stage_id: int
    probability: int = 0
    tags: frozenset[str] = frozenset()
    custom: Mapping[int, Any] = attrs.field(factory=dict, converter=_mapping)
    restricted: bool = False
    access_list: frozenset[str] = frozenset()
    project_ref: str | None = None
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime

    @property
    def value(self) -> Money:
        """What the opportunity is worth: the budget for a fixed bid, otherwise the budget
        times the number of periods."""
        if self.bid_type is BidType.FIXED:
            return self.budget
        return self.budget * self.period_count


@attrs.frozen(kw_only=True)
class Case:
    """A matter handled with a group of contacts (a support request, a claim, a project).

    ``members`` are the ids of the participating contacts. Restricted access works as for
    :class:`Opportunity`; the access list always holds the creator.
    """

    kind: ClassVar[str] = "case"

    id: int
    title: str
    members: frozenset[int] = frozenset()
    closed: bool = False
    tags: frozenset[str] = frozenset()
    custom: Mapping[int, Any] = attrs.field(factory=dict, converter=_mapping)
    restricted: bool = False
    access_list: frozenset[str] = frozenset()
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime
