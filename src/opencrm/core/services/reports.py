"""Reports (SPEC S11): build a report as a neutral result, or generate its .xlsx and keep it
for the user who asked. CRM admins only, as in the reference."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from opencrm.core._inputs import clean_id
from opencrm.core.entities.lists import ListKind
from opencrm.core.jobs import Job, JobRun, StopJob
from opencrm.core.money import ExchangeRates
from opencrm.core.permissions import require_admin
from opencrm.core.regional import LOCALE_KEY, TIME_ZONE_KEY, Regional
from opencrm.core.reports._i18n import translate
from opencrm.core.reports._periods import Period, resolve_period
from opencrm.core.reports._report import Report, ReportContext, ReportRegistry
from opencrm.core.reports._result import ReportResult
from opencrm.core.reports._stored import GeneratedReport
from opencrm.core.services._base import Service, Tx
from opencrm.core.services.jobs import start_job
from opencrm.errors import (
    MissingExchangeRates,
    NotConfigured,
    NotFound,
    OpenCRMError,
    ValidationError,
)

__all__ = [
    "MAX_REPORTS_PER_USER",
    "MAX_REPORT_BYTES",
    "XLSX_TYPE",
    "GenerationStopped",
    "ReportService",
    "ReportType",
    "generate_report",
    "register_kinds",
]

#: A user keeps at most this many generated reports; generating one more drops the oldest.
MAX_REPORTS_PER_USER = 50
#: A generated file larger than this is refused (a report of the reference's shape is a few
#: dozen kilobytes; this bounds what one row of the table may hold).
MAX_REPORT_BYTES = 10 * 1024 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The job kind of :meth:`ReportService.start`.
REPORT_JOB = "report"

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]


class GenerationStopped(OpenCRMError):
    """``should_stop`` asked generation to stop; nothing was stored."""


@attrs.frozen(kw_only=True)
class ReportType:
    """A report the CRM offers: its ``name``, ``title``, what it shows and the periods a user
    may choose (the first is the default)."""

    name: str
    title: str
    description: str
    periods: tuple[str, ...]


def _report_type(report: type[Report], locale: str) -> ReportType:
    return ReportType(
        name=report.name,
        title=translate(report.title, locale, report.catalogs()),
        description=report.description,
        periods=tuple(str(p) for p in report.periods),
    )


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "report"


class ReportService:
    """The reports of the CRM: ``types``, ``build`` (a neutral result), ``generate`` (an
    .xlsx kept for you), and your generated files: ``list``, ``get``, ``download``,
    ``delete``."""

    def __init__(self, service: Service) -> None:
        self._s = service

    @property
    def _registry(self) -> ReportRegistry:
        registry = self._s._ctx.reports
        if registry is None:  # a Context built without the CRM
            raise NotConfigured("this CRM has no report registry")
        return registry  # type: ignore[no-any-return]

    def types(self) -> Sequence[ReportType]:
        """The report types, built-in ones first (admins)."""
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "use reports")
            locale = Regional.from_settings(tx.uow.settings.get_many([LOCALE_KEY])).locale
        return [_report_type(r, locale) for r in self._registry]

    def build(
        self,
        name: str,
        *,
        period: str | None = None,
        managers: Sequence[str] = (),
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> ReportResult:
        """Build the report ``name`` for ``period`` (one of its periods; its first by
        default), for the ``managers`` given (user ids; empty: everyone). Money is in the
        CRM's default currency; a currency without an exchange rate to it raises
        :class:`~opencrm.errors.MissingExchangeRates` naming every such currency."""
        report, chosen, who = self._check(name, period, managers, progress, should_stop)
        _begin(progress, should_stop)
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "build reports")
            result = self._build(tx, report, chosen, who)
        _built(progress, should_stop)
        return result

    def generate(
        self,
        name: str,
        *,
        period: str | None = None,
        managers: Sequence[str] = (),
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> GeneratedReport:
        """Build the report and keep its .xlsx for you (see :meth:`list`); you are told it is
        ready by the ``report.generated`` event's notification. Keeps your newest
        :data:`MAX_REPORTS_PER_USER` files; refuses a file over :data:`MAX_REPORT_BYTES`."""
        render = self._s._ctx.report_xlsx
        if render is None:
            raise NotConfigured("this CRM has no .xlsx report renderer")
        report, chosen, who = self._check(name, period, managers, progress, should_stop)
        # Built in a read transaction and rendered outside any: the write transaction that
        # stores the file is short, so a long report never holds SQLite's write lock.
        _begin(progress, should_stop)
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "generate reports")
            result = self._build(tx, report, chosen, who)
        _built(progress, should_stop)
        data = render(result)
        if len(data) > MAX_REPORT_BYTES:
            raise ValidationError(
                {"name": f"the report is larger than {MAX_REPORT_BYTES} bytes; narrow it"}
            )
        if should_stop is not None and should_stop():
            raise GenerationStopped("report generation was stopped")
        with self._s._tx() as tx:
            require_admin(tx.actor, "generate reports")
            local = result.generated_at.astimezone(ZoneInfo(result.time_zone))
            day = local.date().isoformat()
            stored = tx.uow.generated_reports.add(
                GeneratedReport(
                    id=0,
                    user_id=tx.actor.id,
                    report_type=report.name,
                    title=result.title,
                    parameters=dict(result.parameters),
                    file_name=f"{_safe_name(report.name)}-{chosen}-{day}.xlsx",
                    content_type=XLSX_TYPE,
                    size=len(data),
                    created_at=result.generated_at,
                ),
                data,
            )
            tx.uow.generated_reports.delete_oldest(tx.actor.id, MAX_REPORTS_PER_USER)
            tx.emit(
                "report.generated",
                stored,
                data={
                    "user": tx.actor.id,
                    "report_type": report.name,
                    "file_name": stored.file_name,
                    "size": stored.size,
                },
            )
        if progress is not None:
            progress(1.0, "stored")
        return stored

    def start(
        self,
        name: str,
        *,
        period: str | None = None,
        managers: Sequence[str] = (),
    ) -> Job:
        """Generate the report in the background, as a ``report`` job (see ``session.jobs``):
        the same checks as :meth:`generate`, made now, so a bad name, period or manager is a
        ValidationError here rather than a failed job. Return the queued job; once it has
        succeeded its ``summary`` names the generated report (``report_id``, ``file_name``,
        ``size``), kept with your other generated reports (:meth:`download`); the job itself
        holds no file. Cancelling the job stops generation before anything is stored."""
        if self._s._ctx.report_xlsx is None:
            raise NotConfigured("this CRM has no .xlsx report renderer")
        report, chosen, who = self._check(name, period, managers)
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "generate reports")
        params = {"name": report.name, "period": str(chosen), "managers": sorted(who)}
        return start_job(self._s, REPORT_JOB, params)

    def list(self) -> Sequence[GeneratedReport]:
        """Your generated reports, newest first (each user sees only their own)."""
        with self._s._tx(write=False) as tx:
            require_admin(tx.actor, "use reports")
            return tx.uow.generated_reports.list(tx.actor.id)

    def get(self, report_id: int) -> GeneratedReport:
        """One of your generated reports; :class:`~opencrm.errors.NotFound` for anyone
        else's."""
        with self._s._tx(write=False) as tx:
            return self._own(tx, report_id)

    def download(self, report_id: int) -> bytes:
        """The .xlsx bytes of one of your generated reports."""
        with self._s._tx(write=False) as tx:
            self._own(tx, report_id)
            data = tx.uow.generated_reports.content(report_id)
            if data is None:
                raise NotFound("report", report_id)
            return data

    def delete(self, report_id: int) -> None:
        """Delete one of your generated reports."""
        with self._s._tx() as tx:
            stored = self._own(tx, report_id)
            tx.uow.generated_reports.delete(report_id)
            tx.emit("report.deleted", stored, data={"user": tx.actor.id})

    # --- helpers -------------------------------------------------------------------------

    def _own(self, tx: Tx, report_id: object) -> GeneratedReport:
        require_admin(tx.actor, "use reports")
        report_id = clean_id(report_id, "report_id", GeneratedReport)
        stored = tx.uow.generated_reports.get(report_id)
        if stored is None or stored.user_id != tx.actor.id:
            raise NotFound("report", report_id)
        return stored

    def _check(
        self,
        name: object,
        period: object,
        managers: object,
        progress: object = None,
        should_stop: object = None,
    ) -> tuple[type[Report], Period, frozenset[str]]:
        for field, hook in (("progress", progress), ("should_stop", should_stop)):
            if hook is not None and not callable(hook):
                raise ValidationError({field: "must be a function or None"})
        if not isinstance(name, str) or name not in self._registry:
            raise ValidationError({"name": "must be one of " + ", ".join(self._registry.names())})
        report = self._registry.get(name)
        if period is None:
            chosen = report.periods[0]
        elif isinstance(period, str) and period in {str(p) for p in report.periods}:
            chosen = Period(period)
        else:
            raise ValidationError(
                {"period": "must be one of " + ", ".join(str(p) for p in report.periods)}
            )
        who = self._s._managers(managers) if managers else frozenset()
        return report, chosen, who

    def _build(
        self,
        tx: Tx,
        report: type[Report],
        period: Period,
        managers: frozenset[str],
    ) -> ReportResult:
        uow = tx.uow
        settings = uow.settings.get_many([LOCALE_KEY, TIME_ZONE_KEY, "default_currency"])
        regional = Regional.from_settings(settings)
        currency = str(settings.get("default_currency") or "USD")
        rates = ExchangeRates(
            (r.from_currency, r.to_currency, r.rate) for r in uow.exchange_rates.list()
        )
        directory = self._s._ctx.directory
        names: dict[str, str] = {}

        def user_name(uid: str) -> str:
            if uid not in names:
                user = directory.get(uid) if directory is not None else None
                names[uid] = (user.name if user is not None else "") or uid
            return names[uid]

        ctx = ReportContext(
            queries=uow.report_queries,
            period=resolve_period(period, tx.now, regional.zone, regional.locale),
            managers=managers,
            currency=currency,
            rates=rates,
            locale=regional.locale,
            zone=regional.zone,
            now=tx.now,
            stages=uow.stages.list(),
            contact_types=uow.lists.list(ListKind.CONTACT_TYPE),
            temperatures=uow.lists.list(ListKind.TEMPERATURE),
            task_categories=uow.lists.list(ListKind.TASK_CATEGORY),
            user_name=user_name,
            catalogs=report.catalogs(),
        )
        tables = tuple(report().build(ctx))
        if ctx.missing_rates:
            raise MissingExchangeRates(ctx.missing_rates)
        p = ctx.period
        parameters: dict[str, Any] = {"period": str(period), "managers": sorted(managers)}
        result = ReportResult(
            name=report.name,
            title=ctx.gettext(report.title),
            parameters=parameters,
            first_day=p.first,
            last_day=p.last,
            generated_at=tx.now,
            currency=currency,
            locale=regional.locale,
            time_zone=regional.time_zone,
            tables=tables,
            notes=tuple(ctx.gettext(note) for note in report.notes),
        )
        result.check()
        return result


