"""What the VoIP service and the provider's webhooks share: the provider of the connected
account, the webhook URLs given to it, operators' endpoints, and the contacts of callers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from urllib.parse import urlencode

from opencrm.core.entities.contacts import Access, ContactInfo, InfoType, Person
from opencrm.core.entities.lists import ListItem, ListKind
from opencrm.core.entities.voip import VoipAccount, VoipOperator, WorkingHours
from opencrm.core.services._base import Context, Tx
from opencrm.core.telephony import Telephony
from opencrm.core.users import User
from opencrm.errors import ValidationError

__all__ = [
    "PHONE_CALL",
    "QUEUE_HORIZON",
    "VOICEMAIL_SECONDS",
    "WEBHOOKS",
    "WEBHOOK_USER",
    "endpoint",
    "hook_url",
    "is_open",
    "new_caller",
    "phone_call_category",
    "prefer",
    "provider_for",
]

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
#: A queued call older than this no longer counts against the queue's size (a call whose
#: last callback was lost must not fill the queue forever).
QUEUE_HORIZON = dt.timedelta(hours=4)


def is_open(hours: WorkingHours | None, now: dt.datetime) -> bool:
    """Whether a number with these working hours takes calls at ``now``."""
    if hours is None:
        return True
    local = now.astimezone(zoneinfo.ZoneInfo(hours.timezone)).strftime("%H:%M")
    if hours.start < hours.end:
        return hours.start <= local < hours.end
    return local >= hours.start or local < hours.end  # spans midnight


def provider_for(ctx: Context, account: VoipAccount, token: str) -> Telephony:
    """The provider of the connected account, from the ``opencrm_telephony_provider`` hook."""
    found: Telephony | None = ctx.hook.opencrm_telephony_provider(
        crm=ctx.crm,
        provider=account.provider,
        account_sid=account.account_sid,
        auth_token=token,
    )
    if found is None:
        raise ValidationError({"provider": f"no plugin provides {account.provider!r} telephony"})
    return found


def hook_url(account: VoipAccount, kind: str, **query: str) -> str:
    url = f"{account.public_url}/voip/webhooks/{kind}"
    return f"{url}?{urlencode(query)}" if query else url


def endpoint(op: VoipOperator) -> str:
    return op.answer_to or f"client:{op.user_id}"


def prefer(matches: Sequence[tuple[int, frozenset[str]]], users: set[str]) -> int:
    """The first matching contact one of ``users`` manages, else the first match."""
    for contact_id, managers in matches:
        if managers & users:
            return contact_id
    return matches[0][0]


def new_caller(tx: Tx, number: str, manager: str) -> int:
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


def phone_call_category(tx: Tx) -> ListItem:
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
