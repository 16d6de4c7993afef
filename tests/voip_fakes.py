"""Test doubles for VoIP: a fake Twilio REST server on 127.0.0.1 for the real ``twilio``
client, the plugin that points the built-in provider at it, and a core-only fake provider.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

from opencrm.core.telephony import (
    AvailableNumber,
    CallDetails,
    CallFlow,
    OwnedNumber,
    RecordingDetails,
    WebhookUrls,
)
from opencrm.errors import NotFound
from opencrm.plugins import hookimpl
from opencrm.plugins.builtin.twilio_telephony import TwilioTelephony

ACCOUNT = "AC" + "0" * 32
TOKEN = "secret-token-0123456789abcdef"
PUBLIC = "https://crm.example.com/crm"
API = "https://api.twilio.com"


def sign(url: str, params: Mapping[str, str], token: str = TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send for ``params`` posted to ``url``."""
    return str(RequestValidator(token).compute_signature(url, dict(params)))


class FakeTwilio:
    """Twilio's REST API for one account, in memory, answered over HTTP on 127.0.0.1.

    Knows what opencrm uses: available numbers (one page), incoming numbers (paged two at a
    time, so the client's paging is used), calls and recordings. Wrong credentials get
    Twilio's 401 document, unknown resources its 404.
    """

    def __init__(self, *, check_auth: bool = True) -> None:
        self.check_auth = check_auth
        self.available = ["+15005550006", "+15005550007"]
        self.owned: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.recordings: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self._seq = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sid(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:032x}"

    def own(self, number: str) -> str:
        sid = self.sid("PN")
        self.owned[sid] = {"sid": sid, "phone_number": number, "friendly_name": number}
        return sid

    def bill(self, sid: str, *, status: str = "completed", duration: int, price: str) -> None:
        self.calls.setdefault(sid, {"sid": sid, "parent_call_sid": None})
        self.calls[sid].update(status=status, duration=str(duration), price=price)

    def record(self, sid: str, *, duration: int, price: str) -> None:
        self.recordings[sid] = {
            "sid": sid,
            "duration": str(duration),
            "price": price,
            "price_unit": "USD",
            "media_url": f"{API}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}",
        }

    # -- the HTTP side --

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                parts = urlsplit(self.path)
                fake.requests.append((method, parts.path, form))
                expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
                if fake.check_auth and self.headers.get("Authorization") != f"Basic {expected}":
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                status, body = fake._route(method, parts.path, parse_qs(parts.query), form)
                self._reply(status, body)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], form: dict[str, list[str]]
    ) -> tuple[int, Any]:
        prefix = f"/2010-04-01/Accounts/{ACCOUNT}"
        if not path.startswith(prefix):
            return _not_found(path)
        rest = path[len(prefix) :]
        one = {k: v[0] for k, v in form.items()}
        if m := re.fullmatch(r"/AvailablePhoneNumbers/(\w\w)/Local\.json", rest):
            wanted = query.get("Contains", [""])[0]
            found = [n for n in self.available if wanted in n]
            items = [
                {"phone_number": n, "friendly_name": n, "region": "CA", "iso_country": m[1]}
                for n in found
            ]
            return 200, {"available_phone_numbers": items, "uri": path}
        if rest == "/IncomingPhoneNumbers.json" and method == "GET":
            return 200, self._owned_page(path, query)
        if rest == "/IncomingPhoneNumbers.json" and method == "POST":
            number = one.get("PhoneNumber", "")
            if number not in self.available:
                return 400, {
                    "code": 21422,
                    "message": "PhoneNumber is not available",
                    "status": 400,
                }
            self.available.remove(number)
            sid = self.own(number)
            self.owned[sid].update(voice_url=one.get("VoiceUrl"))
            self.owned[sid].update(status_callback=one.get("StatusCallback"))
            return 201, self.owned[sid]
        if m := re.fullmatch(r"/IncomingPhoneNumbers/(\w+)\.json", rest):
            if m[1] not in self.owned:
                return _not_found(path)
            if method == "DELETE":
                del self.owned[m[1]]
                return 204, None
            self.owned[m[1]].update(
                voice_url=one.get("VoiceUrl"), status_callback=one.get("StatusCallback")
            )
            return 200, self.owned[m[1]]
        if rest == "/Calls.json" and method == "POST":
            sid = self.sid("CA")
            self.calls[sid] = {
                "sid": sid,
                "status": "queued",
                "to": one.get("To"),
                "from": one.get("From"),
                "url": one.get("Url"),
                "parent_call_sid": None,
                "duration": None,
                "price": None,
            }
            return 201, {**self.calls[sid], "price_unit": "USD"}
        if m := re.fullmatch(r"/Calls/(\w+)\.json", rest):
            if m[1] not in self.calls:
                return _not_found(path)
            return 200, {**self.calls[m[1]], "price_unit": "USD"}
        if m := re.fullmatch(r"/Recordings/(\w+)\.json", rest):
            if m[1] not in self.recordings:
                return _not_found(path)
            return 200, self.recordings[m[1]]
        return _not_found(path)

    def _owned_page(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        page = int(query.get("Page", ["0"])[0])
        size = 2
        numbers = list(self.owned.values())[page * size : (page + 1) * size]
        more = (page + 1) * size < len(self.owned)
        return {
            "incoming_phone_numbers": numbers,
            "uri": path,
            "page": page,
            "page_size": size,
            "next_page_uri": f"{path}?Page={page + 1}&PageSize={size}" if more else None,
        }


def _not_found(path: str) -> tuple[int, Any]:
    return 404, {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "status": 404,
    }


class LocalTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The library's own HTTP client, sending to the fake server instead of Twilio: URL
    building, authentication, paging and error mapping stay the library's."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, url.replace(API, self.base), *args, **kwargs)


class TwilioAt:
    """A plugin that builds the built-in Twilio provider on a :class:`FakeTwilio`."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        self.built = 0

    @hookimpl(tryfirst=True)
    def opencrm_telephony_provider(
        self, crm: Any, provider: str, account_sid: str, auth_token: str
    ) -> TwilioTelephony | None:
        if provider != "twilio":
            return None
        self.built += 1
        return TwilioTelephony(
            account_sid, auth_token, http_client=LocalTwilioHttpClient(self.fake.base)
        )


def running_fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    try:
        yield fake
    finally:
        fake.stop()


# --- a provider for core tests, without Twilio ------------------------------------------------


@attrs.define
class FakeTelephony:
    """:class:`opencrm.core.telephony.Telephony` in memory: calls started are listed in
    ``started``; a signature is valid when it is ``"sig:" + url``; flows render as JSON. An
    unknown number sid is a NotFound, as the real provider's 404 is."""

    numbers: dict[str, str] = attrs.field(factory=dict)
    bought: int = 0
    started: list[dict[str, Any]] = attrs.field(factory=list)
    billed: dict[str, CallDetails] = attrs.field(factory=dict)
    recordings: dict[str, RecordingDetails] = attrs.field(factory=dict)

    def available_numbers(
        self, country: str, *, contains: str | None = None, limit: int = 20
    ) -> Sequence[AvailableNumber]:
        return [AvailableNumber(number="+15550000001", country=country)][:limit]

    def owned_numbers(self) -> Sequence[OwnedNumber]:
        return [OwnedNumber(sid=s, number=n) for s, n in self.numbers.items()]

    def buy_number(self, number: str, urls: WebhookUrls) -> OwnedNumber:
        sid = f"PN{self.bought:032d}"  # never reused, even after a release
        self.bought += 1
        self.numbers[sid] = number
        return OwnedNumber(sid=sid, number=number)

    def link_number(self, sid: str, urls: WebhookUrls) -> OwnedNumber:
        if sid not in self.numbers:
            raise NotFound("phone number", sid)
        return OwnedNumber(sid=sid, number=self.numbers[sid])

    def release_number(self, sid: str) -> None:
        if self.numbers.pop(sid, None) is None:
            raise NotFound("phone number", sid)

    def start_call(
        self, *, from_number: str, to: str, answer_url: str, status_url: str, timeout: int
    ) -> str:
        sid = f"CA{len(self.started) + 1:032d}"
        self.started.append({"sid": sid, "from": from_number, "to": to, "url": answer_url})
        return sid

    def call_details(self, sid: str) -> CallDetails:
        return self.billed.get(sid, CallDetails(sid=sid, status="completed"))

    def recording_details(self, sid: str) -> RecordingDetails:
        return self.recordings[sid]

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        return signature == "sig:" + url

    def render(self, flow: CallFlow) -> tuple[str, bytes]:
        steps = [{"step": type(s).__name__, **attrs.asdict(s)} for s in flow]
        return "application/json", json.dumps(steps).encode()


class FakeProvider:
    """A plugin answering provider ``"fake"`` with one shared :class:`FakeTelephony`."""

    def __init__(self) -> None:
        self.telephony = FakeTelephony()

    @hookimpl
    def opencrm_telephony_provider(
        self, crm: Any, provider: str, account_sid: str, auth_token: str
    ) -> FakeTelephony | None:
        return self.telephony if provider == "fake" else None
