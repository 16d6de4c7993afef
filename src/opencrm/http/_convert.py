"""JSON in and out: a private cattrs converter for request bodies (strict: no coercion of
one JSON type into another, unknown keys refused) and one for entities going out."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import cattrs
from cattrs.cols import is_mapping, is_sequence, list_structure_factory, mapping_structure_factory
from cattrs.errors import AttributeValidationNote, IterableValidationNote
from cattrs.gen import make_dict_structure_fn
from moneyed import Money

from opencrm.core.currencies import Currency
from opencrm.core.entities.contacts import Company, Person
from opencrm.core.entities.deals import Opportunity
from opencrm.core.entities.invoices import Invoice, InvoiceNumbering
from opencrm.core.money import money
from opencrm.errors import ValidationError

__all__ = ["BadJSON", "MoneyIn", "dump_json", "load_json", "structure", "unstructure"]

#: A request body nests no deeper than this (json would recurse until RecursionError).
MAX_DEPTH = 32


class BadJSON(Exception):
    """The body is not a JSON document opencrm accepts (answered 400)."""


def _no_constant(name: str) -> Any:
    raise BadJSON(f"{name} is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise BadJSON(f"the key {key!r} appears twice")
        data[key] = value
    return data


_DEPTH = re.compile(rb"[\[{]")


def load_json(raw: bytes) -> Any:
    """Parse a request body: numbers with a fraction become exact ``Decimal``; NaN,
    Infinity, duplicate keys, bad UTF-8 and absurd nesting are refused as :class:`BadJSON`."""
    if len(_DEPTH.findall(raw)) > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise BadJSON(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJSON("the body is not UTF-8") from None
    try:
        return json.loads(
            text, parse_float=Decimal, parse_constant=_no_constant, object_pairs_hook=_pairs
        )
    except json.JSONDecodeError as exc:
        raise BadJSON(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None


def _depth(raw: bytes) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


# --- bodies in ---------------------------------------------------------------------------


@attrs.frozen
class MoneyIn:
    """An amount of money as JSON: ``{"amount": "12.30", "currency": "EUR"}``. The amount
    is a decimal string (or a JSON number, read exactly)."""

    amount: Decimal
    currency: str


class _Unset(enum.Enum):
    UNSET = "unset"


#: The default of a body field the client may leave out; left-out fields are not passed on.
UNSET: Any = _Unset.UNSET


def _exact(kind: type, name: str) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if type(value) is not kind:
            raise ValueError(f"must be {name}")
        return value

    return hook


def _integer(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    return value


def _decimal(value: Any, _: Any) -> Any:
    # Strings are handed on as they are: the service's own parser bounds and refuses them.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError("must be a decimal number or a string holding one")
    return value


def _date(value: Any, _: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None


def _datetime(value: Any, _: Any) -> dt.datetime:
    message = "must be a date-time in ISO 8601 with a UTC offset"
    if not isinstance(value, str):
        raise ValueError(message)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(message) from None
    if when.tzinfo is None:
        raise ValueError(message)
    return when


def _money_in(value: Any, _: Any) -> Money:
    if not isinstance(value, Mapping) or set(value) != {"amount", "currency"}:
        raise ValueError('must be {"amount": "12.30", "currency": "EUR"}')
    amount = value["amount"]
    if isinstance(amount, bool) or not isinstance(amount, (str, int, Decimal)):
        raise ValueError("amount must be a decimal string")
    try:
        return money(amount, value["currency"])
    except ValidationError as exc:
        raise ValueError("; ".join(exc.errors.values())) from None


def _any(value: Any, _: Any) -> Any:
    return value


def _enum(cls: type[enum.Enum]) -> Any:
    choices = ", ".join(str(m.value) for m in cls)

    def hook(value: Any, _: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"must be one of {choices}")
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"must be one of {choices}") from None

    return hook


_PLAIN: dict[Any, str] = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    type(None): "null",
}


def _plain_union(t: Any) -> bool:
    origin: Any = typing.get_origin(t)
    return origin in (typing.Union, types.UnionType) and all(
        a in _PLAIN for a in typing.get_args(t)
    )


def _make_in() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    text = _exact(str, "a string")

    def string(value: Any, tp: Any) -> Any:
        # A class hook for str is also asked for str subclasses such as a StrEnum.
        if tp is not str and issubclass(tp, enum.Enum):
            return _enum(tp)(value, tp)
        return text(value, tp)

    conv.register_structure_hook(str, string)
    conv.register_structure_hook(bool, _exact(bool, "true or false"))
    conv.register_structure_hook(int, _integer)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_structure_hook(dt.date, _date)
    conv.register_structure_hook(dt.datetime, _datetime)
    conv.register_structure_hook(Money, _money_in)
    conv.register_structure_hook(typing.Any, _any)
    conv.register_structure_hook(_Unset, _any)
    conv.register_structure_hook_factory(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum) and t is not _Unset, _enum
    )

    def shaped(factory: Any, kind: type, name: str) -> Any:
        """cattrs' own hook for a collection type, behind a check of the JSON shape (cattrs
        would iterate a string as a list of characters)."""

        def make(t: Any) -> Any:
            inner = factory(t, conv)

            def hook(value: Any, _: Any) -> Any:
                if not isinstance(value, kind):
                    raise ValueError(f"must be a JSON {name}")
                return inner(value, t)

            return hook

        return make

    def union(t: Any) -> Any:
        members = tuple(a for a in typing.get_args(t))
        names = " or ".join(_PLAIN[a] for a in members)

        def hook(value: Any, _: Any) -> Any:
            kind = type(value)
            if kind in members:
                return value
            raise ValueError(f"must be {names}")

        return hook

    conv.register_structure_hook_factory(
        _plain_union,
        union,
    )

    def attrs_class(cls: Any) -> Any:
        # Body classes are written with postponed annotations: resolve them first, or an
        # enum field named by a string would take any string.
        attrs.resolve_types(cls)
        return make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True)

    conv.register_structure_hook_factory(attrs.has, attrs_class)
    conv.register_structure_hook_factory(is_sequence, shaped(list_structure_factory, list, "array"))
    conv.register_structure_hook_factory(
        is_mapping, shaped(mapping_structure_factory, Mapping, "object")
    )
    return conv


_IN = _make_in()


def structure(data: Any, cls: type[Any]) -> Any:
    """Build ``cls`` (an attrs body class) from parsed JSON, or raise :class:`ValidationError`
    naming each offending field (dotted paths: ``lines[0].price``)."""
    if not isinstance(data, Mapping):
        raise ValidationError({"__body__": "must be a JSON object"})
    try:
        return _IN.structure(data, cls)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError, ValueError) as exc:
        errors: dict[str, str] = {}
        _collect(exc, "", errors)
        raise ValidationError(errors or {"__body__": "is not valid"}) from None


def _collect(exc: BaseException, path: str, errors: dict[str, str]) -> None:
    """Walk cattrs' exception groups down to each failing field."""
    if isinstance(exc, cattrs.BaseValidationError):
        for sub in exc.exceptions:
            note = next(
                (
                    n
                    for n in getattr(sub, "__notes__", ())
                    if isinstance(n, (AttributeValidationNote, IterableValidationNote))
                ),
                None,
            )
            if isinstance(note, AttributeValidationNote):
                where = f"{path}.{note.name}" if path else note.name
            elif isinstance(note, IterableValidationNote):
                where = f"{path}[{note.index}]"
            else:
                where = path
            _collect(sub, where, errors)
    elif isinstance(exc, cattrs.ForbiddenExtraKeysError):
        for name in sorted(exc.extra_fields):
            errors.setdefault(f"{path}.{name}" if path else name, "unknown field")
    elif isinstance(exc, KeyError):
        errors.setdefault(path or "__body__", "is required")
    else:
        reason = str(exc) if isinstance(exc, ValueError) and str(exc) else "has the wrong type"
        errors.setdefault(path or "__body__", reason)


