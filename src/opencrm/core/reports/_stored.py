"""Generated report files, kept per user, and the repository port that keeps them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

__all__ = ["GeneratedReport", "GeneratedReportRepository"]


@attrs.frozen(kw_only=True)
class GeneratedReport:
    """A report file a user generated (its bytes are read with ``reports.download``)."""

    id: int
    user_id: str
    report_type: str
    title: str
    parameters: Mapping[str, Any]
    file_name: str
    content_type: str
    size: int
    created_at: dt.datetime


class GeneratedReportRepository(Protocol):
    def add(self, report: GeneratedReport, content: bytes) -> GeneratedReport:
        """Store a file (its ``id`` is ignored); return it as stored."""

    def list(self, user_id: str) -> Sequence[GeneratedReport]:
        """The user's files, newest first."""

    def get(self, report_id: int) -> GeneratedReport | None: ...

    def content(self, report_id: int) -> bytes | None: ...

    def delete(self, report_id: int) -> None: ...

    def delete_oldest(self, user_id: str, keep: int) -> int:
        """Delete the user's files beyond the newest ``keep``; return how many went."""
