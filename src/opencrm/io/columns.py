"""The columns of every export: stable English headers, one typed value per cell.

The headers are part of the public format (listed in docs/import-export.md) so that the
import reads our exports back: keep them stable. Conventions:

- several values in one cell (tags, managers, participants, several infos of one kind) are
  separated by a line break (none of those values can hold one);
- money is an amount column and a currency column; dates and datetimes are typed values
  (datetimes in UTC); ids are the record ids, so that a re-import can match rows;
- contact infos have one column per type and category (``Email (work)``), addresses one per
  part (``Address (work): city``); within a cell the primary value comes first;
- every custom field of the entity has a column ``Custom: <label>`` (the id is added when two
  fields share a label).

Names of linked records (a person's company, an opportunity's client) are looked up as the
exporting user reads them (empty when they may not), with a bounded cache.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from opencrm.core.entities.contacts import Company, Contact, InfoType, Person
from opencrm.core.entities.lists import CustomField, ListKind
from opencrm.errors import NotFound

__all__ = ["SEPARATOR", "Sheet", "sheet_for"]

#: Between several values in one cell.
SEPARATOR = "\n"
_ADDRESS_PARTS = ("street", "city", "state", "zip", "country")
_CACHE = 20_000
_STAMPS = ["Created at", "Created by", "Updated at", "Updated by"]


def _no_prefetch(records: Sequence[Any]) -> None:
    return None


@attrs.frozen
class Sheet:
    """The header of an export, how one record becomes a row, and what to look up once per
    page of records before their rows are made (the names of linked contacts)."""

    header: list[str]
    row: Callable[[Any], list[Any]]
    prefetch: Callable[[Sequence[Any]], None] = _no_prefetch


def _join(values: Sequence[Any]) -> str:
    return SEPARATOR.join(str(v) for v in values)


def _stamps(r: Any) -> list[Any]:
    return [r.created_at, r.created_by, r.updated_at, r.updated_by]


class _Names:
    """Display names of linked records, read as the exporting user may (bounded cache)."""

    def __init__(self, session: Any) -> None:
        self._s = session
        self._cache: dict[tuple[str, int], str] = {}

    def prefetch(self, contact_ids: Iterable[int | None]) -> None:
        """Look up, in one go, the names of the contacts not known yet."""
        missing = {i for i in contact_ids if i is not None and ("contacts", i) not in self._cache}
        if not missing:
            return
        if len(self._cache) + len(missing) > _CACHE:
            self._cache.clear()
        found = self._s.contacts.names(sorted(missing))
        for cid in missing:
            self._cache[("contacts", cid)] = found.get(cid, "")

    def _get(self, area: str, record_id: int | None) -> str:
        if record_id is None:
            return ""
        key = (area, record_id)
        found = self._cache.get(key)
        if found is None:
            try:
                record = getattr(self._s, area).get(record_id)
                found = str(getattr(record, "display_name", None) or record.title)
            except NotFound:
                found = ""
            if len(self._cache) >= _CACHE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def contact(self, contact_id: int | None) -> str:
        return self._get("contacts", contact_id)

    def opportunity(self, opportunity_id: int | None) -> str:
        return self._get("opportunities", opportunity_id)

    def case(self, case_id: int | None) -> str:
        return self._get("cases", case_id)


def _custom(session: Any, entity_types: Sequence[str]) -> list[CustomField]:
    fields = [
        f for f in session.fields.list() if f.entity_type in entity_types and f.type != "heading"
    ]
    return sorted(fields, key=lambda f: (f.entity_type, f.sort_order, f.id))


def _value(field: CustomField, value: Any) -> Any:
    """A custom value as a typed cell: a date field's ISO text as a date."""
    if field.type == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _custom_headers(fields: Sequence[CustomField]) -> list[str]:
    labels = [f.label for f in fields]
    return [
        f"Custom: {f.label}" + (f" (#{f.id})" if labels.count(f.label) > 1 else "") for f in fields
    ]


def _info_columns() -> list[tuple[InfoType, str, str | None, str]]:
    """(type, category, address part or None, header) of every contact info column."""
    cols: list[tuple[InfoType, str, str | None, str]] = []
    for kind in InfoType:
        for category in kind.categories:
            if kind is InfoType.ADDRESS:
                for part in _ADDRESS_PARTS:
                    cols.append((kind, category, part, f"Address ({category}): {part}"))
            else:
                cols.append((kind, category, None, f"{kind.value.capitalize()} ({category})"))
    return cols


#: Every contact info column, in order.
INFO_COLUMNS = _info_columns()


# (type, category) -> [(position among the info columns, address part or None)]
_INFO_SLOTS: dict[tuple[str, str], list[tuple[int, str | None]]] = {}
for _n, (_kind, _category, _part, _) in enumerate(INFO_COLUMNS):
    _INFO_SLOTS.setdefault((str(_kind), _category), []).append((_n, _part))


