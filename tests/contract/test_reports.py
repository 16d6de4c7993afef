"""The ten reports' figures on a hand-built dataset, on every backend.

The CRM's default currency is EUR, with 1 USD = 0.90 EUR and 1 GBP = 1.20 EUR. "Now" is
Wednesday 18 March 2026, 12:00 UTC (13:00 in Berlin, before the DST change of 29 March). Every
expected figure below is worked out by hand from the records the fixture writes; comments say
how. Weeks: en_US starts on Sunday (15-21 March), de_DE on Monday (16-22 March). The CRM is
in de_DE, so headers and row labels the reports write are German.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from moneyed import Money

from opencrm import (
    CRM,
    InMemoryUserDirectory,
    MissingExchangeRates,
    OutboxNotifier,
    User,
    hookimpl,
)
from opencrm.core.entities.voip import Call, CallDirection, CallLeg
from opencrm.core.reports import (
    Aggregate,
    Column,
    ColumnType,
    Period,
    Report,
    ReportContext,
    ReportResult,
    Table,
    Where,
)
from opencrm.core.reports.builtin import BUILTIN_REPORTS
from opencrm.errors import NotFound, PermissionDenied, ValidationError
from opencrm.storage.sqlalchemy.uow import SqlUnitOfWork

D = Decimal
NOW = dt.datetime(2026, 3, 18, 12, 0, tzinfo=dt.UTC)


def utc(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rcrm(engine: sa.Engine, directory: InMemoryUserDirectory, clock: Clock) -> CRM:
    return CRM(engine, load_entrypoints=False, directory=directory, clock=clock)


def at(clock: Clock, when: dt.datetime) -> Clock:
    clock.now = when
    return clock


@pytest.fixture
def data(rcrm: CRM, clock: Clock, users: dict[str, Any]) -> dict[str, Any]:
    """The dataset (see each block). Returns the admin session and the records' ids."""
    admin = rcrm.session(users["admin"])
    alice, bob, carol = (rcrm.session(users[u]) for u in ("alice", "bob", "carol"))
    admin.currencies.set_default("EUR")
    admin.currencies.set_rate("USD", "EUR", "0.90")
    admin.currencies.set_rate("GBP", "EUR", "1.20")
    admin.settings.set_regional(locale="de_DE", time_zone="Europe/Berlin")
    stages = {s.title: s.id for s in admin.stages.list()}

    # Contacts: C1 at 00:30 Berlin on the 18th (23:30 UTC on the 17th), C2 at 23:59 Berlin on
    # the 17th, C3 on the 18th, C4 in February.
    at(clock, utc(17, 23, 30))
    c1 = alice.contacts.add_company("C1", contact_type="Client", temperature="Hot")
    at(clock, utc(17, 22, 59))
    alice.contacts.add_company("C2")
    at(clock, utc(18, 10))
    c3 = bob.contacts.add_company(
        "C3", contact_type="Supplier", temperature="Hot", access="read_write"
    )
    at(clock, utc(10, 10, month=2))
    bob.contacts.add_company("C4", contact_type="Client", temperature="Cold")

    # Opportunities, all created on 2 March at 10:00 UTC unless said otherwise.
    at(clock, utc(2))
    add = admin.opportunities.add
    # W1 alice: 1000 USD fixed = 900 EUR, won on Sunday 15 March.
    add(
        "W1",
        budget=Money("1000", "USD"),
        responsible="alice",
        stage=stages["Won"],
        actual_close=dt.date(2026, 3, 15),
    )
    # W2 alice: 100 EUR per day x 3 = 300 EUR, won on the 18th, expected on the 17th (late).
    add(
        "W2",
        budget=Money("100", "EUR"),
        bid_type="per_day",
        period_count=3,
        responsible="alice",
        stage=stages["Won"],
        actual_close=dt.date(2026, 3, 18),
        expected_close=dt.date(2026, 3, 17),
    )
    # W3 bob: 50 GBP = 60 EUR, won on Sunday 22 March.
    add(
        "W3",
        budget=Money("50", "GBP"),
        responsible="bob",
        stage=stages["Won"],
        actual_close=dt.date(2026, 3, 22),
    )
    # L1 bob: 500 EUR, lost on the 17th.
    add(
        "L1",
        budget=Money("500", "EUR"),
        responsible="bob",
        stage=stages["Lost"],
        actual_close=dt.date(2026, 3, 17),
    )
    # O1 alice: open, 200 EUR at 25 %, expected on the 19th, contact C1.
    add(
        "O1",
        contact=c1.id,
        budget=Money("200", "EUR"),
        responsible="alice",
        stage=stages["Initial contact"],
        probability=25,
        expected_close=dt.date(2026, 3, 19),
    )
    # O2 carol: open, 400 USD = 360 EUR at 50 %, expected on the 25th.
    add(
        "O2",
        budget=Money("400", "USD"),
        responsible="carol",
        stage=stages["Prospect"],
        probability=50,
        expected_close=dt.date(2026, 3, 25),
    )
    # O3 carol, created in February: open, 1000 EUR at 10 %, expected 20 Feb (overdue).
    at(clock, utc(15, month=2))
    add(
        "O3",
        budget=Money("1000", "EUR"),
        responsible="carol",
        stage=stages["Initial contact"],
        probability=10,
        expected_close=dt.date(2026, 2, 20),
    )
    # W4 bob, created in February: 70 EUR won on 28 February.
    add(
        "W4",
        budget=Money("70", "EUR"),
        responsible="bob",
        stage=stages["Won"],
        actual_close=dt.date(2026, 2, 28),
    )
    # O4 carol, created on the 17th: open, 100 EUR, no expected date.
    at(clock, utc(17))
    add("O4", budget=Money("100", "EUR"), responsible="carol", stage=stages["Preapproach"])

    # Tasks (categories: Phone call, Demo).
    task = admin.tasks.add
    at(clock, utc(16, 10))
    t1 = task("T1", utc(17, 12), responsible="alice", category="Phone call")
    at(clock, utc(16, 11))
    task("T2", utc(17, 9), responsible="alice", category="Phone call")  # open, overdue
    at(clock, utc(10))
    t3 = task("T3", utc(16, 10), responsible="bob", category="Demo")
    at(clock, utc(18, 9))
    task("T4", utc(25), responsible="bob", category="Phone call")  # open, due later
    at(clock, utc(16, 15))
    admin.tasks.close(t1.id)  # closed before its due time
    at(clock, utc(17, 8))
    admin.tasks.close(t3.id)  # closed after its due time: overdue

    # Invoices, each of one line.
    def invoice(s: Any, amount: str, currency: str, issue: int, due: int, issue_month: int = 3):
        return s.invoices.add(
            client=c3.id,
            lines=[s.invoices.line("Work", price=amount)],
            currency=currency,
            issue_date=dt.date(2026, issue_month, issue),
            due_date=dt.date(2026, 3, due),
            exchange_rate="1",
        )

    at(clock, utc(16))
    i1 = invoice(alice, "100", "EUR", 16, 20)  # billed, due later
    admin.invoices.set_status(i1.id, "billed")
    at(clock, utc(2))
    i2 = invoice(alice, "200", "USD", 2, 17)  # billed, overdue: 180 EUR
    admin.invoices.set_status(i2.id, "billed")
    at(clock, utc(16))
    i3 = invoice(bob, "50", "EUR", 16, 16)  # paid on the 18th, after its due date
    admin.invoices.set_status(i3.id, "billed")
    at(clock, utc(10))
    i4 = invoice(bob, "10", "GBP", 10, 31)  # rejected on the 17th: 12 EUR
    admin.invoices.set_status(i4.id, "billed")
    at(clock, utc(17))
    admin.invoices.set_status(i4.id, "rejected")
    at(clock, utc(18, 10))
    admin.invoices.set_status(i3.id, "paid")
    at(clock, utc(17))
    invoice(carol, "999", "EUR", 17, 20)  # a draft: never counted
    clock.now = NOW
    return {"admin": admin, "stages": stages}


