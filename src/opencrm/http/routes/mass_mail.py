"""Mass mail: preview the message one contact gets, start the job (202 with its Location),
and who may send (a setting, admins only by default)."""

from __future__ import annotations

from typing import Any

import attrs

from opencrm.core.jobs import Job
from opencrm.core.users import ModuleAccess
from opencrm.http._api import Call, Route
from opencrm.http._convert import UNSET
from opencrm.http.routes.contact_bulk import _IDS, _WHERE

__all__ = ["ROUTES"]

TAG = "mass-mail"
_TEMPLATE = (
    "Placeholders are `{{name}}`, `{{first_name}}`, `{{last_name}}`, `{{job_title}}`, "
    "`{{company}}`, `{{industry}}`, `{{email}}`, `{{phone}}` and `{{custom:<field label>}}`; "
    "anything else between `{{` and `}}` is a 422 naming it, before anything is sent. Values "
    "are escaped in `html`."
)


@attrs.frozen(kw_only=True)
class PreviewIn:
    """The templates, and the contact to render them for."""

    contact: int
    subject: str
    text: str
    html: str | None = UNSET


@attrs.frozen(kw_only=True)
class MassMailIn:
    """The templates and the selection (`ids` or `where`)."""

    subject: str
    text: str
    html: str | None = UNSET
    ids: list[int] = attrs.field(default=UNSET, metadata=_IDS)
    where: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _WHERE})
    history: bool = UNSET
    history_category: int | str = UNSET
    batch_size: int = UNSET


@attrs.frozen(kw_only=True)
class RenderedMessage:
    """The message as the contact would get it (`to` is empty without an e-mail address)."""

    to: list[str]
    subject: str
    text: str
    html: str | None


@attrs.frozen(kw_only=True)
class SendersIn:
    """Who may send mass mail: everyone, or only the listed users and members of the listed
    groups. CRM admins always may."""

    everyone: bool
    users: list[str] = attrs.field(factory=list)
    groups: list[str] = attrs.field(factory=list)


def preview_mass_mail(c: Call) -> RenderedMessage:
    args = c.args()
    message = c.s.mass_mail.preview(args.pop("contact"), **args)
    return RenderedMessage(
        to=list(message.to), subject=message.subject, text=message.text, html=message.html
    )


def start_mass_mail(c: Call) -> Job:
    return c.s.mass_mail.start(**c.args())  # type: ignore[no-any-return]


def get_senders(c: Call) -> ModuleAccess:
    return c.s.mass_mail.senders()  # type: ignore[no-any-return]


def set_senders(c: Call) -> ModuleAccess:
    body = c.body
    return c.s.mass_mail.set_senders(  # type: ignore[no-any-return]
        ModuleAccess(everyone=body.everyone, users=body.users, groups=body.groups)
    )


SENDERS = "/mass-mail/senders"

ROUTES = [
    Route(
        method="POST",
        path="/mass-mail/preview",
        handler=preview_mass_mail,
        summary="Render the mass mail one contact would get (nothing is sent)",
        description=_TEMPLATE,
        tag=TAG,
        body=PreviewIn,
        returns=RenderedMessage,
        exposes=("mass_mail.preview",),
    ),
    Route(
        method="POST",
        path="/mass-mail",
        handler=start_mass_mail,
        summary="Send a templated mail to a selection of contacts, as a job",
        description=_TEMPLATE
        + " Answers 202 with the queued job; its summary counts the recipients `sent`, "
        "`skipped` (no e-mail) and `failed`, and lists those not sent with the reason.",
        tag=TAG,
        body=MassMailIn,
        returns=Job,
        status=202,
        location=lambda job: f"/jobs/{job.id}",
        exposes=("mass_mail.start",),
    ),
    Route(
        method="GET",
        path=SENDERS,
        handler=get_senders,
        summary="Who may send mass mail",
        tag=TAG,
        returns=ModuleAccess,
        exposes=("mass_mail.senders",),
    ),
    Route(
        method="PUT",
        path=SENDERS,
        handler=set_senders,
        summary="Decide who may send mass mail (admins; admins always may)",
        tag=TAG,
        body=SendersIn,
        returns=ModuleAccess,
        current=get_senders,
        exposes=("mass_mail.set_senders",),
    ),
]
