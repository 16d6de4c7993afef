"""VoIP: the telephony account, numbers, operators, calls, and the provider's webhooks.

The webhooks are public (the provider signs in with its signature, not a user) and, having
no browser session to ride on, exempt from CSRF checks; each is refused unless its
``X-Twilio-Signature`` signs it for the CRM's configured public URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import attrs

from opencrm.core.entities.voip import Call as PhoneCall
from opencrm.core.entities.voip import VoipAccount, VoipNumber, VoipOperator, WorkingHours
from opencrm.core.telephony import AvailableNumber, OwnedNumber
from opencrm.errors import ValidationError
from opencrm.http._api import Call, Download, Items, Listing, ListQuery, Raw, Route
from opencrm.http._convert import UNSET, given

__all__ = ["ROUTES"]

TAG = "voip"
WEBHOOKS = "voip webhooks"


@attrs.frozen(kw_only=True)
class AccountIn:
    account_sid: str
    #: Stored for API calls and signature checks; never shown again.
    auth_token: str
    #: Where the provider reaches this API (behind a proxy: the proxy's URL).
    public_url: str
    provider: str = UNSET


@attrs.frozen(kw_only=True)
class AvailableQuery:
    country: str = UNSET
    contains: str = UNSET
    limit: int = UNSET


@attrs.frozen(kw_only=True)
class NumberSettings:
    alias: str = UNSET
    outgoing: bool = UNSET
    recording: bool = UNSET
    greeting_audio: str = UNSET
    hold_audio: str = UNSET
    voicemail_audio: str = UNSET
    queue_size: int = UNSET
    queue_wait: int = UNSET
    working_hours: WorkingHours | None = UNSET


@attrs.frozen(kw_only=True)
class NumberIn(NumberSettings):
    #: A number to buy (E.164)...
    number: str = UNSET
    #: ...or the provider id of an owned number to link.
    sid: str = UNSET


@attrs.frozen(kw_only=True)
class DeleteNumberQuery:
    #: Also give the number back to the provider.
    release: bool = UNSET


@attrs.frozen(kw_only=True)
class OperatorSettings:
    outgoing: bool = UNSET
    recording: bool = UNSET
    status: str = UNSET
    answer_to: str = UNSET
    timeout: int = UNSET


@attrs.frozen(kw_only=True)
class OperatorIn(OperatorSettings):
    number: int
    user: str


@attrs.frozen(kw_only=True)
class OperatorsQuery:
    number: int = UNSET


@attrs.frozen(kw_only=True)
class StatusIn:
    status: str


@attrs.frozen(kw_only=True)
class CallIn:
    to: str
    contact: int = UNSET


@attrs.frozen(kw_only=True)
class CallsQuery(ListQuery):
    kind: str = UNSET
    started_from: dt.datetime = UNSET
    started_to: dt.datetime = UNSET
    operator: str = UNSET
    contact: int = UNSET
    text: str = UNSET


@attrs.frozen(kw_only=True)
class WebhookQuery:
    """What opencrm puts in the webhook URLs it gives the provider."""

    #: The waiting call an operator's leg connects to (``connect``).
    call: str = UNSET
    #: The operator's leg a waiting call is connected to (``dequeued``).
    leg: str = UNSET


# --- handlers ---------------------------------------------------------------------------------


def get_voip_account(c: Call) -> VoipAccount:
    return c.s.voip.account()  # type: ignore[no-any-return]


def connect_voip_account(c: Call) -> VoipAccount:
    return c.s.voip.connect(**c.args())  # type: ignore[no-any-return]


def disconnect_voip_account(c: Call) -> None:
    c.s.voip.disconnect()


def list_available_numbers(c: Call) -> Sequence[AvailableNumber]:
    args = given(c.query)
    return c.s.voip.available_numbers(  # type: ignore[no-any-return]
        args.pop("country", "US"), **args
    )


def list_owned_numbers(c: Call) -> Sequence[OwnedNumber]:
    return c.s.voip.owned_numbers()  # type: ignore[no-any-return]


def list_voip_numbers(c: Call) -> Sequence[VoipNumber]:
    return c.s.voip.numbers()  # type: ignore[no-any-return]


def add_voip_number(c: Call) -> VoipNumber:
    args = c.args()
    number, sid = args.pop("number", None), args.pop("sid", None)
    if (number is None) == (sid is None):
        raise ValidationError({"number": "give a number to buy or the sid of an owned one"})
    if number is not None:
        return c.s.voip.buy_number(number, **args)  # type: ignore[no-any-return]
    return c.s.voip.link_number(sid, **args)  # type: ignore[no-any-return]


def get_voip_number(c: Call) -> VoipNumber:
    return c.s.voip.get_number(c.path["number_id"])  # type: ignore[no-any-return]


def update_voip_number(c: Call) -> VoipNumber:
    return c.s.voip.update_number(c.path["number_id"], **c.args())  # type: ignore[no-any-return]


def delete_voip_number(c: Call) -> None:
    if given(c.query).get("release"):
        c.s.voip.release_number(c.path["number_id"])
    else:
        c.s.voip.delete_number(c.path["number_id"])


def list_voip_operators(c: Call) -> Sequence[VoipOperator]:
    return c.s.voip.operators(**given(c.query))  # type: ignore[no-any-return]


def add_voip_operator(c: Call) -> VoipOperator:
    args = c.args()
    return c.s.voip.add_operator(  # type: ignore[no-any-return]
        args.pop("number"), args.pop("user"), **args
    )


def get_voip_operator(c: Call) -> VoipOperator:
    return c.s.voip.get_operator(c.path["user"])  # type: ignore[no-any-return]


def update_voip_operator(c: Call) -> VoipOperator:
    return c.s.voip.update_operator(c.path["user"], **c.args())  # type: ignore[no-any-return]


def delete_voip_operator(c: Call) -> None:
    c.s.voip.remove_operator(c.path["user"])


def set_voip_status(c: Call) -> VoipOperator:
    return c.s.voip.set_status(c.body.status)  # type: ignore[no-any-return]


def start_call(c: Call) -> PhoneCall:
    return c.s.voip.call(**c.args())  # type: ignore[no-any-return]


def list_calls(c: Call) -> Any:
    return c.page(SimpleNamespace(list=c.s.voip.calls, count=c.s.voip.count_calls))


def get_call(c: Call) -> PhoneCall:
    return c.s.voip.get_call(c.path["call_id"])  # type: ignore[no-any-return]


def list_missed_calls(c: Call) -> Sequence[PhoneCall]:
    return c.s.voip.missed_calls()  # type: ignore[no-any-return]


def answer_voip_webhook(c: Call) -> Raw:
    query = urlencode([(k, v) for k, vs in c.request.query.items() for v in vs])
    params = {k: vs[-1] for k, vs in c.form.items()}
    signature = c.request.headers.get("x-twilio-signature", "")
    content_type, body = c.api.crm.voip_webhook(c.path["kind"], query, params, signature)
    return Raw(body, content_type)


def _number_location(number: VoipNumber) -> str:
    return f"/voip/numbers/{number.id}"


def _operator_location(operator: VoipOperator) -> str:
    return f"/voip/operators/{operator.user_id}"


def _call_location(call: PhoneCall) -> str:
    return f"/voip/calls/{call.id}"


NUMBER = "/voip/numbers/{number_id}"
OPERATOR = "/voip/operators/{user}"

ROUTES = [
    Route(
        method="GET",
        path="/voip/account",
        handler=get_voip_account,
        summary="Read the telephony account, without its token (admins)",
        tag=TAG,
        returns=VoipAccount,
        exposes=("voip.account",),
    ),
    Route(
        method="PUT",
        path="/voip/account",
        handler=connect_voip_account,
        summary="Connect the telephony account (admins; the token is never shown again)",
        tag=TAG,
        body=AccountIn,
        returns=VoipAccount,
        exposes=("voip.connect",),
    ),
    Route(
        method="DELETE",
        path="/voip/account",
        handler=disconnect_voip_account,
        summary="Forget the telephony account (admins; webhooks are refused from then on)",
        tag=TAG,
        exposes=("voip.disconnect",),
    ),
    Route(
        method="GET",
        path="/voip/available-numbers",
        handler=list_available_numbers,
        summary="Numbers the provider offers for sale (admins)",
        description="`country` is an ISO code (default US); `contains` a part of the number.",
        tag=TAG,
        query=AvailableQuery,
        returns=Items(AvailableNumber),
        exposes=("voip.available_numbers",),
    ),
    Route(
        method="GET",
        path="/voip/owned-numbers",
        handler=list_owned_numbers,
        summary="Numbers the account owns, linked or not (admins)",
        tag=TAG,
        returns=Items(OwnedNumber),
        exposes=("voip.owned_numbers",),
    ),
    Route(
        method="GET",
        path="/voip/numbers",
        handler=list_voip_numbers,
        summary="The numbers the CRM answers (admins)",
        tag=TAG,
        returns=Items(VoipNumber),
        exposes=("voip.numbers",),
    ),
    Route(
        method="POST",
        path="/voip/numbers",
        handler=add_voip_number,
        summary="Buy a number (`number`) or link an owned one (`sid`) (admins)",
        tag=TAG,
        body=NumberIn,
        returns=VoipNumber,
        status=201,
        location=_number_location,
        exposes=("voip.buy_number", "voip.link_number"),
    ),
    Route(
        method="GET",
        path=NUMBER,
        handler=get_voip_number,
        summary="Read a number (admins, and its operators)",
        tag=TAG,
        returns=VoipNumber,
        exposes=("voip.get_number",),
    ),
    Route(
        method="PATCH",
        path=NUMBER,
        handler=update_voip_number,
        summary="Change a number's settings (admins)",
        tag=TAG,
        body=NumberSettings,
        returns=VoipNumber,
        current=get_voip_number,
        exposes=("voip.update_number",),
    ),
    Route(
        method="DELETE",
        path=NUMBER,
        handler=delete_voip_number,
        summary="Stop answering a number; `release=true` gives it back (admins)",
        tag=TAG,
        query=DeleteNumberQuery,
        exposes=("voip.delete_number", "voip.release_number"),
    ),
    Route(
        method="GET",
        path="/voip/operators",
        handler=list_voip_operators,
        summary="The operators, of one `number` or of all (admins)",
        tag=TAG,
        query=OperatorsQuery,
        returns=Items(VoipOperator),
        exposes=("voip.operators",),
    ),
    Route(
        method="POST",
        path="/voip/operators",
        handler=add_voip_operator,
        summary="Make a user an operator of a number (admins)",
        tag=TAG,
        body=OperatorIn,
        returns=VoipOperator,
        status=201,
        location=_operator_location,
        exposes=("voip.add_operator",),
    ),
    Route(
        method="GET",
        path=OPERATOR,
        handler=get_voip_operator,
        summary="Read an operator (admins, and the operator)",
        tag=TAG,
        returns=VoipOperator,
        exposes=("voip.get_operator",),
    ),
    Route(
        method="PATCH",
        path=OPERATOR,
        handler=update_voip_operator,
        summary="Change an operator (admins) or their status (the operator too)",
        tag=TAG,
        body=OperatorSettings,
        returns=VoipOperator,
        current=get_voip_operator,
        exposes=("voip.update_operator",),
    ),
    Route(
        method="DELETE",
        path=OPERATOR,
        handler=delete_voip_operator,
        summary="Stop a user operating their number (admins)",
        tag=TAG,
        exposes=("voip.remove_operator",),
    ),
    Route(
        method="PUT",
        path="/voip/status",
        handler=set_voip_status,
        summary="Set your own operator status: online, paused or offline",
        tag=TAG,
        body=StatusIn,
        returns=VoipOperator,
        exposes=("voip.set_status",),
    ),
    Route(
        method="GET",
        path="/voip/calls",
        handler=list_calls,
        summary="List calls",
        description="Calls of contacts you may read and calls you took or placed. `kind` is "
        "answered, missed or outgoing; `started_from` inclusive, `started_to` exclusive; "
        "`operator` a user id; `contact` an id; `text` part of a number. Sorts: date, "
        "duration, price (`-` for descending; default `-date`). `count=true` adds the total.",
        tag=TAG,
        query=CallsQuery,
        returns=Listing(PhoneCall),
        exposes=("voip.calls", "voip.count_calls"),
    ),
    Route(
        method="POST",
        path="/voip/calls",
        handler=start_call,
        summary="Call a number as an operator with outgoing calls (rings you first)",
        tag=TAG,
        body=CallIn,
        returns=PhoneCall,
        status=201,
        location=_call_location,
        exposes=("voip.call",),
    ),
    Route(
        method="GET",
        path="/voip/calls/missed",
        handler=list_missed_calls,
        summary="Your number's missed calls of the last 7 days (at most 10)",
        tag=TAG,
        returns=Items(PhoneCall),
        exposes=("voip.missed_calls",),
    ),
    Route(
        method="GET",
        path="/voip/calls/{call_id}",
        handler=get_call,
        summary="Read a call",
        tag=TAG,
        returns=PhoneCall,
        exposes=("voip.get_call",),
    ),
    Route(
        method="POST",
        path="/voip/webhooks/{kind}",
        handler=answer_voip_webhook,
        summary="The telephony provider's webhooks (signed; no user)",
        description="`kind` is voice, wait, queue-result, connect, dequeued, outgoing, done, "
        "status or recording. Refused (403) unless `X-Twilio-Signature` signs the request "
        "for the configured public URL; answered with TwiML.",
        tag=WEBHOOKS,
        public=True,
        form=True,
        query=WebhookQuery,
        returns=Download,
        download_type="application/xml",
    ),
]
