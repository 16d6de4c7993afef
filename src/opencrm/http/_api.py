"""The HTTP handling core: route matching, body and query parsing, the acting user's
session, errors as problem documents, ETags. Adapters call :meth:`API.handle` and only
translate their framework's request and response."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import ipaddress
import logging
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from opencrm.core._inputs import MAX_ID
from opencrm.core.query import Page
from opencrm.errors import (
    Conflict,
    InvalidTransition,
    MissingExchangeRates,
    NotConfigured,
    NotFound,
    OpenCRMError,
    PermissionDenied,
    ProviderError,
    RateLimited,
    SchemaOutdated,
    StorageError,
    ValidationError,
)
from opencrm.http._convert import (
    UNSET,
    BadJSON,
    dump_json,
    given,
    load_json,
    structure,
    unstructure,
)
from opencrm.http._messages import Request, Response, Upload

__all__ = ["API", "Call", "Download", "Items", "Listing", "Raw", "Route"]

log = logging.getLogger("opencrm.http")

JSON = "application/json"
PROBLEM = "application/problem+json"
#: Largest JSON body accepted (a request of any other kind is bounded by ``max_upload``).
DEFAULT_MAX_JSON = 1024 * 1024
#: Largest multipart upload accepted; files are also bounded by the file store's own limit.
DEFAULT_MAX_UPLOAD = 11 * 1024 * 1024
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Bodies a browser may send cross-site without asking first (no CORS preflight).
_SIMPLE_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""}
)


# --- what routes declare and handlers return -----------------------------------------------


@attrs.frozen
class Items:
    """A response of every item of a short list, as ``{"items": [...]}``."""

    of: Any


@attrs.frozen
class Listing:
    """A keyset-paged list response: ``{"items": [...], "next": link, "count": n}``."""

    of: Any


@attrs.frozen
class Download:
    """A file response. ``inline`` lets a browser show it in place (calendars, HTML
    invoices); every other download is an attachment. The route's ``download_type`` names
    the media type for the OpenAPI document. ``data`` is the bytes, or an iterable of byte
    chunks for a large file (a job's export), sent as a streamed response whose
    ``Content-Length`` is ``size`` when given."""

    data: bytes | Iterable[bytes]
    content_type: str
    filename: str
    inline: bool = False
    size: int | None = None


@attrs.frozen
class Raw:
    """A response the route builds itself (the docs page and its files, a redirect)."""

    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    status: int = 200


@attrs.frozen(kw_only=True)
class Route:
    """One operation: ``method`` and ``path`` (``{name_id}`` segments are positive integer
    ids), the ``handler`` that calls the services, the ``body`` and ``query`` attrs classes
    the request is read into, and what it ``returns`` (an entity class, ``Items(cls)``,
    ``Listing(cls)``, ``Download``, or None for 204). ``exposes`` names the ``Session``
    service methods the route makes reachable (checked by a coverage test). ``current``
    loads the record an ``If-Match`` header is compared with. ``location`` builds the
    ``Location`` of a created record (status 201)."""

    method: str
    path: str
    handler: Callable[[Call], Any]
    summary: str
    tag: str
    exposes: tuple[str, ...] = ()
    body: type | None = None
    query: type | None = None
    returns: Any = None
    status: int = 200
    upload: bool = False
    download_type: str | None = None
    current: Callable[[Call], Any] | None = None
    location: Callable[[Any], str] | None = None
    description: str = ""
    #: Answered without a signed-in user (the API document and its page, webhooks).
    public: bool = False
    #: Reads an ``application/x-www-form-urlencoded`` body into ``Call.form`` (webhooks).
    form: bool = False
    #: Left out of the OpenAPI document (the docs page's own files).
    hidden: bool = False
    #: The largest body this route takes, when smaller than the API's ``max_json``.
    max_body: int | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@attrs.define
class Call:
    """What a handler gets: the acting user's session, path ids, the structured body and
    query, uploaded files and the request itself."""

    request: Request
    session: Any
    path: dict[str, Any]
    api: Any = None
    body: Any = None
    query: Any = None
    uploads: Sequence[Upload] = ()
    form: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    count: int | None = None

    @property
    def s(self) -> Any:
        return self.session

    def args(self) -> dict[str, Any]:
        """The body fields the client sent, as keyword arguments."""
        return given(self.body) if self.body is not None else {}

    def filters(self) -> dict[str, Any]:
        """The query parameters the client sent, minus paging ones."""
        if self.query is None:
            return {}
        found = {
            k: v
            for k, v in given(self.query).items()
            if k not in ("sort", "limit", "after", "count")
        }
        if "custom" in found:
            found["custom"] = custom_filter_of(found["custom"])
        return found

    def page(self, service: Any) -> Page[Any]:
        """One page of ``service.list`` for this query; the count too when asked for."""
        paging = {
            k: getattr(self.query, k)
            for k in ("sort", "limit", "after")
            if getattr(self.query, k) is not UNSET
        }
        filters = self.filters()
        page: Page[Any] = service.list(**paging, **filters)
        if getattr(self.query, "count", UNSET) is True:
            self.count = service.count(**filters)
        return page

    def upload(self, name: str = "file") -> Upload:
        """The uploaded file of form field ``name`` (422 when the form has none)."""
        found = [u for u in self.uploads if u.field == name]
        if len(found) != 1:
            raise ValidationError({name: "send exactly one file in this form field"})
        return found[0]


#: The metadata of the ``custom`` query parameter of the lists that filter by custom values.
CUSTOM_QUERY = {
    "description": "FIELD=VALUE, repeated: records whose custom field FIELD (a label or an "
    "id) equals VALUE, as stored (every one given must match; at most 50)"
}


def custom_filter_of(values: Sequence[str]) -> dict[str, str]:
    """``["Shoe size=42", "7=yes"]`` -> ``{"Shoe size": "42", "7": "yes"}``: the mapping the
    services' ``custom`` filter takes (they read digits that are no label as a field id)."""
    found: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise ValidationError({"custom": "each value must be FIELD=VALUE"})
        if key in found:
            raise ValidationError({f"custom.{key}": "names a field given already"})
        found[key] = value
    return found


@attrs.frozen
class ListQuery:
    """Paging parameters every list accepts."""

    sort: str = UNSET
    limit: int = UNSET
    after: str = UNSET
    count: bool = UNSET


# --- problems -------------------------------------------------------------------------------


class _Options(Exception):
    def __init__(self, methods: list[str]) -> None:
        self.methods = methods


class HTTPProblem(Exception):
    """An HTTP-level refusal (before or around a service call)."""

    def __init__(
        self, status: int, code: str, detail: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = list(headers)


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """An RFC 9457 problem document; ``code`` is stable, ``detail`` is for people."""
    doc: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    doc.update(extra or {})
    return Response(
        status=status,
        headers=[("Content-Type", PROBLEM), *headers],
        body=dump_json(doc),
    )


def error_response(exc: BaseException) -> Response:
    """The problem document for an exception a handler raised."""
    if isinstance(exc, HTTPProblem):
        return problem(exc.status, exc.code, exc.detail, headers=exc.headers)
    if isinstance(exc, ValidationError):
        fields = [{"field": k, "message": v} for k, v in exc.errors.items()]
        return problem(422, "validation_failed", str(exc), extra={"errors": fields})
    if isinstance(exc, NotFound):
        return problem(404, "not_found", str(exc))
    if isinstance(exc, PermissionDenied):
        return problem(403, "permission_denied", str(exc))
    if isinstance(exc, InvalidTransition):
        extra = {"current": exc.current, "requested": exc.requested}
        return problem(409, "invalid_transition", str(exc), extra=extra)
    if isinstance(exc, Conflict):
        return problem(409, "conflict", str(exc))
    if isinstance(exc, MissingExchangeRates):
        return problem(
            409,
            "missing_exchange_rates",
            str(exc),
            extra={"currencies": list(exc.currencies)},
        )
    if isinstance(exc, RateLimited):
        return problem(
            429, "rate_limited", str(exc), headers=[("Retry-After", str(exc.retry_after))]
        )
    if isinstance(exc, (NotConfigured, SchemaOutdated)):
        log.error("opencrm is not set up for this request: %s", exc)
        return problem(503, "not_configured", "this CRM is not set up for that request")
    if isinstance(exc, ProviderError):
        log.error("provider fault: %s", exc)
        return problem(502, "provider_error", str(exc))
    if isinstance(exc, StorageError):
        log.error("storage fault: %s", exc)
        return problem(500, "storage_error", "the database could not complete the request")
    if isinstance(exc, OpenCRMError):
        return problem(400, "bad_request", str(exc))
    log.exception("unexpected error in the opencrm HTTP API", exc_info=exc)
    return problem(500, "internal_error", "the request failed; the error has been logged")


# --- query strings ----------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a query class, once per class: resolving the string
    annotations is a good part of a small request's cost."""
    return typing.get_type_hints(cls)


def _scalar(tp: Any, raw: str) -> Any:
    if tp is str or tp is typing.Any:
        return raw
    if tp is bool:
        if raw not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw == "true"
    if tp is int:
        if not re.fullmatch(r"-?[0-9]{1,19}", raw):
            raise ValueError("must be a whole number")
        return int(raw)
    if tp is Decimal:
        return raw
    if tp is dt.datetime:
        try:
            when = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError("must be a date-time in ISO 8601 with a UTC offset") from None
        if when.tzinfo is None:
            raise ValueError("must be a date-time in ISO 8601 with a UTC offset")
        return when
    if tp is dt.date:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise ValueError("must be a date as YYYY-MM-DD") from None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(raw)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(str(m.value) for m in tp)}") from None
    raise TypeError(f"no query parser for {tp!r}")


def unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def parse_query(query: Mapping[str, Sequence[str]], cls: type | None) -> Any:
    """Read a query string into ``cls``: repeated parameters for list fields, one value
    for the others, unknown names refused."""
    if cls is None:
        if query:
            raise ValidationError(dict.fromkeys(query, "unknown query parameter"))
        return None
    hints = _hints(cls)
    names = {f.name: f for f in attrs.fields(cls)}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, raw in query.items():
        if name not in names:
            errors[name] = "unknown query parameter"
            continue
        tp = unwrap_optional(hints[name])
        try:
            if typing.get_origin(tp) in (list, Sequence, frozenset, set):
                (inner,) = typing.get_args(tp)
                values[name] = [_scalar(inner, r) for r in raw]
            elif len(raw) != 1:
                errors[name] = "give this parameter once"
            else:
                values[name] = _scalar(tp, raw[0])
        except ValueError as exc:
            errors[name] = str(exc)
    for name, field in names.items():
        if field.default is attrs.NOTHING and name not in values and name not in errors:
            errors[name] = "required"
    if errors:
        raise ValidationError(errors)
    return cls(**values)


# --- the handler ------------------------------------------------------------------------------


@attrs.frozen
class _Compiled:
    route: Route
    pattern: re.Pattern[str]
    ids: tuple[str, ...]


def _compile(route: Route) -> _Compiled:
    ids = tuple(re.findall(r"\{(\w+)\}", route.path))
    # An id segment is digits: "/tags/delete-unused" is not "/tags/{tag_id}".
    regex = re.sub(r"\{(\w+_id)\}", r"(?P<\1>[0-9]{1,19})", route.path)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return _Compiled(route, re.compile(f"{regex}\\Z"), ids)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class API:
    """The opencrm REST API over one :class:`opencrm.CRM`, framework-free.

    ``routes`` defaults to every built-in route. ``trusted_origins`` lists the origins
    (``https://app.example``) besides the request's own host whose browser pages may change
    state (see the CSRF rule in the adapter guide). ``trusted_proxies`` lists the addresses
    or networks (``10.0.0.0/8``) of the reverse proxies in front of the app: only a request
    from one of them has its client address read from ``X-Forwarded-For`` (see
    :meth:`client_address`); by default nobody is trusted and the peer's address counts.
    """

    def __init__(
        self,
        crm: Any,
        *,
        routes: Sequence[Route] | None = None,
        max_json: int = DEFAULT_MAX_JSON,
        max_upload: int = DEFAULT_MAX_UPLOAD,
        trusted_origins: Iterable[str] = (),
        trusted_proxies: Iterable[str] = (),
        title: str = "opencrm",
    ) -> None:
        if routes is None:
            from opencrm.http.routes import ROUTES

            routes = ROUTES
        self.crm = crm
        self.routes: tuple[Route, ...] = tuple(routes)
        self.max_json = max_json
        self.max_upload = max_upload
        self.trusted_origins = frozenset(o.rstrip("/").lower() for o in trusted_origins)
        self.trusted_proxies = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies
        )
        self.title = title
        self._documents: dict[str, bytes] = {}
        # Fixed segments win over parameters ("/settings/organisation" before
        # "/settings/{key}"), whatever order the table lists them in.
        self._compiled = sorted(
            (_compile(r) for r in self.routes),
            key=lambda c: [seg.startswith("{") for seg in c.route.path.split("/")],
        )
        seen: set[tuple[str, str]] = set()
        for r in self.routes:
            key = (r.method, r.path)
            if key in seen:
                raise ValueError(f"two routes for {r.method} {r.path}")
            seen.add(key)

    def openapi(self, server: str) -> bytes:
        """The OpenAPI document (JSON) of this API as mounted at ``server``. Building it
        walks every route and class (~15 ms), so it is built once per mount point."""
        if server not in self._documents:
            from importlib.metadata import version

            from opencrm.http._openapi import openapi_document

            doc = openapi_document(
                self.routes, title=self.title, version=version("opencrm"), server=server
            )
            self._documents[server] = dump_json(doc)
        return self._documents[server]

    # -- entry point --

    def handle(self, request: Request) -> Response:
        """Answer one request. Never raises: every failure is a problem document."""
        try:
            response = self._handle(request)
        except _Options as options:
            return Response(status=204, headers=[("Allow", ", ".join(options.methods))])
        except Exception as exc:  # the API answers; it never lets a trace out
            return error_response(exc)
        if request.method == "HEAD":
            return attrs.evolve(response, body=b"", stream=None)
        return response

    def client_address(self, request: Request) -> str:
        """The address of the client that made ``request``: the peer's, unless the peer is
        a trusted proxy; then the right-most ``X-Forwarded-For`` entry that is not a
        trusted proxy (entries further left are whatever the client chose to send)."""
        if not self._trusted(request.client):
            return request.client
        forwarded = [
            a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()
        ]
        for address in reversed(forwarded):
            if not self._trusted(address):
                return address
        return forwarded[0] if forwarded else request.client

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)

    def route_for(self, method: str, path: str) -> Route | None:
        """The route that answers ``method`` at ``path``, or None (adapters use it to find
        the routes exempt from their framework's CSRF check)."""
        try:
            route, _ = self._match(Request(method=method, path=path))
        except Exception:  # no such route: the API answers 404/405 itself
            return None
        return route

    def allowed_methods(self, path: str) -> list[str]:
        """The methods some route answers at ``path`` (OPTIONS and HEAD included)."""
        methods = {c.route.method for c in self._compiled if c.pattern.match(path)}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"}) if methods else []

    def _match(self, request: Request) -> tuple[Route, dict[str, Any]]:
        allowed: list[str] = []
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS":
            methods = self.allowed_methods(request.path)
            if not methods:
                raise HTTPProblem(404, "no_route", f"nothing at {request.path}")
            raise _Options(methods)
        for compiled in self._compiled:
            found = compiled.pattern.match(request.path)
            if found is None:
                continue
            if compiled.route.method != method:
                allowed.append(compiled.route.method)
                continue
            params: dict[str, Any] = {}
            for name, raw in found.groupdict().items():
                if name.endswith("_id"):
                    if not 0 < int(raw) <= MAX_ID:  # no record has another id
                        raise HTTPProblem(404, "not_found", f"no record at {request.path}")
                    params[name] = int(raw)
                else:
                    params[name] = raw
            return compiled.route, params
        if allowed:
            listed = ", ".join(self.allowed_methods(request.path))
            raise HTTPProblem(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {listed}",
                headers=[("Allow", listed)],
            )
        raise HTTPProblem(404, "no_route", f"nothing at {request.path}")

    def _handle(self, request: Request) -> Response:
        route, params = self._match(request)
        if request.user is None and not route.public:
            raise HTTPProblem(401, "unauthenticated", "sign in to use the CRM")
        if route.method in _UNSAFE and not route.public:
            # A public route acts for nobody (a web form's post, a signed webhook): a forged
            # cross-site request gains nothing a direct one could not.
            self._check_origin(request)
        session = self.crm.session(request.user) if request.user is not None else None
        call = Call(request=request, session=session, path=params, api=self)
        call.query = parse_query(request.query, route.query)
        self._read_body(request, route, call)
        if route.current is not None and route.method in _UNSAFE:
            self._check_precondition(request, call, route)
        result = route.handler(call)
        return self._respond(request, route, call, result)

    # -- request side --

    def _check_origin(self, request: Request) -> None:
        """Refuse browser requests that change state from another site (CSRF).

        A request that carries cookies is a browser session: its ``Origin`` (or, without
        one, ``Sec-Fetch-Site``) must name this host or a trusted origin, and a body a
        cross-site form could send (form, multipart, text) must come with the
        ``X-Requested-With`` header that only scripts allowed by CORS can add."""
        headers = request.headers
        if "cookie" not in headers:
            return
        origin = headers.get("origin", "").rstrip("/").lower()
        host = headers.get("host", "").lower()
        if origin and origin != "null":
            parts = urlsplit(origin)
            if parts.netloc != host and origin not in self.trusted_origins:
                raise HTTPProblem(403, "csrf", f"requests from {origin} may not change data")
        elif origin == "null" or headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
            raise HTTPProblem(403, "csrf", "cross-site requests may not change data")
        if request.content_type in _SIMPLE_TYPES and "x-requested-with" not in headers:
            raise HTTPProblem(
                403,
                "csrf",
                "a browser request that changes data must send the X-Requested-With header",
            )

    def _read_body(self, request: Request, route: Route, call: Call) -> None:
        limit = self.max_upload if route.upload else self.max_json
        if route.max_body is not None:
            limit = min(limit, route.max_body)
        length = request.content_length
        if length is not None and length > limit:
            raise HTTPProblem(413, "too_large", f"the body is larger than {limit} bytes")
        if route.form:
            if request.content_type != "application/x-www-form-urlencoded":
                raise HTTPProblem(
                    415, "unsupported_media_type", "send application/x-www-form-urlencoded"
                )
            raw = request.read_body(limit)
            if len(raw) > limit:
                raise HTTPProblem(413, "too_large", f"the body is larger than {limit} bytes")
            try:
                pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise HTTPProblem(400, "malformed_body", "the form is not UTF-8") from None
            fields: dict[str, list[str]] = {}
            for key, value in pairs:
                fields.setdefault(key, []).append(value)
            call.form = fields
            return
        if route.upload:
            if request.content_type != "multipart/form-data":
                raise HTTPProblem(415, "unsupported_media_type", "send multipart/form-data")
            form, uploads = request.read_form()
            call.form, call.uploads = form, list(uploads)
            return
        if route.body is None:
            if request.read_body(0):
                raise HTTPProblem(415, "unsupported_media_type", "this request takes no body")
            return
        if request.content_type != JSON:
            raise HTTPProblem(415, "unsupported_media_type", f"send the body as {JSON}")
        raw = request.read_body(limit)
        if len(raw) > limit:
            raise HTTPProblem(413, "too_large", f"the body is larger than {limit} bytes")
        try:
            data = load_json(raw) if raw else {}
        except BadJSON as exc:
            raise HTTPProblem(400, "malformed_body", str(exc)) from None
        if not isinstance(data, dict):
            raise HTTPProblem(400, "malformed_body", "the body must be a JSON object")
        call.body = structure(data, route.body)

    def _check_precondition(self, request: Request, call: Call, route: Route) -> None:
        wanted = request.headers.get("if-match")
        if wanted is None or wanted.strip() == "*":
            return
        assert route.current is not None
        current = etag_of(dump_json(unstructure(route.current(call))))
        tags = {t.strip().removeprefix("W/") for t in wanted.split(",")}
        if current not in tags:
            raise HTTPProblem(
                412,
                "precondition_failed",
                "the record has changed since you read it; read it again",
                headers=[("ETag", current)],
            )

    # -- response side --

    def _respond(self, request: Request, route: Route, call: Call, result: Any) -> Response:
        if result is None:
            return Response(status=204)
        if isinstance(result, Raw):
            own = [("Content-Type", result.content_type), *result.headers]
            return Response(status=result.status, headers=own, body=result.body)
        if isinstance(result, Download):
            disposition = "inline" if result.inline else "attachment"
            body, stream = (
                (result.data, None) if isinstance(result.data, bytes) else (b"", result.data)
            )
            length = [("Content-Length", str(result.size))] if result.size is not None else []
            return Response(
                status=200,
                headers=[
                    *length,
                    ("Content-Type", result.content_type),
                    ("Content-Disposition", _disposition(disposition, result.filename)),
                    ("X-Content-Type-Options", "nosniff"),
                    (
                        "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                    ),
                    ("Cache-Control", "private, no-store"),
                ],
                body=body,
                stream=stream,
            )
        headers: list[tuple[str, str]] = [("Content-Type", JSON)]
        if isinstance(result, Page):
            data: Any = {"items": unstructure(list(result.items)), "next": None}
            if result.next_cursor:
                query = [(k, v) for k, vs in request.query.items() for v in vs if k != "after"]
                query.append(("after", result.next_cursor))
                data["next"] = f"{request.base}{request.path}?{urlencode(query)}"
            if call.count is not None:
                data["count"] = call.count
        elif isinstance(route.returns, Items):
            data = {"items": unstructure(list(result))}
        else:
            data = unstructure(result)
        body = dump_json(data)
        if attrs.has(type(result)):
            tag = etag_of(body)
            headers.append(("ETag", tag))
            if request.method == "GET" and request.headers.get("if-none-match") == tag:
                return Response(status=304, headers=[("ETag", tag)])
        status = route.status
        if route.location is not None:
            headers.append(("Location", request.base + route.location(result)))
        return Response(status=status, headers=headers, body=body)


def _disposition(kind: str, filename: str) -> str:
    from urllib.parse import quote

    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:200] or "download"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename[:200], safe='')}"
