"""The CRM facade: opens storage, builds the plugin manager and hands out sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import pluggy
from sqlalchemy import Engine

from opencrm.core.entities.activities import Task
from opencrm.core.entities.web_forms import WebFormResult
from opencrm.core.fields import FieldTypeRegistry
from opencrm.core.jobs import DEFAULT_STALLED_AFTER, JobRunner
from opencrm.core.notify import deliver
from opencrm.core.ports import Clock, FileStore, Message, Notifier
from opencrm.core.reports import ReportRegistry
from opencrm.core.services._base import Context, Service, utc_now
from opencrm.core.services._telephony import WEBHOOK_USER
from opencrm.core.services._voip_webhooks import handle_webhook
from opencrm.core.services.reminders import SYSTEM_USER, claim_due_reminders
from opencrm.core.services.reports import register_kinds as register_report_kinds
from opencrm.core.services.web_forms import submit as submit_web_form
from opencrm.core.users import User, UserDirectory
from opencrm.errors import SchemaOutdated
from opencrm.io.export import register_kinds as register_export_kinds
from opencrm.io.imports import register_kinds as register_import_kinds
from opencrm.io.mass_mail import register_kinds as register_mass_mail_kinds
from opencrm.io.report_xlsx import render_xlsx as render_report_xlsx
from opencrm.plugins.builtin.invoice_documents import render_html, render_pdf
from opencrm.plugins.builtin.notifications import invoice_mail
from opencrm.plugins.manager import make_plugin_manager
from opencrm.session import Session
from opencrm.storage.sqlalchemy.engine import (
    check_not_newer,
    create_engine_for,
    current_revision,
    head_revision,
    is_sqlite,
)
from opencrm.storage.sqlalchemy.engine import upgrade as upgrade_schema
from opencrm.storage.sqlalchemy.joined import Joiner, OuterTransaction
from opencrm.storage.sqlalchemy.uow import SqlUnitOfWork

__all__ = ["CRM"]

DEFAULT_URL = "sqlite:///opencrm.db"


def _run_now(action: Callable[[], None]) -> None:
    action()


class CRM:
    """One CRM: a database, its plugins and the settings that do not live in the database.

    Create it with :meth:`open`. It holds no state another app server would need: many
    processes may open the same PostgreSQL database at once.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        plugins: Iterable[object] = (),
        load_entrypoints: bool = True,
        directory: UserDirectory | None = None,
        clock: Clock = utc_now,
        phone_region: str | None = None,
        notifier: Notifier | None = None,
        file_store: FileStore | None = None,
        outer_transaction: OuterTransaction | None = None,
        stalled_after: dt.timedelta = DEFAULT_STALLED_AFTER,
    ) -> None:
        self.engine = engine
        joiner = None if outer_transaction is None else Joiner(engine.url, outer_transaction)
        self._joiner = joiner
        #: Where notifications go (None: nowhere, unless a plugin delivers them).
        self.notifier = notifier
        #: Where uploaded files (case documents) go (None: uploads raise NotConfigured).
        self.file_store = file_store
        self.plugin_manager: pluggy.PluginManager = make_plugin_manager(
            plugins, load_entrypoints=load_entrypoints
        )
        registry = FieldTypeRegistry()
        for contributed in self.plugin_manager.hook.opencrm_register_field_types(crm=self):
            for field_type in contributed or ():
                registry.register(field_type)
        self.field_types = registry
        self.directory = directory
        self.reports = _report_registry(self)
        self._ctx = Context(
            crm=self,
            new_uow=lambda write: SqlUnitOfWork(engine, write=write, joiner=joiner),
            after_commit=_run_now if joiner is None else joiner.after_commit,
            hook=self.plugin_manager.hook,
            field_types=registry,
            directory=directory,
            clock=clock,
            phone_region=phone_region,
            notifier=notifier,
            file_store=file_store,
            invoice_mail=invoice_mail,
            invoice_pdf=render_pdf,
            invoice_html=render_html,
            reports=self.reports,
            report_xlsx=render_report_xlsx,
        )
        #: Long work (exports, imports, reports): ``jobs.register(kind, fn)`` adds a kind,
        #: ``jobs.run(job_id)`` runs a job in a host's worker, ``jobs.wait()`` waits for the
        #: background jobs of this process. See docs/import-export.md.
        # An in-memory SQLite database is one connection shared by every thread: its jobs
        # run inline, in the call that starts them, instead of in a background thread.
        in_memory = is_sqlite(engine) and engine.url.database in (None, "", ":memory:")
        self.jobs = JobRunner(self._ctx, stalled_after=stalled_after, threads=not in_memory)
        self._ctx.jobs = self.jobs
        register_export_kinds(self.jobs)
        register_import_kinds(self.jobs)
        register_report_kinds(self.jobs)
        register_mass_mail_kinds(self.jobs)

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        upgrade: bool | None = None,
        engine_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> CRM:
        """Open the CRM stored at a database URL.

        ``sqlite:///path.db`` (the embedded default) is created or upgraded on open;
        ``postgresql+psycopg://...`` must already be at the current schema (run
        ``opencrm db upgrade URL``, or pass ``upgrade=True``), else :class:`SchemaOutdated`.
        A schema newer than this opencrm (a revision it does not know) raises
        :class:`~opencrm.errors.SchemaTooNew` (a :class:`SchemaOutdated`) on every backend.
        Other keyword options go to :class:`CRM`: ``plugins``, ``load_entrypoints``,
        ``directory``, ``clock``, ``phone_region`` (the ISO country used to read phone
        numbers written without ``+``), ``notifier`` (an :class:`~opencrm.core.ports.Notifier`
        such as ``SmtpNotifier`` or ``OutboxNotifier``; None sends no notifications) and
        ``file_store`` (a :class:`~opencrm.core.ports.FileStore` such as ``LocalFileStore``,
        needed for case documents and job results), ``outer_transaction`` (an
        :class:`~opencrm.OuterTransaction`: service calls made while it has a transaction
        open join it in a savepoint, see docs/storage.md) and ``stalled_after`` (a
        :class:`datetime.timedelta`: how long a running job may go without a heartbeat before
        it is reported as stalled, default 5 minutes).
        """
        engine = create_engine_for(url, **dict(engine_options or {}))
        if upgrade is None:
            upgrade = is_sqlite(engine)
        if upgrade:
            upgrade_schema(engine)
        else:
            have, want = current_revision(engine), head_revision()
            if have != want:
                engine.dispose()
                check_not_newer(have)
                raise SchemaOutdated(
                    f"the database schema is at {have or 'nothing'}, this opencrm needs {want}: "
                    "run `opencrm db upgrade URL`"
                )
        return cls(engine, **options)

    def notify(self, message: Message) -> bool:
        """Deliver ``message`` through the first plugin implementing
        ``opencrm_deliver_notification`` that takes it, else through the notifier. Return
        whether it went anywhere (False without a notifier and without such a plugin)."""
        return deliver(self.plugin_manager.hook, self, self.notifier, message)

    def due_reminders(self, now: dt.datetime | None = None) -> Sequence[Task]:
        """Claim the task reminders that have come due (by ``now``, default the CRM clock)
        and return their tasks; each responsible is sent a reminder after the claim commits.

        Safe to call from several app servers at once: each reminder is claimed once. Call it
        every minute or so (``opencrm reminders`` does it from cron). Reminders of tasks due
        more than a day ago are dropped, not sent.
        """
        return claim_due_reminders(Service(self._ctx, SYSTEM_USER), now)

    def voip_webhook(
        self, kind: str, query: str, params: Mapping[str, str], signature: str
    ) -> tuple[str, bytes]:
        """Answer a telephony provider's webhook ``kind`` (``voice``, ``status``,
        ``recording``... see the VoIP guide) sent to ``<public URL>/voip/webhooks/<kind>``
        with the query string ``query``, form ``params`` and signature header
        ``signature``. Return (content type, body) to send back.

        The signature is checked against the public URL stored by ``session.voip.connect``
        (not the host the request names: behind a proxy that is the proxy's); a missing or
        wrong one, or no connected account, raises PermissionDenied and changes nothing.
        """
        return handle_webhook(Service(self._ctx, WEBHOOK_USER), kind, query, params, signature)

    def web_form_post(self, values: Mapping[str, Sequence[str]], *, client: str) -> WebFormResult:
        """Take a visitor's post to a website contact form: ``values`` are the posted fields
        (each name with its values, as a parsed ``application/x-www-form-urlencoded`` body),
        ``client`` the visitor's address (see the web forms guide about proxies).

        Checked in this order, each refusal storing nothing: the form id and key
        (PermissionDenied: a deleted form, or a key rotated since the page was published), the
        rate limit per client address (RateLimited; counted in the database, so it holds
        across app servers), the return URL (one of the form's, else ValidationError), the
        honeypot and the ``opencrm_web_form_spam`` hook (answered like a success, nothing
        stored), the sizes and the fields (ValidationError with every bad field). Then a
        contact that duplicates a stored one (same e-mail, phone or name) gets a history
        event instead of a twin; else the contact is created (for a person, linked to the
        company of the posted name, created when there is none) with the form's tags,
        managers and access. The history event notifies the form's ``notify`` list. Storing
        is one transaction: a failure in it stores nothing of the post but its count for
        the rate limit, which is committed on its own before it.
        """
        return submit_web_form(self._ctx, values, client)

    def upgrade(self) -> None:
        """Bring the database schema to this version of opencrm."""
        upgrade_schema(self.engine)

    def session(self, user: User) -> Session:
        """A session acting as ``user``; each service call on it is one transaction."""
        return Session(self._ctx, user)

    def close(self) -> None:
        if self._joiner is not None:
            self._joiner.dispose()
        self.engine.dispose()

    def __enter__(self) -> CRM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _report_registry(crm: CRM) -> ReportRegistry:
    """The report types every plugin contributes (the ten built-in ones come first: they are
    a plugin too). A name registered twice stops the CRM from opening."""
    registry = ReportRegistry()
    for contributed in reversed(crm.plugin_manager.hook.opencrm_register_reports(crm=crm)):
        for report in contributed or ():
            registry.register(report)
    return registry
