"""VoIP storage: the account, numbers, operators, calls and their legs."""

from __future__ import annotations

import builtins
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from opencrm.core.entities.contacts import Access, InfoType
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
from opencrm.core.permissions import ContactScope
from opencrm.core.query import Cursor, PageRequest
from opencrm.core.telephony import status_rank
from opencrm.core.voip_ports import CallFilter
from opencrm.storage.sqlalchemy.paging import after_cursor, next_cursor
from opencrm.storage.sqlalchemy.tables import (
    contact_infos,
    contact_managers,
    contacts,
    voip_accounts,
    voip_call_legs,
    voip_calls,
    voip_numbers,
    voip_operators,
)

__all__ = ["SqlVoipRepository"]

_E4 = Decimal("0.0001")


def _to_e4(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int((value / _E4).to_integral_value(rounding=ROUND_HALF_UP))


def _from_e4(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) * _E4).quantize(_E4)


def _number(r: Row[Any]) -> VoipNumber:
    start, end = r.hours_start, r.hours_end
    hours = (
        WorkingHours(start=start, end=end, timezone=r.timezone or "UTC")
        if start is not None and end is not None
        else None
    )
    return VoipNumber(
        id=r.id,
        sid=r.sid,
        number=r.number,
        alias=r.alias,
        outgoing=r.outgoing,
        recording=r.recording,
        greeting_audio=r.greeting_audio,
        hold_audio=r.hold_audio,
        voicemail_audio=r.voicemail_audio,
        queue_size=r.queue_size,
        queue_wait=r.queue_wait,
        working_hours=hours,
        created_by=r.created_by,
        created_at=r.created_at,
        updated_by=r.updated_by,
        updated_at=r.updated_at,
    )


def _number_row(n: VoipNumber) -> dict[str, Any]:
    hours = n.working_hours
    return {
        "sid": n.sid,
        "number": n.number,
        "alias": n.alias,
        "outgoing": n.outgoing,
        "recording": n.recording,
        "greeting_audio": n.greeting_audio,
        "hold_audio": n.hold_audio,
        "voicemail_audio": n.voicemail_audio,
        "queue_size": n.queue_size,
        "queue_wait": n.queue_wait,
        "hours_start": hours.start if hours else None,
        "hours_end": hours.end if hours else None,
        "timezone": hours.timezone if hours else None,
        "created_by": n.created_by,
        "created_at": n.created_at,
        "updated_by": n.updated_by,
        "updated_at": n.updated_at,
    }


def _operator(r: Row[Any]) -> VoipOperator:
    return VoipOperator(
        user_id=r.user_id,
        number_id=r.number_id,
        outgoing=r.outgoing,
        recording=r.recording,
        status=OperatorStatus(r.status),
        answer_to=r.answer_to,
        timeout=r.timeout,
    )


def _leg(r: Row[Any]) -> CallLeg:
    return CallLeg(
        sid=r.sid,
        operator=r.operator,
        to_number=r.to_number,
        status=r.status,
        duration=r.duration,
        price=_from_e4(r.price_e4),
    )


def _call_row(c: Call) -> dict[str, Any]:
    return {
        "sid": c.sid,
        "direction": c.direction.value,
        "number_id": c.number_id,
        "from_number": c.from_number,
        "to_number": c.to_number,
        "status": c.status,
        "status_rank": status_rank(c.status),
        "contact_id": c.contact_id,
        "operator": c.operator,
        "answered_by": c.answered_by,
        "missed": c.missed,
        "started_at": c.started_at,
        "answered_at": c.answered_at,
        "ended_at": c.ended_at,
        "duration": c.duration,
        "price_e4": _to_e4(c.price),
        "currency": c.currency,
        "recording_sid": c.recording_sid,
        "recording_url": c.recording_url,
        "recording_duration": c.recording_duration,
        "recording_price_e4": _to_e4(c.recording_price),
        "history_event_id": c.history_event_id,
    }


class SqlVoipRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    # --- the account ---

    def account(self) -> tuple[VoipAccount, str] | None:
        r = self._c.execute(select(voip_accounts).where(voip_accounts.c.id == 1)).first()
        if r is None:
            return None
        account = VoipAccount(
            provider=r.provider,
            account_sid=r.account_sid,
            public_url=r.public_url,
            has_token=bool(r.auth_token),
            updated_by=r.updated_by,
            updated_at=r.updated_at,
        )
        return account, r.auth_token

    def put_account(self, account: VoipAccount, token: str) -> None:
        values = {
            "provider": account.provider,
            "account_sid": account.account_sid,
            "auth_token": token,
            "public_url": account.public_url,
            "updated_by": account.updated_by,
            "updated_at": account.updated_at,
        }
        done = self._c.execute(update(voip_accounts).where(voip_accounts.c.id == 1).values(values))
        if not done.rowcount:
            self._c.execute(voip_accounts.insert().values(id=1, **values))

    def delete_account(self) -> None:
        self._c.execute(delete(voip_accounts))

    # --- numbers ---

    def numbers(self) -> Sequence[VoipNumber]:
        rows = self._c.execute(select(voip_numbers).order_by(voip_numbers.c.id)).all()
        return [_number(r) for r in rows]

    def number(self, number_id: int) -> VoipNumber | None:
        r = self._c.execute(select(voip_numbers).where(voip_numbers.c.id == number_id)).first()
        return _number(r) if r is not None else None

    def number_by_phone(self, number: str) -> VoipNumber | None:
        r = self._c.execute(select(voip_numbers).where(voip_numbers.c.number == number)).first()
        return _number(r) if r is not None else None

    def add_number(self, number: VoipNumber) -> VoipNumber:
        new_id = self._c.execute(
            voip_numbers.insert().values(_number_row(number)).returning(voip_numbers.c.id)
        ).scalar_one()
        found = self.number(new_id)
        assert found is not None
        return found

    def update_number(self, number: VoipNumber) -> None:
        self._c.execute(
            update(voip_numbers).where(voip_numbers.c.id == number.id).values(_number_row(number))
        )
        for flag in ("outgoing", "recording"):
            if not getattr(number, flag):
                self._c.execute(
                    update(voip_operators)
                    .where(voip_operators.c.number_id == number.id)
                    .values({flag: False})
                )

    def delete_number(self, number_id: int) -> None:
        self._c.execute(delete(voip_operators).where(voip_operators.c.number_id == number_id))
        self._c.execute(delete(voip_numbers).where(voip_numbers.c.id == number_id))

    # --- operators ---

    def operators(self, number_id: int | None = None) -> Sequence[VoipOperator]:
        query = select(voip_operators).order_by(voip_operators.c.user_id)
        if number_id is not None:
            query = query.where(voip_operators.c.number_id == number_id)
        return [_operator(r) for r in self._c.execute(query).all()]

    def operator(self, user_id: str) -> VoipOperator | None:
        r = self._c.execute(
            select(voip_operators).where(voip_operators.c.user_id == user_id)
        ).first()
        return _operator(r) if r is not None else None

    def put_operator(self, operator: VoipOperator) -> None:
        values = {
            "number_id": operator.number_id,
            "outgoing": operator.outgoing,
            "recording": operator.recording,
            "status": operator.status.value,
            "answer_to": operator.answer_to,
            "timeout": operator.timeout,
        }
        done = self._c.execute(
            update(voip_operators)
            .where(voip_operators.c.user_id == operator.user_id)
            .values(values)
        )
        if not done.rowcount:
            self._c.execute(voip_operators.insert().values(user_id=operator.user_id, **values))

    def delete_operator(self, user_id: str) -> None:
        self._c.execute(delete(voip_operators).where(voip_operators.c.user_id == user_id))

    # --- calls ---

    def add_call(self, call: Call) -> Call | None:
        insert = postgresql.insert if self._c.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(voip_calls).values(_call_row(call))
        stmt = stmt.on_conflict_do_nothing(index_elements=["sid"])
        new_id = self._c.execute(stmt.returning(voip_calls.c.id)).scalar()
        if new_id is None:
            return None
        return self.call(new_id)

    def call(self, call_id: int) -> Call | None:
        r = self._c.execute(select(voip_calls).where(voip_calls.c.id == call_id)).first()
        return self._build([r])[0] if r is not None else None

    def call_by_sid(self, sid: str, *, lock: bool = False) -> Call | None:
        query = select(voip_calls).where(voip_calls.c.sid == sid)
        if lock and self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        r = self._c.execute(query).first()
        return self._build([r])[0] if r is not None else None

    def update_call(self, call: Call) -> None:
        self._c.execute(
            update(voip_calls).where(voip_calls.c.id == call.id).values(_call_row(call))
        )

    def put_leg(self, call_id: int, leg: CallLeg, rank: int) -> None:
        values = {
            "call_id": call_id,
            "operator": leg.operator,
            "to_number": leg.to_number,
            "status": leg.status,
            "status_rank": rank,
            "duration": leg.duration,
            "price_e4": _to_e4(leg.price),
        }
        done = self._c.execute(
            update(voip_call_legs).where(voip_call_legs.c.sid == leg.sid).values(values)
        )
        if not done.rowcount:
            self._c.execute(voip_call_legs.insert().values(sid=leg.sid, **values))

    def leg(self, sid: str) -> tuple[int, CallLeg, int] | None:
        r = self._c.execute(select(voip_call_legs).where(voip_call_legs.c.sid == sid)).first()
        return (r.call_id, _leg(r), r.status_rank) if r is not None else None

    def waiting(self, number_id: int, since: dt.datetime) -> int:
        query = (
            select(func.count())
            .select_from(voip_calls)
            .where(
                voip_calls.c.number_id == number_id,
                voip_calls.c.direction == CallDirection.INCOMING.value,
                voip_calls.c.started_at >= since,
                voip_calls.c.answered_by.is_(None),
                voip_calls.c.missed.is_(False),
                voip_calls.c.status_rank < 4,
            )
        )
        return int(self._c.execute(query).scalar_one())

    def contacts_with_phone(self, number: str) -> Sequence[tuple[int, frozenset[str]]]:
        rows = self._c.execute(
            select(contact_infos.c.contact_id)
            .where(
                contact_infos.c.info_type == InfoType.PHONE.value,
                contact_infos.c.normalized == number,
            )
            .group_by(contact_infos.c.contact_id)
            .order_by(func.max(contact_infos.c.is_primary.cast(Integer)).desc())
            .order_by(contact_infos.c.contact_id)
            .limit(50)
        ).all()
        ids = [r.contact_id for r in rows]
        managers: dict[int, set[str]] = defaultdict(set)
        if ids:
            for r in self._c.execute(
                select(contact_managers).where(contact_managers.c.contact_id.in_(ids))
            ):
                managers[r.contact_id].add(r.user_id)
        return [(cid, frozenset(managers[cid])) for cid in ids]

    # --- the calls list ---

    def list_calls(
        self, scope: ContactScope, where: CallFilter, page: PageRequest
    ) -> tuple[Sequence[Call], Cursor | None]:
        keys = self._sort_keys(page.sort)
        conds = self._conditions(scope, where)
        after = after_cursor(keys, page)
        if after is not None:
            conds.append(after)
        order = [k.desc() if page.descending else k.asc() for k in keys]
        rows = self._c.execute(
            select(voip_calls, *keys).where(*conds).order_by(*order).limit(page.limit + 1)
        ).all()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return self._build(rows), next_cursor(rows[-1] if more and rows else None, keys, page)

    def count_calls(self, scope: ContactScope, where: CallFilter) -> int:
        query = select(func.count()).select_from(voip_calls).where(*self._conditions(scope, where))
        return int(self._c.execute(query).scalar_one())

    @staticmethod
    def _sort_keys(sort: str) -> builtins.list[Any]:
        first = {
            "date": voip_calls.c.started_at.label("k_date"),
            "duration": voip_calls.c.duration.label("k_duration"),
            "price": func.coalesce(voip_calls.c.price_e4, 0).label("k_price"),
        }[sort]
        return [first, voip_calls.c.id.label("k_id")]

    @staticmethod
    def _conditions(scope: ContactScope, where: CallFilter) -> builtins.list[ColumnElement[bool]]:
        conds: builtins.list[ColumnElement[bool]] = []
        if not scope.everything:
            managed = select(literal(1)).where(
                contact_managers.c.contact_id == voip_calls.c.contact_id,
                contact_managers.c.user_id == scope.user_id,
            )
            readable = (
                select(literal(1))
                .select_from(contacts)
                .where(
                    contacts.c.id == voip_calls.c.contact_id,
                    or_(contacts.c.access != Access.PRIVATE.value, managed.exists()),
                )
            )
            conds.append(
                or_(
                    readable.exists(),
                    voip_calls.c.answered_by == scope.user_id,
                    voip_calls.c.operator == scope.user_id,
                )
            )
        if where.kind == "answered":
            conds.append(voip_calls.c.answered_by.is_not(None))
        elif where.kind == "missed":
            conds.append(voip_calls.c.missed.is_(True))
        elif where.kind == "outgoing":
            conds.append(voip_calls.c.direction == CallDirection.OUTGOING.value)
        if where.started_from is not None:
            conds.append(voip_calls.c.started_at >= where.started_from)
        if where.started_to is not None:
            conds.append(voip_calls.c.started_at < where.started_to)
        if where.operator is not None:
            conds.append(
                or_(
                    voip_calls.c.answered_by == where.operator,
                    voip_calls.c.operator == where.operator,
                )
            )
        if where.contact_id is not None:
            conds.append(voip_calls.c.contact_id == where.contact_id)
        if where.text is not None:
            pattern = (
                "%" + where.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            conds.append(
                or_(
                    voip_calls.c.from_number.like(pattern, escape="\\"),
                    voip_calls.c.to_number.like(pattern, escape="\\"),
                )
            )
        return conds

    def _build(self, rows: Sequence[Row[Any]]) -> builtins.list[Call]:
        ids = [r.id for r in rows]
        legs: dict[int, builtins.list[CallLeg]] = defaultdict(list)
        if ids:
            for r in self._c.execute(
                select(voip_call_legs)
                .where(voip_call_legs.c.call_id.in_(ids))
                .order_by(voip_call_legs.c.sid)
            ):
                legs[r.call_id].append(_leg(r))
        return [
            Call(
                id=r.id,
                sid=r.sid,
                direction=CallDirection(r.direction),
                number_id=r.number_id,
                from_number=r.from_number,
                to_number=r.to_number,
                status=r.status,
                contact_id=r.contact_id,
                operator=r.operator,
                answered_by=r.answered_by,
                missed=r.missed,
                started_at=r.started_at,
                answered_at=r.answered_at,
                ended_at=r.ended_at,
                duration=r.duration,
                price=_from_e4(r.price_e4),
                currency=r.currency,
                recording_sid=r.recording_sid,
                recording_url=r.recording_url,
                recording_duration=r.recording_duration,
                recording_price=_from_e4(r.recording_price_e4),
                history_event_id=r.history_event_id,
                legs=tuple(legs[r.id]),
            )
            for r in rows
        ]
