"""The test client of the HTTP tests: one interface over each adapter's own test client."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any

import attrs
from flask import Flask
from flask import request as flask_request

from opencrm import CRM, User

USER_HEADER = "X-Test-User"


@attrs.frozen
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def problem(self) -> dict[str, Any]:
        """The problem document of an error reply (its content type checked)."""
        assert self.headers.get("Content-Type") == "application/problem+json", self.body[:500]
        data: dict[str, Any] = self.json
        assert data["status"] == self.status
        return data

    def fields(self) -> dict[str, str]:
        """A 422's field errors as {field: message}."""
        assert self.status == 422, (self.status, self.body[:500])
        return {e["field"]: e["message"] for e in self.problem["errors"]}


class Client:
    """A test client over one adapter, acting as one user; paths are relative to the API."""

    def __init__(self, raw: Any, prefix: str, user: str | None, adapter: str) -> None:
        self._raw = raw
        self.prefix = prefix
        self.user = user
        self.adapter = adapter

    def as_(self, user: str | None) -> Client:
        return type(self)(self._raw, self.prefix, user, self.adapter)

    @property
    def nobody_status(self) -> int:
        """How the adapter refuses a request nobody signed in to: Flask answers 401, Django
        403 (a session sign-in has no WWW-Authenticate challenge)."""
        return 403 if self.adapter == "django" else 401

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Reply:
        """``files`` (field -> (file name, bytes)) and ``form`` (text fields) are sent as
        one multipart form."""
        sent = dict(headers or {})
        if self.user is not None:
            sent[USER_HEADER] = self.user
        if form:
            files = {**(files or {}), **{k: (None, v) for k, v in form.items()}}  # type: ignore[dict-item]
        return self._send(method, self.prefix + path, json, data, files, sent, query)

    def _send(self, method, url, json, data, files, headers, query):  # type: ignore[no-untyped-def]
        import io

        kwargs: dict[str, Any] = {"headers": headers, "query_string": query}
        if json is not None:
            kwargs["data"] = jsonlib.dumps(json)
            kwargs["content_type"] = "application/json"
        elif data is not None:
            kwargs["data"] = data
        elif files is not None:
            kwargs["data"] = {
                k: v[1] if v[0] is None else (io.BytesIO(v[1]), v[0]) for k, v in files.items()
            }
            kwargs["content_type"] = "multipart/form-data"
        # Werkzeug's client sends cookies from its own jar only.
        cookies = dict(
            part.strip().split("=", 1) for part in headers.pop("Cookie", "").split(";") if part
        )
        for name, value in cookies.items():
            self._raw.set_cookie(name, value)
        try:
            reply = self._raw.open(url, method=method, **kwargs)
        finally:
            for name in cookies:
                self._raw.delete_cookie(name)
        return Reply(reply.status_code, dict(reply.headers), reply.get_data())

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Reply:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Reply:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Reply:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)


class DjangoClient(Client):
    """The same interface over Django's test client (Django's CSRF token check off, as
    Django's test client does by default; the API's own Origin check still runs)."""

    def _send(self, method, url, json, data, files, headers, query):  # type: ignore[no-untyped-def]
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

        content_type = headers.pop("Content-Type", "")
        body = b""
        if json is not None:
            body, content_type = jsonlib.dumps(json).encode(), "application/json"
        elif data is not None:
            body = data
        elif files is not None:
            uploads = {
                k: v[1] if v[0] is None else SimpleUploadedFile(v[0], v[1])
                for k, v in files.items()
            }
            body, content_type = encode_multipart(BOUNDARY, uploads), MULTIPART_CONTENT
        reply = self._raw.generic(
            method, url, body, content_type, headers=headers, query_params=query
        )
        content = b"".join(reply.streaming_content) if reply.streaming else reply.content
        return Reply(reply.status_code, dict(reply.headers), content)


class HeaderUserAdapter:
    """The tests' Django user adapter: the acting user is named by a test header."""

    users: Mapping[str, User] = {}

    def user_for(self, request: Any) -> User | None:
        return self.users.get(request.headers.get(USER_HEADER, ""))

    def directory(self) -> Any:
        from opencrm import InMemoryUserDirectory

        return InMemoryUserDirectory(self.users.values())


def flask_app(crm: CRM, users: Mapping[str, User], **config: Any) -> Flask:
    """A Flask app mounting opencrm at /crm; the acting user is named by a test header."""
    from opencrm_flask import OpenCRM

    app = Flask("opencrm-tests")
    app.config.update(TESTING=True, **config)
    OpenCRM(
        app,
        crm=crm,
        user_loader=lambda: users.get(flask_request.headers.get(USER_HEADER, "")),
    )
    return app
