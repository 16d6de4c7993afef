"""The telephony port (S9, S14): what opencrm asks of a VoIP provider, in neutral terms.

A provider (Twilio is built in; others come as plugins through the
``opencrm_telephony_provider`` hook) manages numbers and calls through its REST API, checks
the signature of its webhooks, and renders a neutral :data:`CallFlow` (what to do with a
call) in its own markup. Webhook parameters are read into a :class:`Webhook` by
:func:`parse_webhook`; their names are Twilio's, which other providers' plugins translate to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Protocol

import attrs

__all__ = [
    "FINAL_STATUSES",
    "AvailableNumber",
    "CallDetails",
    "CallFlow",
    "Dial",
    "Enqueue",
    "Hangup",
    "Leave",
    "OwnedNumber",
    "Play",
    "Record",
    "RecordingDetails",
    "Say",
    "Step",
    "Telephony",
    "Webhook",
    "WebhookUrls",
    "parse_webhook",
    "status_rank",
]

#: A call's statuses in the order they happen; a later one never gives way to an earlier.
_RANKS = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "failed": 4,
    "no-answer": 4,
    "canceled": 4,
}
#: The statuses a call ends with.
FINAL_STATUSES = frozenset(s for s, r in _RANKS.items() if r == 4)


def status_rank(status: str) -> int:
    """Where ``status`` stands in a call's life (-1 for one opencrm does not know)."""
    return _RANKS.get(status, -1)


# --- what a provider answers --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AvailableNumber:
    """A number the provider offers for sale."""

    number: str
    friendly_name: str = ""
    region: str = ""
    country: str = ""


@attrs.frozen(kw_only=True)
class OwnedNumber:
    """A number the account owns: its provider id and E.164 number."""

    sid: str
    number: str
    friendly_name: str = ""


@attrs.frozen(kw_only=True)
class CallDetails:
    """What the provider bills for a call: its status, seconds, price (positive; None
    while not yet known) and price currency."""

    sid: str
    status: str
    duration: int = 0
    price: Decimal | None = None
    currency: str = "USD"
    parent_sid: str | None = None


@attrs.frozen(kw_only=True)
class RecordingDetails:
    sid: str
    url: str
    duration: int = 0
    price: Decimal | None = None
    currency: str = "USD"


@attrs.frozen(kw_only=True)
class WebhookUrls:
    """Where the provider posts a number's incoming calls and their status changes."""

    voice: str
    status: str


# --- the neutral call-flow answer -----------------------------------------------------------


@attrs.frozen
class Say:
    text: str


@attrs.frozen
class Play:
    url: str


@attrs.frozen(kw_only=True)
class Enqueue:
    """Put the caller in a waiting queue; ``wait_url`` is asked what to play while they
    wait, ``action_url`` is told how they left."""

    queue: str
    wait_url: str
    action_url: str


@attrs.frozen(kw_only=True)
class Dial:
    """Connect the call to a number, a browser client (``client:NAME``) or, with
    ``queue``, the first caller waiting in that queue (``queue_url`` is asked on the
    caller's side before they are connected)."""

    to: str = ""
    caller_id: str = ""
    queue: str = ""
    queue_url: str = ""
    record: bool = False
    timeout: int = 30
    action_url: str = ""
    recording_url: str = ""


@attrs.frozen(kw_only=True)
class Record:
    """Record a voicemail of at most ``max_length`` seconds."""

    max_length: int = 30
    action_url: str = ""
    recording_url: str = ""


@attrs.frozen
class Leave:
    """Leave the queue (the caller goes on to the enqueue's action)."""


@attrs.frozen
class Hangup:
    pass


Step = Say | Play | Enqueue | Dial | Record | Leave | Hangup
#: What to do with a call, step by step; the provider renders it (Twilio: TwiML).
CallFlow = tuple[Step, ...]


# --- the webhook ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Webhook:
    """A provider's webhook request, read: the call it is about and what it tells."""

    call_sid: str
    parent_call_sid: str = ""
    from_number: str = ""
    to_number: str = ""
    status: str = ""
    duration: int | None = None
    queue_result: str = ""
    queue_time: int | None = None
    dequeuing_call_sid: str = ""
    recording_sid: str = ""
    recording_url: str = ""
    recording_duration: int | None = None
    dial_status: str = ""
    dial_call_sid: str = ""
    dial_duration: int | None = None


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return min(int(value), 2**31 - 1)


def parse_webhook(params: Mapping[str, str]) -> Webhook:
    """Read webhook parameters (Twilio's names) into a :class:`Webhook`; sizes are capped
    and numbers that are not numbers are left out."""

    def text(name: str, limit: int = 64) -> str:
        return (params.get(name) or "")[:limit]

    return Webhook(
        call_sid=text("CallSid"),
        parent_call_sid=text("ParentCallSid"),
        from_number=text("From"),
        to_number=text("To"),
        status=text("CallStatus"),
        duration=_int(params.get("CallDuration")),
        queue_result=text("QueueResult"),
        queue_time=_int(params.get("QueueTime")),
        dequeuing_call_sid=text("DequeingCallSid") or text("DequeuingCallSid"),
        recording_sid=text("RecordingSid"),
        recording_url=text("RecordingUrl", 1000),
        recording_duration=_int(params.get("RecordingDuration")),
        dial_status=text("DialCallStatus"),
        dial_call_sid=text("DialCallSid"),
        dial_duration=_int(params.get("DialCallDuration")),
    )


def price_of(value: object) -> Decimal | None:
    """A provider's price ("-0.0085", a charge) as a positive Decimal; None when absent."""
    if value is None or value == "":
        return None
    try:
        return abs(Decimal(str(value)))
    except InvalidOperation:
        return None


class Telephony(Protocol):
    """A VoIP provider, built from the stored account by the ``opencrm_telephony_provider``
    hook. Its methods raise :class:`~opencrm.errors.OpenCRMError` subclasses: a refused
    request is a ValidationError or NotFound, refused credentials NotConfigured."""

    def available_numbers(
        self, country: str, *, contains: str | None = None, limit: int = 20
    ) -> Sequence[AvailableNumber]:
        """Local numbers for sale in ``country`` (ISO code)."""

    def owned_numbers(self) -> Sequence[OwnedNumber]:
        """Every number the account owns."""

    def buy_number(self, number: str, urls: WebhookUrls) -> OwnedNumber:
        """Buy ``number`` and point its calls at ``urls``."""

    def link_number(self, sid: str, urls: WebhookUrls) -> OwnedNumber:
        """Point an owned number's calls at ``urls``."""

    def release_number(self, sid: str) -> None:
        """Give an owned number back to the provider."""

    def start_call(
        self, *, from_number: str, to: str, answer_url: str, status_url: str, timeout: int
    ) -> str:
        """Call ``to`` from ``from_number``; once answered the provider asks ``answer_url``
        what to do. Return the new call's id."""

    def call_details(self, sid: str) -> CallDetails:
        """The billed status, duration and price of a call."""

    def recording_details(self, sid: str) -> RecordingDetails:
        """The duration and price of a recording."""

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        """Whether ``signature`` signs a request to ``url`` with form ``params``."""

    def render(self, flow: CallFlow) -> tuple[str, bytes]:
        """``flow`` in the provider's markup: (content type, body)."""
