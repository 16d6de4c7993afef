"""List pages and reads build the same entities as the validating constructors.

Pages bring a record's related rows (managers, tags, infos, custom values; members and
access lists) as JSON arrays inside their main SELECT, and build entities with a
constructor that skips converters (``opencrm.core.entities._trusted``). These tests read
the same rows with plain SQL, build the entities through the classes' own ``__init__``,
and compare: equal, frozen, and of the same types field by field.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from moneyed import Money

from opencrm import CRM, User
from opencrm.core.entities import (
    Access,
    Address,
    BidType,
    Company,
    ContactInfo,
    InfoType,
    Opportunity,
    Person,
)
from opencrm.storage.sqlalchemy.tables import (
    contact_infos,
    contact_managers,
    contacts,
    custom_values,
    entity_tags,
    opportunities,
    opportunity_access,
    opportunity_members,
    tags,
)

ADMIN = User(id="admin", crm_admin=True)


def _children(conn: sa.Connection, query: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for owner, *rest in conn.execute(query):
        out.setdefault(owner, []).append(rest[0] if len(rest) == 1 else tuple(rest))
    return out


def _utc(value: Any) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _validated_contacts(engine: sa.Engine) -> dict[int, Any]:
    """Every stored contact, built with the classes' own constructors."""
    with engine.connect() as conn:
        managers = _children(conn, sa.select(contact_managers))
        titles = _children(
            conn,
            sa.select(entity_tags.c.entity_id, tags.c.title)
            .join(tags, tags.c.id == entity_tags.c.tag_id)
            .where(entity_tags.c.entity_type == "contact"),
        )
        infos = _children(
            conn,
            sa.select(
                contact_infos.c.contact_id,
                contact_infos.c.id,
                contact_infos.c.info_type,
                contact_infos.c.category,
                contact_infos.c.value,
                contact_infos.c.normalized,
                contact_infos.c.address,
                contact_infos.c.is_primary,
            ).order_by(contact_infos.c.id),
        )
        custom = _children(
            conn,
            sa.select(
                custom_values.c.entity_id, custom_values.c.field_id, custom_values.c.value
            ).where(custom_values.c.entity_type == "contact"),
        )
        out: dict[int, Any] = {}
        for r in conn.execute(sa.select(contacts)):
            common = {
                "id": r.id,
                "contact_type_id": r.contact_type_id,
                "temperature_id": r.temperature_id,
                "currency": r.currency,
                "about": r.about,
                "access": Access(r.access),
                "managers": frozenset(managers.get(r.id, ())),
                "tags": frozenset(titles.get(r.id, ())),
                "infos": tuple(
                    ContactInfo(
                        id=iid,
                        type=InfoType(kind),
                        category=category,
                        value=value,
                        normalized=normalized,
                        address=Address(**address) if address else None,
                        is_primary=bool(primary),
                    )
                    for iid, kind, category, value, normalized, address, primary in infos.get(
                        r.id, ()
                    )
                ),
                "custom": dict(custom.get(r.id, ())),
                "created_by": r.created_by,
                "created_at": _utc(r.created_at),
                "updated_by": r.updated_by,
                "updated_at": _utc(r.updated_at),
            }
            if r.kind == "person":
                out[r.id] = Person(
                    first_name=r.first_name,
                    last_name=r.last_name,
                    job_title=r.job_title,
                    company_id=r.company_id,
                    **common,
                )
            else:
                out[r.id] = Company(name=r.company_name, industry=r.industry, **common)
    return out


def _same(built: Any, validated: Any) -> None:
    assert built == validated
    assert type(built) is type(validated)
    for field in attrs.fields(type(validated)):
        mine, theirs = getattr(built, field.name), getattr(validated, field.name)
        assert type(mine) is type(theirs), field.name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.id = 0


