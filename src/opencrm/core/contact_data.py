"""Validation and normalisation of what users type into contacts.

Each ``clean_*`` function returns the cleaned value or raises :class:`ValidationError` naming
the field, so callers can report every bad field at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, rfc_constants, validate_email

from opencrm.core._inputs import has_control, multi_line, no_control
from opencrm.core.entities.contacts import Address, InfoType
from opencrm.errors import ValidationError

__all__ = [
    "MAX_NAME",
    "MAX_TEXT",
    "clean_address",
    "clean_email",
    "clean_info_value",
    "clean_name",
    "clean_phone",
    "clean_text",
    "clean_url",
    "has_control",
    "no_control",
    "search_phone_prefix",
]

MAX_NAME = 255
MAX_TEXT = 65_000
MAX_INFO = 255


def clean_name(field: str, value: object, *, required: bool) -> str:
    """A one-line name: a string, trimmed, at most 255 characters, no line breaks."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: "must be a string"})
    value = " ".join(value.split())
    if required and not value:
        raise ValidationError({field: "is required"})
    if len(value) > MAX_NAME:
        raise ValidationError({field: f"is longer than {MAX_NAME} characters"})
    return no_control(field, value)


def clean_text(field: str, value: object, *, max_length: int = MAX_TEXT) -> str:
    """Free text (notes): trimmed, line breaks kept (CR LF becomes LF), at most
    ``max_length`` characters."""
    if value is None:
        return ""
    return multi_line(value, field, max_length=max_length)


def clean_email(value: str, field: str = "email") -> tuple[str, str]:
    """Return (display form, normalised form) of an e-mail address; no DNS lookups.

    The display form keeps an internationalised domain in Unicode, as typed; the normalised
    form (what searches and duplicate checks compare) is lower-case with the domain in its
    ASCII (punycode) form, so ``ada@bücher.example`` and ``ada@xn--bcher-kva.example`` match.
    """
    if has_control(value):
        raise ValidationError({field: "contains control characters"})
    common = _plain_email(value.strip())
    if common is not None:
        return common
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError({field: f"is not a valid e-mail address ({exc})"}) from None
    ascii_form = result.ascii_email or f"{result.local_part}@{result.ascii_domain}"
    return result.normalized, ascii_form.lower()


# The common shape of an address, all ASCII: a dot-atom local part (RFC 5322 atext, as
# email-validator's DOT_ATOM_TEXT) of at most 64 characters, an "@", and host-name labels
# (letters, digits, inner hyphens) joined by dots, the last label ending with a letter.
_ATEXT = r"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]"
_PLAIN_EMAIL = re.compile(
    rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@"
    r"((?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)+(?:[a-zA-Z0-9][a-zA-Z0-9\-]*)?[a-zA-Z])",
    re.ASCII,
)


def _plain_email(text: str) -> tuple[str, str] | None:
    """What ``clean_email`` returns for an address of the common shape, without the cost of
    email-validator's general path (Unicode, IDNA, quoting, display names: about 30 us an
    address); None for anything else, which then goes to the library.

    It only ever accepts, and accepts only what the library accepts with the same result
    (tests/unit/test_email_fast_path.py compares the two on generated addresses): for this
    shape the library's checks reduce to the ones below and its normalisation to lower-casing
    the domain (and the local part of an RFC 2142 role name such as ``Info``).
    """
    if len(text) > 254:  # the library's limit on the whole address
        return None
    found = _PLAIN_EMAIL.fullmatch(text)
    if found is None:
        return None
    local, domain = found.groups()
    if len(local) > 64 or "--" in domain:
        # A long local part (refused only in the library's strict mode), and hyphen pairs
        # (Punycode "xn--" labels, the reserved "ab--" form): the library decides. The
        # domain's own limit (253) cannot be reached within 254 for the whole address.
        return None
    domain = domain.lower()
    if max(map(len, domain.split("."))) > 63:
        return None
    for reserved in email_validator.SPECIAL_USE_DOMAIN_NAMES:  # read as the library does
        if domain == reserved or domain.endswith("." + reserved):
            return None
    # Role names the library lower-cases (releases without the list lower-case none).
    if local.lower() in getattr(rfc_constants, "CASE_INSENSITIVE_MAILBOX_NAMES", ()):
        local = local.lower()
    return f"{local}@{domain}", f"{local}@{domain}".lower()


