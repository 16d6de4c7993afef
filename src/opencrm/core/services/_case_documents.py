"""The documents attached to a case: metadata in the database, bytes in the FileStore.

The file is written before its row and removed again when the transaction does not commit;
a removed document's file is deleted only after the removal committed. So a refused upload
leaves neither file nor row, and a rolled-back removal keeps its file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING

from opencrm.core.contact_data import clean_name
from opencrm.core.entities.deals import Case
from opencrm.core.files import CaseDocument, StoredFile
from opencrm.core.ports import FileStore
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.errors import NotConfigured, NotFound

if TYPE_CHECKING:
    from opencrm.core.services.cases import CaseService

__all__ = [
    "attach",
    "clean_filename",
    "discard_files",
    "documents",
    "open_document",
    "remove_document",
    "require_store",
]

log = logging.getLogger("opencrm")


def require_store(service: Service) -> FileStore:
    """The CRM's file store; :class:`~opencrm.errors.NotConfigured` when it has none (every
    service that stores files asks here)."""
    store = service._ctx.file_store
    if store is None:
        raise NotConfigured(
            "the CRM has no file store: open it with CRM.open(..., file_store=LocalFileStore(dir))"
        )
    return store


def clean_filename(value: object) -> str:
    name = clean_name("filename", value, required=True)
    # Keep the last path part only: the name is shown and offered for download, never a path.
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "file"


def discard_files(store: FileStore | None, file_ids: Iterable[str]) -> None:
    """Delete stored files whose rows are gone; a failure is logged, the change stands."""
    if store is None:
        return
    for file_id in file_ids:
        try:
            store.delete(file_id)
        except Exception:
            log.exception("could not delete the stored file %s", file_id)


def attach(
    cases: CaseService, case_id: int, data: bytes | IO[bytes], filename: str
) -> CaseDocument:
    store = require_store(cases._s)
    name = clean_filename(filename)
    stored: StoredFile | None = None
    try:
        with cases._s._tx() as tx:
            case = cases._readable(tx, case_id)
            stored = store.put(data, name)
            document = tx.uow.case_documents.add(
                CaseDocument(
                    id=0,
                    case_id=case.id,
                    file_id=stored.id,
                    name=name,
                    content_type=stored.content_type,
                    size=stored.size,
                    created_by=tx.actor.id,
                    created_at=tx.now,
                )
            )
            tx.emit(
                "case.document_added",
                case,
                data={"document": document.id, "name": name, "size": stored.size},
            )
    except BaseException:
        if stored is not None:
            with contextlib.suppress(Exception):
                store.delete(stored.id)
        raise
    return document


def documents(cases: CaseService, case_id: int) -> Sequence[CaseDocument]:
    with cases._s._tx(write=False) as tx:
        case = cases._readable(tx, case_id)
        return tx.uow.case_documents.list(case.id)


def _document(
    cases: CaseService, tx: Tx, case_id: int, document_id: object
) -> tuple[Case, CaseDocument]:
    case = cases._readable(tx, case_id)
    did = rec.record_id(document_id, "document_id", CaseDocument)
    found = tx.uow.case_documents.get(did)
    if found is None or found.case_id != case.id:
        raise NotFound("document", did)
    return case, found


def open_document(cases: CaseService, case_id: int, document_id: int) -> bytes:
    store = require_store(cases._s)
    with cases._s._tx(write=False) as tx:
        _, found = _document(cases, tx, case_id, document_id)
    return store.open(found.file_id)


def remove_document(cases: CaseService, case_id: int, document_id: int) -> None:
    store = require_store(cases._s)
    with cases._s._tx() as tx:
        case, found = _document(cases, tx, case_id, document_id)
        tx.uow.case_documents.delete(found.id)
        tx.emit(
            "case.document_removed",
            case,
            data={"document": found.id, "name": found.name},
        )
    discard_files(store, [found.file_id])
