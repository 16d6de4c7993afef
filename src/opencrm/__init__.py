"""opencrm: an embeddable CRM library.

>>> from opencrm import CRM, User
>>> crm = CRM.open("sqlite://")          # in memory; "sqlite:///crm.db" keeps it on disk
>>> alice = User(id="alice", name="Alice", crm_admin=True)
>>> with crm.session(alice) as s:
...     acme = s.contacts.add_company("Acme Ltd", contact_type="Client", tags={"vip"})
...     bob = s.contacts.add_person("Bob", "Smith", company=acme, email="bob@acme.example")
...     [c.display_name for c in s.contacts.search("smi")]
['Bob Smith']
"""

from importlib.metadata import PackageNotFoundError, version

from opencrm.core.entities import (
    Access,
    Address,
    BidType,
    Case,
    Company,
    Contact,
    ContactInfo,
    CustomField,
    InfoType,
    ListItem,
    ListKind,
    Opportunity,
    Person,
    Stage,
    StageType,
    Tag,
)
from opencrm.core.entities.activities import (
    ALERT_OFFSETS,
    ContactPhoto,
    HistoryEvent,
    HistoryFile,
    Task,
)
from opencrm.core.entities.bulk import DuplicateCluster, DuplicateMatch, GroupResult, Refusal
from opencrm.core.entities.invoices import Invoice, InvoiceLine, InvoiceStatus, Product, Tax
from opencrm.core.entities.voip import (
    Call,
    CallDirection,
    CallLeg,
    OperatorStatus,
    VoipAccount,
    VoipNumber,
    VoipOperator,
    WorkingHours,
)
from opencrm.core.entities.web_forms import WebForm, WebFormKind, WebFormResult
from opencrm.core.events import AuditEntry, Event
from opencrm.core.fields import FieldType
from opencrm.core.files import CaseDocument, StoredFile
from opencrm.core.jobs import Job, JobResult, JobRun, JobStatus
from opencrm.core.money import Money
from opencrm.core.ports import Attachment, BatchNotifier, FileStore, Message, Notifier
from opencrm.core.query import Page
from opencrm.core.users import InMemoryUserDirectory, ModuleAccess, User, UserDirectory
from opencrm.crm import CRM
from opencrm.errors import (
    Conflict,
    InvalidTransition,
    MissingExchangeRates,
    NotConfigured,
    NotFound,
    OpenCRMError,
    PermissionDenied,
    ProviderError,
    RateLimited,
    SchemaOutdated,
    SchemaTooNew,
    StorageError,
    ValidationError,
)
from opencrm.plugins.builtin.notify import OutboxNotifier, SmtpNotifier
from opencrm.plugins.hookspecs import hookimpl
from opencrm.session import Session
from opencrm.storage.files import LocalFileStore
from opencrm.storage.sqlalchemy.joined import OuterTransaction

try:
    __version__ = version("opencrm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "ALERT_OFFSETS",
    "CRM",
    "Access",
    "Address",
    "Attachment",
    "AuditEntry",
    "BatchNotifier",
    "BidType",
    "Call",
    "CallDirection",
    "CallLeg",
    "Case",
    "CaseDocument",
    "Company",
    "Conflict",
    "Contact",
    "ContactInfo",
    "ContactPhoto",
    "CustomField",
    "DuplicateCluster",
    "DuplicateMatch",
    "Event",
    "FieldType",
    "FileStore",
    "GroupResult",
    "HistoryEvent",
    "HistoryFile",
    "InMemoryUserDirectory",
    "InfoType",
    "InvalidTransition",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Job",
    "JobResult",
    "JobRun",
    "JobStatus",
    "ListItem",
    "ListKind",
    "LocalFileStore",
    "Message",
    "MissingExchangeRates",
    "ModuleAccess",
    "Money",
    "NotConfigured",
    "NotFound",
    "Notifier",
    "OpenCRMError",
    "OperatorStatus",
    "Opportunity",
    "OutboxNotifier",
    "OuterTransaction",
    "Page",
    "PermissionDenied",
    "Person",
    "Product",
    "ProviderError",
    "RateLimited",
    "Refusal",
    "SchemaOutdated",
    "SchemaTooNew",
    "Session",
    "SmtpNotifier",
    "Stage",
    "StageType",
    "StorageError",
    "StoredFile",
    "Tag",
    "Task",
    "Tax",
    "User",
    "UserDirectory",
    "ValidationError",
    "VoipAccount",
    "VoipNumber",
    "VoipOperator",
    "WebForm",
    "WebFormKind",
    "WebFormResult",
    "WorkingHours",
    "__version__",
    "hookimpl",
]
