"""``opencrm report NAME --out FILE``: a report from the command line, as .xlsx or JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from moneyed import Money

from opencrm import CRM, User
from opencrm.cli import main


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    crm = CRM.open(url, load_entrypoints=False)
    s = crm.session(User(id="ada", crm_admin=True))
    s.opportunities.add("Renewal", budget=Money("1200", "USD"), responsible="ada")
    s.opportunities.add("Upgrade", budget=Money("300", "USD"), responsible="bob")
    crm.close()
    return url


def test_report_writes_an_xlsx(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "deals.xlsx"
    code = main(
        ["report", "opportunities_by_managers", "--db", db, "--period", "all_time",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == (
        f"Opportunities by managers (all time, USD): 2 rows written to {out}\n"
    )
    ws = openpyxl.load_workbook(out).active
    rows = [tuple(c.value for c in r)[:3] for r in ws.iter_rows() if r[0].value in ("ada", "bob")]
    assert rows == [("ada", 1, 1200), ("bob", 1, 300)]


def test_report_writes_json_for_some_managers(db: str, tmp_path: Path) -> None:
    out = tmp_path / "deals.json"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert main(["report", "sales_funnel", "--db", db, "--manager", "bob", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["parameters"] == {"period": "today", "managers": ["bob"]}
    assert data["first_day"] == today
    assert data["tables"][1]["rows"] == [[1, "300.00", "300.00", "0.0"]]


def test_report_errors_are_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "nope", "--db", db, "--out", str(tmp_path / "x.xlsx")]) == 2
    assert capsys.readouterr().err.startswith("opencrm: error: name: must be one of sales_by")
    assert main(["report", "sales_funnel", "--db", db, "--out", str(tmp_path / "x.csv")]) == 2
    assert "--out must end in .xlsx or .json" in capsys.readouterr().err
    bad = ["report", "sales_funnel", "--db", db, "--period", "all_time", "--out", "x.xlsx"]
    assert main(bad) == 2
    assert "period: must be one of today" in capsys.readouterr().err
