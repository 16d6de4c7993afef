"""Imports over HTTP: a multipart upload with its mapping, answered with the report."""

from __future__ import annotations

import io
import json

import openpyxl

from opencrm.http._api import DEFAULT_MAX_UPLOAD

CSV = b"First,Last,Email\nAda,Lovelace,ada@example.com\nBob,X,not-mail\n"
MAPPING = json.dumps({"first_name": "First", "last_name": "Last", "email": "Email"})


def _import(client, data=CSV, **form):  # type: ignore[no-untyped-def]
    fields = {"mapping": MAPPING, **form}
    return client.post("/imports/contacts", files={"file": ("people.csv", data)}, form=fields)


def test_dry_run_then_import(api) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    dry = _import(alice, dry_run="true")
    assert dry.status == 200, dry.body
    report = dry.json
    assert {k: report[k] for k in ("rows", "created", "rejected", "dry_run", "committed")} == {
        "rows": 2,
        "created": 1,
        "rejected": 1,
        "dry_run": True,
        "committed": False,
    }
    assert report["issues"] == [
        {
            "row": 3,
            "column": "Email",
            "reason": "is not a valid e-mail address (An email address must have an @-sign.)",
            "outcome": "rejected",
        }
    ]
    assert alice.get("/contacts").json["items"] == []
    real = _import(alice, defaults=json.dumps({"access": "read", "tags": ["web"]}))
    assert real.status == 200, real.body
    assert {**real.json, "dry_run": True, "committed": False, "created_ids": []} == report
    [ada] = alice.get("/contacts").json["items"]
    assert (ada["first_name"], ada["access"], ada["tags"]) == ("Ada", "read", ["web"])
    again = _import(alice, on_duplicate="update")
    assert (again.json["unchanged"], again.json["created"]) == (1, 0)


