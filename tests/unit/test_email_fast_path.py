"""``clean_email`` answers plain ASCII addresses itself and everything else through
email-validator: these tests check that the two always agree, in verdict, message and
normalised forms, on generated addresses (valid and invalid) and on known edge cases."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencrm import ValidationError
from opencrm.core import contact_data as cd
from opencrm.core._inputs import has_control


def library(value: str) -> tuple[str, str]:
    """What ``clean_email`` returned before it had a fast path: the library's verdict."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return ("error", f"is not a valid e-mail address ({exc})")
    ascii_form = result.ascii_email or f"{result.local_part}@{result.ascii_domain}"
    return result.normalized, ascii_form.lower()


def ours(value: str) -> tuple[str, str]:
    try:
        return cd.clean_email(value)
    except ValidationError as exc:
        return ("error", exc.errors["email"])


def agree(value: str) -> None:
    if has_control(value):  # refused before either path is asked
        return
    assert ours(value) == library(value), value


ATEXT = "abcxyzABCXYZ0189_!#$%&'*+-/=?^`{|}~"
# Characters that leave the common shape: dots, quotes, specials, spaces, non-ASCII letters
# (ü, the Kelvin sign that lower-cases to k, a full-width letter), look-alike at-signs.
ODD = '."(),:;<>@[\\] \u00fc\u212a\uff41\uff20\u00a0'
SPECIAL_TLDS = ["test", "local", "localhost", "invalid", "onion", "arpa", "example", "com"]

local_parts = st.one_of(
    st.text(alphabet=ATEXT, min_size=1, max_size=70),
    st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=12), min_size=1, max_size=6).map(
        ".".join
    ),
    st.text(alphabet=ATEXT + ODD, min_size=0, max_size=70),
    st.sampled_from(["Info", "SALES", "postmaster", "www", "abuse", "Support"]),
    st.text(alphabet=ATEXT + ' "\\@', max_size=20).map(lambda t: f'"{t}"'),
)
labels = st.one_of(
    st.text(alphabet="abcxyzABCXYZ0189-", min_size=1, max_size=70),
    st.text(alphabet="abcxyzABCXYZ0189-" + ODD, min_size=0, max_size=12),
    st.sampled_from(["xn--bcher-kva", "ab--cd", "-a", "a-", "a--b", "bücher", "münchen"]),
)
domains = st.one_of(
    st.tuples(st.lists(labels, min_size=1, max_size=5), st.sampled_from(SPECIAL_TLDS)).map(
        lambda p: ".".join([*p[0], p[1]])
    ),
    st.lists(labels, min_size=1, max_size=6).map(".".join),
    st.lists(labels, min_size=1, max_size=4).map(lambda ls: ".".join(ls) + "."),
    st.sampled_from(["localhost", "[127.0.0.1]", "[IPv6:::1]", "example.com", "EXAMPLE.COM"]),
)
# Mostly well-formed addresses near the edges of the common shape: label and part lengths
# around the limits, hyphens, digits, upper case, role names, special-use top-level domains.
plain_locals = st.one_of(
    st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=10), min_size=1, max_size=4).map(
        ".".join
    ),
    st.text(alphabet="abAB09._-+", min_size=1, max_size=70),
    st.sampled_from(["Info", "SALES", "postmaster", "www", "news", "Support"]),
)
plain_labels = st.one_of(
    st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,12}[a-zA-Z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9-]{58,66}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9-]{1,8}", fullmatch=True),
)
tlds = st.one_of(
    st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9-]{0,6}[a-zA-Z]|[a-zA-Z]", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9-]{1,6}", fullmatch=True),
    st.sampled_from([*SPECIAL_TLDS, "TEST", "Local"]),
)
plain = st.tuples(plain_locals, st.lists(plain_labels, min_size=0, max_size=5), tlds).map(
    lambda p: p[0] + "@" + ".".join([*p[1], p[2]])
)
addresses = st.one_of(
    plain,
    plain,
    plain,
    st.tuples(local_parts, st.sampled_from(["@", "@@", "\uff20"]), domains).map("".join),
    st.tuples(local_parts, domains).map(lambda p: f"Name <{p[0]}@{p[1]}>"),
    st.tuples(st.sampled_from(["", " ", "\t", "\u00a0"]), local_parts, domains).map(
        lambda p: f"{p[0]}{p[1]}@{p[2]}{p[0]}"
    ),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(addresses)
def test_generated_addresses_get_the_libraries_verdict_and_forms(value):
    agree(value)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gets_the_libraries_verdict(value):
    agree(value)


@pytest.mark.parametrize(
    "value",
    [
        "ada@example.com",
        "  Bob.Smith@Example.COM ",
        "Info@Example.org",
        "INFO@example.org",
        "info.desk@example.org",
        "first.last@sub-domain.example.co.uk",
        "a@b.co",
        "a@1.2.3.com",
        "a@example.c0m",
        "a@example.123",
        "x+tag@example.com",
        "o'brien@example.ie",
        "a.@example.com",
        ".a@example.com",
        "a..b@example.com",
        "a@example..com",
        "a@-example.com",
        "a@example-.com",
        "a@ex--ample.com",
        "a@xn--bcher-kva.example",
        "a@xn--bcher.example",
        "a@bücher.example",
        "ä@example.com",
        "a@example.test",
        "a@sub.example.local",
        "a@localhost",
        "a@example.invalid",
        "a@foo.onion",
        "a@in-addr.arpa",
        "a@example",
        "a@[127.0.0.1]",
        '"a b"@example.com',
        '"ab"@example.com',
        "Name <a@example.com>",
        "a@example.com.",
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + ".com",
        "a@" + "b" * 64 + ".com",
        "a@" + ".".join(["b" * 60] * 4) + ".com",
        "a" * 7 + "@" + ".".join(["b" * 60] * 4) + ".co",  # 254 characters
        "a" * 8 + "@" + ".".join(["b" * 60] * 4) + ".co",  # 255
        "a" * 6 + "@" + ".".join(["B" * 60] * 4) + ".Co ",
        "a@\u212aelvin.com",
        "a@example.com\u00a0",
    ],
)
def test_edge_cases_get_the_libraries_verdict(value):
    agree(value)


def test_common_addresses_take_the_fast_path_and_others_do_not():
    assert cd._plain_email("Ada.Lovelace@Example.ORG") == (
        "Ada.Lovelace@example.org",
        "ada.lovelace@example.org",
    )
    assert cd._plain_email("Sales@example.org") == ("sales@example.org", "sales@example.org")
    for other in ["a@bücher.example", "a@example.test", '"a"@example.com', "a@xn--x.com"]:
        assert cd._plain_email(other) is None
