"""Jobs as their owner (or an admin) sees them: list, read, cancel, download, delete.

Jobs are started by the service of their area (``session.exports.start``; imports, reports and
mass mail the same way) through :func:`start_job`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from opencrm.core._inputs import clean_id
from opencrm.core.jobs import JOB_SORTS, Job, JobStatus, user_snapshot
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._files import discard_files, require_store
from opencrm.errors import Conflict, NotFound, ValidationError

__all__ = ["JobFile", "JobService", "start_job"]

#: Largest parameters of one job, as JSON.
MAX_PARAMS = 64 * 1024


@attrs.frozen(kw_only=True)
class JobFile:
    """A job's result file, ready to send: name, media type, size and the bytes in chunks
    (read from the file store as they are consumed)."""

    filename: str
    content_type: str
    size: int
    chunks: Iterable[bytes] = attrs.field(repr=False)


def start_job(service: Service, kind: str, params: Mapping[str, Any]) -> Job:
    """Queue a job of ``kind`` owned by the service's actor, and hand it to a runner once it
    has committed (a background thread, or the host's worker). ``params`` must be JSON-able.

    This is how an area starts its long work: validate what the user asked for, then
    ``return start_job(self._s, "export", {...})``.
    """
    runner = service._ctx.jobs
    if runner is None or not runner.knows(kind):
        raise ValidationError({"kind": f"no job kind {kind!r} is registered"})
    try:
        encoded = json.dumps(dict(params), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError({"params": "must be JSON-able"}) from None
    if len(encoded) > MAX_PARAMS:
        raise ValidationError({"params": f"must be at most {MAX_PARAMS} bytes as JSON"})
    with service._tx() as tx:
        job = Job(
            id=0,
            kind=kind,
            owner=tx.actor.id,
            status=JobStatus.QUEUED,
            params=json.loads(encoded),
            created_at=tx.now,
        )
        stored = tx.uow.jobs.add(job, user_snapshot(tx.actor))
        tx.emit("job.created", stored, data={"kind": kind})
    # A call that joined a host's transaction: the worker could not see the row before the
    # host commits (and must never run a job the host rolls back).
    service._ctx.after_commit(lambda: runner.dispatch(stored))
    return stored


class JobService:
    """The acting user's jobs (an admin's: everyone's). Reached as ``session.jobs``.

    A job started by one user is visible only to that user and to CRM admins; to anyone else
    it is :class:`~opencrm.errors.NotFound`, like a missing one.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    def list(
        self,
        *,
        sort: str = "-created",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        owner: str | None = None,
    ) -> Page[Job]:
        """One page of jobs, newest first: the user's own; an admin's list holds everyone's
        unless ``owner`` names one user (for others ``owner`` may only be themselves)."""
        page = PageRequest.build(sort, limit, after, JOB_SORTS)
        if owner is not None:
            owner = rec.user_id(owner, "owner")  # no NUL: PostgreSQL refuses it in text
        with self._s._tx(write=False) as tx:
            actor = tx.actor
            if not actor.crm_admin:
                if owner not in (None, actor.id):
                    raise ValidationError({"owner": "you may only list your own jobs"})
                owner = actor.id
            key = tx.cursor_key("jobs")
            items, cursor = tx.uow.jobs.list(owner, key.open(page))
            return key.page([self._seen(tx, j) for j in items], cursor)

    def get(self, job_id: int) -> Job:
        """The job as it is now (status, progress, summary, error, result)."""
        with self._s._tx(write=False) as tx:
            return self._visible(tx, job_id)

    def cancel(self, job_id: int) -> Job:
        """Ask the job to stop: a queued one is cancelled at once, a running one stops at its
        next batch (what it did stays), a stalled one (its process died) is cancelled at once.
        Cancelling a finished job changes nothing."""
        with self._s._tx() as tx:
            job = self._visible(tx, job_id)
            if job.finished:
                return job
            found = tx.uow.jobs.request_cancel(job.id, tx.now, stalled=job.stalled)
            if found is None:
                raise NotFound("job", job_id)
            if found.finished:
                tx.emit("job.cancelled", found, data={"kind": found.kind})
            return self._seen(tx, found)

    def download(self, job_id: int) -> JobFile:
        """The result file of a job that succeeded with one, streamed from the file store;
        NotFound when the job has no file."""
        with self._s._tx(write=False) as tx:
            job = self._visible(tx, job_id)
        if job.result is None:
            raise NotFound("job result", job_id)
        store = require_store(self._s)
        result = job.result
        opener = getattr(store, "open_stream", None)
        chunks: Iterable[bytes]
        if opener is not None:
            chunks = opener(result.file_id)
        else:
            chunks = _whole(store.open(result.file_id))
        return JobFile(
            filename=result.filename,
            content_type=result.content_type,
            size=result.size,
            chunks=chunks,
        )

    def delete(self, job_id: int) -> None:
        """Delete a finished (or stalled) job and its result file; a queued or running job must
        be cancelled first (:class:`~opencrm.errors.Conflict`)."""
        with self._s._tx() as tx:
            job = self._visible(tx, job_id)
            if not job.finished and not job.stalled:
                raise Conflict("the job has not finished: cancel it first")
            tx.uow.jobs.delete(job.id)
            tx.emit("job.deleted", job, data={"kind": job.kind})
        if job.result is not None:
            discard_files(self._s, [job.result.file_id])

    def _visible(self, tx: Tx, job_id: int) -> Job:
        jid = clean_id(job_id, "job_id", Job)
        job = tx.uow.jobs.get(jid)
        if job is None or not (tx.actor.crm_admin or job.owner == tx.actor.id):
            raise NotFound("job", job_id)
        return self._seen(tx, job)

    def _seen(self, tx: Tx, job: Job) -> Job:
        """The job with ``stalled`` worked out: running, and no heartbeat for too long."""
        runner = self._s._ctx.jobs
        if job.status is not JobStatus.RUNNING or runner is None:
            return job
        beat = job.heartbeat_at or job.started_at or job.created_at
        if tx.now - beat > runner.stalled_after:
            return attrs.evolve(job, stalled=True)
        return job


def _whole(data: bytes) -> Iterator[bytes]:
    yield data
