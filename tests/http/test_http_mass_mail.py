"""Mass mail over HTTP (Flask and Django): preview, start (202 + the job's Location), the
job's per-recipient summary, ``{{7*7}}`` refused with nothing sent, and who may send."""

from __future__ import annotations


def _mails(web_crm):  # type: ignore[no-untyped-def]
    return [m for m in web_crm.notifier.take() if not m.subject.startswith("Your job")]


def test_preview_and_send_as_a_job(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    ann = admin.post(
        "/persons", json={"first_name": "Ann <b>", "last_name": "Lee", "email": "ann@example.com"}
    ).json
    nomail = admin.post("/persons", json={"first_name": "Noa"}).json
    template = {
        "subject": "Hi {{first_name}}",
        "text": "Dear {{name}}",
        "html": "<p>Dear {{name}}</p>",
    }
    shown = admin.post("/mass-mail/preview", json={"contact": ann["id"], **template})
    assert shown.status == 200, shown.body
    assert shown.json == {
        "to": ["ann@example.com"],
        "subject": "Hi Ann <b>",
        "text": "Dear Ann <b> Lee",
        "html": "<p>Dear Ann &lt;b&gt; Lee</p>",
    }
    assert _mails(web_crm) == []

    started = admin.post(
        "/mass-mail", json={"ids": [ann["id"], nomail["id"]], "history": True, **template}
    )
    assert started.status == 202, started.body
    job = started.json
    assert started.headers["Location"].removeprefix("/crm") == f"/jobs/{job['id']}"
    assert (job["kind"], job["status"]) == ("mass_mail", "queued")
    assert web_crm.jobs.wait(timeout=30)
    done = admin.get(f"/jobs/{job['id']}").json
    assert done["status"] == "succeeded"
    summary = done["summary"]
    assert (summary["sent"], summary["skipped"], summary["failed"]) == (1, 1, 0)
    assert summary["not_sent"] == [
        {"contact_id": nomail["id"], "email": None, "status": "skipped", "reason": "no_email"}
    ]
    assert summary["history_events"] == 1
    (mail,) = _mails(web_crm)
    assert (mail.to, mail.subject, mail.text, mail.html) == (
        ("ann@example.com",),
        "Hi Ann <b>",
        "Dear Ann <b> Lee",
        "<p>Dear Ann &lt;b&gt; Lee</p>",
    )


def test_a_template_with_an_expression_is_refused_and_nothing_sent(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    ann = admin.post("/persons", json={"first_name": "Ann", "email": "ann@example.com"}).json
    reply = admin.post("/mass-mail", json={"ids": [ann["id"]], "subject": "x", "text": "{{7*7}}"})
    assert reply.status == 422
    (problem,) = reply.json["errors"]
    assert problem["field"] == "text"
    assert "unknown placeholder {{7*7}}" in problem["message"]
    assert web_crm.jobs.wait(timeout=30)
    assert _mails(web_crm) == []
    assert admin.get("/jobs").json["items"] == []


def test_admins_only_until_a_setting_lets_others(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    mine = api.post("/persons", json={"first_name": "Carl", "email": "carl@example.com"}).json
    body = {"ids": [mine["id"]], "subject": "x", "text": "Hi {{first_name}}"}
    assert api.post("/mass-mail", json=body).status == 403
    assert api.get("/mass-mail/senders").json == {"everyone": False, "users": [], "groups": []}
    assert api.put("/mass-mail/senders", json={"everyone": True}).status == 403
    admin = api.as_("admin")
    changed = admin.put("/mass-mail/senders", json={"everyone": False, "users": ["alice"]})
    assert changed.status == 200, changed.body
    assert changed.json == {"everyone": False, "users": ["alice"], "groups": []}
    assert api.post("/mass-mail", json=body).status == 202
    assert web_crm.jobs.wait(timeout=30)
    assert [m.to for m in _mails(web_crm)] == [("carl@example.com",)]
