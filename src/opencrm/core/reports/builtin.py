"""The ten reports of the reference CRM, built from SQL aggregates.

Each module-level class is one report type; :data:`BUILTIN_REPORTS` lists them in the
reference's order. Money is converted to the CRM's default currency per currency sum and
rounded half to even at each cell; totals add the rounded cells, so a sheet always adds up.
Every title, header and label is English here and written through ``ctx.gettext`` (``_``) or
marked with ``N_``, so it comes out in the CRM's language (catalogs in ``locale/``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from opencrm.core.entities.lists import ListItem, StageType
from opencrm.core.reports._i18n import N_
from opencrm.core.reports._periods import (
    Granularity,
    Period,
    bucket_label,
    bucket_starts,
)
from opencrm.core.reports._query import Aggregate, Bucketing, Filtered, Where
from opencrm.core.reports._report import Report, ReportContext
from opencrm.core.reports._result import Cell, Chart, ChartKind, Column, ColumnType, Table

__all__ = [
    "BUILTIN_REPORTS",
    "ContactsByManagers",
    "InvoicesByManagers",
    "OpportunitiesByManagers",
    "SalesByManagers",
    "SalesForecast",
    "SalesFunnel",
    "SummaryAtThisMoment",
    "SummaryForThePeriod",
    "TasksByManagers",
    "VoipByManagers",
]

P = Period
_PAST = (
    P.TODAY,
    P.YESTERDAY,
    P.THIS_WEEK,
    P.LAST_WEEK,
    P.THIS_MONTH,
    P.LAST_MONTH,
    P.THIS_QUARTER,
    P.LAST_QUARTER,
    P.THIS_YEAR,
    P.LAST_YEAR,
)
_PAST_AND_ALL = (*_PAST, P.ALL_TIME)
_COMING = (
    P.THIS_WEEK,
    P.NEXT_WEEK,
    P.THIS_MONTH,
    P.NEXT_MONTH,
    P.THIS_QUARTER,
    P.NEXT_QUARTER,
    P.THIS_YEAR,
    P.NEXT_YEAR,
)
_MOMENT = (P.TODAY, P.THIS_WEEK, P.THIS_MONTH, P.THIS_QUARTER, P.THIS_YEAR, P.LAST_YEAR, P.ALL_TIME)

NOT_SET = N_("Not set")
TOTAL = N_("Total")
_STATUS_LABEL = {
    StageType.OPEN: N_("Open"),
    StageType.WON: N_("Won"),
    StageType.LOST: N_("Lost"),
}

INT, MONEY, PCT, DEC, TEXT = (
    ColumnType.INTEGER,
    ColumnType.MONEY,
    ColumnType.PERCENT,
    ColumnType.DECIMAL,
    ColumnType.TEXT,
)


def _totals(
    ctx: ReportContext,
    rows: Sequence[Sequence[Cell]],
    label_width: int,
    columns: Sequence[Column],
) -> tuple[Cell, ...]:
    """A totals row: "Total", blanks under the other label columns, then column sums (money
    columns as amounts of the report currency, even when there are no rows)."""
    sums: list[Cell] = []
    for index in range(label_width, len(columns)):
        values = [row[index] for row in rows]
        if columns[index].type in (MONEY, ColumnType.DECIMAL):
            amounts = (v for v in values if isinstance(v, Decimal))
            sums.append(ctx.round(sum(amounts, Decimal(0))))
        else:
            sums.append(sum(v for v in values if isinstance(v, int)))
    return (ctx.gettext(TOTAL), *([""] * (label_width - 1)), *sums)


def _summed(
    ctx: ReportContext,
    title: str,
    columns: tuple[Column, ...],
    rows: Sequence[tuple[Cell, ...]],
    charts: tuple[Chart, ...] = (),
    label_width: int = 1,
) -> Table:
    """A table whose first column (first ``label_width`` columns) labels the rows, with a
    totals row."""
    return Table(title, columns, tuple(rows), _totals(ctx, rows, label_width, columns), charts)


def _money_totals(
    ctx: ReportContext, rows: Sequence[tuple[Any, ...]], key: Callable[[tuple[Any, ...]], Any]
) -> dict[Any, Decimal]:
    """Sum converted ``value`` measures (last cell of each row, currency before it) by key."""
    out: dict[Any, Decimal] = defaultdict(Decimal)
    for row in rows:
        out[key(row)] += ctx.value(row[-1], row[-2])
    return out


def _ordered_items(items: Sequence[ListItem], used: Iterable[int | None]) -> list[int | None]:
    """List item ids in sort order, then items no longer listed, then "not set"."""
    known = [i.id for i in sorted(items, key=lambda i: (i.sort_order, i.id))]
    used = set(used)
    extra = sorted(u for u in used if u is not None and u not in known)
    return [*known, *extra, *([None] if None in used else [])]


def _item_title(ctx: ReportContext, items: Sequence[ListItem], item_id: int | None) -> str:
    for item in items:
        if item.id == item_id:
            return item.title
    return ctx.gettext(NOT_SET) if item_id is None else f"#{item_id}"


def _bucket_columns(ctx: ReportContext, starts: Sequence[dt.date]) -> tuple[Column, ...]:
    g = ctx.period.granularity
    return tuple(
        Column(f"b{n}", bucket_label(day, g, ctx.locale), MONEY) for n, day in enumerate(starts)
    )


def _opportunities_by_bucket(
    ctx: ReportContext,
    by: tuple[str, ...],
    measures: tuple[str, ...],
    stage_type: str,
    date: tuple[str, str],
) -> tuple[Sequence[dt.date], Sequence[tuple[Any, ...]]]:
    """Opportunities of the stage type (and the managers asked for) whose date is in the
    period, summed by ``by``, where ``"bucket"`` is the day (month for quarters and years)
    of that date: the buckets' first days, and the rows of one query. ``date`` is the
    condition on it and its field (``("closed", "actual_close")``)."""
    p = ctx.period
    assert p.first is not None
    assert p.last is not None
    condition, field = date
    starts = bucket_starts(p)
    rows = ctx.aggregate(
        Aggregate(
            "opportunities",
            by=by,
            measures=measures,
            where=(
                Where("stage_type", (stage_type,)),
                Where(condition, (p.first, p.last)),
                *ctx.only_managers("responsible"),
            ),
            bucket=Bucketing(field, ctx.day_bounds(starts)),
        )
    )
    return starts, rows


class SalesByManagers(Report):
    name = "sales_by_managers"
    title = N_("Sales by managers")
    description = (
        "Won opportunities closed in the period, per responsible manager and day (month for "
        "quarters and years), with a total per manager. opencrm keeps the close date as a "
        "date, so today and yesterday have one column, not one per hour."
    )
    periods = _PAST

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        p = ctx.period
        starts, rows = _opportunities_by_bucket(
            ctx,
            ("responsible", "bucket", "currency"),
            ("value",),
            "won",
            ("closed", "actual_close"),
        )
        sums = _money_totals(ctx, rows, lambda r: (r[0], r[1]))
        managers = ctx.manager_order(r[0] for r in rows)
        body: list[tuple[Cell, ...]] = []
        for uid in managers:
            cells = [ctx.round(sums.get((uid, n), Decimal(0))) for n in range(len(starts))]
            body.append((ctx.user_name(uid), *cells, sum(cells, Decimal(0))))
        columns = (
            Column("manager", _("Manager")),
            *_bucket_columns(ctx, starts),
            Column("total", _("Total"), MONEY),
        )
        unit = "day" if p.granularity is Granularity.DAY else "month"
        charts = (
            Chart(
                ChartKind.LINE,
                _("Sales by day") if unit == "day" else _("Sales by month"),
                "manager",
                tuple(c.key for c in columns[1:-1]),
                series_in="rows",
            ),
            Chart(ChartKind.PIE, _("Total sales by managers"), "manager", ("total",)),
        )
        return [_summed(ctx, _("Sales by managers"), columns, body, charts)]


class SalesForecast(Report):
    name = "sales_forecast"
    title = N_("Sales forecast")
    description = (
        "Open opportunities expected to close in the period, per day (month for quarters and "
        "years): their budget, and the forecast (budget x probability)."
    )
    periods = _COMING

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        p = ctx.period
        starts, rows = _opportunities_by_bucket(
            ctx,
            ("bucket", "currency"),
            ("value", "weighted"),
            "open",
            ("expected", "expected_close"),
        )
        budget: dict[int, Decimal] = defaultdict(Decimal)
        weighted: dict[int, Decimal] = defaultdict(Decimal)
        for bucket, currency, value, weight in rows:
            budget[bucket] += ctx.value(value, currency)
            weighted[bucket] += ctx.value(weight, currency) / 100
        daily = p.granularity is Granularity.DAY
        body = [
            (
                day if daily else bucket_label(day, p.granularity, ctx.locale),
                ctx.round(budget[n]),
                ctx.round(weighted[n]),
            )
            for n, day in enumerate(starts)
        ]
        columns = (
            Column("date", _("Date") if daily else _("Month"), ColumnType.DATE if daily else TEXT),
            Column("budget", _("Budget"), MONEY),
            Column("forecast", _("Forecast"), MONEY),
        )
        chart = Chart(ChartKind.LINE, _("Sales forecast"), "date", ("budget", "forecast"))
        return [_summed(ctx, _("Sales forecast"), columns, body, (chart,))]


class SalesFunnel(Report):
    name = "sales_funnel"
    title = N_("Sales funnel")
    description = (
        "Opportunities created in the period by their stage: count, budget, share of all, and "
        "how many reached the stage (are in it, in a later open stage, or won). Totals give "
        "the average budget and the average days from creation to close of the won ones."
    )
    periods = _PAST

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        base = (*ctx.created_in_period(), *ctx.only_managers("responsible"))
        rows = ctx.aggregate(
            Aggregate(
                "opportunities", ("stage_id", "currency"), ("count", "value", "won_days"), base
            )
        )
        counts: dict[int, int] = defaultdict(int)
        budgets: dict[int, Decimal] = defaultdict(Decimal)
        won_days = 0
        for stage_id, currency, count, value, days in rows:
            counts[stage_id] += count
            budgets[stage_id] += ctx.value(value, currency)
            won_days += days  # 0 for every stage but the won ones
        stages = sorted(ctx.stages, key=lambda s: (s.sort_order, s.id))
        total = sum(counts.values())
        won_total = won_count = sum(counts[s.id] for s in stages if s.type is StageType.WON)
        body = []
        open_stages = [s for s in stages if s.type is StageType.OPEN]
        for stage in stages:
            count = counts[stage.id]
            if stage.type is StageType.OPEN:
                later = open_stages[open_stages.index(stage) :]
                reached = sum(counts[s.id] for s in later) + won_total
            else:
                reached = count
            body.append(
                (
                    stage.title,
                    _(_STATUS_LABEL[stage.type]),
                    count,
                    ctx.round(budgets[stage.id]),
                    _fraction(count, total),
                    _fraction(reached, total),
                )
            )
        columns = (
            Column("stage", _("Stage")),
            Column("status", _("Status")),
            Column("count", _("Opportunities"), INT),
            Column("budget", _("Budget"), MONEY),
            Column("share", _("Share"), PCT),
            Column("reached", _("Reached"), PCT),
        )
        totals = (
            TOTAL,
            "",
            total,
            sum((r[3] for r in body), Decimal(0)),
            _fraction(total, total),
            None,
        )
        charts = (
            Chart(ChartKind.BAR, _("Funnel by number of opportunities"), "stage", ("count",)),
            Chart(ChartKind.BAR, _("Funnel by budget"), "stage", ("budget",)),
        )
        budget_total = totals[3]
        assert isinstance(budget_total, Decimal)
        summary = (
            total,
            budget_total,
            ctx.round(budget_total / total) if total else Decimal(0),
            (Decimal(won_days) / won_count).quantize(Decimal("0.1"))
            if won_count
            else Decimal("0.0"),
        )
        summary_columns = (
            Column("count", _("Opportunities"), INT),
            Column("budget", _("Budget"), MONEY),
            Column("average_budget", _("Average budget"), MONEY),
            Column("average_days", _("Average days to win"), DEC),
        )
        return [
            Table(_("Sales funnel"), columns, tuple(body), totals, charts),
            Table(_("Funnel totals"), summary_columns, (summary,)),
        ]


def _fraction(part: int, whole: int) -> Decimal:
    """part / whole to four places (0.2500 is 25.00 %), 0 for an empty whole."""
    return (Decimal(part) / whole).quantize(Decimal("0.0001")) if whole else Decimal(0)


class ContactsByManagers(Report):
    name = "contacts_by_managers"
    title = N_("Contacts by managers")
    description = (
        "Contacts created in the period, by creator and contact type: how many, and how many "
        "are (or are not) the contact of an opportunity."
    )
    periods = _PAST_AND_ALL

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        rows = ctx.aggregate(
            Aggregate(
                "contacts",
                ("created_by", "contact_type_id", "with_opportunities"),
                ("count",),
                (*ctx.created_in_period(), *ctx.only_managers("created_by")),
            )
        )
        new: dict[tuple[str, int | None], int] = defaultdict(int)
        with_deals: dict[tuple[str, int | None], int] = defaultdict(int)
        for creator, type_id, has_deal, count in rows:
            new[(creator, type_id)] += count
            if has_deal:
                with_deals[(creator, type_id)] += count
        types = _ordered_items(ctx.contact_types, (k[1] for k in new))
        detail: list[tuple[Cell, ...]] = []
        per_manager: list[tuple[Cell, ...]] = []
        for uid in ctx.manager_order(k[0] for k in new):
            name = ctx.user_name(uid)
            mine = [t for t in types if (uid, t) in new]
            for type_id in mine:
                n, w = new[(uid, type_id)], with_deals[(uid, type_id)]
                detail.append((name, _item_title(ctx, ctx.contact_types, type_id), n, w, n - w))
            n = sum(new[(uid, t)] for t in mine)
            w = sum(with_deals[(uid, t)] for t in mine)
            per_manager.append((name, n, w, n - w))
        counts = (
            Column("new", _("New contacts"), INT),
            Column("with_opportunities", _("With opportunities"), INT),
            Column("without_opportunities", _("Without opportunities"), INT),
        )
        detail_columns = (
            Column("manager", _("Manager")),
            Column("contact_type", _("Contact type")),
            *counts,
        )
        manager_columns = (Column("manager", _("Manager")), *counts)
        chart = Chart(
            ChartKind.BAR,
            _("New contacts by managers"),
            "manager",
            ("with_opportunities", "without_opportunities"),
        )
        return [
            _summed(ctx, _("Contacts by managers"), detail_columns, detail, label_width=2),
            _summed(ctx, _("Contacts per manager"), manager_columns, per_manager, (chart,)),
        ]


class TasksByManagers(Report):
    name = "tasks_by_managers"
    title = N_("Tasks by managers")
    description = (
        "Tasks per responsible and category, in three tables: created in the period, closed "
        "in the period, and overdue (due in the period and still open after it, or closed "
        "after it)."
    )
    periods = _PAST_AND_ALL

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        p = ctx.period
        span = () if p.start is None else ((p.start, p.end),)
        mine = ctx.only_managers("responsible")
        wheres = {
            _("Created tasks"): ctx.created_in_period(),
            _("Closed tasks"): (Where("closed", span[0]) if span else Where("is_closed"),),
            _("Overdue tasks"): (
                *((Where("due", span[0]),) if span else ()),
                Where("overdue", (ctx.now,)),
            ),
        }
        # one scan: a filtered count per table
        rows = ctx.aggregate(
            Aggregate(
                "tasks",
                ("responsible", "category_id"),
                tuple(Filtered("count", where) for where in wheres.values()),
                mine,
            )
        )
        found = {
            title: [(r[0], r[1], r[2 + n]) for r in rows if r[2 + n]]
            for n, title in enumerate(wheres)
        }
        used = {r[1] for rows in found.values() for r in rows}
        categories = _ordered_items(ctx.task_categories, used)
        columns = (
            Column("manager", _("Manager")),
            *(
                Column(f"c{n}", _item_title(ctx, ctx.task_categories, c), INT)
                for n, c in enumerate(categories)
            ),
            Column("total", _("Total"), INT),
        )
        tables = []
        for title, rows in found.items():
            counts = {(r[0], r[1]): r[2] for r in rows}
            body: list[tuple[Cell, ...]] = []
            for uid in ctx.manager_order(r[0] for r in rows):
                cells = [counts.get((uid, c), 0) for c in categories]
                body.append((ctx.user_name(uid), *cells, sum(cells)))
            chart = Chart(ChartKind.BAR, title, "manager", tuple(c.key for c in columns[1:-1]))
            tables.append(_summed(ctx, title, columns, body, (chart,)))
        return tables


class OpportunitiesByManagers(Report):
    name = "opportunities_by_managers"
    title = N_("Opportunities by managers")
    description = (
        "Opportunities created or closed in the period, per responsible and stage status "
        "(new = still open, won, lost): how many and their budget."
    )
    periods = _PAST_AND_ALL

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        p = ctx.period
        period = (
            ()
            if p.start is None
            else (Where("created_or_closed", (p.start, p.end, p.first, p.last)),)
        )
        rows = ctx.aggregate(
            Aggregate(
                "opportunities",
                ("responsible", "stage_type", "currency"),
                ("count", "value"),
                (*period, *ctx.only_managers("responsible")),
            )
        )
        counts: dict[tuple[str, str], int] = defaultdict(int)
        budgets: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for uid, kind, currency, count, value in rows:
            counts[(uid, kind)] += count
            budgets[(uid, kind)] += ctx.value(value, currency)
        kinds = (("open", _("New")), ("won", _("Won")), ("lost", _("Lost")))
        body: list[tuple[Cell, ...]] = []
        for uid in ctx.manager_order(r[0] for r in rows):
            cells: list[Cell] = []
            for kind, _label in kinds:
                cells += [counts[(uid, kind)], ctx.round(budgets[(uid, kind)])]
            n = sum(counts[(uid, k)] for k, _label in kinds)
            cells += [n, sum((c for c in cells[1::2] if isinstance(c, Decimal)), Decimal(0))]
            body.append((ctx.user_name(uid), *cells))
        columns = [Column("manager", _("Manager"))]
        budget_labels = (_("New budget"), _("Won budget"), _("Lost budget"), _("Total budget"))
        for (kind, label), budget in zip(
            (*kinds, ("total", _("Total"))), budget_labels, strict=True
        ):
            key = "new" if kind == "open" else kind
            columns += [
                Column(f"{key}_count", label, INT),
                Column(f"{key}_budget", budget, MONEY),
            ]
        charts = (
            Chart(
                ChartKind.BAR,
                _("Opportunities by number"),
                "manager",
                ("new_count", "won_count", "lost_count"),
            ),
            Chart(
                ChartKind.BAR,
                _("Opportunities by budget"),
                "manager",
                ("new_budget", "won_budget", "lost_budget"),
            ),
        )
        return [_summed(ctx, _("Opportunities by managers"), tuple(columns), body, charts)]


class InvoicesByManagers(Report):
    name = "invoices_by_managers"
    title = N_("Invoices by managers")
    description = (
        "Invoices per creator: billed (issued in the period, not a draft), paid and rejected "
        "(last changed in the period), overdue (due in the period and unpaid after it, or paid "
        "after it); how many and their total."
    )
    periods = _PAST_AND_ALL

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        p = ctx.period
        changed = () if p.start is None else (Where("changed", (p.start, p.end)),)
        days = () if p.first is None else ((p.first, p.last),)
        mine = ctx.only_managers("created_by")
        kinds = {
            "billed": (Where("status_not", ("draft",)), *(Where("issued", d) for d in days)),
            "paid": (Where("status", ("paid",)), *changed),
            "rejected": (Where("status", ("rejected",)), *changed),
            "overdue": (*(Where("due", d) for d in days), Where("overdue", (ctx.today,))),
        }
        counts: dict[tuple[str, str], int] = defaultdict(int)
        amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        uids: set[str] = set()
        measures = [Filtered(m, where) for where in kinds.values() for m in ("count", "total")]
        for uid, currency, *sums in ctx.aggregate(
            Aggregate("invoices", ("created_by", "currency"), tuple(measures), mine)
        ):
            for n, kind in enumerate(kinds):
                count, total = sums[2 * n], sums[2 * n + 1]
                if count:
                    uids.add(uid)
                    counts[(uid, kind)] += count
                    amounts[(uid, kind)] += ctx.minor(total, currency)
        body: list[tuple[Cell, ...]] = []
        for uid in ctx.manager_order(uids):
            cells: list[Cell] = []
            for kind in kinds:
                cells += [counts[(uid, kind)], ctx.round(amounts[(uid, kind)])]
            body.append((ctx.user_name(uid), *cells))
        columns = [Column("manager", _("Manager"))]
        labels = {
            "billed": (_("Billed"), _("Billed amount")),
            "paid": (_("Paid"), _("Paid amount")),
            "rejected": (_("Rejected"), _("Rejected amount")),
            "overdue": (_("Overdue"), _("Overdue amount")),
        }
        for kind in kinds:
            label, amount_label = labels[kind]
            columns += [
                Column(f"{kind}_count", label, INT),
                Column(f"{kind}_amount", amount_label, MONEY),
            ]
        charts = (
            Chart(
                ChartKind.BAR,
                _("Invoices by number"),
                "manager",
                tuple(f"{k}_count" for k in kinds),
            ),
            Chart(
                ChartKind.BAR,
                _("Invoices by amount"),
                "manager",
                tuple(f"{k}_amount" for k in kinds),
            ),
        )
        return [_summed(ctx, _("Invoices by managers"), tuple(columns), body, charts)]


#: Call statuses: incoming calls an operator answered, outgoing calls, missed calls.
_CALL_KINDS = ((N_("Incoming"), "answered"), (N_("Outgoing"), "outgoing"), (N_("Missed"), "missed"))


def _call_figures(ctx: ReportContext) -> dict[tuple[str | None, str], tuple[int, int, Decimal]]:
    """Calls started in the period, per manager (who answered, else who placed the call;
    ``None`` for a missed call nobody took) and status: count, seconds and the converted
    cost (unrounded); one query. Incoming calls still ringing count nowhere."""
    p = ctx.period
    where = (
        *(() if p.start is None else (Where("started", (p.start, p.end)),)),
        *ctx.only_managers("manager"),
    )
    measures = tuple(
        Filtered(m, (Where(cond),))
        for _label, cond in _CALL_KINDS
        for m in ("count", "duration", "cost")
    )
    out: dict[tuple[str | None, str], tuple[int, int, Decimal]] = {}
    for uid, currency, *sums in ctx.aggregate(
        Aggregate("calls", ("manager", "currency"), measures, where)
    ):
        for n, (label, _) in enumerate(_CALL_KINDS):
            count, seconds, cost = sums[3 * n : 3 * n + 3]
            if not count:
                continue
            before = out.get((uid, label), (0, 0, Decimal(0)))
            out[(uid, label)] = (
                before[0] + count,
                before[1] + seconds,
                before[2] + ctx.ten_thousandths(cost, currency),
            )
    return out


class VoipByManagers(Report):
    name = "voip_by_managers"
    title = N_("VoIP by managers")
    description = (
        "Calls started in the period per operator (who answered, or who placed the call) and "
        "status (incoming answered, outgoing, missed): how many, their billed duration and "
        "their cost (call, legs and recording) in the CRM's currency. Missed calls nobody "
        'took are under "Not set".'
    )
    periods = _PAST_AND_ALL

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        figures = _call_figures(ctx)
        managers = ctx.manager_order(uid for uid, _kind in figures if uid is not None)
        if any(uid is None for uid, _kind in figures):
            managers_or_none: list[str | None] = [*managers, None]
        else:
            managers_or_none = list(managers)
        detail: list[tuple[Cell, ...]] = []
        per_manager: list[tuple[Cell, ...]] = []
        for uid in managers_or_none:
            name = _(NOT_SET) if uid is None else ctx.user_name(uid)
            counts: list[Cell] = []
            seconds = 0
            cost = Decimal(0)
            for label, _cond in _CALL_KINDS:
                count, duration, amount = figures.get((uid, label), (0, 0, Decimal(0)))
                counts.append(count)
                if count:
                    detail.append((name, _(label), count, duration, ctx.round(amount)))
                seconds += duration
                cost += ctx.round(amount)
            per_manager.append(
                (name, *counts, sum(c for c in counts if isinstance(c, int)), seconds, cost)
            )
        figures_columns = (
            Column("calls", _("Calls"), INT),
            Column("duration", _("Duration"), ColumnType.DURATION),
            Column("cost", _("Cost"), MONEY),
        )
        detail_columns = (
            Column("manager", _("Manager")),
            Column("status", _("Status")),
            *figures_columns,
        )
        manager_columns = (
            Column("manager", _("Manager")),
            Column("incoming", _("Incoming"), INT),
            Column("outgoing", _("Outgoing"), INT),
            Column("missed", _("Missed"), INT),
            *figures_columns,
        )
        charts = (
            Chart(
                ChartKind.BAR, _("Calls by managers"), "manager", ("incoming", "outgoing", "missed")
            ),
            Chart(ChartKind.PIE, _("Call duration by managers"), "manager", ("duration",)),
        )
        return [
            _summed(ctx, _("VoIP by managers"), detail_columns, detail, label_width=2),
            _summed(ctx, _("Calls per manager"), manager_columns, per_manager, charts),
        ]


def _calls_table(ctx: ReportContext) -> Table:
    _ = ctx.gettext
    figures = _call_figures(ctx)
    rows: list[tuple[Cell, ...]] = []
    for label, _cond in _CALL_KINDS:
        mine = [v for (_uid, kind), v in figures.items() if kind == label]
        rows.append((_(label), sum(v[0] for v in mine), sum(v[1] for v in mine)))
    columns = (
        Column("status", _("Calls")),
        Column("count", _("Number"), INT),
        Column("duration", _("Duration"), ColumnType.DURATION),
    )
    return _summed(
        ctx, _("Calls"), columns, rows, (Chart(ChartKind.BAR, _("Calls"), "status", ("count",)),)
    )


def _counts_and_amounts(
    ctx: ReportContext,
    source: str,
    where: tuple[Where, ...],
    kinds: Sequence[tuple[str, tuple[Where, ...]]],
    money: str = "value",
) -> list[tuple[Cell, ...]]:
    """One row per ``(label, conditions)`` of ``kinds``: how many rows meet ``where`` and the
    conditions, and their converted ``money`` sum; all from one query."""
    measures = tuple(Filtered(m, cond) for _label, cond in kinds for m in ("count", money))
    rows = ctx.aggregate(Aggregate(source, ("currency",), measures, where))
    convert = ctx.value if money == "value" else ctx.minor
    out: list[tuple[Cell, ...]] = []
    for n, (label, _) in enumerate(kinds):
        count = sum(r[1 + 2 * n] for r in rows)
        amount = sum((convert(r[2 + 2 * n], r[0]) for r in rows), Decimal(0))
        out.append((ctx.gettext(label), count, ctx.round(amount)))
    return out


def _by_item(
    ctx: ReportContext,
    source: str,
    field: str,
    items: Sequence[ListItem],
    where: tuple[Where, ...],
    measures: tuple[str | Filtered, ...] = ("count",),
) -> list[tuple[Cell, ...]]:
    """One row per list item ``field`` names (in list order, only the ones found): its
    title, then the ``measures`` of the rows that meet ``where``; one query."""
    found = {r[0]: r[1:] for r in ctx.aggregate(Aggregate(source, (field,), measures, where))}
    return [
        (_item_title(ctx, items, i), *found[i]) for i in _ordered_items(items, found) if i in found
    ]


class SummaryForThePeriod(Report):
    name = "summary_for_the_period"
    title = N_("Summary for the period")
    description = (
        "What happened in the period: opportunities created, won, lost and overdue; invoices "
        "issued (by status) and overdue; contacts created by type; tasks created by category, "
        "how many of them were closed and are overdue; calls."
    )
    periods = _PAST

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        p = ctx.period
        assert p.first is not None
        assert p.last is not None
        closed = Where("closed", (p.first, p.last))
        deals_mine = ctx.only_managers("responsible")
        deal_rows = _counts_and_amounts(
            ctx,
            "opportunities",
            deals_mine,
            [
                (N_("Created"), ctx.created_in_period()),
                (N_("Won"), (Where("stage_type", ("won",)), closed)),
                (N_("Lost"), (Where("stage_type", ("lost",)), closed)),
                (
                    N_("Overdue"),
                    (Where("expected", (p.first, p.last)), Where("overdue", (ctx.today,))),
                ),
            ],
        )
        issued = (Where("issued", (p.first, p.last)), *ctx.only_managers("created_by"))
        invoice_rows = _counts_and_amounts(
            ctx,
            "invoices",
            issued,
            [
                (N_("Billed"), (Where("status", ("billed",)),)),
                (N_("Paid"), (Where("status", ("paid",)),)),
                (N_("Rejected"), (Where("status", ("rejected",)),)),
                (N_("Overdue"), (Where("overdue", (ctx.today,)),)),
            ],
            "total",
        )
        contact_rows = _by_item(
            ctx,
            "contacts",
            "contact_type_id",
            ctx.contact_types,
            (*ctx.created_in_period(), *ctx.only_managers("created_by")),
        )
        task_rows = _by_item(
            ctx,
            "tasks",
            "category_id",
            ctx.task_categories,
            (*ctx.created_in_period(), *deals_mine),
            (
                "count",
                Filtered("count", (Where("closed", (p.start, p.end)),)),
                Filtered("count", (Where("overdue", (ctx.now,)),)),
            ),
        )
        money_columns = (Column("count", _("Number"), INT),)
        return [
            Table(
                _("Opportunities"),
                (
                    Column("kind", _("Opportunities")),
                    *money_columns,
                    Column("budget", _("Budget"), MONEY),
                ),
                tuple(deal_rows),
                None,
                (Chart(ChartKind.BAR, _("Opportunities"), "kind", ("count",)),),
            ),
            Table(
                _("Invoices"),
                (
                    Column("kind", _("Invoices")),
                    *money_columns,
                    Column("amount", _("Amount"), MONEY),
                ),
                tuple(invoice_rows),
                None,
                (Chart(ChartKind.BAR, _("Invoices"), "kind", ("count",)),),
            ),
            _summed(
                ctx,
                _("Contacts"),
                (
                    Column("contact_type", _("Contact type")),
                    Column("count", _("New contacts"), INT),
                ),
                contact_rows,
                (Chart(ChartKind.PIE, _("New contacts by type"), "contact_type", ("count",)),),
            ),
            _summed(
                ctx,
                _("Tasks"),
                (
                    Column("category", _("Category")),
                    Column("created", _("Created"), INT),
                    Column("closed", _("Closed"), INT),
                    Column("overdue", _("Overdue"), INT),
                ),
                task_rows,
                (Chart(ChartKind.BAR, _("Tasks"), "category", ("created", "closed", "overdue")),),
            ),
            _calls_table(ctx),
        ]


class SummaryAtThisMoment(Report):
    name = "summary_at_this_moment"
    title = N_("Summary at this moment")
    description = (
        "Where things stand now, for records created in the period (all time: every record): "
        "open, overdue and soon-closing opportunities, open opportunities by stage, contacts "
        "by type and temperature, open and overdue tasks by category, billed and overdue "
        "invoices."
    )
    periods = _MOMENT

    def build(self, ctx: ReportContext) -> Sequence[Table]:
        _ = ctx.gettext
        created = ctx.created_in_period()
        deals_mine = (*created, *ctx.only_managers("responsible"))
        open_ = Where("stage_type", ("open",))
        soon = (ctx.today, ctx.today + dt.timedelta(days=30))
        deal_rows = _counts_and_amounts(
            ctx,
            "opportunities",
            (open_, *deals_mine),
            [
                (N_("Open"), ()),
                (N_("Overdue"), (Where("overdue", (ctx.today,)),)),
                (N_("Closing within 30 days"), (Where("expected", soon),)),
            ],
        )
        by_stage = ctx.aggregate(
            Aggregate(
                "opportunities", ("stage_id", "currency"), ("count", "value"), (open_, *deals_mine)
            )
        )
        stage_count: dict[int, int] = defaultdict(int)
        stage_budget: dict[int, Decimal] = defaultdict(Decimal)
        for stage_id, currency, count, value in by_stage:
            stage_count[stage_id] += count
            stage_budget[stage_id] += ctx.value(value, currency)
        stage_rows: list[tuple[Cell, ...]] = [
            (s.title, stage_count[s.id], ctx.round(stage_budget[s.id]))
            for s in sorted(ctx.stages, key=lambda s: (s.sort_order, s.id))
            if s.type is StageType.OPEN
        ]
        contacts_mine = (*created, *ctx.only_managers("created_by"))
        type_rows = _by_item(ctx, "contacts", "contact_type_id", ctx.contact_types, contacts_mine)
        temperature_rows = _by_item(
            ctx, "contacts", "temperature_id", ctx.temperatures, contacts_mine
        )
        open_tasks = (*created, *ctx.only_managers("responsible"), Where("open"))
        late = Filtered("count", (Where("overdue", (ctx.now,)),))
        task_rows = _by_item(
            ctx, "tasks", "category_id", ctx.task_categories, open_tasks, ("count", late)
        )
        invoices_mine = (*created, *ctx.only_managers("created_by"), Where("status", ("billed",)))
        invoice_rows = _counts_and_amounts(
            ctx,
            "invoices",
            invoices_mine,
            [(N_("Billed"), ()), (N_("Overdue"), (Where("overdue", (ctx.today,)),))],
            "total",
        )
        number = Column("count", _("Number"), INT)
        return [
            Table(
                _("Opportunities"),
                (Column("kind", _("Opportunities")), number, Column("budget", _("Budget"), MONEY)),
                tuple(deal_rows),
            ),
            _summed(
                ctx,
                _("Open opportunities by stage"),
                (Column("stage", _("Stage")), number, Column("budget", _("Budget"), MONEY)),
                stage_rows,
                (Chart(ChartKind.PIE, _("Open opportunities by stage"), "stage", ("budget",)),),
            ),
            _summed(
                ctx,
                _("Contacts by type"),
                (Column("contact_type", _("Contact type")), Column("count", _("Contacts"), INT)),
                type_rows,
                (Chart(ChartKind.PIE, _("Contacts by type"), "contact_type", ("count",)),),
            ),
            _summed(
                ctx,
                _("Contacts by temperature"),
                (Column("temperature", _("Temperature")), Column("count", _("Contacts"), INT)),
                temperature_rows,
                (Chart(ChartKind.PIE, _("Contacts by temperature"), "temperature", ("count",)),),
            ),
            _summed(
                ctx,
                _("Tasks"),
                (
                    Column("category", _("Category")),
                    Column("open", _("Open"), INT),
                    Column("overdue", _("Overdue"), INT),
                ),
                task_rows,
                (Chart(ChartKind.BAR, _("Open tasks"), "category", ("open", "overdue")),),
            ),
            Table(
                _("Invoices"),
                (Column("kind", _("Invoices")), number, Column("amount", _("Amount"), MONEY)),
                tuple(invoice_rows),
            ),
        ]


BUILTIN_REPORTS: tuple[type[Report], ...] = (
    SalesByManagers,
    SalesForecast,
    SalesFunnel,
    ContactsByManagers,
    TasksByManagers,
    OpportunitiesByManagers,
    InvoicesByManagers,
    VoipByManagers,
    SummaryForThePeriod,
    SummaryAtThisMoment,
)
