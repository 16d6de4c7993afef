"""A demo CRM: realistic, seeded sample data created through the public API.

>>> from opencrm import CRM
>>> from opencrm.demo import build_demo, demo_directory
>>> crm = CRM.open("sqlite://", directory=demo_directory(), load_entrypoints=False)
>>> summary = build_demo(crm, contacts=20, seed=7)
>>> summary.companies, summary.persons
(5, 15)

The demo is the CRM of a small software company selling to the companies in it. Everything is
created the way a host application would create it: in the session of the user who owns the
record (so the creator becomes its manager), with contact infos, tags, custom field values,
access levels and co-managers, and tasks and history events for about half of the contacts;
opportunities at every stage (won and lost ones moved there from an open stage and closed on
a past day, some restricted to an access list) with their next steps and history; cases,
some closed or restricted; and, set up by the admin, the seller, a default currency,
exchange rates, taxes and products, with invoices in every status and several currencies.
History events get small text files when the CRM has a file store. The same ``seed`` gives
the same data (due times and dates are spread around the day the demo is built).

>>> sorted(summary.invoices)
['billed', 'draft', 'paid', 'rejected']

:func:`create_demo_file` builds a SQLite file, with its files in
:func:`demo_files_directory`, and marks it as a demo database, so that it can later be
replaced without touching files that hold real data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import shutil
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from moneyed import Money

from opencrm.core.entities.contacts import Access, Company, Contact, InfoType, Person
from opencrm.core.entities.deals import Case, Opportunity
from opencrm.core.entities.invoices import Invoice, InvoiceStatus
from opencrm.core.entities.lists import ListKind, StageType
from opencrm.core.permissions import can_read_contact
from opencrm.core.users import InMemoryUserDirectory, User
from opencrm.crm import CRM
from opencrm.errors import Conflict, ValidationError
from opencrm.session import Session
from opencrm.storage.files import LocalFileStore

__all__ = [
    "DEFAULT_CONTACTS",
    "DEFAULT_SEED",
    "DEMO_USERS",
    "NO_VALUE",
    "DemoSummary",
    "NotADemoDatabase",
    "build_demo",
    "create_demo_file",
    "demo_directory",
    "demo_files_directory",
    "is_demo_file",
]

DEFAULT_CONTACTS = 80
DEFAULT_SEED = 1
#: The key counting records without a contact type or temperature in :class:`DemoSummary`.
NO_VALUE = "(none)"
#: ``PRAGMA application_id`` of a demo file ("ocDm"): how a demo file is told from real data.
DEMO_APPLICATION_ID = 0x6F63446D

DEMO_USERS: tuple[User, ...] = (
    User(id="admin", name="Ada Admin", email="ada@crm-demo.example", crm_admin=True),
    User(id="alice", name="Alice Martin", email="alice@crm-demo.example", groups={"sales"}),
    User(id="bruno", name="Bruno Keller", email="bruno@crm-demo.example", groups={"sales"}),
    User(id="chloe", name="Chloé Dubois", email="chloe@crm-demo.example", groups={"sales"}),
    User(id="dev", name="Dev Patel", email="dev@crm-demo.example", groups={"sales"}),
)

INDUSTRY_SEGMENT = "Industry segment"
NEWSLETTER = "Newsletter"
CONTRACT_RENEWAL = "Contract renewal"
SEGMENTS = {
    "Logistics": ("Logistics", "Freight", "Transport"),
    "Software": ("Software", "Systems", "Digital"),
    "Manufacturing": ("Engineering", "Manufacturing", "Tools"),
    "Retail": ("Retail", "Stores", "Trading"),
    "Healthcare": ("Health", "Medical", "Care"),
    "Financial services": ("Capital", "Finance", "Insurance"),
    "Energy": ("Energy", "Solar", "Power"),
}
#: Contract renewal dates are spread around this date, so a seed always gives the same data.
RENEWAL_ANCHOR = dt.date(2027, 1, 1)

#: (task category, title) of the demo tasks; ``{name}`` is the contact's name.
DEMO_TASKS = (
    ("Phone call", "Call {name} about the offer"),
    ("Phone call", "Follow-up call with {name}"),
    ("Email", "Send {name} the price list"),
    ("Email", "Answer {name}'s questions on delivery times"),
    ("Appointment", "Meeting with {name}"),
    ("Demo", "Product demo for {name}"),
    ("Execution control", "Check that {name} received the order"),
    ("Delivery", "Ship samples to {name}"),
    ("Expression of gratitude", "Thank {name} for the referral"),
    ("Lunch", "Lunch with {name}"),
)
#: (history category, content) of the demo history events.
DEMO_EVENTS = (
    ("Phone call", "Spoke with {name}: interested, wants a quote by the end of the month."),
    ("Phone call", "Called {name}, left a message."),
    ("Email", "Sent {name} the brochure and our general terms."),
    ("Email", "{name} asked for references from customers in the same industry."),
    ("Appointment", "Met {name} at their office; discussed the roll-out plan."),
    ("Note", "{name} prefers to be contacted in the morning."),
    ("Note", "Budget for next year is decided in March, according to {name}."),
)
DEMO_ALERTS = (0, 15, 60, 1440, 1440)

# --- the pipeline, cases and billing ---------------------------------------------------------

#: The company the demo CRM belongs to: the seller on its invoices.
ORGANISATION = {
    "name": "Lumen Software GmbH",
    "address": {"street": "Torstraße 128", "city": "Berlin", "zip": "10119", "country": "Germany"},
}
DEMO_CURRENCY = "EUR"
#: What one unit of each currency of the demo is worth in euros (the stored exchange rates).
EURO_VALUES = {"EUR": Decimal(1), "GBP": Decimal("1.17"), "USD": Decimal("0.92")}
#: (name, rate in percent, description) of the demo taxes.
DEMO_TAXES = (("VAT", "19", "Standard rate"), ("Reduced VAT", "7", "Printed matter"))
#: (title, SKU, price in the default currency, tax names, tracked stock or None, quantities).
DEMO_PRODUCTS = (
    ("CRM Cloud licence (user/month)", "LIC-USER", "29.00", ("VAT",), None, (10, 25, 40)),
    ("Onboarding workshop (day)", "SRV-ONB", "1200.00", ("VAT",), None, (1, 2, 3)),
    ("Data migration (fixed price)", "SRV-MIG", "2500.00", ("VAT",), None, (1,)),
    ("Premium support (year)", "SUP-PREM", "4800.00", ("VAT",), None, (1,)),
    ("Training session (hour)", "SRV-TRN", "150.00", ("VAT",), None, (4, 8, 16)),
    ("Barcode scanner", "HW-SCAN", "189.00", ("VAT",), 800, (2, 5, 10)),
    ("Printed user guide", "DOC-GUIDE", "24.50", ("Reduced VAT",), 2500, (10, 20, 50)),
)
LEAD_SOURCE = "Lead source"
LEAD_SOURCES = ("Website", "Trade fair", "Referral", "Cold call", "Partner")
PRIORITY = "Priority"
PRIORITIES = ("Low", "Normal", "High", "Urgent")
#: Opportunity titles; ``{company}`` is the company's first word.
DEAL_TITLES = (
    "{company}: CRM roll-out",
    "{company}: support renewal",
    "{company}: data migration",
    "{company}: onboarding and training",
    "{company}: scanners for the warehouse",
    "{company}: licence upgrade",
    "{company}: second site",
)
DEAL_BUDGETS = (4800, 7500, 12000, 18500, 25000, 42000, 65000, 90000)
#: The share of opportunities closed as won and as lost (the rest are open).
WON_SHARE, LOST_SHARE = 0.2, 0.15
LOST_REASONS = (
    "Lost to a competitor on price.",
    "Project postponed to next year; budget frozen.",
    "They chose to build it in-house.",
)
#: (case title, first history note) of the demo cases.
DEMO_CASES = (
    ("Login problems after the update", "Users report that the single sign-on fails since Monday."),
    ("Invoice questioned", "The client asks why the training hours were billed twice."),
    ("Scanner delivery delayed", "Two of the ordered scanners did not arrive."),
    ("GDPR data export request", "A former employee of the client asks for their data."),
    ("Integration with the accounting software", "Exports to the ledger stop at 500 rows."),
    ("Complaint about response times", "Support answered after three days; expected one."),
)
#: Small text files attached to history events: (file name, content).
DEMO_FILES = {
    "proposal": (
        "proposal.txt",
        "Proposal for {title}\n\nScope, schedule and prices as discussed.\n",
    ),
    "order": ("order-confirmation.txt", "Order confirmation: {title}\nSigned on {date}.\n"),
    "log": ("error-log.txt", "{date} 09:14:02 ERROR export stopped after 500 rows\n"),
}
#: When a task falls due, relative to the day the demo is built: (bucket, first day, last day).
DUE_BUCKETS = (("overdue", -10, -1), ("today", 0, 0), ("week", 1, 7), ("later", 8, 30))
#: The planned statuses of the demo invoices, in turn (each status within the first eight).
INVOICE_STATUSES = (
    InvoiceStatus.PAID,
    InvoiceStatus.BILLED,
    InvoiceStatus.DRAFT,
    InvoiceStatus.PAID,
    InvoiceStatus.REJECTED,
    InvoiceStatus.BILLED,
    InvoiceStatus.PAID,
    InvoiceStatus.DRAFT,
)


@attrs.frozen
class _Country:
    code: str
    name: str
    currency: str
    suffixes: tuple[str, ...]
    office: str  # phone pattern: each "#" becomes a random digit
    mobile: str
    cities: tuple[tuple[str, str, str], ...]  # (city, zip, state)
    streets: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]

    def phone(self, rng: random.Random, pattern: str) -> str:
        return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)

    def address(self, rng: random.Random) -> dict[str, str]:
        city, zip_code, state = rng.choice(self.cities)
        number = rng.randrange(1, 180)
        street = rng.choice(self.streets)
        line = f"{street} {number}" if self.code in ("DE", "NL") else f"{number} {street}"
        return {"street": line, "city": city, "state": state, "zip": zip_code, "country": self.name}


# Phone numbers come from ranges reserved for fiction where the country has one (UK 020 7946
# 0xxx and 07700 900xxx, US 555-01xx, FR 01 99 00 ...); all parse and are stored in E.164.
COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "GB",
        "United Kingdom",
        "GBP",
        ("Ltd", "plc"),
        "+44 20 7946 0###",
        "+44 7700 900###",
        (("London", "EC1A 1BB", ""), ("London", "SE1 9SG", ""), ("Manchester", "M1 1AE", "")),
        ("High Street", "Victoria Road", "Station Approach", "King's Parade"),
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Emily", "Jack", "Sophie"),
        ("Hughes", "Clarke", "Wright", "Evans", "Turner", "Morgan", "Bennett", "Shah"),
    ),
    _Country(
        "DE",
        "Germany",
        "EUR",
        ("GmbH", "AG"),
        "+49 30 901820##",
        "+49 151 2345####",
        (("Berlin", "10115", "Berlin"), ("Hamburg", "20095", "Hamburg"), ("Köln", "50667", "NRW")),
        ("Hauptstraße", "Lindenallee", "Schillerstraße", "Am Hafen"),
        ("Lukas", "Anna", "Felix", "Lena", "Jonas", "Marie", "Paul", "Hannah"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Wagner"),
    ),
    _Country(
        "FR",
        "France",
        "EUR",
        ("SA", "SARL"),
        "+33 1 99 00 ## ##",
        "+33 6 12 34 ## ##",
        (("Paris", "75002", ""), ("Lyon", "69002", ""), ("Bordeaux", "33000", "")),
        ("rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "quai des Chartrons"),
        ("Louis", "Camille", "Hugo", "Chloé", "Jules", "Léa", "Arthur", "Manon"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    ),
    _Country(
        "US",
        "United States",
        "USD",
        ("Inc.", "LLC"),
        "+1 202-555-01##",
        "+1 312-555-01##",
        (("Washington", "20001", "DC"), ("Chicago", "60601", "IL"), ("Austin", "78701", "TX")),
        ("Main Street", "Oak Avenue", "Market Street", "Lakeshore Drive"),
        ("James", "Olivia", "Michael", "Ava", "Daniel", "Mia", "Ethan", "Harper"),
        ("Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Anderson"),
    ),
    _Country(
        "NL",
        "Netherlands",
        "EUR",
        ("B.V.",),
        "+31 20 555 ####",
        "+31 6 1234 ####",
        (("Amsterdam", "1012 AB", ""), ("Rotterdam", "3011 AD", ""), ("Utrecht", "3511 LX", "")),
        ("Keizersgracht", "Damrak", "Coolsingel", "Oudegracht"),
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sara"),
        ("de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser", "Smit", "Meijer"),
    ),
)

STEMS = (
    "Nordlicht", "Harbour", "Bluefield", "Kestrel", "Vantage", "Silverline", "Alder",
    "Brightwater", "Copperleaf", "Ironbridge", "Meridian", "Oakridge", "Pinecrest", "Quayside",
    "Redwood", "Saltmarsh", "Thornbury", "Westgate", "Larkspur", "Ashdown", "Beacon",
    "Clearwater", "Driftwood", "Elmstead", "Foxglove", "Greystone", "Hollybrook", "Juniper",
    "Lindenhof", "Marlowe",
)  # fmt: skip
JOB_TITLES = (
    "CEO", "Managing Director", "CFO", "Head of Purchasing", "Sales Director",
    "Procurement Manager", "IT Manager", "Office Manager", "Operations Manager",
    "Marketing Lead", "Project Manager", "Accountant", "Account Executive",
)  # fmt: skip
DECISION_MAKERS = frozenset({"CEO", "Managing Director", "CFO", "Head of Purchasing"})

# (title, weight) for the draw; titles missing from the CRM's lists are skipped.
COMPANY_TYPES = (
    ("Client", 40),
    ("Supplier", 15),
    ("Partner", 12),
    ("Reseller", 8),
    ("Competitor", 5),
    (None, 20),
)
TEMPERATURES = (("Cold", 25), ("Warm", 30), ("Hot", 20), (None, 25))
COMPANY_ACCESS = ((Access.READ, 50), (Access.PRIVATE, 30), (Access.READ_WRITE, 20))
PERSON_ACCESS = ((Access.PRIVATE, 45), (Access.READ, 40), (Access.READ_WRITE, 15))


@attrs.frozen(kw_only=True)
class DemoSummary:
    """What :func:`build_demo` created, tallied from the records the API returned.

    Every mapping lists its keys in a stable order. ``by_type`` and ``by_temperature`` hold
    every item of the CRM's list (zero when unused) and :data:`NO_VALUE` for records without
    one; ``visible`` and ``managed`` say, per demo user id, how many contacts the access rules
    let that user read and how many name the user as a manager.
    """

    seed: int
    users: tuple[User, ...]
    companies: int
    persons: int
    by_type: Mapping[str, int]
    by_temperature: Mapping[str, int]
    by_access: Mapping[str, int]
    by_tag: Mapping[str, int]
    infos: Mapping[str, int]
    custom_fields: Mapping[str, str]  # label -> "type, entity type"
    custom_values: Mapping[str, int]  # label -> records (contacts, opportunities, cases) with one
    visible: Mapping[str, int]
    managed: Mapping[str, int]
    tasks: int = 0
    open_tasks: int = 0
    by_task_category: Mapping[str, int] = attrs.field(factory=dict)
    #: Open tasks by when they fall due: ``overdue``, ``today``, ``week`` (the next 7 days).
    tasks_due: Mapping[str, int] = attrs.field(factory=dict)
    history: int = 0
    files: int = 0  # files attached to history events
    currency: str = ""  # the default currency: pipeline values are in it
    opportunities: int = 0
    restricted_opportunities: int = 0
    #: Stage title -> (opportunities, their budgets in ``currency``), every stage in order.
    pipeline: Mapping[str, tuple[int, Decimal]] = attrs.field(factory=dict)
    cases: int = 0
    closed_cases: int = 0
    restricted_cases: int = 0
    products: int = 0
    taxes: Mapping[str, Decimal] = attrs.field(factory=dict)  # name -> rate in percent
    exchange_rates: Mapping[str, Decimal] = attrs.field(factory=dict)  # "GBP/EUR" -> rate
    #: Invoice status -> currency -> (invoices, their total), every status in order.
    invoices: Mapping[str, Mapping[str, tuple[int, Decimal]]] = attrs.field(factory=dict)

    @property
    def total(self) -> int:
        return self.companies + self.persons


class NotADemoDatabase(Conflict):
    """:func:`create_demo_file` refuses to replace a file that is not a demo database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path} exists and is not an opencrm demo database")


