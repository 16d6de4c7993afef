"""Name keys: the quick path for ASCII text gives the keys the general Unicode path gives."""

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from opencrm.core.matching import company_key, person_key


def unicode_words(text: str) -> list[str]:
    """The general path, for every text: case-fold, decompose, drop combining marks."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return [w for w in re.split(r"[\W_]+", bare) if w]


names = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="abcXYZ019 .,'-_\u00df\u212a\u0130\u00e9\u0301\ufb01", max_size=30),
)


@settings(max_examples=1000, deadline=None)
@given(names, names)
def test_person_keys_are_the_words_of_the_unicode_path(first, last):
    assert person_key(first, last) == " ".join(unicode_words(f"{first} {last}"))


def test_keys_ignore_case_accents_punctuation_and_legal_forms():
    assert person_key(" José ", "O'Neil") == "jose o neil"
    assert person_key("Straße", "") == "strasse"
    assert company_key("ACME Ltd.") == "acme"
    assert company_key("Müller G.m.b.H.") == "muller"