def by_label(table: Table) -> list[dict[str, Any]]:
    labels = [c.label for c in table.columns]
    return [dict(zip(labels, row, strict=True)) for row in table.rows]


def nonzero(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v not in (0, D(0))}


def build(data: dict[str, Any], name: str, period: str, **kw: Any) -> ReportResult:
    return data["admin"].reports.build(name, period=period, **kw)  # type: ignore[no-any-return]


# --- sales by managers: week starts in two locales ------------------------------------------


def test_sales_by_managers_in_de_de_weeks_start_on_monday(data: dict[str, Any]) -> None:
    result = build(data, "sales_by_managers", "this_week")
    assert (result.first_day, result.last_day) == (dt.date(2026, 3, 16), dt.date(2026, 3, 22))
    table = result.tables[0]
    assert [c.label for c in table.columns] == [
        "Manager",
        "16. März",
        "17. März",
        "18. März",
        "19. März",
        "20. März",
        "21. März",
        "22. März",
        "Gesamt",
    ]
    # W2 (300) on the 18th for Alice; W3 (50 GBP = 60) on the 22nd for Bob; W1 (the 15th)
    # is the Sunday before this week.
    z = D("0.00")
    assert table.rows == (
        ("Alice", z, z, D("300.00"), z, z, z, z, D("300.00")),
        ("Bob", z, z, z, z, z, z, D("60.00"), D("60.00")),
    )
    assert table.totals == ("Gesamt", z, z, D("300.00"), z, z, z, D("60.00"), D("360.00"))
    assert [(c.kind, c.series_in) for c in table.charts] == [("line", "rows"), ("pie", "columns")]


def test_sales_by_managers_in_en_us_weeks_start_on_sunday(data: dict[str, Any]) -> None:
    data["admin"].settings.set_regional(locale="en_US")
    table = build(data, "sales_by_managers", "this_week").tables[0]
    assert [c.label for c in table.columns][1:3] == ["Mar 15", "Mar 16"]
    z = D("0.00")
    # W1 (1000 USD = 900) on Sunday the 15th and W2 (300) on the 18th; W3 (the 22nd) is next
    # week's Sunday.
    assert table.rows == (("Alice", D("900.00"), z, z, D("300.00"), z, z, z, D("1200.00")),)


def test_sales_by_managers_filters_managers_and_splits_years_by_month(data: dict[str, Any]) -> None:
    table = build(data, "sales_by_managers", "this_week", managers=["bob"]).tables[0]
    assert [r[0] for r in table.rows] == ["Bob"]
    year = build(data, "sales_by_managers", "this_year").tables[0]
    assert [c.label for c in year.columns][1:4] == ["Januar 2026", "Februar 2026", "März 2026"]
    rows = {r[0]: (r[2], r[3], r[-1]) for r in year.rows}
    # Feb: W4 70 (Bob). March: Alice W1 900 + W2 300; Bob W3 60.
    assert rows == {
        "Alice": (D("0.00"), D("1200.00"), D("1200.00")),
        "Bob": (D("70.00"), D("60.00"), D("130.00")),
    }


# --- sales forecast ----------------------------------------------------------------------------