def given(body: Any) -> dict[str, Any]:
    """The fields of a structured body the client sent (those not left UNSET)."""
    return {
        f.name: getattr(body, f.name)
        for f in attrs.fields(type(body))
        if getattr(body, f.name) is not UNSET
    }


# --- entities out ------------------------------------------------------------------------

#: Properties that are part of an entity's JSON beside its fields.
EXTRA: dict[type, tuple[str, ...]] = {
    Person: ("kind", "display_name"),
    Company: ("kind", "display_name"),
    Opportunity: ("value",),
    Invoice: ("tax_total",),
    InvoiceNumbering: ("next_number",),
    Currency: ("minor_units",),
}


#: Values that are their own JSON (exact types: a str enum or a bool subclass is dispatched).
_JSON_PLAIN = frozenset({str, int, bool, float, type(None)})


def _money_out(value: Money) -> dict[str, str]:
    return {"amount": format(value.amount, "f"), "currency": value.currency.code}


def _make_out() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_unstructure_hook(Money, _money_out)
    conv.register_unstructure_hook(Decimal, lambda d: format(d, "f"))
    conv.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
    conv.register_unstructure_hook(dt.date, lambda d: d.isoformat())
    conv.register_unstructure_hook(frozenset, lambda s: sorted(conv.unstructure(v) for v in s))
    conv.register_unstructure_hook(
        MappingProxyType, lambda m: {str(k): conv.unstructure(v) for k, v in m.items()}
    )
    conv.register_unstructure_hook(bytes, lambda b: None)

    def attrs_factory(cls: type) -> Any:
        names = [f.name for f in attrs.fields(cls)]
        extra = next((v for k, v in EXTRA.items() if issubclass(cls, k)), ())

        def hook(obj: Any) -> dict[str, Any]:
            # JSON's own types are kept as they are: cattrs' dispatch per value is most of
            # the cost of a page of entities.
            data = {}
            for name in (*names, *extra):
                value = getattr(obj, name)
                data[name] = value if type(value) in _JSON_PLAIN else conv.unstructure(value)
            return data

        return hook

    conv.register_unstructure_hook_factory(attrs.has, attrs_factory)
    return conv


_OUT = _make_out()


def unstructure(value: Any) -> Any:
    """Entities, pages and plain values as JSON-ready Python data."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): unstructure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unstructure(v) for v in value]
    return _OUT.unstructure(value)


def dump_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
