"""The transaction runner every service method goes through."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from opencrm.core._snapshot import snapshot
from opencrm.core.contact_data import has_control
from opencrm.core.entities.invoices import InvoiceDocument
from opencrm.core.events import Event
from opencrm.core.fields import FieldTypeRegistry
from opencrm.core.ports import Clock, FileStore, Message, Notifier, UnitOfWork
from opencrm.core.query import CursorKey
from opencrm.core.users import ModuleAccess, User, UserDirectory
from opencrm.errors import PermissionDenied, ValidationError

__all__ = ["Context", "Service", "Tx", "utc_now"]

log = logging.getLogger("opencrm")

MODULE_ACCESS_KEY = "module_access"
#: The settings key of the secret that signs list cursors (hex; never shown to users).
CURSOR_SECRET_KEY = "cursor_secret"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _run_now(action: Callable[[], None]) -> None:
    action()


@attrs.define(kw_only=True)
class Context:
    """What services need from the CRM that owns them (built by :class:`opencrm.CRM`)."""

    crm: Any
    new_uow: Callable[[bool], UnitOfWork]
    hook: Any
    field_types: FieldTypeRegistry
    directory: UserDirectory | None = None
    clock: Clock = utc_now
    phone_region: str | None = None
    notifier: Notifier | None = None
    file_store: FileStore | None = None
    #: Builds the e-mail of ``invoices.send``: (document, to, subject, message) -> Message,
    #: with the PDF attached. Injected by the CRM (the renderer is a plugin module).
    invoice_mail: (
        Callable[[InvoiceDocument, tuple[str, ...], str | None, str | None], Message] | None
    ) = None
    #: Render an invoice document as PDF bytes and as an HTML page (``invoices.pdf`` and
    #: ``invoices.html``). Injected by the CRM (the renderer is a plugin module).
    invoice_pdf: Callable[[InvoiceDocument], bytes] | None = None
    invoice_html: Callable[[InvoiceDocument], str] | None = None
    #: Runs an action once the service call that just ended is durable: at once, or, for
    #: a call that joined an outer transaction, when that transaction commits (never if it
    #: rolls back). Plugin reactions and the deletion of stored files wait for it.
    after_commit: Callable[[Callable[[], None]], None] = _run_now
    #: The CRM's :class:`~opencrm.core.jobs.JobRunner` (kinds, hand-off, runs).
    jobs: Any = None
    #: The report types (a ``ReportRegistry``, filled by ``opencrm_register_reports``) and
    #: the renderer that writes a report result as .xlsx bytes (injected by the CRM).
    reports: Any = None
    report_xlsx: Callable[[Any], bytes] | None = None


@attrs.define
class Tx:
    """An open transaction as a service sees it: the unit of work, the actor, the time."""

    uow: UnitOfWork
    actor: User
    now: dt.datetime
    events: list[Event] = attrs.field(factory=list)
    #: The cursor secret when it came with the transaction's first read (see Service._tx).
    cursor_secret: str | None = None

    def emit(
        self,
        name: str,
        entity: object = None,
        *,
        entity_id: int | str | None = None,
        before: object = None,
        after: object = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        entity_type = name.rpartition(".")[0]
        if entity_id is None:
            entity_id = getattr(entity, "id", None)
        self.events.append(
            Event(
                name=name,
                entity_type=entity_type,
                entity_id=entity_id,
                actor_id=self.actor.id,
                at=self.now,
                before=snapshot(before) if before is not None else None,
                after=snapshot(after) if after is not None else None,
                data=data or {},
                entity=entity,
            )
        )

    def cursor_key(self, list_name: str) -> CursorKey:
        """Signs and opens the cursors of ``list_name``, with the database's cursor secret
        (made on first use if a migration did not make it)."""
        secret = self.cursor_secret or self.uow.settings.get(CURSOR_SECRET_KEY)
        if not secret:
            secret = self.uow.settings.add_if_missing(CURSOR_SECRET_KEY, secrets.token_hex(32))
        return CursorKey(bytes.fromhex(secret), list_name)


def load_module_access(uow: UnitOfWork) -> ModuleAccess:
    return _module_access(uow.settings.get(MODULE_ACCESS_KEY))


def _module_access(raw: Any) -> ModuleAccess:
    if not raw:
        return ModuleAccess()
    return ModuleAccess(
        everyone=bool(raw.get("everyone", True)),
        users=frozenset(raw.get("users", ())),
        groups=frozenset(raw.get("groups", ())),
    )


def _react(ctx: Context, events: Sequence[Event]) -> None:
    # Each reaction runs on its own, so one failing plugin neither undoes the committed
    # change nor keeps the others from hearing about it.
    for event in events:
        args = {"crm": ctx.crm, "event": event}
        for impl in reversed(ctx.hook.opencrm_event_committed.get_hookimpls()):
            try:
                impl.function(*(args[name] for name in impl.argnames))
            except Exception:
                log.exception("plugin %s failed on %s", impl.plugin_name, event.name)


_SETTINGS_OF_A_CALL = (MODULE_ACCESS_KEY, CURSOR_SECRET_KEY)


class _TxScope:
    """What ``Service._tx`` returns (a class, not a generator context manager: every call
    goes through it, and the generator's machinery cost more than the rest of it).

    Entering opens the unit of work and, for a user who is not a CRM admin, reads the
    module access and the cursor secret in one query (the access check; the secret a list
    page signs its cursors with). Leaving without an exception runs the before-commit hook
    when the call emitted events, commits, and hands the events to the after-commit
    reactions; leaving with one rolls back (the unit of work's exit)."""

    __slots__ = ("_actor", "_ctx", "_tx", "_uow", "_write")

    def __init__(self, ctx: Context, actor: User, write: bool) -> None:
        self._ctx = ctx
        self._actor = actor
        self._write = write

    def __enter__(self) -> Tx:
        ctx, actor = self._ctx, self._actor
        uow = ctx.new_uow(self._write)
        uow.__enter__()
        try:
            secret = None
            if not actor.crm_admin:
                stored = uow.settings.get_many(_SETTINGS_OF_A_CALL)
                access = stored.get(MODULE_ACCESS_KEY)
                # No stored access (the default) lets everyone in, as ModuleAccess() does.
                if access and not _module_access(access).allows(actor):
                    raise PermissionDenied("this user may not use the CRM")
                secret = stored.get(CURSOR_SECRET_KEY)
            tx = Tx(uow, actor, ctx.clock(), cursor_secret=secret)
        except BaseException:
            uow.__exit__(*sys.exc_info())  # rolls back; a driver error leaves translated
            raise
        self._uow = uow
        self._tx = tx
        return tx

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        uow, tx = self._uow, self._tx
        if exc_type is not None:
            uow.__exit__(exc_type, exc, tb)
            return
        events = tx.events
        try:
            if events:
                ctx = self._ctx
                ctx.hook.opencrm_before_commit(crm=ctx.crm, uow=uow, events=tuple(events))
            uow.commit()
        except BaseException:
            uow.__exit__(*sys.exc_info())
            raise
        uow.__exit__(None, None, None)
        if events:
            ctx = self._ctx
            ctx.after_commit(lambda: _react(ctx, events))


class Service:
    """Base of the services a :class:`opencrm.Session` exposes."""

    def __init__(self, ctx: Context, actor: User) -> None:
        self._ctx = ctx
        self._actor = actor

    def _tx(self, *, write: bool = True) -> _TxScope:
        """The transaction of one service call: ``with self._tx() as tx:``. It commits when
        the block ends without an exception and rolls back when it raises."""
        return _TxScope(self._ctx, self._actor, write)

    def _managers(self, value: object, field: str = "managers") -> frozenset[str]:
        """Validate a collection of user ids (or Users); unknown ids are refused when the CRM
        has a user directory."""
        if isinstance(value, (str, User)) or not hasattr(value, "__iter__"):
            raise ValidationError({field: "must be a collection of user ids"})
        ids: set[str] = set()
        for item in value:
            uid = item.id if isinstance(item, User) else item
            if not isinstance(uid, str) or not uid or len(uid) > 255 or has_control(uid):
                raise ValidationError({field: "must be a collection of user ids"})
            ids.add(uid)
        directory = self._ctx.directory
        if directory is not None and ids:
            known = directory.get_many(ids)
            unknown = sorted(ids - set(known))
            if unknown:
                raise ValidationError({field: f"unknown users: {', '.join(unknown)}"})
        return frozenset(ids)