def test_sales_forecast_sums_budget_and_probability_by_expected_day(data: dict[str, Any]) -> None:
    table = build(data, "sales_forecast", "this_month").tables[0]
    assert len(table.rows) == 31
    days = {r[0]: (r[1], r[2]) for r in table.rows if r[1]}
    # O1: 200 x 25 % = 50 on the 19th; O2: 400 USD = 360 x 50 % = 180 on the 25th. O3 is
    # expected in February, the won and lost ones are not open.
    assert days == {
        dt.date(2026, 3, 19): (D("200.00"), D("50.00")),
        dt.date(2026, 3, 25): (D("360.00"), D("180.00")),
    }
    assert table.totals == ("Gesamt", D("560.00"), D("230.00"))
    quarter = build(data, "sales_forecast", "this_quarter").tables[0]
    assert [r[0] for r in quarter.rows] == ["Januar 2026", "Februar 2026", "März 2026"]
    assert quarter.rows[2][1:] == (D("560.00"), D("230.00"))


def test_a_currency_without_a_rate_is_named(data: dict[str, Any]) -> None:
    admin = data["admin"]
    admin.opportunities.add("Yen", budget=Money("5000", "JPY"), expected_close=dt.date(2026, 3, 20))
    admin.opportunities.add("Franc", budget=Money("10", "CHF"), expected_close=dt.date(2026, 3, 21))
    with pytest.raises(MissingExchangeRates) as caught:
        build(data, "sales_forecast", "this_month")
    assert caught.value.currencies == ("CHF", "JPY")
    # a rate stored the other way round converts by its inverse: 1 EUR = 160 JPY
    admin.currencies.set_rate("EUR", "JPY", "160")
    admin.currencies.set_rate("CHF", "EUR", "1.05")
    days = {r[0]: r[1] for r in build(data, "sales_forecast", "this_month").tables[0].rows}
    assert days[dt.date(2026, 3, 20)] == D("31.25")  # 5000 / 160
    assert days[dt.date(2026, 3, 21)] == D("10.50")


# --- sales funnel ------------------------------------------------------------------------------


def test_sales_funnel_counts_the_month_by_stage(data: dict[str, Any]) -> None:
    funnel, totals = build(data, "sales_funnel", "this_month").tables
    rows = {r[0]: r[1:] for r in funnel.rows}
    assert [r[0] for r in funnel.rows][:2] == ["Initial contact", "Preapproach"]
    # Created in March: O1 (Initial contact), O4 (Preapproach), O2 (Prospect), W1 W2 W3
    # (Won: 900 + 300 + 60), L1 (Lost): 7. Reached = in this or a later open stage, or won.
    assert rows["Initial contact"] == ("Offen", 1, D("200.00"), D("0.1429"), D("0.8571"))
    assert rows["Preapproach"] == ("Offen", 1, D("100.00"), D("0.1429"), D("0.7143"))
    assert rows["Suspect"] == ("Offen", 0, D("0.00"), D("0"), D("0.5714"))
    assert rows["Prospect"] == ("Offen", 1, D("360.00"), D("0.1429"), D("0.5714"))
    assert rows["Verbal"] == ("Offen", 0, D("0.00"), D("0"), D("0.4286"))
    assert rows["Won"] == ("Gewonnen", 3, D("1260.00"), D("0.4286"), D("0.4286"))
    assert rows["Lost"] == ("Verloren", 1, D("500.00"), D("0.1429"), D("0.1429"))
    # 2420 / 7 = 345.714...; won after 13, 16 and 20 days: 49 / 3 = 16.3
    assert totals.rows == ((7, D("2420.00"), D("345.71"), D("16.3")),)


# --- contacts by managers: midnight in Berlin --------------------------------------------------


def test_contacts_by_managers_reads_days_in_the_crm_time_zone(data: dict[str, Any]) -> None:
    detail, per_manager = build(data, "contacts_by_managers", "today").tables
    # C1 (00:30 Berlin today, Client, contact of O1) and C3 (Supplier, no opportunity)
    assert by_label(detail) == [
        {
            "Manager": "Alice",
            "Kontakttyp": "Client",
            "Neue Kontakte": 1,
            "Mit Verkaufschancen": 1,
            "Ohne Verkaufschancen": 0,
        },
        {
            "Manager": "Bob",
            "Kontakttyp": "Supplier",
            "Neue Kontakte": 1,
            "Mit Verkaufschancen": 0,
            "Ohne Verkaufschancen": 1,
        },
    ]
    assert per_manager.totals == ("Gesamt", 2, 1, 1)
    yesterday = build(data, "contacts_by_managers", "yesterday").tables[0]
    assert yesterday.rows == (("Alice", "Nicht gesetzt", 1, 0, 1),)  # C2 at 23:59 Berlin
    data["admin"].settings.set_regional(time_zone="UTC")
    # in UTC, C1 (23:30 on the 17th) was created yesterday
    assert [r[:3] for r in build(data, "contacts_by_managers", "yesterday").tables[0].rows] == [
        ("Alice", "Client", 1),
        ("Alice", "Nicht gesetzt", 1),
    ]
    everything = build(data, "contacts_by_managers", "all_time").tables[1]
    assert everything.rows == (("Alice", 2, 1, 1), ("Bob", 2, 0, 2))


# --- tasks by managers -------------------------------------------------------------------------


