"""List filters and sorts of opportunities and cases (see :mod:`opencrm.core.query` for paging)."""

from __future__ import annotations

import datetime as dt

import attrs

from opencrm.core.entities.lists import StageType

__all__ = ["CASE_SORTS", "OPPORTUNITY_SORTS", "CaseFilter", "OpportunityFilter"]

OPPORTUNITY_SORTS = ("title", "responsible", "stage", "value", "expected_close", "created")
CASE_SORTS = ("title", "created")


@attrs.frozen(kw_only=True)
class OpportunityFilter:
    """The reference's opportunity filters; all optional, combined with AND.

    ``text`` matches the title; ``contact_id`` keeps opportunities the contact takes part in
    (as main contact or member); ``tags`` requires every listed tag; ``expected_from`` and
    ``expected_to`` bound the expected close date (both inclusive).
    """

    text: str | None = None
    responsible: str | None = None
    stage_id: int | None = None
    stage_type: StageType | None = None
    contact_id: int | None = None
    tags: frozenset[str] = frozenset()
    expected_from: dt.date | None = None
    expected_to: dt.date | None = None
    #: (field id, stored text) pairs the custom values must all equal.
    custom: tuple[tuple[int, str], ...] = ()


@attrs.frozen(kw_only=True)
class CaseFilter:
    """The reference's case filters; all optional, combined with AND. ``contact_id`` keeps
    cases the contact takes part in; ``closed`` picks open (False) or closed (True) cases."""

    text: str | None = None
    contact_id: int | None = None
    tags: frozenset[str] = frozenset()
    closed: bool | None = None
    #: (field id, stored text) pairs the custom values must all equal.
    custom: tuple[tuple[int, str], ...] = ()