# An extension at the end: "ext. 12", "ext 12", "x12", "#12".
_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*[0-9]{1,10}\s*$", re.IGNORECASE | re.ASCII)
_PHONE_CHARS = re.compile(r"\+?[0-9 ().\-/]+", re.ASCII)


def clean_phone(value: str, *, region: str | None, field: str = "phone") -> tuple[str, str]:
    """Return (raw text, E.164) of a phone number.

    Numbers without a leading ``+`` are read in ``region`` (an ISO country code such as
    ``"DE"``); without a region they must be international. Only ASCII digits, spaces and
    ``+ ( ) . - /`` are accepted, plus an extension at the end (``ext. 12``, ``x12``):
    letters are refused rather than read as keypad digits (``1-800-FLOWERS``).
    """
    raw = " ".join(value.split())
    if has_control(value) or not _PHONE_CHARS.fullmatch(_EXTENSION.sub("", raw) or "-"):
        raise ValidationError(
            {field: "may hold only digits, spaces, + ( ) . - / and an extension such as x12"}
        )
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError({field: "is not a phone number"}) from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValidationError({field: "is not a possible phone number"})
    return raw, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def search_phone_prefix(text: str, *, region: str | None) -> str | None:
    """The E.164 prefix a phone search should match, or None when ``text`` is not phone-like."""
    digits = re.sub(r"[\s().\-/]", "", text)
    if not re.fullmatch(r"\+?\d{3,}", digits):
        return None
    if digits.startswith("+"):
        return digits
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return "+" + digits.lstrip("0") if digits.startswith("00") else None


def clean_url(value: str, field: str = "website") -> tuple[str, str]:
    """Accept only absolute http(s) URLs with a host; add ``https://`` to a bare host name."""
    text = value.strip()
    if "://" not in text and re.match(r"^[\w.-]+\.[a-z]{2,}(/.*)?$", text, re.IGNORECASE):
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:  # a malformed host, such as "http://["
        raise ValidationError({field: "must be an http(s) URL"}) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError({field: "must be an http(s) URL"})
    if any(c.isspace() for c in text) or has_control(text):
        raise ValidationError({field: "must be an http(s) URL"})
    normalized = parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
    return text, normalized


def clean_address(value: Address | Mapping[str, Any], field: str = "address") -> Address:
    if isinstance(value, Address):
        data: Mapping[str, Any] = {
            k: getattr(value, k) for k in ("street", "city", "state", "zip", "country")
        }
    elif isinstance(value, Mapping):
        data = value
    else:
        raise ValidationError({field: "must be an Address or a mapping of its parts"})
    unknown = set(data) - {"street", "city", "state", "zip", "country"}
    if unknown:
        raise ValidationError({field: f"unknown parts: {', '.join(sorted(unknown))}"})
    parts = {k: clean_name(f"{field}.{k}", v, required=False) for k, v in data.items()}
    address = Address(**parts)
    if not address.one_line():
        raise ValidationError({field: "is empty"})
    return address


def clean_info_value(
    info_type: InfoType, value: object, *, region: str | None
) -> tuple[str, str | None, Address | None]:
    """Clean the value of a contact info: returns (value, normalized, address)."""
    field = info_type.value
    if info_type is InfoType.ADDRESS:
        if not isinstance(value, (Address, Mapping)):
            raise ValidationError({field: "must be an Address or a mapping of its parts"})
        address = clean_address(value, field)
        return address.one_line(), None, address
    if not isinstance(value, str):
        raise ValidationError({field: "must be a string"})
    if not value.strip():
        raise ValidationError({field: "is empty"})
    if len(value) > MAX_INFO:
        raise ValidationError({field: f"is longer than {MAX_INFO} characters"})
    if info_type is InfoType.EMAIL:
        shown, normalized = clean_email(value, field)
        return shown, normalized, None
    if info_type is InfoType.PHONE:
        shown, normalized = clean_phone(value, region=region, field=field)
        return shown, normalized, None
    if info_type is InfoType.WEBSITE:
        shown, normalized = clean_url(value, field)
        return shown, normalized, None
    text = clean_name(field, value, required=True)
    if text.lower().startswith(("http:", "https:")) or "://" in text:
        text, _ = clean_url(text, field)
    return text, text.lower(), None