def test_tasks_by_managers_created_closed_and_overdue(data: dict[str, Any]) -> None:
    created, closed, overdue = build(data, "tasks_by_managers", "this_week").tables
    assert [t.title for t in (created, closed, overdue)] == [
        "Erstellte Aufgaben",
        "Erledigte Aufgaben",
        "Überfällige Aufgaben",
    ]
    assert [nonzero(r) for r in by_label(created)] == [
        {"Manager": "Alice", "Phone call": 2, "Gesamt": 2},  # T1, T2
        {"Manager": "Bob", "Phone call": 1, "Gesamt": 1},  # T4 (T3 was created on the 10th)
    ]
    assert [nonzero(r) for r in by_label(closed)] == [
        {"Manager": "Alice", "Phone call": 1, "Gesamt": 1},  # T1
        {"Manager": "Bob", "Demo": 1, "Gesamt": 1},  # T3
    ]
    # T2: open past its due time; T3: closed after it. T1 was closed in time, T4 is due later.
    assert [nonzero(r) for r in by_label(overdue)] == [
        {"Manager": "Alice", "Phone call": 1, "Gesamt": 1},
        {"Manager": "Bob", "Demo": 1, "Gesamt": 1},
    ]
    assert overdue.totals is not None
    assert overdue.totals[-1] == 2


# --- opportunities by managers -----------------------------------------------------------------


def test_opportunities_by_managers_created_or_closed_in_the_period(data: dict[str, Any]) -> None:
    table = build(data, "opportunities_by_managers", "this_week").tables[0]
    z = D("0.00")
    # Closed in the week: W2 (Alice won 300), W3 (Bob won 60), L1 (Bob lost 500). Created in
    # the week: O4 (Carol, open 100). W1 closed on the Sunday before.
    assert table.rows == (
        ("Alice", 0, z, 1, D("300.00"), 0, z, 1, D("300.00")),
        ("Bob", 0, z, 1, D("60.00"), 1, D("500.00"), 2, D("560.00")),
        ("Carol", 1, D("100.00"), 0, z, 0, z, 1, D("100.00")),
    )
    assert table.totals == (
        "Gesamt",
        1,
        D("100.00"),
        2,
        D("360.00"),
        1,
        D("500.00"),
        4,
        D("960.00"),
    )


# --- invoices by managers ----------------------------------------------------------------------


def test_invoices_by_managers(data: dict[str, Any]) -> None:
    table = build(data, "invoices_by_managers", "this_week").tables[0]
    z = D("0.00")
    assert [c.key for c in table.columns] == [
        "manager",
        "billed_count",
        "billed_amount",
        "paid_count",
        "paid_amount",
        "rejected_count",
        "rejected_amount",
        "overdue_count",
        "overdue_amount",
    ]
    # Alice: I1 issued the 16th (100); I2 due the 17th, still billed (200 USD = 180).
    # Bob: I3 issued the 16th and paid on the 18th after its due date (50); I4 rejected on
    # the 17th (10 GBP = 12). Carol's draft counts nowhere.
    assert table.rows == (
        ("Alice", 1, D("100.00"), 0, z, 0, z, 1, D("180.00")),
        ("Bob", 1, D("50.00"), 1, D("50.00"), 1, D("12.00"), 1, D("50.00")),
    )


# --- VoIP ------------------------------------------------------------------------------------


def add_calls(engine: sa.Engine, *calls: Call) -> None:
    with SqlUnitOfWork(engine) as uow:
        for call in calls:
            added = uow.voip.add_call(call)
            assert added is not None
            for n, leg in enumerate(call.legs):
                uow.voip.put_leg(added.id, leg, n)
        uow.commit()


def call(
    sid: str, direction: str, started: dt.datetime, status: str = "completed", **kw: Any
) -> Call:
    return Call(
        id=0,
        sid=sid,
        direction=CallDirection(direction),
        number_id=None,
        from_number="+14155550100",
        to_number="+14155550199",
        status=status,
        started_at=started,
        **kw,
    )


def leg(sid: str, operator: str, price: str) -> CallLeg:
    return CallLeg(
        sid=sid,
        operator=operator,
        to_number="client:" + operator,
        status="completed",
        duration=10,
        price=D(price),
    )


@pytest.fixture
def calls(data: dict[str, Any], engine: sa.Engine) -> dict[str, Any]:
    """Calls, prices in the provider's currency (USD unless said); Berlin is UTC+1."""
    add_calls(
        engine,
        # K1 alice, incoming, the 16th: 1.2345 + leg 0.5000 + recording 0.2655 = 2 USD.
        call(
            "K1",
            "incoming",
            utc(16, 10),
            answered_by="alice",
            duration=75,
            price=D("1.2345"),
            recording_price=D("0.2655"),
            legs=(leg("K1a", "alice", "0.5000"),),
        ),
        # K2 alice, incoming at 23:00 UTC on the 15th = local midnight opening Monday 16th.
        call("K2", "incoming", utc(15, 23), answered_by="alice", duration=30, price=D("0.5")),
        # K3 alice, one second earlier: Sunday 15th 23:59:59 in Berlin, last week.
        call(
            "K3",
            "incoming",
            utc(15, 22, 59) + dt.timedelta(seconds=59),
            answered_by="alice",
            duration=1000,
            price=D("9"),
        ),
        # K4 bob, outgoing, answered: 0.7 + leg 0.3 = 1 GBP. K5 bob, outgoing, unanswered.
        call(
            "K4",
            "outgoing",
            utc(17, 9),
            operator="bob",
            answered_by="bob",
            duration=125,
            price=D("0.7"),
            currency="GBP",
            legs=(leg("K4a", "bob", "0.3"),),
        ),
        call("K5", "outgoing", utc(17, 10), operator="bob", status="no-answer"),
        # K6 missed, carol was rung: 0.1 + leg 0.05 = 0.15 USD.
        call(
            "K6",
            "incoming",
            utc(18, 8),
            missed=True,
            duration=20,
            price=D("0.1"),
            legs=(leg("K6a", "carol", "0.05"),),
        ),
        # K7 still ringing: counted nowhere.
        call("K7", "incoming", utc(18, 11), status="ringing"),
    )
    return data


