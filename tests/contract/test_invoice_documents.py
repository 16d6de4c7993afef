"""Invoice documents: HTML and PDF in the invoice's language, with the stored totals."""

# ruff: noqa: RUF001  (Cyrillic and typographic characters are the point of these tests)

from __future__ import annotations

import io

import pytest
from babel.numbers import format_currency
from pypdf import PdfReader

from opencrm import NotFound
from opencrm.plugins.builtin.invoice_documents import label, render_html


def _plain(text: str) -> str:
    """Whitespace as pypdf and babel disagree on it (no-break and narrow spaces)."""
    return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())


@pytest.fixture
def invoice_for(admin):
    admin.invoices.set_organisation(
        name="Müller & Söhne GmbH", address={"street": "Königstraße 5", "city": "Köln"}
    )
    vat = admin.taxes.add("MwSt", "19")
    admin.taxes.add("НДС", "20")
    client = admin.contacts.add_company(
        "Ёлка и Ко",
        infos=[{"type": "address", "value": {"city": "Москва"}, "category": "billing"}],
    )

    def make(language: str, taxes: list[str]) -> int:
        inv = admin.invoices.add(
            client=client,
            language=language,
            billing_address=client.infos[0].id,
            po_number="PO-42",
            terms="Zahlbar innerhalb von 14 Tagen / Оплата в течение 14 дней",
            lines=[
                admin.invoices.line("Beratung – Straße", price="1234.56", quantity=3, taxes=taxes),
                admin.invoices.line("Обслуживание", price="99.99", quantity="2.5", discount=10),
            ],
        )
        return inv.id

    del vat
    return make


@pytest.mark.parametrize(
    ("language", "taxes", "words"),
    [
        ("de", ["MwSt"], ["Rechnung", "Zwischensumme", "Müller & Söhne", "Ёлка и Ко"]),
        ("ru", ["НДС"], ["Счёт", "Итого", "Ёлка и Ко", "Москва", "Müller & Söhne"]),
    ],
)
def test_pdf_in_german_and_russian_has_the_totals(admin, invoice_for, language, taxes, words):
    invoice_id = invoice_for(language, taxes)
    inv = admin.invoices.get(invoice_id)
    pdf = admin.invoices.pdf(invoice_id)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    text = _plain("\n".join(page.extract_text() for page in reader.pages))
    for amount in (inv.subtotal, inv.tax_totals[0].amount, inv.total):
        assert _plain(format_currency(amount.amount, "USD", locale=language)) in text
    for word in words:
        assert word in text
    assert "PO-42" in text
    assert inv.number in text


def test_html_is_escaped_translated_and_totals_never_change(admin, invoice_for):
    invoice_id = invoice_for("fr", ["MwSt"])
    before = admin.invoices.get(invoice_id)
    page = admin.invoices.html(invoice_id)
    assert "Müller &amp; Söhne GmbH" in page
    assert "Sous-total" in page
    assert "Facture" in page
    assert _plain(format_currency(before.total.amount, "USD", locale="fr")) in _plain(page)
    admin.invoices.set_rounding("ROUND_DOWN")
    admin.invoices.pdf(invoice_id)
    assert admin.invoices.get(invoice_id) == before


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "ru"])
def test_every_label_is_translated(language):
    from opencrm.plugins.builtin.invoice_documents import _COLUMNS

    for text in ("Invoice", "Subtotal", "Total", "Terms", "Notes", "Bill to", *_COLUMNS):
        assert label(text, language)
    if language != "en":
        assert label("Invoice", language) != "Invoice"
    assert label("Subtotal", "de_AT") == "Zwischensumme"
    assert label("Subtotal", "ja") == "Subtotal"


def test_session_documents_are_the_rendered_document_and_need_read_access(crm, users, admin):
    client = admin.contacts.add_company("Private Co", access="private", managers={"alice"})
    inv = admin.invoices.add(client=client, lines=[admin.invoices.line("x", price="1")])
    assert admin.invoices.html(inv.id) == render_html(admin.invoices.document(inv.id))
    assert admin.invoices.pdf(inv.id).startswith(b"%PDF-")
    assert crm.session(users["alice"]).invoices.html(inv.id).startswith("<!DOCTYPE")
    bob = crm.session(users["bob"])
    for render in (bob.invoices.pdf, bob.invoices.html):
        with pytest.raises(NotFound):
            render(inv.id)