def _infos(contact: Contact) -> list[str]:
    out = [""] * len(INFO_COLUMNS)
    if not contact.infos:
        return out
    grouped: dict[tuple[str, str], list[Any]] = {}
    for info in sorted(contact.infos, key=lambda i: not i.is_primary):
        grouped.setdefault((str(info.type), info.category), []).append(info)
    for key, found in grouped.items():
        for n, part in _INFO_SLOTS.get(key, ()):
            if part is None:
                out[n] = _join([i.value for i in found])
            else:
                out[n] = _join([getattr(i.address, part, "") if i.address else "" for i in found])
    return out


def contacts_sheet(session: Any) -> Sheet:
    titles = {
        **{i.id: i.title for i in session.lists.items(ListKind.CONTACT_TYPE)},
        **{i.id: i.title for i in session.lists.items(ListKind.TEMPERATURE)},
    }
    fields = _custom(session, ("contact", "person", "company"))
    names = _Names(session)
    header = [
        "Id",
        "Kind",
        "First name",
        "Last name",
        "Company name",
        "Company id",
        "Job title",
        "Industry",
        "Type",
        "Temperature",
        "Currency",
        "About",
        "Access",
        "Managers",
        "Tags",
        *[c[3] for c in INFO_COLUMNS],
        *_custom_headers(fields),
        *_STAMPS,
    ]

    def row(c: Contact) -> list[Any]:
        if isinstance(c, Person):
            person = [c.first_name, c.last_name, names.contact(c.company_id), c.company_id]
            job, industry = c.job_title, ""
        else:
            assert isinstance(c, Company)
            person, job, industry = ["", "", c.name, None], "", c.industry
        return [
            c.id,
            c.kind,
            *person,
            job,
            industry,
            titles.get(c.contact_type_id, "") if c.contact_type_id else "",
            titles.get(c.temperature_id, "") if c.temperature_id else "",
            c.currency,
            c.about,
            str(c.access),
            _join(sorted(c.managers)),
            _join(sorted(c.tags)),
            *_infos(c),
            *[_value(f, c.custom.get(f.id)) if f.applies_to(c.kind) else None for f in fields],
            *_stamps(c),
        ]

    def prefetch(page: Sequence[Any]) -> None:
        names.prefetch(getattr(c, "company_id", None) for c in page)

    return Sheet(header, row, prefetch)


def opportunities_sheet(session: Any) -> Sheet:
    stages = {s.id: s for s in session.lists.stages()}
    fields = _custom(session, ("opportunity",))
    names = _Names(session)
    header = [
        "Id",
        "Title",
        "Client",
        "Client id",
        "Other participants",
        "Participant ids",
        "Description",
        "Currency",
        "Amount",
        "Bid type",
        "Period count",
        "Expected close date",
        "Actual close date",
        "Responsible",
        "Stage",
        "Stage type",
        "Probability %",
        "Tags",
        "Restricted",
        "Access list",
        *_custom_headers(fields),
        *_STAMPS,
    ]

    def row(o: Any) -> list[Any]:
        stage = stages.get(o.stage_id)
        members = sorted(o.members)
        return [
            o.id,
            o.title,
            names.contact(o.contact_id),
            o.contact_id,
            _join([names.contact(m) for m in members]),
            _join(members),
            o.description,
            str(o.budget.currency),
            o.budget.amount,
            str(o.bid_type),
            o.period_count,
            o.expected_close,
            o.actual_close,
            o.responsible,
            stage.title if stage else "",
            str(stage.type) if stage else "",
            o.probability,
            _join(sorted(o.tags)),
            o.restricted,
            _join(sorted(o.access_list)),
            *[_value(f, o.custom.get(f.id)) for f in fields],
            *_stamps(o),
        ]

    def prefetch(page: Sequence[Any]) -> None:
        names.prefetch([o.contact_id for o in page] + [m for o in page for m in o.members])

    return Sheet(header, row, prefetch)


def cases_sheet(session: Any) -> Sheet:
    fields = _custom(session, ("case",))
    names = _Names(session)
    header = [
        "Id",
        "Title",
        "Closed",
        "Participants",
        "Participant ids",
        "Tags",
        "Restricted",
        "Access list",
        *_custom_headers(fields),
        *_STAMPS,
    ]

    def row(c: Any) -> list[Any]:
        members = sorted(c.members)
        return [
            c.id,
            c.title,
            c.closed,
            _join([names.contact(m) for m in members]),
            _join(members),
            _join(sorted(c.tags)),
            c.restricted,
            _join(sorted(c.access_list)),
            *[_value(f, c.custom.get(f.id)) for f in fields],
            *_stamps(c),
        ]

    def prefetch(page: Sequence[Any]) -> None:
        names.prefetch(m for c in page for m in c.members)

    return Sheet(header, row, prefetch)