def test_voip_by_managers_counts_durations_and_costs(calls: dict[str, Any]) -> None:
    detail, per_manager = build(calls, "voip_by_managers", "this_week").tables
    assert [c.key for c in detail.columns] == ["manager", "status", "calls", "duration", "cost"]
    # Alice: K1 + K2 = 2.5 USD = 2.25 EUR. Bob: 1 GBP = 1.20 EUR. Missed K6: 0.15 USD =
    # 0.135 EUR, half to even 0.14.
    assert detail.rows == (
        ("Alice", "Eingehend", 2, 105, D("2.25")),
        ("Bob", "Ausgehend", 2, 125, D("1.20")),
        ("Nicht gesetzt", "Verpasst", 1, 20, D("0.14")),
    )
    assert detail.totals == ("Gesamt", "", 5, 250, D("3.59"))
    assert [c.key for c in per_manager.columns] == [
        "manager",
        "incoming",
        "outgoing",
        "missed",
        "calls",
        "duration",
        "cost",
    ]
    assert per_manager.rows == (
        ("Alice", 2, 0, 0, 2, 105, D("2.25")),
        ("Bob", 0, 2, 0, 2, 125, D("1.20")),
        ("Nicht gesetzt", 0, 0, 1, 1, 20, D("0.14")),
    )
    assert per_manager.totals == ("Gesamt", 2, 2, 1, 5, 250, D("3.59"))


def test_voip_by_managers_periods_end_at_local_midnight(calls: dict[str, Any]) -> None:
    # Last week (9-15 March in Berlin) holds K3 alone: 9 USD = 8.10 EUR.
    last = build(calls, "voip_by_managers", "last_week").tables[0]
    assert last.rows == (("Alice", "Eingehend", 1, 1000, D("8.10")),)
    every = build(calls, "voip_by_managers", "all_time").tables[0]
    assert every.rows[0] == ("Alice", "Eingehend", 3, 1105, D("10.35"))
    # The managers filter leaves out the calls nobody took.
    bob = build(calls, "voip_by_managers", "all_time", managers=["bob"]).tables[1]
    assert bob.rows == (("Bob", 0, 2, 0, 2, 125, D("1.20")),)


def test_voip_costs_without_a_rate_name_the_currency(
    calls: dict[str, Any], engine: sa.Engine
) -> None:
    add_calls(
        engine, call("K8", "incoming", utc(18, 9), answered_by="bob", price=D("1"), currency="CHF")
    )
    with pytest.raises(MissingExchangeRates) as caught:
        build(calls, "voip_by_managers", "today")
    assert caught.value.currencies == ("CHF",)


def test_a_report_in_de_de_has_german_headers_and_dates_in_the_xlsx(
    calls: dict[str, Any],
) -> None:
    admin = calls["admin"]
    kinds = {t.name: t.title for t in admin.reports.types()}
    assert kinds["voip_by_managers"] == "VoIP nach Managern"
    stored = admin.reports.generate("voip_by_managers", period="this_week")
    ws = openpyxl.load_workbook(io.BytesIO(admin.reports.download(stored.id))).active
    rows = [tuple(c for c in row if c is not None) for row in ws.iter_rows(values_only=True)]
    assert rows[:5] == [
        ("VoIP nach Managern",),
        ("Zeitraum", "Diese Woche (16. März 2026 - 22. März 2026)"),
        ("Währung", "EUR"),
        ("Erstellt am", "18.03.2026, 13:00:00 (Europe/Berlin)"),
        (),
    ]
    assert rows[5:8] == [
        ("VoIP nach Managern",),
        ("Manager", "Status", "Anrufe", "Dauer", "Kosten"),
        ("Alice", "Eingehend", 2, dt.timedelta(seconds=105), 2.25),
    ]
    assert rows[9][:3] == ("Nicht gesetzt", "Verpasst", 1)
    assert rows[10] == ("Gesamt", 5, dt.timedelta(seconds=250), 3.59)
    header = rows.index(
        ("Manager", "Eingehend", "Ausgehend", "Verpasst", "Anrufe", "Dauer", "Kosten")
    )
    assert rows[header - 1] == ("Anrufe je Manager",)


# --- the summaries -----------------------------------------------------------------------------


def test_summary_for_the_period(data: dict[str, Any]) -> None:
    result = build(data, "summary_for_the_period", "this_week")
    deals, invoices, contacts, tasks, calls = result.tables
    # Created: O4. Won: W2 + W3. Lost: L1. Overdue: W2, won on the 18th after its expected
    # 17th (in the week).
    assert deals.rows == (
        ("Erstellt", 1, D("100.00")),
        ("Gewonnen", 2, D("360.00")),
        ("Verloren", 1, D("500.00")),
        ("Überfällig", 1, D("300.00")),
    )
    # Issued in the week: I1 (billed), I3 (paid, late); the draft is none of these.
    assert invoices.rows == (
        ("Gestellt", 1, D("100.00")),
        ("Bezahlt", 1, D("50.00")),
        ("Abgelehnt", 0, D("0.00")),
        ("Überfällig", 1, D("50.00")),
    )
    assert contacts.rows == (("Client", 1), ("Supplier", 1), ("Nicht gesetzt", 1))  # C1, C3, C2
    assert tasks.rows == (("Phone call", 3, 1, 1),)  # T1 T2 T4; T1 closed; T2 overdue
    assert calls.rows == (("Eingehend", 0, 0), ("Ausgehend", 0, 0), ("Verpasst", 0, 0))


