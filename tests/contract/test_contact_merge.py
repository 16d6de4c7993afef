"""Merging two contacts, on every backend: nothing that named the source is lost.

The row check discovers the tables that reference contacts from the metadata's foreign keys,
so a table added later is covered without touching this file (if merge forgets it, its rows
are cascaded away or block the delete, and the check fails)."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from tests.conftest import USERS

from opencrm import (
    CRM,
    Company,
    InMemoryUserDirectory,
    LocalFileStore,
    NotFound,
    PermissionDenied,
    Person,
    ValidationError,
    hookimpl,
)
from opencrm.storage.sqlalchemy.tables import contacts, metadata

DUE = dt.datetime(2030, 1, 15, 9, 0, tzinfo=dt.UTC)

#: Tables that point at contacts without a foreign key: (table, type column, id column).
POLYMORPHIC = {"entity_tags": "tag_id", "custom_values": "field_id"}
#: What makes two rows of a table the same row once the source id reads as the target's;
#: the target's row stays. Tables not listed must keep every row.
SAME_ROW = {
    "contact_managers": ("contact_id", "user_id"),
    "opportunity_members": ("contact_id", "opportunity_id"),
    "case_members": ("contact_id", "case_id"),
    "contact_photos": ("contact_id",),
    "contact_infos": ("contact_id", "info_type", "key"),
    "entity_tags": ("entity_id", "tag_id"),
    "custom_values": ("entity_id", "field_id"),
}
#: Columns a merge may rewrite on rows it keeps.
MAY_CHANGE = {
    "contact_infos": {"is_primary"},
    "invoices": {"billing_address_id", "delivery_address_id"},
}


def contact_references() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to contacts.id, from the metadata."""
    found = [
        (table.name, fk.parent.name)
        for table in metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table is contacts
    ]
    assert ("tasks", "contact_id") in found
    assert ("invoices", "consignee_id") in found
    return found


