"""The opencrm REST API, written once and free of any web framework.

An adapter (the Flask extension, the Django app, or your own) builds a :class:`Request`
from its framework's request, calls :meth:`API.handle` and turns the :class:`Response` back
into its framework's response. Everything else (routing, JSON, errors as problem
documents, ETags, CSRF checks, the OpenAPI document) happens here.
"""

from opencrm.http._api import API, Call, Download, Items, Listing, Route
from opencrm.http._messages import Headers, Request, Response, Upload

__all__ = [
    "API",
    "Call",
    "Download",
    "Headers",
    "Items",
    "Listing",
    "Request",
    "Response",
    "Route",
    "Upload",
]
