"""The repository of generated report files (bytes kept in the row)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from opencrm.core.reports._stored import GeneratedReport
from opencrm.storage.sqlalchemy.tables import generated_reports

__all__ = ["SqlGeneratedReportRepository"]

_META = [c for c in generated_reports.c if c.name != "content"]


def _report(r: Row[Any]) -> GeneratedReport:
    return GeneratedReport(
        id=r.id,
        user_id=r.user_id,
        report_type=r.report_type,
        title=r.title,
        parameters=r.parameters,
        file_name=r.file_name,
        content_type=r.content_type,
        size=r.size,
        created_at=r.created_at,
    )


class SqlGeneratedReportRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, report: GeneratedReport, content: bytes) -> GeneratedReport:
        t = generated_reports
        new_id = self._c.execute(
            insert(t)
            .values(
                user_id=report.user_id,
                report_type=report.report_type,
                title=report.title,
                parameters=dict(report.parameters),
                file_name=report.file_name,
                content_type=report.content_type,
                size=len(content),
                content=content,
                created_at=report.created_at,
            )
            .returning(t.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def list(self, user_id: str) -> Sequence[GeneratedReport]:
        t = generated_reports
        rows = self._c.execute(select(*_META).where(t.c.user_id == user_id).order_by(t.c.id.desc()))
        return [_report(r) for r in rows]

    def get(self, report_id: int) -> GeneratedReport | None:
        t = generated_reports
        row = self._c.execute(select(*_META).where(t.c.id == report_id)).first()
        return None if row is None else _report(row)

    def content(self, report_id: int) -> bytes | None:
        t = generated_reports
        value = self._c.execute(select(t.c.content).where(t.c.id == report_id)).scalar()
        return None if value is None else bytes(value)

    def delete(self, report_id: int) -> None:
        t = generated_reports
        self._c.execute(delete(t).where(t.c.id == report_id))

    def delete_oldest(self, user_id: str, keep: int) -> int:
        t = generated_reports
        kept = select(t.c.id).where(t.c.user_id == user_id).order_by(t.c.id.desc()).limit(keep)
        result = self._c.execute(
            delete(t).where(t.c.user_id == user_id, t.c.id.not_in(kept.subquery().select()))
        )
        return int(result.rowcount or 0)
