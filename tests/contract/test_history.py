"""History events (``session.history``) through the public API, on every backend.

What an event hangs off (a contact and/or an opportunity or case) decides who reads it, and
who edits it; lists filter, sort and page only over what the user may read; attached files
live in the file store and never outlive their rows (nor are left behind by a refused
upload); every change lands in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _cursors import forge

from opencrm import (
    CRM,
    Conflict,
    HistoryEvent,
    InMemoryUserDirectory,
    LocalFileStore,
    NotConfigured,
    NotFound,
    PermissionDenied,
    User,
    ValidationError,
    hookimpl,
)

UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=2))
T0 = dt.datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
TXT = "Grüße, plain text\n".encode()
LIMIT = 4096
TABLES = ("history_events", "history_files", "audit_log")

REFUSED = {
    "svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
    "html": b"<!DOCTYPE html><html><body>hi</body></html>",
    "polyglot_png": b"\x89PNG\r\n\x1a\n<script>alert(1)</script>",
    "empty": b"",
    "too_big": PDF + b"x" * LIMIT,
}


class Clock:
    """A CRM clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at

    def tick(self, minutes: int = 1) -> None:
        self.at += dt.timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    return tmp_path / "files"


def make_crm(
    engine: sa.Engine,
    files_dir: Path | None,
    clock: Clock,
    *,
    plugins: tuple[object, ...] = (),
    directory: Any = None,
) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=directory,
        clock=clock,
        plugins=plugins,
        file_store=None if files_dir is None else LocalFileStore(files_dir, max_bytes=LIMIT),
    )


@pytest.fixture
def crm(engine: sa.Engine, directory: InMemoryUserDirectory, files_dir: Path, clock: Clock) -> CRM:
    """Overrides the shared fixture: this CRM has a file store and a fixed clock."""
    return make_crm(engine, files_dir, clock, directory=directory)


@pytest.fixture
def carol(crm: CRM, users: dict[str, User]) -> Any:
    return crm.session(users["carol"])


def counts(crm: CRM) -> dict[str, int]:
    with crm.engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES}


def on_disk(files_dir: Path) -> list[str]:
    return sorted(p.name for p in files_dir.iterdir()) if files_dir.exists() else []


def contents(page: Any) -> list[str]:
    return [e.content for e in page]


def everything(session: Any, sort: str, **filters: Any) -> list[str]:
    """Every page of a list, one event at a time."""
    got: list[str] = []
    cursor = None
    while True:
        page = session.history.list(sort=sort, limit=1, after=cursor, **filters)
        got.extend(contents(page))
        cursor = page.next_cursor
        if cursor is None:
            return got


def audit(admin: Any, event_id: int) -> list[Any]:
    return list(reversed(admin.settings.audit_trail(entity_type="history", entity_id=event_id)))


# --- creating and reading ---------------------------------------------------------------------


def test_seeded_categories(admin):
    items = admin.lists.items("history_category")
    assert [(i.title, i.system) for i in items] == [
        ("Note", False),
        ("Email", False),
        ("Phone call", False),
        ("Appointment", False),
        ("Task closed", True),
        ("Files uploaded", True),
        ("Mail message", True),
    ]


def test_round_trip(alice, admin, clock):
    joe = alice.contacts.add_person("Joe", "Bloggs")
    note = next(i for i in admin.lists.items("history_category") if i.title == "Note")
    when = dt.datetime(2024, 3, 1, 14, 15, 30, 123456, tzinfo=CET)
    clock.tick(5)
    made = alice.history.add("  Called about\nthe pump  ", "Note", contact=joe, happened_at=when)
    assert isinstance(made, HistoryEvent)
    assert made.content == "  Called about\nthe pump  "
    assert made.category_id == note.id
    assert (made.contact_id, made.opportunity_id, made.case_id, made.task_id) == (
        joe.id,
        None,
        None,
        None,
    )
    assert made.happened_at == dt.datetime(2024, 3, 1, 12, 15, 30, 123456, tzinfo=UTC)
    assert made.happened_at.utcoffset() == dt.timedelta(0)
    assert (made.created_by, made.updated_by) == ("alice", "alice")
    assert made.created_at == made.updated_at == T0 + dt.timedelta(minutes=5)
    assert made.files == ()
    got = alice.history.get(made.id)
    assert got == made
    assert got.happened_at.utcoffset() == dt.timedelta(0)


def test_happened_at_defaults_to_now(alice, clock):
    joe = alice.contacts.add_person("Joe")
    clock.tick(42)
    made = alice.history.add("Met", "Appointment", contact=joe)
    assert made.happened_at == T0 + dt.timedelta(minutes=42)
    assert alice.history.get(made.id).happened_at == T0 + dt.timedelta(minutes=42)


def test_category_as_item_id_or_title(alice):
    joe = alice.contacts.add_person("Joe")
    call = next(i for i in alice.lists.items("history_category") if i.title == "Phone call")
    for given in (call, call.id, "Phone call", "  phone   CALL "):
        assert alice.history.add("Rang", given, contact=joe).category_id == call.id


