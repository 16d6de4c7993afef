"""Opportunities and stages through the public API, on every backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from moneyed import Money

from opencrm import (
    CRM,
    BidType,
    Conflict,
    NotFound,
    Opportunity,
    PermissionDenied,
    StageType,
    ValidationError,
    hookimpl,
)

NOW = dt.datetime(2027, 5, 17, 22, 30, tzinfo=dt.UTC)
TODAY = dt.date(2027, 5, 17)

TABLES = (
    "opportunities",
    "opportunity_members",
    "opportunity_access",
    "opportunity_stages",
    "entity_tags",
    "tags",
    "custom_values",
    "audit_log",
)


def counts(crm: CRM) -> dict[str, int]:
    with crm.engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES}


@pytest.fixture
def clocked(engine, directory):
    """A CRM whose clock stands still at NOW, for exact dates."""
    return CRM(engine, load_entrypoints=False, directory=directory, clock=lambda: NOW)


@pytest.fixture
def stages(admin):
    return {s.title: s for s in admin.stages.list()}


def titles(page) -> list[str]:
    return [o.title for o in page]


# --- records -------------------------------------------------------------------------------


def test_round_trip_with_every_field(admin, stages):
    acme = admin.contacts.add_company("Acme Ltd")
    joe = admin.contacts.add_person("Joe", "Smith")
    field = admin.fields.add("opportunity", "Source", "text")
    made = admin.opportunities.add(
        " Support  contract ",
        contact=acme,
        members=[joe.id],
        description="Two years.\nMaybe three.",
        budget=Money("1500.50", "EUR"),
        bid_type="per_month",
        period_count=24,
        expected_close=dt.date(2027, 3, 31),
        responsible="bob",
        stage="champion",
        tags={"Renewal", "big"},
        custom={"Source": "fair"},
        restricted=True,
        access_list={"alice"},
        project_ref="PRJ-7",
    )
    got = admin.opportunities.get(made.id)
    assert got == made
    assert isinstance(got, Opportunity)
    assert got.title == "Support contract"
    assert got.description == "Two years.\nMaybe three."
    assert (got.contact_id, got.members) == (acme.id, {acme.id, joe.id})
    assert got.budget == Money("1500.50", "EUR")
    assert isinstance(got.budget.amount, Decimal)
    assert (got.bid_type, got.period_count) == (BidType.PER_MONTH, 24)
    assert got.value == Money("36012.00", "EUR")
    assert (got.expected_close, got.actual_close) == (dt.date(2027, 3, 31), None)
    assert (got.responsible, got.stage_id, got.probability) == ("bob", stages["Champion"].id, 20)
    assert got.tags == {"Renewal", "big"}
    assert dict(got.custom) == {field.id: "fair"}
    assert admin.opportunities.custom_values(got) == {"Source": "fair"}
    assert got.restricted is True
    assert got.access_list == {"admin", "alice", "bob"}  # creator and responsible added
    assert got.project_ref == "PRJ-7"
    assert (got.created_by, got.updated_by) == ("admin", "admin")


def test_defaults(alice, stages):
    got = alice.opportunities.add("Bare")
    assert got.budget == Money("0.00", "USD")  # the seeded default currency
    assert (got.bid_type, got.period_count, got.value) == (BidType.FIXED, 1, Money(0, "USD"))
    assert got.stage_id == stages["Initial contact"].id
    assert got.probability == 1
    assert (got.responsible, got.access_list, got.restricted) == ("alice", {"alice"}, False)
    assert (got.contact_id, got.members, got.tags, got.project_ref) == (
        None,
        frozenset(),
        frozenset(),
        None,
    )


@pytest.mark.parametrize(
    ("bid_type", "budget", "periods", "value"),
    [
        ("fixed", "1200.00", 12, "1200.00"),  # the period count does not count for a fixed bid
        ("per_hour", "95.50", 40, "3820.00"),
        ("per_day", "640.25", 3, "1920.75"),
        ("per_week", "0.01", 9999, "99.99"),
        ("per_month", "1500.00", 12, "18000.00"),
        ("per_year", "99999999999.99", 2, "199999999999.98"),
    ],
)
def test_value_of_each_bid_type(admin, bid_type, budget, periods, value):
    made = admin.opportunities.add(
        "Bid", budget=Money(budget, "EUR"), bid_type=bid_type, period_count=periods
    )
    got = admin.opportunities.get(made.id)
    assert got.value == Money(value, "EUR")
    assert str(got.value.amount) == value


def test_budget_currencies_keep_their_minor_units(admin):
    yen = admin.opportunities.add("Yen", budget="1500", currency="jpy")
    dinar = admin.opportunities.add("Dinar", budget=Decimal("12.345"), currency="KWD")
    assert str(admin.opportunities.get(yen.id).budget.amount) == "1500"
    assert admin.opportunities.get(dinar.id).budget == Money("12.345", "KWD")
    # Changing only the currency keeps the amount; the new currency's decimals still apply.
    assert admin.opportunities.update(yen.id, currency="EUR").budget == Money("1500", "EUR")
    with pytest.raises(ValidationError) as info:
        admin.opportunities.update(dinar.id, currency="JPY")
    assert info.value.errors == {"budget": "has more decimals than JPY allows (0)"}


# --- stages and close dates ---------------------------------------------------------------


def test_actual_close_date_rules(clocked, users, stages):
    s = clocked.session(users["alice"])
    deal = s.opportunities.add("Deal", stage="Prospect")
    assert (deal.probability, deal.actual_close) == (75, None)

    won = s.opportunities.set_stage(deal.id, "Won")
    assert (won.stage_id, won.probability, won.actual_close) == (stages["Won"].id, 100, TODAY)
    # Moving back to an open stage clears it, and takes that stage's probability.
    reopened = s.opportunities.set_stage(deal.id, stages["Verbal"])
    assert (reopened.probability, reopened.actual_close) == (90, None)
    lost = s.opportunities.set_stage(deal.id, stages["Lost"].id, probability=5)
    assert (lost.probability, lost.actual_close) == (5, TODAY)
    # A date may be given at a closed stage, and survives unrelated edits.
    backdated = s.opportunities.update(deal.id, actual_close=dt.date(2027, 5, 1))
    assert backdated.actual_close == dt.date(2027, 5, 1)
    assert s.opportunities.update(deal.id, title="Deal 2").actual_close == dt.date(2027, 5, 1)
    # Not while open; and never cleared at a closed stage.
    with pytest.raises(ValidationError) as info:
        s.opportunities.update(deal.id, stage="Suspect", actual_close=dt.date(2027, 5, 2))
    assert info.value.errors == {
        "actual_close": "is set only for an opportunity at a won or lost stage"
    }
    with pytest.raises(ValidationError) as info:
        s.opportunities.update(deal.id, actual_close=None)
    assert info.value.errors == {"actual_close": "is required at a won or lost stage"}
    # Created at a closed stage: closed today. Given with a closed stage: that date.
    assert s.opportunities.add("Instant", stage="won").actual_close == TODAY
    given = s.opportunities.add("Given", stage="Won", actual_close=dt.date(2027, 1, 2))
    assert given.actual_close == dt.date(2027, 1, 2)
    # Re-saving the same stage changes nothing, the probability override included.
    over = s.opportunities.update(deal.id, stage="Suspect", probability=33)
    assert s.opportunities.set_stage(over.id, "Suspect") == over


def test_stage_admin_rules(admin, alice, stages):
    with pytest.raises(PermissionDenied):
        alice.stages.add("Mine", color="#123456")
    demo = admin.stages.add("Demo", color="#8A98D8", probability=40, description="Shown")
    assert (demo.color, demo.probability, demo.type, demo.sort_order) == (
        "#8a98d8",
        40,
        StageType.OPEN,
        10,
    )
    with pytest.raises(Conflict):
        admin.stages.add("demo", color="#123456")
    moved = admin.stages.update(demo.id, sort_order=0, probability=45, title="Demo done")
    assert admin.stages.list()[0].title == "Demo done"
    assert (moved.probability, moved.sort_order) == (45, 0)
    assert alice.stages.list()[0] == moved

    deal = alice.opportunities.add("Deal", stage=demo)
    assert deal.probability == 45
    with pytest.raises(Conflict, match="in use"):
        admin.stages.delete(demo.id)
    with pytest.raises(Conflict, match="in use"):
        admin.stages.update(demo.id, type="won")
    # Colour, title and probability of a stage in use may change; the deal keeps its own.
    admin.stages.update(demo.id, color="#000000", probability=50)
    assert alice.opportunities.get(deal.id).probability == 45

    # The last won / lost stage stays, and keeps its type.
    with pytest.raises(Conflict, match="last won stage"):
        admin.stages.delete(stages["Won"].id)
    with pytest.raises(Conflict, match="last lost stage"):
        admin.stages.update(stages["Lost"].id, type="open")
    second_won = admin.stages.add("Won big", color="#00ff00", probability=100, type="won")
    admin.stages.delete(stages["Won"].id)
    with pytest.raises(Conflict, match="last won stage"):
        admin.stages.delete(second_won.id)
    alice.opportunities.delete(deal.id)
    admin.stages.delete(demo.id)
    with pytest.raises(NotFound):
        admin.stages.delete(demo.id)
    assert [s.title for s in admin.stages.list()][-2:] == ["Lost", "Won big"]


def test_the_last_open_stage_stays(admin, stages):
    opens = [s for s in stages.values() if s.type is StageType.OPEN]
    for stage in opens[:-1]:
        admin.stages.delete(stage.id)
    with pytest.raises(Conflict, match="last open stage"):
        admin.stages.delete(opens[-1].id)
    assert admin.opportunities.add("Starts at the one left").stage_id == opens[-1].id


STAGE_CASES = {
    "no colour": ({"color": None}, "color"),
    "bad colour": ({"color": "red"}, "color"),
    "probability over 100": ({"probability": 101}, "probability"),
    "probability as float": ({"probability": 50.0}, "probability"),
    "unknown type": ({"type": "pending"}, "type"),
    "empty title": ({"title": " "}, "title"),
    "negative order": ({"sort_order": -1}, "sort_order"),
}


@pytest.mark.parametrize("case", sorted(STAGE_CASES))
def test_bad_stage_is_refused_and_writes_nothing(crm, admin, case):
    fields, key = STAGE_CASES[case]
    values = {"title": "Extra", "color": "#123456", **fields}
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        admin.stages.add(values.pop("title"), **values)
    assert key in info.value.errors
    assert counts(crm) == before


# --- members and contacts ------------------------------------------------------------------


def test_unreadable_contacts_are_refused_not_dropped(crm, alice, bob):
    mine = bob.contacts.add_person("Private", "Bob")
    shared = bob.contacts.add_person("Shared", "Bob", access="read")
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.opportunities.add("Deal", members=[shared, mine.id, 999_999])
    assert info.value.errors == {
        "members": f"no contact you may read with id {mine.id}, 999999",
    }
    with pytest.raises(ValidationError) as info:
        alice.opportunities.add("Deal", contact=mine)
    assert info.value.errors == {"contact": f"no contact you may read with id {mine.id}"}
    assert counts(crm) == before

    # Bob links his private contact; Alice may still edit the deal and keep it there.
    deal = bob.opportunities.add("Shared deal", contact=mine, members=[shared])
    edited = alice.opportunities.update(deal.id, title="Renamed", members=[mine.id, shared.id])
    assert edited.members == {mine.id, shared.id}
    # The main contact is always a member.
    assert alice.opportunities.update(deal.id, members=[]).members == {mine.id}


def test_deleting_a_contact_leaves_its_opportunities(admin):
    acme = admin.contacts.add_company("Acme")
    joe = admin.contacts.add_person("Joe")
    deal = admin.opportunities.add("Deal", contact=acme, members=[joe])
    admin.contacts.delete(acme.id)
    got = admin.opportunities.get(deal.id)
    assert (got.contact_id, got.members) == (None, {joe.id})
    admin.contacts.delete(joe.id)
    assert admin.opportunities.get(deal.id).members == frozenset()


def test_a_contacts_page_lists_only_readable_opportunities(admin, alice, bob):
    acme = admin.contacts.add_company("Acme", access="read")
    other = admin.contacts.add_company("Other", access="read")
    public = bob.opportunities.add("Public", contact=acme)
    hidden = bob.opportunities.add("Hidden", members=[acme], restricted=True)
    shared = bob.opportunities.add("Shared", contact=acme, restricted=True, access_list=["alice"])
    bob.opportunities.add("Elsewhere", contact=other)
    assert titles(alice.opportunities.list(contact=acme)) == ["Public", "Shared"]
    assert alice.opportunities.count(contact=acme.id) == 2
    assert titles(bob.opportunities.list(contact=acme.id)) == ["Hidden", "Public", "Shared"]
    assert titles(admin.opportunities.list(contact=acme.id)) == ["Hidden", "Public", "Shared"]
    assert {public.id, hidden.id, shared.id} == {o.id for o in bob.opportunities.list(contact=acme)}
    private = admin.contacts.add_person("Private")
    with pytest.raises(NotFound):
        alice.opportunities.list(contact=private.id)
    with pytest.raises(NotFound):
        alice.opportunities.count(contact=999_999)


# --- access ----------------------------------------------------------------------------------


def test_restricted_opportunities(admin, alice, bob, users, crm):
    carol = crm.session(users["carol"])
    deal = alice.opportunities.add(
        "Zeta secret", restricted=True, access_list=["carol"], responsible="bob"
    )
    assert deal.access_list == {"alice", "bob", "carol"}
    open_deal = alice.opportunities.add("Zeta open")
    for s in (admin, alice, bob, carol):
        assert s.opportunities.get(deal.id).title == "Zeta secret"

    # Carol (on the list) may edit but not change access; Bob (responsible) neither.
    assert carol.opportunities.update(deal.id, probability=12).probability == 12
    with pytest.raises(PermissionDenied):
        carol.opportunities.set_access(deal.id, access_list=["carol"])
    with pytest.raises(PermissionDenied):
        bob.opportunities.set_access(deal.id, restricted=False)
    with pytest.raises(PermissionDenied):
        bob.opportunities.update(open_deal.id, restricted=True)

    # The creator removes carol: she loses it everywhere. Bob stays as the responsible.
    cut = alice.opportunities.set_access(deal.id, access_list=[])
    assert cut.access_list == {"alice", "bob"}
    with pytest.raises(NotFound) as hidden:
        carol.opportunities.get(deal.id)
    assert str(hidden.value) == f"opportunity {deal.id!r} not found"
    with pytest.raises(NotFound):
        carol.opportunities.update(deal.id, title="Mine")
    with pytest.raises(NotFound):
        carol.opportunities.delete(deal.id)
    with pytest.raises(NotFound):
        carol.opportunities.set_access(deal.id, restricted=False)
    assert titles(carol.opportunities.list()) == ["Zeta open"]
    assert carol.opportunities.count() == 1
    assert titles(carol.opportunities.search("zeta")) == ["Zeta open"]
    assert titles(bob.opportunities.search("zeta")) == ["Zeta open", "Zeta secret"]
    assert admin.opportunities.count(text="zeta") == 2

    # A new responsible joins the list; an admin may open it to everyone.
    assert alice.opportunities.update(deal.id, responsible="carol").access_list == {
        "alice",
        "bob",
        "carol",
    }
    admin.opportunities.set_access(deal.id, restricted=False)
    assert users["carol"].id in carol.opportunities.get(deal.id).access_list
    assert carol.opportunities.count() == 2


def test_delete_removes_links_tags_and_custom_values(crm, admin):
    joe = admin.contacts.add_person("Joe")
    admin.fields.add("opportunity", "Source", "text")
    empty = counts(crm)
    deal = admin.opportunities.add(
        "Doomed",
        members=[joe],
        tags={"gone"},
        custom={"Source": "x"},
        restricted=True,
        access_list={"bob"},
    )
    admin.opportunities.delete(deal.id)
    after = counts(crm)
    for table in ("opportunities", "opportunity_members", "opportunity_access", "custom_values"):
        assert after[table] == empty[table], table
    assert after["entity_tags"] == empty["entity_tags"]
    with pytest.raises(NotFound):
        admin.opportunities.get(deal.id)
    assert admin.contacts.get(joe.id).display_name == "Joe"


# --- lists -----------------------------------------------------------------------------------


@pytest.fixture
def pipeline(clocked, users):
    """Five opportunities with known stages, values, dates, responsibles and tags."""
    s = clocked.session(users["admin"])
    acme = s.contacts.add_company("Acme", access="read")
    rows = [
        ("Alpha", "alice", "Suspect", "300", "fixed", 1, dt.date(2027, 6, 1), {"a"}),
        ("beta", "bob", "Won", "100", "per_month", 12, None, {"a", "b"}),
        ("Gamma", "alice", "Lost", "1000", "fixed", 1, dt.date(2027, 5, 1), set()),
        ("delta", "carol", "Prospect", "10", "per_day", 20, dt.date(2027, 7, 1), {"b"}),
        ("Epsilon", "bob", "Suspect", "50", "per_hour", 3, dt.date(2027, 6, 1), {"a"}),
    ]
    made = {}
    for title, who, stage, amount, bid, periods, expected, tagset in rows:
        made[title] = s.opportunities.add(
            title,
            responsible=who,
            stage=stage,
            budget=Money(amount, "EUR"),
            bid_type=bid,
            period_count=periods,
            expected_close=expected,
            tags=tagset,
            contact=acme if title in ("Alpha", "delta") else None,
        )
    return s, made, acme


SORTED = {
    "title": ["Alpha", "beta", "delta", "Epsilon", "Gamma"],
    "responsible": ["Alpha", "Gamma", "beta", "Epsilon", "delta"],
    "stage": ["Alpha", "Epsilon", "delta", "beta", "Gamma"],
    "value": ["Epsilon", "delta", "Alpha", "Gamma", "beta"],
    "expected_close": ["Gamma", "Alpha", "Epsilon", "delta", "beta"],
    "created": ["Alpha", "beta", "Gamma", "delta", "Epsilon"],
}


@pytest.mark.parametrize("sort", sorted(SORTED))
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_sorts_and_keyset_paging(pipeline, sort, limit):
    s, _, _ = pipeline
    for descending in (False, True):
        name = f"-{sort}" if descending else sort
        got: list[str] = []
        cursor = None
        while True:
            page = s.opportunities.list(sort=name, limit=limit, after=cursor)
            got.extend(titles(page))
            cursor = page.next_cursor
            if cursor is None:
                break
        # "created": one clock tick for all, so the id decides, in both directions.
        want = SORTED[sort][::-1] if descending else SORTED[sort]
        assert got == want, name


def test_filters_and_counts(pipeline, stages):
    s, made, acme = pipeline
    cases = [
        ({"responsible": "alice"}, ["Alpha", "Gamma"]),
        ({"stage": "Suspect"}, ["Alpha", "Epsilon"]),
        ({"stage": stages["Won"].id}, ["beta"]),
        ({"stage_type": "open"}, ["Alpha", "delta", "Epsilon"]),
        ({"stage_type": "won"}, ["beta"]),
        ({"stage_type": StageType.LOST}, ["Gamma"]),
        ({"contact": acme}, ["Alpha", "delta"]),
        ({"tags": {"a"}}, ["Alpha", "beta", "Epsilon"]),
        ({"tags": ["A", "b"]}, ["beta"]),
        ({"tags": "b"}, ["beta", "delta"]),
        ({"expected_from": dt.date(2027, 6, 1)}, ["Alpha", "delta", "Epsilon"]),
        ({"expected_to": dt.date(2027, 6, 1)}, ["Alpha", "Epsilon", "Gamma"]),
        (
            {"expected_from": dt.date(2027, 5, 2), "expected_to": dt.date(2027, 6, 30)},
            ["Alpha", "Epsilon"],
        ),
        ({"text": "eps"}, ["Epsilon"]),
        ({"text": "ps"}, []),
        ({"text": "ALP"}, ["Alpha"]),
        ({"text": "a"}, ["Alpha"]),  # one or two characters: the title starts with them
        ({"text": "ta"}, []),
        ({"text": "elt"}, ["delta"]),
        ({"text": "lta"}, ["delta"]),
        ({"text": "%"}, []),
        ({"responsible": "alice", "stage_type": "lost"}, ["Gamma"]),
        ({"responsible": None}, ["Alpha", "beta", "delta", "Epsilon", "Gamma"]),
    ]
    for filters, want in cases:
        assert titles(s.opportunities.list(limit=100, **filters)) == want, filters
        assert s.opportunities.count(**filters) == len(want), filters
    assert made["beta"].value == Money("1200.00", "EUR")


FILTER_CASES = {
    "unknown filter": ({"colour": "red"}, "colour"),
    "unknown stage": ({"stage": "Dreaming"}, "stage"),
    "bad stage type": ({"stage_type": "pending"}, "stage_type"),
    "datetime as date": (
        {"expected_from": dt.datetime(2027, 1, 1, tzinfo=dt.UTC)},
        "expected_from",
    ),
    "date as text": ({"expected_to": "2027-01-01"}, "expected_to"),
    "long text": ({"text": "x" * 256}, "text"),
    "contact as name": ({"contact": "Acme"}, "contact"),
    "responsible as number": ({"responsible": 7}, "responsible"),
}


@pytest.mark.parametrize("case", sorted(FILTER_CASES))
def test_bad_filters(alice, case):
    filters, key = FILTER_CASES[case]
    with pytest.raises(ValidationError) as info:
        alice.opportunities.list(**filters)
    assert key in info.value.errors
    with pytest.raises(ValidationError):
        alice.opportunities.count(**filters)


def test_bad_sorts_and_cursors(alice):
    with pytest.raises(ValidationError) as info:
        alice.opportunities.list(sort="probability")
    assert "sort" in info.value.errors
    for _ in range(3):
        alice.opportunities.add("x")
    cursor = alice.opportunities.list(limit=1, sort="title").next_cursor
    with pytest.raises(ValidationError):
        alice.opportunities.list(limit=1, sort="value", after=cursor)
    with pytest.raises(ValidationError):
        alice.opportunities.list(after="garbage")


# --- bad input -------------------------------------------------------------------------------

CREATE_CASES = {
    "unknown field": ({"colour": "red"}, "colour"),
    "read-only value": ({"value": 5}, "value"),
    "read-only id": ({"id": 7}, "id"),
    "float budget": ({"budget": 12.5, "currency": "EUR"}, "budget"),
    "too many decimals": ({"budget": Money(Decimal("1.234"), "EUR")}, "budget"),
    "negative budget": ({"budget": Money("-1", "EUR")}, "budget"),
    "huge budget": ({"budget": Money("100000000000", "EUR")}, "budget"),
    "not a number": ({"budget": "lots", "currency": "EUR"}, "budget"),
    "NaN": ({"budget": Decimal("NaN"), "currency": "EUR"}, "budget"),
    "unknown currency": ({"budget": "10", "currency": "XYZ"}, "currency"),
    "conflicting currency": ({"budget": Money("10", "EUR"), "currency": "USD"}, "currency"),
    "bid type": ({"bid_type": "per_decade"}, "bid_type"),
    "zero periods": ({"period_count": 0}, "period_count"),
    "too many periods": ({"period_count": 10_000}, "period_count"),
    "probability": ({"probability": 101}, "probability"),
    "probability as bool": ({"probability": True}, "probability"),
    "unknown stage": ({"stage": 999_999}, "stage"),
    "stage as float": ({"stage": 1.0}, "stage"),
    "expected close as text": ({"expected_close": "2027-01-01"}, "expected_close"),
    "unknown responsible": ({"responsible": "mallory"}, "responsible"),
    "unknown on access list": ({"access_list": {"mallory"}}, "access_list"),
    "access list as string": ({"access_list": "alice"}, "access_list"),
    "restricted as text": ({"restricted": "yes"}, "restricted"),
    "members as one id": ({"members": 5}, "members"),
    "missing member": ({"members": [999_999]}, "members"),
    "missing contact": ({"contact": 999_999}, "contact"),
    "tags as string": ({"tags": "vip"}, "tags"),
    "unknown custom field": ({"custom": {"Shoe": "42"}}, "custom.Shoe"),
    "long project ref": ({"project_ref": "p" * 256}, "project_ref"),
    "actual close while open": ({"actual_close": dt.date(2027, 1, 1)}, "actual_close"),
}


@pytest.mark.parametrize("case", sorted(CREATE_CASES))
def test_bad_create_is_a_validation_error_and_writes_nothing(crm, alice, case):
    fields, key = CREATE_CASES[case]
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.opportunities.add("Deal", **fields)
    assert key in info.value.errors, info.value.errors
    assert counts(crm) == before


def test_every_bad_field_is_reported_at_once(crm, alice):
    before = counts(crm)
    with pytest.raises(ValidationError) as info:
        alice.opportunities.update(
            alice.opportunities.add("Deal").id,
            title="",
            probability=-1,
            period_count="3",
            budget=1.5,
            tags={"new tag"},
        )
    assert set(info.value.errors) == {"title", "probability", "period_count", "budget"}
    after = counts(crm)
    assert after["opportunities"] == before["opportunities"] + 1
    assert after["tags"] == before["tags"]  # the new tag went with the rolled-back call


def test_bad_ids(alice):
    for bad in ("1", None, 1.0, True):
        with pytest.raises(ValidationError):
            alice.opportunities.get(bad)
    with pytest.raises(NotFound):
        alice.opportunities.get(999_999)
    with pytest.raises(NotFound):
        alice.opportunities.delete(999_999)


# --- events, audit and the project hook ------------------------------------------------------


def test_events_and_audit(engine, directory, users):
    seen: list[tuple[str, dict]] = []

    class Recorder:
        @hookimpl
        def opencrm_event_committed(self, event):
            seen.append((event.name, dict(event.data)))

    crm = CRM(engine, plugins=[Recorder()], load_entrypoints=False, directory=directory)
    alice = crm.session(users["alice"])
    deal = alice.opportunities.add("Evented", responsible="bob", tags={"new opp tag"})
    assert seen == [
        ("tag.created", {}),
        ("opportunity.created", {}),
        ("opportunity.responsible_changed", {"responsible": "bob", "previous": None}),
    ]
    seen.clear()
    alice.opportunities.update(deal.id, responsible="carol")
    alice.opportunities.set_access(deal.id, restricted=True, access_list=["alice"])
    alice.opportunities.set_access(deal.id, access_list=["bob", "carol"])
    alice.opportunities.update(deal.id, probability=50)
    alice.opportunities.update(deal.id, probability=50)  # no change: no event
    alice.opportunities.set_access(deal.id, restricted=False)
    alice.opportunities.delete(deal.id)
    assert seen == [
        ("opportunity.updated", {}),
        ("opportunity.responsible_changed", {"responsible": "carol", "previous": "bob"}),
        ("opportunity.updated", {}),
        ("opportunity.access_changed", {"granted": ["carol"], "restricted": True}),
        ("opportunity.updated", {}),
        ("opportunity.access_changed", {"granted": ["bob"], "restricted": True}),
        ("opportunity.updated", {}),
        ("opportunity.updated", {}),
        ("opportunity.access_changed", {"granted": [], "restricted": False}),
        ("opportunity.deleted", {}),
    ]
    trail = crm.session(users["admin"]).settings.audit_trail(entity_type="opportunity")
    assert [e.action for e in trail][:2] == ["opportunity.deleted", "opportunity.access_changed"]
    created = trail[-1]
    assert created.action == "opportunity.created"
    assert created.after["budget"] == {"amount": "0.00", "currency": "USD"}
    assert created.after["responsible"] == "bob"


def test_restricted_creation_grants_the_list(engine, directory, users):
    grants = []

    class Grants:
        @hookimpl
        def opencrm_event_committed(self, event):
            if event.name.endswith("access_changed"):
                grants.append((event.name, list(event.data["granted"])))

    crm = CRM(engine, plugins=[Grants()], load_entrypoints=False, directory=directory)
    s = crm.session(users["alice"])
    s.opportunities.add("Secret", restricted=True, access_list=["carol"], responsible="bob")
    s.opportunities.add("Public", access_list=["carol"])
    assert grants == [("opportunity.access_changed", ["bob", "carol"])]


def test_project_hook(engine, directory, users):
    class Projects:
        @hookimpl
        def opencrm_opportunity_project(self, crm, opportunity):
            return {"ref": opportunity.project_ref, "crm": crm} if opportunity.project_ref else None

    class Fallback:
        @hookimpl(trylast=True)
        def opencrm_opportunity_project(self, opportunity):
            return "fallback"

    crm = CRM(engine, plugins=[Fallback(), Projects()], load_entrypoints=False, directory=directory)
    alice = crm.session(users["alice"])
    linked = alice.opportunities.add("Linked", project_ref=" PRJ-7 ")
    assert linked.project_ref == "PRJ-7"
    assert alice.opportunities.project(linked) == {"ref": "PRJ-7", "crm": crm}
    unlinked = alice.opportunities.add("Unlinked")
    assert alice.opportunities.project(unlinked.id) == "fallback"  # the first non-None answer
    assert alice.opportunities.update(linked.id, project_ref=None).project_ref is None
    hidden = crm.session(users["bob"]).opportunities.add("Hidden", restricted=True)
    with pytest.raises(NotFound):
        alice.opportunities.project(hidden.id)
    bare = CRM(engine, load_entrypoints=False, directory=directory)
    assert bare.session(users["alice"]).opportunities.project(linked.id) is None
