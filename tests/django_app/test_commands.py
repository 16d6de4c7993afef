"""``manage.py opencrm_reminders``: ``opencrm reminders`` on the project's CRM."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.models import User as DjangoUser
from django.core.management import CommandError, call_command
from django.test import override_settings
from opencrm_django import get_crm
from opencrm_django.runtime import user_adapter

from opencrm import OutboxNotifier

REMIND_AT = dt.datetime(2099, 3, 14, 9, 30, tzinfo=dt.UTC)
AT = "2099-03-14T09:30:00+00:00"


def reminders(*args: str) -> str:
    out = io.StringIO()
    call_command("opencrm_reminders", *args, stdout=out)
    return out.getvalue()


def test_a_due_reminder_is_sent_once_to_the_django_user(alias: str) -> None:
    outbox = OutboxNotifier()
    with override_settings(OPENCRM_CRM_OPTIONS={"notifier": outbox}):
        alice = DjangoUser.objects.create_user("alice", "alice@example.com")
        tasks = get_crm().session(user_adapter().to_crm_user(alice)).tasks
        tasks.add("Call Bob back", REMIND_AT + dt.timedelta(minutes=15), alert=15)
        tasks.add("Later", REMIND_AT + dt.timedelta(hours=2), alert=60)
        outbox.take()
        assert reminders("--at", AT) == "1 reminder due; sent to its responsible user\n"
        assert [m.to for m in outbox.take()] == [("alice@example.com",)]
        assert reminders("--at", AT) == "no reminders due\n"
        assert outbox.take() == []


def test_without_a_notifier_nothing_is_claimed(alias: str) -> None:
    alice = DjangoUser.objects.create_user("alice", "alice@example.com")
    get_crm().session(user_adapter().to_crm_user(alice)).tasks.add(
        "Call Bob back", REMIND_AT + dt.timedelta(minutes=15), alert=15
    )
    with pytest.raises(CommandError) as raised:
        reminders("--at", AT)
    assert str(raised.value) == (
        "opencrm_reminders: the CRM has no notifier (and no plugin delivers notifications), "
        "so no reminder could be sent; give it one (OPENCRM_CRM_OPTIONS['notifier'])"
    )
    outbox = OutboxNotifier()
    with override_settings(OPENCRM_CRM_OPTIONS={"notifier": outbox}):
        assert reminders("--at", AT) == "1 reminder due; sent to its responsible user\n"


def test_a_time_without_offset_is_refused(alias: str) -> None:
    with pytest.raises(CommandError, match="has no UTC offset"):
        reminders("--at", "2099-03-14T09:30")
