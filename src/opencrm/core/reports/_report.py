"""Report definitions, the context they are built in, and the registry of report types."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs

from opencrm.core.entities.lists import ListItem, Stage
from opencrm.core.money import ExchangeRates, minor_units, round_amount
from opencrm.core.reports._i18n import translate
from opencrm.core.reports._periods import Period, ResolvedPeriod, local_midnight
from opencrm.core.reports._query import Aggregate, ReportQueries, Where
from opencrm.core.reports._result import Table
from opencrm.errors import NotFound

__all__ = ["Report", "ReportContext", "ReportRegistry"]

#: Rounding of converted amounts: banker's rounding, at each cell of a report.
ROUNDING = decimal.ROUND_HALF_EVEN


@attrs.define(kw_only=True)
class ReportContext:
    """What a report may use while it is built: aggregate queries, the pinned period, the
    managers filter, the CRM's currency, locale and time zone, and the lists that label rows.

    It holds no request, form or path: a report only turns aggregates into tables.
    """

    queries: ReportQueries
    period: ResolvedPeriod
    #: The managers filter: user ids, empty for everyone.
    managers: frozenset[str]
    currency: str
    rates: ExchangeRates
    locale: str
    zone: ZoneInfo
    now: dt.datetime
    stages: Sequence[Stage]
    contact_types: Sequence[ListItem]
    temperatures: Sequence[ListItem]
    task_categories: Sequence[ListItem]
    user_name: Callable[[str], str]
    missing_rates: set[tuple[str, str]] = attrs.field(factory=set)
    #: The report's own catalog directories (see :attr:`Report.locale_dir`).
    catalogs: tuple[Path, ...] = ()

    def gettext(self, text: str) -> str:
        """``text`` in the CRM's locale, from the report's catalog or the built-in one
        (``text`` itself when neither has it). Wrap every title, header and label a report
        writes: ``_ = ctx.gettext`` then ``Column("manager", _("Manager"))``."""
        return translate(text, self.locale, self.catalogs)

    @property
    def today(self) -> dt.date:
        """Today in the CRM's time zone."""
        return self.now.astimezone(self.zone).date()

    def aggregate(self, query: Aggregate) -> Sequence[tuple[Any, ...]]:
        return self.queries.aggregate(query)

    def convert(self, amount: Decimal, currency: str) -> Decimal:
        """``amount`` of ``currency`` in the report's currency, unrounded. A currency without
        a rate is remembered (the report then raises one ``MissingExchangeRates`` naming all)
        and counts as 0. Zero needs no rate."""
        if not amount:
            return Decimal(0)
        rate = self.rates.rate(currency, self.currency)
        if rate is None:
            self.missing_rates.add((currency, self.currency))
            return Decimal(0)
        return amount * rate

    def value(self, thousandths: int, currency: str) -> Decimal:
        """An opportunity ``value`` measure (thousandths of ``currency``), converted."""
        return self.convert(Decimal(thousandths).scaleb(-3), currency)

    def minor(self, units: int, currency: str) -> Decimal:
        """An invoice ``total`` measure (minor units of ``currency``), converted."""
        return self.convert(Decimal(units).scaleb(-minor_units(currency)), currency)

    def ten_thousandths(self, units: int, currency: str) -> Decimal:
        """A call ``cost`` measure (ten-thousandths of ``currency``), converted."""
        return self.convert(Decimal(units).scaleb(-4), currency)

    def round(self, amount: Decimal) -> Decimal:
        """Round to the report currency's minor unit, half to even."""
        return round_amount(amount, self.currency, ROUNDING)

    def created_in_period(self) -> tuple[Where, ...]:
        """The condition "created within the period" (nothing for all time)."""
        p = self.period
        return () if p.start is None else (Where("created", (p.start, p.end)),)

    def only_managers(self, condition: str) -> tuple[Where, ...]:
        """The managers filter as the condition ``condition`` (nothing when empty)."""
        return (Where(condition, tuple(sorted(self.managers))),) if self.managers else ()

    def day_bounds(self, starts: Sequence[dt.date]) -> tuple[dt.date, ...]:
        """Date boundaries of buckets starting on ``starts`` (the last one ends the period)."""
        assert self.period.last is not None
        return (*starts, self.period.last + dt.timedelta(days=1))

    def instant_bounds(self, starts: Sequence[dt.date]) -> tuple[dt.datetime, ...]:
        """The same boundaries as UTC instants of local midnights."""
        return tuple(local_midnight(day, self.zone) for day in self.day_bounds(starts))

    def manager_order(self, ids: Iterable[str]) -> list[str]:
        """User ids (with the managers filter's), sorted by display name."""
        return sorted(
            set(ids) | self.managers, key=lambda uid: (self.user_name(uid).casefold(), uid)
        )


class Report:
    """Base class of a report type. Subclass it, set the class attributes, implement
    :meth:`build`, and register it (plugins: ``opencrm_register_reports``)."""

    #: The identifier used by the API, the CLI and stored reports (``[a-z0-9_]``).
    name: ClassVar[str]
    title: ClassVar[str]
    #: What the report shows, for lists and the API.
    description: ClassVar[str] = ""
    #: The periods a user may choose; the first is the default.
    periods: ClassVar[tuple[Period, ...]]
    #: Remarks added to every result (shown under the title); translated like the title.
    notes: ClassVar[tuple[str, ...]] = ()
    #: A directory of gettext catalogs for the report's texts,
    #: ``<locale_dir>/<language>/LC_MESSAGES/reports.po`` (None: the built-in catalog only).
    locale_dir: ClassVar[str | Path | None] = None

    @classmethod
    def catalogs(cls) -> tuple[Path, ...]:
        return () if cls.locale_dir is None else (Path(cls.locale_dir),)

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        """Return the report's tables, built from ``ctx.aggregate`` queries."""
        raise NotImplementedError


class ReportRegistry:
    """The report types a CRM offers, by name (built-ins and plugins alike)."""

    def __init__(self) -> None:
        self._reports: dict[str, type[Report]] = {}

    def register(self, report: type[Report]) -> None:
        if not (isinstance(report, type) and issubclass(report, Report)):
            raise TypeError(f"{report!r} is not a Report subclass")
        name = getattr(report, "name", None)
        if not isinstance(name, str) or not name or not name.replace("_", "a").isalnum():
            raise ValueError(f"{report.__name__} needs a name of letters, digits and _")
        if not getattr(report, "periods", None):
            raise ValueError(f"report {name!r} offers no period")
        if name in self._reports:
            raise ValueError(f"a report named {name!r} is registered twice")
        self._reports[name] = report

    def get(self, name: str) -> type[Report]:
        try:
            return self._reports[name]
        except KeyError:
            raise NotFound("report type", name) from None

    def __iter__(self) -> Any:
        return iter(self._reports.values())

    def __contains__(self, name: object) -> bool:
        return name in self._reports

    def names(self) -> list[str]:
        return list(self._reports)


def by_key(
    rows: Iterable[tuple[Any, ...]], width: int
) -> Mapping[tuple[Any, ...], tuple[Any, ...]]:
    """Rows of an aggregate keyed by their first ``width`` values."""
    return {tuple(row[:width]): tuple(row[width:]) for row in rows}
