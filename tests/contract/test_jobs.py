"""Jobs on every backend: the background run and its progress, who sees a job, cancelling,
failures recorded with their error, a job whose process died, the hand-off to a host's worker
by job id, deleting, and the "job finished" notifications."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from opencrm import (
    CRM,
    InMemoryUserDirectory,
    JobRun,
    JobStatus,
    LocalFileStore,
    OutboxNotifier,
    User,
)
from opencrm.errors import Conflict, NotFound, ValidationError
from opencrm.io import stream_export
from opencrm.plugins import hookimpl

USERS = [
    User(id="admin", name="Ada", email="ada@example.com", crm_admin=True),
    User(id="alice", name="Alice", email="alice@example.com"),
    User(id="bob", name="Bob", email="bob@example.com"),
]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class TakeJobs:
    """A host's queue: takes every job (by id) and runs nothing until told to."""

    def __init__(self) -> None:
        self.queue: list[int] = []

    @hookimpl
    def opencrm_dispatch_job(self, crm: CRM, job: Any) -> bool:
        self.queue.append(job.id)
        return True


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


def open_crm(engine: Any, tmp_path: Any, *, clock: Clock, outbox: OutboxNotifier, plugins=()):  # type: ignore[no-untyped-def]
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        notifier=outbox,
        file_store=LocalFileStore(tmp_path / "files"),
        clock=clock,
        plugins=plugins,
    )


@pytest.fixture
def jcrm(engine, tmp_path, clock, outbox) -> CRM:  # type: ignore[no-untyped-def]
    return open_crm(engine, tmp_path, clock=clock, outbox=outbox)


def session(crm: CRM, user_id: str) -> Any:
    return crm.session(next(u for u in USERS if u.id == user_id))


def test_an_export_runs_in_the_background_and_records_its_progress(jcrm: CRM) -> None:
    alice = session(jcrm, "alice")
    for i in range(3):
        alice.contacts.add_person(f"P{i}", "Smith")
    job = alice.exports.start("contacts", format="csv")
    assert job.status is JobStatus.QUEUED
    assert job.owner == "alice"
    assert job.kind == "export"
    assert jcrm.jobs.wait(timeout=30) is True
    done = alice.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert (done.done, done.total) == (3, 3)
    assert done.rate is not None
    assert done.rate > 0
    assert done.summary == {
        "entity": "contacts",
        "format": "csv",
        "rows": 3,
        "bytes": done.result.size,  # type: ignore[union-attr]
    }
    assert done.started_at is not None
    assert done.finished_at is not None
    file = alice.jobs.download(job.id)
    assert (file.filename, file.content_type) == ("contacts.csv", "text/csv; charset=utf-8")
    assert b"".join(file.chunks) == b"".join(stream_export(alice, "contacts", "csv"))


def test_a_job_is_visible_to_its_owner_and_to_admins_only(jcrm: CRM) -> None:
    alice, bob, admin = (session(jcrm, u) for u in ("alice", "bob", "admin"))
    job = alice.exports.start("contacts")
    jcrm.jobs.wait(timeout=30)
    assert [j.id for j in alice.jobs.list()] == [job.id]
    assert list(bob.jobs.list()) == []
    assert [j.id for j in admin.jobs.list()] == [job.id]
    assert [j.id for j in admin.jobs.list(owner="bob")] == []
    assert admin.jobs.get(job.id).owner == "alice"
    for call in (bob.jobs.get, bob.jobs.cancel, bob.jobs.download, bob.jobs.delete):
        with pytest.raises(NotFound):
            call(job.id)
    with pytest.raises(ValidationError):
        bob.jobs.list(owner="alice")


@pytest.mark.parametrize("owner", ["", "a\x00b", "\ud800", "x" * 256, 7])
def test_the_owner_filter_takes_only_a_user_id(jcrm: CRM, owner: object) -> None:
    admin = session(jcrm, "admin")
    with pytest.raises(ValidationError) as refused:
        admin.jobs.list(owner=owner)
    assert refused.value.errors == {"owner": "must be a user id"}


def test_the_list_pages_newest_first(jcrm: CRM) -> None:
    alice = session(jcrm, "alice")
    ids = [alice.exports.start("tasks").id for _ in range(3)]
    jcrm.jobs.wait(timeout=30)
    first = alice.jobs.list(limit=2)
    assert [j.id for j in first] == [ids[2], ids[1]]
    second = alice.jobs.list(limit=2, after=first.next_cursor)
    assert [j.id for j in second] == [ids[0]]
    assert second.next_cursor is None


