"""Imports of cases from CSV files, on every backend."""

from __future__ import annotations

import attrs
import pytest

from opencrm import ValidationError
from opencrm.core.imports import RowIssue
from opencrm.io import CsvRows

MAPPING = {
    "title": "Case",
    "members": "Who",
    "member_ids": "Ids",
    "tags": "Tags",
    "custom:Severity": "Severity",
}


def csv_of(*rows: str) -> bytes:
    return "\n".join(["Case,Who,Ids,Tags,Severity", *rows]).encode()


@pytest.fixture
def ann(admin):  # type: ignore[no-untyped-def]
    admin.fields.add("case", "Severity", "select", {"choices": ["low", "high"]})
    return admin.contacts.add_person("Ann", "Lee", email="ann@example.com", access="read_write")


def test_rows_become_cases(admin, ann):
    bo = admin.contacts.add_person("Bo", "Ek", access="read_write")
    data = csv_of(f'Broken pump,"ann@example.com",{bo.id},"urgent,pumps",high', "Quiet,,,,")
    report = admin.imports.run(
        "cases", CsvRows(data), MAPPING, defaults={"restricted": True, "access_list": ["alice"]}
    )
    assert (report.created, report.rejected, report.issues) == (2, 0, ())
    cases = {c.title: c for c in admin.cases.list().items}
    pump = cases["Broken pump"]
    assert pump.members == {ann.id, bo.id}
    assert pump.tags == {"urgent", "pumps"}
    assert admin.cases.custom_values(pump) == {"Severity": "high"}
    assert (pump.restricted, pump.access_list, pump.closed) == (True, {"admin", "alice"}, False)
    assert cases["Quiet"].members == frozenset()


def test_bad_rows_duplicates_and_dry_run(admin, ann, bob):
    data = csv_of(
        "Pump,zed@example.com,,,",
        "Pump,,,,medium",
        "Pump,,x,,",
        "Pump,,,,low",
        "pump,,,,",
    )
    dry = admin.imports.run("cases", CsvRows(data), MAPPING, dry_run=True)
    assert admin.cases.count() == 0
    real = admin.imports.run("cases", CsvRows(data), MAPPING)
    assert attrs.evolve(dry, dry_run=False, committed=True, created_ids=real.created_ids) == real
    assert (real.created, real.skipped, real.rejected) == (1, 1, 3)
    assert real.issues == (
        RowIssue(3, "Severity", "must be one of low, high"),
        RowIssue(4, "Ids", "'x' is not a whole number"),
        RowIssue(2, "Who", "no contact with the e-mail 'zed@example.com'"),
        RowIssue(6, None, "a case with this title exists", "skipped"),
    )
    # Bob cannot see admin's restricted case of the same title: his is a new one.
    admin.imports.run(
        "cases", CsvRows(b"Case\nSecret\n"), {"title": "Case"}, defaults={"restricted": True}
    )
    mine = bob.imports.run("cases", CsvRows(b"Case\nSecret\n"), {"title": "Case"})
    assert (mine.created, mine.skipped) == (1, 0)
    with pytest.raises(ValidationError) as caught:
        admin.imports.run("cases", CsvRows(data), {"title": "Case", "budget": "Who"})
    assert caught.value.errors == {"mapping.budget": "is not a field of a case"}