@pytest.fixture
def filled(crm: CRM) -> CRM:
    s = crm.session(ADMIN)
    segment = s.fields.add("contact", "Segment", "text")
    s.fields.add("contact", "Since", "date")
    acme = s.contacts.add_company(
        "Acme GmbH",
        industry="Tools",
        email="info@acme.example",
        website="https://acme.example",
        tags=["Customer", "Key account"],
        managers=["alice", "bob"],
        access="read",
        custom={"Segment": "A"},
    )
    s.contacts.add_person(
        "Ana",
        "Łukasiewicz",
        job_title="Buyer",
        company=acme,
        phone="+49 30 1234567",
        infos=[
            {"type": "email", "value": "ana@acme.example", "category": "home"},
            {"type": "email", "value": "ana.l@acme.example", "primary": True},
            {"type": "address", "value": {"street": "Weg 1", "city": "Köln", "zip": "50667"}},
            {"type": "skype", "value": 'ana "quoted" \\ back/slash ü'},
        ],
        tags=["Customer"],
        managers=["alice"],
        custom={segment.id: "B \U0001f600", "Since": "2024-02-29"},
        about="line one\nline two",
    )
    s.contacts.add_person("Bare", access="read_write")
    return crm


def test_pages_and_reads_equal_the_validated_contacts(filled: CRM) -> None:
    validated = _validated_contacts(filled.engine)
    assert len(validated) == 3
    s = filled.session(ADMIN)
    listed = {c.id: c for c in s.contacts.list(limit=2).items}
    page = s.contacts.list(limit=2)
    listed.update((c.id, c) for c in s.contacts.list(limit=2, after=page.next_cursor).items)
    assert listed.keys() == validated.keys()
    for contact_id, expected in validated.items():
        _same(listed[contact_id], expected)
        _same(s.contacts.get(contact_id), expected)
    searched = s.contacts.search("ana")
    assert [c.id for c in searched] == [c.id for c in validated.values() if c.kind == "person"][:1]
    _same(searched[0], validated[searched[0].id])


def test_an_info_order_and_its_address_survive_the_json_round_trip(filled: CRM) -> None:
    s = filled.session(ADMIN)
    (ana,) = s.contacts.list(kind="person", text="łukas").items
    assert [i.type for i in ana.infos] == [
        InfoType.PHONE,
        InfoType.EMAIL,
        InfoType.EMAIL,
        InfoType.ADDRESS,
        InfoType.SKYPE,
    ]
    assert [i.id for i in ana.infos] == sorted(i.id for i in ana.infos)
    assert ana.infos[3].address == Address(street="Weg 1", city="Köln", zip="50667")
    assert ana.infos[4].value == 'ana "quoted" \\ back/slash ü'
    assert ana.email == "ana.l@acme.example"
    assert sorted(ana.custom.values()) == ["2024-02-29", "B \U0001f600"]


def test_a_contact_page_is_one_statement_after_the_settings_read(filled: CRM) -> None:
    alice = User(id="alice", name="Alice")
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement.split()[0].upper())

    sa.event.listen(filled.engine, "before_cursor_execute", record)
    try:
        page = filled.session(alice).contacts.list(limit=50)
    finally:
        sa.event.remove(filled.engine, "before_cursor_execute", record)
    assert [c.display_name for c in page.items] == ["Acme GmbH", "Ana Łukasiewicz", "Bare"]
    # The access check with the cursor secret, then the page with its related rows (SQLite
    # also shows the BEGIN opencrm sends itself).
    assert [s for s in sent if s != "BEGIN"] == ["SELECT", "SELECT"]