def tasks_sheet(session: Any) -> Sheet:
    categories = {i.id: i.title for i in session.lists.items(ListKind.TASK_CATEGORY)}
    names = _Names(session)
    header = [
        "Id",
        "Title",
        "Description",
        "Due at",
        "Responsible",
        "Category",
        "Contact",
        "Contact id",
        "Related entity",
        "Opportunity id",
        "Case id",
        "Alert minutes",
        "Closed",
        "Closed at",
        *_STAMPS,
    ]

    def row(t: Any) -> list[Any]:
        related = names.opportunity(t.opportunity_id) or names.case(t.case_id)
        return [
            t.id,
            t.title,
            t.description,
            t.due_at,
            t.responsible,
            categories.get(t.category_id, ""),
            names.contact(t.contact_id),
            t.contact_id,
            related,
            t.opportunity_id,
            t.case_id,
            t.alert_minutes,
            t.closed,
            t.closed_at,
            *_stamps(t),
        ]

    def prefetch(page: Sequence[Any]) -> None:
        names.prefetch(t.contact_id for t in page)

    return Sheet(header, row, prefetch)


def invoices_sheet(session: Any) -> Sheet:
    names = _Names(session)
    header = [
        "Id",
        "Number",
        "Status",
        "Issue date",
        "Due date",
        "Client",
        "Client id",
        "Consignee id",
        "Opportunity id",
        "Language",
        "Currency",
        "Exchange rate",
        "PO number",
        "Terms",
        "Notes",
        "Subtotal",
        "Tax",
        "Total",
        "Lines",
        *_STAMPS,
    ]

    def row(i: Any) -> list[Any]:
        return [
            i.id,
            i.number,
            str(i.status),
            i.issue_date,
            i.due_date,
            names.contact(i.client_id),
            i.client_id,
            i.consignee_id,
            i.opportunity_id,
            i.language,
            i.currency,
            i.exchange_rate,
            i.po_number,
            i.terms,
            i.notes,
            i.subtotal.amount,
            i.tax_total.amount,
            i.total.amount,
            len(i.lines),
            *_stamps(i),
        ]

    def prefetch(page: Sequence[Any]) -> None:
        names.prefetch(i.client_id for i in page)

    return Sheet(header, row, prefetch)


def history_sheet(session: Any) -> Sheet:
    categories = {i.id: i.title for i in session.lists.items(ListKind.HISTORY_CATEGORY)}
    names = _Names(session)
    header = [
        "Id",
        "Content",
        "Category",
        "Contact",
        "Contact id",
        "Related entity",
        "Opportunity id",
        "Case id",
        "Author",
        "Date",
        "Files",
        "Created at",
    ]

    def row(h: Any) -> list[Any]:
        return [
            h.id,
            h.content,
            categories.get(h.category_id, ""),
            names.contact(h.contact_id),
            h.contact_id,
            names.opportunity(h.opportunity_id) or names.case(h.case_id),
            h.opportunity_id,
            h.case_id,
            h.created_by,
            h.happened_at,
            _join([f.name for f in h.files]),
            h.created_at,
        ]

    def prefetch(page: Sequence[Any]) -> None:
        names.prefetch(h.contact_id for h in page)

    return Sheet(header, row, prefetch)


def products_sheet(session: Any) -> Sheet:
    taxes = {t.id: t for t in session.taxes.list()}
    header = [
        "Id",
        "Name",
        "Description",
        "SKU",
        "Price",
        "Currency",
        "Stock quantity",
        "Track inventory",
        "Tax 1 name",
        "Tax 1 rate",
        "Tax 2 name",
        "Tax 2 rate",
    ]

    def row(p: Any) -> list[Any]:
        found = [taxes[t] for t in p.tax_ids if t in taxes][:2]
        tax_cells: list[Any] = []
        for i in range(2):
            tax_cells += [found[i].name, found[i].rate] if i < len(found) else ["", None]
        return [
            p.id,
            p.title,
            p.description,
            p.sku,
            p.price.amount,
            str(p.price.currency),
            p.stock_quantity,
            p.track_inventory,
            *tax_cells,
        ]

    return Sheet(header, row)


_SHEETS: dict[str, Callable[[Any], Sheet]] = {
    "contacts": contacts_sheet,
    "opportunities": opportunities_sheet,
    "cases": cases_sheet,
    "tasks": tasks_sheet,
    "invoices": invoices_sheet,
    "history": history_sheet,
    "products": products_sheet,
}


def sheet_for(entity: str, session: Any) -> Sheet:
    """The columns of ``entity`` as ``session``'s user exports it."""
    return _SHEETS[entity](session)