def snapshot_rows(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table that references contacts (plus the polymorphic ones)."""
    out: dict[str, list[dict[str, Any]]] = {}
    names = {t for t, _ in contact_references()} | set(POLYMORPHIC)
    with engine.connect() as conn:
        for name in sorted(names):
            table = metadata.tables[name]
            query = table.select()
            if name in POLYMORPHIC:
                query = query.where(table.c.entity_type == "contact")
            rows = [dict(r._mapping) for r in conn.execute(query)]
            if name == "contact_infos":
                for r in rows:
                    r["key"] = r["normalized"] if r["normalized"] is not None else r["value"]
            out[name] = rows
    return out


def expected_after(
    before: dict[str, list[dict[str, Any]]], source: int, target: int
) -> dict[str, list[dict[str, Any]]]:
    columns: dict[str, list[str]] = {}
    for name, column in contact_references():
        columns.setdefault(name, []).append(column)
    for name in POLYMORPHIC:
        columns[name] = ["entity_id"]
    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in before.items():
        mapped = []
        # The target's rows first: where both have "the same row", the target's wins.
        ordered = sorted(
            rows, key=lambda r: (all(r[c] != target for c in columns[name]), r.get("id", 0))
        )
        seen: set[tuple[Any, ...]] = set()
        for row in ordered:
            if name == "contacts" and row["id"] == source:
                continue  # the source itself goes
            moved = any(row[c] == source for c in columns[name])
            new = {k: (target if k in columns[name] and v == source else v) for k, v in row.items()}
            if name in SAME_ROW and any(new[c] == target for c in columns[name]):
                key = tuple(new[c] for c in SAME_ROW[name])
                # Only a moved row goes as a duplicate: rows the target already had stay,
                # even two equal e-mail addresses added to the target before the merge.
                if moved and key in seen:
                    continue
                seen.add(key)
            mapped.append(new)
        out[name] = mapped
    return out


def comparable(rows: list[dict[str, Any]], name: str) -> Counter[tuple[Any, ...]]:
    skip = MAY_CHANGE.get(name, set()) | (
        {"updated_at", "updated_by", "name_key", "sort_name"} if name == "contacts" else set()
    )
    return Counter(tuple(sorted((k, repr(v)) for k, v in r.items() if k not in skip)) for r in rows)


def assert_nothing_lost(
    engine: sa.Engine, before: dict[str, list[dict[str, Any]]], source: int, target: int
) -> None:
    after = snapshot_rows(engine)
    expected = expected_after(before, source, target)
    for name in sorted(before):
        want, got = expected[name], after[name]
        assert len(got) == len(want), (
            f"{name}: {len(got)} rows after the merge, expected {len(want)}"
        )
        if name == "contacts":
            # The target row itself changes (filled fields); compare the others exactly.
            want = [r for r in want if r["id"] != target]
            got = [r for r in got if r["id"] != target]
        assert comparable(got, name) == comparable(want, name), name


# --- a graph of related records -----------------------------------------------------------


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def fcrm(engine: sa.Engine, tmp_path: Path) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        file_store=LocalFileStore(tmp_path / "files"),
    )


def test_merge_moves_everything_and_loses_no_row(fcrm, engine, users):
    s = fcrm.session(users["admin"])
    field = s.fields.add("contact", "Shoe size", "text")
    other_field = s.fields.add("contact", "Region", "text")
    keep = s.contacts.add_company(
        "Acme Ltd",
        email="info@acme.example",
        tags={"Customer"},
        custom={"Shoe size": "44"},
        managers={"admin"},
    )
    twin = s.contacts.add_company(
        "ACME",
        industry="Tools",
        about="From the fair",
        tags={"Customer", "Lead"},
        custom={"Shoe size": "41", "Region": "North"},
        managers={"admin", "alice"},
        infos=[
            {"type": "email", "value": "INFO@acme.example"},
            {"type": "phone", "value": "+44 20 7946 0018"},
            {
                "type": "address",
                "value": {"street": "1 Main St", "city": "Leeds"},
                "category": "billing",
            },
        ],
    )
    kept_address = s.contacts.add_info(
        keep.id, "address", {"street": "1 Main St", "city": "Leeds"}, category="billing"
    )
    s.contacts.set_photo(twin.id, png())
    bob = s.contacts.add_person("Bob", "Smith", company=twin)
    task = s.tasks.add("Call", DUE, contact=twin)
    event = s.history.add("Met", "Note", contact=twin, files=[("notes.txt", b"hello")])
    deal = s.opportunities.add("Renewal", contact=twin, members=[twin, keep, bob])
    case = s.cases.add("Claim", members=[twin])
    address = next(i for i in s.contacts.get(twin.id).infos if i.type.value == "address")
    inv = s.invoices.add(
        client=twin,
        consignee=keep.id,
        billing_address=address.id,
        lines=[s.invoices.line("Support", price="100")],
    )
    inv2 = s.invoices.add(client=keep, consignee=twin.id, lines=[s.invoices.line("X", price="5")])
    before = snapshot_rows(engine)

    merged = s.contacts.merge(twin, into=keep)

    assert_nothing_lost(engine, before, twin.id, keep.id)
    assert isinstance(merged, Company)
    assert (merged.name, merged.industry, merged.about) == ("Acme Ltd", "Tools", "From the fair")
    assert merged.tags == {"Customer", "Lead"}
    assert merged.managers == {"admin", "alice"}
    assert dict(merged.custom) == {field.id: "44", other_field.id: "North"}
    assert [(i.type.value, i.value, i.is_primary) for i in merged.infos] == [
        ("email", "info@acme.example", True),
        ("phone", "+44 20 7946 0018", True),
        ("address", "1 Main St, Leeds", True),
    ]
    # The invoice remembered the source's address, a duplicate dropped: now the target's.
    assert s.invoices.get(inv.id).billing_address_id == kept_address.id
    assert s.contacts.photo_info(keep.id) is not None
    assert s.contacts.get(bob.id).company_id == keep.id
    assert s.tasks.get(task.id).contact_id == keep.id
    moved_event = s.history.get(event.id)
    assert moved_event.contact_id == keep.id
    assert [f.name for f in moved_event.files] == ["notes.txt"]
    got_deal = s.opportunities.get(deal.id)
    assert (got_deal.contact_id, got_deal.members) == (keep.id, {keep.id, bob.id})
    assert s.cases.get(case.id).members == {keep.id}
    assert (s.invoices.get(inv.id).client_id, s.invoices.get(inv.id).consignee_id) == (
        keep.id,
        keep.id,
    )
    assert s.invoices.get(inv2.id).consignee_id == keep.id
    with pytest.raises(NotFound):
        s.contacts.get(twin.id)


def test_merge_is_audited_as_one_event_naming_both(crm, admin, engine):
    keep = admin.contacts.add_person("Ada", "Lovelace")
    twin = admin.contacts.add_person("Ada", "", job_title="Engineer")
    with engine.connect() as conn:
        start = conn.execute(sa.text("SELECT max(id) FROM audit_log")).scalar_one()
    admin.contacts.merge(twin.id, into=keep.id)
    log = metadata.tables["audit_log"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(log.c.action, log.c.entity_type, log.c.entity_id, log.c.data)
            .where(log.c.id > start)
            .order_by(log.c.id)
        ).all()
    assert [(r.action, r.entity_type, r.entity_id) for r in rows] == [
        ("contact.merged", "contact", str(keep.id))
    ]
    data = rows[0].data
    assert (data["source_id"], data["target_id"]) == (twin.id, keep.id)
    assert data["filled"] == ["job_title"]
    assert data["source"]["first_name"] == "Ada"
    assert isinstance(admin.contacts.get(keep.id), Person)
    assert admin.contacts.get(keep.id).job_title == "Engineer"


def test_merge_into_itself_is_refused(admin):
    joe = admin.contacts.add_person("Joe")
    with pytest.raises(ValidationError) as caught:
        admin.contacts.merge(joe, into=joe)
    assert caught.value.errors == {"source": "a contact cannot be merged into itself"}
    assert admin.contacts.get(joe.id).first_name == "Joe"


def test_merge_person_and_company_is_refused(admin):
    joe = admin.contacts.add_person("Joe")
    acme = admin.contacts.add_company("Acme")
    for source, target in ((joe, acme), (acme, joe)):
        with pytest.raises(ValidationError) as caught:
            admin.contacts.merge(source, into=target)
        assert list(caught.value.errors) == ["source"]
    assert admin.contacts.count() == 2


def test_merge_needs_edit_rights_on_both(admin, alice, bob):
    mine = alice.contacts.add_person("Joe", managers={"alice"})
    readable = bob.contacts.add_person("Joe", access="read", managers={"bob"})
    hidden = bob.contacts.add_person("Joe", access="private", managers={"bob"})
    with pytest.raises(PermissionDenied):
        alice.contacts.merge(mine, into=readable)
    with pytest.raises(PermissionDenied):
        alice.contacts.merge(readable, into=mine)
    with pytest.raises(NotFound):
        alice.contacts.merge(mine, into=hidden)
    with pytest.raises(NotFound):
        alice.contacts.merge(hidden.id, into=mine)
    assert admin.contacts.count() == 3


def test_bad_ids_are_validation_errors(admin):
    joe = admin.contacts.add_person("Joe")
    for bad in ("x", -1, None, 2**70):
        with pytest.raises(ValidationError):
            admin.contacts.merge(bad, into=joe)
        with pytest.raises(ValidationError):
            admin.contacts.merge(joe, into=bad)


class Bookmarks:
    """A plugin keeping contact ids in a table of its own."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    @hookimpl
    def opencrm_move_contact_references(self, crm, uow, source, target):
        self.calls.append((source.id, target.id))
        uow.connection.execute(
            sa.text("UPDATE plugin_bookmarks SET contact_id = :t WHERE contact_id = :s"),
            {"t": target.id, "s": source.id},
        )
        if source.about == "veto":
            from opencrm import Conflict

            raise Conflict("this contact is pinned")


@pytest.fixture
def bookmarks_crm(engine: sa.Engine) -> tuple[CRM, Bookmarks]:
    plugin = Bookmarks()
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS plugin_bookmarks"))
        conn.execute(
            sa.text("CREATE TABLE plugin_bookmarks (user_id VARCHAR(20), contact_id INTEGER)")
        )
    yield CRM(engine, load_entrypoints=False, plugins=[plugin]), plugin
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE plugin_bookmarks"))


def test_the_hook_moves_plugin_references_in_the_same_transaction(bookmarks_crm, engine, users):
    crm, plugin = bookmarks_crm
    s = crm.session(users["admin"])
    keep = s.contacts.add_company("Acme")
    twin = s.contacts.add_company("ACME")
    pinned = s.contacts.add_company("Acme Inc", about="veto")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO plugin_bookmarks VALUES ('ada', :a), ('bob', :b)"),
            {"a": twin.id, "b": pinned.id},
        )
    s.contacts.merge(twin, into=keep)
    assert plugin.calls == [(twin.id, keep.id)]
    from opencrm import Conflict

    with pytest.raises(Conflict):
        s.contacts.merge(pinned, into=keep)
    with engine.connect() as conn:
        rows = sorted(
            conn.execute(sa.text("SELECT user_id, contact_id FROM plugin_bookmarks")).all()
        )
    # The vetoed merge was rolled back, the plugin's own write included.
    assert rows == [("ada", keep.id), ("bob", pinned.id)]
    assert s.contacts.get(pinned.id).about == "veto"