def test_opportunity_pages_equal_the_validated_opportunities(filled: CRM) -> None:
    s = filled.session(ADMIN)
    source = s.fields.add("opportunity", "Source", "text")
    people = {c.display_name: c.id for c in s.contacts.list().items}
    s.opportunities.add(
        "Big deal",
        contact=people["Acme GmbH"],
        members=[people["Ana Łukasiewicz"]],
        budget=Money("12500.50", "EUR"),
        bid_type="per_month",
        period_count=3,
        tags=["Hot"],
        custom={source.id: "fair"},
        restricted=True,
        access_list={"alice"},
        expected_close=dt.date(2027, 3, 1),
    )
    small_id = s.opportunities.add("Small deal", budget=Money("0", "JPY")).id
    s.opportunities.add("Third deal", budget=Money("99.99", "USD"), expected_close=dt.date.today())
    with filled.engine.begin() as conn:
        # Written by another tool, with an offset: SQLite keeps the text as it came, and
        # the page's fast timestamp parse fails over to the careful one.
        conn.execute(
            sa.text(
                "UPDATE opportunities SET updated_at = '2027-01-01 10:00:00+02:00' WHERE id = :id"
            ),
            {"id": small_id},
        )
    with filled.engine.connect() as conn:
        members = _children(conn, sa.select(opportunity_members))
        access = _children(conn, sa.select(opportunity_access))
        titles = _children(
            conn,
            sa.select(entity_tags.c.entity_id, tags.c.title)
            .join(tags, tags.c.id == entity_tags.c.tag_id)
            .where(entity_tags.c.entity_type == "opportunity"),
        )
        custom = _children(
            conn,
            sa.select(
                custom_values.c.entity_id, custom_values.c.field_id, custom_values.c.value
            ).where(custom_values.c.entity_type == "opportunity"),
        )
        rows = conn.execute(sa.select(opportunities)).all()
    expected = {}
    for r in rows:
        digits = {"EUR": 2, "JPY": 0, "USD": 2}[r.currency]
        expected[r.id] = Opportunity(
            id=r.id,
            title=r.title,
            description=r.description,
            contact_id=r.contact_id,
            members=frozenset(members.get(r.id, ())),
            budget=Money(Decimal(r.budget_minor).scaleb(-digits), r.currency),
            bid_type=BidType(r.bid_type),
            period_count=r.period_count,
            expected_close=r.expected_close,
            actual_close=r.actual_close,
            responsible=r.responsible,
            stage_id=r.stage_id,
            probability=r.probability,
            tags=frozenset(titles.get(r.id, ())),
            custom=dict(custom.get(r.id, ())),
            restricted=bool(r.restricted),
            access_list=frozenset(access.get(r.id, ())),
            project_ref=r.project_ref,
            created_by=r.created_by,
            created_at=_utc(r.created_at),
            updated_by=r.updated_by,
            updated_at=_utc(r.updated_at),
        )
    listed = {o.id: o for o in s.opportunities.list().items}
    assert listed.keys() == expected.keys()
    for opportunity_id, want in expected.items():
        _same(listed[opportunity_id], want)
        _same(s.opportunities.get(opportunity_id), want)
    # One per page: each page's last row makes the next cursor.
    walked = []
    for sort in ("created", "-title"):
        page = s.opportunities.list(limit=1, sort=sort)
        walked.append([o.id for o in page.items])
        while page.next_cursor is not None:
            page = s.opportunities.list(limit=1, sort=sort, after=page.next_cursor)
            walked[-1].extend(o.id for o in page.items)
            for o in page.items:
                _same(o, expected[o.id])
    by_title = sorted(expected.values(), key=lambda o: o.title, reverse=True)
    assert walked == [sorted(expected), [o.id for o in by_title]]
    assert listed[small_id].updated_at == dt.datetime(2027, 1, 1, 8, tzinfo=dt.UTC)
    assert listed[small_id].updated_at.utcoffset() == dt.timedelta(0)
    big = next(o for o in listed.values() if o.title == "Big deal")
    assert (big.budget, big.value) == (Money("12500.50", "EUR"), Money("37501.50", "EUR"))
    assert str(big.budget.amount) == "12500.50"
    assert big.access_list == {"admin", "alice"}
    small = next(o for o in listed.values() if o.title == "Small deal")
    assert str(small.budget.amount) == "0"


