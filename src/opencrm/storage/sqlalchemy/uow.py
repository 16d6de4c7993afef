"""The SQLAlchemy unit of work: one connection, one transaction."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, NestedTransaction, select
from sqlalchemy import exc as sa_exc

from opencrm.core import bulk_ports, invoice_ports, ports, voip_ports, web_form_ports
from opencrm.core.search import SearchRepository
from opencrm.errors import Conflict, StorageError
from opencrm.storage.sqlalchemy import activities, contact_bulk, deals, tables, voip, web_forms
from opencrm.storage.sqlalchemy import files as filing
from opencrm.storage.sqlalchemy import imports as importing
from opencrm.storage.sqlalchemy import invoices as invoicing
from opencrm.storage.sqlalchemy import jobs as jobbing
from opencrm.storage.sqlalchemy import repositories as repos
from opencrm.storage.sqlalchemy._raw import execute_driver
from opencrm.storage.sqlalchemy.joined import Joiner
from opencrm.storage.sqlalchemy.reports import SqlReportQueries
from opencrm.storage.sqlalchemy.reports_files import SqlGeneratedReportRepository
from opencrm.storage.sqlalchemy.search import SqlSearchRepository

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

    # The repositories, each made on first use in a transaction: most calls use one or two
    # of the twenty-three, and making all of them took longer than a page's SQL on SQLite.
    contacts: ports.ContactRepository
    lists: ports.ListRepository
    stages: ports.StageRepository
    opportunities: ports.OpportunityRepository
    cases: ports.CaseRepository
    tags: ports.TagRepository
    fields: ports.CustomFieldRepository
    settings: ports.SettingsRepository
    audit: ports.AuditRepository
    taxes: invoice_ports.TaxRepository
    products: invoice_ports.ProductRepository
    exchange_rates: invoice_ports.ExchangeRateRepository
    invoices: invoice_ports.InvoiceRepository
    case_documents: ports.CaseDocumentRepository
    tasks: ports.TaskRepository
    history: ports.HistoryRepository
    contact_photos: ports.ContactPhotoRepository
    voip: voip_ports.VoipRepository
    jobs: ports.JobRepository
    contact_bulk: bulk_ports.ContactBulkRepository
    imports: ports.ImportStore
    report_queries: ports.ReportQueries
    generated_reports: ports.GeneratedReportRepository
    search: SearchRepository
    web_forms: web_form_ports.WebFormRepository

    def __init__(self, engine: Engine, *, write: bool = True, joiner: Joiner | None = None) -> None:
        self._engine = engine
        self._write = write
        self._joiner = joiner
        self._conn: Connection | None = None
        self._savepoint: NestedTransaction | None = None
        #: A read transaction opened on the DBAPI connection, not yet ended (see __enter__).
        self._driver_tx = False
        #: The names of the repositories made in this transaction.
        self._made: list[str] = []

    def __enter__(self) -> SqlUnitOfWork:
        outer = self._joiner.current() if self._joiner is not None else None
        conn = None
        try:
            if outer is not None:
                assert self._joiner is not None
                conn = self._joiner.connect(outer)
                self._savepoint = conn.begin_nested()
            else:
                read, write, sqlite = _engines(self._engine)
                if self._write:
                    conn = write.connect()
                    conn.begin()
                else:
                    # A read begins on the DBAPI connection, with no SQLAlchemy transaction
                    # object: its begin and commit bookkeeping (and their events) cost more
                    # than SQLite's BEGIN and COMMIT. SQLite gets its BEGIN here (on the
                    # cursor, so statement listeners see it); psycopg begins on the first
                    # statement. A statement run through SQLAlchemy later in the call
                    # autobegins its transaction inside this one (the SQLite begin listener
                    # then sends no second BEGIN), and commit or rollback end it there.
                    conn = read.connect()
                    if sqlite:
                        execute_driver(conn, "BEGIN")
                    self._driver_tx = True
        except sa_exc.DBAPIError as exc:
            self._driver_tx = False
            if conn is not None and outer is None:
                conn.close()
            raise StorageError(f"cannot open a transaction: {exc.orig}") from None
        self._conn = conn
        return self

    def __getattr__(self, name: str) -> Any:
        make = _REPOSITORIES.get(name)
        if make is None:
            raise AttributeError(name)
        repository = make(self.connection)
        setattr(self, name, repository)  # kept until the transaction ends
        self._made.append(name)
        return repository

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
                return
            conn = self.connection
            if conn.in_transaction():
                conn.commit()  # ends the read's DBAPI transaction too, if there is one
            elif self._driver_tx:
                _end_driver_transaction(conn, commit=True)
            self._driver_tx = False
        except sa_exc.DBAPIError as exc:
            raise _translate(exc) from None

    def rollback(self) -> None:
        if self._savepoint is not None:
            self._savepoint.rollback()
            return
        conn = self.connection
        if conn.in_transaction():
            conn.rollback()
        elif self._driver_tx:
            _end_driver_transaction(conn, commit=False)
        self._driver_tx = False

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn, self._conn = self._conn, None
        savepoint, self._savepoint = self._savepoint, None
        driver_tx, self._driver_tx = self._driver_tx, False
        if conn is None:
            return
        made, self._made = self._made, []
        for name in made:
            self.__dict__.pop(name, None)
        try:
            if savepoint is not None:
                if savepoint.is_active:
                    savepoint.rollback()
            elif conn.in_transaction():
                conn.rollback()
            elif driver_tx:
                _end_driver_transaction(conn, commit=False)
        finally:
            conn.close()  # on a joined connection: ends nothing of the outer transaction
        if isinstance(exc, sa_exc.DBAPIError):
            raise _translate(exc) from None


_REPOSITORIES: dict[str, Callable[[Connection], Any]] = {
    "contacts": repos.SqlContactRepository,
    "lists": repos.SqlListRepository,
    "stages": deals.SqlStageAdminRepository,
    "opportunities": deals.SqlOpportunityRepository,
    "cases": deals.SqlCaseRepository,
    "tags": repos.SqlTagRepository,
    "fields": repos.SqlCustomFieldRepository,
    "settings": repos.SqlSettingsRepository,
    "audit": repos.SqlAuditRepository,
    "taxes": invoicing.SqlTaxRepository,
    "products": invoicing.SqlProductRepository,
    "exchange_rates": invoicing.SqlExchangeRateRepository,
    "invoices": invoicing.SqlInvoiceRepository,
    "case_documents": filing.SqlCaseDocumentRepository,
    "tasks": activities.SqlTaskRepository,
    "history": activities.SqlHistoryRepository,
    "contact_photos": filing.SqlContactPhotoRepository,
    "voip": voip.SqlVoipRepository,
    "jobs": jobbing.SqlJobRepository,
    "contact_bulk": contact_bulk.SqlContactBulkRepository,
    "imports": importing.SqlImportStore,
    "report_queries": SqlReportQueries,
    "generated_reports": SqlGeneratedReportRepository,
    "search": SqlSearchRepository,
    "web_forms": web_forms.SqlWebFormRepository,
}


_OPTIONED: weakref.WeakKeyDictionary[Engine, tuple[Engine, bool]] = weakref.WeakKeyDictionary()


def _engines(engine: Engine) -> tuple[Engine, Engine, bool]:
    """The engines of read and write transactions, and whether they are SQLite's. Reads
    use ``engine`` itself: the SQLite ``begin`` listener takes a connection without
    ``opencrm_write`` for a reader, and an engine made with options is one more level
    that every event check on its connections walks. Writes use the engine with
    ``opencrm_write``, made once per engine: setting the option on each new connection
    cost a third of an empty transaction."""
    made = _OPTIONED.get(engine)
    if made is None:
        made = (engine.execution_options(opencrm_write=True), engine.dialect.name == "sqlite")
        _OPTIONED[engine] = made
    return engine, made[0], made[1]


def _end_driver_transaction(conn: Connection, *, commit: bool) -> None:
    """Commit or roll back the transaction of a read on its DBAPI connection. A driver
    error leaves as SQLAlchemy's ``DBAPIError``; a lost connection is invalidated."""
    pooled = conn.connection
    dbapi = pooled.dbapi_connection
    try:
        if commit:
            dbapi.commit()  # type: ignore[union-attr]
        else:
            dbapi.rollback()  # type: ignore[union-attr]
    except conn.dialect.loaded_dbapi.Error as exc:
        if conn.dialect.is_disconnect(exc, dbapi, None):
            conn.invalidate(exc)
        raise sa_exc.DBAPIError.instance(
            "COMMIT" if commit else "ROLLBACK", None, exc, conn.dialect.loaded_dbapi.Error
        ) from exc


def _translate(exc: sa_exc.DBAPIError) -> Exception:
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict(f"the change conflicts with stored data: {exc.orig}")
    return StorageError(f"the database refused the operation: {exc.orig}")
