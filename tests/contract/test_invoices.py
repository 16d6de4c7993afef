"""Invoices, products, taxes and exchange rates through the public API, on every backend."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa
from moneyed import Money
from PIL import Image

from opencrm import Conflict, NotFound, PermissionDenied, ValidationError, hookimpl
from opencrm.core.entities.invoices import InvoiceStatus
from opencrm.core.money import MAX_AMOUNT
from opencrm.errors import InvalidTransition, MissingExchangeRates

D = Decimal


@pytest.fixture
def billing(admin):
    """Two taxes, a tracked product and a client with a billing and a postal address."""
    vat = admin.taxes.add("VAT", "19")
    reduced = admin.taxes.add("Reduced", "7")
    hour = admin.products.add(
        "Support hour", "80.00", sku="SUP-1", taxes=[vat], track_inventory=True, stock_quantity=10
    )
    acme = admin.contacts.add_company(
        "Acme GmbH",
        access="read",
        infos=[
            {"type": "address", "value": {"street": "Hauptstr. 1", "city": "Berlin"},
             "category": "billing"},
            {"type": "address", "value": {"street": "Lager 2", "city": "Potsdam"},
             "category": "postal"},
        ],
    )  # fmt: skip
    return {"vat": vat, "reduced": reduced, "hour": hour, "acme": acme}


def _lines(s, b):
    return [
        s.invoices.line(product=b["hour"], quantity=3, discount=10),
        s.invoices.line("Setup", price="19.99", quantity=3, discount=10, taxes=["VAT", "reduced"]),
    ]


def _table_counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
            for t in ("invoices", "invoice_lines", "products", "taxes", "exchange_rates")
        )


def test_invoice_round_trip_with_every_field(admin, billing):
    acme = billing["acme"]
    billing_address, postal = acme.infos
    inv = admin.invoices.add(
        client=acme,
        lines=_lines(admin, billing),
        issue_date=dt.date(2027, 3, 1),
        due_in="15_days",
        consignee="same_as_client",
        billing_address=billing_address.id,
        delivery_address=postal.id,
        language="de",
        po_number="PO-7",
        terms="Net 15",
        notes="Thank you",
    )
    assert inv.number == "INV-0000001"
    assert inv.status is InvoiceStatus.DRAFT
    assert (inv.issue_date, inv.due_date) == (dt.date(2027, 3, 1), dt.date(2027, 3, 16))
    assert inv.consignee_id == acme.id
    assert inv.billing_address.city == "Berlin"
    assert inv.delivery_address.city == "Potsdam"
    assert (inv.language, inv.currency, inv.exchange_rate) == ("de", "USD", D(1))
    assert inv.rounding == "ROUND_HALF_UP"
    first, second = inv.lines
    assert (first.subtotal, first.discount_amount, first.net) == (
        Money("240.00", "USD"), Money("24.00", "USD"), Money("216.00", "USD"),
    )  # fmt: skip
    assert [(t.name, t.amount) for t in first.taxes] == [("VAT", Money("41.04", "USD"))]
    assert second.total == Money("68.00", "USD")
    assert inv.subtotal == Money("269.97", "USD")
    assert [(t.name, t.rate, t.amount) for t in inv.tax_totals] == [
        ("VAT", D(19), Money("51.29", "USD")),
        ("Reduced", D(7), Money("3.78", "USD")),
    ]
    assert inv.total == Money("325.04", "USD")
    assert admin.invoices.get(inv.id) == inv


def _address(city: str, category: str) -> dict[str, object]:
    return {"type": "address", "value": {"city": city}, "category": category}


def test_bill_to_defaults_to_the_clients_billing_then_primary_address(admin):
    line = [admin.invoices.line("x", price="1")]
    bare = admin.contacts.add_company("Bare")
    postal_only = admin.contacts.add_company("Postal", infos=[_address("Rome", "postal")])
    both = admin.contacts.add_company(
        "Both",
        infos=[
            _address("Paris", "postal"),
            _address("Lyon", "billing"),
            _address("Nice", "billing"),
        ],
    )
    assert both.infos[0].is_primary  # the first address is the primary one
    inv = admin.invoices.add(client=bare, lines=line)
    assert (inv.billing_address_id, inv.billing_address) == (None, None)
    assert admin.invoices.add(client=postal_only, lines=line).billing_address.city == "Rome"
    assert admin.invoices.add(client=both, lines=line).billing_address.city == "Lyon"
    admin.contacts.update_info(both.id, both.infos[2].id, primary=True)
    chosen = admin.invoices.add(client=both, lines=line)
    assert (chosen.billing_address_id, chosen.billing_address.city) == (both.infos[2].id, "Nice")
    given = admin.invoices.add(client=both, lines=line, billing_address=None)
    assert given.billing_address is None
    # A draft's bill-to follows a new client unless one is given; other changes keep it.
    assert admin.invoices.update(inv.id, client=both).billing_address.city == "Nice"
    assert admin.invoices.update(inv.id, notes="n").billing_address.city == "Nice"
    moved = admin.invoices.update(inv.id, client=postal_only, billing_address=None)
    assert moved.billing_address is None
    assert admin.invoices.get(inv.id).billing_address is None


def test_largest_amount_round_trips_exactly(admin, billing):
    biggest = {"USD": "999999999999.99", "KWD": "999999999999.999", "JPY": "999999999999"}
    for code, price in biggest.items():
        if code != "USD":
            admin.currencies.set_rate(code, "USD", "1")
        inv = admin.invoices.add(
            client=billing["acme"],
            currency=code,
            lines=[
                admin.invoices.line("Big", price=price, quantity="1"),
                admin.invoices.line("Tiny", price="0", quantity="0.000001", discount="0.000001"),
            ],
        )
        got = admin.invoices.get(inv.id)
        assert got == inv
        assert str(got.total.amount) == price
        assert got.total.amount <= MAX_AMOUNT
        assert got.lines[1].quantity == D("0.000001")
        assert got.lines[1].discount == D("0.000001")
    with pytest.raises(ValidationError, match="exceed"):
        admin.invoices.add(
            client=billing["acme"], lines=[admin.invoices.line("Too big", price="1000000000000")]
        )


def test_rounding_mode_is_kept_on_each_invoice(admin, billing):
    line = [admin.invoices.line("Half", price="1.25", taxes=["Reduced"])]  # 7% of 1.25 = 0.0875
    admin.invoices.set_rounding("ROUND_HALF_EVEN")
    even = admin.invoices.add(
        client=billing["acme"], lines=[admin.invoices.line("Half", price="0.25", quantity="0.5")]
    )
    admin.invoices.set_rounding("ROUND_HALF_UP")
    up = admin.invoices.add(
        client=billing["acme"], lines=[admin.invoices.line("Half", price="0.25", quantity="0.5")]
    )
    assert (even.total, up.total) == (Money("0.12", "USD"), Money("0.13", "USD"))
    # Editing the half-even draft after the setting changed still rounds half-even.
    edited = admin.invoices.update(
        even.id, lines=[admin.invoices.line("Half", price="0.25", quantity="0.5"), *line]
    )
    assert edited.rounding == "ROUND_HALF_EVEN"
    assert edited.total == Money("0.12", "USD") + Money("1.34", "USD")
    assert admin.invoices.get(even.id).total == edited.total


def test_automatic_and_manual_numbers(admin, billing):
    acme, line = billing["acme"], [admin.invoices.line("x", price="1")]
    admin.invoices.set_numbering(prefix="ACME/", start="0042")
    assert admin.invoices.add(client=acme, lines=line).number == "ACME/0042"
    assert admin.invoices.add(client=acme, lines=line, number="ACME/0043").number == "ACME/0043"
    assert admin.invoices.add(client=acme, lines=line).number == "ACME/0044"  # skips the taken one
    with pytest.raises(Conflict):
        admin.invoices.add(client=acme, lines=line, number="ACME/0042")
    with pytest.raises(Conflict):
        admin.invoices.set_numbering(start="0043")
    admin.invoices.set_numbering(automatic=False)
    with pytest.raises(ValidationError, match="number"):
        admin.invoices.add(client=acme, lines=line)
    assert admin.invoices.add(client=acme, lines=line, number="  MAN-1 ").number == "MAN-1"
    assert admin.invoices.numbering().next_value == 45


def test_only_admins_change_products_taxes_rates_and_numbering(alice, admin, billing):
    with pytest.raises(PermissionDenied):
        alice.taxes.add("Other", "5")
    with pytest.raises(PermissionDenied):
        alice.products.update(billing["hour"].id, price="1.00")
    with pytest.raises(PermissionDenied):
        alice.currencies.set_rate("EUR", "USD", "1.1")
    with pytest.raises(PermissionDenied):
        alice.invoices.set_numbering(prefix="X-")
    assert [t.name for t in alice.taxes.list()] == ["Reduced", "VAT"]
    assert alice.products.get(billing["hour"].id).price == Money("80.00", "USD")


def test_status_transitions_stock_and_batch(admin, billing):
    inv = admin.invoices.add(client=billing["acme"], lines=_lines(admin, billing))
    with pytest.raises(InvalidTransition):
        admin.invoices.set_status(inv.id, "paid")
    admin.invoices.set_status(inv.id, "billed")
    assert admin.products.get(billing["hour"].id).stock_quantity == D(7)
    with pytest.raises(Conflict, match="only drafts"):
        admin.invoices.update(inv.id, notes="changed")
    with pytest.raises(Conflict):
        admin.invoices.delete(inv.id)
    admin.invoices.set_status(inv.id, "rejected")
    assert admin.products.get(billing["hour"].id).stock_quantity == D(10)
    admin.invoices.set_status(inv.id, "draft")
    other = admin.invoices.add(client=billing["acme"], lines=_lines(admin, billing))
    done = admin.invoices.set_status_many([inv.id, other.id], "billed")
    assert [i.status for i in done] == [InvoiceStatus.BILLED] * 2
    assert admin.products.get(billing["hour"].id).stock_quantity == D(4)
    paid = admin.invoices.set_status(inv.id, "paid")
    with pytest.raises(InvalidTransition):  # batch is all or nothing
        admin.invoices.set_status_many([other.id, paid.id], "paid")
    assert admin.invoices.get(other.id).status is InvoiceStatus.BILLED
    assert admin.invoices.set_status(paid.id, "billed").status is InvoiceStatus.BILLED
    names = [e.action for e in admin.settings.audit_trail(entity_type="invoice")]
    assert names.count("invoice.status_changed") == 7


def test_products_and_taxes_in_use_cannot_be_deleted(admin, billing):
    admin.invoices.add(client=billing["acme"], lines=_lines(admin, billing))
    with pytest.raises(Conflict):
        admin.products.delete(billing["hour"].id)
    with pytest.raises(Conflict):
        admin.taxes.delete(billing["reduced"].id)  # on an invoice line only
    with pytest.raises(Conflict):
        admin.taxes.add("vat", "20")  # names are unique, case-insensitively
    spare = admin.taxes.add("Spare", "1.5")
    admin.taxes.delete(spare.id)
    with pytest.raises(NotFound):
        admin.taxes.get(spare.id)


def test_tax_rate_change_keeps_existing_invoices(admin, billing):
    inv = admin.invoices.add(client=billing["acme"], lines=_lines(admin, billing))
    admin.taxes.update(billing["vat"].id, rate="21")
    assert admin.invoices.get(inv.id) == inv
    assert admin.invoices.duplicate(inv.id).tax_totals[0].rate == D(21)


def test_exchange_rates_and_foreign_currency_invoices(admin, billing):
    with pytest.raises(MissingExchangeRates) as info:
        admin.invoices.add(client=billing["acme"], currency="EUR", lines=_lines(admin, billing))
    assert info.value.currencies == ("EUR",)
    admin.currencies.set_rate("EUR", "USD", "1.25")
    inv = admin.invoices.add(client=billing["acme"], currency="eur", lines=_lines(admin, billing))
    assert inv.exchange_rate == D("1.25")
    assert inv.lines[0].price == Money("64.00", "EUR")  # 80.00 USD / 1.25
    assert admin.currencies.convert(Money("10", "USD"), "EUR") == Money("8.00", "EUR")
    admin.currencies.set_rate("EUR", "USD", 0)
    assert admin.currencies.rates() == []
    with pytest.raises(MissingExchangeRates, match="GBP -> USD"):
        admin.currencies.convert(Money("1", "GBP"), "USD")


def test_bad_inputs_are_typed_errors_and_write_nothing(admin, billing, engine):
    acme = billing["acme"]
    before = _table_counts(engine)
    ok = [admin.invoices.line("x", price="1")]

    def add(**fields):
        return admin.invoices.add(client=acme, **{"lines": ok, **fields})

    def line(**fields):
        return [admin.invoices.line("x", **{"price": "1", **fields})]

    cases = [
        lambda: admin.products.add("Float", 9.99),
        lambda: add(lines=line(price=1.5)),
        lambda: add(lines=line(price=D("NaN"))),
        lambda: add(currency="XYZ"),
        lambda: admin.currencies.set_rate("EUR", "USD", "-1"),
        lambda: add(exchange_rate="0"),
        lambda: add(lines=line(discount=101)),
        lambda: add(lines=line(quantity=-1)),
        lambda: add(lines=[]),
        lambda: add(due_date=dt.date(2000, 1, 1)),
        lambda: add(billing_address=acme.infos[1].id),  # a postal address, not a billing one
        lambda: add(lines=line(taxes=[1, 2, 1])),
        lambda: admin.taxes.add("Huge", "1e400"),
    ]
    for call in cases:
        with pytest.raises(ValidationError):
            call()
    assert _table_counts(engine) == before
    billed = admin.invoices.add(client=acme, lines=ok)
    admin.invoices.set_status(billed.id, "billed")
    counts = _table_counts(engine)
    with pytest.raises(Conflict):
        admin.invoices.update(billed.id, lines=ok)
    assert _table_counts(engine) == counts
    assert admin.invoices.get(billed.id) == admin.invoices.get(billed.id)


def test_every_bad_line_field_is_listed(admin, billing):
    with pytest.raises(ValidationError) as info:
        admin.invoices.add(
            client=billing["acme"],
            lines=[
                admin.invoices.line("a", price=1.0, quantity="-1", discount="150"),
                admin.invoices.line("", price="1"),
                admin.invoices.line(product=9999),
            ],
        )
    assert set(info.value.errors) == {
        "lines.0.price", "lines.0.quantity", "lines.0.discount",
        "lines.1.description", "lines.2.product",
    }  # fmt: skip


def test_a_contact_named_on_an_invoice_cannot_be_deleted(admin, billing):
    consignee = admin.contacts.add_person("Carl", "Consignee")
    inv = admin.invoices.add(
        client=billing["acme"], consignee=consignee, lines=[admin.invoices.line("x", price="1")]
    )
    for contact in (billing["acme"], consignee):
        with pytest.raises(Conflict):
            admin.contacts.delete(contact.id)
    admin.invoices.delete(inv.id)
    admin.contacts.delete(consignee.id)
    with pytest.raises(NotFound):
        admin.contacts.get(consignee.id)


def test_invoice_access_follows_the_client(admin, alice, bob):
    private = alice.contacts.add_company("Alice's secret client")
    public = admin.contacts.add_company("Everyone's client", access="read")
    line = [alice.invoices.line("x", price="1")]
    mine = alice.invoices.add(client=private, lines=line)
    theirs = admin.invoices.add(client=public, lines=line)
    hidden = admin.invoices.add(client=admin.contacts.add_company("Hidden"), lines=line)
    with pytest.raises(NotFound):
        bob.invoices.get(mine.id)
    with pytest.raises(ValidationError):  # bob cannot even name alice's private client
        bob.invoices.add(client=private, lines=line)
    assert [i.id for i in bob.invoices.list(sort="created")] == [theirs.id]
    assert bob.invoices.count() == 1
    assert {i.id for i in alice.invoices.list()} == {mine.id, theirs.id}
    assert admin.invoices.count() == 3
    with pytest.raises(PermissionDenied):
        bob.invoices.update(theirs.id, notes="mine now")
    with pytest.raises(PermissionDenied):
        bob.invoices.delete(theirs.id)
    with pytest.raises(NotFound):
        bob.invoices.delete(hidden.id)
    with pytest.raises(PermissionDenied):
        bob.invoices.set_status(theirs.id, "billed")
    assert alice.invoices.update(mine.id, notes="ok").notes == "ok"


def test_lists_filter_sort_and_page(admin, billing):
    acme = billing["acme"]
    other = admin.contacts.add_company("Other")
    made = []
    for n in range(7):
        made.append(
            admin.invoices.add(
                client=acme if n % 2 else other,
                issue_date=dt.date(2020, 1, 1 + n),
                lines=[admin.invoices.line(f"n{n}", price="1")],
                notes=f"batch {n}",
            )
        )
    admin.invoices.set_status(made[0].id, "billed")
    assert admin.invoices.count(client=acme) == 3
    assert admin.invoices.count(status="billed") == 1
    assert admin.invoices.count(overdue=True) == 1
    assert admin.invoices.count(text="BATCH 3") == 1
    assert admin.invoices.count(issued_from=dt.date(2020, 1, 3), issued_to=dt.date(2020, 1, 5)) == 2
    seen, after = [], None
    while True:
        page = admin.invoices.list(sort="-issue_date", limit=3, after=after)
        seen += [i.id for i in page]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert seen == [i.id for i in reversed(made)]
    with pytest.raises(ValidationError):
        admin.invoices.list(sort="total")
    with pytest.raises(ValidationError):
        admin.invoices.count(colour="red")


def test_opportunity_link_needs_the_client_as_member(admin, billing):
    acme = billing["acme"]
    other = admin.contacts.add_company("Stranger")
    deal = admin.opportunities.add("Renewal", contact=acme, budget=Money("100", "USD"))
    line = [admin.invoices.line("x", price="1")]
    inv = admin.invoices.add(client=acme, opportunity=deal, lines=line)
    assert inv.opportunity_id == deal.id
    assert admin.invoices.count(opportunity=deal.id) == 1
    with pytest.raises(ValidationError, match="member"):
        admin.invoices.add(client=other, opportunity=deal, lines=line)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 2), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def test_organisation_profile_and_default_terms(admin, alice):
    admin.invoices.set_default_terms("Payable within 30 days.")
    org = admin.invoices.set_organisation(
        name="Seller AG",
        address={"street": "Markt 1", "city": "Köln"},
        logo=_png(),
    )
    assert org.address.city == "Köln"
    assert alice.invoices.organisation() == org
    with pytest.raises(ValidationError):
        admin.invoices.set_organisation(logo=b"<svg/>")
    with pytest.raises(PermissionDenied):
        alice.invoices.set_default_terms("free")
    c = alice.contacts.add_company("Client")
    assert alice.invoices.add(client=c, lines=[alice.invoices.line("x", price="1")]).terms == (
        "Payable within 30 days."
    )


@pytest.mark.parametrize("threads", [8])
def test_concurrent_creators_get_unique_gapless_numbers(crm, users, engine, backend, threads):
    """8 writers create 2,000 invoices; 40 of them are vetoed by a plugin just before commit,
    after their number was allocated, so rolled-back allocations are exercised too."""
    total = 2000
    admin = crm.session(users["admin"])
    client = admin.contacts.add_company("Busy client", access="read")
    per_thread = total // threads
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        s = crm.session(users["alice"])
        line = [s.invoices.line("Work", price="10.00", quantity=2)]
        barrier.wait()
        for n in range(per_thread):
            try:
                if n % 50 == 49:  # vetoed after its number was allocated: must leave no gap
                    s.invoices.add(client=client.id, lines=line, notes="veto")
                else:
                    s.invoices.add(client=client.id, lines=line)
            except ValidationError:
                pass
            except BaseException as exc:  # collected and reported below
                errors.append(exc)

    class Veto:
        @hookimpl
        def opencrm_before_commit(self, events):
            if any(getattr(e.entity, "notes", None) == "veto" for e in events):
                raise ValidationError({"notes": "vetoed by a plugin"})

    crm.plugin_manager.register(Veto())
    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    assert errors == []
    with engine.connect() as conn:
        numbers = conn.execute(sa.text("SELECT number FROM invoices")).scalars().all()
    expected = total - threads * (per_thread // 50)
    assert len(numbers) == expected
    assert len(set(numbers)) == expected
    assert sorted(numbers) == [f"INV-{n:07d}" for n in range(1, expected + 1)]
    print(f"{backend}: {expected} invoices by {threads} threads in {elapsed:.1f} s")
