"""VoIP (S9): the telephony account, virtual numbers, their operators and calls."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import attrs
from moneyed import Money

__all__ = [
    "Call",
    "CallDirection",
    "CallLeg",
    "OperatorStatus",
    "VoipAccount",
    "VoipNumber",
    "VoipOperator",
    "WorkingHours",
]

#: Prices are kept to the provider's precision (Twilio: 4 places, like the reference).
PRICE_PLACES = Decimal("0.0001")


class OperatorStatus(StrEnum):
    ONLINE = "online"
    PAUSED = "paused"
    OFFLINE = "offline"


class CallDirection(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


@attrs.frozen(kw_only=True)
class VoipAccount:
    """The connected telephony account, as any read shows it: never with its secret.

    ``public_url`` is where the provider reaches the API (the URL the REST API is mounted
    at, as seen from the internet: behind a proxy, the proxy's); webhook signatures are
    checked against it, never against the host a request claims.
    """

    provider: str
    account_sid: str
    public_url: str
    has_token: bool
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class WorkingHours:
    """When a number takes calls: ``start`` to ``end`` (local ``"HH:MM"`` times in
    ``timezone``, an IANA name). An ``end`` before ``start`` spans midnight."""

    start: str
    end: str
    timezone: str = "UTC"


@attrs.frozen(kw_only=True)
class VoipNumber:
    """A virtual number the CRM answers: its provider id (``sid``), E.164 ``number``, an
    ``alias``, whether operators may call out from it (``outgoing``) and whether its calls
    are recorded (``recording``), the audio played on answer, while waiting and before a
    voicemail (URLs, empty for the provider's spoken default), the queue's ``queue_size``
    (callers waiting at once) and ``queue_wait`` (seconds before a caller goes to
    voicemail), and ``working_hours`` (None: always open)."""

    id: int
    sid: str
    number: str
    alias: str = ""
    outgoing: bool = True
    recording: bool = True
    greeting_audio: str = ""
    hold_audio: str = ""
    voicemail_audio: str = ""
    queue_size: int = 5
    queue_wait: int = 300
    working_hours: WorkingHours | None = None
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class VoipOperator:
    """A user answering one number. ``outgoing`` and ``recording`` never exceed the
    number's switches; ``answer_to`` is the phone (E.164) their calls ring, empty for the
    browser client; ``timeout`` the seconds a call rings them."""

    user_id: str
    number_id: int
    outgoing: bool = True
    recording: bool = True
    status: OperatorStatus = OperatorStatus.OFFLINE
    answer_to: str = ""
    timeout: int = 30


@attrs.frozen(kw_only=True)
class CallLeg:
    """A child call of a call: the leg that rang an operator (or, for an outgoing call,
    the dialled party)."""

    sid: str
    operator: str | None
    to_number: str
    status: str
    duration: int = 0
    price: Decimal | None = None


@attrs.frozen(kw_only=True)
class Call:
    """One call, one row per provider call id (``sid``).

    ``status`` is the provider's last status (only ever moving forward); ``answered_by``
    the operator who took it; ``missed`` an incoming call nobody took (or that went to
    voicemail). ``cost`` is the call's price plus its legs' and its recording's.
    """

    id: int
    sid: str
    direction: CallDirection
    number_id: int | None
    from_number: str
    to_number: str
    status: str
    contact_id: int | None = None
    operator: str | None = None
    answered_by: str | None = None
    missed: bool = False
    started_at: dt.datetime
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    duration: int = 0
    price: Decimal | None = None
    currency: str = "USD"
    recording_sid: str = ""
    recording_url: str = ""
    recording_duration: int = 0
    recording_price: Decimal | None = None
    history_event_id: int | None = None
    legs: tuple[CallLeg, ...] = ()
    #: Call + legs + recording, in the provider's price currency (4 places, ROUND_HALF_UP);
    #: computed from the other fields when the call is read.
    cost: Money = attrs.field()

    @cost.default
    def _cost(self) -> Money:
        parts = [self.price, self.recording_price, *(leg.price for leg in self.legs)]
        total = sum((p for p in parts if p is not None), Decimal(0))
        return Money(total.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP), self.currency)
