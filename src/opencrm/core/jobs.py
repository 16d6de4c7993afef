"""Jobs: long work (exports, imports, later reports and mass mail) whose state lives in the
database, so any app server can answer "how far is it?".

A job *kind* is a function registered by name (:meth:`JobRunner.register`). It receives a
:class:`JobRun` (the owner's session, the job's parameters, ``progress``, ``stop_requested``
and ``save_result``) and returns a JSON-able summary. :class:`JobRunner` claims a queued job,
runs its kind, and records the outcome; by default in a background thread of the process that
started the job, or in the host's own worker when a plugin takes the job in
``opencrm_dispatch_job`` (the worker then calls :meth:`JobRunner.run` with the job's id).

Restart safety: a job that is ``running`` writes a heartbeat with every progress report. When
its process dies, nothing finishes it; once its heartbeat is older than ``stalled_after`` it is
reported with ``stalled=True`` (still ``running``: opencrm cannot know whether the work went
on elsewhere). It is never restarted by itself; its owner may cancel it (which finishes it at
once, as nothing would notice the request) or an admin may delete it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs

from opencrm.core.users import User
from opencrm.errors import OpenCRMError

if TYPE_CHECKING:
    from opencrm.core.ports import UnitOfWork
    from opencrm.core.services._base import Context

__all__ = [
    "DEFAULT_STALLED_AFTER",
    "FINISHED",
    "JOB_SORTS",
    "Job",
    "JobKind",
    "JobResult",
    "JobRun",
    "JobRunner",
    "JobStatus",
]

log = logging.getLogger("opencrm.jobs")

#: How long a running job may go without a heartbeat before it is reported as stalled.
DEFAULT_STALLED_AFTER = dt.timedelta(minutes=5)
#: The sorts of the job list (``-created``, newest first, is the default).
JOB_SORTS = ("created",)
#: Longest error text kept on a job.
MAX_ERROR = 2000


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The statuses of a job that is over.
FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@attrs.frozen(kw_only=True)
class JobResult:
    """The file a job produced: its id in the file store, the name offered for download, its
    media type and size in bytes."""

    file_id: str
    filename: str
    content_type: str
    size: int


@attrs.frozen(kw_only=True)
class Job:
    """A job as its owner sees it.

    ``done``/``total`` count the kind's units (rows for exports and imports; ``total`` is None
    while unknown), ``rate`` is units per second since the job started. ``summary`` is what the
    kind returned (counts, where it stopped), ``error`` why it failed. ``stalled`` is computed
    when read: running, but no heartbeat for longer than the CRM's ``stalled_after``.
    """

    id: int
    kind: str
    owner: str
    status: JobStatus
    params: Mapping[str, Any] = attrs.field(factory=dict)
    done: int = 0
    total: int | None = None
    rate: float | None = None
    summary: Mapping[str, Any] = attrs.field(factory=dict)
    error: str | None = None
    result: JobResult | None = None
    cancel_requested: bool = False
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    heartbeat_at: dt.datetime | None = None
    stalled: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class StopJob(Exception):
    """Raised inside a kind to end the job as cancelled (what was done stays)."""


class JobRun:
    """What a job kind works with.

    ``session`` acts as the job's owner (every permission check is theirs); ``params`` is the
    JSON-able dict the job was started with. Call :meth:`progress` after each batch and
    :meth:`stop_requested` between batches; write the job's file with :meth:`save_result`.
    """

    def __init__(self, runner: JobRunner, job: Job, session: Any) -> None:
        self._runner = runner
        self.job_id = job.id
        self.kind = job.kind
        self.params: Mapping[str, Any] = job.params
        self.session = session
        self._started = time.monotonic()
        self._stopped = False
        self.result: JobResult | None = None

    def progress(self, done: int, total: int | None = None) -> None:
        """Record that ``done`` units of ``total`` (None: unknown, or as before) are done; also
        the job's heartbeat."""
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = round(done / elapsed, 3)
        self._runner._write(lambda uow, now: uow.jobs.progress(self.job_id, done, total, rate, now))

    def stop_requested(self) -> bool:
        """Whether someone asked to cancel the job; check it between batches and stop when it
        says so (the job then ends as ``cancelled``)."""
        if not self._stopped:
            self._stopped = self._runner._read(lambda uow: uow.jobs.cancel_requested(self.job_id))
        return self._stopped

    def save_result(self, filename: str, content_type: str, chunks: Iterable[bytes]) -> JobResult:
        """Write the job's result file from ``chunks`` through the CRM's file store (streamed
        when the store can, see :func:`store_stream`). The file is kept only when the job
        succeeds; it replaces an earlier result of the same run."""
        store = self._runner._ctx.file_store
        if store is None:
            from opencrm.errors import NotConfigured

            raise NotConfigured(
                "the CRM has no file store: open it with "
                "CRM.open(..., file_store=LocalFileStore(dir)) to keep job results"
            )
        stored = store_stream(store, chunks, filename, content_type)
        previous, self.result = (
            self.result,
            JobResult(
                file_id=stored.id, filename=filename, content_type=content_type, size=stored.size
            ),
        )
        if previous is not None:
            _discard(store, previous.file_id)
        return self.result


