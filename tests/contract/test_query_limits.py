"""Every list, count and search holds its input to the limits in :mod:`opencrm.core.query`.

At each limit the call succeeds; one over it is a ValidationError naming the filter (or
``limit``), with the exact message the docs give.
"""

from __future__ import annotations

import datetime as dt

import pytest

from opencrm import ValidationError
from opencrm.core.query import MAX_FILTER_TEXT, MAX_FILTER_VALUES, MAX_PAGE_SIZE

TOO_MANY = f"must have at most {MAX_FILTER_VALUES} values"
TOO_LONG = f"must have at most {MAX_FILTER_TEXT} characters"
BAD_LIMIT = f"must be a whole number from 1 to {MAX_PAGE_SIZE}"
DUE = dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC)

#: Every paged list and its counterparts: (service, has tags, has search).
LISTS = {
    "contacts": (True, True),
    "opportunities": (True, True),
    "cases": (True, True),
    "tasks": (False, False),
    "history": (False, False),
    "invoices": (False, False),
}
TAGGED = sorted(k for k, (tagged, _) in LISTS.items() if tagged)
SEARCHED = sorted(k for k, (_, searched) in LISTS.items() if searched)
#: Text-valued filters (user ids included): all held to MAX_FILTER_TEXT characters.
TEXT_FILTERS = [
    ("contacts", "text"),
    ("contacts", "manager"),
    ("opportunities", "text"),
    ("opportunities", "responsible"),
    ("cases", "text"),
    ("tasks", "text"),
    ("tasks", "responsible"),
    ("history", "text"),
    ("history", "author"),
    ("invoices", "text"),
]


def _tags(n: int) -> list[str]:
    return [f"tag {k:03d}" for k in range(n)]


def _add_tagged(s, service: str, titles: list[str]):
    if service == "contacts":
        return s.contacts.add_person("Tagged", tags=titles)
    return getattr(s, service).add("Tagged", tags=titles)


@pytest.mark.parametrize("service", TAGGED)
def test_a_tag_filter_at_the_limit_finds_what_carries_every_tag(admin, service):
    titles = _tags(MAX_FILTER_VALUES)
    tagged = _add_tagged(admin, service, titles)
    _add_tagged(admin, service, titles[:-1])  # one short: not found
    found = getattr(admin, service).list(tags=[t.upper() for t in titles])
    assert [r.id for r in found] == [tagged.id]
    assert getattr(admin, service).count(tags=titles) == 1


@pytest.mark.parametrize("service", TAGGED)
@pytest.mark.parametrize("call", ["list", "count"])
def test_a_tag_filter_over_the_limit_is_refused(admin, service, call):
    method = getattr(getattr(admin, service), call)
    with pytest.raises(ValidationError) as info:
        method(tags=_tags(MAX_FILTER_VALUES + 1))
    assert info.value.errors == {"tags": TOO_MANY}
    # A generator is counted the same way, without being read to its end.
    endless = (f"t{n}" for n in iter(int, 1))
    with pytest.raises(ValidationError) as info:
        method(tags=endless)
    assert info.value.errors == {"tags": TOO_MANY}


@pytest.mark.parametrize("service", TAGGED)
def test_tag_filter_semantics(admin, service):
    both = _add_tagged(admin, service, ["VIP", "North"])
    vip = _add_tagged(admin, service, ["vip"])
    _add_tagged(admin, service, [])
    svc = getattr(admin, service)

    def ids(**filters: object) -> set[int]:
        return {r.id for r in svc.list(**filters)}

    assert ids(tags=["vip"]) == {both.id, vip.id}
    assert ids(tags=["VIP", "vip", " north "]) == {both.id}  # one tag named twice: once
    assert ids(tags=["vip", "no such tag"]) == set()
    assert ids(tags="north") == {both.id}
    assert ids(tags=[]) == ids()
    assert svc.count(tags=["vip", "north"]) == 1


@pytest.mark.parametrize(("service", "name"), TEXT_FILTERS)
def test_text_filters_at_and_over_the_limit(admin, service, name):
    svc = getattr(admin, service)
    assert list(svc.list(**{name: "x" * MAX_FILTER_TEXT})) == []
    assert svc.count(**{name: "x" * MAX_FILTER_TEXT}) == 0
    for call in (svc.list, svc.count):
        with pytest.raises(ValidationError) as info:
            call(**{name: "x" * (MAX_FILTER_TEXT + 1)})
        assert info.value.errors == {name: TOO_LONG}


@pytest.mark.parametrize("service", SEARCHED)
def test_search_text_and_limit(admin, service):
    svc = getattr(admin, service)
    assert list(svc.search("x" * MAX_FILTER_TEXT)) == []
    assert list(svc.search("x", limit=MAX_PAGE_SIZE)) == []
    with pytest.raises(ValidationError) as info:
        svc.search("x" * (MAX_FILTER_TEXT + 1))
    assert info.value.errors == {"text": TOO_LONG}
    with pytest.raises(ValidationError) as info:
        svc.search("x", limit=MAX_PAGE_SIZE + 1)
    assert info.value.errors == {"limit": BAD_LIMIT}


@pytest.mark.parametrize("service", sorted(LISTS))
def test_page_size_at_and_over_the_limit(admin, service):
    svc = getattr(admin, service)
    assert len(svc.list(limit=MAX_PAGE_SIZE)) == 0
    for bad in (MAX_PAGE_SIZE + 1, 0, 10**30):
        with pytest.raises(ValidationError) as info:
            svc.list(limit=bad)
        assert info.value.errors == {"limit": BAD_LIMIT}


def test_product_text_filter(admin):
    admin.products.add("Widget", "10")
    assert admin.products.list(text="x" * MAX_FILTER_TEXT) == []
    with pytest.raises(ValidationError) as info:
        admin.products.list(text="x" * (MAX_FILTER_TEXT + 1))
    assert info.value.errors == {"text": TOO_LONG}


def test_audit_trail_limits(admin):
    admin.contacts.add_person("Someone")
    assert len(admin.settings.audit_trail(limit=MAX_PAGE_SIZE)) >= 1
    for bad in (MAX_PAGE_SIZE + 1, 0, -1, "10", True):
        with pytest.raises(ValidationError) as info:
            admin.settings.audit_trail(limit=bad)
        assert info.value.errors == {"limit": BAD_LIMIT}
