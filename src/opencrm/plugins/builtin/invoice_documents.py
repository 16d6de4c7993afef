"""Invoice documents: an invoice rendered to HTML or PDF in its own language.

The layout follows the reference CRM: seller and logo, number, dates and PO number, bill-to
and ship-to, the lines (item, quantity, price, discount, taxes, amount), subtotal, one row per
tax, total, terms and notes. Dates, numbers and money are formatted by babel in the invoice's
language; labels come from the gettext catalogs in ``locale/<lang>/LC_MESSAGES`` (English,
German, French, Spanish, Russian; others fall back to English), read at run time with babel so
no compile step is needed. The PDF embeds the bundled DejaVu Sans fonts (see
``fonts/LICENSE``), so Cyrillic and accented Latin render on a machine without system fonts.

Use: ``render_pdf(session.invoices.document(invoice_id))``.
"""

from __future__ import annotations

import copy
import html
import io
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from fpdf import FPDF
from moneyed import Money

from opencrm.core.entities.contacts import Address
from opencrm.core.entities.invoices import InvoiceDocument, InvoiceLine
from opencrm.core.money import minor_units

__all__ = ["LANGUAGES", "label", "render_html", "render_pdf"]

_HERE = Path(__file__).resolve().parent
_FONTS = _HERE / "fonts"
_LOCALE = _HERE / "locale"
_DOMAIN = "invoice_documents"

#: Languages with translated labels.
LANGUAGES = ("de", "en", "es", "fr", "ru")


@cache
def _catalog(language: str) -> dict[str, str]:
    path = _LOCALE / language / "LC_MESSAGES" / f"{_DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def label(text: str, language: str) -> str:
    """``text`` translated to ``language`` (``"de_AT"`` falls back to ``"de"``, then English)."""
    lang = Locale.parse(language)
    for name in (str(lang), lang.language):
        found = _catalog(name).get(text)
        if found:
            return found
    return text


class _Fmt:
    def __init__(self, doc: InvoiceDocument) -> None:
        self.lang = doc.invoice.language
        self.locale = Locale.parse(self.lang)
        self.currency = doc.invoice.currency

    def t(self, text: str) -> str:
        return label(text, self.lang)

    def money(self, amount: Money) -> str:
        # currency_digits keeps the ISO minor units (JPY 0, KWD 3); never rounds further.
        return str(format_currency(amount.amount, self.currency, locale=self.lang))

    def unit_price(self, price: Money) -> str:
        """A unit price as entered: with its own decimal places (up to six, never fewer than
        the currency's minor units), which ``money`` would round away."""
        places = max(-_exponent(price.amount), minor_units(self.currency))
        # A copy: the locale's pattern object is shared babel data.
        pattern = copy.copy(self.locale.currency_formats["standard"])
        pattern.frac_prec = (places, places)
        return str(
            pattern.apply(price.amount, self.locale, currency=self.currency, currency_digits=False)
        )

    def number(self, value: Decimal) -> str:
        return str(format_decimal(value, locale=self.lang, decimal_quantization=False))

    def date(self, value: object) -> str:
        return str(format_date(value, format="medium", locale=self.lang))  # type: ignore[arg-type]


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # stored amounts are finite
    return exponent


def _address_lines(name: str, address: Address | None) -> list[str]:
    lines = [name]
    if address is not None and address.one_line():
        lines.append(address.one_line())
    return lines


def _item(doc: InvoiceDocument, line: InvoiceLine) -> str:
    title = doc.product_titles.get(line.product_id, "") if line.product_id else ""
    if title and line.description:
        return f"{title}: {line.description}"
    return title or line.description


def _rows(doc: InvoiceDocument, f: _Fmt) -> list[list[str]]:
    rows = []
    for line in doc.invoice.lines:
        taxes = [f"{t.name} ({f.number(t.rate)} %)" for t in line.taxes] + ["", ""]
        rows.append(
            [
                _item(doc, line),
                f.number(line.quantity),
                f.unit_price(line.price),
                f"{f.number(line.discount)} %",
                taxes[0],
                taxes[1],
                f.money(line.net),
            ]
        )
    return rows


def _totals(doc: InvoiceDocument, f: _Fmt) -> list[tuple[str, str]]:
    inv = doc.invoice
    out = [(f.t("Subtotal"), f.money(inv.subtotal))]
    out += [(f"{t.name} ({f.number(t.rate)} %)", f.money(t.amount)) for t in inv.tax_totals]
    out.append((f"{f.t('Total')} ({inv.currency})", f.money(inv.total)))
    return out


