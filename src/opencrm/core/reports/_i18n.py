"""Report texts in the CRM's language: gettext catalogs (``.po``, read with babel).

The built-in reports' titles, table titles, column headers, chart titles and row labels are
English in the code and translated from ``locale/<language>/LC_MESSAGES/reports.po`` next to
this module (de, es, fr, ru). A plugin's report names its own catalog directory in
:attr:`Report.locale_dir` (same layout, same ``reports`` domain); its catalog is read first,
then the built-in one, and a text found in neither stays as given.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

__all__ = ["DOMAIN", "LOCALE_DIR", "N_", "translate"]

DOMAIN = "reports"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(text: str) -> str:
    """Mark ``text`` for the catalogs without translating it now."""
    return text


@cache
def _catalog(directory: Path, language: str) -> dict[str, str]:
    path = directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@cache
def _languages(locale: str) -> tuple[str, ...]:
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return ()
    return tuple(dict.fromkeys((str(parsed), parsed.language)))


def translate(text: str, locale: str, directories: tuple[Path, ...] = ()) -> str:
    """``text`` in ``locale`` (``de_AT`` falls back to ``de``), looked up in ``directories``
    then in the built-in catalog; ``text`` itself when no catalog has it."""
    for language in _languages(locale):
        for directory in (*directories, LOCALE_DIR):
            found = _catalog(directory, language).get(text)
            if found:
                return found
    return text
