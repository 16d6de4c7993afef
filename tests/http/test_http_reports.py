"""Reports over HTTP: the report types, a report as JSON, and generated .xlsx files (generate,
list, read, download, delete), through Flask and Django; plus the regional settings."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
from moneyed import Money

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _data(web_crm, users) -> None:  # type: ignore[no-untyped-def]
    """Opportunities for all time: Alice won 1000 USD (= 900 EUR) and 50 EUR, Bob lost
    20 GBP (= 24 EUR) and has an open 10 EUR one."""
    admin = web_crm.session(users["admin"])
    admin.currencies.set_default("EUR")
    admin.currencies.set_rate("USD", "EUR", "0.9")
    admin.currencies.set_rate("GBP", "EUR", "1.2")
    stages = {s.title: s.id for s in admin.stages.list()}
    closed = dt.date(2026, 1, 5)
    for amount, who, stage in (
        (Money("1000", "USD"), "alice", "Won"),
        (Money("50", "EUR"), "alice", "Won"),
        (Money("20", "GBP"), "bob", "Lost"),
        (Money("10", "EUR"), "bob", "Initial contact"),
    ):
        admin.opportunities.add(
            f"{amount}",
            budget=amount,
            responsible=who,
            stage=stages[stage],
            actual_close=None if stage == "Initial contact" else closed,
        )


def test_report_types_and_a_report_as_json(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    _data(web_crm, users)
    admin = api.as_("admin")
    types = admin.get("/report-types")
    assert types.status == 200, types.body
    names = [t["name"] for t in types.json["items"]]
    assert names[:3] == ["sales_by_managers", "sales_forecast", "sales_funnel"]
    assert len(names) == 10
    funnel = types.json["items"][2]
    assert funnel["periods"][0] == "today"
    assert "all_time" not in funnel["periods"]

    reply = admin.get(
        "/report-results", query={"name": "opportunities_by_managers", "period": "all_time"}
    )
    assert reply.status == 200, reply.body
    result = reply.json
    assert (result["name"], result["currency"], result["first_day"]) == (
        "opportunities_by_managers",
        "EUR",
        None,
    )
    (table,) = result["tables"]
    assert table["columns"][2] == {"key": "new_budget", "label": "New budget", "type": "money"}
    assert table["rows"] == [
        ["Alice", 0, "0.00", 2, "950.00", 0, "0.00", 2, "950.00"],
        ["Bob", 1, "10.00", 0, "0.00", 1, "24.00", 2, "34.00"],
    ]
    assert table["totals"] == ["Total", 1, "10.00", 2, "950.00", 1, "24.00", 4, "984.00"]
    assert table["charts"][0]["kind"] == "bar"

    only_bob = admin.get(
        "/report-results",
        query={"name": "opportunities_by_managers", "period": "all_time", "managers": ["bob"]},
    )
    assert [r[0] for r in only_bob.json["tables"][0]["rows"]] == ["Bob"]
    assert only_bob.json["parameters"] == {"period": "all_time", "managers": ["bob"]}


def test_report_errors(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    assert (
        api.get("/report-results", query={"name": "sales_funnel"}).status == 403
    )  # alice is no admin
    assert (
        admin.get("/report-results", query={"name": "nope"}).problem["code"] == "validation_failed"
    )
    bad = admin.get("/report-results", query={"name": "sales_funnel", "period": "next_year"})
    assert bad.status == 422
    web_crm.session(users["admin"]).opportunities.add("Yen", budget=Money("100", "JPY"))
    missing = admin.get(
        "/report-results", query={"name": "summary_at_this_moment", "period": "all_time"}
    )
    assert missing.status == 409
    assert missing.problem["code"] == "missing_exchange_rates"
    assert missing.problem["currencies"] == ["JPY"]


def test_generate_list_download_and_delete_a_report(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    _data(web_crm, users)
    admin = api.as_("admin")
    made = admin.post("/reports", json={"name": "opportunities_by_managers", "period": "all_time"})
    assert made.status == 201, made.body
    stored = made.json
    url = made.headers["Location"].removeprefix("/crm")
    assert url == f"/reports/{stored['id']}"
    assert stored["report_type"] == "opportunities_by_managers"
    assert stored["file_name"].startswith("opportunities_by_managers-all_time-")
    assert admin.get(url).json == stored
    assert [r["id"] for r in admin.get("/reports").json["items"]] == [stored["id"]]

    file = admin.get(url + "/file")
    assert file.status == 200
    assert file.headers["Content-Type"] == XLSX
    assert stored["file_name"] in file.headers["Content-Disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(file.body)).active
    values = [tuple(c.value for c in row) for row in ws.iter_rows()]
    bob = next(r for r in values if r[0] == "Bob")
    assert bob[:9] == ("Bob", 1, 10, 0, 0, 1, 24, 2, 34)
    assert len(ws._charts) == 2

    assert api.get(url).status == 403  # alice is no admin
    assert admin.delete(url).status == 204
    assert admin.get(url).problem["code"] == "not_found"
    assert admin.get("/reports").json["items"] == []


def test_regional_settings(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/settings/regional").json == {"locale": "en_US", "time_zone": "UTC"}
    admin = api.as_("admin")
    changed = admin.patch(
        "/settings/regional", json={"locale": "de-DE", "time_zone": "Europe/Berlin"}
    )
    assert changed.status == 200, changed.body
    assert changed.json == {"locale": "de_DE", "time_zone": "Europe/Berlin"}
    bad = admin.patch("/settings/regional", json={"time_zone": "Mars/Olympus"})
    assert bad.status == 422
    assert api.patch("/settings/regional", json={"locale": "fr_FR"}).status == 403


def test_generate_a_report_as_a_job(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    _data(web_crm, users)
    admin = api.as_("admin")
    started = admin.post(
        "/reports/jobs",
        json={"name": "opportunities_by_managers", "period": "all_time", "managers": ["bob"]},
    )
    assert started.status == 202, started.body
    job = started.json
    url = started.headers["Location"].removeprefix("/crm")
    assert url == f"/jobs/{job['id']}"
    assert (job["kind"], job["owner"], job["status"]) == ("report", "admin", "queued")
    assert job["params"] == {
        "name": "opportunities_by_managers",
        "period": "all_time",
        "managers": ["bob"],
    }
    assert web_crm.jobs.wait(timeout=60)
    done = admin.get(url).json
    assert (done["status"], done["done"], done["total"], done["result"]) == (
        "succeeded",
        100,
        100,
        None,
    )
    (stored,) = admin.get("/reports").json["items"]
    assert done["summary"] == {
        "report_id": stored["id"],
        "report_type": "opportunities_by_managers",
        "file_name": stored["file_name"],
        "size": stored["size"],
    }
    file = admin.get(f"/reports/{stored['id']}/file")
    assert file.headers["Content-Type"] == XLSX
    ws = openpyxl.load_workbook(io.BytesIO(file.body)).active
    names = [r[0].value for r in ws.iter_rows() if r[0].value in ("Alice", "Bob")]
    assert names == ["Bob"]
    assert admin.get(url + "/file").status == 404  # the job keeps no copy

    # checked before anything is queued
    assert api.post("/reports/jobs", json={"name": "sales_funnel"}).status == 403
    bad = admin.post("/reports/jobs", json={"name": "sales_funnel", "period": "next_year"})
    assert bad.status == 422
    assert [e["field"] for e in bad.problem["errors"]] == ["period"]
    assert admin.post("/reports/jobs", json={"period": "today"}).status == 422
    assert [j["id"] for j in admin.get("/jobs").json["items"]] == [job["id"]]


def test_a_report_as_json_is_in_the_crms_language(api, web_crm, users) -> None:  # type: ignore[no-untyped-def]
    _data(web_crm, users)
    admin = api.as_("admin")
    assert admin.patch("/settings/regional", json={"locale": "fr_FR"}).status == 200
    titles = {t["name"]: t["title"] for t in admin.get("/report-types").json["items"]}
    assert titles["opportunities_by_managers"] == "Opportunités par responsable"
    result = admin.get(
        "/report-results", query={"name": "opportunities_by_managers", "period": "all_time"}
    ).json
    assert result["title"] == "Opportunités par responsable"
    (table,) = result["tables"]
    assert [c["label"] for c in table["columns"][:3]] == [
        "Responsable",
        "Nouvelles",
        "Budget des nouvelles",
    ]
    assert table["totals"][0] == "Total"  # the same word in French
    assert [c["title"] for c in table["charts"]] == [
        "Opportunités par nombre",
        "Opportunités par budget",
    ]
