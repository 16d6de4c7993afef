"""The SQLAlchemy unit of work: one connection, one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, NestedTransaction, select
from sqlalchemy import exc as sa_exc

from opencrm.core import bulk_ports, invoice_ports, ports, voip_ports
from opencrm.errors import Conflict, StorageError
from opencrm.storage.sqlalchemy import activities, contact_bulk, deals, tables, voip
from opencrm.storage.sqlalchemy import files as filing
from opencrm.storage.sqlalchemy import imports as importing
from opencrm.storage.sqlalchemy import invoices as invoicing
from opencrm.storage.sqlalchemy import jobs as jobbing
from opencrm.storage.sqlalchemy import repositories as repos
from opencrm.storage.sqlalchemy.joined import Joiner
from opencrm.storage.sqlalchemy.reports import SqlReportQueries
from opencrm.storage.sqlalchemy.reports_files import SqlGeneratedReportRepository

__all__ = ["SqlUnitOfWork"]

_LOCKABLE = {
    "contact": tables.contacts,
    "opportunity": tables.opportunities,
    "case": tables.cases,
    "history_event": tables.history_events,
}


class SqlUnitOfWork:
    """Opens a transaction on enter; rolls back on exit unless :meth:`commit` was called.

    Driver errors leave it as opencrm errors: a broken constraint is a
    :class:`~opencrm.errors.Conflict`, anything else a :class:`~opencrm.errors.StorageError`.

    With a ``joiner`` whose outer transaction is open in this thread, it runs on that
    transaction's connection inside a savepoint: :meth:`commit` releases the savepoint,
    a rollback rolls back to it, and the outer transaction is left to its owner.
    """

    def __init__(self, engine: Engine, *, write: bool = True, joiner: Joiner | None = None) -> None:
        self._engine = engine
        self._write = write
        self._joiner = joiner
        self._conn: Connection | None = None
        self._savepoint: NestedTransaction | None = None

    def __enter__(self) -> SqlUnitOfWork:
        outer = self._joiner.current() if self._joiner is not None else None
        try:
            if outer is None:
                conn = self._engine.connect().execution_options(opencrm_write=self._write)
                conn.begin()
            else:
                assert self._joiner is not None
                conn = self._joiner.connect(outer)
                self._savepoint = conn.begin_nested()
        except sa_exc.DBAPIError as exc:
            raise StorageError(f"cannot open a transaction: {exc.orig}") from None
        self._conn = conn
        self.contacts: ports.ContactRepository = repos.SqlContactRepository(conn)
        self.lists: ports.ListRepository = repos.SqlListRepository(conn)
        self.stages: ports.StageRepository = deals.SqlStageAdminRepository(conn)
        self.opportunities: ports.OpportunityRepository = deals.SqlOpportunityRepository(conn)
        self.cases: ports.CaseRepository = deals.SqlCaseRepository(conn)
        self.tags: ports.TagRepository = repos.SqlTagRepository(conn)
        self.fields: ports.CustomFieldRepository = repos.SqlCustomFieldRepository(conn)
        self.settings: ports.SettingsRepository = repos.SqlSettingsRepository(conn)
        self.audit: ports.AuditRepository = repos.SqlAuditRepository(conn)
        self.taxes: invoice_ports.TaxRepository = invoicing.SqlTaxRepository(conn)
        self.products: invoice_ports.ProductRepository = invoicing.SqlProductRepository(conn)
        self.exchange_rates: invoice_ports.ExchangeRateRepository = (
            invoicing.SqlExchangeRateRepository(conn)
        )
        self.invoices: invoice_ports.InvoiceRepository = invoicing.SqlInvoiceRepository(conn)
        self.case_documents: ports.CaseDocumentRepository = filing.SqlCaseDocumentRepository(conn)
        self.tasks: ports.TaskRepository = activities.SqlTaskRepository(conn)
        self.history: ports.HistoryRepository = activities.SqlHistoryRepository(conn)
        self.contact_photos: ports.ContactPhotoRepository = filing.SqlContactPhotoRepository(conn)
        self.voip: voip_ports.VoipRepository = voip.SqlVoipRepository(conn)
        self.jobs: ports.JobRepository = jobbing.SqlJobRepository(conn)
        self.contact_bulk: bulk_ports.ContactBulkRepository = contact_bulk.SqlContactBulkRepository(
            conn
        )
        self.imports: ports.ImportStore = importing.SqlImportStore(conn)
        self.report_queries: ports.ReportQueries = SqlReportQueries(conn)
        self.generated_reports: ports.GeneratedReportRepository = SqlGeneratedReportRepository(conn)
        return self

    def lock(self, kind: str, record_id: int) -> None:
        """Lock one contact, opportunity, case or history event row until the transaction
        ends (``SELECT ... FOR UPDATE``; SQLite's write transactions hold the database lock
        already). A deletion takes it before collecting the stored files to delete, so a
        concurrent upload to the record either commits first (and its file is collected) or
        fails on the foreign key (and removes its file itself)."""
        table = _LOCKABLE[kind]
        conn = self.connection
        if conn.dialect.name == "postgresql":
            conn.execute(select(table.c.id).where(table.c.id == record_id).with_for_update())

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def commit(self) -> None:
        try:
            if self._savepoint is not None:
                self._savepoint.commit()
            else:
                self.connection.commit()
        except sa_exc.DBAPIError as exc:
            raise _translate(exc) from None

    def rollback(self) -> None:
        if self._savepoint is not None:
            self._savepoint.rollback()
        else:
            self.connection.rollback()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn, self._conn = self._conn, None
        savepoint, self._savepoint = self._savepoint, None
        if conn is None:
            return
        try:
            if savepoint is not None:
                if savepoint.is_active:
                    savepoint.rollback()
            elif conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()  # on a joined connection: ends nothing of the outer transaction
        if isinstance(exc, sa_exc.DBAPIError):
            raise _translate(exc) from None


def _translate(exc: sa_exc.DBAPIError) -> Exception:
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict(f"the change conflicts with stored data: {exc.orig}")
    return StorageError(f"the database refused the operation: {exc.orig}")
