"""VoIP (S9): the telephony account, virtual numbers, operators and calls.

Admins connect the provider account, buy or link numbers and name their operators;
operators set their status and call out; everyone sees the calls of the contacts they may
read. The provider's webhooks come in through :func:`handle_webhook` (see ``CRM.voip_webhook``),
which checks their signature before anything else.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from opencrm.core import permissions as policy
from opencrm.core._inputs import clean_datetime
from opencrm.core.contact_data import clean_phone, has_control
from opencrm.core.entities.activities import HistoryEvent
from opencrm.core.entities.contacts import Access, ContactInfo, InfoType, Person
from opencrm.core.entities.lists import ListItem, ListKind
from opencrm.core.entities.voip import (
    Call,
    CallDirection,
    CallLeg,
    OperatorStatus,
    VoipAccount,
    VoipNumber,
    VoipOperator,
    WorkingHours,
)
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _activities as act
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.telephony import (
    FINAL_STATUSES,
    AvailableNumber,
    CallFlow,
    Dial,
    Enqueue,
    Hangup,
    Leave,
    OwnedNumber,
    Play,
    Record,
    Say,
    Telephony,
    Webhook,
    WebhookUrls,
    parse_webhook,
    status_rank,
)
from opencrm.core.users import User
from opencrm.core.voip_ports import CALL_SORTS, CallFilter
from opencrm.errors import Conflict, NotFound, PermissionDenied, ValidationError

__all__ = ["PHONE_CALL", "WEBHOOKS", "VoipService", "handle_webhook", "is_open"]

log = logging.getLogger("opencrm.voip")

#: The history category calls are written under (created if an admin deleted it).
PHONE_CALL = "Phone call"
#: The webhook kinds, each answered at ``<public URL>/voip/webhooks/<kind>``.
WEBHOOKS = (
    "voice",
    "wait",
    "queue-result",
    "connect",
    "dequeued",
    "outgoing",
    "done",
    "status",
    "recording",
)
#: The webhook user: calls and contacts written by webhooks are written as this id.
WEBHOOK_USER = User(id="opencrm", name="opencrm", crm_admin=True)
#: A caller's voicemail may last this long (the reference's 30 seconds).
VOICEMAIL_SECONDS = 30
#: Calls missed this long ago or less are the operator's "missed calls" (the reference's).
MISSED_WINDOW = dt.timedelta(days=7)
MISSED_LIMIT = 10
#: A queued call older than this no longer counts against the queue's size (a call whose
#: last callback was lost must not fill the queue forever).
QUEUE_HORIZON = dt.timedelta(hours=4)
_NUMBER_FIELDS = frozenset(
    {
        "alias",
        "outgoing",
        "recording",
        "greeting_audio",
        "hold_audio",
        "voicemail_audio",
        "queue_size",
        "queue_wait",
        "working_hours",
    }
)
_OPERATOR_FIELDS = frozenset({"outgoing", "recording", "status", "answer_to", "timeout"})
_CALL_FILTERS = frozenset({"kind", "started_from", "started_to", "operator", "contact", "text"})
_KINDS = ("answered", "missed", "outgoing")


# --- input cleaning ---------------------------------------------------------------------------


def _text(value: object, field: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or has_control(value):
        raise ValidationError({field: f"must be text of at most {limit} characters"})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: "is required"})
    return value


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError({field: "must be true or false"})
    return value


def _count(value: object, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValidationError({field: f"must be a whole number from 0 to {maximum}"})
    return value


def _audio(value: object, field: str) -> str:
    url = _text(value, field, 1000)
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise ValidationError({field: "must be an http(s) URL of an audio file"})
    return url


def _public_url(value: object) -> str:
    url = _text(value, "public_url", 900, required=True).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValidationError(
            {"public_url": "must be the http(s) URL the API is reached at, without a query"}
        )
    return url


def _clock(value: object, field: str) -> str:
    text = value.isoformat() if isinstance(value, dt.time) else value
    if not isinstance(text, str) or len(text) > 8:
        raise ValidationError({field: "must be an HH:MM time"})
    try:
        return dt.time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        raise ValidationError({field: "must be an HH:MM time"}) from None


def _hours(value: object) -> WorkingHours | None:
    if value is None:
        return None
    if isinstance(value, WorkingHours):
        value = attrs.asdict(value)
    if not isinstance(value, Mapping):
        raise ValidationError({"working_hours": "must be {start, end, timezone} or null"})
    unknown = set(value) - {"start", "end", "timezone"}
    if unknown:
        raise ValidationError({"working_hours": f"unknown keys: {', '.join(sorted(unknown))}"})
    start = _clock(value.get("start"), "working_hours.start")
    end = _clock(value.get("end"), "working_hours.end")
    zone = value.get("timezone") or "UTC"
    try:
        if not isinstance(zone, str) or len(zone) > 64:
            raise ValueError(zone)
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"working_hours.timezone": "not a time zone name"}) from None
    if start == end:
        raise ValidationError({"working_hours": "start and end must differ"})
    return WorkingHours(start=start, end=end, timezone=zone)


def is_open(hours: WorkingHours | None, now: dt.datetime) -> bool:
    """Whether a number with these working hours takes calls at ``now``."""
    if hours is None:
        return True
    local = now.astimezone(zoneinfo.ZoneInfo(hours.timezone)).strftime("%H:%M")
    if hours.start < hours.end:
        return hours.start <= local < hours.end
    return local >= hours.start or local < hours.end  # spans midnight


# --- the service ------------------------------------------------------------------------------


class VoipService:
    """Telephony: ``session.voip``.

    Connecting the account, numbers and operators are for CRM admins (S1); an operator
    changes their own status and calls out; the calls list shows calls of contacts the
    user may read, and the calls they took or placed.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- the account ---

    def connect(
        self, *, account_sid: str, auth_token: str, public_url: str, provider: str = "twilio"
    ) -> VoipAccount:
        """Store the provider credentials and the public URL the provider reaches the API
        at (admins). The token is kept for signing checks and API calls and is never shown
        again: every read, event and audit entry leaves it out."""
        with self._s._tx() as tx:
            _admin(tx)
            before = _account(tx)
            account = VoipAccount(
                provider=_text(provider, "provider", 50, required=True),
                account_sid=_text(account_sid, "account_sid", 100, required=True),
                public_url=_public_url(public_url),
                has_token=True,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            token = _text(auth_token, "auth_token", 200, required=True)
            tx.uow.voip.put_account(account, token)
            _provider(self._s, account, token)  # refuse a provider no plugin knows
            tx.emit("voip_account.changed", account, entity_id=1, before=before, after=account)
            return account

    def account(self) -> VoipAccount:
        """The connected account, without its token (admins); NotFound when none is."""
        with self._s._tx(write=False) as tx:
            _admin(tx)
            found = _account(tx)
            if found is None:
                raise NotFound("voip_account", 1)
            return found

    def disconnect(self) -> None:
        """Forget the account (admins): webhooks are refused from then on."""
        with self._s._tx() as tx:
            _admin(tx)
            before = _account(tx)
            if before is None:
                return
            tx.uow.voip.delete_account()
            tx.emit("voip_account.deleted", before, entity_id=1, before=before)

    # --- numbers at the provider ---

    def available_numbers(
        self, country: str = "US", *, contains: str | None = None, limit: int = 20
    ) -> list[AvailableNumber]:
        """Numbers the provider offers in ``country`` (admins)."""
        country = _text(country, "country", 2, required=True).upper()
        if contains is not None:
            contains = _text(contains, "contains", 20)
        limit = _count(limit, "limit", 100)
        with self._s._tx(write=False) as tx:
            _admin(tx)
            provider, _ = _connected(self._s, tx)
        return list(provider.available_numbers(country, contains=contains, limit=limit))

    def owned_numbers(self) -> list[OwnedNumber]:
        """Numbers the account owns, linked or not (admins)."""
        with self._s._tx(write=False) as tx:
            _admin(tx)
            provider, _ = _connected(self._s, tx)
        return list(provider.owned_numbers())

    def buy_number(self, number: str, **settings: Any) -> VoipNumber:
        """Buy ``number`` from the provider and answer it (admins); ``settings`` as for
        :meth:`update_number`."""
        _, e164 = clean_phone(
            _text(number, "number", 40, required=True), region=None, field="number"
        )
        return self._add_number(lambda p, urls: p.buy_number(e164, urls), settings)

    def link_number(self, sid: str, **settings: Any) -> VoipNumber:
        """Answer a number the account already owns (its provider id ``sid``; admins)."""
        sid = _text(sid, "sid", 64, required=True)
        return self._add_number(lambda p, urls: p.link_number(sid, urls), settings)

    def _add_number(self, acquire: Any, settings: dict[str, Any]) -> VoipNumber:
        rec.check_names(settings, _NUMBER_FIELDS, "number setting")
        with self._s._tx() as tx:
            _admin(tx)
            provider, account = _connected(self._s, tx)
            base = VoipNumber(
                id=0,
                sid="",
                number="",
                created_by=tx.actor.id,
                created_at=tx.now,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            base = _apply_number(base, settings)
            urls = WebhookUrls(voice=_hook(account, "voice"), status=_hook(account, "status"))
            owned = acquire(provider, urls)
            if tx.uow.voip.number_by_phone(owned.number) is not None:
                raise ValidationError({"number": f"{owned.number} is answered already"})
            stored = tx.uow.voip.add_number(attrs.evolve(base, sid=owned.sid, number=owned.number))
            tx.emit("voip_number.created", stored, after=stored)
            return stored

    def release_number(self, number_id: int) -> None:
        """Delete a number and give it back to the provider (admins)."""
        self.delete_number(number_id, release=True)

    # --- numbers in the CRM ---

    def numbers(self) -> list[VoipNumber]:
        """Every number the CRM answers (admins; an operator reads their own with
        :meth:`get_number`)."""
        with self._s._tx(write=False) as tx:
            _admin(tx)
            return list(tx.uow.voip.numbers())

    def get_number(self, number_id: int) -> VoipNumber:
        with self._s._tx(write=False) as tx:
            found = _number(tx, number_id)
            if not tx.actor.crm_admin:
                mine = tx.uow.voip.operator(tx.actor.id)
                if mine is None or mine.number_id != found.id:
                    raise NotFound("voip_number", number_id)
            return found

    def update_number(self, number_id: int, **changes: Any) -> VoipNumber:
        """Change a number's settings (admins): ``alias``, ``outgoing``, ``recording``,
        ``greeting_audio``, ``hold_audio``, ``voicemail_audio`` (http(s) URLs),
        ``queue_size`` (0-100), ``queue_wait`` (seconds, 0-3600), ``working_hours``
        (``{"start": "09:00", "end": "18:00", "timezone": "Europe/Paris"}`` or None).
        Switching ``outgoing`` or ``recording`` off switches it off for every operator."""
        rec.check_names(changes, _NUMBER_FIELDS, "number setting")
        with self._s._tx() as tx:
            _admin(tx)
            before = _number(tx, number_id)
            after = attrs.evolve(
                _apply_number(before, changes), updated_by=tx.actor.id, updated_at=tx.now
            )
            tx.uow.voip.update_number(after)
            tx.emit("voip_number.updated", after, before=before, after=after)
            return after

    def delete_number(self, number_id: int, *, release: bool = False) -> None:
        """Stop answering a number (admins); its operators go, its calls stay. With
        ``release`` the number is also given back to the provider."""
        with self._s._tx() as tx:
            _admin(tx)
            before = _number(tx, number_id)
            if release:
                provider, _ = _connected(self._s, tx)
                provider.release_number(before.sid)
            tx.uow.voip.delete_number(number_id)
            tx.emit("voip_number.deleted", before, before=before)

    # --- operators ---

    def operators(self, number: int | None = None) -> list[VoipOperator]:
        """The operators, of one number or of all (admins)."""
        with self._s._tx(write=False) as tx:
            _admin(tx)
            if number is not None:
                _number(tx, number)
            return list(tx.uow.voip.operators(number))

    def get_operator(self, user: str | User) -> VoipOperator:
        """An operator (admins, or the operator themselves)."""
        uid = rec.user_id(user.id if isinstance(user, User) else user, "user")
        with self._s._tx(write=False) as tx:
            if not tx.actor.crm_admin and tx.actor.id != uid:
                raise NotFound("voip_operator", uid)
            return _operator(tx, uid)

    def add_operator(self, number: int, user: str | User, **settings: Any) -> VoipOperator:
        """Make ``user`` an operator of a number (admins). A user operates one number.
        ``outgoing`` and ``recording`` (default on) are capped by the number's switches;
        ``answer_to`` is a phone number to ring (default: the browser client);
        ``timeout`` the seconds a call rings them (5-120, default 30)."""
        rec.check_names(settings, _OPERATOR_FIELDS, "operator setting")
        uid = next(iter(self._s._managers([user], "user")))
        with self._s._tx() as tx:
            _admin(tx)
            found = _number(tx, number)
            if tx.uow.voip.operator(uid) is not None:
                raise ValidationError({"user": f"{uid} operates a number already"})
            base = VoipOperator(user_id=uid, number_id=found.id)
            stored = self._apply_operator(tx, base, found, settings)
            tx.uow.voip.put_operator(stored)
            tx.emit("voip_operator.created", stored, entity_id=uid, after=stored)
            return stored

    def update_operator(self, user: str | User, **changes: Any) -> VoipOperator:
        """Change an operator's settings (admins) or status (admins and the operator)."""
        rec.check_names(changes, _OPERATOR_FIELDS, "operator setting")
        uid = rec.user_id(user.id if isinstance(user, User) else user, "user")
        with self._s._tx() as tx:
            if not tx.actor.crm_admin:
                if tx.actor.id != uid:
                    raise PermissionDenied("only admins change other operators")
                if set(changes) - {"status"}:
                    raise PermissionDenied("operators change only their own status")
            before = _operator(tx, uid)
            number = _number(tx, before.number_id)
            after = self._apply_operator(tx, before, number, changes)
            tx.uow.voip.put_operator(after)
            tx.emit("voip_operator.updated", after, entity_id=uid, before=before, after=after)
            return after

    def set_status(self, status: str) -> VoipOperator:
        """Set the acting operator's status: ``online``, ``paused`` or ``offline``."""
        return self.update_operator(self._s._actor.id, status=status)

    def remove_operator(self, user: str | User) -> None:
        """Stop ``user`` operating their number (admins)."""
        uid = rec.user_id(user.id if isinstance(user, User) else user, "user")
        with self._s._tx() as tx:
            _admin(tx)
            before = _operator(tx, uid)
            tx.uow.voip.delete_operator(uid)
            tx.emit("voip_operator.deleted", before, entity_id=uid, before=before)

    def _apply_operator(
        self, tx: Tx, op: VoipOperator, number: VoipNumber, changes: Mapping[str, Any]
    ) -> VoipOperator:
        values: dict[str, Any] = {}
        for name in ("outgoing", "recording"):
            if name in changes:
                values[name] = _flag(changes[name], name)
        if "status" in changes:
            try:
                values["status"] = OperatorStatus(changes["status"])
            except ValueError:
                raise ValidationError({"status": "must be online, paused or offline"}) from None
        if "answer_to" in changes:
            raw = _text(changes["answer_to"], "answer_to", 40)
            values["answer_to"] = (
                clean_phone(raw, region=self._s._ctx.phone_region, field="answer_to")[1]
                if raw
                else ""
            )
        if "timeout" in changes:
            timeout = _count(changes["timeout"], "timeout", 120)
            if timeout < 5:
                raise ValidationError({"timeout": "must be a whole number from 5 to 120"})
            values["timeout"] = timeout
        op = attrs.evolve(op, **values)
        # Never more than the number allows (the reference's number.flag AND requested).
        return attrs.evolve(
            op,
            outgoing=op.outgoing and number.outgoing,
            recording=op.recording and number.recording,
        )

    # --- calls ---

    def call(self, to: str, *, contact: Any = None) -> Call:
        """Call ``to`` (a phone number) as the acting operator, who needs the outgoing
        switch: the provider rings the operator first, then dials ``to``. The call goes on
        ``contact`` (one the user may read), else on the contact with that phone number,
        else on a new private person the operator manages."""
        raw = _text(to, "to", 40, required=True)
        _, e164 = clean_phone(raw, region=self._s._ctx.phone_region, field="to")
        with self._s._tx() as tx:
            op = tx.uow.voip.operator(tx.actor.id)
            if op is None or not op.outgoing:
                raise PermissionDenied("you may not make calls: ask an admin for outgoing calls")
            number = _number(tx, op.number_id)
            if not number.outgoing:
                raise PermissionDenied("this number makes no outgoing calls")
            provider, account = _connected(self._s, tx)
            if contact is not None:
                contact_id: int | None = rec.readable_contact(tx, contact, "contact")
            else:
                matches = tx.uow.voip.contacts_with_phone(e164)
                contact_id = _prefer(matches, {tx.actor.id}) if matches else None
            if contact_id is None:
                contact_id = _new_caller(tx, e164, tx.actor.id)
            sid = provider.start_call(
                from_number=number.number,
                to=_endpoint(op),
                answer_url=_hook(account, "outgoing"),
                status_url=_hook(account, "status"),
                timeout=op.timeout,
            )
            stored = tx.uow.voip.add_call(
                Call(
                    id=0,
                    sid=sid,
                    direction=CallDirection.OUTGOING,
                    number_id=number.id,
                    from_number=number.number,
                    to_number=e164,
                    status="queued",
                    contact_id=contact_id,
                    operator=tx.actor.id,
                    started_at=tx.now,
                )
            )
            if stored is None:
                raise ValidationError({"to": "the provider reused a call id"})
            tx.emit("call.created", stored, after=stored)
            return stored

    def get_call(self, call_id: int) -> Call:
        """A call the user may see (see :meth:`calls`)."""
        with self._s._tx(write=False) as tx:
            found = tx.uow.voip.call(rec.record_id(call_id, "call_id"))
            if found is None or not _can_see(tx, found):
                raise NotFound("call", call_id)
            return found

    def calls(
        self,
        *,
        sort: str = "-date",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Call]:
        """One page of calls, newest first unless ``sort`` says otherwise (``date``,
        ``duration``, ``price``; ``-`` for descending). A user sees the calls of contacts
        they may read and the calls they took or placed; admins see all.

        Filters: ``kind`` (``answered``, ``missed`` or ``outgoing``), ``started_from``
        (inclusive) and ``started_to`` (exclusive), ``operator`` (a user id: calls they
        took or placed), ``contact`` (one the user may read), ``text`` (part of a number).
        """
        page = PageRequest.build(sort, limit, after, CALL_SORTS)
        with self._s._tx(write=False) as tx:
            where = _call_filter(tx, filters)
            key = tx.cursor_key("calls")
            items, cursor = tx.uow.voip.list_calls(
                policy.contact_scope(tx.actor), where, key.open(page)
            )
            return key.page(items, cursor)

    def count_calls(self, **filters: Any) -> int:
        """How many calls :meth:`calls` lists with these filters."""
        with self._s._tx(write=False) as tx:
            return tx.uow.voip.count_calls(
                policy.contact_scope(tx.actor), _call_filter(tx, filters)
            )

    def missed_calls(self) -> list[Call]:
        """The acting operator's number's missed calls of the last 7 days, newest first
        (at most 10, as the reference shows): those of unknown callers and of contacts the
        operator may read."""
        with self._s._tx(write=False) as tx:
            op = tx.uow.voip.operator(tx.actor.id)
            if op is None:
                return []
            where = CallFilter(kind="missed", started_from=tx.now - MISSED_WINDOW)
            page = PageRequest("date", True, 200, None)
            items, _ = tx.uow.voip.list_calls(
                policy.ContactScope(everything=True, user_id=tx.actor.id), where, page
            )
            mine = [
                c
                for c in items
                if c.number_id == op.number_id and (c.contact_id is None or _can_see(tx, c))
            ]
            return mine[:MISSED_LIMIT]


# --- helpers shared by the service and the webhooks ---------------------------------------------


def _admin(tx: Tx) -> None:
    if not tx.actor.crm_admin:
        raise PermissionDenied("only CRM admins manage VoIP")


def _account(tx: Tx) -> VoipAccount | None:
    found = tx.uow.voip.account()
    return found[0] if found is not None else None


def _provider(service: Service, account: VoipAccount, token: str) -> Telephony:
    ctx = service._ctx
    found: Telephony | None = ctx.hook.opencrm_telephony_provider(
        crm=ctx.crm,
        provider=account.provider,
        account_sid=account.account_sid,
        auth_token=token,
    )
    if found is None:
        raise ValidationError({"provider": f"no plugin provides {account.provider!r} telephony"})
    return found


def _connected(service: Service, tx: Tx) -> tuple[Telephony, VoipAccount]:
    found = tx.uow.voip.account()
    if found is None or not found[1]:
        raise Conflict("connect a telephony account first (session.voip.connect)")
    account, token = found
    return _provider(service, account, token), account


def _hook(account: VoipAccount, kind: str, **query: str) -> str:
    url = f"{account.public_url}/voip/webhooks/{kind}"
    return f"{url}?{urlencode(query)}" if query else url


def _number(tx: Tx, number_id: object) -> VoipNumber:
    nid = rec.record_id(number_id, "number")
    found = tx.uow.voip.number(nid)
    if found is None:
        raise NotFound("voip_number", nid)
    return found


def _operator(tx: Tx, user_id: str) -> VoipOperator:
    found = tx.uow.voip.operator(user_id)
    if found is None:
        raise NotFound("voip_operator", user_id)
    return found


def _apply_number(number: VoipNumber, changes: Mapping[str, Any]) -> VoipNumber:
    values: dict[str, Any] = {}
    if "alias" in changes:
        values["alias"] = _text(changes["alias"], "alias", 255)
    for name in ("outgoing", "recording"):
        if name in changes:
            values[name] = _flag(changes[name], name)
    for name in ("greeting_audio", "hold_audio", "voicemail_audio"):
        if name in changes:
            values[name] = _audio(changes[name], name)
    if "queue_size" in changes:
        values["queue_size"] = _count(changes["queue_size"], "queue_size", 100)
    if "queue_wait" in changes:
        values["queue_wait"] = _count(changes["queue_wait"], "queue_wait", 3600)
    if "working_hours" in changes:
        values["working_hours"] = _hours(changes["working_hours"])
    return attrs.evolve(number, **values)


def _endpoint(op: VoipOperator) -> str:
    return op.answer_to or f"client:{op.user_id}"


def _prefer(matches: Sequence[tuple[int, frozenset[str]]], users: set[str]) -> int:
    """The first matching contact one of ``users`` manages, else the first match."""
    for contact_id, managers in matches:
        if managers & users:
            return contact_id
    return matches[0][0]


def _can_see(tx: Tx, call: Call) -> bool:
    actor = tx.actor
    if actor.crm_admin or actor.id in (call.answered_by, call.operator):
        return True
    if call.contact_id is None:
        return False
    found = tx.uow.contacts.access_of(call.contact_id, actor.id)
    return found is not None and policy.can_read_contact_with(actor, *found)


def _call_filter(tx: Tx, filters: Mapping[str, Any]) -> CallFilter:
    given = rec.given_filters(filters, _CALL_FILTERS)
    values: dict[str, Any] = {}
    if "kind" in given:
        if given["kind"] not in _KINDS:
            raise ValidationError({"kind": "must be answered, missed or outgoing"})
        values["kind"] = given["kind"]
    for name in ("started_from", "started_to"):
        if name in given:
            values[name] = clean_datetime(given[name], name)
    if "operator" in given:
        values["operator"] = rec.user_id(given["operator"], "operator")
    if "contact" in given:
        values["contact_id"] = rec.contact_filter(tx, given["contact"])
    if "text" in given:
        values["text"] = rec.text_filter(given["text"])
    return CallFilter(**values)


def _new_caller(tx: Tx, number: str, manager: str) -> int:
    """A private person for an unknown caller (the reference's rule: the number as first
    name, the time as last name), managed by ``manager``."""
    person = Person(
        id=0,
        first_name=number,
        last_name=tx.now.strftime("%Y-%m-%d %H:%M"),
        access=Access.PRIVATE,
        managers=frozenset({manager}),
        infos=(
            ContactInfo(
                id=0,
                type=InfoType.PHONE,
                category="work",
                value=number,
                normalized=number,
                is_primary=True,
            ),
        ),
        created_by=manager,
        created_at=tx.now,
        updated_by=manager,
        updated_at=tx.now,
    )
    stored = tx.uow.contacts.add(person)
    tx.emit("contact.created", stored, after=stored)
    return stored.id


def _phone_call_category(tx: Tx) -> ListItem:
    found = tx.uow.lists.find(ListKind.HISTORY_CATEGORY, PHONE_CALL)
    if found is not None:
        return found
    used = tx.uow.lists.list(ListKind.HISTORY_CATEGORY)
    item = tx.uow.lists.add(
        ListItem(
            id=0,
            kind=ListKind.HISTORY_CATEGORY,
            title=PHONE_CALL,
            icon="call",
            sort_order=max((i.sort_order for i in used), default=0) + 1,
        )
    )
    tx.emit("list_item.created", item, after=item)
    return item


# --- webhooks -----------------------------------------------------------------------------------


def handle_webhook(
    service: Service, kind: str, query: str, params: Mapping[str, str], signature: str
) -> tuple[str, bytes]:
    """Answer one provider webhook of ``kind`` (its query string ``query``, its form
    ``params``, the ``signature`` header): check it is signed by the connected account for
    this CRM's public URL (the configured one, never the host the request names, so it
    works behind a proxy), then apply it. Returns the provider's answer (content type,
    body).

    Refused with PermissionDenied: no account connected, a missing or wrong signature.
    NotFound: a call, leg or number opencrm does not know. Replays change nothing: a call
    is one row per provider id, and statuses only move forward.
    """
    if kind not in WEBHOOKS:
        raise NotFound("voip_webhook", kind)
    with service._tx() as tx:
        found = tx.uow.voip.account()
        if found is None or not found[1]:
            raise PermissionDenied("no telephony account is connected")
        account, token = found
        provider = _provider(service, account, token)
        url = _hook(account, kind) + (f"?{query}" if query else "")
        if not signature or not provider.verify(url, params, signature):
            raise PermissionDenied("the webhook signature does not match")
        hook = parse_webhook(params)
        if not hook.call_sid:
            raise ValidationError({"CallSid": "is required"})
        flow = _Webhooks(tx, provider, account).answer(kind, hook, dict(parse_qsl(query)))
    return provider.render(flow)


class _Webhooks:
    """What each webhook does, inside its transaction."""

    def __init__(self, tx: Tx, provider: Telephony, account: VoipAccount) -> None:
        self.tx = tx
        self.uow = tx.uow
        self.provider = provider
        self.account = account

    def answer(self, kind: str, hook: Webhook, query: Mapping[str, str]) -> CallFlow:
        handler = getattr(self, "on_" + kind.replace("-", "_"))
        if kind in ("connect", "dequeued"):
            result: CallFlow = handler(hook, query)
        else:
            result = handler(hook)
        return result

    # -- incoming --

    def on_voice(self, hook: Webhook) -> CallFlow:
        existing = self.uow.voip.call_by_sid(hook.call_sid, lock=True)
        if existing is not None:  # a replay: answer as before, change nothing
            number = self.uow.voip.number(existing.number_id) if existing.number_id else None
            if number is None or existing.status in FINAL_STATUSES:
                return (Hangup(),)
            return self._voicemail(number) if existing.missed else self._queue_flow(number)
        number = self.uow.voip.number_by_phone(hook.to_number)
        if number is None:
            raise NotFound("voip_number", hook.to_number)
        tx = self.tx
        try:
            caller = clean_phone(hook.from_number, region=None, field="From")[1]
        except ValidationError:
            caller = hook.from_number  # "anonymous", a SIP address: kept as given
        matches = self.uow.voip.contacts_with_phone(caller)
        online = [
            op for op in self.uow.voip.operators(number.id) if op.status is OperatorStatus.ONLINE
        ]
        managers: frozenset[str] = frozenset()
        contact_id = None
        if matches:
            contact_id = _prefer(matches, {op.user_id for op in online})
            managers = dict(matches)[contact_id]
        preferred = [op for op in online if op.user_id in managers] or online
        waiting = self.uow.voip.waiting(number.id, tx.now - QUEUE_HORIZON)
        to_voicemail = (
            not is_open(number.working_hours, tx.now)
            or not preferred
            or waiting >= number.queue_size
        )
        call = self.uow.voip.add_call(
            Call(
                id=0,
                sid=hook.call_sid,
                direction=CallDirection.INCOMING,
                number_id=number.id,
                from_number=caller,
                to_number=number.number,
                status=hook.status if status_rank(hook.status) >= 0 else "ringing",
                contact_id=contact_id,
                missed=to_voicemail,
                started_at=tx.now,
            )
        )
        if call is None:  # inserted by a concurrent replay: that one answered it
            return (Hangup(),)
        tx.emit("call.created", call, after=call)
        if to_voicemail:
            tx.emit("call.missed", call, after=call)
            return self._voicemail(number)
        for op in preferred:
            leg_sid = self.provider.start_call(
                from_number=number.number,
                to=_endpoint(op),
                answer_url=_hook(self.account, "connect", call=call.sid),
                status_url=_hook(self.account, "status"),
                timeout=op.timeout,
            )
            leg = CallLeg(
                sid=leg_sid, operator=op.user_id, to_number=_endpoint(op), status="queued"
            )
            self.uow.voip.put_leg(call.id, leg, status_rank("queued"))
        return self._queue_flow(number)

    def _queue_flow(self, number: VoipNumber) -> CallFlow:
        greeting: tuple[Play | Say, ...] = (
            (Play(number.greeting_audio),) if number.greeting_audio else ()
        )
        return (
            *greeting,
            Enqueue(
                queue=number.number,
                wait_url=_hook(self.account, "wait"),
                action_url=_hook(self.account, "queue-result"),
            ),
        )

    def _voicemail(self, number: VoipNumber) -> CallFlow:
        intro: Play | Say = (
            Play(number.voicemail_audio)
            if number.voicemail_audio
            else Say("Nobody can take your call. Please leave a message after the tone.")
        )
        return (
            intro,
            Record(
                max_length=VOICEMAIL_SECONDS,
                action_url=_hook(self.account, "done"),
                recording_url=_hook(self.account, "recording"),
            ),
            Hangup(),
        )

    def _known(self, sid: str) -> Call:
        call = self.uow.voip.call_by_sid(sid, lock=True)
        if call is None:
            raise NotFound("call", sid)
        return call

    def _call_number(self, call: Call) -> VoipNumber:
        number = self.uow.voip.number(call.number_id) if call.number_id else None
        if number is None:
            raise NotFound("voip_number", call.number_id or 0)
        return number

    def on_wait(self, hook: Webhook) -> CallFlow:
        call = self._known(hook.call_sid)
        number = self._call_number(call)
        if call.answered_by is None and (hook.queue_time or 0) >= number.queue_wait:
            return (Leave(),)
        return (Play(number.hold_audio) if number.hold_audio else Say("Please hold."),)

    def on_queue_result(self, hook: Webhook) -> CallFlow:
        call = self._known(hook.call_sid)
        if hook.queue_result == "bridged" or call.answered_by is not None:
            return (Hangup(),)
        if not call.missed:
            missed = attrs.evolve(call, missed=True)
            self.uow.voip.update_call(missed)
            self.tx.emit("call.missed", missed, before=call, after=missed)
        if hook.queue_result == "hangup":  # the caller gave up
            return (Hangup(),)
        return self._voicemail(self._call_number(call))

    def on_connect(self, hook: Webhook, query: Mapping[str, str]) -> CallFlow:
        """An operator's leg was answered: connect it to the waiting caller."""
        call = self._known(query.get("call", ""))
        leg = self.uow.voip.leg(hook.call_sid)
        if leg is None or leg[0] != call.id:
            raise NotFound("call_leg", hook.call_sid)
        found = leg[1]
        number = self._call_number(call)
        if call.answered_by is not None or call.missed or call.status in FINAL_STATUSES:
            return (Say("The call was taken."), Hangup())
        op = self.uow.voip.operator(found.operator or "")
        record = bool(op and op.recording and number.recording)
        return (
            Dial(
                queue=number.number,
                queue_url=_hook(self.account, "dequeued", leg=hook.call_sid),
                record=record,
                recording_url=_hook(self.account, "recording") if record else "",
            ),
        )

    def on_dequeued(self, hook: Webhook, query: Mapping[str, str]) -> CallFlow:
        """The waiting caller is being connected to an operator's leg."""
        call = self._known(hook.call_sid)
        leg_sid = query.get("leg", "") or hook.dequeuing_call_sid
        leg = self.uow.voip.leg(leg_sid)
        if leg is None or leg[0] != call.id:
            raise NotFound("call_leg", leg_sid)
        operator = leg[1].operator
        if call.answered_by is not None or operator is None:
            return ()
        contact_id = call.contact_id
        if contact_id is None:
            contact_id = _new_caller(self.tx, call.from_number, operator)
        answered = attrs.evolve(
            call,
            answered_by=operator,
            answered_at=self.tx.now,
            missed=False,
            contact_id=contact_id,
            status="in-progress" if status_rank(call.status) < 3 else call.status,
        )
        self.uow.voip.update_call(answered)
        self.tx.emit("call.answered", answered, before=call, after=answered)
        return ()

    # -- outgoing --

    def on_outgoing(self, hook: Webhook) -> CallFlow:
        """The operator answered their phone: dial the number they called."""
        call = self._known(hook.call_sid)
        if call.direction is not CallDirection.OUTGOING or call.status in FINAL_STATUSES:
            return (Hangup(),)
        op = self.uow.voip.operator(call.operator or "")
        number = self._call_number(call)
        record = bool(op and op.recording and number.recording)
        return (
            Dial(
                to=call.to_number,
                caller_id=number.number,
                record=record,
                timeout=op.timeout if op else 30,
                action_url=_hook(self.account, "done"),
                recording_url=_hook(self.account, "recording") if record else "",
            ),
        )

    def on_done(self, hook: Webhook) -> CallFlow:
        """After a dial or a voicemail: note who answered an outgoing call, then hang up."""
        call = self._known(hook.call_sid)
        if (
            call.direction is CallDirection.OUTGOING
            and hook.dial_status == "completed"
            and call.answered_by is None
        ):
            answered = attrs.evolve(call, answered_by=call.operator, answered_at=self.tx.now)
            self.uow.voip.update_call(answered)
            self.tx.emit("call.answered", answered, before=call, after=answered)
        return (Hangup(),)

    # -- callbacks --

    def on_status(self, hook: Webhook) -> CallFlow:
        call = self.uow.voip.call_by_sid(hook.call_sid, lock=True)
        if call is None:
            leg = self.uow.voip.leg(hook.call_sid)
            if leg is None:
                raise NotFound("call", hook.call_sid)
            self._leg_status(hook, *leg)
            return ()
        if status_rank(hook.status) <= status_rank(call.status):
            return ()  # a replay or a late, earlier status: nothing moves back
        changed = attrs.evolve(call, status=hook.status)
        if hook.status in FINAL_STATUSES:
            changed = self._finish(changed, hook)
        self.uow.voip.update_call(changed)
        if hook.status in FINAL_STATUSES:
            self.tx.emit("call.ended", changed, before=call, after=changed)
        return ()

    def _leg_status(self, hook: Webhook, call_id: int, leg: CallLeg, rank: int) -> None:
        new_rank = status_rank(hook.status)
        if new_rank <= rank:
            return
        changed = attrs.evolve(leg, status=hook.status)
        if hook.status in FINAL_STATUSES:
            details = self.provider.call_details(leg.sid)
            changed = attrs.evolve(
                changed,
                duration=hook.duration if hook.duration is not None else details.duration,
                price=details.price,
            )
        self.uow.voip.put_leg(call_id, changed, new_rank)

    def _finish(self, call: Call, hook: Webhook) -> Call:
        """A call ended: its billed duration and price, missed or not, and its history."""
        details = self.provider.call_details(call.sid)
        duration = hook.duration if hook.duration is not None else details.duration
        missed = call.missed or (
            call.direction is CallDirection.INCOMING and call.answered_by is None
        )
        call = attrs.evolve(
            call,
            ended_at=self.tx.now,
            duration=duration,
            price=details.price,
            currency=details.currency,
            missed=missed,
        )
        for leg in call.legs:
            if leg.price is None and leg.status in FINAL_STATUSES:
                billed = self.provider.call_details(leg.sid)
                self.uow.voip.put_leg(call.id, attrs.evolve(leg, price=billed.price), 4)
        if call.contact_id is not None and call.history_event_id is None:
            call = attrs.evolve(call, history_event_id=self._history(call))
        return call

    def _history(self, call: Call) -> int:
        tx = self.tx
        if call.direction is CallDirection.OUTGOING:
            text = f"Outgoing call to {call.to_number}. Duration: {call.duration} s"
        elif call.missed:
            text = f"Missed call from {call.from_number}"
        else:
            text = f"Incoming call from {call.from_number}. Duration: {call.duration} s"
        author = call.answered_by or call.operator or WEBHOOK_USER.id
        event = tx.uow.history.add(
            HistoryEvent(
                id=0,
                content=text,
                category_id=_phone_call_category(tx).id,
                contact_id=call.contact_id,
                happened_at=call.started_at,
                created_by=author,
                created_at=tx.now,
                updated_by=author,
                updated_at=tx.now,
            )
        )
        tx.emit("history.created", event, after=event, data=act.created_data(tx, event, [], []))
        return event.id

    def on_recording(self, hook: Webhook) -> CallFlow:
        call = self.uow.voip.call_by_sid(hook.call_sid, lock=True)
        if call is None:
            leg = self.uow.voip.leg(hook.call_sid)
            call = self.uow.voip.call(leg[0]) if leg is not None else None
        if call is None:
            raise NotFound("call", hook.call_sid)
        if not hook.recording_sid or call.recording_sid == hook.recording_sid:
            return ()  # a replay
        details = self.provider.recording_details(hook.recording_sid)
        recorded = attrs.evolve(
            call,
            recording_sid=hook.recording_sid,
            recording_url=hook.recording_url or details.url,
            recording_duration=(
                hook.recording_duration if hook.recording_duration is not None else details.duration
            ),
            recording_price=details.price,
        )
        self.uow.voip.update_call(recorded)
        self.tx.emit("call.recorded", recorded, before=call, after=recorded)
        return ()