def store_stream(store: Any, chunks: Iterable[bytes], filename: str, content_type: str) -> Any:
    """Store generated content: through the store's ``put_stream`` (written chunk by chunk,
    see :class:`opencrm.LocalFileStore`), or, for a store without it, joined and handed to
    ``put`` (which holds the whole file in memory and applies the store's upload limits)."""
    put_stream = getattr(store, "put_stream", None)
    if put_stream is not None:
        return put_stream(chunks, filename, content_type)
    return store.put(b"".join(chunks), filename, content_type)


def _discard(store: Any, file_id: str) -> None:
    try:
        store.delete(file_id)
    except Exception:
        log.exception("could not delete the stored file %s", file_id)


#: A job kind: runs the work, returns a JSON-able summary (or None).
JobKind = Callable[[JobRun], "Mapping[str, Any] | None"]


def user_snapshot(user: User) -> dict[str, Any]:
    """What a worker needs to act as ``user`` again (stored with the job)."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "crm_admin": user.crm_admin,
        "groups": sorted(user.groups),
        "language": user.language,
    }


def _user_of(raw: Mapping[str, Any]) -> User:
    return User(
        id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        email=raw.get("email"),
        crm_admin=bool(raw.get("crm_admin")),
        groups=frozenset(raw.get("groups") or ()),
        language=raw.get("language"),
    )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, OpenCRMError):
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR]


class JobRunner:
    """The CRM's jobs: the registry of kinds, the hand-off to a worker, and the run itself.

    Reached as ``crm.jobs``. ``register(name, kind)`` adds a kind; ``run(job_id)`` runs a queued
    job in the calling thread (what a host's worker calls); ``wait(timeout)`` waits for the
    background threads this process started (tests, the CLI, a clean shutdown).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        stalled_after: dt.timedelta = DEFAULT_STALLED_AFTER,
        threads: bool = True,
    ):
        self._ctx = ctx
        #: False: no background thread; a job no plugin takes runs inline, in the call that
        #: started it (an in-memory SQLite database has one connection for every thread).
        self.threads = threads
        self._kinds: dict[str, JobKind] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.stalled_after = stalled_after

    # --- kinds ------------------------------------------------------------------------------

    def register(self, name: str, kind: JobKind) -> None:
        """Add a job kind under ``name``; a name registered twice is an error."""
        if not isinstance(name, str) or not name or len(name) > 64:
            raise ValueError("a job kind needs a name of 1 to 64 characters")
        if name in self._kinds:
            raise ValueError(f"the job kind {name!r} is registered already")
        self._kinds[name] = kind

    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def knows(self, name: str) -> bool:
        return name in self._kinds

    # --- hand-off ---------------------------------------------------------------------------

    def dispatch(self, job: Job) -> None:
        """Hand a queued job to a plugin's worker (``opencrm_dispatch_job``), else run it in a
        background thread of this process. Called once the job's row has committed."""
        taken = self._ctx.hook.opencrm_dispatch_job(crm=self._ctx.crm, job=job)
        if taken is True:
            return
        if not self.threads:
            self._run_logged(job.id)
            return
        thread = threading.Thread(
            target=self._run_logged, args=(job.id,), name=f"opencrm-job-{job.id}", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the background jobs this process started have ended; return False when
        ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
                self._threads = alive
            if not alive:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            alive[0].join(left)

    def _run_logged(self, job_id: int) -> None:
        try:
            self.run(job_id)
        except Exception:
            log.exception("job %s could not be run", job_id)

    # --- the run ----------------------------------------------------------------------------

    def run(self, job_id: int) -> Job | None:
        """Run the queued job ``job_id`` here and now, and return it as it ended.

        Claims it first (queued -> running in one conditional update), so a job dispatched twice
        runs once: a job that is not queued any more (taken, cancelled, deleted) returns None.
        The kind's exceptions end the job as ``failed`` with the error; they do not propagate.
        """
        claimed = self._write(lambda uow, now: uow.jobs.claim(job_id, now))
        if claimed is None:
            return None
        job, owner = claimed
        user = self._owner(owner)
        kind = self._kinds.get(job.kind)
        run = JobRun(self, job, self._ctx.crm.session(user))
        status, summary, error = JobStatus.SUCCEEDED, {}, None
        try:
            if kind is None:
                raise LookupError(f"no job kind {job.kind!r} is registered in this process")
            summary = dict(kind(run) or {})
            if run._stopped:
                status = JobStatus.CANCELLED
        except StopJob:
            status = JobStatus.CANCELLED
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            status, error = JobStatus.FAILED, _error_text(exc)
        result = run.result
        if status is not JobStatus.SUCCEEDED and result is not None:
            # A half-written file is no result: only a job that succeeded keeps one.
            if self._ctx.file_store is not None:
                _discard(self._ctx.file_store, result.file_id)
            result = None
        return self._finish(job, user, status, summary, error, result)

    def _finish(
        self,
        job: Job,
        user: User,
        status: JobStatus,
        summary: Mapping[str, Any],
        error: str | None,
        result: JobResult | None,
    ) -> Job | None:
        from opencrm.core.services._base import Service

        service = Service(self._ctx, user)
        finished: Job | None = None
        try:
            with service._tx() as tx:
                finished = tx.uow.jobs.finish(job.id, status, summary, error, result, tx.now)
                if finished is not None:
                    tx.emit(
                        "job.finished",
                        finished,
                        data={"kind": finished.kind, "status": str(finished.status)},
                    )
        except Exception:
            # The owner may have lost the CRM in the meantime: record the end regardless.
            log.exception("job %s: could not finish as %s; recording it plainly", job.id, user.id)
            finished = self._write(
                lambda uow, now: uow.jobs.finish(job.id, status, summary, error, result, now)
            )
        if finished is None and result is not None and self._ctx.file_store is not None:
            _discard(self._ctx.file_store, result.file_id)  # the job was deleted meanwhile
        return finished

    def _owner(self, snapshot: Mapping[str, Any]) -> User:
        """The owner as the host knows them now (the directory), else as they were when the
        job started."""
        directory = self._ctx.directory
        if directory is not None:
            found = directory.get(str(snapshot["id"]))
            if found is not None:
                return found
        return _user_of(snapshot)

    def _write(self, work: Callable[[UnitOfWork, dt.datetime], Any]) -> Any:
        uow = self._ctx.new_uow(True)
        with uow:
            out = work(uow, self._ctx.clock())
            uow.commit()
        return out

    def _read(self, work: Callable[[UnitOfWork], Any]) -> Any:
        uow = self._ctx.new_uow(False)
        with uow:
            return work(uow)
