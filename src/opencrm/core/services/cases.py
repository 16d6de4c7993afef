"""Cases (S6): matters handled with a group of contacts, open or closed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import attrs

from opencrm.core import contact_data as cd
from opencrm.core import permissions as policy
from opencrm.core.deals_query import CASE_SORTS, CaseFilter
from opencrm.core.entities.deals import Case
from opencrm.core.files import CaseDocument
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _case_documents as docs
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._files import discard_files
from opencrm.core.users import User
from opencrm.errors import NotFound, PermissionDenied

__all__ = ["CaseService"]

_FIELDS = frozenset({"title", "members", "tags", "custom", "restricted", "access_list"})
_ACCESS_FIELDS = frozenset({"restricted", "access_list"})
_FILTERS = frozenset({"text", "contact", "tags", "closed", "custom"})


class CaseService:
    """Cases as the acting user may see and change them; ``session.cases``.

    Access works as for opportunities: public unless ``restricted``, a restricted case is
    visible to CRM admins and its access list (the creator always on it), unreadable cases are
    :class:`~opencrm.errors.NotFound`, readers may edit, and only a CRM admin or the creator
    changes access.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    def add(self, title: str, **fields: Any) -> Case:
        """Create an open case. Fields: ``members`` (contacts or ids the user may read),
        ``tags``, ``custom``, ``restricted``, ``access_list``."""
        rec.check_names(fields, _FIELDS - {"title"}, "a case")
        with self._s._tx() as tx:
            blank = Case(
                id=0,
                title="",
                created_by=tx.actor.id,
                created_at=tx.now,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            case = self._apply(tx, blank, {"title": title, **fields})
            stored = tx.uow.cases.add(case)
            tx.emit("case.created", stored, after=stored)
            rec.access_event(tx, "case.access_changed", None, stored)
            return stored

    def get(self, case_id: int) -> Case:
        with self._s._tx(write=False) as tx:
            return self._readable(tx, case_id)

    def list(
        self,
        *,
        sort: str = "title",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Case]:
        """One page of the cases the user may read. Filters: ``text`` (in the title),
        ``contact`` (a participant; one the user may not read is NotFound), ``tags`` (all of
        them), ``closed`` (True or False), ``custom`` (field label or id -> value). Sorts:
        ``title``, ``created``; ``-`` for descending."""
        page = PageRequest.build(sort, limit, after, CASE_SORTS)
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            key = tx.cursor_key("cases")
            items, cursor = tx.uow.cases.list(policy.deal_scope(tx.actor), where, key.open(page))
            return key.page(items, cursor)

    def count(self, **filters: Any) -> int:
        with self._s._tx(write=False) as tx:
            return tx.uow.cases.count(policy.deal_scope(tx.actor), self._filter(tx, filters))

    def search(self, text: str, *, limit: int = 20, after: str | None = None) -> Page[Case]:
        """Cases whose title contains ``text`` (starts with it, for one or two characters).
        One page (a sequence); pass its ``next_cursor`` as ``after`` for the next one."""
        return self.list(text=text, limit=limit, after=after)

    def custom_values(self, case: Case | int) -> dict[str, Any]:
        """The custom values by field label, as Python values, in the fields' order."""
        cid = rec.record_id(case, "case", Case)
        with self._s._tx(write=False) as tx:
            found = self._readable(tx, cid)
            types = self._s._ctx.field_types
            return {
                f.label: types.get(f.type).load(found.custom[f.id], f.options)
                for f in tx.uow.fields.list("case")
                if f.id in found.custom
            }

    def update(self, case_id: int, **changes: Any) -> Case:
        """Change fields (names as for :meth:`add`)."""
        return self._update(case_id, changes, access=False)

    def _update(self, case_id: int, changes: Mapping[str, Any], *, access: bool) -> Case:
        with self._s._tx() as tx:
            before = self._readable(tx, case_id)
            wants_access = access or bool(_ACCESS_FIELDS & set(changes))
            if wants_access and not policy.can_change_deal_access(tx.actor, before):
                raise PermissionDenied("only a CRM admin or the creator may change access")
            rec.check_names(changes, _FIELDS, "a case")
            return self._save(tx, before, self._apply(tx, before, changes))

    def set_access(
        self,
        case_id: int,
        restricted: bool | None = None,
        access_list: Iterable[str | User] | None = None,
    ) -> Case:
        """Restrict the case to an access list or make it public; CRM admins and the creator
        only. The creator is always on the list."""
        changes: dict[str, Any] = {}
        if restricted is not None:
            changes["restricted"] = restricted
        if access_list is not None:
            changes["access_list"] = access_list
        return self._update(case_id, changes, access=True)

    def close(self, case_id: int) -> Case:
        """Close the case (closing a closed case changes nothing)."""
        return self._set_closed(case_id, True)

    def reopen(self, case_id: int) -> Case:
        return self._set_closed(case_id, False)

    def delete(self, case_id: int) -> None:
        """Delete a case with its member links, access list, tags, custom values, documents,
        tasks and history events (stored files are deleted once the deletion has committed)."""
        with self._s._tx() as tx:
            found = self._readable(tx, case_id)
            tx.uow.lock("case", found.id)  # uploads to it finish first, or fail
            file_ids = [
                *tx.uow.case_documents.delete_for_case(found.id),
                *tx.uow.history.file_ids_of(case_id=found.id),
            ]
            tx.uow.cases.delete(found.id)
            tx.emit("case.deleted", found, before=found)
        discard_files(self._s, file_ids)

    # --- documents ----------------------------------------------------------------------

    def attach(self, case_id: int, data: bytes | IO[bytes], filename: str) -> CaseDocument:
        """Attach a document (bytes or a binary stream) to a case the user may edit. The file
        store checks size and the type sniffed from the bytes (``filename`` is only shown);
        a refused upload raises :class:`~opencrm.errors.ValidationError` and stores nothing.
        Emits ``case.document_added``."""
        return docs.attach(self, case_id, data, filename)

    def documents(self, case_id: int) -> Sequence[CaseDocument]:
        """The documents of a case the user may read, oldest first."""
        return docs.documents(self, case_id)

    def open_document(self, case_id: int, document_id: int) -> bytes:
        """The bytes of one of the case's documents."""
        return docs.open_document(self, case_id, document_id)

    def remove_document(self, case_id: int, document_id: int) -> None:
        """Remove a document (its file goes after the removal commits); emits
        ``case.document_removed``."""
        docs.remove_document(self, case_id, document_id)

    # --- internals ----------------------------------------------------------------------

    def _set_closed(self, case_id: int, closed: bool) -> Case:
        with self._s._tx() as tx:
            before = self._readable(tx, case_id)
            if before.closed is closed:
                return before
            after = attrs.evolve(before, closed=closed, updated_by=tx.actor.id, updated_at=tx.now)
            stored = tx.uow.cases.update(after)
            tx.emit(
                "case.closed" if closed else "case.reopened", stored, before=before, after=stored
            )
            return stored

    def _readable(self, tx: Tx, case_id: int) -> Case:
        cid = rec.record_id(case_id, "case_id")
        found = tx.uow.cases.get(cid)
        if found is None or not policy.can_read_deal(tx.actor, found):
            raise NotFound("case", cid)
        return found

    def _save(self, tx: Tx, before: Case, after: Case) -> Case:
        if after == before:
            return before
        after = attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
        stored = tx.uow.cases.update(after)
        tx.emit("case.updated", stored, before=before, after=stored)
        rec.access_event(tx, "case.access_changed", before, stored)
        return stored

    def _apply(self, tx: Tx, case: Case, changes: Mapping[str, Any]) -> Case:
        check = rec.FieldChecker(changes)
        check("title", lambda v: cd.clean_name("title", v, required=True))
        check("members", lambda v: rec.member_ids(tx, v, case.members))
        check("tags", lambda v: rec.tag_titles(tx, "case", v))
        check("custom", lambda v: rec.custom_values(self._s, tx, "case", case.custom, v))
        check("restricted", lambda v: rec.clean_bool(v, "restricted"))
        check("access_list", lambda v: self._s._managers(v, "access_list"))
        result = attrs.evolve(case, **check.done())
        return attrs.evolve(result, access_list=result.access_list | {result.created_by})

    def _filter(self, tx: Tx, filters: Mapping[str, Any]) -> CaseFilter:
        given = rec.given_filters(filters, _FILTERS)
        check = rec.FieldChecker(given)
        check("text", rec.text_filter)
        check("tags", rec.tags_filter)
        check("closed", lambda v: rec.clean_bool(v, "closed"))
        check("custom", lambda v: rec.custom_filter(self._s, tx, v, ("case",), "cases"))
        out = check.done()
        if "contact" in given:
            out["contact_id"] = rec.contact_filter(tx, given["contact"])
        return CaseFilter(**out)
