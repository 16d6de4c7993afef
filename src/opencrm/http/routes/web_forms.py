"""Website contact forms: the admin routes, and the public route a published form posts to.

The public route takes an ``application/x-www-form-urlencoded`` post from any site (it acts
for nobody, so no CSRF check applies) and answers with a redirect (303) to an allowed return
URL, or a short thank-you page when the form has none.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from opencrm.core.entities.contacts import Access
from opencrm.core.entities.web_forms import WebForm, WebFormKind
from opencrm.errors import ValidationError
from opencrm.http._api import Call, Download, Items, Raw, Route
from opencrm.http._convert import UNSET

__all__ = ["ROUTES"]

TAG = "web forms"
#: The largest post body in bytes (the service also limits the characters a post holds).
MAX_POST_BODY = 64 * 1024


@attrs.frozen(kw_only=True)
class WebFormIn:
    name: str
    kind: WebFormKind = UNSET
    fields: list[str] = UNSET
    required: list[str] = UNSET
    tags: list[str] = UNSET
    managers: list[str] = UNSET
    access: Access = UNSET
    notify: list[str] = UNSET
    return_urls: list[str] = UNSET
    rate_limit: int = UNSET


@attrs.frozen(kw_only=True)
class WebFormPatch:
    name: str = UNSET
    fields: list[str] = UNSET
    required: list[str] = UNSET
    tags: list[str] = UNSET
    managers: list[str] = UNSET
    access: Access = UNSET
    notify: list[str] = UNSET
    return_urls: list[str] = UNSET
    rate_limit: int = UNSET


@attrs.frozen(kw_only=True)
class SnippetQuery:
    #: Where the form posts to: the absolute URL of this API's ``/web-forms/post`` as the
    #: website's visitors reach it (required).
    action: str = UNSET


@attrs.frozen(kw_only=True)
class Snippet:
    form_id: int
    html: str


def list_web_forms(c: Call) -> Sequence[WebForm]:
    return c.s.web_forms.list()  # type: ignore[no-any-return]


def add_web_form(c: Call) -> WebForm:
    return c.s.web_forms.add(**c.args())  # type: ignore[no-any-return]


def get_web_form(c: Call) -> WebForm:
    return c.s.web_forms.get(c.path["form_id"])  # type: ignore[no-any-return]


def update_web_form(c: Call) -> WebForm:
    return c.s.web_forms.update(c.path["form_id"], **c.args())  # type: ignore[no-any-return]


def delete_web_form(c: Call) -> None:
    c.s.web_forms.delete(c.path["form_id"])


def rotate_web_form_key(c: Call) -> WebForm:
    return c.s.web_forms.rotate_key(c.path["form_id"])  # type: ignore[no-any-return]


def web_form_snippet(c: Call) -> Snippet:
    action = c.query.action
    if action is UNSET:
        raise ValidationError({"action": "is required"})
    form_id = c.path["form_id"]
    return Snippet(form_id=form_id, html=c.s.web_forms.snippet(form_id, action))


_THANKS = (
    b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Thank you</title></head>'
    b"<body><p>Thank you. Your message has been sent.</p></body></html>\n"
)


def post_web_form(c: Call) -> Raw:
    result = c.api.crm.web_form_post(c.form, client=c.api.client_address(c.request))
    if result.redirect is None:
        return Raw(_THANKS, "text/html; charset=utf-8", headers=(("Cache-Control", "no-store"),))
    return Raw(
        b"",
        "text/plain; charset=utf-8",
        headers=(("Location", result.redirect), ("Cache-Control", "no-store")),
        status=303,
    )


def _form_location(form: WebForm) -> str:
    return f"/web-forms/{form.id}"


ONE = "/web-forms/{form_id}"

ROUTES = [
    Route(
        method="GET",
        path="/web-forms",
        handler=list_web_forms,
        summary="List the website contact forms (admins)",
        tag=TAG,
        returns=Items(WebForm),
        exposes=("web_forms.list",),
    ),
    Route(
        method="POST",
        path="/web-forms",
        handler=add_web_form,
        summary="Build a website contact form (admins)",
        tag=TAG,
        body=WebFormIn,
        returns=WebForm,
        status=201,
        location=_form_location,
        exposes=("web_forms.add",),
    ),
    Route(
        method="GET",
        path=ONE,
        handler=get_web_form,
        summary="Read a website contact form (admins)",
        tag=TAG,
        returns=WebForm,
        exposes=("web_forms.get",),
    ),
    Route(
        method="PATCH",
        path=ONE,
        handler=update_web_form,
        summary="Change a website contact form (admins)",
        tag=TAG,
        body=WebFormPatch,
        returns=WebForm,
        current=get_web_form,
        exposes=("web_forms.update",),
    ),
    Route(
        method="DELETE",
        path=ONE,
        handler=delete_web_form,
        summary="Delete a website contact form; its published copies stop working (admins)",
        tag=TAG,
        current=get_web_form,
        exposes=("web_forms.delete",),
    ),
    Route(
        method="POST",
        path=ONE + "/rotate-key",
        handler=rotate_web_form_key,
        summary="Give a form a new key; posts with the old one are refused (admins)",
        tag=TAG,
        returns=WebForm,
        exposes=("web_forms.rotate_key",),
    ),
    Route(
        method="GET",
        path=ONE + "/snippet",
        handler=web_form_snippet,
        summary="The HTML of a form, to paste into a web page (admins)",
        tag=TAG,
        query=SnippetQuery,
        returns=Snippet,
        exposes=("web_forms.snippet",),
    ),
    Route(
        method="POST",
        path="/web-forms/post",
        handler=post_web_form,
        summary="A visitor's post of a published form (public)",
        description="Takes the form's fields as application/x-www-form-urlencoded (at most "
        f"{MAX_POST_BODY} bytes). Answers 303 to the form's return URL (or 200 with a "
        "thank-you page); 403 for an unknown form or an old key, 429 over the rate limit, "
        "413 for a body too large, 422 for invalid fields or a return URL the form does not "
        "allow. Posts caught by the honeypot or a spam filter get the success answer and "
        "store nothing.",
        tag=TAG,
        public=True,
        form=True,
        max_body=MAX_POST_BODY,
        returns=Download,
        download_type="text/html",
    ),
]