# The callbacks are called outside any transaction: a job's progress and cancel check are
# writes and reads of their own (on an in-memory SQLite database, the same connection).


def _begin(progress: Progress | None, should_stop: ShouldStop | None) -> None:
    if progress is not None:
        progress(0.0, "querying")
    if should_stop is not None and should_stop():
        raise GenerationStopped("report generation was stopped")


def _built(progress: Progress | None, should_stop: ShouldStop | None) -> None:
    if should_stop is not None and should_stop():
        raise GenerationStopped("report generation was stopped")
    if progress is not None:
        progress(0.8, "built")


def generate_report(
    session: Any,
    name: str,
    params: Mapping[str, Any],
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> GeneratedReport:
    """Generate and keep a report as ``session``'s user: the one function a background job
    runs (``params``: ``period`` and ``managers``). ``progress(fraction, stage)`` hears how
    far it got; ``should_stop()`` returning True stops it before anything is stored."""
    allowed = {"period", "managers"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "is not a report parameter"))
    stored: GeneratedReport = session.reports.generate(
        name, progress=progress, should_stop=should_stop, **dict(params)
    )
    return stored


def _report_kind(run: JobRun) -> Mapping[str, Any]:
    """The ``report`` job: :func:`generate_report` with the job's progress (in percent: ``done``
    of ``total`` 100) and cancel. The file stays in the generated-reports store only (no job
    result file, so its bytes are stored once); the summary names it."""
    params = dict(run.params)
    name = str(params.pop("name", ""))

    def progress(fraction: float, _stage: str) -> None:
        run.progress(round(fraction * 100), 100)

    try:
        stored = generate_report(
            run.session, name, params, progress=progress, should_stop=run.stop_requested
        )
    except GenerationStopped:
        raise StopJob from None
    return {
        "report_id": stored.id,
        "report_type": stored.report_type,
        "file_name": stored.file_name,
        "size": stored.size,
    }


def register_kinds(runner: Any) -> None:
    """Register the ``report`` job kind with a CRM's ``jobs``."""
    runner.register(REPORT_JOB, _report_kind)
