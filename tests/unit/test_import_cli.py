"""``opencrm import``: a file into a CRM database, with a dry run and a printed report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opencrm import CRM, User
from opencrm.cli import main

ADMIN = User(id="admin", name="Admin", crm_admin=True)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert main(["init", url]) == 0
    return url


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(
        "First;Last;Email;City\nAda;Lovelace;ada@example.com;London\nBob;X;not-mail;\n",
        encoding="cp1252",
    )
    return path


def names(url: str) -> list[str]:
    crm = CRM.open(url)
    try:
        return sorted(c.display_name for c in crm.session(ADMIN).contacts.list().items)
    finally:
        crm.close()


def test_dry_run_then_import_with_the_report_printed(db, people, tmp_path, capsys):
    argv = ["import", "contacts", str(people), "--db", db, "--user", "admin", "--admin"]
    argv += ["--map", "first_name=First", "--map", "last_name=Last", "--map", "email=Email"]
    argv += ["--map", "address:home.city=City", "--tags", "imported"]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run: nothing was written\n")
    assert "│ created           │ 1 │" in out
    assert "│ rejected          │ 1 │" in out
    assert "│ 3   │ Email  │ is not a valid e-mail address" in out
    assert names(db) == []
    issues = tmp_path / "issues.csv"
    assert main([*argv, "--issues", str(issues)]) == 0
    assert capsys.readouterr().out.startswith("Import finished\n")
    assert names(db) == ["Ada Lovelace"]
    assert issues.read_text(encoding="utf-8").splitlines()[0] == "row,column,reason,outcome"
    assert main([*argv, "--on-duplicate", "update"]) == 0
    assert "│ unchanged         │ 1 │" in capsys.readouterr().out


def test_mapping_file_and_all_or_nothing(db, people, tmp_path, capsys):
    spec = tmp_path / "mapping.json"
    spec.write_text(
        json.dumps(
            {
                "mapping": {"first_name": "First", "last_name": "Last", "email": "Email"},
                "defaults": {"access": "read"},
            }
        )
    )
    argv = ["import", "contacts", str(people), "--db", db, "--user", "admin", "--admin"]
    assert main([*argv, "--map-file", str(spec), "--atomic"]) == 1
    assert "All or nothing: a row was rejected" in capsys.readouterr().out
    assert names(db) == []


def test_bad_arguments_are_one_line_errors(db, people, capsys):
    argv = ["import", "contacts", str(people), "--db", db, "--user", "admin"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("opencrm: error: ")
    assert main([*argv, "--map", "first_name=Vorname"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no column 'Vorname'" in err


def test_map_export_reads_our_export_back(db, tmp_path, capsys):
    crm = CRM.open(db)
    try:
        crm.session(ADMIN).contacts.add_person("Ada", "Lovelace", phone="+44 20 7946 0018")
    finally:
        crm.close()
    out = tmp_path / "contacts.csv"
    base = ["--db", db, "--user", "admin", "--admin"]
    assert main(["export", "contacts", *base, "--out", str(out)]) == 0
    assert b'"\'+44 20 7946 0018"' in out.read_bytes()  # neutralised in the file
    capsys.readouterr()
    argv = ["import", "contacts", str(out), *base, "--map", "export", "--on-duplicate", "update"]
    assert main(argv) == 0
    assert "│ unchanged         │ 1 │" in capsys.readouterr().out
    assert main([*argv[:-4], "--map", "export", "--map", "first_name=First name"]) == 2
    assert "export reads our export by its headers: give it alone" in capsys.readouterr().err


def test_opportunities_import_from_the_command_line(db, tmp_path, capsys):
    deals = tmp_path / "deals.csv"
    deals.write_text("Deal,Amount\nRenewal,1500\nGhost,1\n", encoding="utf-8")
    argv = ["import", "opportunities", str(deals), "--db", db, "--user", "admin", "--admin"]
    argv += ["--map", "title=Deal", "--map", "budget=Amount", "--tags", "cli"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "│ created           │ 2 │" in out
    crm = CRM.open(db)
    try:
        deals_stored = crm.session(ADMIN).opportunities.list().items
        assert sorted((o.title, str(o.budget.amount), o.tags) for o in deals_stored) == [
            ("Ghost", "1.00", frozenset({"cli"})),
            ("Renewal", "1500.00", frozenset({"cli"})),
        ]
    finally:
        crm.close()
    # Contacts' defaults are no opportunity defaults: a one-line error, nothing written.
    assert main([*argv, "--managers", "admin"]) == 2
    assert "defaults.managers" in capsys.readouterr().err