def test_a_failing_kind_ends_the_job_as_failed_with_its_error(jcrm: CRM, outbox) -> None:  # type: ignore[no-untyped-def]
    def broken(run: JobRun) -> Mapping[str, Any]:
        run.progress(5, 10)
        raise ValueError("the disk is full")

    jcrm.jobs.register("broken", broken)
    from opencrm.core.services.jobs import start_job

    alice = session(jcrm, "alice")
    job = start_job(alice.jobs._s, "broken", {"n": 1})
    jcrm.jobs.wait(timeout=30)
    failed = alice.jobs.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "ValueError: the disk is full"
    assert (failed.done, failed.total, failed.result) == (5, 10, None)
    [message] = outbox.take()
    assert message.to == ("alice@example.com",)
    assert message.subject == f"Your job {job.id} (broken) has ended: failed"
    assert "Error: ValueError: the disk is full" in message.text


def test_an_unknown_kind_is_refused_before_anything_is_stored(jcrm: CRM) -> None:
    from opencrm.core.services.jobs import start_job

    alice = session(jcrm, "alice")
    with pytest.raises(ValidationError):
        start_job(alice.jobs._s, "nothing-like-it", {})
    with pytest.raises(ValidationError):
        start_job(alice.jobs._s, "export", {"when": object()})
    assert list(alice.jobs.list()) == []


def test_cancel_stops_a_running_job_between_batches(jcrm: CRM) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(run: JobRun) -> Mapping[str, Any]:
        done = 0
        while not run.stop_requested():
            done += 1
            run.progress(done, None)
            started.set()
            release.wait(5)
        return {"stopped_after": done}

    jcrm.jobs.register("slow", slow)
    from opencrm.core.services.jobs import start_job

    alice = session(jcrm, "alice")
    job = start_job(alice.jobs._s, "slow", {})
    assert started.wait(10)
    asked = alice.jobs.cancel(job.id)
    assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
    release.set()
    jcrm.jobs.wait(timeout=30)
    ended = alice.jobs.get(job.id)
    assert ended.status is JobStatus.CANCELLED
    assert ended.summary == {"stopped_after": 1}
    assert alice.jobs.cancel(job.id) == ended  # a finished job stays as it is


def test_a_queued_job_is_cancelled_at_once_and_never_runs(engine, tmp_path, clock, outbox) -> None:  # type: ignore[no-untyped-def]
    queue = TakeJobs()
    crm = open_crm(engine, tmp_path, clock=clock, outbox=outbox, plugins=[queue])
    alice = session(crm, "alice")
    job = alice.exports.start("contacts")
    assert queue.queue == [job.id]
    cancelled = alice.jobs.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.finished_at == clock.now
    assert crm.jobs.run(job.id) is None  # the worker finds nothing to do
    assert alice.jobs.get(job.id).status is JobStatus.CANCELLED


def test_a_host_worker_runs_the_job_by_id_from_the_database(
    engine, tmp_path, clock, outbox
) -> None:  # type: ignore[no-untyped-def]
    queue = TakeJobs()
    web = open_crm(engine, tmp_path, clock=clock, outbox=outbox, plugins=[queue])
    alice = session(web, "alice")
    alice.contacts.add_company("Acme")
    job = alice.exports.start("contacts", format="xlsx", kind="company")
    assert web.jobs.wait(timeout=1) is True  # no thread was started
    assert alice.jobs.get(job.id).status is JobStatus.QUEUED
    # The worker: another CRM on the same database and file store, given only the id.
    worker = open_crm(engine, tmp_path, clock=clock, outbox=outbox)
    ran = worker.jobs.run(queue.queue.pop())
    assert ran is not None
    assert ran.status is JobStatus.SUCCEEDED
    assert alice.jobs.get(job.id).summary["rows"] == 1
    assert worker.jobs.run(job.id) is None  # claimed once
    [message] = outbox.take()
    assert message.subject == "Your export is ready"
    assert f"(1 rows, job {job.id})" in message.text


class ProcessDied(BaseException):
    """Stands for the process being killed mid-job: nothing in opencrm catches it."""


