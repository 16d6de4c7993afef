"""The one view: Django's request in, :mod:`opencrm.http` answers, Django's response out.

Routing, JSON, errors and the OpenAPI document live in :mod:`opencrm.http`, shared with
the Flask extension. This module only translates, resolves the user and applies Django's
CSRF protection to session-authenticated writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.request import RawPostDataException
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from opencrm import User
from opencrm.http import API, Headers, Request, Response, Upload, problem
from opencrm.http._api import HTTPProblem, error_response
from opencrm_django import runtime

__all__ = ["CSRF_EXEMPT", "api_view", "csrf_exempt_routes"]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Routes (method, path) that take writes without Django's CSRF token even from a browser
#: session. Public routes are (they act for nobody, so a forged request gains nothing),
#: plus any listed here. Today there are none: see :func:`csrf_exempt_routes`.
CSRF_EXEMPT: frozenset[tuple[str, str]] = frozenset()


def csrf_exempt_routes(api: API) -> list[tuple[str, str]]:
    """Every route that changes data and is exempt from Django's CSRF check."""
    return sorted(
        (r.method, r.path)
        for r in api.routes
        if r.method in _UNSAFE and (r.public or (r.method, r.path) in CSRF_EXEMPT)
    )


# Django's middleware skips this view; it runs the same check itself, only where cookies
# authenticate the write (a script with a token of its own has no CSRF to fear).
@csrf_exempt
def api_view(request: HttpRequest, path: str) -> HttpResponse:
    try:
        api = runtime.get_api()
        user = runtime.user_adapter().user_for(request)
    except Exception as exc:  # a broken adapter or database is the host's fault: a 500
        return _to_django(error_response(exc))
    crm_request = _to_request(request, path, user)
    if request.method in _UNSAFE and _session_cookie(request):
        refused = _csrf_refusal(request, api, crm_request)
        if refused is not None:
            return refused
    response = api.handle(crm_request)
    if user is None and response.status == 401:
        # Django signs users in with a session, not an HTTP challenge: no one to ask for
        # credentials with WWW-Authenticate, so nobody is refused (403), as Django does.
        response = problem(403, "unauthenticated", "sign in to use the CRM")
    return _to_django(response)


def _session_cookie(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME in request.COOKIES


def _csrf_refusal(request: HttpRequest, api: API, crm_request: Request) -> HttpResponse | None:
    if (crm_request.method, _route_path(api, crm_request)) in csrf_exempt_routes(api):
        return None
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    check.process_request(request)
    # Not api_view itself: it is marked exempt for the middleware, so the check would pass.
    refused = check.process_view(request, _protected, (), {})
    if refused is None:
        return None
    return _to_django(
        problem(403, "csrf", "a browser session must send Django's CSRF token to change data")
    )


def _protected(request: HttpRequest) -> None:
    """Stands for the view in Django's CSRF check (never called)."""


def _route_path(api: API, crm_request: Request) -> str | None:
    route = api.route_for(crm_request.method, crm_request.path)
    return route.path if route is not None else None


def _to_request(request: HttpRequest, path: str, user: User | None) -> Request:
    mount = request.path[: len(request.path) - len(path)] if path else request.path
    return Request(
        method=request.method or "GET",
        path="/" + path,
        base=mount.rstrip("/"),
        query={k: request.GET.getlist(k) for k in request.GET},
        # Django's test client sends an empty Cookie header; no browser does.
        headers=Headers((k, v) for k, v in request.headers.items() if v or k != "Cookie"),
        user=user,
        read_body=lambda limit: _read_body(request, limit),
        read_form=lambda: _read_form(request),
        client=str(request.META.get("REMOTE_ADDR") or ""),
    )


def _read_body(request: HttpRequest, limit: int) -> bytes:
    # Read the stream, not request.body: the API's limit applies, not
    # DATA_UPLOAD_MAX_MEMORY_SIZE, and at most limit + 1 bytes are read.
    try:
        data: bytes = request.read(limit + 1) if limit else request.read(1)
    except RawPostDataException:  # a middleware read request.body already
        data = request.body[: limit + 1]
    return data


def _read_form(request: HttpRequest) -> tuple[Mapping[str, Sequence[str]], Sequence[Upload]]:
    try:
        if request.method == "POST":
            fields, uploaded = request.POST, request.FILES
        else:  # Django parses forms of POST only; the API takes uploads by PUT too
            fields, uploaded = request.parse_file_upload(request.META, request)
        form = {k: fields.getlist(k) for k in fields}
        files = [
            Upload(
                field=name,
                filename=f.name or "",
                stream=f,
                content_type=f.content_type or "application/octet-stream",
            )
            for name in uploaded
            for f in uploaded.getlist(name)
        ]
    except RequestDataTooBig:
        raise HTTPProblem(413, "too_large", "the form is larger than allowed") from None
    except SuspiciousOperation as exc:  # too many fields or files, a broken multipart body
        raise HTTPProblem(400, "malformed_body", str(exc)) from None
    return form, files


def _to_django(response: Response) -> HttpResponse:
    out: Any
    if response.stream is not None:
        out = StreamingHttpResponse(response.stream, status=response.status)
    else:
        out = HttpResponse(response.body, status=response.status)
    del out.headers["Content-Type"]  # only the API's own headers
    for name, value in response.headers:
        # Django keeps one value per name: repeated headers are joined, as RFC 9110 allows.
        out.headers[name] = f"{out.headers[name]}, {value}" if name in out.headers else value
    if response.stream is None:
        out.headers["Content-Length"] = str(len(response.body))
    return out
