"""The storage port of website contact forms (implemented in opencrm.storage)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from opencrm.core.entities.web_forms import WebForm

__all__ = ["WebFormRepository"]


class WebFormRepository(Protocol):
    def list(self) -> Sequence[WebForm]: ...

    def get(self, form_id: int) -> WebForm | None: ...

    def add(self, form: WebForm) -> WebForm: ...

    def update(self, form: WebForm) -> None: ...

    def delete(self, form_id: int) -> None: ...

    def count_post(self, form_id: int) -> None:
        """Add one to the form's count of accepted posts."""

    def hit(self, form_id: int, client: str, window: dt.datetime) -> int:
        """Count one post to ``form_id`` from ``client`` in the hour starting at ``window``
        and return how many there have been in it, this one included (atomic, so it holds
        across app servers). Older windows are dropped on the way."""