def demo_directory() -> InMemoryUserDirectory:
    """A user directory holding :data:`DEMO_USERS` (open the demo CRM with it)."""
    return InMemoryUserDirectory(DEMO_USERS)


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss").replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@attrs.define
class _Builder:
    crm: CRM
    rng: random.Random
    users: tuple[User, ...]
    sessions: dict[str, Session] = attrs.field(factory=dict)
    contacts: dict[int, Contact] = attrs.field(factory=dict)
    type_ids: dict[str, int] = attrs.field(factory=dict)
    temperature_ids: dict[str, int] = attrs.field(factory=dict)
    company_meta: dict[int, tuple[_Country, str, str]] = attrs.field(factory=dict)
    task_categories: Counter[str] = attrs.field(factory=Counter)
    tasks_due: Counter[str] = attrs.field(factory=Counter)
    open_tasks: int = 0
    history: int = 0
    files: int = 0
    staff: dict[int, list[int]] = attrs.field(factory=dict)  # company id -> person ids
    today: dt.datetime = attrs.field(
        factory=lambda: dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    )
    currency: str = DEMO_CURRENCY
    products: list[int] = attrs.field(factory=list)
    quantities: dict[int, tuple[int, ...]] = attrs.field(factory=dict)  # by product id
    opportunities: list[Opportunity] = attrs.field(factory=list)
    cases: list[Case] = attrs.field(factory=list)
    invoices: list[Invoice] = attrs.field(factory=list)

    @property
    def admin(self) -> Session:
        return self.sessions[self.users[0].id]

    @property
    def sales(self) -> list[User]:
        return [u for u in self.users if not u.crm_admin]

    def setup(self) -> None:
        self.sessions = {u.id: self.crm.session(u) for u in self.users}
        s = self.admin
        known_types = {i.title for i in s.lists.items(ListKind.CONTACT_TYPE)}
        if "Reseller" not in known_types:
            s.lists.add(ListKind.CONTACT_TYPE, "Reseller", description="Sells our products on")
        known_tags = {t.title for t in s.lists.tags()}
        for tag in ("Key account", "Decision maker", "Trade fair 2026"):
            if tag not in known_tags:
                s.lists.add_tag(tag)
        labels = {f.label for f in s.fields.list()}
        if INDUSTRY_SEGMENT not in labels:
            s.fields.add("company", INDUSTRY_SEGMENT, "select", {"choices": list(SEGMENTS)})
        if NEWSLETTER not in labels:
            s.fields.add("person", NEWSLETTER, "checkbox")
        if CONTRACT_RENEWAL not in labels:
            s.fields.add("company", CONTRACT_RENEWAL, "date")
        if LEAD_SOURCE not in labels:
            s.fields.add("opportunity", LEAD_SOURCE, "select", {"choices": list(LEAD_SOURCES)})
        if PRIORITY not in labels:
            s.fields.add("case", PRIORITY, "select", {"choices": list(PRIORITIES)})
        self.billing_setup()
        self.type_ids = {i.title: i.id for i in s.lists.items(ListKind.CONTACT_TYPE)}
        self.temperature_ids = {i.title: i.id for i in s.lists.items(ListKind.TEMPERATURE)}

    def _title(self, weighted: Sequence[tuple[str | None, int]], known: Mapping[str, int]) -> Any:
        return _pick(self.rng, [(t, w) for t, w in weighted if t is None or t in known])

    def _store(self, contact: Contact) -> Contact:
        self.contacts[contact.id] = contact
        return contact

    def company_names(self, count: int) -> list[tuple[str, str, str]]:
        """``count`` unique (stem, word, segment) triples, shuffled."""
        combos = [
            (stem, word, seg) for seg, words in SEGMENTS.items() for word in words for stem in STEMS
        ]
        self.rng.shuffle(combos)
        picked = combos[:count]
        n = 2
        while len(picked) < count:  # more companies than combinations: number them
            picked += [(f"{s} {n}", w, seg) for s, w, seg in combos[: count - len(picked)]]
            n += 1
        return picked

    def add_company(self, stem: str, word: str, segment: str) -> Company:
        rng = self.rng
        country = rng.choice(COUNTRIES)
        name = f"{stem} {word} {rng.choice(country.suffixes)}"
        domain = f"{_ascii(stem)}-{_ascii(word)}.example"
        owner = rng.choice(self.sales)
        contact_type = self._title(COMPANY_TYPES, self.type_ids)
        temperature = self._title(TEMPERATURES, self.temperature_ids)
        tags = []
        if contact_type == "Client":
            tags.append("Customer")
            if rng.random() < 0.25:
                tags.append("Key account")
        elif contact_type == "Supplier":
            tags.append("Supplier")
        elif contact_type is None and temperature is not None:
            tags.append("Lead")
        if rng.random() < 0.15:
            tags.append("Trade fair 2026")
        custom: dict[str, Any] = {}
        if rng.random() < 0.85:
            custom[INDUSTRY_SEGMENT] = segment
        if contact_type == "Client" and rng.random() < 0.8:
            custom[CONTRACT_RENEWAL] = RENEWAL_ANCHOR + dt.timedelta(days=rng.randrange(-60, 365))
        infos: list[dict[str, Any]] = [
            {"type": "address", "value": country.address(rng), "category": "office"}
        ]
        if rng.random() < 0.2:
            infos.append(
                {"type": "phone", "value": country.phone(rng, country.office), "category": "fax"}
            )
        city = infos[0]["value"]["city"]
        company = self.sessions[owner.id].contacts.add_company(
            name,
            industry=f"{word} ({segment.lower()})",
            email=f"info@{domain}",
            phone=country.phone(rng, country.office),
            website=f"https://www.{domain}",
            infos=infos,
            contact_type=contact_type,
            temperature=temperature,
            tags=tags,
            currency=country.currency,
            about=f"{segment} company based in {city}.",
            access=_pick(rng, COMPANY_ACCESS),
            custom=custom,
        )
        self.company_meta[company.id] = (country, domain, owner.id)
        return self._store(company)  # type: ignore[return-value]

    def add_person(self, company: Company | None, used_names: set[tuple[str, str]]) -> Person:
        rng = self.rng
        if company is not None:
            country, domain, company_owner = self.company_meta[company.id]
        else:
            country, domain, company_owner = rng.choice(COUNTRIES), "", ""
        for _ in range(20):
            first, last = rng.choice(country.first_names), rng.choice(country.last_names)
            if (first, last) not in used_names:
                break
        used_names.add((first, last))
        if not domain:
            domain = f"{_ascii(last)}-consulting.example"
        job_title = rng.choice(JOB_TITLES) if company is not None else "Independent consultant"
        # The owner must be able to read the company to link to it.
        owner_id = company_owner if company_owner and rng.random() < 0.75 else ""
        if not owner_id:
            owner_id = rng.choice(self.sales).id
        if company is not None and not can_read_contact(self._user(owner_id), company):
            owner_id = company_owner
        if company is not None and rng.random() < 0.7:
            contact_type = next(
                (t for t, i in self.type_ids.items() if i == company.contact_type_id), None
            )
        else:
            contact_type = rng.choice(["Partner", None]) if company is None else None
        temperature = self._title(TEMPERATURES, self.temperature_ids)
        tags = []
        if job_title in DECISION_MAKERS:
            tags.append("Decision maker")
        if company is not None and "Lead" in company.tags and rng.random() < 0.6:
            tags.append("Lead")
        newsletter = _pick(rng, ((True, 40), (False, 20), (None, 40)))
        email_local = f"{_ascii(first)}.{_ascii(last)}"
        infos: list[dict[str, Any]] = []
        if rng.random() < 0.6:
            infos.append(
                {"type": "phone", "value": country.phone(rng, country.office), "category": "direct"}
            )
        if rng.random() < 0.2:
            slug = f"{_ascii(first)}-{_ascii(last)}-{rng.randrange(100, 999)}"
            infos.append({"type": "linkedin", "value": f"https://www.linkedin.com/in/{slug}"})
        person = self.sessions[owner_id].contacts.add_person(
            first,
            last,
            job_title=job_title,
            company=company,
            email=f"{email_local}@{domain}",
            infos=infos,
            contact_type=contact_type,
            temperature=temperature,
            tags=tags,
            access=_pick(rng, PERSON_ACCESS),
            custom={NEWSLETTER: newsletter} if newsletter is not None else {},
        )
        self._store(person)
        if company is not None:
            self.staff.setdefault(company.id, []).append(person.id)
        contacts = self.sessions[owner_id].contacts
        if rng.random() < 0.5:  # added later, as one does when the card arrives
            info = contacts.add_info(
                person.id, InfoType.PHONE, country.phone(rng, country.mobile), category="mobile"
            )
            person = attrs.evolve(person, infos=(*person.infos, info))
        if rng.random() < 0.1:
            info = contacts.add_info(
                person.id, InfoType.ADDRESS, country.address(rng), category="home"
            )
            person = attrs.evolve(person, infos=(*person.infos, info))
        return self._store(person)  # type: ignore[return-value]

    def _user(self, user_id: str) -> User:
        return next(u for u in self.users if u.id == user_id)

    def share(self) -> None:
        """Give some contacts a co-manager and hand a few over to a colleague."""
        rng = self.rng
        for contact_id in sorted(self.contacts):
            contact = self.contacts[contact_id]
            roll = rng.random()
            if roll >= 0.25:
                continue
            owner = sorted(contact.managers)[0]
            others = [u.id for u in self.sales if u.id != owner]
            colleague = rng.choice(others)
            managers = {owner, colleague} if roll < 0.2 else {colleague}
            updated = self.sessions[owner].contacts.set_access(contact_id, managers=managers)
            self._store(updated)

    def activities(self) -> None:
        """Tasks (some overdue, some closed) and history events for about half the contacts,
        created by one of each contact's managers."""
        rng = self.rng
        for contact_id in sorted(self.contacts):
            contact = self.contacts[contact_id]
            session = self.sessions[sorted(contact.managers)[0]]
            name = contact.display_name
            if rng.random() < 0.45:
                for _ in range(rng.choice((1, 1, 2))):
                    category, title = rng.choice(DEMO_TASKS)
                    days = rng.randint(-10, 30)
                    self.task(session, title.format(name=name), category, days, contact=contact_id)
            if rng.random() < 0.4:
                for _ in range(rng.randint(1, 3)):
                    category, content = rng.choice(DEMO_EVENTS)
                    when = self.today - dt.timedelta(
                        days=rng.randint(1, 90), hours=rng.randint(0, 8)
                    )
                    self.event(
                        session, content.format(name=name), category, when, contact=contact_id
                    )

    def task(
        self,
        session: Session,
        title: str,
        category: str,
        days: int,
        *,
        may_close: bool = True,
        **about: int,
    ) -> None:
        """A task due ``days`` from the demo's day (some overdue ones are closed already, if
        ``may_close``)."""
        rng = self.rng
        due = self.today + dt.timedelta(days=days, hours=rng.choice((0, 2, 5, 7)))
        task = session.tasks.add(
            title, due, category=category, alert=rng.choice(DEMO_ALERTS), notify=False, **about
        )
        self.task_categories[category] += 1
        if days < 0 and may_close and rng.random() < 0.6:
            session.tasks.close(task.id)  # writes a "Task closed" event
            self.history += 1
        else:
            self.open_tasks += 1
            self.tasks_due[next(b for b, low, high in DUE_BUCKETS if low <= days <= high)] += 1

    def event(
        self,
        session: Session,
        content: str,
        category: str,
        when: dt.datetime,
        file: tuple[str, str] | None = None,
        *,
        contact: int | None = None,
        opportunity: int | None = None,
        case: int | None = None,
    ) -> None:
        """A history event, with ``file`` (name, text) attached when the CRM stores files."""
        files = []
        if file is not None and self.crm.file_store is not None:
            files.append((file[0], file[1].encode()))
        session.history.add(
            content,
            category,
            contact=contact,
            opportunity=opportunity,
            case=case,
            happened_at=when,
            files=files,
        )
        self.history += 1
        self.files += len(files)

    def _manager(self, contact_id: int) -> str:
        return sorted(self.contacts[contact_id].managers)[0]

    def _colleague(self, *user_ids: str) -> str:
        return self.rng.choice([u.id for u in self.sales if u.id not in user_ids] or user_ids)

    def _companies(self) -> list[int]:
        return sorted(i for i, c in self.contacts.items() if isinstance(c, Company))

    def _readable_staff(self, company_id: int, user_id: str) -> list[int]:
        user = self._user(user_id)
        staff = self.staff.get(company_id, [])
        return [p for p in staff if can_read_contact(user, self.contacts[p])]

    def _first_word(self, company_id: int) -> str:
        return self.contacts[company_id].display_name.split()[0]

    # --- billing ------------------------------------------------------------------------

    def billing_setup(self) -> None:
        """The seller, default currency, exchange rates, taxes and products (as the admin).
        A CRM that has invoices keeps its default currency."""
        s = self.admin
        if not s.invoices.organisation().name:
            s.invoices.set_organisation(**ORGANISATION)  # type: ignore[arg-type]
        if s.invoices.count() == 0:
            s.currencies.set_default(DEMO_CURRENCY)
        self.currency = s.currencies.default()
        base = EURO_VALUES.get(self.currency)
        for code, value in EURO_VALUES.items():
            if base is not None and code != self.currency:
                s.currencies.set_rate(code, self.currency, (value / base).quantize(Decimal("1e-6")))
        known_taxes = {t.name for t in s.taxes.list()}
        for name, rate, description in DEMO_TAXES:
            if name not in known_taxes:
                s.taxes.add(name, rate, description=description)
        known_products = {p.sku: p.id for p in s.products.list()}
        for title, sku, price, taxes, stock, quantities in DEMO_PRODUCTS:
            if sku in known_products:
                self.products.append(known_products[sku])
                self.quantities[known_products[sku]] = quantities
                continue
            product = s.products.add(
                title,
                Money(price, self.currency),
                sku=sku,
                taxes=taxes,
                track_inventory=stock is not None,
                stock_quantity=stock or 0,
            )
            self.products.append(product.id)
            self.quantities[product.id] = quantities

    def pipeline(self) -> None:
        """Opportunities at every stage (at least one each), some restricted to an access
        list; won and lost ones are moved there from an open stage, closing on a past day."""
        rng = self.rng
        stages = self.admin.stages.list()
        open_stages = [st for st in stages if st.type is StageType.OPEN]
        won = [st for st in stages if st.type is StageType.WON]
        lost = [st for st in stages if st.type is StageType.LOST]
        companies = self._companies()
        plan = list(stages)
        while len(plan) < max(len(stages), round(len(companies) * 1.5)):
            roll = rng.random()
            pool = won if roll < WON_SHARE else lost if roll < WON_SHARE + LOST_SHARE else None
            plan.append(rng.choice(pool or open_stages))
        rng.shuffle(plan)
        due = 0
        category = self._category("Opportunity")
        for n, stage in enumerate(plan):
            company_id = companies[n % len(companies)]
            company = self.contacts[company_id]
            manager = self._manager(company_id)
            session = self.sessions[manager]
            staff = self._readable_staff(company_id, manager)
            responsible = manager if rng.random() < 0.75 else self._colleague(manager)
            title = rng.choice(DEAL_TITLES).format(company=self._first_word(company_id))
            closed = stage.type is not StageType.OPEN
            start = rng.choice(open_stages[-3:]) if stage.type is StageType.WON else stage
            if stage.type is StageType.LOST:
                start = rng.choice(open_stages)
            closed_on = self.today.date() - dt.timedelta(days=rng.randint(3, 180))
            expected = closed_on if closed else self.today.date()
            fields: dict[str, Any] = {
                "members": rng.sample(staff, min(len(staff), rng.randint(1, 2))),
                "responsible": responsible,
                "expected_close": expected + dt.timedelta(days=rng.randint(-15, 120)),
            }
            if rng.random() < 0.8:
                fields["custom"] = {LEAD_SOURCE: rng.choice(LEAD_SOURCES)}
            if n % 6 == 4:
                fields["restricted"] = True
                fields["access_list"] = [self._colleague(manager, responsible)]
            opportunity = session.opportunities.add(
                title,
                contact=company_id,
                budget=Money(rng.choice(DEAL_BUDGETS), company.currency or self.currency),
                stage=start.id,
                **fields,
            )
            if closed:
                opportunity = session.opportunities.update(
                    opportunity.id, stage=stage.id, actual_close=closed_on
                )
            when = self.today - dt.timedelta(days=rng.randint(1, 30))
            if stage.type is StageType.WON:
                when = dt.datetime.combine(closed_on, when.timetz())
                name, text = DEMO_FILES["order"]
                file = (name, text.format(title=title, date=closed_on.isoformat()))
                self.event(
                    session, f"Won: {title}.", "Note", when, file, opportunity=opportunity.id
                )
            elif stage.type is StageType.LOST:
                when = dt.datetime.combine(closed_on, when.timetz())
                reason = rng.choice(LOST_REASONS)
                self.event(session, reason, "Note", when, opportunity=opportunity.id)
            else:
                if stage.probability >= 50:
                    name, text = DEMO_FILES["proposal"]
                    file = (name, text.format(title=title))
                    content = f"Sent the proposal to {company.display_name}."
                    self.event(session, content, "Email", when, file, opportunity=opportunity.id)
                # Due dates in turn: overdue, today, the coming week, later.
                _, low, high = DUE_BUCKETS[due % len(DUE_BUCKETS)]
                due += 1
                days = rng.randint(low, high)
                step = f"Next step for {title}"
                self.task(
                    session, step, category, days, may_close=False, opportunity=opportunity.id
                )
            self.opportunities.append(opportunity)

    def _category(self, title: str) -> str:
        known = {i.title for i in self.admin.lists.items(ListKind.TASK_CATEGORY)}
        return title if title in known else DEMO_TASKS[0][0]

    def support(self) -> None:
        """Cases with their companies and a contact person, some restricted, some closed."""
        rng = self.rng
        companies = self._companies()
        for n in range(max(3, round(len(companies) / 2))):
            company_id = rng.choice(companies)
            manager = self._manager(company_id)
            session = self.sessions[manager]
            title, note = DEMO_CASES[n % len(DEMO_CASES)]
            fields: dict[str, Any] = {"custom": {PRIORITY: rng.choice(PRIORITIES)}}
            if n % 4 == 1:
                fields["restricted"] = True
                fields["access_list"] = [self._colleague(manager)]
            members = [company_id, *self._readable_staff(company_id, manager)[:1]]
            case = session.cases.add(
                f"{title} ({self._first_word(company_id)})", members=members, **fields
            )
            when = self.today - dt.timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 8))
            name, text = DEMO_FILES["log"]
            file = (name, text.format(date=when.date().isoformat())) if n % 2 == 0 else None
            self.event(session, note, "Phone call", when, file, case=case.id)
            if n % 3 == 0:
                case = session.cases.close(case.id)
            self.cases.append(case)

    def billing(self) -> None:
        """Invoices in every status and at least two currencies, for the clients (or any
        company), some for a won opportunity; the admin bills, books and rejects them."""
        rng = self.rng
        client_type = self.type_ids.get("Client")
        companies = self._companies()
        clients = [c for c in companies if self.contacts[c].contact_type_id == client_type]
        clients = clients or companies
        won_stages = {st.id for st in self.admin.stages.list() if st.type is StageType.WON}
        won = {o.contact_id: o.id for o in self.opportunities if o.stage_id in won_stages}
        count = max(len(INVOICE_STATUSES), round(len(companies) * 1.2))
        plan = [
            (clients[n % len(clients)], INVOICE_STATUSES[n % len(INVOICE_STATUSES)])
            for n in range(count)
        ]
        currencies = [self.contacts[c].currency or self.currency for c, _ in plan]
        if len(set(currencies)) < 2:  # a small demo still bills in two currencies
            currencies[1] = "USD" if currencies[0] != "USD" else self.currency
        ages = {
            InvoiceStatus.DRAFT: (0, 6),
            InvoiceStatus.BILLED: (3, 45),
            InvoiceStatus.PAID: (35, 150),
            InvoiceStatus.REJECTED: (20, 90),
        }
        planned: list[tuple[Invoice, InvoiceStatus]] = []
        for (client, status), currency in zip(plan, currencies, strict=True):
            session = self.sessions[self._manager(client)]
            products = rng.sample(self.products, rng.randint(1, 3))
            lines = [
                session.invoices.line(product=p, quantity=rng.choice(self.quantities[p]))
                for p in products
            ]
            fields: dict[str, Any] = {
                "issue_date": self.today.date() - dt.timedelta(days=rng.randint(*ages[status])),
                "currency": currency,
            }
            if client in won and rng.random() < 0.7:
                fields["opportunity"] = won[client]
            if rng.random() < 0.4:
                fields["po_number"] = f"PO-{rng.randint(1000, 9999)}"
            invoice = session.invoices.add(client=client, lines=lines, **fields)
            planned.append((invoice, status))
        done = {invoice.id: invoice for invoice, _ in planned}
        for target in (InvoiceStatus.BILLED, InvoiceStatus.PAID, InvoiceStatus.REJECTED):
            # Every invoice but the drafts is billed first; then some are paid or rejected.
            billed = target is InvoiceStatus.BILLED
            ids = [
                i.id
                for i, status in planned
                if status is target or (billed and status is not InvoiceStatus.DRAFT)
            ]
            for invoice in self.admin.invoices.set_status_many(ids, target):
                done[invoice.id] = invoice
        self.invoices = [done[invoice.id] for invoice, _ in planned]

    def summary(self, seed: int) -> DemoSummary:
        contacts = list(self.contacts.values())
        type_titles = {i: t for t, i in self.type_ids.items()}
        temp_titles = {i: t for t, i in self.temperature_ids.items()}
        types = Counter(type_titles.get(c.contact_type_id or 0, NO_VALUE) for c in contacts)
        temps = Counter(temp_titles.get(c.temperature_id or 0, NO_VALUE) for c in contacts)
        access = Counter(c.access.value for c in contacts)
        tags = Counter(t for c in contacts for t in c.tags)
        infos = Counter(i.type.value for c in contacts for i in c.infos)
        fields = self.admin.fields.list()
        labels = {f.id: f.label for f in fields}
        records: list[Contact | Opportunity | Case] = [*contacts, *self.opportunities, *self.cases]
        values = Counter(labels[fid] for r in records for fid in r.custom)
        return DemoSummary(
            seed=seed,
            users=self.users,
            companies=sum(isinstance(c, Company) for c in contacts),
            persons=sum(isinstance(c, Person) for c in contacts),
            by_type={t: types[t] for t in [*self.type_ids, NO_VALUE]},
            by_temperature={t: temps[t] for t in [*self.temperature_ids, NO_VALUE]},
            by_access={a.value: access[a.value] for a in Access},
            by_tag=dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))),
            infos={t.value: infos[t.value] for t in InfoType if infos[t.value]},
            custom_fields={f.label: f"{f.type}, {f.entity_type}" for f in fields},
            custom_values={f.label: values[f.label] for f in fields},
            visible={u.id: sum(can_read_contact(u, c) for c in contacts) for u in self.users},
            managed={u.id: sum(u.id in c.managers for c in contacts) for u in self.users},
            tasks=sum(self.task_categories.values()),
            open_tasks=self.open_tasks,
            by_task_category=dict(
                sorted(self.task_categories.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            tasks_due={bucket: self.tasks_due[bucket] for bucket, _, _ in DUE_BUCKETS[:3]},
            history=self.history,
            files=self.files,
            **self.deals_summary(),
            **self.billing_summary(),
        )

    def deals_summary(self) -> dict[str, Any]:
        s = self.admin
        pipeline: dict[str, tuple[int, Decimal]] = {}
        for stage in s.stages.list():
            budgets = [o.budget for o in self.opportunities if o.stage_id == stage.id]
            value = sum(
                (m.amount for m in s.currencies.convert_all(budgets, self.currency)), Decimal(0)
            )
            pipeline[stage.title] = (len(budgets), value)
        return {
            "currency": self.currency,
            "opportunities": len(self.opportunities),
            "restricted_opportunities": sum(o.restricted for o in self.opportunities),
            "pipeline": pipeline,
            "cases": len(self.cases),
            "closed_cases": sum(c.closed for c in self.cases),
            "restricted_cases": sum(c.restricted for c in self.cases),
        }

    def billing_summary(self) -> dict[str, Any]:
        s = self.admin
        invoices: dict[str, dict[str, tuple[int, Decimal]]] = {}
        for status in InvoiceStatus:
            totals: dict[str, tuple[int, Decimal]] = {}
            for invoice in self.invoices:
                if invoice.status is status:
                    n, total = totals.get(invoice.currency, (0, Decimal(0)))
                    totals[invoice.currency] = (n + 1, total + invoice.total.amount)
            invoices[status.value] = dict(sorted(totals.items()))
        return {
            "products": len(self.products),
            "taxes": {t.name: t.rate for t in s.taxes.list()},
            "exchange_rates": {
                f"{r.from_currency}/{r.to_currency}": r.rate for r in s.currencies.rates()
            },
            "invoices": invoices,
        }


def build_demo(
    crm: CRM,
    *,
    contacts: int = DEFAULT_CONTACTS,
    seed: int = DEFAULT_SEED,
    users: Sequence[User] = DEMO_USERS,
) -> DemoSummary:
    """Fill ``crm`` with ``contacts`` demo contacts (a quarter of them companies).

    ``users`` starts with a CRM admin, followed by the sales people who own the contacts;
    the CRM's user directory must know them all (see :func:`demo_directory`). The admin
    defines the custom fields and list items the demo uses; all data goes through sessions.
    """
    if isinstance(contacts, bool) or not isinstance(contacts, int) or contacts < 1:
        raise ValidationError({"contacts": "must be a whole number of at least 1"})
    users = tuple(users)
    if not users or not users[0].crm_admin or not any(not u.crm_admin for u in users):
        raise ValidationError({"users": "need a CRM admin first, then at least one other user"})
    builder = _Builder(crm, random.Random(seed), users)
    builder.setup()
    n_companies = max(1, round(contacts / 4))
    n_persons = contacts - n_companies
    companies = [builder.add_company(*triple) for triple in builder.company_names(n_companies)]
    # Every company gets a person before any gets a second; about one in ten is freelance.
    freelance = n_persons // 10 if n_persons >= 10 else 0
    linked = n_persons - freelance
    employers = [companies[i % len(companies)] for i in range(min(linked, len(companies)))]
    employers += [builder.rng.choice(companies) for _ in range(linked - len(employers))]
    employers_or_none: list[Company | None] = [*employers, *([None] * freelance)]
    used_names: set[tuple[str, str]] = set()
    for company in employers_or_none:
        current = builder.contacts[company.id] if company is not None else None
        builder.add_person(current if isinstance(current, Company) else None, used_names)
    builder.share()
    builder.activities()
    builder.pipeline()
    builder.support()
    builder.billing()
    return builder.summary(seed)


# --- demo files ---------------------------------------------------------------------------


def is_demo_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a SQLite file that :func:`create_demo_file` wrote.

    Only the file header is read (the SQLite format string and ``PRAGMA application_id`` at
    offset 68), so checking neither changes the file nor leaves ``-wal``/``-shm`` files behind.
    """
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError:
        return False
    return (
        len(header) == 100
        and header.startswith(b"SQLite format 3\x00")
        and int.from_bytes(header[68:72], "big") == DEMO_APPLICATION_ID
    )


def demo_files_directory(path: str | os.PathLike[str]) -> Path:
    """Where the files of the demo database ``path`` are kept: ``<path>-files`` next to it."""
    target = Path(path)
    return target.with_name(f"{target.name}-files")


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
    shutil.rmtree(demo_files_directory(path), ignore_errors=True)


def create_demo_file(
    path: str | os.PathLike[str],
    *,
    contacts: int = DEFAULT_CONTACTS,
    seed: int = DEFAULT_SEED,
    force: bool = False,
) -> DemoSummary:
    """Write a demo CRM to the SQLite file ``path``, replacing an earlier demo file.

    Any other existing file (one that holds real data, or is no database) is refused with
    :class:`NotADemoDatabase` unless ``force``; an empty file is replaced. The data is built
    in a temporary file next to ``path`` and moved into place only when complete, with the
    files attached to its history in :func:`demo_files_directory` (replaced with it).
    """
    target = Path(path)
    if target.is_dir():
        raise NotADemoDatabase(target)
    if target.exists() and target.stat().st_size > 0 and not force and not is_demo_file(target):
        raise NotADemoDatabase(target)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"no directory {target.parent} to write {target.name} in")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove_sqlite_files(tmp)
    try:
        crm = CRM.open(
            f"sqlite:///{tmp}",
            directory=demo_directory(),
            load_entrypoints=False,
            file_store=LocalFileStore(demo_files_directory(tmp)),
        )
        try:
            summary = build_demo(crm, contacts=contacts, seed=seed)
        finally:
            crm.close()
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to move
            conn.execute(f"PRAGMA application_id={DEMO_APPLICATION_ID}")
            conn.commit()
        finally:
            conn.close()
        _remove_sqlite_files(target)
        os.replace(demo_files_directory(tmp), demo_files_directory(target))
        os.replace(tmp, target)
    finally:
        _remove_sqlite_files(tmp)
    return summary