def test_links_to_opportunity_or_case_with_or_without_contact(alice):
    joe = alice.contacts.add_person("Joe")
    deal = alice.opportunities.add("Pump deal")
    claim = alice.cases.add("Claim 7")
    cases = [
        ({"opportunity": deal}, (None, deal.id, None)),
        ({"opportunity": deal.id}, (None, deal.id, None)),
        ({"case": claim}, (None, None, claim.id)),
        ({"contact": joe.id, "opportunity": deal}, (joe.id, deal.id, None)),
        ({"contact": joe, "case": claim.id}, (joe.id, None, claim.id)),
    ]
    for links, want in cases:
        made = alice.history.add("Linked", "Note", **links)
        assert (made.contact_id, made.opportunity_id, made.case_id) == want, links
        assert alice.history.get(made.id) == made


def test_content_limit(crm, alice):
    joe = alice.contacts.add_person("Joe")
    longest = alice.history.add("x" * 65_000, "Note", contact=joe)
    assert len(alice.history.get(longest.id).content) == 65_000
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.history.add("x" * 65_001, "Note", contact=joe)
    assert info.value.errors == {"content": "is longer than 65,000 characters"}
    assert counts(crm) == before


BAD_ADD = {
    "naive datetime": ({"happened_at": dt.datetime(2024, 5, 6, 9, 30)}, "happened_at"),
    "date, not datetime": ({"happened_at": dt.date(2024, 5, 6)}, "happened_at"),
    "datetime as string": ({"happened_at": "2024-05-06T09:30:00+00:00"}, "happened_at"),
    "unknown category": ({"category": "Telegram"}, "category"),
    "unknown category id": ({"category": 999_999}, "category"),
    "category as float": ({"category": 1.0}, "category"),
    "system category Task closed": ({"category": "Task closed"}, "category"),
    "system category Files uploaded": ({"category": "Files uploaded"}, "category"),
    "system category Mail message": ({"category": "Mail message"}, "category"),
    "content not a string": ({"content": 42}, "content"),
    "content as bytes": ({"content": b"note"}, "content"),
    "content blank": ({"content": " \n\t "}, "content"),
    "content with NUL": ({"content": "before\x00after"}, "content"),
    "no parent": ({"contact": None}, "contact"),
    "opportunity and case": ({"opportunity": "DEAL", "case": "CASE"}, "case"),
    "unknown contact": ({"contact": 999_999}, "contact"),
    "contact id as string": ({"contact": "1"}, "contact"),
    "contact as bool": ({"contact": True}, "contact"),
    "unknown opportunity": ({"contact": None, "opportunity": 999_999}, "opportunity"),
    "unknown case": ({"contact": None, "case": 999_999}, "case"),
    "unknown user to notify": ({"notify": ["alice", "mallory"]}, "notify"),
    "notify as one string": ({"notify": "bob"}, "notify"),
    "notify with a number": ({"notify": [7]}, "notify"),
}