# --- random graphs ------------------------------------------------------------------------

LINKS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "task",
                "history",
                "deal_main",
                "deal_member",
                "case_member",
                "tag",
                "custom",
                "email",
                "manager",
                "invoice",
                "consignee",
                "person",
            ]
        ),
        st.sampled_from([0, 1, 1, 2, 3]),  # which contact (1 merges into 0)
        st.integers(0, 2),  # which value (e-mail, tag, custom value, deal, case)
    ),
    min_size=3,
    max_size=14,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(links=LINKS, kind=st.sampled_from(["person", "company"]))
# The target holds the same address twice before the merge, and so does the source: the
# target keeps both of its own, the source's go as duplicates.
@example(links=[("email", 0, 0), ("email", 0, 0), ("email", 1, 0), ("email", 1, 0)], kind="person")
def test_random_graphs_merge_without_loss(admin, engine, links, kind):
    s = admin
    field = next((f for f in s.fields.list("contact") if f.label == "Score"), None)
    field = field or s.fields.add("contact", "Score", "text")
    people = [
        s.contacts.add_company(f"Co {n}") if kind == "company" else s.contacts.add_person(f"P{n}")
        for n in range(4)
    ]
    companies = [s.contacts.add_company(f"Employer {n}") for n in range(2)]
    deals = [s.opportunities.add(f"Deal {n}") for n in range(3)]
    cases = [s.cases.add(f"Case {n}") for n in range(3)]
    line = [s.invoices.line("X", price="1")]
    for what, who, value in links:
        c = people[who]
        if what == "task":
            s.tasks.add("T", DUE, contact=c)
        elif what == "history":
            s.history.add("H", "Note", contact=c)
        elif what == "deal_main":
            s.opportunities.update(deals[value].id, contact=c.id)
        elif what == "deal_member":
            members = s.opportunities.get(deals[value].id).members | {c.id}
            s.opportunities.update(deals[value].id, members=members)
        elif what == "case_member":
            members = s.cases.get(cases[value].id).members | {c.id}
            s.cases.update(cases[value].id, members=members)
        elif what == "tag":
            s.contacts.update(c.id, tags=s.contacts.get(c.id).tags | {f"t{value}"})
        elif what == "custom":
            s.contacts.update(c.id, custom={field.id: f"v{value}"})
        elif what == "email":
            s.contacts.add_info(c.id, "email", f"m{value}@example.com")
        elif what == "manager":
            s.contacts.set_access(
                c.id, managers=s.contacts.get(c.id).managers | {["alice", "bob", "carol"][value]}
            )
        elif what == "invoice":
            s.invoices.add(client=c, lines=line)
        elif what == "consignee":
            s.invoices.add(
                client=people[3 - who if who in (0, 3) else 2], consignee=c.id, lines=line
            )
        elif what == "person" and kind == "company":
            s.contacts.add_person("Member", company=c)
        elif what == "person":
            s.contacts.update(c.id, company=companies[value % 2].id)
    before = snapshot_rows(engine)
    target_tags, source_tags = (s.contacts.get(c.id).tags for c in people[:2])
    merged = s.contacts.merge(people[1], into=people[0])
    assert_nothing_lost(engine, before, people[1].id, people[0].id)
    assert merged.tags == target_tags | source_tags


def test_the_target_keeps_its_photo_and_the_source_photo_files_go(fcrm, users, tmp_path):
    s = fcrm.session(users["admin"])
    keep = s.contacts.add_person("Ada")
    twin = s.contacts.add_person("Ada")
    s.contacts.set_photo(keep.id, png())
    s.contacts.set_photo(twin.id, png())
    kept, dropped = s.contacts.photo_info(keep.id), s.contacts.photo_info(twin.id)
    s.contacts.merge(twin, into=keep)
    assert s.contacts.photo_info(keep.id) == kept
    files = {p.name for p in (tmp_path / "files").rglob("*") if p.is_file()}
    for file_id in (kept.large_file_id, kept.medium_file_id, kept.small_file_id):
        assert any(file_id in name for name in files)
    for file_id in (dropped.large_file_id, dropped.medium_file_id, dropped.small_file_id):
        assert not any(file_id in name for name in files)
