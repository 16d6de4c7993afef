"""A session: the acting user, and the services that act for them."""

from __future__ import annotations

from types import TracebackType

from opencrm.core.services._base import Context, Service
from opencrm.core.services.cases import CaseService
from opencrm.core.services.contacts import ContactService
from opencrm.core.services.exports import ExportService
from opencrm.core.services.history import HistoryService
from opencrm.core.services.imports import ImportService
from opencrm.core.services.invoices import (
    CurrencyService,
    InvoiceService,
    ProductService,
    TaxService,
)
from opencrm.core.services.jobs import JobService
from opencrm.core.services.lists import CustomFieldService, ListService, SettingsService
from opencrm.core.services.mass_mail import MassMailService
from opencrm.core.services.opportunities import OpportunityService, StageService
from opencrm.core.services.reports import ReportService
from opencrm.core.services.search import SearchService
from opencrm.core.services.tasks import TaskService
from opencrm.core.services.voip import VoipService
from opencrm.core.services.web_forms import WebFormService
from opencrm.core.users import User

__all__ = ["Session"]


class Session:
    """Everything ``user`` may do, grouped by area: ``contacts``, ``lists``, ``fields``,
    ``settings``, ``opportunities``, ``stages``, ``cases``, ``tasks``, ``history``,
    ``invoices``, ``products``, ``taxes``, ``currencies``, ``voip``, ``jobs``, ``exports``,
    ``imports``, ``reports``, ``mass_mail``, ``search``, ``web_forms``.

    Every call is checked as this user and runs as one transaction, so a failed call leaves
    nothing behind. Get one with :meth:`opencrm.CRM.session`; ``with`` is optional.
    """

    def __init__(self, ctx: Context, user: User) -> None:
        if not isinstance(user, User):
            raise TypeError("a session needs an opencrm.User")
        self.user = user
        service = Service(ctx, user)
        self.contacts = ContactService(service)
        self.lists = ListService(service)
        self.fields = CustomFieldService(service)
        self.settings = SettingsService(service)
        self.invoices = InvoiceService(service)
        self.products = ProductService(service)
        self.taxes = TaxService(service)
        self.currencies = CurrencyService(service)
        self.opportunities = OpportunityService(service)
        self.cases = CaseService(service)
        self.stages = StageService(service)
        self.tasks = TaskService(service)
        self.history = HistoryService(service)
        self.voip = VoipService(service)
        self.jobs = JobService(service)
        self.exports = ExportService(service, self)
        self.imports = ImportService(service)
        self.reports = ReportService(service)
        self.mass_mail = MassMailService(service)
        self.search = SearchService(service)
        self.web_forms = WebFormService(service)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
