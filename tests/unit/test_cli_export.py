"""``opencrm export``: a list or everything to a file, with a progress bar and a summary."""

from __future__ import annotations

import csv
import io
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from opencrm import CRM, User
from opencrm.cli import main, parse_filters

ALICE = User(id="alice", name="Alice")
BOB = User(id="bob", name="Bob")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with CRM.open(url, load_entrypoints=False) as crm:
        alice, bob = crm.session(ALICE), crm.session(BOB)
        alice.contacts.add_person("Ann", tags={"vip"})
        alice.contacts.add_person("=HYPERLINK(1)")
        alice.contacts.add_company("Acme", tags={"vip"})
        bob.contacts.add_person("Bob's own")  # private to bob
    return url


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline="")))


def test_export_writes_what_the_user_sees_with_a_summary(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    out = tmp_path / "contacts.csv"
    code, stdout, stderr = run(
        capsys, "export", "contacts", "--db", db, "--user", "alice", "--out", str(out)
    )
    assert code == 0, stderr
    assert [r["Kind"] + ":" + (r["First name"] or r["Company name"]) for r in rows(out)] == [
        "person:'=HYPERLINK(1)",
        "company:Acme",
        "person:Ann",
    ]
    assert stdout.startswith(f"exported 3 rows of contacts to {out} (CSV, ")
    assert "rows/s)" in stdout
    assert "exporting contacts" in stderr  # the progress bar
    assert "3/3" in stderr


def test_export_filters_sorts_and_writes_xlsx(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    out = tmp_path / "vip.xlsx"
    code, stdout, _ = run(
        capsys,
        "export",
        "contacts",
        "--db",
        db,
        "--user",
        "alice",
        "--format",
        "xlsx",
        "--filter",
        'tags=["vip"]',
        "--sort=-name",
        "--out",
        str(out),
        "--quiet",
    )
    assert code == 0
    sheet = openpyxl.load_workbook(out).active
    assert [(r[1].value, r[2].value, r[4].value) for r in sheet.iter_rows(min_row=2)] == [
        ("person", "Ann", None),
        ("company", None, "Acme"),
    ]
    assert "(XLSX, " in stdout


def test_export_all_is_for_admins_and_writes_a_zip(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    out = tmp_path / "all.zip"
    args = ["export", "--all", "--db", db, "--user", "root", "--out", str(out)]
    code, _, stderr = run(capsys, *args)
    assert code == 2
    assert "only a CRM admin may export all data" in stderr
    assert not out.exists()
    assert list(tmp_path.glob(".all.zip*")) == []  # nothing half-written is left
    code, stdout, _ = run(capsys, *args, "--admin")
    assert code == 0
    with zipfile.ZipFile(out) as archive:
        assert "contacts.csv" in archive.namelist()
        contacts = archive.read("contacts.csv").decode("utf-8-sig")
    assert "Bob's own" in contacts
    assert stdout.startswith(f"exported 4 rows of everything to {out} (ZIP, ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["contacts", "--all"], "name one ENTITY to export, or --all"),
        ([], "name one ENTITY to export, or --all"),
        (["contacts", "--filter", "colour"], "write NAME=VALUE"),
        (["contacts", "--filter", "colour=red"], "colour"),
        (["contacts", "--filter", "created_from=yesterday"], "not an ISO date"),
        (["--all", "--format", "xlsx", "--admin"], "leave out --format"),
        (["planets"], "entity: must be one of contacts, opportunities"),
        (["contacts", "--format", "pdf"], "format: must be one of csv, xlsx"),
    ],
)
def test_export_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, argv: list[str], message: str
) -> None:
    out = tmp_path / "x.csv"
    code, _, stderr = run(
        capsys, "export", *argv, "--db", db, "--user", "alice", "--out", str(out), "--quiet"
    )
    assert code == 2
    assert stderr.startswith("opencrm: error: ")
    assert message in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_filters_are_read_as_json_dates_or_text() -> None:
    import datetime as dt

    assert parse_filters(['tags=["a", "b"]', "temperature=3", "text=Bob", "x=true"]) == {
        "tags": ["a", "b"],
        "temperature": 3,
        "text": "Bob",
        "x": True,
    }
    assert parse_filters(["created_from=2026-01-02T03:04:05+00:00"]) == {
        "created_from": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    }


@pytest.fixture
def app(tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"crm_export_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / f"{name}.py").write_text(
        "from opencrm import CRM, InMemoryUserDirectory, User\n"
        "def get_crm():\n"
        f"    users = [User(id='alice'), User(id='root', crm_admin=True)]\n"
        f"    return CRM.open({db!r}, directory=InMemoryUserDirectory(users),"
        " load_entrypoints=False)\n"
    )
    monkeypatch.syspath_prepend(tmp_path / "apps")
    yield name
    sys.modules.pop(name, None)


def test_export_through_the_host_app_acts_as_its_directory_user(
    capsys: pytest.CaptureFixture[str], app: str, tmp_path: Path
) -> None:
    out = tmp_path / "tasks.csv"
    code, stdout, stderr = run(
        capsys, "export", "tasks", "--app", f"{app}:get_crm", "--user", "alice", "--out", str(out)
    )
    assert code == 0, stderr
    assert rows(out) == []
    assert stdout.startswith("exported 0 rows of tasks")
    code, _, stderr = run(
        capsys, "export", "tasks", "--app", f"{app}:get_crm", "--user", "eve", "--out", str(out)
    )
    assert code == 2
    assert "has no user 'eve'" in stderr
