"""The report catalogs are complete: every text the built-in reports and the .xlsx renderer
mark for translation (``_("...")`` with ``_ = ctx.gettext``, ``N_("...")``) has a non-empty
translation in each built-in language with the same ``{placeholders}``, no catalog keeps texts
the code no longer uses, and every text translated while the reports are built was marked."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from opencrm import CRM, InMemoryUserDirectory, User
from opencrm.core.reports import _i18n, _report, builtin
from opencrm.core.reports import _periods as periods
from opencrm.core.services import reports as report_service
from opencrm.io import report_xlsx

SOURCES = [Path(m.__file__ or "") for m in (builtin, periods, report_xlsx)]
LANGUAGES = ["de", "es", "fr", "ru"]
KEYWORDS: dict[str, Any] = {"_": None, "N_": None}


def extracted() -> set[str]:
    return {
        str(m[1])
        for source in SOURCES
        for m in extract_from_file("python", str(source), keywords=KEYWORDS)
    }


def catalog(language: str) -> dict[str, str]:
    with (_i18n.LOCALE_DIR / language / "LC_MESSAGES" / "reports.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_the_extraction_finds_the_texts() -> None:
    found = extracted()
    assert len(found) >= 100
    for text in ("Sales by managers", "Manager", "Not set", "This week", "Generated"):
        assert text in found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated_with_the_same_placeholders(language: str) -> None:
    translations = catalog(language)
    missing = sorted(extracted() - set(translations))
    assert not missing, f"{language}: no translation for {missing}"
    for msgid in extracted():
        msgstr = translations[msgid]
        assert msgstr.strip(), f"{language}: empty translation of {msgid!r}"
        assert placeholders(msgstr) == placeholders(msgid), (language, msgid, msgstr)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalog_keeps_unused_texts(language: str) -> None:
    unused = sorted(set(catalog(language)) - extracted())
    assert not unused, f"{language}: texts no longer used: {unused}"


def test_every_text_translated_while_building_was_marked(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a text passed to the translation in a way the extraction cannot see (an
    f-string, a variable never marked)."""
    seen: set[str] = set()
    real = _i18n.translate

    def spy(text: str, locale: str, directories: tuple[Path, ...] = ()) -> str:
        seen.add(text)
        return real(text, locale, directories)

    for module in (_report, report_service, report_xlsx):
        monkeypatch.setattr(module, "translate", spy)
    admin = User(id="admin", name="Admin", crm_admin=True)
    crm = CRM(engine, load_entrypoints=False, directory=InMemoryUserDirectory([admin]))
    s = crm.session(admin)
    s.settings.set_regional(locale="de_DE")
    s.reports.types()
    for report in builtin.BUILTIN_REPORTS:
        for period in report.periods:
            report_xlsx.render_xlsx(s.reports.build(report.name, period=str(period)))
    assert {"Umsatz nach Managern", "Gesamt"} <= {real(t, "de_DE") for t in seen}
    assert not sorted(seen - extracted()), "translated but not marked for extraction"
