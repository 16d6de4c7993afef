"""Jobs: one row per job, written by short transactions of the runner."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from opencrm.core.jobs import Job, JobResult, JobStatus
from opencrm.core.query import Cursor, PageRequest
from opencrm.storage.sqlalchemy.paging import after_cursor, next_cursor
from opencrm.storage.sqlalchemy.tables import jobs

__all__ = ["SqlJobRepository"]


_FIELDS = (
    "id",
    "kind",
    "params",
    "done",
    "total",
    "rate",
    "summary",
    "error",
    "cancel_requested",
    "created_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
)


def _job(r: Row[Any]) -> Job:
    m = r._mapping
    result = None
    if m[jobs.c.result_file_id] is not None:
        result = JobResult(
            file_id=m[jobs.c.result_file_id],
            filename=m[jobs.c.result_name] or "result",
            content_type=m[jobs.c.result_type] or "application/octet-stream",
            size=int(m[jobs.c.result_size] or 0),
        )
    values = {name: m[jobs.c[name]] for name in _FIELDS}
    return Job(
        **values,
        owner=m[jobs.c.owner_id],
        status=JobStatus(m[jobs.c.status]),
        result=result,
    )


class SqlJobRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, job: Job, owner: Mapping[str, Any]) -> Job:
        row = self._c.execute(
            insert(jobs)
            .values(
                kind=job.kind,
                owner_id=job.owner,
                owner=dict(owner),
                params=dict(job.params),
                status=str(job.status),
                done=0,
                summary={},
                cancel_requested=False,
                created_at=job.created_at,
            )
            .returning(jobs.c.id)
        ).one()
        found = self.get(int(row[0]))
        assert found is not None
        return found

    def get(self, job_id: int) -> Job | None:
        row = self._c.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def list(
        self, owner: str | None, page: PageRequest
    ) -> tuple[builtins.list[Job], Cursor | None]:
        keys = [jobs.c.id.label("k_id")]
        query = select(jobs, *keys)
        if owner is not None:
            query = query.where(jobs.c.owner_id == owner)
        after = after_cursor(keys, page)
        if after is not None:
            query = query.where(after)
        order = jobs.c.id.desc() if page.descending else jobs.c.id.asc()
        rows = builtins.list(self._c.execute(query.order_by(order).limit(page.limit + 1)))
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return [_job(r) for r in rows], next_cursor(rows[-1] if more else None, keys, page)

    def claim(self, job_id: int, now: dt.datetime) -> tuple[Job, Mapping[str, Any]] | None:
        # A conditional UPDATE: on PostgreSQL a second claimer waits for the row lock and then
        # finds the status changed; SQLite write transactions take turns. Claimed once.
        done = self._c.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == str(JobStatus.QUEUED))
            .values(status=str(JobStatus.RUNNING), started_at=now, heartbeat_at=now)
        )
        if done.rowcount != 1:
            return None
        row = self._c.execute(select(jobs).where(jobs.c.id == job_id)).one()
        return _job(row), dict(row._mapping[jobs.c.owner])

    def progress(
        self, job_id: int, done: int, total: int | None, rate: float, now: dt.datetime
    ) -> None:
        values: dict[str, Any] = {"done": done, "rate": rate, "heartbeat_at": now}
        if total is not None:
            values["total"] = total
        self._c.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == str(JobStatus.RUNNING))
            .values(**values)
        )

    def cancel_requested(self, job_id: int) -> bool:
        flag = self._c.execute(
            select(jobs.c.cancel_requested).where(jobs.c.id == job_id)
        ).scalar_one_or_none()
        return True if flag is None else bool(flag)

    def request_cancel(self, job_id: int, now: dt.datetime, *, stalled: bool) -> Job | None:
        found = self.get(job_id)
        if found is None or found.finished:
            return found
        values: dict[str, Any] = {"cancel_requested": True}
        if found.status is JobStatus.QUEUED or stalled:
            values.update(status=str(JobStatus.CANCELLED), finished_at=now)
        self._c.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == str(found.status))
            .values(**values)
        )
        return self.get(job_id)

    def finish(
        self,
        job_id: int,
        status: JobStatus,
        summary: Mapping[str, Any],
        error: str | None,
        result: JobResult | None,
        now: dt.datetime,
    ) -> Job | None:
        values: dict[str, Any] = {
            "status": str(status),
            "summary": dict(summary),
            "error": error,
            "finished_at": now,
            "heartbeat_at": now,
        }
        if result is not None:
            values.update(
                result_file_id=result.file_id,
                result_name=result.filename,
                result_type=result.content_type,
                result_size=result.size,
            )
        done = self._c.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == str(JobStatus.RUNNING))
            .values(**values)
        )
        return self.get(job_id) if done.rowcount == 1 else None

    def delete(self, job_id: int) -> None:
        self._c.execute(delete(jobs).where(jobs.c.id == job_id))
