"""Contacts: persons and companies, their infos, access, tags and custom values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import attrs

from opencrm.core import contact_data as cd
from opencrm.core import matching
from opencrm.core import permissions as policy
from opencrm.core._inputs import clean_bool, clean_datetime, clean_id, clean_ids, single_line
from opencrm.core.bulk_ports import MatchQuery
from opencrm.core.entities.activities import ContactPhoto
from opencrm.core.entities.bulk import (
    MAX_SHOWN,
    DuplicateCluster,
    DuplicateMatch,
    GroupResult,
    Refusal,
)
from opencrm.core.entities.contacts import Access, Company, Contact, ContactInfo, InfoType, Person
from opencrm.core.entities.lists import ListItem, ListKind
from opencrm.core.money import clean_currency
from opencrm.core.query import (
    CONTACT_SORTS,
    DEFAULT_PAGE_SIZE,
    ContactFilter,
    Cursor,
    Page,
    PageRequest,
)
from opencrm.core.services import _contact_bulk as _bulk
from opencrm.core.services import _contact_photos as _photos
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._files import discard_files
from opencrm.core.services._records import (
    custom_filter,
    custom_values,
    given_filters,
    items_of,
    tag_titles,
    tags_filter,
    text_filter,
    user_id,
)
from opencrm.core.services.tasks import TaskService
from opencrm.errors import Conflict, NotFound, PermissionDenied, ValidationError

__all__ = ["ContactService"]

_COMMON = frozenset(
    {"contact_type", "temperature", "currency", "about", "tags", "custom", "access", "managers"}
)
_PERSON = _COMMON | {"first_name", "last_name", "job_title", "company"}
_COMPANY = _COMMON | {"name", "industry"}
_READ_ONLY = frozenset(
    {"id", "kind", "infos", "created_by", "created_at", "updated_by", "updated_at", "display_name"}
)
_FILTERS = frozenset(
    {
        "text",
        "tags",
        "temperature",
        "contact_type",
        "kind",
        "manager",
        "access",
        "company",
        "created_from",
        "created_to",
        "custom",
    }
)
_SENTINEL: Any = object()
#: The most clusters one page of :meth:`ContactService.duplicates` holds (each brings up to
#: 20 contacts with their infos, tags and managers).
MAX_CLUSTERS = 100


class ContactService:
    """Persons and companies as the acting user may see and change them.

    Reached as ``session.contacts``. Every method is one transaction; a record the user may
    not read raises the same :class:`~opencrm.errors.NotFound` as a missing one.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- create -------------------------------------------------------------------------

    def add_person(
        self,
        first_name: str,
        last_name: str = "",
        *,
        job_title: str = "",
        company: Company | int | None = None,
        email: str | None = None,
        phone: str | None = None,
        website: str | None = None,
        infos: Iterable[Mapping[str, Any]] = (),
        **fields: Any,
    ) -> Person:
        """Create a person; the creator manages it unless ``managers`` names others."""
        values: dict[str, Any] = {
            "first_name": first_name,
            "last_name": last_name,
            "job_title": job_title,
            "company": company,
        }
        return self._add(Person, values, fields, _quick_infos(email, phone, website, infos))  # type: ignore[return-value]

    def add_company(
        self,
        name: str,
        *,
        industry: str = "",
        email: str | None = None,
        phone: str | None = None,
        website: str | None = None,
        infos: Iterable[Mapping[str, Any]] = (),
        **fields: Any,
    ) -> Company:
        """Create a company; the creator manages it unless ``managers`` names others."""
        values: dict[str, Any] = {"name": name, "industry": industry}
        return self._add(Company, values, fields, _quick_infos(email, phone, website, infos))  # type: ignore[return-value]

    def _add(
        self,
        cls: type[Person] | type[Company],
        values: dict[str, Any],
        fields: dict[str, Any],
        infos: list[Mapping[str, Any]],
    ) -> Contact:
        allowed = _PERSON if cls is Person else _COMPANY
        _check_names(fields, allowed - set(values))
        with self._s._tx() as tx:
            return self._create(tx, cls, {**values, **fields}, infos)

    def _add_in(
        self,
        tx: Tx,
        cls: type[Person] | type[Company],
        values: dict[str, Any],
        *,
        email: str | None = None,
        phone: str | None = None,
        website: str | None = None,
    ) -> Contact:
        """What :meth:`add_person` and :meth:`add_company` do, inside ``tx``: for a caller
        that writes more in the same transaction (the website contact form). ``values``
        holds the fields by name (``first_name``, ``tags``, ``custom``, ...)."""
        _check_names(values, _PERSON if cls is Person else _COMPANY)
        return self._create(tx, cls, values, _quick_infos(email, phone, website, ()))

    def _create(
        self,
        tx: Tx,
        cls: type[Person] | type[Company],
        changes: Mapping[str, Any],
        infos: Iterable[Mapping[str, Any]],
    ) -> Contact:
        changes = dict(changes)
        changes.setdefault("managers", {tx.actor.id})
        base = _blank(cls, tx)
        contact = self._apply(tx, base, changes, creating=True)
        contact = attrs.evolve(contact, infos=_clean_infos(infos, self._s._ctx.phone_region))
        stored = tx.uow.contacts.add(contact)
        tx.emit("contact.created", stored, after=stored)
        if stored.managers - {tx.actor.id}:
            tx.emit(
                "contact.access_changed",
                stored,
                data={"granted": sorted(stored.managers - {tx.actor.id})},
            )
        return stored

    # --- read ---------------------------------------------------------------------------

    def get(self, contact_id: int) -> Contact:
        with self._s._tx(write=False) as tx:
            return self._readable(tx, contact_id)

    def list(
        self,
        *,
        sort: str = "name",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Contact]:
        """One page of the contacts the user may read, filtered and sorted.

        Filters: ``text``, ``tags``, ``temperature``, ``contact_type``, ``kind``
        (``"person"``/``"company"``), ``manager``, ``access``, ``company``, ``custom`` (field
        label or id -> the value it must equal, as stored), ``created_from``,
        ``created_to``. Sorts: ``name``, ``type``, ``created`` (``-`` prefix for descending).
        Pass the page's ``next_cursor`` as ``after`` for the next page.
        """
        page = PageRequest.build(sort, limit, after, CONTACT_SORTS)
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            key = tx.cursor_key("contacts")
            items, cursor = tx.uow.contacts.list(
                policy.contact_scope(tx.actor), where, key.open(page)
            )
            return key.page(items, cursor)

    def count(self, **filters: Any) -> int:
        """How many contacts the user may read match the filters (as for :meth:`list`)."""
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            return tx.uow.contacts.count(policy.contact_scope(tx.actor), where)

    def names(self, contact_ids: Iterable[Contact | int]) -> dict[int, str]:
        """The display names of the contacts among ``contact_ids`` that the user may read, by
        id, in one query (the others are left out: unknown or not readable look the same).
        At most 5,000 ids; lists and exports use it to name the contacts a page links to."""
        ids = clean_ids(contact_ids, "contact_ids", Contact, max_items=5000)
        if not ids:
            return {}
        with self._s._tx(write=False) as tx:
            found = tx.uow.contacts.get_many(ids)
            return {c.id: c.display_name for c in found if policy.can_read_contact(tx.actor, c)}

    def search(self, text: str, *, limit: int = 20, after: str | None = None) -> Page[Contact]:
        """Contacts whose name contains ``text`` (starts with it, for one or two characters),
        or whose e-mail or phone number starts with it; sorted by name.
        One page (a sequence); pass its ``next_cursor`` as ``after`` for the next one."""
        return self.list(text=text, limit=limit, after=after)

    def custom_values(self, contact: Contact | int) -> dict[str, Any]:
        """The contact's custom values by field label, as Python values (a checkbox is a
        bool, a date a ``datetime.date``), in the fields' order."""
        contact_id = contact.id if isinstance(contact, Contact) else contact
        with self._s._tx(write=False) as tx:
            found = self._readable(tx, contact_id)
            types = self._s._ctx.field_types
            return {
                f.label: types.get(f.type).load(found.custom[f.id], f.options)
                for f in tx.uow.fields.list()
                if f.id in found.custom
            }

    # --- update -------------------------------------------------------------------------

    def update(self, contact_id: int, **changes: Any) -> Contact:
        """Change fields of a contact. Unknown and read-only field names are refused."""
        with self._s._tx() as tx:
            before = self._editable(tx, contact_id)
            allowed = _PERSON if isinstance(before, Person) else _COMPANY
            _check_names(changes, allowed)
            after = self._apply(tx, before, changes, creating=False)
            return self._save(tx, before, after)

    def set_access(
        self,
        contact_id: int,
        access: Access | str | None = None,
        managers: Iterable[str] | None = None,
    ) -> Contact:
        """Change who may see the contact; allowed to whoever may edit it."""
        changes: dict[str, Any] = {}
        if access is not None:
            changes["access"] = access
        if managers is not None:
            changes["managers"] = managers
        return self.update(contact_id, **changes)

    def delete(self, contact_id: int) -> None:
        """Delete a contact with its infos, tags, custom values, links, tasks, history
        events (with their files) and photo; stored files are deleted once the deletion has
        committed.

        Refused with :class:`~opencrm.errors.Conflict` while an invoice names it.
        A company's persons stay, unlinked from it; opportunities stay, without it.
        """
        with self._s._tx() as tx:
            contact = self._readable(tx, contact_id)
            if not policy.can_delete_contact(tx.actor, contact):
                raise PermissionDenied("you may not delete this contact")
            if tx.uow.contacts.in_use_by_invoices(contact_id):
                raise Conflict("an invoice names this contact; it cannot be deleted")
            members = tx.uow.contacts.members_of(contact_id) if isinstance(contact, Company) else []
            tx.uow.lock("contact", contact_id)  # uploads to it finish first, or fail
            file_ids = list(tx.uow.history.file_ids_of(contact_id=contact_id))
            photo = tx.uow.contact_photos.delete(contact_id)
            if photo is not None:
                file_ids += [photo.large_file_id, photo.medium_file_id, photo.small_file_id]
            tx.uow.contacts.delete(contact_id)
            tx.emit("contact.deleted", contact, before=contact, data={"unlinked": list(members)})
        discard_files(self._s, file_ids)

    # --- photo --------------------------------------------------------------------------

    def set_photo(self, contact_id: int, data: bytes | IO[bytes]) -> ContactPhoto:
        """Set (or replace) the contact's photo from an uploaded image; needs edit rights
        and a CRM opened with a ``file_store`` (else :class:`~opencrm.errors.NotConfigured`).

        PNG, JPEG, GIF or WebP of at most 1 MiB and 25 megapixels, told from the bytes; it is
        stored re-encoded as three renditions (see :mod:`opencrm.core.photos`). Anything else
        (SVG, HTML, text, PDF, polyglots, corrupt files) is refused with a
        :class:`~opencrm.errors.ValidationError` naming ``photo``, and nothing is stored. The
        replaced photo's files are deleted once the change committed. Emits
        ``contact.photo_changed``."""
        return _photos.set_photo(self, contact_id, data)

    def photo_info(self, contact_id: int) -> ContactPhoto | None:
        """The contact's photo (its renditions' file ids, type and size), or None."""
        return _photos.photo_info(self, contact_id)

    def photo(self, contact_id: int, size: str = "large") -> bytes:
        """The bytes of a rendition of the contact's photo: ``large`` (fits 200x300),
        ``medium`` (82x82) or ``small`` (40x40); :class:`~opencrm.errors.NotFound` when the
        contact has no photo."""
        return _photos.photo(self, contact_id, size)

    def remove_photo(self, contact_id: int) -> None:
        """Remove the contact's photo (needs edit rights and a file store); its files go once the
        removal committed. Without a photo nothing happens. Emits ``contact.photo_removed``."""
        _photos.remove_photo(self, contact_id)

    # --- contact infos ------------------------------------------------------------------

    def add_info(
        self,
        contact_id: int,
        type: InfoType | str,
        value: Any,
        *,
        category: str | None = None,
        primary: bool = False,
    ) -> ContactInfo:
        """Add a phone, e-mail, website, profile or address; ``primary`` makes it the one
        shown first for its type (the first of a type is primary anyway)."""
        spec = {"type": type, "value": value, "category": category, "primary": primary}
        with self._s._tx() as tx:
            before = self._editable(tx, contact_id)
            [new] = _clean_infos([spec], self._s._ctx.phone_region)
            infos = _set_primary([*before.infos, new], new if primary else None)
            after = self._save(tx, before, attrs.evolve(before, infos=infos))
            return next(i for i in after.infos if i.id not in {x.id for x in before.infos})

    def update_info(
        self,
        contact_id: int,
        info_id: int,
        *,
        value: Any = _SENTINEL,
        category: str | None = None,
        primary: bool | None = None,
    ) -> ContactInfo:
        with self._s._tx() as tx:
            before = self._editable(tx, contact_id)
            old = _find_info(before, info_id)
            spec = {
                "type": old.type,
                "value": (old.address or old.value) if value is _SENTINEL else value,
                "category": category or old.category,
                "primary": old.is_primary if primary is None else primary,
            }
            [new] = _clean_infos([spec], self._s._ctx.phone_region)
            new = attrs.evolve(new, id=old.id)
            replaced = [new if i.id == info_id else i for i in before.infos]
            infos = _set_primary(replaced, new if primary else None)
            after = self._save(tx, before, attrs.evolve(before, infos=infos))
            return _find_info(after, info_id)

    def remove_info(self, contact_id: int, info_id: int) -> None:
        with self._s._tx() as tx:
            before = self._editable(tx, contact_id)
            _find_info(before, info_id)
            infos = _set_primary([i for i in before.infos if i.id != info_id], None)
            self._save(tx, before, attrs.evolve(before, infos=infos))

    # --- merge, duplicates, group operations ----------------------------------------------

    def merge(self, source: Contact | int, *, into: Contact | int) -> Contact:
        """Merge ``source`` into ``into`` (the target) in one transaction and return the
        merged target; the source is deleted.

        Everything that named the source names the target afterwards: tasks, history events
        (with their files), opportunities (main contact and members), cases, invoices as
        client and consignee, a company's persons, tags and managers (the union), custom
        values (the target's win), contact infos (the source's equal ones, by type and
        normalised value, are dropped), the photo (when the target has none). Empty fields of
        the target are filled from the source. Plugins move their own references in the
        ``opencrm_move_contact_references`` hook. Needs edit rights on both; a person merges
        only into a person, a company into a company, and nothing into itself
        (:class:`~opencrm.errors.ValidationError` naming ``source``). Emits one
        ``contact.merged``.
        """
        source_id = clean_id(source.id if isinstance(source, Contact) else source, "source")
        target_id = clean_id(into.id if isinstance(into, Contact) else into, "into")
        if source_id == target_id:
            raise ValidationError({"source": "a contact cannot be merged into itself"})
        with self._s._tx() as tx:
            target = self._editable(tx, target_id)
            found = self._editable(tx, source_id)
            ctx = self._s._ctx
            merged, file_ids = _bulk.merge(tx, ctx.hook, ctx.crm, found, target)
        discard_files(self._s, file_ids)
        return merged

    def duplicates(
        self, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[DuplicateCluster]:
        """One page of clusters of likely duplicates among the contacts the user may read:
        the same normalised e-mail, the same E.164 phone number, the same company name (case,
        accents, punctuation and legal form ignored), or the same person name at the same
        company. Ordered by reason (``company``, ``email``, ``person``, ``phone``) and key;
        pass ``next_cursor`` as ``after`` for the next page. ``limit``: 1 to 100 clusters."""
        page = PageRequest.build("reason", limit, after, ("reason",))
        if page.limit > MAX_CLUSTERS:
            raise ValidationError({"limit": f"must be a whole number from 1 to {MAX_CLUSTERS}"})
        with self._s._tx(write=False) as tx:
            key = tx.cursor_key("contact_duplicates")
            start = _cluster_cursor(key.open(page).after)
            rows = tx.uow.contact_bulk.duplicate_clusters(
                policy.contact_scope(tx.actor), start, page.limit + 1, MAX_SHOWN
            )
            more = len(rows) > page.limit
            rows = rows[: page.limit]
            by_id = {
                c.id: c for c in tx.uow.contacts.get_many(i for r in rows for i in r.member_ids)
            }
            clusters = [
                DuplicateCluster(
                    reason=r.reason,
                    key=r.key,
                    company_id=r.company_id or None,
                    size=r.size,
                    contacts=tuple(by_id[i] for i in r.member_ids if i in by_id),
                )
                for r in rows
            ]
            last = rows[-1] if more else None
            cursor = Cursor("reason", (last.reason, last.key, last.company_id)) if last else None
            return key.page(clusters, cursor)

    def duplicates_of(
        self,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        name: str | None = None,
        emails: Iterable[str] = (),
        phones: Iterable[str] = (),
        company: Company | int | None = None,
        limit: int = 20,
    ) -> Sequence[DuplicateMatch]:
        """Stored contacts the user may read that look like the one described: a person
        (``first_name``, ``last_name`` and ``company``: same name at the same company) or a
        company (``name``), with any ``emails`` and ``phones`` (compared normalised: an
        e-mail case-insensitively, a phone as E.164 in the CRM's phone region). Call it
        before creating to warn the user; creating stays allowed. At most ``limit``
        contacts, by id, each with the keys it shares."""
        limit = _clean_limit(limit)
        query = self._match_query(first_name, last_name, name, emails, phones, company)
        with self._s._tx(write=False) as tx:
            return self._matches(tx, query, limit)

    def _match_query(
        self,
        first_name: str | None,
        last_name: str | None,
        name: str | None,
        emails: Iterable[str],
        phones: Iterable[str],
        company: Company | int | None,
    ) -> MatchQuery:
        """The arguments of :meth:`duplicates_of`, checked and normalised (every bad one in
        one error)."""
        errors: dict[str, str] = {}
        emails_n: set[str] = set()
        phones_n: set[str] = set()
        region = self._s._ctx.phone_region
        for field, values, kind, out in (
            ("emails", emails, InfoType.EMAIL, emails_n),
            ("phones", phones, InfoType.PHONE, phones_n),
        ):
            if isinstance(values, str) or not isinstance(values, Iterable):
                errors[field] = "must be a list of texts"
                continue
            for n, value in enumerate(values):
                try:
                    _, normalized, _ = cd.clean_info_value(kind, value, region=region)
                except ValidationError as exc:
                    errors[f"{field}.{n}"] = next(iter(exc.errors.values()))
                    continue
                if normalized:
                    out.add(normalized)
        person = company_name = None
        try:
            if name is not None:
                company_name = matching.company_key(cd.clean_name("name", name, required=True))
            if first_name is not None:
                first = cd.clean_name("first_name", first_name, required=True)
                last = cd.clean_name("last_name", last_name or "", required=False)
                person = matching.person_key(first, last)
            company_id = (
                None
                if company is None
                else clean_id(company.id if isinstance(company, Company) else company, "company")
            )
        except ValidationError as exc:
            errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        return MatchQuery(
            emails=frozenset(emails_n),
            phones=frozenset(phones_n),
            company_key=company_name or None,
            person_key=person or None,
            company_id=company_id,
        )

    def _matches(self, tx: Tx, query: MatchQuery, limit: int) -> Sequence[DuplicateMatch]:
        rows = tx.uow.contact_bulk.matches(policy.contact_scope(tx.actor), query, limit)
        reasons: dict[int, set[str]] = {}
        for cid, reason in rows:
            reasons.setdefault(cid, set()).add(reason)
        found = tx.uow.contacts.get_many(sorted(reasons))
        return [DuplicateMatch(contact=c, reasons=tuple(sorted(reasons[c.id]))) for c in found]

    def group_add_tag(
        self, tag: str, *, ids: Iterable[int] | None = None, where: Mapping[str, Any] | None = None
    ) -> GroupResult:
        """Tag a selection: the contacts with these ``ids``, or those the contact list shows
        for the filters in ``where`` (as :meth:`list` takes them), at most
        ``MAX_SELECTION`` (10,000). Only contacts the user may edit change; the result
        names the others (see :class:`~opencrm.GroupResult`). One transaction; one
        ``contact.group_changed`` per changed contact. A new title becomes a tag."""
        with self._s._tx() as tx:
            [title] = tag_titles(tx, "contact", [tag]) if isinstance(tag, str) else [_no_tag()]
            found = tx.uow.tags.find("contact", title)
            assert found is not None
            chosen = self._selection(tx, ids, where)
            changed = tx.uow.contact_bulk.lacking_tag(chosen.ids, found.id)
            tx.uow.contact_bulk.add_tag(changed, found.id)
            _bulk.emit_each(tx, changed, lambda _: {"operation": "add_tag", "tag": title})
            return _bulk.result(chosen, changed)

    def group_remove_tag(
        self, tag: str, *, ids: Iterable[int] | None = None, where: Mapping[str, Any] | None = None
    ) -> GroupResult:
        """Remove a tag from a selection (as for :meth:`group_add_tag`)."""
        if not isinstance(tag, str):
            _no_tag()
        with self._s._tx() as tx:
            found = tx.uow.tags.find("contact", single_line(tag, "tag"))
            chosen = self._selection(tx, ids, where)
            changed = tx.uow.contact_bulk.having_tag(chosen.ids, found.id) if found else []
            if found is not None:
                tx.uow.contact_bulk.remove_tag(changed, found.id)
                title = found.title
                _bulk.emit_each(tx, changed, lambda _: {"operation": "remove_tag", "tag": title})
            return _bulk.result(chosen, changed)

    def group_set_temperature(
        self,
        temperature: ListItem | int | str | None,
        *,
        cascade: bool = False,
        ids: Iterable[int] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> GroupResult:
        """Set the temperature of a selection (as for :meth:`group_add_tag`); ``None``
        clears it. With ``cascade``, the persons of the selected companies get it too (those
        the user may edit; the others are refused)."""
        cascade = clean_bool(cascade, "cascade")
        with self._s._tx() as tx:
            item_id = _item_id(tx, ListKind.TEMPERATURE, temperature, "temperature")
            chosen = self._selection(tx, ids, where)
            targets = set(chosen.ids)
            extra: list[Refusal] = []
            if cascade:
                # Persons name companies only, so the selection's ids find the persons of
                # its companies (a person's id names nobody).
                scope = policy.contact_scope(tx.actor)
                for pid, ok in tx.uow.contact_bulk.persons_of(scope, chosen.ids):
                    if ok:
                        targets.add(pid)
                    elif pid not in targets:
                        extra.append(Refusal(id=pid, reason="not_editable"))
            before = tx.uow.contact_bulk.temperatures(targets)
            changed = sorted(i for i, t in before.items() if t != item_id)
            tx.uow.contact_bulk.set_temperature(changed, item_id, tx.actor.id, tx.now)
            _bulk.emit_each(
                tx,
                changed,
                lambda i: {"operation": "set_temperature", "from": before[i], "to": item_id},
            )
            return _bulk.result(chosen, changed, extra, targets)

    def group_set_access(
        self,
        *,
        access: Access | str | None = None,
        managers: Iterable[str] | None = None,
        add_managers: Iterable[str] = (),
        remove_managers: Iterable[str] = (),
        ids: Iterable[int] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> GroupResult:
        """Change the access level and managers of a selection (as for
        :meth:`group_add_tag`): ``managers`` replaces them, ``add_managers`` and
        ``remove_managers`` adjust them. One ``contact.access_changed`` per changed contact
        (``granted``: who became a manager, who is then told)."""
        level = None if access is None else _clean_access(access)
        replace = None if managers is None else self._s._managers(managers)
        add = self._s._managers(add_managers, "add_managers") if add_managers else frozenset()
        remove = (
            self._s._managers(remove_managers, "remove_managers")
            if remove_managers
            else frozenset()
        )
        with self._s._tx() as tx:
            chosen = self._selection(tx, ids, where)
            current = tx.uow.contact_bulk.access_of_many(chosen.ids)
            wanted = {
                i: _bulk.new_access(current[i], level, replace, add, remove) for i in chosen.ids
            }
            changes = {i: v for i, v in wanted.items() if v != current[i]}
            tx.uow.contact_bulk.set_access(changes, tx.actor.id, tx.now)
            for contact in _bulk.load_many(tx, sorted(changes)):
                old_level, old_users = current[contact.id]
                tx.emit(
                    "contact.access_changed",
                    contact,
                    data={
                        "granted": sorted(contact.managers - old_users),
                        "removed": sorted(old_users - contact.managers),
                        "access": contact.access.value,
                        "previous_access": old_level.value,
                    },
                )
            return _bulk.result(chosen, changes)

    def group_add_task(
        self,
        title: str,
        due: Any,
        *,
        notify: bool = True,
        ids: Iterable[int] | None = None,
        where: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> GroupResult:
        """Create the same task for each contact of a selection the user may edit (as for
        :meth:`group_add_tag`); ``fields`` as ``session.tasks.add`` takes them (not
        ``contact``). One ``task.created`` per task."""
        tasks = TaskService(self._s)
        with self._s._tx() as tx:
            chosen = self._selection(tx, ids, where)
            created = tasks._create_for(tx, chosen.ids, title, due, notify, fields)
            return _bulk.result(chosen, [t.contact_id for t in created if t.contact_id])

    def group_delete(
        self, *, ids: Iterable[int] | None = None, where: Mapping[str, Any] | None = None
    ) -> GroupResult:
        """Delete a selection (as for :meth:`group_add_tag`) as :meth:`delete` deletes one;
        contacts an invoice names are refused (``in_use``). One ``contact.deleted`` each."""
        with self._s._tx() as tx:
            chosen = self._selection(tx, ids, where)
            in_use = tx.uow.contact_bulk.named_by_invoices(chosen.ids)
            gone = [i for i in chosen.ids if i not in in_use]
            refusals = [Refusal(id=i, reason="in_use") for i in sorted(in_use)]
            file_ids = _bulk.delete(tx, gone)
            outcome = _bulk.result(attrs.evolve(chosen, ids=tuple(gone)), gone, refusals)
        discard_files(self._s, file_ids)
        return outcome

    def _selection(
        self,
        tx: Tx,
        ids: Iterable[int] | None,
        where: Mapping[str, Any] | None,
        *,
        edit: bool = True,
    ) -> _bulk.Selection:
        if (ids is None) == (where is None):
            raise ValidationError({"ids": "give either ids or where (contact list filters)"})
        if ids is not None:
            clean = clean_ids(ids, "ids", Contact, max_items=_bulk.MAX_SELECTION)
            if not clean:
                raise ValidationError({"ids": "name at least one contact"})
            return _bulk.select(tx, clean, None, edit=edit)
        if not isinstance(where, Mapping):
            raise ValidationError({"where": "must be a mapping of contact list filters"})
        return _bulk.select(tx, None, self._filter(tx, where), edit=edit)

    # --- internals ----------------------------------------------------------------------

    def _readable(self, tx: Tx, contact_id: int) -> Contact:
        contact_id = clean_id(contact_id, "contact_id")
        contact = tx.uow.contacts.get(contact_id)
        if contact is None or not policy.can_read_contact(tx.actor, contact):
            raise NotFound("contact", contact_id)
        return contact

    def _editable(self, tx: Tx, contact_id: int) -> Contact:
        contact = self._readable(tx, contact_id)
        if not policy.can_edit_contact(tx.actor, contact):
            raise PermissionDenied("you may not edit this contact")
        return contact

    def _save(self, tx: Tx, before: Contact, after: Contact) -> Contact:
        if after == before:
            return before
        after = attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
        stored = tx.uow.contacts.update(after)
        tx.emit("contact.updated", stored, before=before, after=stored)
        granted = _granted(before, stored)
        if granted or before.access != stored.access:
            tx.emit("contact.access_changed", stored, data={"granted": sorted(granted)})
        return stored

    def _apply(
        self, tx: Tx, contact: Contact, changes: Mapping[str, Any], *, creating: bool
    ) -> Contact:
        """Validate ``changes`` against ``contact``; collect every bad field in one error."""
        errors: dict[str, str] = {}
        new: dict[str, Any] = {}

        def check(name: str, fn: Any) -> None:
            if name in changes:
                try:
                    new[name] = fn(changes[name])
                except ValidationError as exc:
                    errors.update(exc.errors)

        check("first_name", lambda v: cd.clean_name("first_name", v, required=True))
        check("last_name", lambda v: cd.clean_name("last_name", v, required=False))
        check("job_title", lambda v: cd.clean_name("job_title", v, required=False))
        check("name", lambda v: cd.clean_name("name", v, required=True))
        check("industry", lambda v: cd.clean_name("industry", v, required=False))
        check("about", lambda v: cd.clean_text("about", v))
        check("currency", _clean_currency)
        check("access", _clean_access)
        check("managers", self._s._managers)
        if "contact_type" in changes:
            check("contact_type", lambda v: _item_id(tx, ListKind.CONTACT_TYPE, v, "contact_type"))
            new["contact_type_id"] = new.pop("contact_type", None)
        if "temperature" in changes:
            check("temperature", lambda v: _item_id(tx, ListKind.TEMPERATURE, v, "temperature"))
            new["temperature_id"] = new.pop("temperature", None)
        if "company" in changes:
            check("company", lambda v: self._company_id(tx, v, contact.id))
            new["company_id"] = new.pop("company", None)
        check("tags", lambda v: tag_titles(tx, "contact", v))
        if "custom" in changes:
            check(
                "custom",
                lambda v: custom_values(self._s, tx, contact.kind, contact.custom, v),
            )
        if errors:
            raise ValidationError(errors)
        return attrs.evolve(contact, **new)

    def _company_id(self, tx: Tx, value: object, self_id: int) -> int | None:
        if value is None:
            return None
        company_id = clean_id(value, "company", Company)
        company = tx.uow.contacts.get(company_id)
        if (
            company is None
            or not isinstance(company, Company)
            or not policy.can_read_contact(tx.actor, company)
        ):
            raise ValidationError({"company": f"no company with id {company_id}"})
        return company_id

    def _filter(self, tx: Tx, filters: Mapping[str, Any]) -> ContactFilter:
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name, value in given_filters(filters, _FILTERS).items():
            try:
                if name == "custom":
                    out["custom"] = custom_filter(
                        self._s, tx, value, ("person", "company"), "contacts"
                    )
                else:
                    out.update(_one_filter(tx, name, value))
            except ValidationError as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        if out.get("text"):
            out["phone_prefix"] = cd.search_phone_prefix(
                out["text"], region=self._s._ctx.phone_region
            )
        return ContactFilter(**out)


# --- helpers (pure or storage-read-only) ---------------------------------------------------


def _blank(cls: type[Person] | type[Company], tx: Tx) -> Contact:
    common: dict[str, Any] = {
        "id": 0,
        "created_by": tx.actor.id,
        "created_at": tx.now,
        "updated_by": tx.actor.id,
        "updated_at": tx.now,
    }
    if cls is Person:
        return Person(first_name="", **common)
    return Company(name="", **common)


def _check_names(given: Iterable[str], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    errors = {}
    for name in given:
        if name in _READ_ONLY:
            errors[name] = "is read-only"
        elif name not in allowed:
            errors[name] = "is not a field of this contact"
    if errors:
        raise ValidationError(errors)


def _clean_currency(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({"currency": "must be an ISO 4217 code such as 'EUR'"})
    return clean_currency(value)


def _clean_access(value: object) -> Access:
    try:
        return Access(str(value))
    except ValueError:
        raise ValidationError(
            {"access": "must be one of " + ", ".join(a.value for a in Access)}
        ) from None


def _item_id(tx: Tx, kind: ListKind, value: object, field: str) -> int | None:
    if value is None:
        return None
    item: ListItem | None
    if isinstance(value, ListItem):
        item = tx.uow.lists.get(value.id)
    elif isinstance(value, int) and not isinstance(value, bool):
        item = tx.uow.lists.get(clean_id(value, field))
    elif isinstance(value, str):
        item = tx.uow.lists.find(kind, single_line(value, field))
    else:
        raise ValidationError({field: "must be a list item, its id or its title"})
    if item is None or item.kind is not kind:
        raise ValidationError({field: f"no {kind.value.replace('_', ' ')} {value!r}"})
    return item.id


def _one_filter(tx: Tx, name: str, value: Any) -> dict[str, Any]:
    if name == "text":
        return {"text": text_filter(value)}
    if name == "tags":
        return {"tags": tags_filter(value)}
    if name in ("temperature", "contact_type"):
        kind = ListKind.TEMPERATURE if name == "temperature" else ListKind.CONTACT_TYPE
        return {f"{name}_id": _item_id(tx, kind, value, name)}
    if name == "kind":
        if value not in ("person", "company"):
            raise ValidationError({"kind": "must be person or company"})
        return {"kind": value}
    if name == "manager":
        return {"manager": user_id(value, "manager")}
    if name == "access":
        return {"access": _clean_access(value)}
    if name == "company":
        return {"company_id": clean_id(value, "company", Company)}
    return {name: clean_datetime(value, name)}


def _quick_infos(
    email: str | None,
    phone: str | None,
    website: str | None,
    infos: Iterable[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    quick = [
        {"type": t, "value": v}
        for t, v in (("email", email), ("phone", phone), ("website", website))
        if v is not None
    ]
    return quick + items_of(infos, "infos", "must be a list of infos")


_INFO_KEYS = frozenset({"type", "value", "category", "primary"})


def _clean_infos(specs: Iterable[Mapping[str, Any]], region: str | None) -> tuple[ContactInfo, ...]:
    out: list[ContactInfo] = []
    wanted_primary: list[ContactInfo] = []
    for n, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            raise ValidationError({f"infos.{n}": "must be a mapping with type and value"})
        extra = set(spec) - _INFO_KEYS
        if extra:
            raise ValidationError({f"infos.{n}": f"unknown keys: {', '.join(sorted(extra))}"})
        try:
            info_type = InfoType(str(spec.get("type")))
        except ValueError:
            raise ValidationError(
                {f"infos.{n}.type": f"unknown contact info type {spec.get('type')!r}"}
            ) from None
        category = spec.get("category") or info_type.categories[0]
        if category not in info_type.categories:
            raise ValidationError(
                {f"{info_type.value}.category": "must be one of " + ", ".join(info_type.categories)}
            )
        value, normalized, address = cd.clean_info_value(
            info_type, spec.get("value"), region=region
        )
        info = ContactInfo(
            id=0,
            type=info_type,
            category=category,
            value=value,
            normalized=normalized,
            address=address,
            is_primary=clean_bool(spec.get("primary", False), "primary"),
        )
        out.append(info)
        if info.is_primary:
            wanted_primary.append(info)
    result = out
    for info in wanted_primary:
        result = list(_set_primary(result, info))
    return _set_primary(result, None)


def _set_primary(
    infos: Sequence[ContactInfo], chosen: ContactInfo | None
) -> tuple[ContactInfo, ...]:
    """Keep exactly one primary per type: ``chosen`` if given, else the existing one, else the
    first of the type."""
    result: list[ContactInfo] = []
    seen: set[InfoType] = set()
    for info in infos:
        if chosen is not None and info.type is chosen.type:
            primary = info is chosen
        else:
            has_primary = any(i.is_primary for i in infos if i.type is info.type)
            primary = info.is_primary if has_primary else info.type not in seen
            if primary and info.type in seen:
                primary = False
        if primary:
            seen.add(info.type)
        result.append(
            info if info.is_primary == primary else attrs.evolve(info, is_primary=primary)
        )
    return tuple(result)


def _find_info(contact: Contact, info_id: int) -> ContactInfo:
    info_id = clean_id(info_id, "info_id", ContactInfo)
    for info in contact.infos:
        if info.id == info_id:
            return info
    raise NotFound("contact info", info_id)


def _granted(before: Contact, after: Contact) -> frozenset[str]:
    return after.managers - before.managers


def _cluster_cursor(cursor: Cursor | None) -> tuple[str, str, int] | None:
    if cursor is None:
        return None
    values = cursor.values
    if (
        len(values) != 3
        or not isinstance(values[0], str)
        or not isinstance(values[1], str)
        or not isinstance(values[2], int)
    ):
        raise ValidationError({"after": "is not a cursor of this list and sort"})
    return values[0], values[1], values[2]


def _clean_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValidationError({"limit": "must be a whole number from 1 to 100"})
    return limit


def _no_tag() -> Any:
    raise ValidationError({"tag": "must be a tag title"})
