"""Repositories of file metadata: case documents and contact photos (the bytes live in a
FileStore)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from sqlalchemy import Connection, Row, delete, insert, select

from opencrm.core.entities.activities import ContactPhoto
from opencrm.core.files import CaseDocument
from opencrm.storage.sqlalchemy.tables import case_documents, contact_photos

__all__ = ["SqlCaseDocumentRepository", "SqlContactPhotoRepository"]


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


class SqlContactPhotoRepository:
    """One row per contact with a photo, naming the stored files of its renditions."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, contact_id: int) -> ContactPhoto | None:
        t = contact_photos
        row = self._c.execute(select(t).where(t.c.contact_id == contact_id)).first()
        return None if row is None else ContactPhoto(**row._asdict())

    def put(self, photo: ContactPhoto) -> ContactPhoto | None:
        replaced = self.delete(photo.contact_id)
        self._c.execute(insert(contact_photos).values(**attrs.asdict(photo)))
        return replaced

    def delete(self, contact_id: int) -> ContactPhoto | None:
        found = self.get(contact_id)
        if found is not None:
            t = contact_photos
            self._c.execute(delete(t).where(t.c.contact_id == contact_id))
        return found