def test_bad_requests(api) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    missing = alice.post("/imports/contacts", files={"file": ("p.csv", CSV)})
    assert missing.status == 422
    assert missing.problem["errors"] == [
        {"field": "mapping", "message": "is required: a JSON object"}
    ]
    odd = _import(alice, colour="blue", dry_run="maybe")
    assert odd.status == 422
    assert odd.problem["errors"] == [
        {"field": "form", "message": "fields that are no import option: 'colour'"}
    ]
    wrong = _import(
        alice, encoding="utf-8", data="First,Last,Email\nJürgen,M,j@x.de\n".encode("latin-1")
    )
    assert wrong.status == 422
    assert wrong.problem["errors"] == [
        {
            "field": "file",
            "message": "row 2: byte 18 (0xfc) is not utf-8 text; give the file's encoding",
        }
    ]
    big = _import(alice, data=b"First\n" + b"x\n" * (DEFAULT_MAX_UPLOAD // 2 + 1))
    assert big.status == 413


def test_a_large_file_imports_as_a_job(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    started = alice.post(
        "/imports/contacts/jobs",
        files={"file": ("people.csv", CSV)},
        form={"mapping": MAPPING, "batch_size": "1"},
    )
    assert started.status == 422  # batch_size is no form field of an import
    started = alice.post(
        "/imports/contacts/jobs",
        files={"file": ("people.csv", CSV)},
        form={"mapping": MAPPING, "defaults": json.dumps({"tags": ["web"]})},
    )
    assert started.status == 202, started.body
    job = started.json
    assert (job["kind"], job["status"]) == ("import", "queued")
    assert started.headers["Location"].endswith(f"/jobs/{job['id']}")
    assert web_crm.jobs.wait(timeout=60)
    ended = alice.get(f"/jobs/{job['id']}").json
    assert ended["status"] == "succeeded", ended
    assert {k: ended["summary"][k] for k in ("rows", "created", "rejected")} == {
        "rows": 2,
        "created": 1,
        "rejected": 1,
    }
    assert ended["summary"]["issues"] == [
        {
            "row": 3,
            "column": "Email",
            "reason": "is not a valid e-mail address (An email address must have an @-sign.)",
            "outcome": "rejected",
        }
    ]
    [ada] = alice.get("/contacts").json["items"]
    assert (ada["first_name"], ada["tags"]) == ("Ada", ["web"])
    assert api.as_("bob").get(f"/jobs/{job['id']}").status == 404
    bad = alice.post(
        "/imports/contacts/jobs",
        files={"file": ("people.csv", CSV)},
        form={"mapping": json.dumps({"colour": "Email"})},
    )
    assert bad.status == 422
    assert bad.problem["errors"] == [
        {"field": "mapping.colour", "message": "is not a field of a contact"}
    ]
    assert [j["id"] for j in alice.get("/jobs").json["items"]] == [job["id"]]


def test_our_export_imports_back_with_the_export_mapping(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    assert _import(alice).json["created"] == 1
    started = alice.post("/exports/contacts")
    web_crm.jobs.wait(timeout=60)
    exported = alice.get(f"/jobs/{started.json['id']}/file").body
    again = alice.post(
        "/imports/contacts",
        files={"file": ("contacts.csv", exported)},
        form={"mapping": "export", "on_duplicate": "update"},
    )
    assert again.status == 200, again.body
    assert (again.json["rows"], again.json["unchanged"]) == (1, 1)
    # Edited: a new first name and e-mail; the row is still Ada's, found by its Id.
    assert exported.count(b"ada@example.com") == 1
    changed = exported.replace(b"ada@example.com", b"ada.l@example.org").replace(b"Ada", b"Augusta")
    edited = alice.post(
        "/imports/contacts",
        files={"file": ("contacts.csv", changed)},
        form={"mapping": "export", "on_duplicate": "update"},
    )
    assert edited.status == 200, edited.body
    assert (edited.json["updated"], edited.json["created"], edited.json["issues"]) == (1, 0, [])
    [ada] = alice.get("/contacts").json["items"]
    assert ada["first_name"] == "Augusta"


DEALS = b"Title,Stage,Amount,Currency,Client\nBig,Won,1200,EUR,ada@example.com\nOdd,,12.345,,\n"
DEALS_MAPPING = json.dumps(
    {
        "title": "Title",
        "stage": "Stage",
        "budget": "Amount",
        "currency": "Currency",
        "contact": "Client",
    }
)


def test_opportunities_import_at_once_and_as_a_job(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    assert _import(alice).json["created"] == 1  # ada@example.com, the main contact
    [ada] = alice.get("/contacts").json["items"]
    files = {"file": ("deals.csv", DEALS)}
    dry = alice.post(
        "/imports/opportunities", files=files, form={"mapping": DEALS_MAPPING, "dry_run": "true"}
    )
    assert dry.status == 200, dry.body
    assert (dry.json["kind"], dry.json["created"], dry.json["rejected"]) == ("opportunities", 1, 1)
    assert dry.json["issues"] == [
        {
            "row": 3,
            "column": "Amount",
            "reason": "has more decimals than USD allows (2)",
            "outcome": "rejected",
        }
    ]
    assert alice.get("/opportunities").json["items"] == []
    started = alice.post(
        "/imports/opportunities/jobs",
        files={"file": ("deals.csv", DEALS)},
        form={"mapping": DEALS_MAPPING, "defaults": json.dumps({"tags": ["web"]})},
    )
    assert started.status == 202, started.body
    assert web_crm.jobs.wait(timeout=60)
    ended = alice.get(f"/jobs/{started.json['id']}").json
    assert ended["status"] == "succeeded", ended
    assert (ended["summary"]["created"], ended["summary"]["rejected"]) == (1, 1)
    [big] = alice.get("/opportunities").json["items"]
    assert (big["title"], big["budget"], big["contact_id"], big["tags"]) == (
        "Big",
        {"amount": "1200.00", "currency": "EUR"},
        ada["id"],
        ["web"],
    )
    assert (big["probability"], big["actual_close"] is not None) == (100, True)
    again = alice.post("/imports/opportunities", files=files, form={"mapping": DEALS_MAPPING})
    assert (again.json["skipped"], again.json["created"]) == (1, 0)
    refused = alice.post(
        "/imports/opportunities",
        files=files,
        form={"mapping": json.dumps({"title": "Title", "colour": "Stage"})},
    )
    assert refused.problem["errors"] == [
        {"field": "mapping.colour", "message": "is not a field of an opportunity"}
    ]


def test_tasks_import_at_once_and_as_a_job(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    data = b"Task,Due,Owner\nCall Ada,2030-05-01 09:30,bob\nLost,2030-05-01,ghost\n"
    mapping = json.dumps({"title": "Task", "due": "Due", "responsible": "Owner"})
    files = {"file": ("tasks.csv", data)}
    now = alice.post("/imports/tasks", files=files, form={"mapping": mapping, "dry_run": "true"})
    assert now.status == 200, now.body
    assert (now.json["kind"], now.json["created"], now.json["issues"]) == (
        "tasks",
        1,
        [{"row": 3, "column": "Owner", "reason": "no user 'ghost'", "outcome": "rejected"}],
    )
    started = alice.post("/imports/tasks/jobs", files=files, form={"mapping": mapping})
    assert started.status == 202, started.body
    assert web_crm.jobs.wait(timeout=60)
    assert alice.get(f"/jobs/{started.json['id']}").json["summary"]["created"] == 1
    [task] = alice.get("/tasks").json["items"]
    assert (task["title"], task["responsible"], task["due_at"]) == (
        "Call Ada",
        "bob",
        "2030-05-01T09:30:00+00:00",  # the CRM time zone is UTC here
    )


def test_cases_import_at_once_and_as_a_job(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    assert _import(alice).json["created"] == 1
    [ada] = alice.get("/contacts").json["items"]
    data = b"Case,Who\nLeak,ada@example.com\nLeak,\n"
    mapping = json.dumps({"title": "Case", "members": "Who"})
    files = {"file": ("cases.csv", data)}
    now = alice.post("/imports/cases", files=files, form={"mapping": mapping})
    assert now.status == 200, now.body
    assert (now.json["kind"], now.json["created"], now.json["skipped"]) == ("cases", 1, 1)
    [leak] = alice.get("/cases").json["items"]
    assert (leak["title"], leak["members"]) == ("Leak", [ada["id"]])
    started = alice.post(
        "/imports/cases/jobs", files=files, form={"mapping": mapping, "on_duplicate": "create"}
    )
    assert started.status == 202, started.body
    assert web_crm.jobs.wait(timeout=60)
    assert alice.get(f"/jobs/{started.json['id']}").json["summary"]["created"] == 2
    assert len(alice.get("/cases").json["items"]) == 3


def test_a_tasks_export_edited_updates_its_tasks_as_a_job(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    alice = api.as_("alice")
    data = b"Task,Due\nCall Ada,2030-05-01 09:30\nWrite,2030-05-02 10:00\n"
    mapping = json.dumps({"title": "Task", "due": "Due"})
    created = alice.post(
        "/imports/tasks", files={"file": ("t.csv", data)}, form={"mapping": mapping}
    )
    assert created.json["created"] == 2, created.body
    before = {t["title"]: t for t in alice.get("/tasks").json["items"]}
    started = alice.post("/exports/tasks", query={"format": "xlsx"})
    assert web_crm.jobs.wait(timeout=60)
    exported = alice.get(f"/jobs/{started.json['id']}/file").body
    book = openpyxl.load_workbook(io.BytesIO(exported))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("Title")].value == "Call Ada":
            row[header.index("Title")].value = "Call Ada back"
    out = io.BytesIO()
    book.save(out)
    job = alice.post(
        "/imports/tasks/jobs",
        files={"file": ("tasks.xlsx", out.getvalue())},
        form={"mapping": "export", "on_duplicate": "update"},
    )
    assert job.status == 202, job.body
    assert web_crm.jobs.wait(timeout=60)
    summary = alice.get(f"/jobs/{job.json['id']}").json["summary"]
    assert (summary["updated"], summary["unchanged"], summary["created"]) == (1, 1, 0)
    after = {t["title"]: t for t in alice.get("/tasks").json["items"]}
    assert after["Call Ada back"]["id"] == before["Call Ada"]["id"]
    assert after["Call Ada back"]["due_at"] == before["Call Ada"]["due_at"]
    assert after["Write"] == before["Write"]
