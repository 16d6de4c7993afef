"""The repository of case documents' metadata (the bytes live in a FileStore)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from opencrm.core.files import CaseDocument
from opencrm.storage.sqlalchemy.tables import case_documents

__all__ = ["SqlCaseDocumentRepository"]


def _document(r: Row[Any]) -> CaseDocument:
    return CaseDocument(
        id=r.id,
        case_id=r.case_id,
        file_id=r.file_id,
        name=r.name,
        content_type=r.content_type,
        size=r.size,
        created_by=r.created_by,
        created_at=r.created_at,
    )


class SqlCaseDocumentRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, document: CaseDocument) -> CaseDocument:
        t = case_documents
        new_id = self._c.execute(
            insert(t)
            .values(
                case_id=document.case_id,
                file_id=document.file_id,
                name=document.name,
                content_type=document.content_type,
                size=document.size,
                created_by=document.created_by,
                created_at=document.created_at,
            )
            .returning(t.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def list(self, case_id: int) -> Sequence[CaseDocument]:
        t = case_documents
        rows = self._c.execute(select(t).where(t.c.case_id == case_id).order_by(t.c.id))
        return [_document(r) for r in rows]

    def get(self, document_id: int) -> CaseDocument | None:
        t = case_documents
        row = self._c.execute(select(t).where(t.c.id == document_id)).first()
        return None if row is None else _document(row)

    def delete(self, document_id: int) -> None:
        self._c.execute(delete(case_documents).where(case_documents.c.id == document_id))

    def delete_for_case(self, case_id: int) -> Sequence[str]:
        t = case_documents
        ids = self._c.execute(select(t.c.file_id).where(t.c.case_id == case_id)).scalars().all()
        self._c.execute(delete(t).where(t.c.case_id == case_id))
        return list(ids)
