"""Invoices, products & services, taxes, currencies and exchange rates (SPEC S7)."""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from babel import Locale, UnknownLocaleError
from moneyed import Money

from opencrm.core import permissions as policy
from opencrm.core._inputs import (
    add_days,
    clean_bool,
    clean_date,
    clean_id,
    clean_ids,
    has_control,
    single_line,
)
from opencrm.core.contact_data import clean_name, clean_text
from opencrm.core.currencies import CURRENCIES, Currency
from opencrm.core.entities.contacts import Address, Contact, ContactInfo, InfoType
from opencrm.core.entities.invoices import (
    ExchangeRate,
    Invoice,
    InvoiceDocument,
    InvoiceLine,
    InvoiceNumbering,
    InvoiceStatus,
    LineTax,
    Organisation,
    Product,
    Tax,
    TaxTotal,
)
from opencrm.core.files import JPEG, PNG
from opencrm.core.invoice_ports import INVOICE_SORTS, InvoiceFilter, TaxRepository
from opencrm.core.invoicing import (
    MAX_LINE_TAXES,
    LineInput,
    TaxRef,
    check_transition,
    compute,
    parse_start_number,
)
from opencrm.core.money import (
    MAX_AMOUNT,
    MAX_RATE,
    ExchangeRates,
    clean_currency,
    clean_rounding,
    money,
    round_amount,
    to_decimal,
    unit_price,
)
from opencrm.core.photos import reencode_image
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._invoice_mail import Message, send_invoice
from opencrm.core.services._records import given_filters, items_of, storable_id, text_filter
from opencrm.errors import (
    Conflict,
    MissingExchangeRates,
    NotConfigured,
    NotFound,
    PermissionDenied,
    ValidationError,
)

__all__ = [
    "SAME_AS_CLIENT",
    "CurrencyService",
    "InvoiceService",
    "LineSpec",
    "ProductService",
    "TaxService",
]

DEFAULT_CURRENCY_KEY = "default_currency"
ROUNDING_KEY = "invoice_rounding"
TERMS_KEY = "invoice_terms"
ORGANISATION_KEY = "organisation"
#: What creating an invoice reads, in one query.
_NEW_INVOICE_SETTINGS = (ROUNDING_KEY, DEFAULT_CURRENCY_KEY, TERMS_KEY)

#: Pass as ``consignee`` to ship to the client itself.
SAME_AS_CLIENT = "same_as_client"
#: The due-date presets of the reference: on receipt, 15, 30 and 45 days.
DUE_PRESETS = {"on_receipt": 0, "15_days": 15, "30_days": 30, "45_days": 45}
MAX_QUANTITY = Decimal(10**9)
#: Stock is kept with 6 decimals; a tracked product's stock stays within this size.
MAX_STOCK = Decimal(10**15)
MAX_LINES = 1000
MAX_LOGO_BYTES = 1024 * 1024
#: A stored logo fits this box (width, height in pixels); larger uploads are scaled down.
LOGO_BOX = (1200, 600)
_LOGO_TYPES = frozenset({PNG, JPEG})
_UNSET: Any = object()


def _emit_setting(tx: Tx, key: str, before: Any, after: Any) -> None:
    tx.emit("setting.updated", entity_id=key, data={"key": key, "before": before, "after": after})


def _id_of(value: object, field: str) -> int:
    """An id given as a record (anything with an ``id``) or as an integer."""
    return clean_id(getattr(value, "id", value), field)


def _setting(tx: Tx, key: str, settings: Mapping[str, Any] | None) -> Any:
    """A stored setting: from ``settings`` when they were read already, else from storage."""
    return settings.get(key) if settings is not None else tx.uow.settings.get(key)


def _default_currency(tx: Tx, settings: Mapping[str, Any] | None = None) -> str:
    return str(_setting(tx, DEFAULT_CURRENCY_KEY, settings) or "USD")


def _percent(value: object, field: str, high: Decimal) -> Decimal:
    return to_decimal(value, field, places=6, low=Decimal(0), high=high)


def _rate(value: object, field: str = "rate") -> Decimal:
    number = to_decimal(value, field, places=10, low=Decimal(0), high=MAX_RATE)
    if number <= 0:
        raise ValidationError({field: "must be greater than 0"})
    return number


def _collect(errors: dict[str, str], field: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a validator; file its error under ``field`` (a nested field keeps its own key)."""
    try:
        return fn(*args, **kwargs)
    except ValidationError as exc:
        last = field.rsplit(".", 1)[-1]
        errors.update({field if k in (last, "__all__") else k: v for k, v in exc.errors.items()})
        return None


def _name(field: str, value: object, required: bool = False) -> str:
    return clean_name(field, value, required=required)


# --- taxes ----------------------------------------------------------------------------------


class TaxService:
    """Taxes: a unique name and a rate in percent. Every CRM user reads them (to put them on
    invoice lines); only CRM admins change them. A tax in use cannot be deleted.

    Changing a rate never changes existing invoices: each line keeps the rate it was
    written with."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def list(self) -> Sequence[Tax]:
        with self._s._tx(write=False) as tx:
            return tx.uow.taxes.list()

    def get(self, tax_id: int) -> Tax:
        with self._s._tx(write=False) as tx:
            return self._get(tx, tax_id)

    def add(self, name: str, rate: Decimal | int | str, *, description: str = "") -> Tax:
        errors: dict[str, str] = {}
        name = _collect(errors, "name", _name, "name", name, True)
        rate_value = _collect(errors, "rate", _percent, rate, "rate", Decimal(1000))
        description = _collect(errors, "description", clean_text, "description", description)
        if errors:
            raise ValidationError(errors)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "manage taxes")
            if tx.uow.taxes.find(name) is not None:
                raise Conflict(f"a tax named {name!r} exists already")
            stored = tx.uow.taxes.add(
                Tax(
                    id=0,
                    name=name,
                    rate=rate_value,
                    description=description,
                    created_by=tx.actor.id,
                    created_at=tx.now,
                    updated_by=tx.actor.id,
                    updated_at=tx.now,
                )
            )
            tx.emit("tax.created", stored, after=stored)
            return stored

    def update(
        self,
        tax_id: int,
        *,
        name: str = _UNSET,
        rate: Decimal | int | str = _UNSET,
        description: str = _UNSET,
    ) -> Tax:
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        if name is not _UNSET:
            changes["name"] = _collect(errors, "name", _name, "name", name, True)
        if rate is not _UNSET:
            changes["rate"] = _collect(errors, "rate", _percent, rate, "rate", Decimal(1000))
        if description is not _UNSET:
            changes["description"] = _collect(
                errors, "description", clean_text, "description", description
            )
        if errors:
            raise ValidationError(errors)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "manage taxes")
            before = self._get(tx, tax_id)
            if "name" in changes:
                other = tx.uow.taxes.find(changes["name"])
                if other is not None and other.id != tax_id:
                    raise Conflict(f"a tax named {changes['name']!r} exists already")
            after = attrs.evolve(before, **changes)
            if after == before:
                return before
            stored = tx.uow.taxes.update(
                attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
            )
            tx.emit("tax.updated", stored, before=before, after=stored)
            return stored

    def delete(self, tax_id: int) -> None:
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "manage taxes")
            tax = self._get(tx, tax_id)
            if tx.uow.taxes.in_use(tax_id):
                raise Conflict(f"the tax {tax.name!r} is used by a product or an invoice")
            tx.uow.taxes.delete(tax_id)
            tx.emit("tax.deleted", tax, before=tax)

    @staticmethod
    def _get(tx: Tx, tax_id: object) -> Tax:
        ident = _id_of(tax_id, "tax_id")
        tax = tx.uow.taxes.get(ident)
        if tax is None:
            raise NotFound("tax", ident)
        return tax


