"""The notification catalogs are complete: every message notifications.py translates has a
non-empty translation in each built-in language, with the same ``{placeholders}``, and no
catalog keeps messages the code no longer uses."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from opencrm import InMemoryUserDirectory, OutboxNotifier, User
from opencrm.core.entities.activities import HistoryEvent, Task
from opencrm.core.events import Event
from opencrm.plugins.builtin import notifications

SOURCE = Path(notifications.__file__)
LOCALE = SOURCE.parent / "locale"
LANGUAGES = ["de", "es", "fr", "ru"]
# translate("literal", language) and gettext_noop("literal") mark the translatable messages.
KEYWORDS: dict[str, Any] = {"translate": (1,), "gettext_noop": None}


def extracted() -> set[str]:
    return {str(m[1]) for m in extract_from_file("python", str(SOURCE), keywords=KEYWORDS)}


def catalog(language: str) -> dict[str, str]:
    with (LOCALE / language / "LC_MESSAGES" / "notifications.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_the_extraction_finds_the_messages() -> None:
    found = extracted()
    assert len(found) >= 25
    for text in ("Hello {recipient},", "Due: {due}", "{actor} assigned you the task {name}"):
        assert text in found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    translations = catalog(language)
    missing = sorted(extracted() - set(translations))
    assert not missing, f"{language}: no translation for {missing}"
    for msgid in extracted():
        msgstr = translations[msgid]
        assert msgstr.strip(), f"{language}: empty translation of {msgid!r}"
        assert placeholders(msgstr) == placeholders(msgid), (language, msgid, msgstr)
        msgstr.format(**dict.fromkeys(placeholders(msgid), "x"))  # well-formed


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalog_keeps_unused_messages(language: str) -> None:
    unused = sorted(set(catalog(language)) - extracted())
    assert not unused, f"{language}: messages no longer used: {unused}"


def test_every_text_translated_at_runtime_was_extracted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a message passed to translate() in a way the extraction cannot see."""
    seen: set[str] = set()
    real = notifications.translate

    def spy(text: str, language: str) -> str:
        seen.add(text)
        return real(text, language)

    monkeypatch.setattr(notifications, "translate", spy)
    at = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
    stamp = {"created_by": "a", "created_at": at, "updated_by": "a", "updated_at": at}
    task = Task(
        id=1, title="T", category_id=1, due_at=at, responsible="b", description="D", **stamp
    )
    entry = HistoryEvent(id=1, content="C", category_id=1, happened_at=at, **stamp)
    outbox = OutboxNotifier()
    users = [User(id="a", name="A"), User(id="b", name="B", email="b@example.com")]
    crm = SimpleNamespace(directory=InMemoryUserDirectory(users), notify=outbox.send)
    facts: dict[str, dict[str, Any]] = {
        "contact.access_changed": {"granted": ["b"]},
        "opportunity.responsible_changed": {"responsible": "b"},
        "opportunity.access_changed": {"granted": ["b"]},
        "case.access_changed": {"granted": ["b"]},
        "task.assigned": {
            "responsible": "b",
            "category": "K",
            "due_at": at.isoformat(),
            "contact": "P",
            "opportunity": "O",
            "case": "Q",
        },
        "history.created": {"notify": ["b"], "category": "K", "parent": "P", "files": ["f"]},
        "report.generated": {"user": "b", "file_name": "f.xlsx"},
    }
    for name, data in facts.items():
        entity = {"task.assigned": task, "history.created": entry}.get(name)
        event = Event(
            name=name,
            entity_type=name.partition(".")[0],
            entity_id=1,
            actor_id="a",
            at=at,
            data=data,
            entity=entity,
        )
        notifications.opencrm_event_committed(crm, event)  # type: ignore[arg-type]
    notifications.task_reminder_mail(task, "K", users[1], contact="P")
    assert len(outbox) == len(facts)
    assert seen, "translate() was never called: has the module changed?"
    assert not sorted(seen - extracted()), "translated but not marked for extraction"
