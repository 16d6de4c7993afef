"""Imports as jobs, on every backend: the stored upload read back by the ``import`` job, its
progress, its report as the job's summary, cancellation between batches, the owner's
"import finished" notification, and the checks made before anything is stored."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from opencrm import CRM, InMemoryUserDirectory, JobStatus, LocalFileStore, OutboxNotifier, User
from opencrm.errors import NotConfigured, ValidationError

USERS = [
    User(id="admin", name="Ada", email="ada@example.com", crm_admin=True),
    User(id="alice", name="Alice", email="alice@example.com"),
    User(id="bob", name="Bob", email="bob@example.com"),
]
MAPPING = {"first_name": "First", "last_name": "Last", "email": "Email"}


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


@pytest.fixture
def jcrm(engine: Any, tmp_path: Any, outbox: OutboxNotifier) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        notifier=outbox,
        file_store=LocalFileStore(tmp_path / "files"),
    )


def session(crm: CRM, user_id: str) -> Any:
    return crm.session(next(u for u in USERS if u.id == user_id))


def people_csv(n: int, bad_every: int = 0) -> bytes:
    lines = ["First,Last,Email"]
    for i in range(1, n + 1):
        email = "not-mail" if bad_every and i % bad_every == 0 else f"p{i}@example.com"
        lines.append(f"P{i},Smith,{email}")
    return ("\r\n".join(lines) + "\r\n").encode()


def test_an_import_job_reads_the_stored_file_and_reports(jcrm: CRM, outbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    alice = session(jcrm, "alice")
    job = alice.imports.start(
        "contacts",
        people_csv(5, bad_every=4),
        MAPPING,
        filename="people.csv",
        defaults={"tags": ["fair"]},
        batch_size=2,
    )
    assert (job.kind, job.owner, job.status) == ("import", "alice", JobStatus.QUEUED)
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == [job.params["file_id"]]
    assert jcrm.jobs.wait(timeout=60)
    done = alice.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert (done.done, done.total, done.result) == (5, 5, None)
    summary = dict(done.summary)
    created_ids = summary.pop("created_ids")
    assert summary == {
        "kind": "contacts",
        "dry_run": False,
        "rows": 5,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 1,
        "companies_created": 0,
        "issues": [
            {
                "row": 5,
                "column": "Email",
                "reason": "is not a valid e-mail address (An email address must have an @-sign.)",
                "outcome": "rejected",
            }
        ],
        "issues_left_off": 0,
        "updated_ids": [],
        "cancelled": False,
        "stopped_at": None,
        "committed": True,
    }
    ids = sorted(c.id for c in alice.contacts.list())
    assert sum(b - a + 1 for a, b in created_ids) == 4
    assert [i for a, b in created_ids for i in range(a, b + 1)] == ids
    assert {c.tags for c in alice.contacts.list()} == {frozenset({"fair"})}
    # The upload lived only as long as the job.
    assert list((tmp_path / "files").iterdir()) == []
    [message] = outbox.take()
    assert message.to == ("alice@example.com",)
    assert message.subject == "Your import has finished"
    assert f"(job {job.id}): 5 rows, 4 created, 0 updated, 0 unchanged, 0 skipped, 1 rejected." in (
        message.text
    )


def test_an_xlsx_import_job_and_a_dry_run(jcrm: CRM) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["First", "Last", "Email"])
    ws.append(["Ada", "Lovelace", "ada@example.com"])
    ws.append(["Bob", "Marley", "bob@example.com"])
    buffer = io.BytesIO()
    wb.save(buffer)
    alice = session(jcrm, "alice")
    dry = alice.imports.start(
        "contacts", io.BytesIO(buffer.getvalue()), MAPPING, filename="p.xlsx", dry_run=True
    )
    jcrm.jobs.wait(timeout=60)
    ended = alice.jobs.get(dry.id)
    assert ended.status is JobStatus.SUCCEEDED, ended.error
    assert {k: ended.summary[k] for k in ("dry_run", "created", "committed")} == {
        "dry_run": True,
        "created": 2,
        "committed": False,
    }
    assert list(alice.contacts.list()) == []
    real = alice.imports.start("contacts", buffer.getvalue(), MAPPING, filename="p.xlsx")
    jcrm.jobs.wait(timeout=60)
    assert alice.jobs.get(real.id).summary["created"] == 2
    assert sorted(c.display_name for c in alice.contacts.list()) == ["Ada Lovelace", "Bob Marley"]


def test_cancelling_stops_the_import_between_batches(jcrm: CRM, outbox) -> None:  # type: ignore[no-untyped-def]
    alice = session(jcrm, "alice")
    seen: list[int] = []
    original = jcrm.jobs._kinds["import"]

    def cancel_after_first_batch(run: Any) -> Any:
        # The owner cancels while the job runs: after its first progress report.
        report = run.progress

        def progress(done: int, total: int | None = None) -> None:
            report(done, total)
            seen.append(done)
            if len(seen) == 1:
                alice.jobs.cancel(run.job_id)

        run.progress = progress
        return original(run)

    jcrm.jobs._kinds["import"] = cancel_after_first_batch
    job = alice.imports.start("contacts", people_csv(10), MAPPING, batch_size=3)
    jcrm.jobs.wait(timeout=60)
    ended = alice.jobs.get(job.id)
    assert ended.status is JobStatus.CANCELLED
    assert seen == [3, 3]  # after the first batch, then the final count
    assert {k: ended.summary[k] for k in ("rows", "created", "cancelled", "stopped_at")} == {
        "rows": 3,
        "created": 3,
        "cancelled": True,
        "stopped_at": 4,
    }
    assert len(list(alice.contacts.list())) == 3
    [message] = outbox.take()
    assert message.subject == f"Your job {job.id} (import) has ended: cancelled"


def test_an_unreadable_file_fails_the_job_with_the_reason(jcrm: CRM) -> None:
    alice = session(jcrm, "alice")
    job = alice.imports.start(
        "contacts",
        b"First,Last\n\xe9t\xe9,x\n",
        {"first_name": "First"},
        reader={"encoding": "utf-8"},
    )
    jcrm.jobs.wait(timeout=60)
    ended = alice.jobs.get(job.id)
    assert ended.status is JobStatus.FAILED
    assert ended.error == (
        "file: row 2: byte 11 (0xe9) is not utf-8 text; give the file's encoding"
    )
    missing = alice.imports.start("contacts", people_csv(1), {"first_name": "Given"})
    jcrm.jobs.wait(timeout=60)
    assert alice.jobs.get(missing.id).error == "mapping.first_name: no column 'Given'"


def test_bad_options_are_refused_before_anything_is_stored(jcrm: CRM, tmp_path: Any) -> None:
    alice = session(jcrm, "alice")
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"mapping": {"colour": "C"}}, {"mapping.colour": "is not a field of a contact"}),
        ({"mapping": "everything"}, {"mapping": "must map fields to columns, or be 'export'"}),
        (
            {"defaults": {"access": "open"}},
            {"defaults.access": "must be one of private, read, read_write"},
        ),
        ({"on_duplicate": "merge"}, {"on_duplicate": "must be one of skip, update, create"}),
        (
            {"reader": {"colour": "x"}},
            {"reader.colour": "must be one of format, encoding, delimiter, quotechar, sheet"},
        ),
        ({"max_issues": 5000}, {"max_issues": "must be 0 to 1000"}),
        (
            {"mapping": "export", "defaults": {"access": "open"}},
            {"defaults.access": "must be one of private, read, read_write"},
        ),
        ({"file": b""}, {"file": "is empty"}),
    ]
    for change, errors in cases:
        args: dict[str, Any] = {"mapping": MAPPING, "file": people_csv(1), **change}
        with pytest.raises(ValidationError) as caught:
            alice.imports.start("contacts", args.pop("file"), args.pop("mapping"), **args)
        assert caught.value.errors == errors
    assert list(alice.jobs.list()) == []
    assert list((tmp_path / "files").iterdir()) == []


def test_an_import_job_needs_a_file_store(engine: Any) -> None:
    crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory(USERS))
    with pytest.raises(NotConfigured):
        session(crm, "alice").imports.start("contacts", people_csv(1), MAPPING)
