"""Taxes: a unique name and a rate in percent, put on invoice lines and products."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

from opencrm.core.entities.invoices import Tax
from opencrm.http._api import Call, Items, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TAG = "taxes"


@attrs.frozen(kw_only=True)
class TaxIn:
    name: str
    #: In percent ("19" for 19 %).
    rate: Decimal
    description: str = UNSET


@attrs.frozen(kw_only=True)
class TaxPatch:
    name: str = UNSET
    rate: Decimal = UNSET
    description: str = UNSET


def list_taxes(c: Call) -> Sequence[Tax]:
    return c.s.taxes.list()  # type: ignore[no-any-return]


def add_tax(c: Call) -> Tax:
    return c.s.taxes.add(**c.args())  # type: ignore[no-any-return]


def get_tax(c: Call) -> Tax:
    return c.s.taxes.get(c.path["tax_id"])  # type: ignore[no-any-return]


def update_tax(c: Call) -> Tax:
    return c.s.taxes.update(c.path["tax_id"], **c.args())  # type: ignore[no-any-return]


def delete_tax(c: Call) -> None:
    c.s.taxes.delete(c.path["tax_id"])


def _tax_location(tax: Tax) -> str:
    return f"/taxes/{tax.id}"


ONE = "/taxes/{tax_id}"

ROUTES = [
    Route(
        method="GET",
        path="/taxes",
        handler=list_taxes,
        summary="List the taxes",
        tag=TAG,
        returns=Items(Tax),
        exposes=("taxes.list",),
    ),
    Route(
        method="POST",
        path="/taxes",
        handler=add_tax,
        summary="Create a tax (admins)",
        tag=TAG,
        body=TaxIn,
        returns=Tax,
        status=201,
        location=_tax_location,
        exposes=("taxes.add",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_tax,
        summary="Read a tax",
        tag=TAG,
        returns=Tax,
        exposes=("taxes.get",),
    ),
    Route(
        method="PATCH",
        path=ONE,
        handler=update_tax,
        summary="Change a tax (admins; invoices keep the rate they were written with)",
        tag=TAG,
        body=TaxPatch,
        returns=Tax,
        current=get_tax,
        exposes=("taxes.update",),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_tax,
        summary="Delete a tax no product or invoice uses (admins)",
        tag=TAG,
        current=get_tax,
        exposes=("taxes.delete",),
    ),
]
