"""Reports: definitions that turn SQL aggregates into neutral tables.

A :class:`Report` subclass names its periods and builds :class:`Table` objects from
:class:`Aggregate` queries run by storage; renderers in ``opencrm.io`` write the
:class:`ReportResult` as .xlsx or JSON. Plugins add report types through the
``opencrm_register_reports`` hook.
"""

from opencrm.core.reports._i18n import N_, translate
from opencrm.core.reports._periods import (
    PERIOD_TITLES,
    Granularity,
    Period,
    ResolvedPeriod,
    bucket_label,
    bucket_starts,
    local_midnight,
    resolve_period,
)
from opencrm.core.reports._query import Aggregate, Bucketing, Filtered, ReportQueries, Where
from opencrm.core.reports._report import Report, ReportContext, ReportRegistry
from opencrm.core.reports._result import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnType,
    ReportResult,
    Table,
)

__all__ = [
    "N_",
    "PERIOD_TITLES",
    "Aggregate",
    "Bucketing",
    "Cell",
    "Chart",
    "ChartKind",
    "Column",
    "ColumnType",
    "Filtered",
    "Granularity",
    "Period",
    "Report",
    "ReportContext",
    "ReportQueries",
    "ReportRegistry",
    "ReportResult",
    "ResolvedPeriod",
    "Table",
    "Where",
    "bucket_label",
    "bucket_starts",
    "local_midnight",
    "resolve_period",
    "translate",
]