def test_task_pages_equal_the_validated_tasks(filled: CRM) -> None:
    from opencrm.core.entities.activities import Task
    from opencrm.storage.sqlalchemy.tables import tasks

    s = filled.session(ADMIN)
    people = {c.display_name: c.id for c in s.contacts.list().items}
    call = s.tasks.add(
        "Call Ana", dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC), contact=people["Bare"]
    )
    offer = s.tasks.add("Send offer", dt.datetime(2027, 1, 4, tzinfo=dt.UTC), alert=0)
    done = s.tasks.close(s.tasks.add("Done", dt.datetime(2027, 1, 6, tzinfo=dt.UTC)))
    reminded = dt.datetime(2027, 1, 5, 9, 15, 30, 250, tzinfo=dt.UTC)
    with filled.engine.begin() as conn:
        conn.execute(sa.update(tasks).where(tasks.c.id == call.id).values(reminded_at=reminded))
        # Written by another tool, with an offset (see the opportunities' test).
        conn.execute(
            sa.text("UPDATE tasks SET created_at = '2027-01-01 10:00:00+02:00' WHERE id = :id"),
            {"id": offer.id},
        )
    names = [a.name for a in attrs.fields(Task)]
    stamps = ("due_at", "reminded_at", "closed_at", "created_at", "updated_at")
    with filled.engine.connect() as conn:
        rows = conn.execute(sa.select(tasks)).all()
    expected = {}
    for r in rows:
        values = {n: getattr(r, n) for n in names}
        for n in stamps:
            values[n] = None if values[n] is None else _utc(values[n])
        values["closed"] = bool(values["closed"])
        expected[r.id] = Task(**values)
    alice = User(id="alice", name="Alice")
    listed = {t.id: t for t in filled.session(alice).tasks.list().items}
    assert [t.title for t in sorted(listed.values(), key=lambda t: t.due_at)] == [
        "Send offer",
        "Call Ana",
        "Done",
    ]
    for task_id, want in expected.items():
        _same(listed[task_id], want)
        _same(s.tasks.get(task_id), want)
    # NULL and set timestamps, and the offset read as the same instant in UTC.
    assert (listed[call.id].reminded_at, listed[call.id].closed_at) == (reminded, None)
    assert (listed[done.id].closed_at, listed[done.id].reminded_at) == (done.closed_at, None)
    assert isinstance(done.closed_at, dt.datetime)
    assert listed[offer.id].created_at == dt.datetime(2027, 1, 1, 8, tzinfo=dt.UTC)
    assert listed[offer.id].created_at.utcoffset() == dt.timedelta(0)
    # One per page, in both directions: each page's last row makes the next cursor.
    for sort, order in (
        ("due", [offer.id, call.id, done.id]),
        ("-title", [offer.id, done.id, call.id]),
    ):
        page = filled.session(alice).tasks.list(limit=1, sort=sort)
        walked = [t.id for t in page.items]
        while page.next_cursor is not None:
            page = filled.session(alice).tasks.list(limit=1, sort=sort, after=page.next_cursor)
            walked.extend(t.id for t in page.items)
            for t in page.items:
                _same(t, expected[t.id])
        assert walked == order


