"""The API's own description: the OpenAPI document and the interactive page that reads it,
both answered without a signed-in user. The page's files come from the swagger-ui-bundle
package and are served from here: no CDN is needed (many intranets reach none)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from opencrm.errors import NotFound
from opencrm.http._api import Call, Raw, Route
from opencrm.http._convert import dump_json
from opencrm.http._openapi import openapi_document

__all__ = ["ROUTES"]

TAG = "api"
#: The Swagger UI files the page loads, and their media types; nothing else is served.
_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<link rel="stylesheet" href="{base}/docs/swagger-ui.css">
<link rel="icon" href="{base}/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{base}/docs/swagger-ui-bundle.js"></script>
<script src="{base}/docs/swagger-ui-standalone-preset.js"></script>
<script src="{base}/docs/init.js"></script>
</body>
</html>
"""
_INIT = """window.ui = SwaggerUIBundle({{
  url: {url},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  requestInterceptor: function (req) {{
    req.headers["X-Requested-With"] = "opencrm-docs";
    return req;
  }}
}});
"""


def _assets_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(swagger_ui_path)


def get_openapi(c: Call) -> Raw:
    api = c.api
    doc = openapi_document(
        api.routes, title=api.title, version=version("opencrm"), server=c.request.base or "/"
    )
    return Raw(dump_json(doc), "application/json")


def get_docs_page(c: Call) -> Raw:
    base = c.request.base
    page = _PAGE.format(title=c.api.title, base=base)
    return Raw(page.encode(), "text/html; charset=utf-8", (("Content-Security-Policy", _PAGE_CSP),))


def get_docs_asset(c: Call) -> Raw:
    name = c.path["asset"]
    if name == "init.js":
        body = _INIT.format(url=json.dumps(c.request.base + "/openapi.json")).encode()
        return Raw(body, "text/javascript; charset=utf-8")
    if name not in _ASSETS:
        raise NotFound("file", name)
    data = (_assets_dir() / name).read_bytes()
    return Raw(data, _ASSETS[name], (("Cache-Control", "public, max-age=86400"),))


ROUTES = [
    Route(
        method="GET",
        path="/openapi.json",
        handler=get_openapi,
        summary="This API's OpenAPI 3.1 document",
        tag=TAG,
        public=True,
        returns=dict,
    ),
    Route(
        method="GET",
        path="/docs",
        handler=get_docs_page,
        summary="The interactive API page",
        tag=TAG,
        public=True,
        hidden=True,
    ),
    Route(
        method="GET",
        path="/docs/{asset}",
        handler=get_docs_asset,
        summary="A file of the interactive API page",
        tag=TAG,
        public=True,
        hidden=True,
    ),
]
