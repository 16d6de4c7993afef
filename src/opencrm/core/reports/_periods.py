"""Report periods: named ranges of calendar days in the CRM's time zone.

A period is resolved against "now" once, at the start of a report: its first and last day
(local dates, both included) and the matching half-open UTC instants ``[start, end)`` that
stored timestamps are compared with. Weeks start on the first day of the week of the CRM's
locale (Sunday for en_US, Monday for de_DE), as babel's CLDR data says.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import attrs
from babel import Locale
from babel.dates import format_date, format_skeleton

from opencrm.core.reports._i18n import N_

__all__ = [
    "PERIOD_TITLES",
    "Granularity",
    "Period",
    "ResolvedPeriod",
    "bucket_label",
    "bucket_starts",
    "local_midnight",
    "resolve_period",
]


class Period(enum.StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    TOMORROW = "tomorrow"
    THIS_WEEK = "this_week"
    LAST_WEEK = "last_week"
    NEXT_WEEK = "next_week"
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"
    NEXT_MONTH = "next_month"
    THIS_QUARTER = "this_quarter"
    LAST_QUARTER = "last_quarter"
    NEXT_QUARTER = "next_quarter"
    THIS_YEAR = "this_year"
    LAST_YEAR = "last_year"
    NEXT_YEAR = "next_year"
    ALL_TIME = "all_time"


#: The periods' names, for people (translated with the report texts).
PERIOD_TITLES: dict[Period, str] = {
    Period.TODAY: N_("Today"),
    Period.YESTERDAY: N_("Yesterday"),
    Period.TOMORROW: N_("Tomorrow"),
    Period.THIS_WEEK: N_("This week"),
    Period.LAST_WEEK: N_("Last week"),
    Period.NEXT_WEEK: N_("Next week"),
    Period.THIS_MONTH: N_("This month"),
    Period.LAST_MONTH: N_("Last month"),
    Period.NEXT_MONTH: N_("Next month"),
    Period.THIS_QUARTER: N_("This quarter"),
    Period.LAST_QUARTER: N_("Last quarter"),
    Period.NEXT_QUARTER: N_("Next quarter"),
    Period.THIS_YEAR: N_("This year"),
    Period.LAST_YEAR: N_("Last year"),
    Period.NEXT_YEAR: N_("Next year"),
    Period.ALL_TIME: N_("All time"),
}


class Granularity(enum.StrEnum):
    """How a report splits its period into columns: days or months."""

    DAY = "day"
    MONTH = "month"


@attrs.frozen
class ResolvedPeriod:
    """A period pinned to dates. ``first``/``last`` are local dates (both included; None for
    all time); ``start``/``end`` the UTC instants of ``first`` 00:00 and the day after
    ``last`` 00:00 in the CRM's time zone."""

    period: Period
    first: dt.date | None
    last: dt.date | None
    start: dt.datetime | None
    end: dt.datetime | None
    granularity: Granularity

    @property
    def bounded(self) -> bool:
        return self.first is not None


def _first_weekday(locale: str) -> int:
    """0 = Monday ... 6 = Sunday, from CLDR."""
    return int(Locale.parse(locale).first_week_day)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _range(period: Period, today: dt.date, locale: str) -> tuple[dt.date, dt.date] | None:
    one = dt.timedelta(days=1)
    if period is Period.ALL_TIME:
        return None
    if period in (Period.TODAY, Period.YESTERDAY, Period.TOMORROW):
        shift = {Period.TODAY: 0, Period.YESTERDAY: -1, Period.TOMORROW: 1}[period]
        day = today + shift * one
        return day, day
    if period in (Period.THIS_WEEK, Period.LAST_WEEK, Period.NEXT_WEEK):
        start = today - dt.timedelta(days=(today.weekday() - _first_weekday(locale)) % 7)
        shift = {Period.THIS_WEEK: 0, Period.LAST_WEEK: -1, Period.NEXT_WEEK: 1}[period]
        start += dt.timedelta(weeks=shift)
        return start, start + 6 * one
    if period in (Period.THIS_MONTH, Period.LAST_MONTH, Period.NEXT_MONTH):
        shift = {Period.THIS_MONTH: 0, Period.LAST_MONTH: -1, Period.NEXT_MONTH: 1}[period]
        start = _add_months(today.replace(day=1), shift)
        return start, _add_months(start, 1) - one
    if period in (Period.THIS_QUARTER, Period.LAST_QUARTER, Period.NEXT_QUARTER):
        shift = {Period.THIS_QUARTER: 0, Period.LAST_QUARTER: -3, Period.NEXT_QUARTER: 3}[period]
        start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        start = _add_months(start, shift)
        return start, _add_months(start, 3) - one
    shift = {Period.THIS_YEAR: 0, Period.LAST_YEAR: -1, Period.NEXT_YEAR: 1}[period]
    return dt.date(today.year + shift, 1, 1), dt.date(today.year + shift, 12, 31)


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant at which ``day`` begins in ``zone`` (00:00 local, DST-aware)."""
    return dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)


def resolve_period(period: Period, now: dt.datetime, zone: ZoneInfo, locale: str) -> ResolvedPeriod:
    """Pin ``period`` to dates: ``now`` read in ``zone``, weeks starting on ``locale``'s first
    day. Quarters and years are split into months, shorter periods into days."""
    today = now.astimezone(zone).date()
    span = _range(period, today, locale)
    monthly = period.name.endswith(("QUARTER", "YEAR")) or period is Period.ALL_TIME
    granularity = Granularity.MONTH if monthly else Granularity.DAY
    if span is None:
        return ResolvedPeriod(period, None, None, None, None, granularity)
    first, last = span
    return ResolvedPeriod(
        period,
        first,
        last,
        local_midnight(first, zone),
        local_midnight(last + dt.timedelta(days=1), zone),
        granularity,
    )


def bucket_starts(period: ResolvedPeriod) -> Sequence[dt.date]:
    """The first local day of each column of a bounded period: each day, or each month."""
    if period.first is None or period.last is None:
        raise ValueError("an unbounded period has no columns")
    starts: list[dt.date] = []
    day = period.first
    while day <= period.last:
        starts.append(day)
        if period.granularity is Granularity.DAY:
            day += dt.timedelta(days=1)
        else:
            day = _add_months(day, 1)
    return starts


def bucket_label(day: dt.date, granularity: Granularity, locale: str) -> str:
    """A column header for a bucket in ``locale``: "Mar 5" / "5. März", or "March 2026"."""
    if granularity is Granularity.DAY:
        return format_skeleton("MMMd", day, locale=locale)
    return format_date(day, "LLLL yyyy", locale=locale)
