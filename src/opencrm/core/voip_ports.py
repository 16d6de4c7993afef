"""The storage port of VoIP: the account, numbers, operators and calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import attrs

from opencrm.core.entities.voip import Call, CallLeg, VoipAccount, VoipNumber, VoipOperator
from opencrm.core.permissions import ContactScope
from opencrm.core.query import Cursor, PageRequest

__all__ = ["CALL_SORTS", "CallFilter", "VoipRepository"]

#: The sorts of the calls list (the reference's: date, duration, price).
CALL_SORTS = ("date", "duration", "price")


@attrs.frozen(kw_only=True)
class CallFilter:
    """The calls list's filters (the reference's): ``kind`` answered / missed / outgoing,
    started in ``[started_from, started_to)``, taken or placed by ``operator``, with
    ``contact_id``, a number containing ``text``."""

    kind: str | None = None
    started_from: dt.datetime | None = None
    started_to: dt.datetime | None = None
    operator: str | None = None
    contact_id: int | None = None
    text: str | None = None


class VoipRepository(Protocol):
    # --- the account (its token is read only by the services that call the provider) ---

    def account(self) -> tuple[VoipAccount, str] | None:
        """The account and its secret token, or None when none is connected."""

    def put_account(self, account: VoipAccount, token: str) -> None: ...

    def delete_account(self) -> None: ...

    # --- numbers and operators ---

    def numbers(self) -> Sequence[VoipNumber]: ...

    def number(self, number_id: int) -> VoipNumber | None: ...

    def number_by_phone(self, number: str) -> VoipNumber | None: ...

    def add_number(self, number: VoipNumber) -> VoipNumber: ...

    def update_number(self, number: VoipNumber) -> None:
        """Store a number; operators' ``outgoing`` and ``recording`` flags it no longer
        allows are switched off with it."""

    def delete_number(self, number_id: int) -> None:
        """Remove a number and its operators (its calls keep existing)."""

    def operators(self, number_id: int | None = None) -> Sequence[VoipOperator]: ...

    def operator(self, user_id: str) -> VoipOperator | None: ...

    def put_operator(self, operator: VoipOperator) -> None: ...

    def delete_operator(self, user_id: str) -> None: ...

    # --- calls ---

    def add_call(self, call: Call) -> Call | None:
        """Insert a call; None (and nothing written) when a call with its ``sid`` exists,
        also when another transaction inserts it at the same time."""

    def call(self, call_id: int) -> Call | None: ...

    def call_by_sid(self, sid: str, *, lock: bool = False) -> Call | None:
        """The call with provider id ``sid`` (``lock``: its row is held until the
        transaction ends, so concurrent callbacks of one call apply one after another)."""

    def update_call(self, call: Call) -> None:
        """Store a call's changeable fields (not its legs)."""

    def put_leg(self, call_id: int, leg: CallLeg, rank: int) -> None:
        """Insert or replace a leg of a call."""

    def leg(self, sid: str) -> tuple[int, CallLeg, int] | None:
        """(call id, leg, status rank) of a leg."""

    def waiting(self, number_id: int, since: dt.datetime) -> int:
        """Incoming calls on the number started since ``since`` that are neither answered,
        missed nor over: the callers waiting in its queue."""

    def contacts_with_phone(self, number: str) -> Sequence[tuple[int, frozenset[str]]]:
        """(contact id, managers) of the contacts with this E.164 phone number, primary
        phones first, then oldest first."""

    def list_calls(
        self, scope: ContactScope, where: CallFilter, page: PageRequest
    ) -> tuple[Sequence[Call], Cursor | None]:
        """Calls a user may see: with a contact they may read, or taken or placed by
        them (admins: all)."""

    def count_calls(self, scope: ContactScope, where: CallFilter) -> int: ...