def test_summary_for_the_period_counts_calls(calls: dict[str, Any]) -> None:
    table = build(calls, "summary_for_the_period", "this_week").tables[4]
    assert table.rows == (("Eingehend", 2, 105), ("Ausgehend", 2, 125), ("Verpasst", 1, 20))
    assert table.totals == ("Gesamt", 5, 250)


def test_summary_at_this_moment(data: dict[str, Any]) -> None:
    result = build(data, "summary_at_this_moment", "all_time")
    deals, stages, types, temperatures, tasks, invoices = result.tables
    # Open: O1 200, O2 360, O3 1000, O4 100. Overdue: O3. Within 30 days: O1, O2.
    assert deals.rows == (
        ("Offen", 4, D("1660.00")),
        ("Überfällig", 1, D("1000.00")),
        ("Abschluss in 30 Tagen", 2, D("560.00")),
    )
    assert [r for r in stages.rows if r[1]] == [
        ("Initial contact", 2, D("1200.00")),
        ("Preapproach", 1, D("100.00")),
        ("Prospect", 1, D("360.00")),
    ]
    assert types.rows == (("Client", 2), ("Supplier", 1), ("Nicht gesetzt", 1))
    assert temperatures.rows == (("Cold", 1), ("Hot", 2), ("Nicht gesetzt", 1))
    assert tasks.rows == (("Phone call", 2, 1),)  # T2 (overdue), T4
    assert invoices.rows == (("Gestellt", 2, D("280.00")), ("Überfällig", 1, D("180.00")))
    # this month: O3 (February) is left out
    month = build(data, "summary_at_this_moment", "this_month").tables[0]
    assert month.rows[:2] == (("Offen", 3, D("660.00")), ("Überfällig", 0, D("0.00")))


# --- rules -------------------------------------------------------------------------------------


def test_only_crm_admins_build_reports_and_periods_are_checked(
    data: dict[str, Any], rcrm: CRM, users: dict[str, Any]
) -> None:
    with pytest.raises(PermissionDenied):
        rcrm.session(users["alice"]).reports.build("sales_funnel")
    with pytest.raises(ValidationError) as caught:
        build(data, "sales_forecast", "yesterday")
    assert "period" in caught.value.errors
    with pytest.raises(ValidationError):
        build(data, "no_such_report", "today")
    with pytest.raises(ValidationError):
        build(data, "sales_funnel", "today", managers=["nobody"])


def test_callbacks_and_report_ids_of_the_wrong_kind_are_refused(data: dict[str, Any]) -> None:
    """Found by the service fuzz: these were a TypeError mid-build, and on PostgreSQL an id
    past the 32-bit range was a database error instead of a typed one."""
    admin = data["admin"]
    with pytest.raises(ValidationError) as caught:
        admin.reports.build("sales_funnel", progress="print")
    assert caught.value.errors == {"progress": "must be a function or None"}
    with pytest.raises(ValidationError) as caught:
        admin.reports.generate("sales_funnel", should_stop=True)
    assert caught.value.errors == {"should_stop": "must be a function or None"}
    for bad in (2**31, 0, True, "1"):
        with pytest.raises(ValidationError) as caught:
            admin.reports.download(bad)
        assert list(caught.value.errors) == ["report_id"]
    assert admin.reports.list() == []


# --- generated reports -------------------------------------------------------------------------


def test_generated_reports_are_kept_per_user(
    data: dict[str, Any], rcrm: CRM, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from opencrm.core.services import reports as service

    admin = data["admin"]
    seen: list[tuple[float, str]] = []
    stored = admin.reports.generate(
        "sales_funnel", period="this_month", progress=lambda f, s: seen.append((f, s))
    )
    assert (stored.report_type, stored.title, stored.user_id) == (
        "sales_funnel",
        "Verkaufstrichter",
        "admin",
    )
    assert stored.file_name == "sales_funnel-this_month-2026-03-18.xlsx"
    assert stored.parameters == {"period": "this_month", "managers": []}
    assert [s for _, s in seen] == ["querying", "built", "stored"]
    data_bytes = admin.reports.download(stored.id)
    assert len(data_bytes) == stored.size
    assert data_bytes[:2] == b"PK"
    ws = openpyxl.load_workbook(io.BytesIO(data_bytes)).active
    assert ws["A1"].value == "Verkaufstrichter"
    assert [r.id for r in admin.reports.list()] == [stored.id]
    # another admin sees none of it
    other = rcrm.session(User(id="root", name="Root", crm_admin=True))
    assert other.reports.list() == []
    with pytest.raises(NotFound):
        other.reports.download(stored.id)
    with pytest.raises(NotFound):
        other.reports.delete(stored.id)
    # the newest MAX_REPORTS_PER_USER stay
    monkeypatch.setattr(service, "MAX_REPORTS_PER_USER", 2)
    second = admin.reports.generate("voip_by_managers")
    third = admin.reports.generate("voip_by_managers", period="all_time")
    assert [r.id for r in admin.reports.list()] == [third.id, second.id]
    # a stopped generation keeps nothing
    with pytest.raises(service.GenerationStopped):
        admin.reports.generate("sales_funnel", should_stop=lambda: True)
    monkeypatch.setattr(service, "MAX_REPORT_BYTES", 100)
    with pytest.raises(ValidationError):
        admin.reports.generate("sales_funnel")
    assert len(admin.reports.list()) == 2
    admin.reports.delete(second.id)
    assert [r.id for r in admin.reports.list()] == [third.id]
    with pytest.raises(PermissionDenied):
        rcrm.session(users["alice"]).reports.list()


def test_generation_is_one_function_a_job_can_run(data: dict[str, Any]) -> None:
    from opencrm.core.services.reports import generate_report

    stored = generate_report(data["admin"], "tasks_by_managers", {"period": "this_week"})
    assert stored.parameters["period"] == "this_week"
    with pytest.raises(ValidationError) as caught:
        generate_report(data["admin"], "tasks_by_managers", {"colour": "red"})
    assert caught.value.errors == {"colour": "is not a report parameter"}


def test_the_user_is_told_the_report_is_ready(engine: sa.Engine, clock: Clock) -> None:
    outbox = OutboxNotifier()
    ada = User(id="ada", name="Ada", email="ada@example.com", crm_admin=True, language="de")
    crm = CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory([ada]),
        clock=clock,
        notifier=outbox,
    )
    crm.session(ada).reports.generate("voip_by_managers")
    (message,) = outbox.messages
    assert message.to == ("ada@example.com",)
    assert message.subject == "Ihr Bericht VoIP by managers ist fertig"
    assert "voip_by_managers-today-2026-03-18.xlsx" in message.text


