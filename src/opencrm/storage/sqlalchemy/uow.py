"""The SQLAlchemy unit of work: one connection, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy import exc as sa_exc

from opencrm.core import invoice_ports, ports
from opencrm.errors import Conflict, StorageError
from opencrm.storage.sqlalchemy import activities, deals, tables
from opencrm.storage.sqlalchemy import files as filing
from opencrm.storage.sqlalchemy import invoices as invoicing
from opencrm.storage.sqlalchemy import repositories as repos

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
    """

    # The repositories, each made on first use in a transaction: most calls use one or two
    # of the seventeen, and making all of them took longer than a page's SQL on SQLite.
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

    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        self._engine = engine
        self._write = write
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        try:
            conn = self._engine.connect().execution_options(opencrm_write=self._write)
            conn.begin()
        except sa_exc.DBAPIError as exc:
            raise StorageError(f"cannot open a transaction: {exc.orig}") from None
        self._conn = conn
        return self

    def __getattr__(self, name: str) -> Any:
        make = _REPOSITORIES.get(name)
        if make is None:
            raise AttributeError(name)
        repository = make(self.connection)
        setattr(self, name, repository)  # kept until the transaction ends
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
            self.connection.commit()
        except sa_exc.DBAPIError as exc:
            raise _translate(exc) from None

    def rollback(self) -> None:
        self.connection.rollback()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        for name in _REPOSITORIES:
            self.__dict__.pop(name, None)
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()
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
}


def _translate(exc: sa_exc.DBAPIError) -> Exception:
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict(f"the change conflicts with stored data: {exc.orig}")
    return StorageError(f"the database refused the operation: {exc.orig}")
