"""Match keys: the normalised forms duplicate detection compares.

E-mails and phones are compared by the ``normalized`` form their contact info already stores
(lower-cased address, E.164 number). Names get a key of their own, stored on the contact so
that the database can group on it: case, accents, punctuation and spacing are ignored, and a
company's legal form ("Ltd", "GmbH", "Inc.") too, so "ACME Ltd." and "Acme" are the same key.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["LEGAL_FORMS", "company_key", "person_key"]

#: Words dropped from the end of a company name before comparing (after folding).
LEGAL_FORMS = frozenset(
    {
        "ab", "ag", "as", "bv", "co", "company", "corp", "corporation", "gmbh", "inc",
        "incorporated", "kg", "limited", "llc", "llp", "lp", "ltd", "nv", "oy", "plc", "pty",
        "sa", "sarl", "sas", "spa", "srl", "ug",
    }
)  # fmt: skip

_NOT_WORD = re.compile(r"[\W_]+")


def _words(text: str) -> list[str]:
    folded = text.casefold()
    if folded.isascii():  # nothing to decompose, no combining marks: the common case, quickly
        bare = folded
    else:
        decomposed = unicodedata.normalize("NFKD", folded)
        bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return [w for w in _NOT_WORD.split(bare) if w]


def company_key(name: str) -> str:
    """``"ACME Ltd."`` -> ``"acme"``; legal forms are dropped only from the end, and never
    the whole name (``"Company"`` stays ``"company"``)."""
    words = _words(name)
    # "S.A." and "G.m.b.H." arrive as single letters: join a trailing run of them first.
    while len(words) > 1 and words[-1] not in LEGAL_FORMS:
        tail = len(words)
        while tail > 0 and len(words[tail - 1]) == 1:
            tail -= 1
        joined = "".join(words[tail:])
        if tail < len(words) - 1 and joined in LEGAL_FORMS:
            words = [*words[:tail], joined]
            continue
        break
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)


def person_key(first_name: str, last_name: str) -> str:
    """``" José  O'Neil"`` -> ``"jose o neil"``: the name as compared, first name first."""
    return " ".join(_words(f"{first_name} {last_name}"))