def _header(doc: InvoiceDocument, f: _Fmt) -> list[tuple[str, str]]:
    inv = doc.invoice
    out = [(f.t("Number"), inv.number), (f.t("Issue date"), f.date(inv.issue_date))]
    if inv.po_number:
        out.append((f.t("PO number"), inv.po_number))
    out.append((f.t("Due date"), f.date(inv.due_date)))
    return out


def _parties(doc: InvoiceDocument, f: _Fmt) -> list[tuple[str, list[str]]]:
    inv = doc.invoice
    out = [(f.t("Bill to"), _address_lines(doc.client_name, inv.billing_address))]
    ship_name = doc.consignee_name or doc.client_name
    if inv.consignee_id or inv.delivery_address:
        out.append((f.t("Ship to"), _address_lines(ship_name, inv.delivery_address)))
    return out


_COLUMNS = ("Item", "Quantity", "Price", "Discount", "Tax", "Tax", "Amount")


def render_html(doc: InvoiceDocument) -> str:
    """The invoice as a standalone HTML page (UTF-8, escaped, inline styles, logo inlined)."""
    import base64

    f = _Fmt(doc)
    e = html.escape
    seller = doc.seller
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{e(f.lang.replace("_", "-"))}"><head><meta charset="utf-8">',
        f"<title>{e(f.t('Invoice'))} {e(doc.invoice.number)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{padding:4px 8px}.num{text-align:right}</style></head><body>",
    ]
    if seller.logo:
        kind = "png" if seller.logo.startswith(b"\x89PNG") else "jpeg"
        data = base64.b64encode(seller.logo).decode()
        parts.append(f'<img class="logo" alt="" src="data:image/{kind};base64,{data}">')
    seller_text = ", ".join(p for p in (seller.name, seller.address.one_line()) if p)
    if seller_text:
        parts.append(f'<p class="seller">{e(seller_text)}</p>')
    parts.append(f"<h1>{e(f.t('Invoice'))}</h1><table class='header'>")
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _header(doc, f)]
    parts.append("</table>")
    for title, lines in _parties(doc, f):
        body = "<br>".join(e(x) for x in lines)
        parts.append(f"<h2>{e(title)}</h2><p>{body}</p>")
    parts.append("<table class='lines'><tr>")
    parts += [f"<th>{e(f.t(c))}</th>" for c in _COLUMNS]
    parts.append("</tr>")
    for row in _rows(doc, f):
        cells = [f"<td>{e(row[0])}</td>"] + [f'<td class="num">{e(c)}</td>' for c in row[1:]]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table><table class='totals'>")
    parts += [f'<tr><th>{e(k)}</th><td class="num">{e(v)}</td></tr>' for k, v in _totals(doc, f)]
    parts.append("</table>")
    for name, text in (("Terms", doc.invoice.terms), ("Notes", doc.invoice.notes)):
        if text:
            parts.append(f"<h2>{e(f.t(name))}</h2><p>{e(text).replace(chr(10), '<br>')}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_pdf(doc: InvoiceDocument) -> bytes:
    """The invoice as an A4 PDF with embedded fonts."""
    f = _Fmt(doc)
    pdf = FPDF(format="A4")
    pdf.set_creator("opencrm")
    pdf.set_title(f"{f.t('Invoice')} {doc.invoice.number}")
    pdf.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    seller = doc.seller
    if seller.logo:
        pdf.image(io.BytesIO(seller.logo), x=pdf.w - pdf.r_margin - 40, y=10, w=40)
    pdf.set_font("DejaVu", "", 9)
    seller_text = ", ".join(p for p in (seller.name, seller.address.one_line()) if p)
    if seller_text:
        pdf.multi_cell(width - 45, 5, seller_text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, f.t("Invoice"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for key, value in _header(doc, f):
        pdf.cell(40, 6, key)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for title, lines in _parties(doc, f):
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(0, 5, "\n".join(lines), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    pdf.ln(2)
    pdf.set_font("DejaVu", "", 8)
    widths = (0.28, 0.09, 0.13, 0.09, 0.13, 0.13, 0.15)
    aligns = ("LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "LEFT", "RIGHT")
    with pdf.table(
        col_widths=widths, text_align=aligns, line_height=5, first_row_as_headings=True
    ) as table:
        table.row([f.t(c) for c in _COLUMNS])
        for row in _rows(doc, f):
            table.row(row)
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 10)
    totals = _totals(doc, f)
    for n, (key, value) in enumerate(totals):
        if n == len(totals) - 1:
            pdf.set_font("DejaVu", "B", 11)
        pdf.cell(width - 45, 6, key, align="R")
        pdf.cell(45, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for name, text in (("Terms", doc.invoice.terms), ("Notes", doc.invoice.notes)):
        if text:
            pdf.ln(4)
            pdf.set_font("DejaVu", "B", 10)
            pdf.cell(0, 6, f.t(name), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 10)
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