# --- plugins add report types --------------------------------------------------------------------


class WonByCurrency(Report):
    """A plugin's report: won opportunities per original currency, converted."""

    name = "won_by_currency"
    title = "Won by currency"
    periods = (Period.THIS_MONTH, Period.ALL_TIME)

    def build(self, ctx: ReportContext) -> list[Table]:
        _ = ctx.gettext
        rows = ctx.aggregate(
            Aggregate(
                "opportunities",
                ("currency",),
                ("count", "value"),
                (Where("stage_type", ("won",)), *ctx.created_in_period()),
            )
        )
        body = tuple(
            (currency, count, ctx.round(ctx.value(value, currency)))
            for currency, count, value in sorted(rows)
        )
        columns = (
            Column("currency", _("Currency")),
            Column("count", _("Won"), ColumnType.INTEGER),
            Column("value", _("Value"), ColumnType.MONEY),
        )
        return [Table(_("Won opportunities"), columns, body)]


class ReportPlugin:
    @hookimpl
    def opencrm_register_reports(self, crm: CRM) -> list[type[Report]]:
        return [WonByCurrency]


def test_a_plugin_adds_a_report_type(
    engine: sa.Engine, directory: InMemoryUserDirectory, clock: Clock, users: dict[str, Any]
) -> None:
    crm = CRM(
        engine, load_entrypoints=False, directory=directory, clock=clock, plugins=[ReportPlugin()]
    )
    admin = crm.session(users["admin"])
    names = [t.name for t in admin.reports.types()]
    assert names[:10] == [r.name for r in BUILTIN_REPORTS]
    assert names[10:] == ["won_by_currency"]
    admin.currencies.set_rate("EUR", "USD", "1.25")
    won = next(s.id for s in admin.stages.list() if s.type == "won")
    for amount in (Money("10", "EUR"), Money("30", "EUR"), Money("5", "USD")):
        admin.opportunities.add("W", budget=amount, stage=won, actual_close=dt.date(2026, 3, 1))
    result = admin.reports.build("won_by_currency")
    assert result.parameters["period"] == "this_month"
    # the default currency is USD: 40 EUR x 1.25 = 50
    assert result.tables[0].rows == (("EUR", 2, D("50.00")), ("USD", 1, D("5.00")))
    stored = admin.reports.generate("won_by_currency", period="all_time")
    assert stored.report_type == "won_by_currency"


def test_a_plugin_report_brings_its_own_catalog(
    engine: sa.Engine, directory: InMemoryUserDirectory, users: dict[str, Any], tmp_path: Any
) -> None:
    french = tmp_path / "fr" / "LC_MESSAGES"
    french.mkdir(parents=True)
    (french / "reports.po").write_text(
        'msgid "Won by currency"\nmsgstr "Gagnées par devise"\n\n'
        'msgid "Value"\nmsgstr "Valeur"\n\n'
        'msgid "Won"\nmsgstr "Gagnées"\n',
        encoding="utf-8",
    )

    class Translated(WonByCurrency):
        locale_dir = tmp_path

    class Plugin:
        @hookimpl
        def opencrm_register_reports(self, crm: CRM) -> list[type[Report]]:
            return [Translated]

    crm = CRM(engine, load_entrypoints=False, directory=directory, plugins=[Plugin()])
    admin = crm.session(users["admin"])
    admin.settings.set_regional(locale="fr_CA")  # falls back to fr
    result = admin.reports.build("won_by_currency")
    assert result.title == "Gagnées par devise"
    table = result.tables[0]
    # its own catalog first ("Won"), then the built-in one ("Currency"), else as written
    assert [c.label for c in table.columns] == ["Devise", "Gagnées", "Valeur"]
    assert table.title == "Won opportunities"
    assert [t.title for t in admin.reports.types()][-1] == "Gagnées par devise"


def test_a_report_name_registered_twice_stops_the_crm(engine: sa.Engine) -> None:
    class Twice:
        @hookimpl
        def opencrm_register_reports(self, crm: CRM) -> list[type[Report]]:
            return [WonByCurrency, WonByCurrency]

    with pytest.raises(ValueError, match="registered twice"):
        CRM(engine, load_entrypoints=False, plugins=[Twice()])


# --- generation as a job -------------------------------------------------------------------------


class HoldJobs:
    """Takes every job (as a host's worker would), so the test runs it when it chooses."""

    def __init__(self) -> None:
        self.queue: list[int] = []

    @hookimpl
    def opencrm_dispatch_job(self, crm: CRM, job: Any) -> bool:
        self.queue.append(job.id)
        return True