def test_invoice_pages_equal_the_validated_invoices(filled: CRM) -> None:
    from opencrm.core.entities.invoices import (
        Invoice,
        InvoiceLine,
        InvoiceStatus,
        LineTax,
        TaxTotal,
    )
    from opencrm.storage.sqlalchemy.tables import invoice_lines, invoices

    s = filled.session(ADMIN)
    s.taxes.add("VAT", "19")
    s.taxes.add("Eco", "2.5")
    people = {c.display_name: c.id for c in s.contacts.list().items}
    s.invoices.add(
        client=people["Ana Łukasiewicz"],
        notes="first \U0001f600",
        lines=[
            s.invoices.line("Consulting", price="120.00", quantity="7.5", taxes=["VAT", "Eco"]),
            s.invoices.line("Metered", price="0.123456", quantity=1000, discount=10, taxes=[]),
            s.invoices.line('Licence "pro"', price="19.99", quantity=3, taxes=["Eco"]),
        ],
    )
    s.invoices.add(
        client=people["Acme GmbH"],
        currency="JPY",
        exchange_rate="0.0062",
        lines=[s.invoices.line("Tatami", price=1500, quantity=2, taxes=["VAT"])],
    )

    def money(units: int, currency: str) -> Money:
        digits = {"USD": 2, "JPY": 0}[currency]
        return Money(Decimal(units).scaleb(-digits), currency)

    with filled.engine.connect() as conn:
        line_rows = _children(
            conn,
            sa.select(invoice_lines.c.invoice_id, invoice_lines).order_by(invoice_lines.c.position),
        )
        rows = conn.execute(sa.select(invoices)).all()
    expected = {}
    for r in rows:
        cur = r.currency
        lines = []
        for ln in line_rows[r.id]:
            m = dict(zip(invoice_lines.c.keys(), ln, strict=True))
            lines.append(
                InvoiceLine(
                    id=m["id"],
                    product_id=m["product_id"],
                    description=m["description"],
                    quantity=Decimal(m["quantity"]),
                    price=Money(Decimal(m["price"]), cur),
                    discount=Decimal(m["discount"]),
                    taxes=tuple(
                        LineTax(
                            tax_id=m[f"tax{n}_id"],
                            name=m[f"tax{n}_name"],
                            rate=Decimal(m[f"tax{n}_rate"]),
                            amount=money(m[f"tax{n}_minor"], cur),
                        )
                        for n in (1, 2)
                        if m[f"tax{n}_name"] is not None
                    ),
                    subtotal=money(m["subtotal_minor"], cur),
                    discount_amount=money(m["discount_minor"], cur),
                    net=money(m["net_minor"], cur),
                    total=money(m["total_minor"], cur),
                )
            )
        totals: dict[Any, Decimal] = {}
        for line in lines:
            for t in line.taxes:
                key = (t.tax_id, t.name, t.rate)
                totals[key] = totals.get(key, Decimal(0)) + t.amount.amount
        expected[r.id] = Invoice(
            id=r.id,
            number=r.number,
            status=InvoiceStatus(r.status),
            issue_date=r.issue_date,
            due_date=r.due_date,
            client_id=r.client_id,
            consignee_id=r.consignee_id,
            billing_address_id=r.billing_address_id,
            billing_address=Address(**r.billing_address) if r.billing_address else None,
            delivery_address_id=r.delivery_address_id,
            delivery_address=Address(**r.delivery_address) if r.delivery_address else None,
            opportunity_id=r.opportunity_id,
            language=r.language,
            currency=cur,
            exchange_rate=Decimal(r.exchange_rate),
            po_number=r.po_number,
            terms=r.terms,
            notes=r.notes,
            rounding=r.rounding,
            lines=tuple(lines),
            subtotal=money(r.subtotal_minor, cur),
            tax_totals=tuple(
                TaxTotal(tax_id=k, name=n, rate=rate, amount=Money(v, cur))
                for (k, n, rate), v in totals.items()
            ),
            total=money(r.total_minor, cur),
            created_by=r.created_by,
            created_at=_utc(r.created_at),
            updated_by=r.updated_by,
            updated_at=_utc(r.updated_at),
        )
    assert len(expected) == 2
    listed = {i.id: i for i in s.invoices.list().items}
    filtered = {i.id: i for i in s.invoices.list(status="draft").items}
    assert listed.keys() == filtered.keys() == expected.keys()
    for invoice_id, want in expected.items():
        for got in (listed[invoice_id], filtered[invoice_id], s.invoices.get(invoice_id)):
            _same(got, want)
            for line, want_line in zip(got.lines, want.lines, strict=True):
                _same(line, want_line)
                for tax, want_tax in zip(line.taxes, want_line.taxes, strict=True):
                    _same(tax, want_tax)
            for total, want_total in zip(got.tax_totals, want.tax_totals, strict=True):
                _same(total, want_total)
    first = next(i for i in listed.values() if i.currency == "USD")
    assert [ln.description for ln in first.lines] == ["Consulting", "Metered", 'Licence "pro"']
    assert [t.name for t in first.lines[0].taxes] == ["VAT", "Eco"]
    assert str(first.lines[1].price.amount) == "0.123456"
    assert first.billing_address == Address(street="Weg 1", city="Köln", zip="50667")
    assert [(t.name, str(t.amount.amount)) for t in first.tax_totals] == [
        ("VAT", "171.00"),
        ("Eco", "24.00"),
    ]


