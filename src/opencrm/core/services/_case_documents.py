"""The documents attached to a case: metadata in the database, bytes in the FileStore
(written and removed as :mod:`opencrm.core.services._files` describes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from opencrm.core.entities.deals import Case
from opencrm.core.files import CaseDocument, StoredFile
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Tx
from opencrm.core.services._files import (
    clean_filename,
    discard_files,
    forget_files,
    require_store,
)
from opencrm.errors import NotFound

if TYPE_CHECKING:
    from opencrm.core.services.cases import CaseService

__all__ = ["attach", "documents", "open_document", "remove_document"]

log = logging.getLogger("opencrm")


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
        forget_files(store, [stored.id] if stored is not None else [])
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
    require_store(cases._s)  # NotConfigured without a file store
    with cases._s._tx() as tx:
        case, found = _document(cases, tx, case_id, document_id)
        tx.uow.case_documents.delete(found.id)
        tx.emit(
            "case.document_removed",
            case,
            data={"document": found.id, "name": found.name},
        )
    discard_files(cases._s, [found.file_id])
