"""The provider's webhooks: what each does to a call, inside its transaction."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

import attrs

from opencrm.core.contact_data import clean_phone
from opencrm.core.entities.activities import HistoryEvent
from opencrm.core.entities.voip import (
    Call,
    CallDirection,
    CallLeg,
    OperatorStatus,
    VoipAccount,
    VoipNumber,
)
from opencrm.core.services import _activities as act
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._telephony import (
    QUEUE_HORIZON,
    VOICEMAIL_SECONDS,
    WEBHOOK_USER,
    WEBHOOKS,
    endpoint,
    hook_url,
    is_open,
    new_caller,
    phone_call_category,
    prefer,
    provider_for,
)
from opencrm.core.telephony import (
    FINAL_STATUSES,
    CallFlow,
    Dial,
    Enqueue,
    Hangup,
    Leave,
    Play,
    Record,
    Say,
    Telephony,
    Webhook,
    parse_webhook,
    status_rank,
)
from opencrm.errors import NotFound, PermissionDenied, ValidationError

__all__ = ["handle_webhook"]


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
        provider = provider_for(service._ctx, account, token)
        url = hook_url(account, kind) + (f"?{query}" if query else "")
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
            contact_id = prefer(matches, {op.user_id for op in online})
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
                to=endpoint(op),
                answer_url=hook_url(self.account, "connect", call=call.sid),
                status_url=hook_url(self.account, "status"),
                timeout=op.timeout,
            )
            leg = CallLeg(sid=leg_sid, operator=op.user_id, to_number=endpoint(op), status="queued")
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
                wait_url=hook_url(self.account, "wait"),
                action_url=hook_url(self.account, "queue-result"),
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
                action_url=hook_url(self.account, "done"),
                recording_url=hook_url(self.account, "recording"),
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
        waited_out = (hook.queue_time or 0) >= number.queue_wait
        # Every operator rung has rejected or missed the call: nobody is left to answer.
        nobody = bool(call.legs) and all(leg.status in FINAL_STATUSES for leg in call.legs)
        if call.answered_by is None and (waited_out or nobody):
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
                queue_url=hook_url(self.account, "dequeued", leg=hook.call_sid),
                record=record,
                recording_url=hook_url(self.account, "recording") if record else "",
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
            contact_id = new_caller(self.tx, call.from_number, operator)
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
                action_url=hook_url(self.account, "done"),
                recording_url=hook_url(self.account, "recording") if record else "",
            ),
        )

    def on_done(self, hook: Webhook) -> CallFlow:
        """After a dial or a voicemail: keep the dialled leg of an outgoing call (it is
        billed on its own) and note that it was answered, then hang up."""
        call = self._known(hook.call_sid)
        if (
            call.direction is CallDirection.OUTGOING
            and hook.dial_call_sid
            and hook.dial_call_sid != call.sid
            and self.uow.voip.leg(hook.dial_call_sid) is None
        ):
            status = hook.dial_status if status_rank(hook.dial_status) >= 0 else "completed"
            leg = CallLeg(
                sid=hook.dial_call_sid,
                operator=None,
                to_number=call.to_number,
                status=status,
                duration=hook.dial_duration or 0,
            )
            self.uow.voip.put_leg(call.id, leg, status_rank(status))
            call = self._known(call.sid)
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
                category_id=phone_call_category(tx).id,
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