def test_bad_add_is_a_validation_error_and_writes_nothing(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    stand_ins = {"DEAL": alice.opportunities.add("Deal"), "CASE": alice.cases.add("Claim")}
    before = counts(crm)
    for case, (fields, key) in BAD_ADD.items():
        values: dict[str, Any] = {"content": "Note", "category": "Note", "contact": joe, **fields}
        values = {k: stand_ins.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
        with pytest.raises(ValidationError) as info:
            alice.history.add(
                values.pop("content"), values.pop("category"), files=[("a.pdf", PDF)], **values
            )
        assert key in info.value.errors, (case, info.value.errors)
        assert counts(crm) == before, case
        assert on_disk(files_dir) == [], case


def test_unreadable_parents_are_refused_like_missing_ones(crm, alice, bob):
    secret = bob.contacts.add_person("Bob's secret")
    deal = bob.opportunities.add("Bob's deal", restricted=True)
    claim = bob.cases.add("Bob's claim", restricted=True)
    before = counts(crm)
    for links, errors in (
        ({"contact": secret}, {"contact": f"no contact you may read with id {secret.id}"}),
        (
            {"opportunity": deal.id},
            {"opportunity": f"no opportunity you may read with id {deal.id}"},
        ),
        ({"case": claim}, {"case": f"no case you may read with id {claim.id}"}),
    ):
        with pytest.raises(ValidationError) as info:
            alice.history.add("Sneaky", "Note", **links)
        assert info.value.errors == errors
    assert counts(crm) == before


def test_without_a_directory_any_user_id_may_be_notified(engine, files_dir, clock, users):
    open_crm = make_crm(engine, files_dir, clock)
    s = open_crm.session(users["alice"])
    joe = s.contacts.add_person("Joe")
    made = s.history.add("Note", "Note", contact=joe, notify=["ghost", users["bob"]])
    entry = open_crm.session(users["admin"]).settings.audit_trail(entity_type="history")[0]
    assert (entry.entity_id, entry.data["notify"]) == (str(made.id), ["bob", "ghost"])


# --- who reads and who edits ------------------------------------------------------------------


def test_an_unreadable_event_is_not_found_like_a_missing_one(alice, bob, admin):
    secret = bob.contacts.add_person("Bob's secret")
    event = bob.history.add("Private", "Note", contact=secret)
    missing = event.id + 1000
    for eid in (event.id, missing):
        for call in (
            lambda eid=eid: alice.history.get(eid),
            lambda eid=eid: alice.history.update(eid, content="Mine"),
            lambda eid=eid: alice.history.delete(eid),
            lambda eid=eid: alice.history.attach(eid, PDF, "x.pdf"),
            lambda eid=eid: alice.history.open_file(eid, 1),
            lambda eid=eid: alice.history.remove_file(eid, 1),
        ):
            with pytest.raises(NotFound) as info:
                call()
            assert str(info.value) == str(NotFound("history event", eid))
    assert (alice.history.count(), bob.history.count(), admin.history.count()) == (0, 1, 1)
    assert contents(alice.history.list()) == []
    assert admin.history.get(event.id).content == "Private"


def test_every_linked_record_must_be_readable(alice, bob, carol):
    public = alice.contacts.add_company("Acme", access="read")
    deal = alice.opportunities.add("Secret deal", restricted=True, access_list=["carol"])
    claim = alice.cases.add("Secret claim", restricted=True, access_list=["carol"])
    alice.history.add("Open", "Note", contact=public)
    hidden_deal = alice.history.add("Deal talk", "Note", contact=public, opportunity=deal)
    alice.history.add("Claim talk", "Note", contact=public, case=claim)
    assert contents(bob.history.list(contact=public)) == ["Open"]
    assert bob.history.count(contact=public) == 1
    with pytest.raises(NotFound):
        bob.history.get(hidden_deal.id)
    assert sorted(contents(carol.history.list(contact=public))) == [
        "Claim talk",
        "Deal talk",
        "Open",
    ]
    assert carol.history.count() == 3


def test_losing_read_access_hides_even_ones_own_event(alice, bob):
    acme = bob.contacts.add_company("Acme", access="read")
    mine = alice.history.add("Alice's note", "Note", contact=acme)
    bob.contacts.set_access(acme.id, access="private")
    for call in (
        lambda: alice.history.get(mine.id),
        lambda: alice.history.update(mine.id, content="Changed"),
        lambda: alice.history.delete(mine.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert alice.history.count() == 0
    assert bob.history.get(mine.id).content == "Alice's note"


def test_a_read_only_contact_lets_readers_see_but_not_change(crm, alice, bob, admin, files_dir):
    acme = alice.contacts.add_company("Acme", access="read")
    event = alice.history.add("Alice's", "Note", contact=acme, files=[("a.pdf", PDF)])
    assert bob.history.get(event.id) == event
    assert bob.history.open_file(event.id, event.files[0].id) == PDF
    before = counts(crm)
    for call in (
        lambda: bob.history.update(event.id, content="Bob's"),
        lambda: bob.history.delete(event.id),
        lambda: bob.history.attach(event.id, PNG, "b.png"),
        lambda: bob.history.remove_file(event.id, event.files[0].id),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert counts(crm) == before
    assert on_disk(files_dir) == [event.files[0].file_id]
    # The author, the contact's managers and admins may.
    assert alice.history.update(event.id, content="Alice's 2").content == "Alice's 2"
    assert admin.history.update(event.id, content="Admin's").updated_by == "admin"
    # A reader who wrote an event may change it, even on a contact they cannot edit.
    own = bob.history.add("Bob's own", "Note", contact=acme)
    assert bob.history.update(own.id, content="Bob's own 2").content == "Bob's own 2"
    assert alice.history.update(own.id, category="Email").updated_by == "alice"
    bob.history.delete(own.id)
    with pytest.raises(NotFound):
        alice.history.get(own.id)


def test_contact_editors_may_change_others_events(alice, bob, carol):
    shared = alice.contacts.add_company("Shared", access="read_write")
    managed = alice.contacts.add_company("Co-managed", managers={"alice", "bob"})
    for contact in (shared, managed):
        event = alice.history.add("Alice's", "Note", contact=contact)
        assert bob.history.update(event.id, content="Bob was here").updated_by == "bob"
        bob.history.delete(event.id)
    private = alice.history.add("Alice's", "Note", contact=managed)
    with pytest.raises(NotFound):
        carol.history.update(private.id, content="Carol")


def test_deal_readers_may_change_events_of_the_deal(alice, bob, carol):
    deal = alice.opportunities.add("Public deal")
    claim = alice.cases.add("Secret claim", restricted=True, access_list=["carol"])
    on_deal = alice.history.add("On deal", "Note", opportunity=deal)
    on_claim = alice.history.add("On claim", "Note", case=claim)
    assert bob.history.update(on_deal.id, content="Bob").updated_by == "bob"
    assert carol.history.update(on_claim.id, content="Carol").updated_by == "carol"
    with pytest.raises(NotFound):
        bob.history.update(on_claim.id, content="Bob")
    # A contact that bob may only read still decides, next to a public deal.
    acme = alice.contacts.add_company("Acme", access="read")
    both = alice.history.add("Both", "Note", contact=acme, opportunity=deal)
    with pytest.raises(PermissionDenied):
        bob.history.update(both.id, content="Bob")
    carol.history.delete(on_claim.id)
    assert alice.history.count(case=claim) == 0


# --- changing and deleting ----------------------------------------------------------------------


def test_update_changes_content_category_and_date(alice, admin, clock):
    joe = alice.contacts.add_person("Joe")
    made = alice.history.add("Draft", "Note", contact=joe, happened_at=T0)
    clock.tick(10)
    when = dt.datetime(2024, 1, 2, 3, 4, tzinfo=CET)
    changed = alice.history.update(made.id, content="Final", category="Email", happened_at=when)
    email = next(i for i in alice.lists.items("history_category") if i.title == "Email")
    assert (changed.content, changed.category_id) == ("Final", email.id)
    assert changed.happened_at == dt.datetime(2024, 1, 2, 1, 4, tzinfo=UTC)
    assert (changed.created_at, changed.updated_at) == (T0, T0 + dt.timedelta(minutes=10))
    assert changed.contact_id == joe.id
    assert alice.history.get(made.id) == changed
    # No change, no new version and no audit entry.
    assert alice.history.update(made.id, content="Final") == changed
    trail = audit(admin, made.id)
    assert [e.action for e in trail] == ["history.created", "history.updated"]
    assert (trail[1].before["content"], trail[1].after["content"]) == ("Draft", "Final")
    assert trail[1].after["happened_at"] == "2024-01-02T01:04:00+00:00"


BAD_UPDATE = {
    "naive datetime": ({"happened_at": dt.datetime(2024, 1, 1)}, "happened_at"),
    "blank content": ({"content": ""}, "content"),
    "content with NUL": ({"content": "a\x00"}, "content"),
    "too long content": ({"content": "y" * 65_001}, "content"),
    "system category": ({"category": "Task closed"}, "category"),
    "unknown category": ({"category": "Fax"}, "category"),
    "links stay": ({"contact": None}, "contact"),
    "author is read-only": ({"created_by": "bob"}, "created_by"),
    "unknown field": ({"title": "x"}, "title"),
}


def test_bad_update_is_a_validation_error_and_changes_nothing(crm, alice):
    joe = alice.contacts.add_person("Joe")
    made = alice.history.add("Kept", "Note", contact=joe)
    before = counts(crm)
    for case, (changes, key) in BAD_UPDATE.items():
        with pytest.raises(ValidationError) as info:
            alice.history.update(made.id, **changes)
        assert key in info.value.errors, (case, info.value.errors)
        assert counts(crm) == before, case
    assert alice.history.get(made.id) == made


def test_delete(crm, alice, admin):
    joe = alice.contacts.add_person("Joe")
    made = alice.history.add("Doomed", "Note", contact=joe)
    alice.history.delete(made.id)
    with pytest.raises(NotFound):
        alice.history.get(made.id)
    with pytest.raises(NotFound):
        alice.history.delete(made.id)
    trail = audit(admin, made.id)
    assert [(e.action, e.actor_id) for e in trail] == [
        ("history.created", "alice"),
        ("history.deleted", "alice"),
    ]
    assert trail[1].before["content"] == "Doomed"
    assert trail[1].after is None
    assert counts(crm)["history_events"] == 0


def test_bad_ids(alice):
    for call in (
        lambda: alice.history.get("1"),
        lambda: alice.history.get(None),
        lambda: alice.history.update(True, content="x"),
        lambda: alice.history.delete(1.0),
    ):
        with pytest.raises(ValidationError):
            call()


# --- lists: filters, sorts, paging --------------------------------------------------------------


@pytest.fixture
def timeline(alice, bob, clock) -> dict[str, Any]:
    """Events of alice and bob on a contact, a deal and a claim; created in this order, each a
    minute after the last, and happened out of order."""
    joe = alice.contacts.add_person("Joe", access="read")
    ann = alice.contacts.add_person("Ann", access="read")
    deal = alice.opportunities.add("Deal")
    claim = alice.cases.add("Claim")
    day = dt.timedelta(days=1)
    rows = [
        (alice, "Called Joe about 100% of the PUMP", "Phone call", {"contact": joe}, T0),
        (bob, "Wrote to Ann", "Email", {"contact": ann}, T0 - 2 * day),
        (alice, "Pump deal meeting", "Appointment", {"opportunity": deal}, T0 + day),
        (bob, "Claim note 100_x", "Note", {"contact": joe, "case": claim}, T0 - day),
        (alice, "Joe again", "Note", {"contact": joe}, T0),
    ]
    made = {}
    for session, content, category, links, when in rows:
        clock.tick()
        made[content] = session.history.add(content, category, happened_at=when, **links)
    return {"joe": joe, "ann": ann, "deal": deal, "claim": claim, "events": made}


NEWEST_FIRST = [
    "Pump deal meeting",
    "Joe again",  # same date as the call: the later id first
    "Called Joe about 100% of the PUMP",
    "Claim note 100_x",
    "Wrote to Ann",
]
CREATED = [
    "Called Joe about 100% of the PUMP",
    "Wrote to Ann",
    "Pump deal meeting",
    "Claim note 100_x",
    "Joe again",
]


def test_sorts_page_by_page(alice, timeline):
    assert contents(alice.history.list()) == NEWEST_FIRST
    assert alice.history.count() == 5
    for sort, want in (
        ("-date", NEWEST_FIRST),
        ("date", NEWEST_FIRST[::-1]),
        ("created", CREATED),
        ("-created", CREATED[::-1]),
    ):
        assert contents(alice.history.list(sort=sort)) == want, sort
        assert everything(alice, sort) == want, sort
        page = alice.history.list(sort=sort, limit=2)
        assert contents(page) == want[:2], sort
        rest = alice.history.list(sort=sort, limit=500, after=page.next_cursor)
        assert (contents(rest), rest.next_cursor) == (want[2:], None), sort


def test_filters(alice, users, timeline):
    joe, ann, deal, claim = (timeline[k] for k in ("joe", "ann", "deal", "claim"))
    day = dt.timedelta(days=1)
    cases = [
        ({"contact": joe}, ["Joe again", "Called Joe about 100% of the PUMP", "Claim note 100_x"]),
        ({"contact": ann.id}, ["Wrote to Ann"]),
        ({"opportunity": deal}, ["Pump deal meeting"]),
        ({"case": claim.id}, ["Claim note 100_x"]),
        ({"category": "Note"}, ["Joe again", "Claim note 100_x"]),
        ({"category": "email"}, ["Wrote to Ann"]),
        ({"author": "bob"}, ["Claim note 100_x", "Wrote to Ann"]),
        (
            {"author": users["alice"], "contact": joe},
            ["Joe again", "Called Joe about 100% of the PUMP"],
        ),
        ({"author": "nobody"}, []),
        (
            {"happened_from": T0},
            ["Pump deal meeting", "Joe again", "Called Joe about 100% of the PUMP"],
        ),
        ({"happened_to": T0}, ["Claim note 100_x", "Wrote to Ann"]),
        (
            {"happened_from": T0 - day, "happened_to": T0.astimezone(CET)},
            ["Claim note 100_x"],
        ),
        ({"text": "pump"}, ["Pump deal meeting", "Called Joe about 100% of the PUMP"]),
        ({"text": "  JOE   "}, ["Joe again", "Called Joe about 100% of the PUMP"]),
        ({"text": "100%"}, ["Called Joe about 100% of the PUMP"]),
        ({"text": "100_"}, ["Claim note 100_x"]),
        ({"text": "0%"}, ["Called Joe about 100% of the PUMP"]),
        ({"text": "_"}, ["Claim note 100_x"]),
        ({"text": "pump", "category": "Appointment"}, ["Pump deal meeting"]),
        ({"contact": None, "text": None}, NEWEST_FIRST),
    ]
    for filters, want in cases:
        assert contents(alice.history.list(**filters)) == want, filters
        assert alice.history.count(**filters) == len(want), filters
    assert everything(alice, "date", contact=joe) == [
        "Claim note 100_x",
        "Called Joe about 100% of the PUMP",
        "Joe again",
    ]


def test_text_filter_folds_case_beyond_ascii(alice):
    joe = alice.contacts.add_person("Joe")
    alice.history.add("Ärger mit der Lieferung", "Note", contact=joe)
    alice.history.add("Ещё один звонок", "Note", contact=joe)
    assert contents(alice.history.list(text="ärger")) == ["Ärger mit der Lieferung"]
    assert contents(alice.history.list(text="ЕЩЁ")) == ["Ещё один звонок"]
    assert alice.history.count(text="ÄRGER") == 1


def test_system_events_are_listed_and_filtered_by_their_category(alice, admin, clock):
    joe = alice.contacts.add_person("Joe")
    task = alice.tasks.add("Send the offer", T0 + dt.timedelta(days=2), contact=joe)
    alice.history.add("A note", "Note", contact=joe, happened_at=T0 - dt.timedelta(hours=1))
    clock.tick(30)
    alice.tasks.close(task.id)
    closed = alice.history.list(category="Task closed")
    assert [(e.content, e.task_id, e.happened_at) for e in closed] == [
        ("Send the offer", task.id, T0 + dt.timedelta(minutes=30))
    ]
    assert contents(alice.history.list(contact=joe)) == ["Send the offer", "A note"]
    assert alice.history.count(category="Files uploaded") == 0
    # Its closer edits it like any other event; it keeps its system category.
    edited = alice.history.update(closed.items[0].id, content="Sent the offer")
    assert (edited.content, edited.category_id) == ("Sent the offer", closed.items[0].category_id)
    with pytest.raises(ValidationError):
        alice.history.update(edited.id, category="Mail message")


def test_filtering_by_an_unreadable_or_missing_record_is_not_found(alice, bob):
    secret = bob.contacts.add_person("Bob's secret")
    deal = bob.opportunities.add("Bob's deal", restricted=True)
    claim = bob.cases.add("Bob's claim", restricted=True)
    for filters in (
        {"contact": secret},
        {"contact": 999_999},
        {"opportunity": deal.id},
        {"opportunity": 999_999},
        {"case": claim},
        {"case": 999_999},
    ):
        with pytest.raises(NotFound):
            alice.history.list(**filters)
        with pytest.raises(NotFound):
            alice.history.count(**filters)


class _Forged(tuple):  # type: ignore[type-arg]
    """A history list cursor to forge (and sign) once the test has its CRM."""


def _cursor(sort: str, values: list[Any]) -> _Forged:
    return _Forged((sort, values))


def _signed(crm: CRM, value: object) -> object:
    return forge(crm, "history", *value) if isinstance(value, _Forged) else value


BAD_LISTS = {
    "unknown filter": {"colour": "red"},
    "unknown sort": {"sort": "title"},
    "sort as list": {"sort": ["date"]},
    "limit 0": {"limit": 0},
    "limit too big": {"limit": 501},
    "unknown category": {"category": "Telegram"},
    "task category": {"category": "TASKCAT"},
    "naive happened_from": {"happened_from": dt.datetime(2024, 1, 1)},
    "date happened_to": {"happened_to": dt.date(2024, 1, 1)},
    "author as number": {"author": 5},
    "text as number": {"text": 5},
    "text too long": {"text": "x" * 256},
    "contact as string": {"contact": "1"},
    "garbage cursor": {"after": "not a cursor!"},
    "cursor of another sort": {"after": _cursor("-created", [{"dt": T0.isoformat()}, 1])},
    "cursor with a string id": {"after": _cursor("-date", [{"dt": T0.isoformat()}, "1"])},
    "cursor with a naive date": {"after": _cursor("-date", [{"dt": "2024-05-06T09:30:00"}, 1])},
    "cursor with too few values": {"after": _cursor("-date", [{"dt": T0.isoformat()}])},
    "cursor with a bad date": {"after": _cursor("-date", [{"dt": "yesterday"}, 1])},
}


def test_bad_list_requests_are_validation_errors(crm, alice):
    joe = alice.contacts.add_person("Joe")
    alice.history.add("Note", "Note", contact=joe)
    for case, request in BAD_LISTS.items():
        request = dict(request)
        if "after" in request:
            request["after"] = _signed(crm, request["after"])
        if request.get("category") == "TASKCAT":
            request["category"] = alice.lists.items("task_category")[0]
        with pytest.raises(ValidationError):
            alice.history.list(**request)
        if not {"sort", "limit", "after"} & set(request):
            with pytest.raises(ValidationError):
                alice.history.count(**request)
        assert contents(alice.history.list()) == ["Note"], case


def test_a_forged_cursor_with_out_of_range_values_is_a_validation_error(crm, alice):
    joe = alice.contacts.add_person("Joe")
    alice.history.add("Note", "Note", contact=joe)
    for values in (
        [{"dt": T0.isoformat()}, 2**63],  # past any integer column (SQLite: OverflowError)
        [{"dt": "9999-12-31T23:59:59-05:00"}, 1],  # past datetime.max once in UTC
        [{"dt": "0001-01-01T00:00:00+05:00"}, 1],  # before datetime.min once in UTC
    ):
        with pytest.raises(ValidationError) as info:
            alice.history.list(after=forge(crm, "history", "-date", values))
        assert info.value.errors == {"after": "is not a cursor of this list and sort"}, values
    # Past PostgreSQL's 32-bit id column but a fine SQLite integer: refused or an empty page,
    # never a database error.
    try:
        page = alice.history.list(
            after=forge(crm, "history", "-date", [{"dt": T0.isoformat()}, 2**31])
        )
    except ValidationError:
        pass
    else:
        assert contents(page) == ["Note"]


def test_a_text_filter_with_nul_is_a_validation_error(alice):
    joe = alice.contacts.add_person("Joe")
    alice.history.add("Fix the PUMP", "Note", contact=joe)
    for call in (
        lambda: alice.history.list(text="pump\x00"),  # SQLite: matches "...PUMP" (cut at NUL)
        lambda: alice.history.count(text="\x00"),  # PostgreSQL: StorageError
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert "text" in info.value.errors


# --- files ----------------------------------------------------------------------------------------


def test_files_at_add_open_and_get(alice, bob, files_dir):
    joe = alice.contacts.add_person("Joe", access="read")
    made = alice.history.add(
        "With files",
        "Email",
        contact=joe,
        files=[("offer.pdf", PDF), ("../../etc/photo.pdf", io.BytesIO(PNG)), ("notes.html", TXT)],
    )
    assert [(f.name, f.content_type, f.size, f.created_by) for f in made.files] == [
        ("offer.pdf", "application/pdf", len(PDF), "alice"),
        ("photo.pdf", "image/png", len(PNG), "alice"),
        ("notes.html", "text/plain", len(TXT), "alice"),
    ]
    assert all(f.event_id == made.id for f in made.files)
    assert alice.history.get(made.id) == made
    assert on_disk(files_dir) == sorted(f.file_id for f in made.files)
    assert [bob.history.open_file(made.id, f.id) for f in made.files] == [PDF, PNG, TXT]
    listed = alice.history.list(contact=joe).items[0]
    assert listed.files == made.files


def test_a_refused_file_at_add_writes_nothing(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    before = counts(crm)
    for kind, data in REFUSED.items():
        with pytest.raises(ValidationError) as info:
            alice.history.add("Note", "Note", contact=joe, files=[(f"{kind}.pdf", data)])
        assert list(info.value.errors) == ["file"], kind
        assert counts(crm) == before, kind
        assert on_disk(files_dir) == [], kind
    assert alice.history.count() == 0


def test_a_refused_second_file_removes_the_first_one_again(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    before = counts(crm)
    for kind, data in REFUSED.items():
        with pytest.raises(ValidationError):
            alice.history.add(
                "Note", "Note", contact=joe, files=[("ok.pdf", PDF), (f"{kind}.pdf", data)]
            )
        assert counts(crm) == before, kind
        assert on_disk(files_dir) == [], kind
    stream = io.BytesIO(PDF + b"x" * (10 * LIMIT))
    with pytest.raises(ValidationError):
        alice.history.add("Note", "Note", contact=joe, files=[("a.png", PNG), ("big.pdf", stream)])
    assert stream.tell() == LIMIT + 1
    assert counts(crm) == before
    assert on_disk(files_dir) == []


def test_a_file_without_a_name_is_refused(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    before = counts(crm)
    for files in ([("ok.pdf", PDF), ("", PNG)], [("ok.pdf", PDF), (None, PNG)]):
        with pytest.raises(ValidationError):
            alice.history.add("Note", "Note", contact=joe, files=files)
    assert counts(crm) == before
    assert on_disk(files_dir) == []


def test_malformed_files_argument_is_a_validation_error(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    before = counts(crm)
    for files in ([PDF], [("ok.pdf", PDF), ("a.pdf", PDF, "extra")], [("ok.pdf", "text")]):
        with pytest.raises(ValidationError):
            alice.history.add("Note", "Note", contact=joe, files=files)
    assert counts(crm) == before
    assert on_disk(files_dir) == []


def test_a_refused_attach_writes_nothing(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    made = alice.history.add("Note", "Note", contact=joe, files=[("ok.pdf", PDF)])
    before = counts(crm)
    for kind, data in REFUSED.items():
        with pytest.raises(ValidationError) as info:
            alice.history.attach(made.id, data, f"{kind}.png")
        assert list(info.value.errors) == ["file"], kind
        assert counts(crm) == before, kind
        assert on_disk(files_dir) == [made.files[0].file_id], kind
    with pytest.raises(ValidationError):
        alice.history.attach(made.id, PDF, "  ")
    assert counts(crm) == before
    assert alice.history.get(made.id).files == made.files


def test_attach_and_remove_file(crm, alice, admin, files_dir, clock):
    joe = alice.contacts.add_person("Joe")
    made = alice.history.add("Note", "Note", contact=joe)
    clock.tick(3)
    added = alice.history.attach(made.id, io.BytesIO(PDF), "C:\\Users\\me\\offer.pdf")
    assert (added.event_id, added.name, added.content_type, added.size) == (
        made.id,
        "offer.pdf",
        "application/pdf",
        len(PDF),
    )
    assert added.created_at == T0 + dt.timedelta(minutes=3)
    assert alice.history.get(made.id).files == (added,)
    assert alice.history.open_file(made.id, added.id) == PDF
    assert on_disk(files_dir) == [added.file_id]
    alice.history.remove_file(made.id, added.id)
    assert on_disk(files_dir) == []
    assert alice.history.get(made.id).files == ()
    with pytest.raises(NotFound):
        alice.history.open_file(made.id, added.id)
    with pytest.raises(NotFound):
        alice.history.remove_file(made.id, added.id)
    trail = audit(admin, made.id)
    assert [e.action for e in trail] == [
        "history.created",
        "history.file_added",
        "history.file_removed",
    ]
    assert trail[1].data == {"file": added.id, "name": "offer.pdf", "size": len(PDF)}
    assert trail[2].data == {"file": added.id, "name": "offer.pdf"}
    assert counts(crm)["history_files"] == 0


def test_a_file_is_reached_only_through_its_own_event(alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    one = alice.history.add("One", "Note", contact=joe, files=[("one.pdf", PDF)])
    two = alice.history.add("Two", "Note", contact=joe, files=[("two.png", PNG)])
    for call in (
        lambda: alice.history.open_file(two.id, one.files[0].id),
        lambda: alice.history.remove_file(two.id, one.files[0].id),
        lambda: alice.history.open_file(one.id, 999_999),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(ValidationError):
        alice.history.open_file(one.id, one.files[0].file_id)
    assert on_disk(files_dir) == sorted([one.files[0].file_id, two.files[0].file_id])
    assert alice.history.open_file(one.id, one.files[0].id) == PDF


def test_without_a_file_store_files_are_not_configured(engine, directory, clock, users):
    bare = make_crm(engine, None, clock, directory=directory)
    s = bare.session(users["alice"])
    joe = s.contacts.add_person("Joe")
    made = s.history.add("No files", "Note", contact=joe)
    before = counts(bare)
    for call in (
        lambda: s.history.add("Note", "Note", contact=joe, files=[("a.pdf", PDF)]),
        lambda: s.history.attach(made.id, PDF, "a.pdf"),
        lambda: s.history.open_file(made.id, 1),
    ):
        with pytest.raises(NotConfigured):
            call()
    assert counts(bare) == before
    s.history.delete(made.id)  # deleting works without a store


def test_deleting_an_event_deletes_its_files(crm, alice, files_dir):
    joe = alice.contacts.add_person("Joe")
    gone = alice.history.add("Gone", "Note", contact=joe, files=[("a.pdf", PDF), ("b.png", PNG)])
    kept = alice.history.add("Kept", "Note", contact=joe, files=[("c.pdf", PDF)])
    alice.history.delete(gone.id)
    assert on_disk(files_dir) == [kept.files[0].file_id]
    assert counts(crm)["history_files"] == 1


class Veto:
    @hookimpl
    def opencrm_before_commit(self, events):
        if any(e.name.startswith("history.") for e in events):
            raise Conflict("history is frozen")


def test_rolled_back_changes_keep_files_and_leave_none(engine, directory, files_dir, clock, users):
    crm = make_crm(engine, files_dir, clock, directory=directory)
    s = crm.session(users["alice"])
    joe = s.contacts.add_person("Joe")
    made = s.history.add("Note", "Note", contact=joe, files=[("a.pdf", PDF)])
    frozen = make_crm(engine, files_dir, clock, directory=directory, plugins=(Veto(),)).session(
        users["alice"]
    )
    before = counts(crm)
    for call in (
        lambda: frozen.history.add("New", "Note", contact=joe, files=[("b.pdf", PDF)]),
        lambda: frozen.history.attach(made.id, PNG, "c.png"),
        lambda: frozen.history.remove_file(made.id, made.files[0].id),
        lambda: frozen.history.delete(made.id),
    ):
        with pytest.raises(Conflict):
            call()
    assert counts(crm) == before
    assert on_disk(files_dir) == [made.files[0].file_id]
    assert s.history.open_file(made.id, made.files[0].id) == PDF


@pytest.mark.parametrize("parent", ["contact", "opportunity", "case"])
def test_deleting_the_parent_deletes_its_events_and_files(crm, alice, files_dir, parent):
    joe = alice.contacts.add_person("Joe")
    ann = alice.contacts.add_person("Ann")
    deal = alice.opportunities.add("Deal")
    claim = alice.cases.add("Claim")
    doomed, with_other = {
        "contact": ({"contact": joe}, {"contact": joe, "case": claim}),
        "opportunity": ({"opportunity": deal}, {"contact": ann, "opportunity": deal}),
        "case": ({"case": claim}, {"contact": ann, "case": claim}),
    }[parent]
    alice.history.add("Doomed 1", "Note", files=[("a.pdf", PDF)], **doomed)
    alice.history.add("Doomed 2", "Note", files=[("b.png", PNG), ("c.pdf", PDF)], **with_other)
    kept = alice.history.add("Kept", "Note", contact=ann, files=[("d.pdf", PDF)])
    service = {"contact": alice.contacts, "opportunity": alice.opportunities, "case": alice.cases}
    service[parent].delete(doomed[parent].id)
    assert contents(alice.history.list()) == ["Kept"]
    assert on_disk(files_dir) == [kept.files[0].file_id]
    assert counts(crm)["history_files"] == 1


# --- the audit trail ------------------------------------------------------------------------------


def test_created_event_data(alice, admin, clock):
    joe = alice.contacts.add_person("Joe", "Bloggs")
    deal = alice.opportunities.add("Pump deal")
    claim = alice.cases.add("Claim 7")
    made = alice.history.add(
        "Agreed on price",
        "Phone call",
        contact=joe,
        opportunity=deal,
        notify=["carol", "bob", "carol"],
        files=[("offer.pdf", PDF), ("photo.png", PNG)],
    )
    entry = audit(admin, made.id)[0]
    assert (entry.action, entry.actor_id, entry.entity_type, entry.at) == (
        "history.created",
        "alice",
        "history",
        T0,
    )
    assert entry.data == {
        "notify": ["bob", "carol"],
        "category": "Phone call",
        "parent": "Joe Bloggs / Pump deal",
        "files": ["offer.pdf", "photo.png"],
    }
    assert entry.before is None
    assert entry.after["content"] == "Agreed on price"
    assert [f["name"] for f in entry.after["files"]] == ["offer.pdf", "photo.png"]
    on_claim = alice.history.add("Claim only", "Note", case=claim)
    assert audit(admin, on_claim.id)[0].data == {
        "notify": [],
        "category": "Note",
        "parent": "Claim 7",
        "files": [],
    }


def test_a_task_closed_event_is_announced_like_any_other(alice, admin):
    """The system event a closed task writes carries the same data as one a user adds."""
    joe = alice.contacts.add_person("Joe", "Bloggs")
    task = alice.tasks.add("Send the offer", T0 + dt.timedelta(days=1), contact=joe)
    alice.tasks.close(task.id)
    (event,) = alice.history.list(category="Task closed")
    entry = audit(admin, event.id)[0]
    assert (entry.action, entry.actor_id) == ("history.created", "alice")
    assert entry.data == {
        "notify": [],
        "category": "Task closed",
        "parent": "Joe Bloggs",
        "files": [],
    }
