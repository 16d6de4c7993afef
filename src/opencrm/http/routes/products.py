"""Products and services: the catalogue invoice lines draw their price and taxes from."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

from opencrm.core.entities.invoices import Product
from opencrm.http._api import Call, Items, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TAG = "products"


@attrs.frozen(kw_only=True)
class _ProductFields:
    description: str = UNSET
    sku: str = UNSET
    #: Up to two default taxes, by id or name.
    taxes: list[int | str] = UNSET
    track_inventory: bool = UNSET
    stock_quantity: Decimal = UNSET


@attrs.frozen(kw_only=True)
class ProductIn(_ProductFields):
    title: str
    #: Per unit, in the default currency: up to six decimal places, kept as entered.
    price: Decimal


@attrs.frozen(kw_only=True)
class ProductPatch(_ProductFields):
    title: str = UNSET
    price: Decimal = UNSET


@attrs.frozen(kw_only=True)
class ProductQuery:
    text: str = UNSET
    in_stock: bool = UNSET


def list_products(c: Call) -> Sequence[Product]:
    return c.s.products.list(**c.filters())  # type: ignore[no-any-return]


def add_product(c: Call) -> Product:
    return c.s.products.add(**c.args())  # type: ignore[no-any-return]


def get_product(c: Call) -> Product:
    return c.s.products.get(c.path["product_id"])  # type: ignore[no-any-return]


def update_product(c: Call) -> Product:
    return c.s.products.update(c.path["product_id"], **c.args())  # type: ignore[no-any-return]


def delete_product(c: Call) -> None:
    c.s.products.delete(c.path["product_id"])


def _product_location(product: Product) -> str:
    return f"/products/{product.id}"


ONE = "/products/{product_id}"

ROUTES = [
    Route(
        method="GET",
        path="/products",
        handler=list_products,
        summary="List products and services by title",
        description="`text` matches the title or SKU; `in_stock` keeps tracked products with "
        "(true) or without (false) stock.",
        tag=TAG,
        query=ProductQuery,
        returns=Items(Product),
        exposes=("products.list",),
    ),
    Route(
        method="POST",
        path="/products",
        handler=add_product,
        summary="Create a product or service (admins)",
        tag=TAG,
        body=ProductIn,
        returns=Product,
        status=201,
        location=_product_location,
        exposes=("products.add",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_product,
        summary="Read a product or service",
        tag=TAG,
        returns=Product,
        exposes=("products.get",),
    ),
    Route(
        method="PATCH",
        path=ONE,
        handler=update_product,
        summary="Change a product or service (admins)",
        tag=TAG,
        body=ProductPatch,
        returns=Product,
        current=get_product,
        exposes=("products.update",),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_product,
        summary="Delete a product or service no invoice uses (admins)",
        tag=TAG,
        current=get_product,
        exposes=("products.delete",),
    ),
]
