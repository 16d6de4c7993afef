"""The ``mass_mail`` job kind: runs ``session.mass_mail``'s batches as the job's owner and,
when the CRM has a file store, writes every recipient's outcome as the job's CSV result file
(the summary lists only those not sent, and at most 1,000 of them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencrm.core.jobs import JobRun
from opencrm.core.services.mass_mail import KIND, MassMailService
from opencrm.io._writers import csv_chunks

__all__ = ["RESULT_COLUMNS", "register_kinds"]

#: The columns of the result file, one row per recipient in contact id order.
RESULT_COLUMNS = ("contact_id", "email", "status", "reason")


def _mass_mail_kind(run: JobRun) -> Mapping[str, Any]:
    service: MassMailService = run.session.mass_mail
    outcomes: list[dict[str, Any]] = []
    summary = service._run(run, outcomes)
    if service._s._ctx.file_store is not None:
        rows = (
            [o["contact_id"], o["email"] or "", o["status"], o["reason"]]
            for o in sorted(outcomes, key=lambda o: o["contact_id"])
        )
        run.save_result(
            "mass-mail.csv", "text/csv; charset=utf-8", csv_chunks(RESULT_COLUMNS, rows)
        )
    return summary


def register_kinds(runner: Any) -> None:
    """Register the ``mass_mail`` job kind with a CRM's ``jobs``."""
    runner.register(KIND, _mass_mail_kind)
