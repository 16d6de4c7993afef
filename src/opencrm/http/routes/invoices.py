"""Invoices: create with lines, read, change drafts, statuses, copies, the PDF and HTML
documents, sending by e-mail; and the invoice settings (numbering, seller, terms, rounding)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from opencrm.core.entities.contacts import Address
from opencrm.core.entities.invoices import Invoice, InvoiceNumbering, InvoiceStatus
from opencrm.core.ports import Message
from opencrm.errors import NotFound
from opencrm.http._api import Call, Download, Items, Listing, ListQuery, Route
from opencrm.http._convert import UNSET, given
from opencrm.http.routes.currencies import ROUNDING_SCHEMA

__all__ = ["ROUTES"]

TAG = "invoices"


@attrs.frozen(kw_only=True)
class LineIn:
    """One line: a product and/or a description; the product gives the price and taxes
    unless they are given."""

    description: str = UNSET
    product: int | None = UNSET
    quantity: Decimal = UNSET
    #: Per unit, in the invoice currency: up to six decimal places, kept as entered.
    price: Decimal | None = UNSET
    #: In percent, 0 to 100.
    discount: Decimal = UNSET
    #: Up to two taxes by id or name; null takes the product's, [] none.
    taxes: list[int | str] | None = UNSET


@attrs.frozen(kw_only=True)
class _InvoiceFields:
    number: str | None = UNSET
    issue_date: dt.date = UNSET
    due_date: dt.date = UNSET
    #: on_receipt, 15_days, 30_days, 45_days or a number of days.
    due_in: int | str = UNSET
    #: A contact id, or "same_as_client".
    consignee: int | str | None = UNSET
    #: The id of a billing address of the client; when left out on creation (or when the
    #: client changes), the client's billing address, else its primary address.
    billing_address: int | None = UNSET
    #: The id of a postal address of the consignee (or of the client).
    delivery_address: int | None = UNSET
    opportunity: int | None = UNSET
    language: str = UNSET
    currency: str = UNSET
    #: Default-currency units per invoice-currency unit; the stored rate when left out.
    exchange_rate: Decimal | None = UNSET
    po_number: str = UNSET
    terms: str = UNSET
    notes: str = UNSET


@attrs.frozen(kw_only=True)
class InvoiceIn(_InvoiceFields):
    client: int
    lines: list[LineIn]


@attrs.frozen(kw_only=True)
class InvoicePatch(_InvoiceFields):
    """Fields to change on a draft; ``lines`` given replace every line."""

    client: int = UNSET
    lines: list[LineIn] = UNSET


@attrs.frozen(kw_only=True)
class InvoiceQuery(ListQuery):
    status: InvoiceStatus = UNSET
    client: int = UNSET
    opportunity: int = UNSET
    currency: str = UNSET
    issued_from: dt.date = UNSET
    issued_to: dt.date = UNSET
    overdue: bool = UNSET
    text: str = UNSET


@attrs.frozen(kw_only=True)
class StatusIn:
    status: InvoiceStatus


@attrs.frozen(kw_only=True)
class StatusManyIn:
    ids: list[int]
    status: InvoiceStatus


@attrs.frozen(kw_only=True)
class SendIn:
    #: Recipients; the client's primary e-mail address when left out.
    to: list[str] = UNSET
    subject: str = UNSET
    message: str = UNSET


@attrs.frozen(kw_only=True)
class SentAttachment:
    filename: str
    content_type: str
    size: int


@attrs.frozen(kw_only=True)
class SentMessage:
    """The e-mail that went out (its attachments by name and size, not their bytes)."""

    to: list[str]
    subject: str
    text: str
    language: str | None
    attachments: list[SentAttachment]


@attrs.frozen(kw_only=True)
class NumberingPatch:
    automatic: bool = UNSET
    prefix: str = UNSET
    #: Digits; their count is the zero-padded width ("0000001").
    start: str | int = UNSET


@attrs.frozen(kw_only=True)
class AddressIn:
    street: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""


@attrs.frozen(kw_only=True)
class OrganisationPatch:
    name: str = UNSET
    #: Replaces the whole address; null clears it.
    address: AddressIn | None = UNSET


@attrs.frozen(kw_only=True)
class OrganisationOut:
    """The seller on every invoice; ``logo_url`` links the logo image (null without one)."""

    name: str
    address: Address
    logo_url: str | None


@attrs.frozen(kw_only=True)
class InvoiceTerms:
    terms: str


@attrs.frozen(kw_only=True)
class InvoiceRounding:
    rounding: str = attrs.field(metadata={"schema": ROUNDING_SCHEMA})


# --- handlers -------------------------------------------------------------------------------


def _lines(args: dict[str, Any]) -> dict[str, Any]:
    if "lines" in args:
        args["lines"] = [given(line) for line in args["lines"]]
    return args


def list_invoices(c: Call) -> Any:
    return c.page(c.s.invoices)


def add_invoice(c: Call) -> Invoice:
    return c.s.invoices.add(**_lines(c.args()))  # type: ignore[no-any-return]


def get_invoice(c: Call) -> Invoice:
    return c.s.invoices.get(c.path["invoice_id"])  # type: ignore[no-any-return]


def update_invoice(c: Call) -> Invoice:
    return c.s.invoices.update(c.path["invoice_id"], **_lines(c.args()))  # type: ignore[no-any-return]


def delete_invoice(c: Call) -> None:
    c.s.invoices.delete(c.path["invoice_id"])


def set_invoice_status(c: Call) -> Invoice:
    return c.s.invoices.set_status(c.path["invoice_id"], c.body.status)  # type: ignore[no-any-return]


def set_invoice_statuses(c: Call) -> list[Invoice]:
    return c.s.invoices.set_status_many(c.body.ids, c.body.status)  # type: ignore[no-any-return]


def duplicate_invoice(c: Call) -> Invoice:
    return c.s.invoices.duplicate(c.path["invoice_id"])  # type: ignore[no-any-return]


def _filename(invoice: Invoice, extension: str) -> str:
    return f"invoice-{invoice.number}.{extension}"


def get_invoice_pdf(c: Call) -> Download:
    invoice = c.s.invoices.get(c.path["invoice_id"])
    pdf = c.s.invoices.pdf(invoice.id)
    return Download(pdf, "application/pdf", _filename(invoice, "pdf"))


def get_invoice_html(c: Call) -> Download:
    # Shown in place (to read or print): the API's download policy forbids scripts and
    # every fetch, so the page is inert; its logo is inlined as a data: image.
    invoice = c.s.invoices.get(c.path["invoice_id"])
    html = c.s.invoices.html(invoice.id).encode("utf-8")
    return Download(html, "text/html; charset=utf-8", _filename(invoice, "html"), inline=True)


def send_invoice(c: Call) -> SentMessage:
    args = c.args()
    message: Message = c.s.invoices.send(c.path["invoice_id"], **args)
    return SentMessage(
        to=list(message.to),
        subject=message.subject,
        text=message.text,
        language=message.language,
        attachments=[
            SentAttachment(filename=a.filename, content_type=a.content_type, size=len(a.data))
            for a in message.attachments
        ],
    )


def get_invoice_numbering(c: Call) -> InvoiceNumbering:
    return c.s.invoices.numbering()  # type: ignore[no-any-return]


def set_invoice_numbering(c: Call) -> InvoiceNumbering:
    return c.s.invoices.set_numbering(**c.args())  # type: ignore[no-any-return]


def _organisation_out(c: Call, organisation: Any) -> OrganisationOut:
    logo = f"{c.request.base}{ORGANISATION}/logo" if organisation.logo else None
    return OrganisationOut(name=organisation.name, address=organisation.address, logo_url=logo)


def get_organisation(c: Call) -> OrganisationOut:
    return _organisation_out(c, c.s.invoices.organisation())


def set_organisation(c: Call) -> OrganisationOut:
    args = c.args()
    if args.get("address") is not None:
        args["address"] = attrs.asdict(args["address"])
    return _organisation_out(c, c.s.invoices.set_organisation(**args))


def get_organisation_logo(c: Call) -> Download:
    logo = c.s.invoices.organisation().logo
    if logo is None:
        raise NotFound("logo", "organisation")
    kind = "png" if logo.startswith(b"\x89PNG") else "jpeg"
    return Download(logo, f"image/{kind}", f"logo.{kind}", inline=True)


def set_organisation_logo(c: Call) -> OrganisationOut:
    data = c.upload().stream.read()
    return _organisation_out(c, c.s.invoices.set_organisation(logo=data))


def remove_organisation_logo(c: Call) -> None:
    c.s.invoices.set_organisation(logo=None)


def get_invoice_terms(c: Call) -> InvoiceTerms:
    return InvoiceTerms(terms=c.s.invoices.default_terms())


def set_invoice_terms(c: Call) -> InvoiceTerms:
    c.s.invoices.set_default_terms(c.body.terms)
    return get_invoice_terms(c)


def get_invoice_rounding(c: Call) -> InvoiceRounding:
    return InvoiceRounding(rounding=c.s.invoices.rounding())


def set_invoice_rounding(c: Call) -> InvoiceRounding:
    c.s.invoices.set_rounding(c.body.rounding)
    return get_invoice_rounding(c)


def _invoice_location(invoice: Invoice) -> str:
    return f"/invoices/{invoice.id}"


ONE = "/invoices/{invoice_id}"
ORGANISATION = "/settings/organisation"

ROUTES = [
    Route(
        method="GET",
        path="/invoices",
        handler=list_invoices,
        summary="List the invoices you may read",
        description="Filters combine with AND; `issued_from` is inclusive, `issued_to` "
        "exclusive; `overdue=true` keeps billed invoices past their due date; `text` matches "
        "the number and notes. Sorts: number, issue_date, due_date, status, created (`-` for "
        "descending; newest issue date first by default). `count=true` adds the total.",
        tag=TAG,
        query=InvoiceQuery,
        returns=Listing(Invoice),
        exposes=("invoices.list", "invoices.count"),
    ),
    Route(
        method="POST",
        path="/invoices",
        handler=add_invoice,
        summary="Create a draft invoice with its lines",
        description="Left out: the next automatic number, issued today, due in 30 days, "
        "the default currency at its stored exchange rate, the default terms.",
        tag=TAG,
        body=InvoiceIn,
        returns=Invoice,
        status=201,
        location=_invoice_location,
        exposes=("invoices.add",),
    ),
    Route(
        method="POST",
        path="/invoices/status",
        handler=set_invoice_statuses,
        summary="Change the status of several invoices at once (all or none)",
        tag=TAG,
        body=StatusManyIn,
        returns=Items(Invoice),
        exposes=("invoices.set_status_many",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_invoice,
        summary="Read an invoice",
        tag=TAG,
        returns=Invoice,
        exposes=("invoices.get",),
    ),
    Route(
        method="PATCH",
        path=ONE,
        handler=update_invoice,
        summary="Change a draft invoice (its lines given replace all lines)",
        tag=TAG,
        body=InvoicePatch,
        returns=Invoice,
        current=get_invoice,
        exposes=("invoices.update",),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_invoice,
        summary="Delete a draft or rejected invoice",
        tag=TAG,
        current=get_invoice,
        exposes=("invoices.delete",),
    ),
    Route(
        method="POST",
        path=ONE + "/status",
        handler=set_invoice_status,
        summary="Move an invoice to another status",
        description="Draft -> billed -> paid or rejected; rejected -> draft; paid -> billed. "
        "Any other change is 409 `invalid_transition`.",
        tag=TAG,
        body=StatusIn,
        returns=Invoice,
        current=get_invoice,
        exposes=("invoices.set_status",),
    ),
    Route(
        method="POST",
        path=ONE + "/duplicate",
        handler=duplicate_invoice,
        summary="Copy an invoice into a new draft issued today",
        tag=TAG,
        returns=Invoice,
        status=201,
        location=_invoice_location,
        exposes=("invoices.duplicate",),
    ),
    Route(
        method="GET",
        path=ONE + "/pdf",
        handler=get_invoice_pdf,
        summary="The invoice as a PDF, in its language",
        tag=TAG,
        returns=Download,
        download_type="application/pdf",
        exposes=("invoices.pdf",),
    ),
    Route(
        method="GET",
        path=ONE + "/html",
        handler=get_invoice_html,
        summary="The invoice as an HTML page, in its language",
        tag=TAG,
        returns=Download,
        download_type="text/html",
        exposes=("invoices.html",),
    ),
    Route(
        method="POST",
        path=ONE + "/send",
        handler=send_invoice,
        summary="E-mail the invoice with its PDF attached",
        description="To the addresses given or else the client's primary e-mail address; "
        "`subject` and `message` replace the defaults in the invoice's language. 503 when "
        "the CRM cannot send mail.",
        tag=TAG,
        body=SendIn,
        returns=SentMessage,
        exposes=("invoices.send",),
    ),
    Route(
        method="GET",
        path="/settings/invoice-numbering",
        handler=get_invoice_numbering,
        summary="How new invoices are numbered",
        tag=TAG,
        returns=InvoiceNumbering,
        exposes=("invoices.numbering",),
    ),
    Route(
        method="PATCH",
        path="/settings/invoice-numbering",
        handler=set_invoice_numbering,
        summary="Change the invoice number format (admins)",
        description="`prefix` and `start` for automatic numbers, or `automatic: false` for "
        "numbers typed on each invoice. 409 when the next number is taken already.",
        tag=TAG,
        body=NumberingPatch,
        returns=InvoiceNumbering,
        exposes=("invoices.set_numbering",),
    ),
    Route(
        method="GET",
        path=ORGANISATION,
        handler=get_organisation,
        summary="The seller shown on every invoice",
        tag=TAG,
        returns=OrganisationOut,
        exposes=("invoices.organisation",),
    ),
    Route(
        method="PATCH",
        path=ORGANISATION,
        handler=set_organisation,
        summary="Change the seller's name or address (admins)",
        tag=TAG,
        body=OrganisationPatch,
        returns=OrganisationOut,
        exposes=("invoices.set_organisation",),
    ),
    Route(
        method="GET",
        path=ORGANISATION + "/logo",
        handler=get_organisation_logo,
        summary="The seller's logo image",
        tag=TAG,
        returns=Download,
        download_type="image/*",
    ),
    Route(
        method="PUT",
        path=ORGANISATION + "/logo",
        handler=set_organisation_logo,
        summary="Set the seller's logo (admins; multipart field `file`; PNG or JPEG, 1 MB)",
        tag=TAG,
        upload=True,
        returns=OrganisationOut,
        exposes=("invoices.set_organisation",),
    ),
    Route(
        method="DELETE",
        path=ORGANISATION + "/logo",
        handler=remove_organisation_logo,
        summary="Remove the seller's logo (admins)",
        tag=TAG,
        exposes=("invoices.set_organisation",),
    ),
    Route(
        method="GET",
        path="/settings/invoice-terms",
        handler=get_invoice_terms,
        summary="The terms new invoices get",
        tag=TAG,
        returns=InvoiceTerms,
        exposes=("invoices.default_terms",),
    ),
    Route(
        method="PUT",
        path="/settings/invoice-terms",
        handler=set_invoice_terms,
        summary="Set the terms new invoices get (admins)",
        tag=TAG,
        body=InvoiceTerms,
        returns=InvoiceTerms,
        exposes=("invoices.set_default_terms",),
    ),
    Route(
        method="GET",
        path="/settings/invoice-rounding",
        handler=get_invoice_rounding,
        summary="The rounding mode new invoices are computed with",
        tag=TAG,
        returns=InvoiceRounding,
        exposes=("invoices.rounding",),
    ),
    Route(
        method="PUT",
        path="/settings/invoice-rounding",
        handler=set_invoice_rounding,
        summary="Set the rounding mode of new invoices (admins; existing ones keep theirs)",
        tag=TAG,
        body=InvoiceRounding,
        returns=InvoiceRounding,
        exposes=("invoices.set_rounding",),
    ),
]
