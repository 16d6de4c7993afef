"""The export columns documented in docs/import-export.md are the ones written: the headers
are a public format (an import reads them back), so a change must show in the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opencrm import CRM, User
from opencrm.io.columns import INFO_COLUMNS, sheet_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "import-export.md"
ENTITIES = ["contacts", "opportunities", "cases", "tasks", "invoices", "history", "products"]


def documented() -> dict[str, list[str]]:
    rows = re.findall(r"^\| (\w+) \| (`Id`.*) \|$", DOC.read_text(encoding="utf-8"), re.M)
    return {name: [c.strip() for c in cols.split(",")] for name, cols in rows}


@pytest.mark.parametrize("entity", ENTITIES)
def test_documented_columns_are_the_written_ones(entity: str) -> None:
    crm = CRM.open("sqlite://", load_entrypoints=False)
    try:
        session = crm.session(User(id="admin", crm_admin=True))
        session.fields.add("contact", "Birthday", "date")
        session.fields.add("opportunity", "Source", "text")
        session.fields.add("case", "Severity", "text")
        header = sheet_for(entity, session).header
    finally:
        crm.close()
    expected: list[str] = []
    for cell in documented()[entity]:
        if cell == "*contact infos*":
            expected += [c[3] for c in INFO_COLUMNS]
        elif cell == "*custom fields*":
            expected += [h for h in header if h.startswith("Custom: ")]
        else:
            expected.append(cell.strip("`"))
    assert header == expected
    assert entity == "contacts" or "Custom: Birthday" not in header


def test_info_columns_follow_the_documented_pattern() -> None:
    headers = [c[3] for c in INFO_COLUMNS]
    assert headers[:7] == [
        "Phone (work)",
        "Phone (home)",
        "Phone (mobile)",
        "Phone (fax)",
        "Phone (direct)",
        "Phone (other)",
        "Email (work)",
    ]
    assert "Address (postal): zip" in headers
    assert len(headers) == len(set(headers))
