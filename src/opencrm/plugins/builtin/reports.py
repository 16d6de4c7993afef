"""The ten built-in reports, registered like any plugin's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opencrm.core.reports import Report
from opencrm.core.reports.builtin import BUILTIN_REPORTS
from opencrm.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from opencrm.crm import CRM


@hookimpl
def opencrm_register_reports(crm: CRM) -> Sequence[type[Report]]:
    return BUILTIN_REPORTS