def test_a_listed_invoice_builds_its_lines_when_read_as_get_and_add_do(filled: CRM) -> None:
    """A page's invoices build their lines and tax totals on first read: whatever reads
    them first (the fields, ==, hash, repr, evolve, copies, pickling, several threads at
    once) sees the lines and totals that get() and add() return."""
    import copy
    import pickle
    import threading

    from opencrm.core.entities._trusted import Pending
    from opencrm.core.entities.invoices import Invoice

    s = filled.session(ADMIN)
    s.taxes.add("VAT", "19")
    s.taxes.add("Eco", "2.5")
    people = {c.display_name: c.id for c in s.contacts.list().items}
    created = s.invoices.add(
        client=people["Ana Łukasiewicz"],
        lines=[
            s.invoices.line("Consulting", price="120.00", quantity="7.5", taxes=["VAT", "Eco"]),
            s.invoices.line("Metered", price="0.123456", quantity=1000, discount=10, taxes=[]),
            s.invoices.line('Licence "pro"', price="19.99", quantity=3, taxes=["Eco"]),
        ],
    )
    other = s.invoices.add(
        client=people["Acme GmbH"],
        currency="JPY",
        exchange_rate="0.0062",
        lines=[s.invoices.line("Tatami", price=1500, quantity=2, taxes=["VAT"])],
    )
    got = s.invoices.get(created.id)

    def listed(invoice_id: int = created.id) -> Invoice:
        """From a new page: its invoices' lines have not been read."""
        return next(i for i in s.invoices.list().items if i.id == invoice_id)

    # The page left them unbuilt; a read builds both.
    unread = listed()
    assert isinstance(Invoice.lines.slot.__get__(unread), Pending)  # type: ignore[attr-defined]
    assert unread.lines == got.lines
    assert Invoice.tax_totals.slot.__get__(unread) == got.tax_totals  # type: ignore[attr-defined]
    (filtered,) = s.invoices.list(client=people["Ana Łukasiewicz"]).items  # another statement
    assert isinstance(Invoice.lines.slot.__get__(filtered), Pending)  # type: ignore[attr-defined]
    assert filtered == got
    assert got == created
    for field in attrs.fields(Invoice):
        mine, theirs = getattr(listed(), field.name), getattr(got, field.name)
        assert mine == theirs == getattr(created, field.name), field.name
        assert type(mine) is type(theirs), field.name
    totals_first = listed()
    assert totals_first.tax_totals == got.tax_totals
    assert totals_first.lines == got.lines
    assert [(t.name, str(t.amount.amount)) for t in listed().tax_totals] == [
        ("VAT", "171.00"),
        ("Eco", "24.00"),
    ]
    assert [ln.description for ln in listed().lines] == ["Consulting", "Metered", 'Licence "pro"']
    assert listed() == got
    assert got == listed()
    assert listed() != listed(other.id)
    assert hash(listed()) == hash(got)
    assert repr(listed()) == repr(got)
    changed = attrs.evolve(listed(), notes="changed")
    assert changed == attrs.evolve(got, notes="changed")
    assert (changed.lines, changed.tax_totals) == (got.lines, got.tax_totals)
    for copied in (
        copy.copy(listed()),
        copy.deepcopy(listed()),
        pickle.loads(pickle.dumps(listed())),
    ):
        assert copied == got
        assert (copied.lines, copied.tax_totals) == (got.lines, got.tax_totals)
    # Only the built values are pickled, never storage's stand-in for them.
    assert b"opencrm.storage" not in pickle.dumps(listed())
    assert pickle.dumps(listed()) == pickle.dumps(s.invoices.get(created.id))

    # Threads reading a page's invoices at once build each invoice's lines once.
    page = s.invoices.list().items
    start = threading.Barrier(4)
    seen: list[list[tuple[Any, Any]]] = []

    def read() -> None:
        start.wait()
        seen.append([(i.lines, i.tax_totals) for i in page])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4
    by_id = {i.id: i for i in page}
    assert (by_id[created.id].lines, by_id[other.id].lines) == (got.lines, other.lines)
    for reads in seen:
        for (lines, totals), (first_lines, first_totals) in zip(reads, seen[0], strict=True):
            assert lines is first_lines
            assert totals is first_totals
