"""Aggregate queries a report asks storage to run, and the port that runs them.

A report never sees records: it names a source, the dimensions to group by, the measures
to sum and the conditions, all from allow-lists storage compiles to one ``GROUP BY``
statement. Money measures are summed per currency (group by ``currency``) so the core can
convert each sum with exact decimal rates.

Sources, with their dimensions (``by``), measures and conditions:

``opportunities`` (each with its stage)
    by: ``responsible``, ``created_by``, ``currency``, ``stage_id``, ``stage_type``;
    measures: ``count``, ``value`` (sum of values in thousandths of the currency unit),
    ``weighted`` (sum of value x probability, thousandths x percent), ``won_days`` (sum of
    whole days from the creation date to the close date);
    where: ``created`` (start, end: UTC instants), ``closed`` (first, last: dates),
    ``expected`` (first, last: dates), ``created_or_closed`` (start, end, first, last),
    ``stage_type`` (types...), ``responsible`` (user ids...), ``overdue`` (today: date).
``contacts``
    by: ``created_by``, ``contact_type_id``, ``temperature_id``, ``with_opportunities``
    (1 when some opportunity names the contact as its contact, else 0); measures: ``count``;
    where: ``created`` (start, end), ``created_by`` (user ids...).
``tasks``
    by: ``responsible``, ``category_id``; measures: ``count``;
    where: ``created`` (start, end), ``closed`` (start, end), ``due`` (start, end),
    ``open`` (), ``is_closed`` (), ``overdue`` (now), ``responsible`` (user ids...).
``invoices``
    by: ``created_by``, ``status``, ``currency``; measures: ``count``, ``total`` (sum of
    totals in minor units of the currency);
    where: ``created`` (start, end), ``issued`` (first, last: dates), ``changed`` (start,
    end: the last change), ``due`` (first, last), ``status`` (statuses...), ``status_not``
    (statuses...),
    ``overdue`` (today), ``created_by`` (user ids...).
``calls`` (VoIP calls)
    by: ``manager`` (who answered the call, else the operator who placed it; ``None`` for
    a missed incoming call), ``direction``, ``currency``; measures: ``count``, ``duration``
    (sum of billed seconds), ``cost`` (sum of call + legs + recording prices in
    ten-thousandths of the currency);
    where: ``started`` (start, end: UTC instants), ``manager`` (user ids...), ``answered``
    () (incoming calls an operator took), ``outgoing`` (), ``missed`` ().

A measure may be :class:`Filtered`: summed only over the rows meeting its own conditions, so
one scan answers several questions. Any source also takes ``bucket=(field, boundaries)``:
the row's bucket index (0-based; rows outside the boundaries are left out) is then the
dimension ``bucket``. ``field`` is one of the date or instant fields named above
(``created_at``, ``actual_close``, ``expected_close``...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

__all__ = ["Aggregate", "Bucketing", "Filtered", "ReportQueries", "Where"]


@attrs.frozen
class Where:
    """One named condition with its arguments."""

    name: str
    args: tuple[Any, ...] = ()


@attrs.frozen
class Bucketing:
    """Split rows by ``field`` at ``boundaries`` (ascending; dates or UTC instants): bucket
    ``i`` holds values from ``boundaries[i]`` up to, not including, ``boundaries[i + 1]``."""

    field: str
    boundaries: tuple[dt.date | dt.datetime, ...]


@attrs.frozen
class Filtered:
    """A measure summed over only the rows that meet ``where`` (``SUM(CASE WHEN ...)``): one
    query then answers several questions ("created", "closed", "overdue") in one scan."""

    measure: str
    where: tuple[Where, ...]


@attrs.frozen
class Aggregate:
    source: str
    by: tuple[str, ...] = ()
    measures: tuple[str | Filtered, ...] = ("count",)
    where: tuple[Where, ...] = ()
    bucket: Bucketing | None = None


class ReportQueries(Protocol):
    """Runs aggregate queries (storage implements it)."""

    def aggregate(self, query: Aggregate) -> Sequence[tuple[Any, ...]]:
        """One row per group: the ``by`` values in order, then the measures in order.

        Raises ``ValueError`` for a source, dimension, measure or condition it does not know.
        """
        ...
