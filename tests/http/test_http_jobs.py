"""Exports and jobs over HTTP (Flask and Django): start an export (202 + Location), follow
the job, download its streamed file, cancel, delete; others' jobs are 404."""

from __future__ import annotations

import csv
import io

import openpyxl


def _path(reply):  # type: ignore[no-untyped-def]
    return reply.headers["Location"].removeprefix("/crm")


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_export_contacts_as_a_job_and_download_the_file(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    for name in ("Ann", "=cmd"):
        assert api.post("/persons", json={"first_name": name}).status == 201
    api.post("/persons", json={"first_name": "Vip", "tags": ["vip"]})
    started = api.post("/exports/contacts", query={"tags": "vip"})
    assert started.status == 202, started.body
    job = started.json
    assert _path(started) == f"/jobs/{job['id']}"
    assert (job["kind"], job["owner"], job["status"]) == ("export", "alice", "queued")
    assert web_crm.jobs.wait(timeout=30)
    done = api.get(_path(started)).json
    assert done["status"] == "succeeded"
    assert (done["done"], done["total"]) == (1, 1)
    assert done["result"]["filename"] == "contacts.csv"
    file = api.get(f"/jobs/{job['id']}/file")
    assert file.status == 200
    assert file.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert file.headers["Content-Disposition"].startswith('attachment; filename="contacts.csv"')
    assert int(file.headers["Content-Length"]) == len(file.body) == done["result"]["size"]
    assert [r["First name"] for r in _rows(file.body)] == ["Vip"]

    everything = api.post("/exports/contacts", query={"format": "xlsx", "sort": "created"})
    assert everything.status == 202
    web_crm.jobs.wait(timeout=30)
    xlsx = api.get(f"/jobs/{everything.json['id']}/file")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.body)).active
    names = [row[2].value for row in sheet.iter_rows(min_row=2)]
    assert names == ["Ann", "=cmd", "Vip"]
    assert all(row[2].data_type == "s" for row in sheet.iter_rows(min_row=2))


def test_jobs_of_others_are_not_found_and_admins_see_all(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    job = api.post("/exports/cases").json
    web_crm.jobs.wait(timeout=30)
    bob = api.as_("bob")
    for reply in (
        bob.get(f"/jobs/{job['id']}"),
        bob.get(f"/jobs/{job['id']}/file"),
        bob.post(f"/jobs/{job['id']}/cancel"),
        bob.delete(f"/jobs/{job['id']}"),
    ):
        assert reply.status == 404, reply.body
    assert bob.get("/jobs").json["items"] == []
    assert [j["id"] for j in api.as_("admin").get("/jobs").json["items"]] == [job["id"]]
    assert api.as_("admin").get("/jobs", query={"owner": "bob"}).json["items"] == []


def test_cancel_delete_and_the_full_export(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    job = api.post("/exports/tasks", query={"format": "csv"}).json
    web_crm.jobs.wait(timeout=30)
    cancelled = api.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status == 200
    assert cancelled.json["status"] == "succeeded"  # finished already: nothing changes
    assert api.delete(f"/jobs/{job['id']}").status == 204
    assert api.get(f"/jobs/{job['id']}").status == 404

    assert api.post("/exports/all").status == 403
    full = api.as_("admin").post("/exports/all")
    assert full.status == 202, full.body
    web_crm.jobs.wait(timeout=30)
    archive = api.as_("admin").get(f"/jobs/{full.json['id']}/file")
    assert archive.headers["Content-Type"] == "application/zip"
    assert archive.body.startswith(b"PK\x03\x04")


def test_a_bad_export_request_is_a_422_and_starts_nothing(api) -> None:  # type: ignore[no-untyped-def]
    assert api.post("/exports/contacts", query={"format": "pdf"}).fields() == {
        "format": "must be one of csv, xlsx"
    }
    assert api.post("/exports/opportunities", query={"sort": "colour"}).status == 422
    assert api.get("/jobs").json["items"] == []
