"""Hostile arguments through the public API: each is a ValidationError naming the argument,
the same on every backend, and leaves every table exactly as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import NotFound, ValidationError
from opencrm.storage.sqlalchemy.tables import metadata

UTC = dt.UTC


def everything(crm) -> dict[str, list[str]]:
    """Every row of every table: a failed call must change none."""
    with crm.engine.connect() as conn:
        return {
            t.name: sorted(repr(tuple(r)) for r in conn.execute(sa.select(t)))
            for t in metadata.sorted_tables
        }


@pytest.fixture
def world(admin, alice) -> dict[str, Any]:
    vat = admin.taxes.add("VAT", "19")
    product = admin.products.add("Hour", "80.00", taxes=[vat], track_inventory=True)
    acme = alice.contacts.add_company("Acme", phone="+49 30 1234567", access="read")
    ada = alice.contacts.add_person("Ada", "Lovelace", company=acme)
    admin.fields.add("contact", "Nick", "text")
    admin.fields.add("contact", "Notes", "textarea")
    invoice = admin.invoices.add(client=acme, lines=[admin.invoices.line("Work", price="10")])
    opp = alice.opportunities.add("Deal", contact=ada)
    item = admin.lists.items("contact_type")[0]
    tag = admin.lists.add_tag("Hostile")
    stage = admin.stages.list()[0]
    category = next(i for i in admin.lists.items("history_category") if not i.system)
    return {
        "vat": vat,
        "product": product,
        "acme": acme,
        "ada": ada,
        "invoice": invoice,
        "opp": opp,
        "item": item,
        "tag": tag,
        "stage": stage,
        "category": category,
        "info": acme.infos[0],
    }


Case = Callable[[Any, Any, dict[str, Any]], object]


def _line(admin: Any, **kw: Any) -> Any:
    return admin.invoices.line(**{"description": "Work", "price": "10", **kw})


NUMBERS: dict[str, tuple[Case, str]] = {
    "price with a huge exponent": (lambda ad, al, w: ad.products.add("P", "1e1000000"), "price"),
    "price in Arabic-Indic digits": (lambda ad, al, w: ad.products.add("P", "\u0663"), "price"),
    "price NaN": (lambda ad, al, w: ad.products.add("P", "NaN"), "price"),
    "stock with a huge exponent": (
        lambda ad, al, w: ad.products.update(w["product"].id, stock_quantity="1e1000000"),
        "stock_quantity",
    ),
    "stock with a tiny exponent": (
        lambda ad, al, w: ad.products.update(w["product"].id, stock_quantity="1e-1000000"),
        "stock_quantity",
    ),
    "tax rate with a huge exponent": (lambda ad, al, w: ad.taxes.add("T", "1e1000000"), "rate"),
    "tax rate infinite": (lambda ad, al, w: ad.taxes.add("T", "Infinity"), "rate"),
    "tax rate finer than the column": (
        lambda ad, al, w: ad.taxes.update(w["vat"].id, rate="19.00000000000000000000000001"),
        "rate",
    ),
    "exchange rate with a huge exponent": (
        lambda ad, al, w: ad.currencies.set_rate("EUR", "USD", "1e1000000"),
        "rate",
    ),
    "exchange rate as a Decimal beyond any context": (
        lambda ad, al, w: ad.currencies.set_rate("EUR", "USD", Decimal("9e999999")),
        "rate",
    ),
    "line quantity with a huge exponent": (
        lambda ad, al, w: ad.invoices.update(
            w["invoice"].id, lines=[_line(ad, quantity="1e1000000")]
        ),
        "lines.0.quantity",
    ),
    "line quantity digits beyond the column": (
        lambda ad, al, w: ad.invoices.update(
            w["invoice"].id, lines=[_line(ad, quantity="1.0000000000000000000000000000001")]
        ),
        "lines.0.quantity",
    ),
    "line discount with a tiny exponent": (
        lambda ad, al, w: ad.invoices.update(
            w["invoice"].id, lines=[_line(ad, discount="1e-1000000")]
        ),
        "lines.0.discount",
    ),
    "line price with a huge exponent": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, lines=[_line(ad, price="1e999999")]),
        "lines.0.price",
    ),
    "invoice exchange rate with a huge exponent": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, exchange_rate="1e1000000"),
        "exchange_rate",
    ),
    "budget with a huge exponent": (
        lambda ad, al, w: al.opportunities.update(w["opp"].id, budget="1e1000000"),
        "budget",
    ),
    "budget in full-width digits": (
        lambda ad, al, w: al.opportunities.update(w["opp"].id, budget="\uff11\uff10"),
        "budget",
    ),
}

IDS: dict[str, tuple[Case, str]] = {
    "float contact id": (lambda ad, al, w: al.contacts.get(float(w["ada"].id)), "contact_id"),
    "bool contact id": (lambda ad, al, w: al.contacts.get(True), "contact_id"),
    "string id deletes nothing": (
        lambda ad, al, w: al.contacts.delete(str(w["ada"].id)),
        "contact_id",
    ),
    "zero contact id": (lambda ad, al, w: al.contacts.get(0), "contact_id"),
    "negative contact id": (lambda ad, al, w: al.contacts.get(-1), "contact_id"),
    "2**40 contact id": (lambda ad, al, w: al.contacts.update(2**40, first_name="X"), "contact_id"),
    "2**70 contact id": (lambda ad, al, w: al.contacts.delete(2**70), "contact_id"),
    "float info id": (
        lambda ad, al, w: al.contacts.update_info(
            w["acme"].id, float(w["info"].id), value="+1 202 555 0100"
        ),
        "info_id",
    ),
    "company 2**40": (lambda ad, al, w: al.contacts.update(w["ada"].id, company=2**40), "company"),
    "company filter 2**70": (lambda ad, al, w: al.contacts.list(company=2**70), "company"),
    "float renames no stage": (
        lambda ad, al, w: ad.stages.update(float(w["stage"].id), title="Renamed"),
        "stage_id",
    ),
    "stage 2**40": (lambda ad, al, w: ad.stages.delete(2**40), "stage_id"),
    "float renames no list item": (
        lambda ad, al, w: ad.lists.update(float(w["item"].id), title="Renamed"),
        "item_id",
    ),
    "string list item id": (lambda ad, al, w: ad.lists.delete(str(w["item"].id)), "item_id"),
    "move_to 2**40": (
        lambda ad, al, w: ad.lists.delete(ad.lists.items("task_category")[0].id, move_to=2**40),
        "move_to",
    ),
    "float tag id": (
        lambda ad, al, w: ad.lists.rename_tag(float(w["tag"].id), "Renamed"),
        "tag_id",
    ),
    "string tag id": (lambda ad, al, w: ad.lists.delete_tag(str(w["tag"].id)), "tag_id"),
    "field id 2**70": (lambda ad, al, w: ad.fields.update(2**70, label="X"), "field_id"),
    "float field id": (lambda ad, al, w: ad.fields.delete(1.0), "field_id"),
    "product id 2**70": (lambda ad, al, w: ad.products.get(2**70), "product_id"),
    "tax id 2**40": (lambda ad, al, w: ad.taxes.delete(2**40), "tax_id"),
    "invoice id 2**31": (lambda ad, al, w: ad.invoices.get(2**31), "invoice_id"),
    "float in invoice_ids": (
        lambda ad, al, w: ad.invoices.set_status_many([w["invoice"].id, 1.5], "billed"),
        "invoice_ids",
    ),
    "2**40 in invoice_ids": (
        lambda ad, al, w: ad.invoices.set_status_many([w["invoice"].id, 2**40], "billed"),
        "invoice_ids",
    ),
    "client 2**40": (lambda ad, al, w: ad.invoices.update(w["invoice"].id, client=2**40), "client"),
    "line product 2**70": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, lines=[_line(ad, product=2**70)]),
        "lines.0.product",
    ),
    "line tax id 2**40": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, lines=[_line(ad, taxes=[2**40])]),
        "lines.0.taxes",
    ),
    "float member": (
        lambda ad, al, w: al.opportunities.update(w["opp"].id, members=[float(w["ada"].id)]),
        "members",
    ),
    "2**70 in contacts": (
        lambda ad, al, w: al.tasks.add_for_contacts(
            [w["ada"].id, 2**70], "Call", dt.datetime(2030, 1, 1, tzinfo=UTC)
        ),
        "contacts",
    ),
    "history contact filter 2**40": (lambda ad, al, w: al.history.list(contact=2**40), "contact"),
    "stage by float id": (lambda ad, al, w: al.opportunities.set_stage(w["opp"].id, 1.0), "stage"),
}

TEXTS: dict[str, tuple[Case, str]] = {
    "NUL in a tag title": (
        lambda ad, al, w: al.contacts.update(w["ada"].id, tags={"a\x00b"}),
        "tags",
    ),
    "surrogate in a tag title": (lambda ad, al, w: ad.lists.add_tag("x\ud800"), "title"),
    "NUL in a custom text value": (
        lambda ad, al, w: al.contacts.update(w["ada"].id, custom={"Nick": "a\x00b"}),
        "custom.Nick",
    ),
    "surrogate in a custom textarea value": (
        lambda ad, al, w: al.contacts.update(w["ada"].id, custom={"Notes": "a\ud800"}),
        "custom.Notes",
    ),
    "line break in a manual invoice number": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, number="INV-1\r\nBcc: x@y.example"),
        "number",
    ),
    "NUL in a numbering prefix": (
        lambda ad, al, w: ad.invoices.set_numbering(prefix="A\x00"),
        "prefix",
    ),
    "line break in a numbering prefix": (
        lambda ad, al, w: ad.invoices.set_numbering(prefix="A\n"),
        "prefix",
    ),
    "NUL in a phone": (
        lambda ad, al, w: al.contacts.add_info(w["ada"].id, "phone", "+49 30 1234567\x00"),
        "phone",
    ),
    "NUL in the text filter": (lambda ad, al, w: al.contacts.list(text="a\x00"), "text"),
    "surrogate in the product text filter": (
        lambda ad, al, w: ad.products.list(text="\udc00"),
        "text",
    ),
    "NUL in the invoice text filter": (lambda ad, al, w: ad.invoices.list(text="\x00"), "text"),
    "NUL in a settings key": (lambda ad, al, w: ad.settings.get("a\x00"), "key"),
    "over-long settings key": (lambda ad, al, w: ad.settings.get("k" * 101), "key"),
    "surrogate in a first name": (
        lambda ad, al, w: al.contacts.add_person("Ada\ud800"),
        "first_name",
    ),
    "C1 control in a title": (lambda ad, al, w: al.opportunities.add("Deal\x85\x9b"), "title"),
    "NUL in a tax name on a line": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, lines=[_line(ad, taxes=["VAT\x00"])]),
        "lines.0.taxes",
    ),
    "NUL in a language": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, language="en\x00"),
        "language",
    ),
    "NUL in a contact type title": (
        lambda ad, al, w: al.contacts.update(w["ada"].id, contact_type="Lead\x00"),
        "contact_type",
    ),
    "NUL in the manager filter": (lambda ad, al, w: al.contacts.list(manager="bob\x00"), "manager"),
    "NUL in the responsible filter": (
        lambda ad, al, w: al.opportunities.list(responsible="bob\x00"),
        "responsible",
    ),
    "colour with a trailing line break": (
        lambda ad, al, w: ad.stages.update(w["stage"].id, color="#aabbcc\n"),
        "color",
    ),
}

DATES: dict[str, tuple[Case, str]] = {
    "date.max as issue date": (
        lambda ad, al, w: ad.invoices.update(w["invoice"].id, issue_date=dt.date.max),
        "issue_date",
    ),
    "due date past the calendar": (
        lambda ad, al, w: ad.invoices.update(
            w["invoice"].id, issue_date=dt.date(9000, 12, 31), due_in=30
        ),
        "due_in",
    ),
    "date.min as issue filter": (
        lambda ad, al, w: ad.invoices.list(issued_from=dt.date.min),
        "issued_from",
    ),
    "datetime.max as created_from": (
        lambda ad, al, w: al.contacts.list(created_from=dt.datetime.max.replace(tzinfo=UTC)),
        "created_from",
    ),
    "naive created_to": (
        lambda ad, al, w: al.contacts.count(created_to=dt.datetime(2030, 1, 1)),
        "created_to",
    ),
    "year one as happened_at": (
        lambda ad, al, w: al.history.add(
            "Met", w["category"], contact=w["ada"], happened_at=dt.datetime(1, 1, 1, tzinfo=UTC)
        ),
        "happened_at",
    ),
    "datetime.min as due_from": (
        lambda ad, al, w: al.tasks.list(due_from=dt.datetime.min.replace(tzinfo=UTC)),
        "due_from",
    ),
    "year one as expected close": (
        lambda ad, al, w: al.opportunities.update(w["opp"].id, expected_close=dt.date(1, 1, 1)),
        "expected_close",
    ),
}

SMALL: dict[str, tuple[Case, str]] = {
    "audit limit -1": (lambda ad, al, w: ad.settings.audit_trail(limit=-1), "limit"),
    "audit limit 0": (lambda ad, al, w: ad.settings.audit_trail(limit=0), "limit"),
    "audit limit 501": (lambda ad, al, w: ad.settings.audit_trail(limit=501), "limit"),
    "audit limit as text": (lambda ad, al, w: ad.settings.audit_trail(limit="10"), "limit"),
    "NUL in the audit entity type": (
        lambda ad, al, w: ad.settings.audit_trail(entity_type="contact\x00"),
        "entity_type",
    ),
    "audit entity id 2**70": (
        lambda ad, al, w: ad.settings.audit_trail(entity_id=2**70),
        "entity_id",
    ),
    "primary as text": (
        lambda ad, al, w: al.contacts.add_info(w["ada"].id, "email", "a@b.example", primary="yes"),
        "primary",
    ),
    "in_stock as text": (lambda ad, al, w: ad.products.list(in_stock="no"), "in_stock"),
    "track_inventory as text": (
        lambda ad, al, w: ad.products.update(w["product"].id, track_inventory="yes"),
        "track_inventory",
    ),
    "notify as text": (
        lambda ad, al, w: al.tasks.add("Call", dt.datetime(2030, 1, 1, tzinfo=UTC), notify="no"),
        "notify",
    ),
    "restricted as text": (
        lambda ad, al, w: al.opportunities.set_access(w["opp"].id, restricted="yes"),
        "restricted",
    ),
    "automatic as text": (lambda ad, al, w: ad.invoices.set_numbering(automatic="no"), "automatic"),
    "overdue as text": (lambda ad, al, w: ad.invoices.list(overdue="yes"), "overdue"),
    "currency with spaces": (
        lambda ad, al, w: al.contacts.update(w["ada"].id, currency=" EUR "),
        "currency",
    ),
    "default currency with spaces": (
        lambda ad, al, w: ad.currencies.set_default("EUR "),
        "currency",
    ),
    "phone with letters": (
        lambda ad, al, w: al.contacts.add_info(w["ada"].id, "phone", "+1-800-FLOWERS"),
        "phone",
    ),
    "sort order 2**40": (
        lambda ad, al, w: ad.lists.update(w["item"].id, sort_order=2**40),
        "sort_order",
    ),
    "field type not a string": (lambda ad, al, w: ad.fields.add("contact", "X", ["text"]), "type"),
}

ALL = {
    **{f"number: {k}": v for k, v in NUMBERS.items()},
    **{f"id: {k}": v for k, v in IDS.items()},
    **{f"text: {k}": v for k, v in TEXTS.items()},
    **{f"date: {k}": v for k, v in DATES.items()},
    **{f"small: {k}": v for k, v in SMALL.items()},
}


@pytest.mark.parametrize("case", sorted(ALL))
def test_hostile_argument_is_a_validation_error_naming_it(crm, admin, alice, world, case):
    call, field = ALL[case]
    before = everything(crm)
    with pytest.raises(ValidationError) as info:
        call(admin, alice, world)
    assert field in info.value.errors, info.value.errors
    assert everything(crm) == before


def test_an_id_in_range_that_names_nothing_is_still_not_found(alice, admin):
    for call in (
        lambda: alice.contacts.get(2**31 - 1),
        lambda: admin.products.get(2**31 - 1),
        lambda: admin.stages.update(2**31 - 1, title="X"),
        lambda: admin.lists.rename_tag(2**31 - 1, "X"),
    ):
        with pytest.raises(NotFound):
            call()


def test_valid_edges_are_accepted(admin, alice, world):
    """What the cleaners accept at their edges is stored and read back exactly."""
    tax = admin.taxes.add("Edge", "999.999999")
    assert admin.taxes.get(tax.id).rate == Decimal("999.999999")
    product = admin.products.update(world["product"].id, stock_quantity="1_000.500000")
    assert admin.products.get(product.id).stock_quantity == Decimal("1000.5")
    admin.currencies.set_rate("eur", "USD", "1e2")
    assert {(r.from_currency, r.to_currency, r.rate) for r in admin.currencies.rates()} == {
        ("EUR", "USD", Decimal(100))
    }
    late = admin.invoices.update(
        world["invoice"].id, issue_date=dt.date(9000, 11, 1), due_in="30_days"
    )
    assert late.due_date == dt.date(9000, 12, 1)
    assert len(admin.settings.audit_trail(limit=500)) >= 1
    info = alice.contacts.add_info(world["ada"].id, "phone", "+49 30 1234567 ext. 12")
    assert info.normalized == "+49301234567"
    mail = alice.contacts.add_info(world["ada"].id, "email", "ada@b\u00fccher.example")
    assert (mail.value, mail.normalized) == ("ada@b\u00fccher.example", "ada@xn--bcher-kva.example")
    notes = alice.contacts.update(world["ada"].id, about="one\r\ntwo\rthree\tfour")
    assert notes.about == "one\ntwo\nthree\tfour"
