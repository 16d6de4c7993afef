"""The built-in Twilio telephony provider, on the official ``twilio`` library.

Webhook signatures are checked with the library's ``RequestValidator`` and call flows
rendered with its ``VoiceResponse``; numbers and calls go through its REST client, so its
URL building, authentication, paging and error mapping are the ones Twilio maintains.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opencrm.core.telephony import (
    AvailableNumber,
    CallDetails,
    CallFlow,
    Dial,
    Enqueue,
    Hangup,
    Leave,
    OwnedNumber,
    Play,
    Record,
    RecordingDetails,
    Say,
    WebhookUrls,
    price_of,
)
from opencrm.errors import NotFound, OpenCRMError, ProviderError, ValidationError
from opencrm.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from opencrm.crm import CRM

__all__ = ["TwilioTelephony"]

PROVIDER = "twilio"
_DEFAULT_PORTS = {"https": 443, "http": 80}


class TwilioTelephony:
    """:class:`opencrm.core.telephony.Telephony` on Twilio. ``http_client`` is handed to
    ``twilio.rest.Client`` (a ``TwilioHttpClient``; tests pass one that talks to a local
    server). The client is made on first use, never at import."""

    def __init__(self, account_sid: str, auth_token: str, *, http_client: Any = None) -> None:
        self._sid = account_sid
        self._token = auth_token
        self._http_client = http_client
        self._client: Any = None

    def __repr__(self) -> str:  # never the token
        return f"TwilioTelephony(account_sid={self._sid!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            from twilio.rest import Client

            self._client = Client(self._sid, self._token, http_client=self._http_client)
        return self._client

    # --- REST ---

    def available_numbers(
        self, country: str, *, contains: str | None = None, limit: int = 20
    ) -> Sequence[AvailableNumber]:
        options: dict[str, Any] = {"limit": limit}
        if contains:
            options["contains"] = contains
        found = _rest(lambda: self.client.available_phone_numbers(country).local.list(**options))
        return [
            AvailableNumber(
                number=n.phone_number,
                friendly_name=n.friendly_name or "",
                region=n.region or "",
                country=n.iso_country or country,
            )
            for n in found
        ]

    def owned_numbers(self) -> Sequence[OwnedNumber]:
        found = _rest(lambda: self.client.incoming_phone_numbers.list())
        return [_owned(n) for n in found]

    def buy_number(self, number: str, urls: WebhookUrls) -> OwnedNumber:
        created = _rest(
            lambda: self.client.incoming_phone_numbers.create(phone_number=number, **_hooks(urls))
        )
        return _owned(created)

    def link_number(self, sid: str, urls: WebhookUrls) -> OwnedNumber:
        updated = _rest(lambda: self.client.incoming_phone_numbers(sid).update(**_hooks(urls)))
        return _owned(updated)

    def release_number(self, sid: str) -> None:
        _rest(lambda: self.client.incoming_phone_numbers(sid).delete())

    def start_call(
        self, *, from_number: str, to: str, answer_url: str, status_url: str, timeout: int
    ) -> str:
        call = _rest(
            lambda: self.client.calls.create(
                to=to,
                from_=from_number,
                url=answer_url,
                method="POST",
                status_callback=status_url,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                timeout=timeout,
            )
        )
        return str(call.sid)

    def call_details(self, sid: str) -> CallDetails:
        call = _rest(lambda: self.client.calls(sid).fetch())
        return CallDetails(
            sid=call.sid,
            status=call.status or "",
            duration=_seconds(call.duration),
            price=price_of(call.price),
            currency=(call.price_unit or "USD").upper()[:3],
            parent_sid=call.parent_call_sid,
        )

    def recording_details(self, sid: str) -> RecordingDetails:
        found = _rest(lambda: self.client.recordings(sid).fetch())
        return RecordingDetails(
            sid=found.sid,
            url=found.media_url or "",
            duration=_seconds(found.duration),
            price=price_of(found.price),
            currency=(found.price_unit or "USD").upper()[:3],
        )

    # --- webhooks ---

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        from twilio.request_validator import RequestValidator

        validator = RequestValidator(self._token)
        parts = urlsplit(url)
        if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
            # A public URL on its own port is signed with that port only (the validator
            # would also accept the URL without it: another service on the default port).
            expected = validator.compute_signature(url, dict(params))
            return hmac.compare_digest(expected.encode(), signature.encode())
        # On the default port the validator tries the URL with and without it written
        # out, as Twilio signs the URL the way the number's webhook was written.
        return bool(validator.validate(url, dict(params), signature))

    def render(self, flow: CallFlow) -> tuple[str, bytes]:
        from twilio.twiml.voice_response import VoiceResponse

        response = VoiceResponse()
        for step in flow:
            if isinstance(step, Say):
                response.say(step.text)
            elif isinstance(step, Play):
                response.play(step.url)
            elif isinstance(step, Enqueue):
                response.enqueue(
                    step.queue,
                    wait_url=step.wait_url,
                    wait_url_method="POST",
                    action=step.action_url,
                    method="POST",
                )
            elif isinstance(step, Dial):
                response.append(_dial(step))
            elif isinstance(step, Record):
                options: dict[str, Any] = {"max_length": step.max_length, "method": "POST"}
                if step.action_url:
                    options["action"] = step.action_url
                if step.recording_url:
                    options["recording_status_callback"] = step.recording_url
                    options["recording_status_callback_method"] = "POST"
                response.record(**options)
            elif isinstance(step, Leave):
                response.leave()
            elif isinstance(step, Hangup):
                response.hangup()
        return "application/xml", str(response).encode("utf-8")


def _dial(step: Dial) -> Any:
    from twilio.twiml.voice_response import Dial as TwimlDial

    options: dict[str, Any] = {"timeout": step.timeout}
    if step.caller_id:
        options["caller_id"] = step.caller_id
    if step.action_url:
        options.update(action=step.action_url, method="POST")
    if step.record:
        options["record"] = "record-from-answer"
        if step.recording_url:
            options["recording_status_callback"] = step.recording_url
            options["recording_status_callback_method"] = "POST"
    dial = TwimlDial(**options)
    if step.queue:
        dial.queue(step.queue, url=step.queue_url or None, method="POST")
    elif step.to.startswith("client:"):
        dial.client(step.to.removeprefix("client:"))
    else:
        dial.number(step.to)
    return dial


def _hooks(urls: WebhookUrls) -> dict[str, str]:
    return {
        "voice_url": urls.voice,
        "voice_method": "POST",
        "status_callback": urls.status,
        "status_callback_method": "POST",
    }


def _owned(n: Any) -> OwnedNumber:
    return OwnedNumber(sid=n.sid, number=n.phone_number, friendly_name=n.friendly_name or "")


def _seconds(value: object) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def _rest(request: Any) -> Any:
    """Run a REST request, its failures as opencrm errors (Twilio's message, never the
    credentials)."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    try:
        return request()
    except TwilioRestException as exc:
        raise _refused(int(exc.status), str(exc.msg), str(exc.uri or "")) from None
    except TwilioException as exc:
        # A list page the API refused comes as a plain TwilioException with the response.
        response = exc.args[1] if len(exc.args) > 1 else None
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            raise _refused(status, str(exc.args[0]), "") from None
        raise ProviderError(f"Twilio could not be reached: {type(exc).__name__}") from None
    except OSError as exc:
        raise ProviderError(f"Twilio could not be reached: {type(exc).__name__}") from None


def _refused(status: int, detail: str, uri: str) -> OpenCRMError:
    message = f"Twilio refused the request ({status}): {detail}"
    if status == 404:
        return NotFound("twilio resource", uri)
    if status in (400, 409, 422):
        return ValidationError({"provider": message})
    return ProviderError(message)


@hookimpl(trylast=True)
def opencrm_telephony_provider(
    crm: CRM, provider: str, account_sid: str, auth_token: str
) -> TwilioTelephony | None:
    if provider != PROVIDER:
        return None
    return TwilioTelephony(account_sid, auth_token)
