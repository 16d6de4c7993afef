"""The mass mail template grammar: fixed placeholders only, nothing evaluated, values escaped in
HTML; Hypothesis checks that text without ``{{`` passes through unchanged and that anything
but a known name between the braces is refused, naming it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrm.core._inputs import MAX_ID
from opencrm.core.mail_template import FIELDS, parse
from opencrm.core.services.mass_mail import _pack, _unpack
from opencrm.errors import ValidationError

VALUES = {"first_name": "Ann", "company": "A & B <x>", "custom:Shoe size": "38"}


def test_placeholders_with_spaces_and_custom_labels() -> None:
    template = parse(
        "Hi {{ first_name }} ({{custom: Shoe  size }}) at {{company}}", "text", {"Shoe size"}
    )
    assert template.placeholders == ("first_name", "custom:Shoe size", "company")
    assert template.render(VALUES) == "Hi Ann (38) at A & B <x>"
    assert template.render(VALUES, mode="html") == "Hi Ann (38) at A &amp; B &lt;x&gt;"


def test_subject_values_stay_on_one_line() -> None:
    template = parse("About {{name}}", "subject")
    assert template.render({"name": "Evil\r\nBcc: x@example.com"}, mode="subject") == (
        "About Evil Bcc: x@example.com"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{7*7}}", "unknown placeholder {{7*7}}; use one of"),
        ("{{ first_name|upper }}", "unknown placeholder {{ first_name|upper }}"),
        ("{{__import__('os')}}", "unknown placeholder {{__import__('os')}}"),
        ("{{custom:Hat}}", "unknown placeholder {{custom:Hat}}: no custom field 'Hat'"),
        ("{{}}", "unknown placeholder {{}}"),
        ("Hi {{name", "the placeholder '{{name' is not closed with }}"),
    ],
)
def test_anything_else_between_braces_is_refused_naming_it(source: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse(source, "text", {"Shoe size"})
    assert err.value.errors["text"].startswith(message)


PLAIN = st.text(st.characters(blacklist_categories=("Cs", "Cc"))).filter(lambda t: "{{" not in t)


@given(PLAIN)
def test_text_without_placeholders_renders_as_written(text: str) -> None:
    template = parse(text, "text")
    assert template.placeholders == ()
    assert template.render({}) == text


INNER = st.text(min_size=1, max_size=20).filter(lambda t: "}}" not in t)


@given(st.one_of(st.sampled_from([f" {n} " for n in FIELDS]), INNER))
def test_only_known_names_are_placeholders(inner: str) -> None:
    source = "{{" + inner + "}}"
    if inner.strip() not in FIELDS:
        with pytest.raises(ValidationError) as err:
            parse(source, "html")
        assert list(err.value.errors) == ["html"]
    else:
        assert parse(source, "html").placeholders == (inner.strip(),)


@given(st.lists(st.integers(1, MAX_ID), max_size=200))
def test_selected_ids_pack_and_unpack(ids: list[int]) -> None:
    assert _unpack(_pack(ids)) == sorted(set(ids))


def test_ten_thousand_scattered_ids_fit_in_a_jobs_parameters() -> None:
    scattered = [MAX_ID - 214_748 * i for i in range(10_000)]
    assert len(_pack(scattered)) < 50_000
    assert _pack(range(1, 10_001)) == "1+7pr"  # 1, then 9,999 (7pr in base 36) more
