"""VoIP (S9): the telephony account, virtual numbers, operators and calls.

Admins connect the provider account, buy or link numbers and name their operators;
operators set their status and call out; everyone sees the calls of the contacts they may
read. The provider's webhooks come in through ``CRM.voip_webhook`` (handled in
``_voip_webhooks``), which checks their signature before anything else.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

import attrs

from opencrm.core import permissions as policy
from opencrm.core._inputs import clean_datetime
from opencrm.core.contact_data import clean_phone, has_control
from opencrm.core.entities.voip import (
    Call,
    CallDirection,
    OperatorStatus,
    VoipAccount,
    VoipNumber,
    VoipOperator,
    WorkingHours,
)
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._telephony import endpoint, hook_url, new_caller, prefer, provider_for
from opencrm.core.telephony import (
    AvailableNumber,
    OwnedNumber,
    Telephony,
    WebhookUrls,
)
from opencrm.core.users import User
from opencrm.core.voip_ports import CALL_SORTS, CallFilter
from opencrm.errors import Conflict, NotFound, PermissionDenied, ValidationError

__all__ = ["VoipService"]


#: Calls missed this long ago or less are the operator's "missed calls" (the reference's).
MISSED_WINDOW = dt.timedelta(days=7)
MISSED_LIMIT = 10
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
    problem = "must be an http(s) URL of an audio file"
    if url and _split(url, field, problem).scheme not in ("http", "https"):
        raise ValidationError({field: problem})
    return url


def _public_url(value: object) -> str:
    url = _text(value, "public_url", 900, required=True).rstrip("/")
    problem = "must be the http(s) URL the API is reached at, without a query"
    parts = _split(url, "public_url", problem)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValidationError({"public_url": problem})
    return url


def _split(url: str, field: str, problem: str) -> SplitResult:
    """``url`` in parts; a malformed host ("http://[") is the caller's ValidationError."""
    try:
        return urlsplit(url)
    except ValueError:
        raise ValidationError({field: problem}) from None


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
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a folder
        raise ValidationError({"working_hours.timezone": "not a time zone name"}) from None
    if start == end:
        raise ValidationError({"working_hours": "start and end must differ"})
    return WorkingHours(start=start, end=end, timezone=zone)


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
            provider_for(self._s._ctx, account, token)  # refuse a provider no plugin knows
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
            urls = WebhookUrls(voice=hook_url(account, "voice"), status=hook_url(account, "status"))
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
                contact_id = prefer(matches, {tx.actor.id}) if matches else None
            if contact_id is None:
                contact_id = new_caller(tx, e164, tx.actor.id)
            sid = provider.start_call(
                from_number=number.number,
                to=endpoint(op),
                answer_url=hook_url(account, "outgoing"),
                status_url=hook_url(account, "status"),
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


def _connected(service: Service, tx: Tx) -> tuple[Telephony, VoipAccount]:
    found = tx.uow.voip.account()
    if found is None or not found[1]:
        raise Conflict("connect a telephony account first (session.voip.connect)")
    account, token = found
    return provider_for(service._ctx, account, token), account


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