def _resolve_taxes(
    tx: Tx, value: object, field: str, source: TaxRepository | _TaxLookup | None = None
) -> tuple[Tax, ...]:
    """Taxes given as Tax records, ids or names; at most two, no repeats. ``source``: where
    to look them up (storage by default)."""
    taxes = source if source is not None else tx.uow.taxes
    if value is None:
        return ()
    if isinstance(value, (str, int, Tax)):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ValidationError({field: "must be a list of taxes, their ids or names"})
    # More than a line may have is refused before anything is looked up.
    items = list(itertools.islice(value, MAX_LINE_TAXES + 1))
    if len(items) > MAX_LINE_TAXES:
        raise ValidationError({field: f"at most {MAX_LINE_TAXES} taxes"})
    found: list[Tax] = []
    for item in items:
        tax: Tax | None
        if isinstance(item, str):
            tax = taxes.find(single_line(item, field))
        elif isinstance(item, Tax) or (isinstance(item, int) and not isinstance(item, bool)):
            tax = taxes.get(_id_of(item, field))
        else:
            raise ValidationError({field: "must be a list of taxes, their ids or names"})
        if tax is None:
            raise ValidationError({field: f"no tax {item!r}"})
        if any(t.id == tax.id for t in found):
            raise ValidationError({field: f"the tax {tax.name!r} is given twice"})
        found.append(tax)
    return tuple(found)


class _TaxLookup:
    """The taxes an invoice's lines name, read in one query; any other name or id is asked
    of storage (as :func:`_resolve_taxes` would without it)."""

    def __init__(self, repo: TaxRepository, names: set[str], ids: set[int]) -> None:
        self._repo = repo
        self._names = names
        self._ids = ids
        self._by_name, self._by_id = repo.lookup(names, ids) if names or ids else ({}, {})

    def find(self, name: str) -> Tax | None:
        return self._by_name.get(name) if name in self._names else self._repo.find(name)

    def get(self, tax_id: int) -> Tax | None:
        if tax_id in self._ids or tax_id in self._by_id:
            return self._by_id.get(tax_id)
        return self._repo.get(tax_id)


def _plain_id(value: object) -> int | None:
    """The id a line names, when it is one any record can have (else validation refuses it)."""
    ident = getattr(value, "id", value)
    if isinstance(ident, int) and not isinstance(ident, bool) and storable_id(ident):
        return ident
    return None


def _line_lookups(
    tx: Tx, specs: Sequence[LineSpec | None]
) -> tuple[dict[int, Product | None], _TaxLookup]:
    """The products and the taxes the lines name, each kind read in one query. Only plain
    values and collections are looked into (an iterator is left for validation to consume)."""
    product_ids = {i for s in specs if s is not None and (i := _plain_id(s.product)) is not None}
    found = {p.id: p for p in tx.uow.products.get_many(product_ids)} if product_ids else {}
    products = {i: found.get(i) for i in product_ids}
    names: set[str] = set()
    ids: set[int] = set()
    for spec in specs:
        if spec is None:
            continue
        value = spec.taxes
        if value is None:
            product = products.get(_plain_id(spec.product) or 0)
            value = product.tax_ids if product is not None else ()
        if isinstance(value, (str, int, Tax)):
            value = (value,)
        if not isinstance(value, (list, tuple, set, frozenset)) or len(value) > MAX_LINE_TAXES:
            continue  # left for _resolve_taxes to refuse
        for item in value:
            if isinstance(item, str) and not has_control(item):
                names.add(item)
            elif (ident := _plain_id(item)) is not None:
                ids.add(ident)
    return products, _TaxLookup(tx.uow.taxes, names, ids)


# --- products -------------------------------------------------------------------------------

_PRODUCT_FIELDS = frozenset(
    {"title", "price", "description", "sku", "taxes", "track_inventory", "stock_quantity"}
)