def test_a_job_left_running_by_a_dead_process_is_reported_stalled(
    engine, tmp_path, clock, outbox
) -> None:  # type: ignore[no-untyped-def]
    queue = TakeJobs()
    crm = open_crm(engine, tmp_path, clock=clock, outbox=outbox, plugins=[queue])

    def dies(run: JobRun) -> None:
        run.progress(7, 100)
        raise ProcessDied

    crm.jobs.register("dies", dies)
    from opencrm.core.services.jobs import start_job

    alice = session(crm, "alice")
    job = start_job(alice.jobs._s, "dies", {})
    with pytest.raises(ProcessDied):
        crm.jobs.run(job.id)
    seen = alice.jobs.get(job.id)
    assert (seen.status, seen.done, seen.stalled) == (JobStatus.RUNNING, 7, False)
    with pytest.raises(Conflict):
        alice.jobs.delete(job.id)
    clock.now += crm.jobs.stalled_after + dt.timedelta(seconds=1)
    stalled = alice.jobs.get(job.id)
    assert (stalled.status, stalled.stalled) == (JobStatus.RUNNING, True)
    cancelled = alice.jobs.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert not cancelled.stalled
    alice.jobs.delete(job.id)
    with pytest.raises(NotFound):
        alice.jobs.get(job.id)


def test_deleting_a_finished_job_removes_its_file(jcrm: CRM) -> None:
    alice = session(jcrm, "alice")
    job = alice.exports.start("cases")
    jcrm.jobs.wait(timeout=30)
    file_id = alice.jobs.get(job.id).result.file_id
    assert jcrm.file_store is not None
    assert jcrm.file_store.open(file_id).startswith(b"\xef\xbb\xbf")
    alice.jobs.delete(job.id)
    with pytest.raises(NotFound):
        jcrm.file_store.open(file_id)
    with pytest.raises(NotFound):
        alice.jobs.download(job.id)


def test_a_job_without_a_result_has_nothing_to_download(jcrm: CRM) -> None:
    jcrm.jobs.register("quiet", lambda run: {"ok": True})
    from opencrm.core.services.jobs import start_job

    alice = session(jcrm, "alice")
    job = start_job(alice.jobs._s, "quiet", {})
    jcrm.jobs.wait(timeout=30)
    assert alice.jobs.get(job.id).summary == {"ok": True}
    with pytest.raises(NotFound):
        alice.jobs.download(job.id)


def test_a_kind_name_is_registered_once(jcrm: CRM) -> None:
    with pytest.raises(ValueError, match="registered already"):
        jcrm.jobs.register("export", lambda run: None)
    assert {"export", "full_export"} <= set(jcrm.jobs.kinds())


def test_wait_reports_a_timeout(jcrm: CRM) -> None:
    release = threading.Event()
    jcrm.jobs.register("blocked", lambda run: release.wait(10) and None)
    from opencrm.core.services.jobs import start_job

    start_job(session(jcrm, "alice").jobs._s, "blocked", {})
    t0 = time.monotonic()
    assert jcrm.jobs.wait(timeout=0.2) is False
    assert time.monotonic() - t0 < 5
    release.set()
    assert jcrm.jobs.wait(timeout=30) is True


def test_a_result_that_fails_midway_leaves_no_file(jcrm: CRM, tmp_path: Any) -> None:
    def chunks() -> Any:
        yield b"a,b\r\n"
        raise OSError("the database went away")

    def half(run: JobRun) -> None:
        run.save_result("half.csv", "text/csv", chunks())

    def whole_then_fail(run: JobRun) -> None:
        run.save_result("whole.csv", "text/csv", [b"a,b\r\n"])
        raise RuntimeError("after the file")

    jcrm.jobs.register("half", half)
    jcrm.jobs.register("whole_then_fail", whole_then_fail)
    from opencrm.core.services.jobs import start_job

    alice = session(jcrm, "alice")
    first = start_job(alice.jobs._s, "half", {})
    second = start_job(alice.jobs._s, "whole_then_fail", {})
    jcrm.jobs.wait(timeout=30)
    assert alice.jobs.get(first.id).error == "OSError: the database went away"
    assert alice.jobs.get(second.id).error == "RuntimeError: after the file"
    assert alice.jobs.get(second.id).result is None
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == []


def test_an_in_memory_database_runs_jobs_inline(tmp_path: Any) -> None:
    crm = CRM.open(
        "sqlite://", load_entrypoints=False, file_store=LocalFileStore(tmp_path / "files")
    )
    try:
        s = crm.session(User(id="alice"))
        for i in range(3):
            s.contacts.add_person(f"P{i}")
        job = s.exports.start("contacts")
        s.contacts.add_person("Later")  # the connection is free again at once
        done = s.jobs.get(job.id)
        assert done.status is JobStatus.SUCCEEDED
        assert done.done == 3
        assert crm.jobs.threads is False
    finally:
        crm.close()
