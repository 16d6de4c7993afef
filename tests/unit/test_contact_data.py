import pytest

from opencrm import Address, InfoType, ValidationError
from opencrm.core import contact_data as cd


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+49 30 1234567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("(020) 7946 0018", "GB", "+442079460018"),
        ("+1 (415) 555-2671", None, "+14155552671"),
    ],
)
def test_phones_are_stored_in_e164_with_the_raw_text_kept(raw, region, e164):
    shown, normalized = cd.clean_phone(raw, region=region)
    assert (shown, normalized) == (" ".join(raw.split()), e164)


@pytest.mark.parametrize("raw", ["12", "not a number", "030 1234567"])
def test_bad_or_ambiguous_phones_are_refused(raw):
    with pytest.raises(ValidationError) as info:
        cd.clean_phone(raw, region=None)
    assert "phone" in info.value.errors


def test_emails_are_normalised_and_checked_without_dns():
    assert cd.clean_email("  Bob.Smith@Example.COM ") == (
        "Bob.Smith@example.com",
        "bob.smith@example.com",
    )
    for bad in ["bob", "bob@", "@example.com", "bob@@example.com", "bob smith@example.com"]:
        with pytest.raises(ValidationError):
            cd.clean_email(bad)


def test_urls_must_be_http_or_https():
    assert cd.clean_url("example.com/about") == (
        "https://example.com/about",
        "https://example.com/about",
    )
    assert cd.clean_url("HTTP://Example.com/X")[1] == "http://example.com/X"
    for bad in [
        "javascript:alert(1)",
        "ftp://example.com",
        "http://",
        "file:///etc/passwd",
        "http://[",
        "https://[::1/x",
    ]:
        with pytest.raises(ValidationError):
            cd.clean_url(bad)


def test_addresses_keep_their_parts_and_refuse_unknown_ones():
    value, normalized, address = cd.clean_info_value(
        InfoType.ADDRESS, {"street": " 1 Main St ", "city": "Springfield"}, region=None
    )
    assert address == Address(street="1 Main St", city="Springfield")
    assert value == "1 Main St, Springfield"
    assert normalized is None
    with pytest.raises(ValidationError):
        cd.clean_address({"planet": "Mars"})
    with pytest.raises(ValidationError):
        cd.clean_address({})


def test_names_are_trimmed_bounded_and_single_line():
    assert cd.clean_name("first_name", "  Ada \n Lovelace ", required=True) == "Ada Lovelace"
    with pytest.raises(ValidationError) as info:
        cd.clean_name("first_name", "   ", required=True)
    assert info.value.errors == {"first_name": "is required"}
    with pytest.raises(ValidationError):
        cd.clean_name("first_name", "x" * 256, required=True)
    with pytest.raises(ValidationError):
        cd.clean_name("first_name", "bad\x00name", required=True)


def test_phone_search_prefix():
    assert cd.search_phone_prefix("+49 30 12", region=None) == "+493012"
    assert cd.search_phone_prefix("smith", region=None) is None
    assert cd.search_phone_prefix("030 1234567", region="DE") == "+49301234567"