class CancelsItsJob(Report):
    """A report whose building takes long enough for its owner to cancel the job: it asks for
    the cancel itself, as the owner would from elsewhere."""

    name = "cancelled_midway"
    title = "Cancelled midway"
    periods = (Period.ALL_TIME,)
    crm: CRM
    owner: User

    def build(self, ctx: ReportContext) -> list[Table]:
        jobs = self.crm.session(self.owner).jobs
        (running,) = [j for j in jobs.list().items if j.status == "running"]
        jobs.cancel(running.id)
        return [Table("Nothing", (Column("x", "X"),), ())]


def test_a_report_job_generates_and_names_the_report(data: dict[str, Any], rcrm: CRM) -> None:
    admin = data["admin"]
    job = admin.reports.start("sales_funnel", period="this_month", managers=["bob", "alice"])
    assert (job.kind, job.owner, job.status) == ("report", "admin", "queued")
    assert job.params == {
        "name": "sales_funnel",
        "period": "this_month",
        "managers": ["alice", "bob"],
    }
    assert rcrm.jobs.wait(timeout=60)
    done = admin.jobs.get(job.id)
    assert (done.status, done.error, done.result) == ("succeeded", None, None)
    assert (done.done, done.total) == (100, 100)
    (stored,) = admin.reports.list()
    assert done.summary == {
        "report_id": stored.id,
        "report_type": "sales_funnel",
        "file_name": "sales_funnel-this_month-2026-03-18.xlsx",
        "size": stored.size,
    }
    assert stored.parameters == {"period": "this_month", "managers": ["alice", "bob"]}
    ws = openpyxl.load_workbook(io.BytesIO(admin.reports.download(stored.id))).active
    assert ws["A1"].value == "Verkaufstrichter"  # the test CRM speaks de_DE
    # the default period is the report's first
    second = admin.reports.start("voip_by_managers")
    assert second.params == {"name": "voip_by_managers", "period": "today", "managers": []}
    assert rcrm.jobs.wait(timeout=60)
    assert admin.jobs.get(second.id).summary["file_name"] == (
        "voip_by_managers-today-2026-03-18.xlsx"
    )


def test_a_report_job_is_checked_before_it_is_queued(
    data: dict[str, Any], rcrm: CRM, users: dict[str, Any]
) -> None:
    admin = data["admin"]
    with pytest.raises(PermissionDenied):
        rcrm.session(users["alice"]).reports.start("sales_funnel")
    for name, period, field in (
        ("no_such_report", None, "name"),
        ("sales_forecast", "yesterday", "period"),
    ):
        with pytest.raises(ValidationError) as caught:
            admin.reports.start(name, period=period)
        assert list(caught.value.errors) == [field]
    with pytest.raises(ValidationError):
        admin.reports.start("sales_funnel", managers=["nobody"])
    assert admin.jobs.list().items == []
    assert rcrm.session(users["alice"]).jobs.list().items == []


def test_a_report_job_fails_with_the_reason_and_keeps_nothing(
    engine: sa.Engine, directory: InMemoryUserDirectory, clock: Clock, users: dict[str, Any]
) -> None:
    hold = HoldJobs()
    crm = CRM(engine, load_entrypoints=False, directory=directory, clock=clock, plugins=[hold])
    admin = crm.session(users["admin"])
    job = admin.reports.start("summary_at_this_moment", period="all_time")
    # between the start and the run, a currency without an exchange rate appears
    admin.opportunities.add("Yen", budget=Money("100", "JPY"))
    (queued,) = hold.queue
    ended = crm.jobs.run(queued)
    assert ended is not None
    assert (ended.id, ended.status) == (job.id, "failed")
    assert ended.error == "no exchange rate for JPY -> USD"
    assert admin.reports.list() == []


def test_cancelling_a_report_job_stores_nothing(
    engine: sa.Engine, directory: InMemoryUserDirectory, clock: Clock, users: dict[str, Any]
) -> None:
    class Plugin:
        @hookimpl
        def opencrm_register_reports(self, crm: CRM) -> list[type[Report]]:
            return [CancelsItsJob]

    hold = HoldJobs()
    crm = CRM(
        engine,
        load_entrypoints=False,
        directory=directory,
        clock=clock,
        plugins=[hold, Plugin()],
    )
    CancelsItsJob.crm, CancelsItsJob.owner = crm, users["admin"]
    admin = crm.session(users["admin"])
    job = admin.reports.start("cancelled_midway")
    ended = crm.jobs.run(job.id)
    assert ended is not None
    assert (ended.status, ended.cancel_requested, ended.result) == ("cancelled", True, None)
    assert admin.reports.list() == []
    # a queued one is cancelled before it runs, and then never runs
    queued = admin.reports.start("sales_funnel")
    assert admin.jobs.cancel(queued.id).status == "cancelled"
    assert crm.jobs.run(queued.id) is None
    assert admin.reports.list() == []


def test_the_owner_of_a_report_job_is_told_once(
    engine: sa.Engine, directory: InMemoryUserDirectory, clock: Clock
) -> None:
    outbox = OutboxNotifier()
    ada = User(id="ada", name="Ada", email="ada@example.com", crm_admin=True)
    hold = HoldJobs()
    crm = CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory([ada]),
        clock=clock,
        notifier=outbox,
        plugins=[hold],
    )
    s = crm.session(ada)
    job = s.reports.start("voip_by_managers")
    crm.jobs.run(job.id)
    (ready,) = outbox.messages
    assert ready.subject == "Your report VoIP by managers is ready"
    # a job that fails is told as a job
    failing = s.reports.start("summary_at_this_moment", period="all_time")
    s.opportunities.add("Yen", budget=Money("100", "JPY"))
    crm.jobs.run(failing.id)
    assert [m.subject for m in outbox.messages[1:]] == [
        f"Your job {failing.id} (report) has ended: failed"
    ]
