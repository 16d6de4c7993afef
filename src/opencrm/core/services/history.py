"""History (S4): what happened with a contact, an opportunity or a case: notes, calls,
e-mails, meetings, and the events opencrm writes itself; with attached files."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import IO, Any

import attrs

from opencrm.core import contact_data as cd
from opencrm.core import permissions as policy
from opencrm.core.activities_query import HISTORY_SORTS, HistoryFilter
from opencrm.core.entities.activities import HistoryEvent, HistoryFile
from opencrm.core.entities.lists import ListKind
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _activities as act
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._files import (
    clean_filename,
    discard_files,
    forget_files,
    require_store,
)
from opencrm.core.users import User
from opencrm.errors import NotFound, PermissionDenied, ValidationError

__all__ = ["MAX_CONTENT", "HistoryService"]

#: The longest content an event may have (the reference's limit).
MAX_CONTENT = 65_000
_FIELDS = frozenset({"content", "category", "contact", "opportunity", "case", "happened_at"})
_FILTERS = frozenset(
    {
        "contact",
        "opportunity",
        "case",
        "category",
        "author",
        "happened_from",
        "happened_to",
        "text",
    }
)

FileInput = tuple[str, bytes | IO[bytes]]


class HistoryService:
    """History events as the acting user may see and change them; ``session.history``.

    An event hangs off a contact and/or one opportunity or case and is readable by whoever
    may read every one of them (others get :class:`~opencrm.errors.NotFound`). Its author, a
    CRM admin, and whoever may edit what it hangs off edit or delete it.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- create -------------------------------------------------------------------------

    def add(
        self,
        content: str,
        category: Any,
        *,
        contact: Any = None,
        opportunity: Any = None,
        case: Any = None,
        happened_at: Any = None,
        notify: Iterable[str | User] = (),
        files: Iterable[FileInput] = (),
    ) -> HistoryEvent:
        """Record an event: ``content`` (at most 65,000 characters), a history ``category``
        (item, id or title; not a system one), the ``contact`` and/or ``opportunity`` or
        ``case`` it belongs to (at least one; each one the actor may read), when it
        ``happened_at`` (timezone-aware; default now), users to ``notify`` (they get a
        message once it is saved) and ``files`` as ``(filename, bytes or stream)`` pairs
        (checked and stored by the CRM's file store; a refused file stores nothing)."""
        files = _file_pairs(files)
        stored: list[str] = []
        try:
            with self._s._tx() as tx:
                values: dict[str, Any] = {"content": content, "category": category}
                for name, value in (
                    ("contact", contact),
                    ("opportunity", opportunity),
                    ("case", case),
                ):
                    if value is not None:
                        values[name] = value
                if happened_at is not None:
                    values["happened_at"] = happened_at
                return self._create(tx, values, notify, files, stored)
        except BaseException:
            forget_files(self._s._ctx.file_store, stored)
            raise

    def _create(
        self,
        tx: Tx,
        values: Mapping[str, Any],
        notify: Iterable[str | User] = (),
        files: Iterable[FileInput] = (),
        stored: builtins.list[str] | None = None,
    ) -> HistoryEvent:
        """Validate and store a new event in ``tx``: what :meth:`add` does, for a caller
        that writes more in the same transaction (the website contact form). ``values``
        holds ``content``, ``category``, the links and optionally ``happened_at``; the ids
        of files put in the file store are appended to ``stored`` (the caller forgets them
        if the transaction fails)."""
        values = {"happened_at": tx.now, **values}
        blank = HistoryEvent(
            id=0,
            content="",
            category_id=0,
            happened_at=tx.now,
            created_by=tx.actor.id,
            created_at=tx.now,
            updated_by=tx.actor.id,
            updated_at=tx.now,
        )
        event = self._apply(tx, blank, values)
        recipients = sorted(self._s._managers(notify, "notify"))
        saved = tx.uow.history.add(event)
        put = [] if stored is None else stored
        added = [self._store_file(tx, saved, name, data, put) for name, data in files]
        saved = attrs.evolve(saved, files=tuple(added))
        tx.emit(
            "history.created",
            saved,
            after=saved,
            data=act.created_data(tx, saved, recipients, [f.name for f in added]),
        )
        return saved

    # --- read ---------------------------------------------------------------------------

    def get(self, event_id: int) -> HistoryEvent:
        with self._s._tx(write=False) as tx:
            return self._readable(tx, event_id)

    def list(
        self,
        *,
        sort: str = "-date",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[HistoryEvent]:
        """One page of the events the user may read, newest first unless ``sort`` says
        otherwise (``date``, ``created``; ``-`` for descending).

        Filters: ``contact``, ``opportunity``, ``case`` (one the user may not read is
        NotFound), ``category``, ``author`` (a user id), ``happened_from`` (inclusive) and
        ``happened_to`` (exclusive), ``text`` (in the content, case-insensitive).
        """
        page = PageRequest.build(sort, limit, after, HISTORY_SORTS)
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            key = tx.cursor_key("history")
            items, cursor = tx.uow.history.list(
                policy.activity_scope(tx.actor), where, key.open(page)
            )
            return key.page(items, cursor)

    def count(self, **filters: Any) -> int:
        with self._s._tx(write=False) as tx:
            return tx.uow.history.count(policy.activity_scope(tx.actor), self._filter(tx, filters))

    def open_file(self, event_id: int, file_id: int) -> bytes:
        """The bytes of a file attached to an event the user may read."""
        store = require_store(self._s)
        with self._s._tx(write=False) as tx:
            _, found = self._file(tx, self._readable(tx, event_id), file_id)
        data: bytes = store.open(found.file_id)
        return data

    # --- change -------------------------------------------------------------------------

    def update(self, event_id: int, **changes: Any) -> HistoryEvent:
        """Change ``content``, ``category`` or ``happened_at`` (the links stay)."""
        rec.check_names(changes, {"content", "category", "happened_at"}, "a history event")
        with self._s._tx() as tx:
            before = self._editable(tx, event_id)
            after = self._apply(tx, before, changes)
            if after == before:
                return before
            after = attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
            stored = tx.uow.history.update(after)
            tx.emit("history.updated", stored, before=before, after=stored)
            return stored

    def delete(self, event_id: int) -> None:
        """Delete an event; its files go once the deletion has committed."""
        with self._s._tx() as tx:
            found = self._editable(tx, event_id)
            tx.uow.lock("history_event", found.id)  # attachments in flight finish or fail
            file_ids = tx.uow.history.delete(found.id)
            tx.emit("history.deleted", found, before=found)
        discard_files(self._s, file_ids)

    def attach(self, event_id: int, data: bytes | IO[bytes], name: str) -> HistoryFile:
        """Attach one more file to an event the user may edit."""
        stored: list[str] = []
        try:
            with self._s._tx() as tx:
                event = self._editable(tx, event_id)
                added = self._store_file(tx, event, name, data, stored)
                tx.emit(
                    "history.file_added",
                    event,
                    data={"file": added.id, "name": added.name, "size": added.size},
                )
                return added
        except BaseException:
            forget_files(self._s._ctx.file_store, stored)
            raise

    def remove_file(self, event_id: int, file_id: int) -> None:
        """Remove an attached file (the stored bytes go after the removal commits)."""
        with self._s._tx() as tx:
            event, found = self._file(tx, self._editable(tx, event_id), file_id)
            tx.uow.history.delete_file(found.id)
            tx.emit("history.file_removed", event, data={"file": found.id, "name": found.name})
        discard_files(self._s, [found.file_id])

    # --- internals ----------------------------------------------------------------------

    def _store_file(
        self, tx: Tx, event: HistoryEvent, name: object, data: Any, stored: builtins.list[str]
    ) -> HistoryFile:
        clean = clean_filename(name)
        put = require_store(self._s).put(data, clean)
        stored.append(put.id)
        return tx.uow.history.add_file(
            HistoryFile(
                id=0,
                event_id=event.id,
                file_id=put.id,
                name=clean,
                content_type=put.content_type,
                size=put.size,
                created_by=tx.actor.id,
                created_at=tx.now,
            )
        )

    def _readable(self, tx: Tx, event_id: object) -> HistoryEvent:
        eid = rec.record_id(event_id, "event_id", HistoryEvent)
        found = tx.uow.history.get(eid)
        if found is None or not policy.can_read_history_event(tx.actor, act.parents_of(tx, found)):
            raise NotFound("history event", eid)
        return found

    def _editable(self, tx: Tx, event_id: object) -> HistoryEvent:
        found = self._readable(tx, event_id)
        if not policy.can_edit_history_event(tx.actor, found.created_by, act.parents_of(tx, found)):
            raise PermissionDenied("only the author or an editor of its records may change it")
        return found

    def _file(
        self, tx: Tx, event: HistoryEvent, file_id: object
    ) -> tuple[HistoryEvent, HistoryFile]:
        fid = rec.record_id(file_id, "file_id", HistoryFile)
        for f in event.files:
            if f.id == fid:
                return event, f
        raise NotFound("file", fid)

    def _apply(self, tx: Tx, event: HistoryEvent, changes: Mapping[str, Any]) -> HistoryEvent:
        check = rec.FieldChecker(changes)
        check("content", _content)
        check(
            "category",
            lambda v: act.category(tx, ListKind.HISTORY_CATEGORY, v).id,
            to="category_id",
        )
        check("happened_at", lambda v: act.clean_when(v, "happened_at"))
        new = check.done()
        links = act.link_fields(
            tx,
            {k: changes[k] for k in ("contact", "opportunity", "case") if k in changes},
            act.Links(event.contact_id, event.opportunity_id, event.case_id),
        )
        if all(v is None for v in links.values()):
            raise ValidationError({"contact": "name a contact, an opportunity or a case"})
        return attrs.evolve(event, **new, **links)  # type: ignore[arg-type]

    def _filter(self, tx: Tx, filters: Mapping[str, Any]) -> HistoryFilter:
        given = rec.given_filters(filters, _FILTERS)
        check = rec.FieldChecker(given)
        check(
            "category",
            lambda v: act.category(tx, ListKind.HISTORY_CATEGORY, v, allow_system=True).id,
            to="category_id",
        )
        check("author", lambda v: rec.user_id(v, "author"))
        check("happened_from", lambda v: act.clean_when(v, "happened_from"))
        check("happened_to", lambda v: act.clean_when(v, "happened_to"))
        check("text", rec.text_filter)
        out = check.done()
        if "contact" in given:
            out["contact_id"] = rec.contact_filter(tx, given["contact"])
        if "opportunity" in given:
            out["opportunity_id"] = act.deal_filter(tx, "opportunity", given["opportunity"])
        if "case" in given:
            out["case_id"] = act.deal_filter(tx, "case", given["case"])
        return HistoryFilter(**out)


def _content(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError({"content": "must be a string"})
    if len(value) > MAX_CONTENT:
        raise ValidationError({"content": f"is longer than {MAX_CONTENT:,} characters"})
    if "\x00" in value:
        raise ValidationError({"content": "must not contain NUL characters"})
    cd.no_control("content", value.replace("\x00", ""))  # lone surrogates, stray controls
    if not value.strip():
        raise ValidationError({"content": "is required"})
    return value


def _file_pairs(value: object) -> list[FileInput]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError({"files": "must be (filename, bytes or stream) pairs"})
    pairs = list(value)
    if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        raise ValidationError({"files": "must be (filename, bytes or stream) pairs"})
    return pairs
