"""The CRM's regional settings: the locale reports are written in (headers, dates, the first
day of the week) and the time zone their periods are read in."""

from __future__ import annotations

import zoneinfo
from typing import Any

import attrs
from babel import Locale, UnknownLocaleError

from opencrm.errors import ValidationError

__all__ = ["LOCALE_KEY", "TIME_ZONE_KEY", "Regional", "clean_locale", "clean_time_zone"]

LOCALE_KEY = "locale"
TIME_ZONE_KEY = "time_zone"


def clean_locale(value: object, field: str = "locale") -> str:
    """A CLDR locale name such as ``en_US`` or ``de_DE`` (``de-DE`` is accepted)."""
    if not isinstance(value, str) or not value or len(value) > 20:
        raise ValidationError({field: "must be a locale such as en_US or de_DE"})
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValidationError({field: f"unknown locale {value!r}"}) from None


def clean_time_zone(value: object, field: str = "time_zone") -> str:
    """An IANA time zone name such as ``Europe/Berlin``."""
    if not isinstance(value, str) or not value or len(value) > 60:
        raise ValidationError({field: "must be a time zone such as Europe/Berlin"})
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError({field: f"unknown time zone {value!r}"}) from None
    return value


@attrs.frozen(kw_only=True)
class Regional:
    """``locale`` (default ``en_US``) and ``time_zone`` (default ``UTC``) of the CRM."""

    locale: str = "en_US"
    time_zone: str = "UTC"

    @classmethod
    def from_settings(cls, values: dict[str, Any]) -> Regional:
        return cls(
            locale=str(values.get(LOCALE_KEY) or "en_US"),
            time_zone=str(values.get(TIME_ZONE_KEY) or "UTC"),
        )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)
