"""The OpenAPI 3.1 document, generated from the route table and the attrs classes the routes
name: there is no second, hand-kept description of the API."""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from moneyed import Money

from opencrm.core._inputs import MAX_ID
from opencrm.core.entities.contacts import Company, Contact, Person
from opencrm.http._api import Download, Items, Listing, Route
from opencrm.http._convert import EXTRA, MoneyIn, _Unset

__all__ = ["openapi_document"]

_REF = "#/components/schemas/"
_ERROR_STATUSES = {
    "400": "The body is not valid JSON, or not a JSON object",
    "401": "Nobody is signed in",
    "403": "The acting user may not do this (or a cross-site browser request)",
    "404": "No such record, or one the acting user may not read",
    "405": "The path exists, but not for this method",
    "409": "The change conflicts with stored data (in use, taken, wrong status)",
    "412": "If-Match names a version of the record that is no longer current",
    "413": "The body is larger than allowed",
    "415": "The body is not of the media type this operation takes",
    "422": "A field is invalid; `errors` names each one",
    "429": "Too many requests; retry after the Retry-After header's seconds",
}

_PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem document. `code` is stable; `detail` is for people.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "code", "detail"],
}


class _Schemas:
    """Builds JSON schemas for Python types, collecting attrs classes as components."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Problem": _PROBLEM}

    def of(self, tp: Any, *, out: bool) -> dict[str, Any]:
        if tp is Any or tp is object:
            return {}
        if tp is type(None):
            return {"type": "null"}
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is Decimal:
            if out:
                return {"type": "string", "format": "decimal"}
            return {"type": ["string", "number"], "format": "decimal"}
        if tp is dt.datetime:
            return {"type": "string", "format": "date-time"}
        if tp is dt.date:
            return {"type": "string", "format": "date"}
        if tp is bytes:
            return {"type": "string", "format": "binary"}
        if tp is Money:
            return self._money(out)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"type": "string", "enum": [str(m.value) for m in tp]}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not _Unset]
            if len(members) == 1:
                return self.of(members[0], out=out)
            return {"anyOf": [self.of(a, out=out) for a in members]}
        if origin is typing.ClassVar:
            return self.of(args[0], out=out)
        if origin in (list, tuple, set, frozenset, Sequence, typing.Iterable) or (
            origin is not None and inspect.isclass(origin) and issubclass(origin, Sequence)
        ):
            item = args[0] if args else Any
            return {"type": "array", "items": self.of(item, out=out)}
        if origin in (dict, Mapping) or tp in (dict, Mapping):
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self.of(value, out=out)}
        if tp is Contact and out:
            return {
                "oneOf": [self.of(Person, out=True), self.of(Company, out=True)],
                "discriminator": {
                    "propertyName": "kind",
                    "mapping": {"person": _REF + "Person", "company": _REF + "Company"},
                },
            }
        if attrs.has(tp):
            return self._attrs(tp, out=out)
        raise TypeError(f"no JSON schema for {tp!r}")

    def _money(self, out: bool) -> dict[str, Any]:
        name = "Money" if out else "MoneyInput"
        if name not in self.components:
            amount = self.of(Decimal, out=out)
            self.components[name] = {
                "type": "object",
                "properties": {
                    "amount": amount,
                    "currency": {"type": "string", "description": "ISO 4217 code"},
                },
                "required": ["amount", "currency"],
                "additionalProperties": False,
            }
        return {"$ref": _REF + name}

    def _attrs(self, cls: type, *, out: bool) -> dict[str, Any]:
        from_http = cls.__module__.startswith("opencrm.http")
        name = cls.__name__ if (out or from_http) else cls.__name__ + "Input"
        if cls is MoneyIn:
            return self._money(out=False)
        if name in self.components:
            return {"$ref": _REF + name}
        self.components[name] = {}  # a placeholder keeps recursive references finite
        hints = typing.get_type_hints(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            override = field.metadata.get("schema")
            properties[field.name] = (
                dict(override) if override is not None else self.of(hints[field.name], out=out)
            )
            if out or field.default is attrs.NOTHING:
                required.append(field.name)
        if out:
            extra = next((v for k, v in EXTRA.items() if issubclass(cls, k)), ())
            for prop in extra:
                if prop == "kind":
                    properties["kind"] = {"const": cls.kind}  # type: ignore[attr-defined]
                elif prop == "display_name":
                    properties[prop] = {"type": "string"}
                else:
                    properties[prop] = self.of(
                        typing.get_type_hints(getattr(cls, prop).fget)["return"], out=True
                    )
                required.append(prop)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        doc = inspect.getdoc(cls)
        if doc and not doc.startswith(cls.__name__ + "("):
            schema["description"] = doc
        if required:
            schema["required"] = required
        if not out:
            schema["additionalProperties"] = False
        self.components[name] = schema
        return {"$ref": _REF + name}


def _parameters(route: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in _path_names(route.path):
        schema: dict[str, Any] = {"type": "string"}
        if name.endswith("_id"):
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if route.query is not None:
        hints = typing.get_type_hints(route.query)
        for field in attrs.fields(route.query):
            schema = schemas.of(hints[field.name], out=False)
            param: dict[str, Any] = {"name": field.name, "in": "query", "schema": schema}
            if field.default is attrs.NOTHING:
                param["required"] = True
            if schema.get("type") == "array":
                param.update(style="form", explode=True)
            if field.metadata.get("description"):
                param["description"] = field.metadata["description"]
            params.append(param)
    return params


def _path_names(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", path)


def _success(route: Route, schemas: _Schemas) -> tuple[str, dict[str, Any]]:
    returns = route.returns
    status = str(route.status)
    if returns is None:
        return "204", {"description": "Done; no content"}
    if returns is Download:
        media = route.download_type or "application/octet-stream"
        return status, {
            "description": "The file",
            "content": {media: {"schema": {"type": "string", "format": "binary"}}},
        }
    if isinstance(returns, Listing):
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": schemas.of(returns.of, out=True)},
                "next": {
                    "type": ["string", "null"],
                    "description": "The next page's URL (null on the last page)",
                },
                "count": {
                    "type": "integer",
                    "description": "How many match in all (only with count=true)",
                },
            },
            "required": ["items", "next"],
        }
    elif isinstance(returns, Items):
        schema = {
            "type": "object",
            "properties": {"items": {"type": "array", "items": schemas.of(returns.of, out=True)}},
            "required": ["items"],
        }
    else:
        schema = schemas.of(returns, out=True)
    headers: dict[str, Any] = {}
    if route.location is not None:
        headers["Location"] = {
            "description": "Where the created record is",
            "schema": {"type": "string"},
        }
    if attrs.has(returns) or returns is Contact:
        headers["ETag"] = {
            "description": "The record's version, for If-Match",
            "schema": {"type": "string"},
        }
    response: dict[str, Any] = {
        "description": "Created" if route.status == 201 else "OK",
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return status, response


def openapi_document(
    routes: Sequence[Route], *, title: str, version: str, server: str = ""
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``; ``server`` is the API's base URL or path."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.hidden:
            continue
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": [route.tag],
        }
        if route.description:
            operation["description"] = route.description
        params = _parameters(route, schemas)
        if route.current is not None:
            params.append(
                {
                    "name": "If-Match",
                    "in": "header",
                    "description": "The ETag you read; a stale one is refused with 412",
                    "schema": {"type": "string"},
                }
            )
        if params:
            operation["parameters"] = params
        if route.upload:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                },
            }
        elif route.form:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    }
                },
            }
        elif route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schemas.of(route.body, out=False)}},
            }
        status, success = _success(route, schemas)
        responses: dict[str, Any] = {status: success}
        for code, text in _ERROR_STATUSES.items():
            responses[code] = {
                "description": text,
                "content": {"application/problem+json": {"schema": {"$ref": _REF + "Problem"}}},
            }
        operation["responses"] = responses
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The opencrm REST API. Errors are application/problem+json "
            "documents with a stable `code`; lists are keyset-paged through `next` links.",
        },
        "paths": paths,
        "components": {"schemas": schemas.components},
    }
    if server:
        document["servers"] = [{"url": server}]
    return document


def route_table(routes: Sequence[Route]) -> str:
    """A Markdown table of the documented routes, grouped by tag (for docs/http-api.md)."""
    lines = []
    for tag in dict.fromkeys(r.tag for r in routes if not r.hidden):
        lines += [f"### {tag}", "", "| method | path | what it does |", "|---|---|---|"]
        for r in routes:
            if r.tag == tag and not r.hidden:
                lines.append(f"| {r.method} | `{r.path}` | {r.summary.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