class ProductService:
    """Products and services: title, SKU, price in the default currency, default taxes and
    optional stock tracking. Every CRM user reads them; only CRM admins change them. A
    product used on an invoice cannot be deleted."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def list(self, *, text: str | None = None, in_stock: bool | None = None) -> Sequence[Product]:
        """Products by title; ``text`` matches title or SKU; ``in_stock`` keeps tracked products
        with (True) or without (False) stock."""
        errors: dict[str, str] = {}
        if text is not None:
            text = _collect(errors, "text", text_filter, text)
        if in_stock is not None:
            _collect(errors, "in_stock", clean_bool, in_stock, "in_stock")
        if errors:
            raise ValidationError(errors)
        with self._s._tx(write=False) as tx:
            return tx.uow.products.list(text=text or None, in_stock=in_stock)

    def get(self, product_id: int) -> Product:
        with self._s._tx(write=False) as tx:
            return self._get(tx, product_id)

    def add(
        self,
        title: str,
        price: Money | Decimal | int | str,
        *,
        description: str = "",
        sku: str = "",
        taxes: Iterable[Tax | int | str] = (),
        track_inventory: bool = False,
        stock_quantity: Decimal | int | str = 0,
    ) -> Product:
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "manage products")
            blank = Product(
                id=0,
                title="",
                price=Money(0, _default_currency(tx)),
                created_by=tx.actor.id,
                created_at=tx.now,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            product = self._apply(
                tx,
                blank,
                {
                    "title": title,
                    "price": price,
                    "description": description,
                    "sku": sku,
                    "taxes": taxes,
                    "track_inventory": track_inventory,
                    "stock_quantity": stock_quantity,
                },
            )
            stored = tx.uow.products.add(product)
            tx.emit("product.created", stored, after=stored)
            return stored

    def update(self, product_id: int, **changes: Any) -> Product:
        unknown = sorted(set(changes) - _PRODUCT_FIELDS)
        if unknown:
            raise ValidationError(dict.fromkeys(unknown, "is not a field of a product"))
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "manage products")
            before = self._get(tx, product_id)
            after = self._apply(tx, before, changes)
            if after == before:
                return before
            stored = tx.uow.products.update(
                attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
            )
            tx.emit("product.updated", stored, before=before, after=stored)
            return stored

    def delete(self, product_id: int) -> None:
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "manage products")
            product = self._get(tx, product_id)
            if tx.uow.products.in_use(product.id):
                raise Conflict(f"the product {product.title!r} is used on an invoice")
            tx.uow.products.delete(product.id)
            tx.emit("product.deleted", product, before=product)

    def _apply(self, tx: Tx, product: Product, changes: Mapping[str, Any]) -> Product:
        errors: dict[str, str] = {}
        new: dict[str, Any] = {}
        if "title" in changes:
            new["title"] = _collect(errors, "title", _name, "title", changes["title"], True)
        if "description" in changes:
            new["description"] = _collect(
                errors, "description", clean_text, "description", changes["description"]
            )
        if "sku" in changes:
            new["sku"] = _collect(errors, "sku", _name, "sku", changes["sku"], False)
        if "price" in changes:
            currency = _default_currency(tx)
            raw = changes["price"]
            new["price"] = _collect(errors, "price", _unit_price, raw, currency, "price")
            if new["price"] is not None and new["price"].amount < 0:
                errors["price"] = "must not be negative"
        if "taxes" in changes:
            found = _collect(errors, "taxes", _resolve_taxes, tx, changes["taxes"], "taxes")
            new["tax_ids"] = tuple(t.id for t in found or ())
        if "track_inventory" in changes:
            new["track_inventory"] = _collect(
                errors, "track_inventory", clean_bool, changes["track_inventory"], "track_inventory"
            )
        if "stock_quantity" in changes:
            new["stock_quantity"] = _collect(
                errors, "stock_quantity", to_decimal, changes["stock_quantity"], "stock_quantity",
                6, low=-MAX_STOCK, high=MAX_STOCK,
            )  # fmt: skip
        if errors:
            raise ValidationError(errors)
        return attrs.evolve(product, **new)

    @staticmethod
    def _get(tx: Tx, product_id: object) -> Product:
        ident = _id_of(product_id, "product_id")
        product = tx.uow.products.get(ident)
        if product is None:
            raise NotFound("product", ident)
        return product


# --- currencies -----------------------------------------------------------------------------


class CurrencyService:
    """The currencies opencrm knows, the default currency and the manual exchange rates.

    ``rate(a, b)`` is how many units of ``b`` one unit of ``a`` is worth; a pair stored one way
    converts the other way by its inverse. Only CRM admins change the default or the rates.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    def list(self) -> Sequence[Currency]:
        """Basic currencies first, then the others, each group by code."""
        return sorted(CURRENCIES.values(), key=lambda c: (not c.basic, c.code))

    def default(self) -> str:
        with self._s._tx(write=False) as tx:
            return _default_currency(tx)

    def set_default(self, currency: str) -> None:
        code = clean_currency(currency)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change settings")
            before = _default_currency(tx)
            if before != code:
                tx.uow.settings.set(DEFAULT_CURRENCY_KEY, code)
                _emit_setting(tx, DEFAULT_CURRENCY_KEY, before, code)

    def rates(self) -> Sequence[ExchangeRate]:
        with self._s._tx(write=False) as tx:
            return tx.uow.exchange_rates.list()

    def set_rate(self, from_currency: str, to_currency: str, rate: Decimal | int | str) -> None:
        """Store the rate of a pair (replacing the old one); a rate of 0 removes the pair."""
        errors: dict[str, str] = {}
        a = _collect(errors, "from_currency", clean_currency, from_currency, "from_currency")
        b = _collect(errors, "to_currency", clean_currency, to_currency, "to_currency")
        number = _collect(errors, "rate", to_decimal, rate, "rate", 10, low=Decimal(0))
        if a is not None and a == b:
            errors["to_currency"] = "must differ from from_currency"
        if number is not None and number != 0:
            _collect(errors, "rate", _rate, number)
        if errors:
            raise ValidationError(errors)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change exchange rates")
            before = tx.uow.exchange_rates.get(a, b)
            if number == 0:
                if before is not None:
                    tx.uow.exchange_rates.delete(a, b)
                    tx.emit("exchange_rate.deleted", before, entity_id=f"{a}/{b}", before=before)
                return
            rate_row = ExchangeRate(
                from_currency=a,
                to_currency=b,
                rate=number,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            tx.uow.exchange_rates.set(rate_row)
            verb = "created" if before is None else "updated"
            tx.emit(f"exchange_rate.{verb}", rate_row, entity_id=f"{a}/{b}", before=before,
                    after=rate_row)  # fmt: skip

    def convert(self, amount: Money, to_currency: str, *, rounding: str | None = None) -> Money:
        """``amount`` in ``to_currency`` with the stored rates, rounded with ``rounding`` (the
        invoice rounding setting by default). :class:`~opencrm.errors.MissingExchangeRates`
        names the pair when no rate is stored."""
        return self.convert_all([amount], to_currency, rounding=rounding)[0]

    def convert_all(
        self, amounts: Iterable[Money], to_currency: str, *, rounding: str | None = None
    ) -> builtins.list[Money]:
        amounts = items_of(amounts, "amounts", "must be a collection of Money values")
        if not all(isinstance(a, Money) for a in amounts):
            raise ValidationError({"amount": "must be Money values"})
        # Each amount as any other: exact, within the stored range, in a known currency.
        amounts = [money(a.amount, a.currency.code) for a in amounts]
        code = clean_currency(to_currency, "to_currency")
        with self._s._tx(write=False) as tx:
            mode = clean_rounding(rounding) if rounding is not None else _rounding(tx)
            return exchange_rates(tx).convert_all(amounts, code, rounding=mode)


def exchange_rates(tx: Tx) -> ExchangeRates:
    """The stored rates as a converter (used by invoices now and reports later)."""
    return ExchangeRates(
        {(r.from_currency, r.to_currency): r.rate for r in tx.uow.exchange_rates.list()}
    )


def _rounding(tx: Tx, settings: Mapping[str, Any] | None = None) -> str:
    return str(_setting(tx, ROUNDING_KEY, settings) or "ROUND_HALF_UP")


def _default_terms(tx: Tx, settings: Mapping[str, Any] | None = None) -> str:
    return str(_setting(tx, TERMS_KEY, settings) or "")


# --- invoices -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LineSpec:
    """One line as the caller describes it; see :meth:`InvoiceService.line`."""

    description: str = ""
    product: Any = None
    quantity: Any = 1
    price: Any = None
    discount: Any = 0
    taxes: Any = None


_INVOICE_FIELDS = frozenset(
    {
        "client",
        "lines",
        "number",
        "issue_date",
        "due_date",
        "due_in",
        "consignee",
        "billing_address",
        "delivery_address",
        "opportunity",
        "language",
        "currency",
        "exchange_rate",
        "po_number",
        "terms",
        "notes",
    }
)
_FILTERS = frozenset(
    {"status", "client", "opportunity", "currency", "issued_from", "issued_to", "overdue", "text"}
)


class InvoiceService:
    """Invoices as the acting user may see and change them (docs/invoices.md).

    Reached as ``session.invoices``. An invoice is readable by CRM admins, its creator and
    whoever may read its client; it is editable only while Draft, by an admin or its creator.
    Every method is one transaction.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- lines and creation -----------------------------------------------------------------

    @staticmethod
    def line(
        description: str = "",
        *,
        product: Product | int | None = None,
        quantity: Decimal | int | str = 1,
        price: Money | Decimal | int | str | None = None,
        discount: Decimal | int | str = 0,
        taxes: Iterable[Tax | int | str] | None = None,
    ) -> LineSpec:
        """Describe a line. ``price`` is per unit in the invoice currency, with up to six
        decimal places in any currency, kept as entered (see
        :func:`opencrm.core.money.unit_price`). Without it the product's price is used: as it
        is when the product is priced in the invoice currency, else converted with the
        invoice's exchange rate and rounded to the invoice currency's minor units.
        ``discount`` is a percentage (0-100); ``taxes`` (up to two, by record, id or name)
        default to the product's."""
        return LineSpec(
            description=description,
            product=product,
            quantity=quantity,
            price=price,
            discount=discount,
            taxes=taxes,
        )

    def add(
        self,
        *,
        client: Contact | int,
        lines: Iterable[LineSpec | Mapping[str, Any]],
        **fields: Any,
    ) -> Invoice:
        """Create a draft invoice.

        Fields: ``number`` (omit for the next automatic number), ``issue_date`` (today),
        ``due_date`` or ``due_in`` (``"on_receipt"``, ``"15_days"``, ``"30_days"`` (default),
        ``"45_days"`` or a number of days), ``consignee`` (a contact, or
        :data:`SAME_AS_CLIENT`), ``billing_address`` (a billing address of the client; by
        default its primary billing address, else its primary address, else none),
        ``delivery_address`` (a postal address of the consignee, or of the client),
        ``opportunity`` (one the client is a member of), ``language`` (``"en"``),
        ``currency`` (the default currency), ``exchange_rate`` (default-currency units per
        invoice-currency unit; the stored rate by default), ``po_number``, ``terms`` (the
        default terms), ``notes``.
        """
        unknown = sorted(set(fields) - _INVOICE_FIELDS)
        if unknown:
            raise ValidationError(dict.fromkeys(unknown, "is not a field of an invoice"))
        with self._s._tx() as tx:
            defaults = tx.uow.settings.get_many(_NEW_INVOICE_SETTINGS)  # one query for all
            rounding = _rounding(tx, defaults)
            values = {"client": client, "lines": lines, **fields}
            draft = self._build(tx, None, values, rounding, defaults)
            if "number" in fields and fields["number"] is not None:
                number = self._manual_number(tx, fields["number"], None)
                stored = tx.uow.invoices.add(attrs.evolve(draft, number=number))
            else:
                # Last: takes the next number and holds the counter lock until the commit.
                numbered = tx.uow.invoices.add_numbered(draft)
                if numbered is None:
                    raise ValidationError({"number": "is required: automatic numbering is off"})
                stored = numbered
            tx.emit("invoice.created", stored, after=stored)
            return stored

    def duplicate(self, invoice_id: int) -> Invoice:
        """A new draft with the same client, lines and texts, issued today with the same
        payment period, the next number and today's tax rates."""
        with self._s._tx(write=False) as tx:
            original = self._readable(tx, invoice_id)
        fields: dict[str, Any] = {
            "due_in": (original.due_date - original.issue_date).days,
            "consignee": original.consignee_id,
            "billing_address": original.billing_address_id,
            "delivery_address": original.delivery_address_id,
            "opportunity": original.opportunity_id,
            "language": original.language,
            "currency": original.currency,
            "exchange_rate": original.exchange_rate,
            "po_number": original.po_number,
            "terms": original.terms,
            "notes": original.notes,
        }
        specs = [
            LineSpec(
                description=ln.description,
                product=ln.product_id,
                quantity=ln.quantity,
                price=ln.price,
                discount=ln.discount,
                taxes=[t.tax_id for t in ln.taxes],
            )
            for ln in original.lines
        ]
        return self.add(client=original.client_id, lines=specs, **fields)

    # --- read -------------------------------------------------------------------------------

    def get(self, invoice_id: int) -> Invoice:
        with self._s._tx(write=False) as tx:
            return self._readable(tx, invoice_id)

    def list(
        self,
        *,
        sort: str = "-issue_date",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Invoice]:
        """One page of the invoices the user may read.

        Filters: ``status``, ``client``, ``opportunity``, ``currency``, ``issued_from``,
        ``issued_to`` (dates; inclusive / exclusive), ``overdue`` (True: billed and past due),
        ``text`` (number or notes). Sorts: ``number``, ``issue_date``, ``due_date``,
        ``status``, ``created`` (``-`` prefix for descending).
        """
        page = PageRequest.build(sort, limit, after, INVOICE_SORTS)
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            key = tx.cursor_key("invoices")
            items, cursor = tx.uow.invoices.list(
                policy.invoice_scope(tx.actor), where, key.open(page)
            )
            return key.page(items, cursor)

    def count(self, **filters: Any) -> int:
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            return tx.uow.invoices.count(policy.invoice_scope(tx.actor), where)

    def document(self, invoice_id: int) -> InvoiceDocument:
        """Everything the invoice's document shows, for a renderer such as
        :mod:`opencrm.plugins.builtin.invoice_documents`."""
        with self._s._tx(write=False) as tx:
            invoice = self._readable(tx, invoice_id)
            ids = [invoice.client_id] + ([invoice.consignee_id] if invoice.consignee_id else [])
            people = {c.id: c for c in tx.uow.contacts.get_many(ids)}
            products = tx.uow.products.get_many(
                {ln.product_id for ln in invoice.lines if ln.product_id is not None}
            )
            consignee = people.get(invoice.consignee_id) if invoice.consignee_id else None
            return InvoiceDocument(
                invoice=invoice,
                seller=_organisation(tx),
                client_name=people[invoice.client_id].display_name,
                consignee_name=consignee.display_name if consignee else None,
                product_titles={p.id: p.title for p in products},
            )

    def pdf(self, invoice_id: int) -> bytes:
        """The invoice as a PDF document, in the invoice's language."""
        render = self._s._ctx.invoice_pdf
        if render is None:
            raise NotConfigured("the CRM has no invoice renderer")
        return render(self.document(invoice_id))

    def html(self, invoice_id: int) -> str:
        """The invoice as a self-contained HTML page (no scripts, its logo inlined), in the
        invoice's language."""
        render = self._s._ctx.invoice_html
        if render is None:
            raise NotConfigured("the CRM has no invoice renderer")
        return render(self.document(invoice_id))

    def send(
        self,
        invoice_id: int,
        to: str | Iterable[str] | None = None,
        *,
        subject: str | None = None,
        message: str | None = None,
    ) -> Message:
        """E-mail the invoice with its PDF (rendered in the invoice's language) attached, to
        ``to`` or else the client's primary e-mail address; emits ``invoice.sent`` once it went
        out and returns the message. ``subject`` and ``message`` replace the translated
        defaults. Raises :class:`~opencrm.errors.NotConfigured` when the CRM has no notifier
        (and no plugin delivers), :class:`~opencrm.errors.ValidationError` without an address."""
        return send_invoice(self, invoice_id, to, subject, message)

    # --- change -----------------------------------------------------------------------------

    def update(self, invoice_id: int, **changes: Any) -> Invoice:
        """Change a draft invoice (admin or creator). Lines given replace all lines; the totals
        are recomputed with the rounding mode stored on the invoice."""
        unknown = sorted(set(changes) - _INVOICE_FIELDS)
        if unknown:
            raise ValidationError(dict.fromkeys(unknown, "is not a field of an invoice"))
        with self._s._tx() as tx:
            before = self._editable(tx, invoice_id)
            after = self._build(tx, before, changes, before.rounding)
            if "number" in changes:
                after = attrs.evolve(
                    after, number=self._manual_number(tx, changes["number"], before.id)
                )
            if after == before:
                return before
            stored = tx.uow.invoices.update(
                attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
            )
            tx.emit("invoice.updated", stored, before=before, after=stored)
            return stored

    def delete(self, invoice_id: int) -> None:
        """Delete a draft or rejected invoice (admin or creator); billed and paid ones stay."""
        with self._s._tx() as tx:
            invoice = self._readable(tx, invoice_id)
            if not (tx.actor.crm_admin or invoice.created_by == tx.actor.id):
                raise PermissionDenied("only a CRM admin or its creator may delete an invoice")
            if not policy.can_delete_invoice(tx.actor, invoice):
                raise Conflict(f"a {invoice.status.value} invoice cannot be deleted")
            tx.uow.invoices.delete(invoice.id)
            tx.emit("invoice.deleted", invoice, before=invoice)

    def set_status(self, invoice_id: int, status: InvoiceStatus | str) -> Invoice:
        """Move an invoice along Draft -> Billed -> Paid | Rejected, Rejected -> Draft or
        Paid -> Billed; anything else raises :class:`~opencrm.errors.InvalidTransition`.
        Billing decrements the stock of tracked products; rejecting restores it."""
        return self.set_status_many([invoice_id], status)[0]

    def set_status_many(
        self, invoice_ids: Iterable[int], status: InvoiceStatus | str
    ) -> builtins.list[Invoice]:
        """Change several invoices at once: all or none (each is checked first)."""
        target = _status(status)
        ids = clean_ids(invoice_ids, "invoice_ids", Invoice)
        if not ids:
            return []
        with self._s._tx() as tx:
            found = {i.id: i for i in tx.uow.invoices.get_many(ids)}
            clients = {
                c.id: c for c in tx.uow.contacts.get_many({i.client_id for i in found.values()})
            }
            before: list[Invoice] = []
            for ident in ids:
                invoice = found.get(ident)
                client = clients.get(invoice.client_id) if invoice else None
                if invoice is None or not policy.can_read_invoice(tx.actor, invoice, client):
                    raise NotFound("invoice", ident)
                if not policy.can_change_invoice_status(tx.actor, invoice, client):
                    raise PermissionDenied("you may not change the status of this invoice")
                check_transition(invoice.status, target)
                before.append(invoice)
            stock: dict[int, Decimal] = {}
            for invoice in before:
                sign = _stock_sign(invoice.status, target)
                for ln in invoice.lines if sign else ():
                    if ln.product_id is not None:
                        stock[ln.product_id] = (
                            stock.get(ln.product_id, Decimal(0)) + sign * ln.quantity
                        )
            tx.uow.products.adjust_stock({k: v for k, v in stock.items() if v})
            tx.uow.invoices.set_status([i.id for i in before], target, tx.actor.id, tx.now)
            after = tx.uow.invoices.get_many([i.id for i in before])
            for old, new in zip(before, after, strict=True):
                tx.emit(
                    "invoice.status_changed",
                    new,
                    before=old,
                    after=new,
                    data={"from": old.status.value, "to": new.status.value},
                )
            return list(after)

    # --- settings ---------------------------------------------------------------------------

    def numbering(self) -> InvoiceNumbering:
        with self._s._tx(write=False) as tx:
            return tx.uow.invoices.numbering()

    def set_numbering(
        self,
        *,
        automatic: bool | None = None,
        prefix: str | None = None,
        start: str | int | None = None,
    ) -> InvoiceNumbering:
        """Change the number format (admin): ``prefix`` and ``start`` (digits; their count is
        the zero-padded width, ``"0000001"``) for automatic numbers, or ``automatic=False``
        for numbers typed on each invoice. The next number must not be taken already."""
        errors: dict[str, str] = {}
        if automatic is not None:
            _collect(errors, "automatic", clean_bool, automatic, "automatic")
        if prefix is not None:
            _collect(errors, "prefix", single_line, prefix, "prefix", max_length=50, trim=False)
            if not errors.get("prefix") and prefix != prefix.strip():
                errors["prefix"] = "must be text of at most 50 characters without outer spaces"
        parsed = _collect(errors, "start", parse_start_number, start) if start is not None else None
        if errors:
            raise ValidationError(errors)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change the invoice number format")
            before = tx.uow.invoices.numbering()
            after = before
            if automatic is not None:
                after = attrs.evolve(after, automatic=automatic)
            if prefix is not None:
                after = attrs.evolve(after, prefix=prefix)
            if parsed is not None:
                after = attrs.evolve(after, next_value=parsed[0], width=parsed[1])
            changed_format = prefix is not None or parsed is not None
            if (
                after.automatic
                and changed_format
                and tx.uow.invoices.number_taken(after.next_number)
            ):
                raise Conflict(f"the number {after.next_number} is taken already")
            if after != before:
                tx.uow.invoices.set_numbering(after)
                _emit_setting(tx, "invoice_numbering", attrs.asdict(before), attrs.asdict(after))
            return after

    def rounding(self) -> str:
        """The rounding mode new invoices get (``ROUND_HALF_UP`` unless an admin changed it)."""
        with self._s._tx(write=False) as tx:
            return _rounding(tx)

    def set_rounding(self, mode: str) -> None:
        """Set the rounding mode of *new* invoices; existing ones keep theirs."""
        mode = clean_rounding(mode)
        self._set(ROUNDING_KEY, mode)

    def default_terms(self) -> str:
        with self._s._tx(write=False) as tx:
            return str(tx.uow.settings.get(TERMS_KEY) or "")

    def set_default_terms(self, terms: str) -> None:
        self._set(TERMS_KEY, clean_text("terms", terms))

    def organisation(self) -> Organisation:
        with self._s._tx(write=False) as tx:
            return _organisation(tx)

    def set_organisation(
        self,
        *,
        name: str = _UNSET,
        address: Address | Mapping[str, str] | None = _UNSET,
        logo: bytes | None = _UNSET,
    ) -> Organisation:
        """The seller shown on every invoice (admin): name, address, PNG or JPEG logo (<= 1 MB)."""
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        if name is not _UNSET:
            changes["name"] = _collect(errors, "name", _name, "name", name, False)
        if address is not _UNSET:
            changes["address"] = _collect(errors, "address", _clean_address, address)
        if logo is not _UNSET:
            changes["logo"] = _collect(errors, "logo", _clean_logo, logo)
        if errors:
            raise ValidationError(errors)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change the organisation profile")
            before = _organisation(tx)
            after = attrs.evolve(before, **changes)
            if after != before:
                stored = {
                    "name": after.name,
                    "address": attrs.asdict(after.address),
                    "logo": base64.b64encode(after.logo).decode() if after.logo else None,
                }
                tx.uow.settings.set(ORGANISATION_KEY, stored)
                _emit_setting(tx, ORGANISATION_KEY, None, {**stored, "logo": bool(after.logo)})
            return after

    def _set(self, key: str, value: Any) -> None:
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change settings")
            before = tx.uow.settings.get(key)
            if before != value:
                tx.uow.settings.set(key, value)
                _emit_setting(tx, key, before, value)

    # --- internals --------------------------------------------------------------------------

    def _readable(self, tx: Tx, invoice_id: object) -> Invoice:
        ident = _id_of(invoice_id, "invoice_id")
        invoice = tx.uow.invoices.get(ident)
        if invoice is None:
            raise NotFound("invoice", ident)
        client = tx.uow.contacts.get(invoice.client_id)
        if not policy.can_read_invoice(tx.actor, invoice, client):
            raise NotFound("invoice", ident)
        return invoice

    def _editable(self, tx: Tx, invoice_id: object) -> Invoice:
        invoice = self._readable(tx, invoice_id)
        if not (tx.actor.crm_admin or invoice.created_by == tx.actor.id):
            raise PermissionDenied("only a CRM admin or its creator may edit an invoice")
        if not policy.can_edit_invoice(tx.actor, invoice):
            raise Conflict(f"a {invoice.status.value} invoice cannot be edited; only drafts can")
        return invoice

    def _manual_number(self, tx: Tx, value: object, own_id: int | None) -> str:
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 255:
            raise ValidationError({"number": "must be text of 1 to 255 characters"})
        # One line: the number goes into e-mail subjects and file names.
        number = single_line(value, "number", trim=False).strip()
        if tx.uow.invoices.number_taken(number, other_than=own_id):
            raise Conflict(f"the invoice number {number} is taken already")
        return number

    def _contact(self, tx: Tx, value: object, field: str) -> int:
        """The id of a contact the actor may read: one light query, not the whole contact."""
        ident = _id_of(value, field)
        found = tx.uow.contacts.access_of(ident, tx.actor.id)
        if found is None or not policy.can_read_contact_with(tx.actor, *found):
            raise ValidationError({field: f"no contact with id {ident}"})
        return ident

    def _build(
        self,
        tx: Tx,
        base: Invoice | None,
        changes: Mapping[str, Any],
        rounding: str,
        settings: Mapping[str, Any] | None = None,
    ) -> Invoice:
        """Validate ``changes`` over ``base`` (None when creating); every bad field is listed
        in one :class:`ValidationError`. ``settings``: the stored settings, read already."""
        errors: dict[str, str] = {}
        today = tx.now.date()
        default_currency = _default_currency(tx, settings)

        def given(name: str) -> bool:
            return name in changes

        # client, consignee, addresses, opportunity
        client_id = base.client_id if base else None
        if given("client"):
            client_id = _collect(errors, "client", self._contact, tx, changes["client"], "client")
        consignee_id = base.consignee_id if base else None
        if given("consignee"):
            raw = changes["consignee"]
            if raw is None:
                consignee_id = None
            elif raw == SAME_AS_CLIENT:
                consignee_id = client_id
            else:
                consignee_id = _collect(errors, "consignee", self._contact, tx, raw, "consignee")
        billing = (base.billing_address_id, base.billing_address) if base else (None, None)
        if given("billing_address") and client_id is not None:
            billing = _collect(
                errors, "billing_address", self._address, tx, changes["billing_address"],
                "billing_address", client_id, ("billing",),
            )  # fmt: skip
        elif client_id is not None and (base is None or client_id != base.client_id):
            billing = _default_billing(tx.uow.contacts.get(client_id))
        delivery = (base.delivery_address_id, base.delivery_address) if base else (None, None)
        if given("delivery_address") and client_id is not None:
            owner = consignee_id or client_id
            delivery = _collect(
                errors, "delivery_address", self._address, tx, changes["delivery_address"],
                "delivery_address", owner, ("postal",),
            )  # fmt: skip
        opportunity_id = base.opportunity_id if base else None
        if given("opportunity") or (given("client") and opportunity_id is not None):
            raw_opp = changes.get("opportunity", opportunity_id)
            opportunity_id = _collect(
                errors, "opportunity", self._opportunity, tx, raw_opp, client_id
            )

        # dates
        issue = base.issue_date if base else today
        if given("issue_date"):
            issue = _collect(errors, "issue_date", _date, changes["issue_date"], "issue_date")
        due: dt.date | None = base.due_date if base else None
        if given("due_date") and given("due_in"):
            errors["due_in"] = "give due_date or due_in, not both"
        elif given("due_date"):
            due = _collect(errors, "due_date", _date, changes["due_date"], "due_date")
        elif given("due_in") or base is None:
            days = _collect(errors, "due_in", _due_days, changes.get("due_in", "30_days"))
            if issue is not None and days is not None:
                due = _collect(errors, "due_in", add_days, issue, days, "due_in")
        elif given("issue_date") and base is not None and issue is not None:
            days = (base.due_date - base.issue_date).days
            due = _collect(errors, "issue_date", add_days, issue, days, "issue_date")
        if issue is not None and due is not None and due < issue:
            errors["due_date"] = "must not be before the issue date"

        # texts
        language = base.language if base else "en"
        if given("language"):
            language = _collect(errors, "language", _language, changes["language"])
        po_number = base.po_number if base else ""
        if given("po_number"):
            po_number = _collect(
                errors, "po_number", _name, "po_number", changes["po_number"] or "", False
            )
        terms = base.terms if base else _default_terms(tx, settings)
        if given("terms"):
            terms = _collect(errors, "terms", clean_text, "terms", changes["terms"] or "")
        notes = base.notes if base else ""
        if given("notes"):
            notes = _collect(errors, "notes", clean_text, "notes", changes["notes"] or "")

        # currency and rate
        currency = base.currency if base else default_currency
        if given("currency"):
            currency = _collect(errors, "currency", clean_currency, changes["currency"])
        rate = base.exchange_rate if base else None
        if given("exchange_rate") and changes["exchange_rate"] is not None:
            rate = _collect(
                errors, "exchange_rate", _rate, changes["exchange_rate"], "exchange_rate"
            )
        elif currency is not None and (base is None or given("currency")):
            if currency == default_currency:
                rate = Decimal(1)
            else:
                found = exchange_rates(tx).rate(currency, default_currency)
                if found is None:
                    raise MissingExchangeRates([(currency, default_currency)])
                rate = found
        if (
            base is not None
            and given("currency")
            and currency != base.currency
            and not given("lines")
        ):
            errors["lines"] = "give the lines again when changing the currency"

        # lines
        lines = base.lines if base else ()
        amounts: tuple[Money, tuple[TaxTotal, ...], Money] | None = (
            (base.subtotal, base.tax_totals, base.total) if base else None
        )
        if given("lines") and currency is not None and rate is not None:
            built = _collect(
                errors, "lines", self._lines, tx, changes["lines"], currency, rate,
                default_currency, rounding,
            )  # fmt: skip
            if built is not None:
                lines, amounts = built
        if errors:
            raise ValidationError(errors)
        assert client_id is not None
        assert issue is not None
        assert due is not None
        assert currency is not None
        assert rate is not None
        assert amounts is not None
        subtotal, tax_totals, total = amounts
        common: dict[str, Any] = {
            "number": base.number if base else "",
            "issue_date": issue,
            "due_date": due,
            "client_id": client_id,
            "consignee_id": consignee_id,
            "billing_address_id": billing[0],
            "billing_address": billing[1],
            "delivery_address_id": delivery[0],
            "delivery_address": delivery[1],
            "opportunity_id": opportunity_id,
            "language": language,
            "currency": currency,
            "exchange_rate": rate,
            "po_number": po_number,
            "terms": terms,
            "notes": notes,
            "lines": lines,
            "subtotal": subtotal,
            "tax_totals": tax_totals,
            "total": total,
        }
        if base is not None:
            return attrs.evolve(base, **common)
        return Invoice(
            id=0,
            rounding=rounding,
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
            **common,
        )

    def _address(
        self, tx: Tx, value: object, field: str, owner_id: int, categories: tuple[str, ...]
    ) -> tuple[int | None, Address | None]:
        if value is None:
            return None, None
        info_id = _id_of(value, field)
        owner = tx.uow.contacts.get(owner_id)
        info: ContactInfo | None = (
            next((i for i in owner.infos if i.id == info_id), None) if owner else None
        )
        if info is None or info.type is not InfoType.ADDRESS:
            raise ValidationError({field: f"no address {info_id} of contact {owner_id}"})
        if info.category not in categories:
            raise ValidationError({field: f"must be a {' or '.join(categories)} address"})
        return info.id, info.address

    def _opportunity(self, tx: Tx, value: object, client_id: int | None) -> int | None:
        if value is None:
            return None
        ident = _id_of(value, "opportunity")
        opportunity = tx.uow.opportunities.get(ident)
        if opportunity is None or not policy.can_read_deal(tx.actor, opportunity):
            raise ValidationError({"opportunity": f"no opportunity with id {ident}"})
        if client_id is not None and client_id not in opportunity.members:
            raise ValidationError({"opportunity": "the client is not a member of the opportunity"})
        return ident

    def _lines(
        self,
        tx: Tx,
        value: object,
        currency: str,
        rate: Decimal,
        default_currency: str,
        rounding: str,
    ) -> tuple[tuple[InvoiceLine, ...], tuple[Money, tuple[TaxTotal, ...], Money]]:
        if isinstance(value, (str, Mapping, LineSpec)) or not isinstance(value, Iterable):
            raise ValidationError({"lines": "must be a list of lines"})
        specs = list(value)
        if not specs:
            raise ValidationError({"lines": "an invoice needs at least one line"})
        if len(specs) > MAX_LINES:
            raise ValidationError({"lines": f"at most {MAX_LINES} lines"})
        errors: dict[str, str] = {}
        inputs: list[tuple[LineSpec, Product | None, LineInput, tuple[Tax, ...]]] = []
        parsed: list[LineSpec | None] = []
        for raw in specs:
            try:
                parsed.append(raw if isinstance(raw, LineSpec) else LineSpec(**dict(raw)))
            except (TypeError, ValueError):
                parsed.append(None)
        known_products, tax_source = _line_lookups(tx, parsed)
        for n, spec in enumerate(parsed):
            field = f"lines.{n}"
            if spec is None:
                errors[field] = (
                    "must be a line from InvoiceService.line() or a mapping of its fields"
                )
                continue
            line_errors: dict[str, str] = {}
            product: Product | None = None
            if spec.product is not None:
                try:
                    pid = _id_of(spec.product, f"{field}.product")
                    if pid in known_products:
                        product = known_products[pid]
                    else:
                        product = tx.uow.products.get(pid)
                    if product is None:
                        line_errors[f"{field}.product"] = f"no product with id {pid}"
                except ValidationError as exc:
                    line_errors.update(exc.errors)
            description = _collect(
                line_errors,
                f"{field}.description",
                clean_text,
                "description",
                spec.description or "",
            )
            quantity = _collect(
                line_errors, f"{field}.quantity", to_decimal, spec.quantity, f"{field}.quantity",
                6, low=Decimal(0), high=MAX_QUANTITY,
            )  # fmt: skip
            discount = _collect(
                line_errors,
                f"{field}.discount",
                _percent,
                spec.discount,
                f"{field}.discount",
                Decimal(100),
            )
            price = None
            if spec.price is not None:
                price = _collect(
                    line_errors,
                    f"{field}.price",
                    _unit_price,
                    spec.price,
                    currency,
                    f"{field}.price",
                )
            elif product is not None:
                price = _collect(
                    line_errors,
                    f"{field}.price",
                    _product_price,
                    product,
                    currency,
                    rate,
                    default_currency,
                    rounding,
                )
            elif f"{field}.product" not in line_errors:
                line_errors[f"{field}.price"] = "is required for a line without a product"
            if price is not None and price.amount < 0:
                line_errors[f"{field}.price"] = "must not be negative"
            tax_value = (
                spec.taxes if spec.taxes is not None else (product.tax_ids if product else ())
            )
            line_taxes = _collect(
                line_errors, f"{field}.taxes", _resolve_taxes, tx, tax_value, f"{field}.taxes",
                tax_source,
            )  # fmt: skip
            if not description and spec.product is None:
                line_errors.setdefault(
                    f"{field}.description", "is required for a line without a product"
                )
            if line_errors:
                errors.update(line_errors)
                continue
            inputs.append(
                (
                    attrs.evolve(spec, description=description),
                    product,
                    LineInput(
                        price=price.amount if price is not None else Decimal(0),
                        quantity=quantity,
                        discount=discount,
                        taxes=tuple(TaxRef(t.id, t.name, t.rate) for t in line_taxes),
                    ),
                    line_taxes,
                )
            )
        if errors:
            raise ValidationError(errors)
        result = compute([i[2] for i in inputs], currency, rounding)

        def m(value: Decimal) -> Money:
            return Money(value, currency)

        lines = tuple(
            InvoiceLine(
                product_id=product.id if product else None,
                description=spec.description,
                quantity=li.quantity,
                price=m(li.price),
                discount=li.discount,
                taxes=tuple(
                    LineTax(tax_id=t.id, name=t.name, rate=t.rate, amount=m(v))
                    for t, v in zip(taxes, a.taxes, strict=True)
                ),
                subtotal=m(a.subtotal),
                discount_amount=m(a.discount),
                net=m(a.net),
                total=m(a.total),
            )
            for (spec, product, li, taxes), a in zip(inputs, result.lines, strict=True)
        )
        tax_totals = tuple(
            TaxTotal(tax_id=t.key, name=t.name, rate=t.rate, amount=m(v)) for t, v in result.taxes
        )
        return lines, (m(result.subtotal), tax_totals, m(result.total))

    def _filter(self, tx: Tx, filters: Mapping[str, Any]) -> InvoiceFilter:
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name, value in given_filters(filters, _FILTERS).items():
            if name == "status":
                out["status"] = _collect(errors, "status", _status, value)
            elif name == "client":
                out["client_id"] = _collect(errors, "client", _id_of, value, "client")
            elif name == "opportunity":
                out["opportunity_id"] = _collect(
                    errors, "opportunity", _id_of, value, "opportunity"
                )
            elif name == "currency":
                out["currency"] = _collect(errors, "currency", clean_currency, value)
            elif name in ("issued_from", "issued_to"):
                out[name] = _collect(errors, name, _date, value, name)
            elif name == "overdue":
                if _collect(errors, "overdue", clean_bool, value, "overdue"):
                    out["overdue_on"] = tx.now.date()
            elif name == "text":
                out["text"] = _collect(errors, "text", text_filter, value)
        if errors:
            raise ValidationError(errors)
        return InvoiceFilter(**out)


# --- helpers --------------------------------------------------------------------------------


def _unit_price(value: object, currency: str, field: str) -> Money:
    return unit_price(value, currency, field=field)


def _status(value: object) -> InvoiceStatus:
    try:
        return InvoiceStatus(str(value))
    except ValueError:
        raise ValidationError(
            {"status": "must be one of " + ", ".join(s.value for s in InvoiceStatus)}
        ) from None


def _stock_sign(current: InvoiceStatus, target: InvoiceStatus) -> int:
    if current is InvoiceStatus.DRAFT and target is InvoiceStatus.BILLED:
        return -1
    if current is InvoiceStatus.BILLED and target is InvoiceStatus.REJECTED:
        return 1
    return 0


def _date(value: object, field: str) -> dt.date:
    return clean_date(value, field)


def _due_days(value: object) -> int:
    if isinstance(value, str) and value in DUE_PRESETS:
        return DUE_PRESETS[value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3650:
        return value
    raise ValidationError(
        {"due_in": "must be " + ", ".join(DUE_PRESETS) + " or a number of days (0-3650)"}
    )


def _language(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 20 or has_control(value):
        raise ValidationError({"language": "must be a locale name such as 'en' or 'pt_BR'"})
    try:
        return str(Locale.parse(value.strip().replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        raise ValidationError({"language": f"unknown language {value!r}"}) from None


def _product_price(
    product: Product, currency: str, rate: Decimal, default_currency: str, rounding: str
) -> Money:
    """The product's price in the invoice currency: the default-currency price divided by the
    invoice's exchange rate, rounded (as the reference does)."""
    if product.price.currency.code == currency:
        return product.price
    if product.price.currency.code != default_currency:
        raise ValidationError(
            {"price": f"the product is priced in {product.price.currency.code}; give a price"}
        )
    value = round_amount(product.price.amount / rate, currency, rounding)
    if value > MAX_AMOUNT:
        raise ValidationError({"price": f"must not exceed {MAX_AMOUNT}"})
    return Money(value, currency)


def _clean_address(value: object) -> Address:
    if value is None:
        return Address()
    if isinstance(value, Address):
        return value
    if isinstance(value, Mapping):
        extra = set(value) - {"street", "city", "state", "zip", "country"}
        if extra:
            raise ValidationError({"address": f"unknown keys: {', '.join(sorted(extra))}"})
        return Address(**{k: clean_name(k, v or "", required=False) for k, v in value.items()})
    raise ValidationError({"address": "must be an Address or a mapping of its parts"})


def _clean_logo(value: object) -> bytes | None:
    """The logo decoded and re-encoded (see :func:`opencrm.core.photos.reencode_image`), so
    a truncated or doctored file is refused here instead of breaking every document later."""
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise ValidationError({"logo": "must be the bytes of a PNG or JPEG image"})
    if len(value) > MAX_LOGO_BYTES:
        raise ValidationError({"logo": "must be at most 1 MB"})
    if not (value.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))):
        raise ValidationError({"logo": "must be a PNG or JPEG image"})
    return reencode_image(
        value, field="logo", accepted=_LOGO_TYPES, max_bytes=MAX_LOGO_BYTES, box=LOGO_BOX
    )


def _default_billing(client: Contact | None) -> tuple[int | None, Address | None]:
    """The bill-to address an invoice takes when none is given: the client's billing address
    (its primary one first), else its primary address of any category, else none."""
    addresses = [i for i in (client.infos if client else ()) if i.type is InfoType.ADDRESS]
    billing = sorted(
        (i for i in addresses if i.category == "billing"), key=lambda i: not i.is_primary
    )
    chosen = billing[0] if billing else next((i for i in addresses if i.is_primary), None)
    return (chosen.id, chosen.address) if chosen else (None, None)


def _organisation(tx: Tx) -> Organisation:
    raw = tx.uow.settings.get(ORGANISATION_KEY) or {}
    logo = raw.get("logo")
    return Organisation(
        name=raw.get("name", ""),
        address=Address(**raw.get("address", {})),
        logo=base64.b64decode(logo) if logo else None,
    )
