"""A demo CRM: realistic, seeded sample data created through the public API.

>>> from opencrm import CRM
>>> from opencrm.demo import build_demo, demo_directory
>>> crm = CRM.open("sqlite://", directory=demo_directory(), load_entrypoints=False)
>>> summary = build_demo(crm, contacts=20, seed=7)
>>> summary.companies, summary.persons
(5, 15)

Everything is created the way a host application would create it: in the session of the
user who owns the record (so the creator becomes its manager), with contact infos, tags,
custom field values, access levels and co-managers, and tasks and history events for about
half of the contacts. The same ``seed`` gives the same data (task due times and event dates
are spread around the day the demo is built).

:func:`create_demo_file` builds a SQLite file and marks it as a demo database, so that it can
later be replaced without touching files that hold real data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from opencrm.core.entities.contacts import Access, Company, Contact, InfoType, Person
from opencrm.core.entities.lists import ListKind
from opencrm.core.permissions import can_read_contact
from opencrm.core.users import InMemoryUserDirectory, User
from opencrm.crm import CRM
from opencrm.errors import Conflict, ValidationError
from opencrm.session import Session

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
    custom_values: Mapping[str, int]  # label -> contacts with a value
    visible: Mapping[str, int]
    managed: Mapping[str, int]
    tasks: int = 0
    open_tasks: int = 0
    by_task_category: Mapping[str, int] = attrs.field(factory=dict)
    history: int = 0

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
    open_tasks: int = 0
    history: int = 0

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
        today = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0)
        for contact_id in sorted(self.contacts):
            contact = self.contacts[contact_id]
            session = self.sessions[sorted(contact.managers)[0]]
            name = contact.display_name
            if rng.random() < 0.45:
                for _ in range(rng.choice((1, 1, 2))):
                    category, title = rng.choice(DEMO_TASKS)
                    days, hours = rng.randint(-10, 30), rng.choice((0, 2, 5, 7))
                    due = today + dt.timedelta(days=days, hours=hours)
                    task = session.tasks.add(
                        title.format(name=name),
                        due,
                        category=category,
                        contact=contact_id,
                        alert=rng.choice(DEMO_ALERTS),
                        notify=False,
                    )
                    self.task_categories[category] += 1
                    if days < 0 and rng.random() < 0.6:
                        session.tasks.close(task.id)  # writes a "Task closed" event
                        self.history += 1
                    else:
                        self.open_tasks += 1
            if rng.random() < 0.4:
                for _ in range(rng.randint(1, 3)):
                    category, content = rng.choice(DEMO_EVENTS)
                    when = today - dt.timedelta(days=rng.randint(1, 90), hours=rng.randint(0, 8))
                    session.history.add(
                        content.format(name=name), category, contact=contact_id, happened_at=when
                    )
                    self.history += 1

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
        values = Counter(labels[fid] for c in contacts for fid in c.custom)
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
            history=self.history,
        )


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


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


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
    in a temporary file next to ``path`` and moved into place only when complete.
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
        crm = CRM.open(f"sqlite:///{tmp}", directory=demo_directory(), load_entrypoints=False)
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
        os.replace(tmp, target)
    finally:
        _remove_sqlite_files(tmp)
    return summary
