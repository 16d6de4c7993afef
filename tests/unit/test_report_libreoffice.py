"""A real spreadsheet client opens a generated report: LibreOffice (headless) converts it.

LibreOffice comes from the Debian packages ``.ci/run`` installs (``libreoffice-calc-nogui``).
Without ``soffice`` the test is skipped on a developer's machine and fails under ``CI=true``,
like PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from moneyed import Money

from opencrm import CRM, InMemoryUserDirectory, User

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture
def soffice() -> str:
    if SOFFICE is None:
        if IN_CI:
            pytest.fail("LibreOffice (soffice) is missing: .ci/run installs libreoffice-calc-nogui")
        pytest.skip("LibreOffice (soffice) is not installed")
    return SOFFICE


def test_libreoffice_opens_a_generated_report(soffice: str, tmp_path: Path) -> None:
    users = [User(id="ada", name="Ada Lovelace", crm_admin=True), User(id="bob", name="Bob")]
    crm = CRM.open(
        "sqlite://",
        load_entrypoints=False,
        directory=InMemoryUserDirectory(users),
        clock=lambda: dt.datetime(2026, 3, 20, 15, 0, tzinfo=dt.UTC),
    )
    ada = crm.session(users[0])
    won = next(s for s in ada.stages.list() if s.type == "won")
    for amount, who, day in (("1200", "ada", 2), ("300.50", "bob", 2), ("99", "bob", 19)):
        ada.opportunities.add(
            f"Deal {amount}",
            budget=Money(amount, "USD"),
            stage=won.id,
            responsible=who,
            actual_close=dt.date(2026, 3, day),
        )
    stored = ada.reports.generate("sales_by_managers", period="this_month")
    source = tmp_path / stored.file_name
    source.write_bytes(ada.reports.download(stored.id))
    profile = (tmp_path / "profile").as_uri()  # a private profile: parallel runs do not clash
    done = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation={profile}",
            "--convert-to",
            "csv",
            "--outdir",
            str(tmp_path / "out"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    converted = tmp_path / "out" / source.with_suffix(".csv").name
    assert converted.exists(), done.stdout + done.stderr
    rows = list(csv.reader(converted.read_text(encoding="utf-8").splitlines()))
    assert rows[0][0] == "Sales by managers"
    header = next(r for r in rows if r and r[0] == "Manager")
    assert header[1:3] == ["Mar 1", "Mar 2"]
    assert header[32] == "Total"
    by_manager = {r[0]: r for r in rows if r and r[0] in ("Ada Lovelace", "Bob", "Total")}
    assert by_manager["Ada Lovelace"][2] == "1200"
    assert by_manager["Bob"][2] == "300.5"
    assert by_manager["Bob"][32] == "399.5"
    assert by_manager["Total"][32] == "1599.5"
