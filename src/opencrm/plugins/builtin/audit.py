"""The built-in audit trail: an append-only log of every change, written in its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opencrm.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from opencrm.core.events import Event
    from opencrm.core.ports import UnitOfWork
    from opencrm.crm import CRM


@hookimpl
def opencrm_before_commit(crm: CRM, uow: UnitOfWork, events: Sequence[Event]) -> None:
    uow.audit.append_many(events)
