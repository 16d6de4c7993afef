"""Delivering a notification: a plugin first (``opencrm_deliver_notification``), else the CRM's
:class:`~opencrm.core.ports.Notifier`, else nobody."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opencrm.core.ports import BatchNotifier, Message, Notifier
from opencrm.errors import NotConfigured

__all__ = ["can_deliver", "deliver", "deliver_many", "send_many"]


def can_deliver(hook: Any, notifier: Notifier | None) -> bool:
    """Whether anything could deliver a message: a notifier, or a plugin with the hook."""
    return notifier is not None or bool(hook.opencrm_deliver_notification.get_hookimpls())


def deliver(hook: Any, crm: Any, notifier: Notifier | None, message: Message) -> bool:
    """Hand ``message`` to the first plugin that takes it, else to ``notifier``.

    Return whether it went anywhere; errors of the plugin or the notifier propagate.
    """
    if hook.opencrm_deliver_notification(crm=crm, message=message) is True:
        return True
    if notifier is None:
        return False
    notifier.send(message)
    return True


def send_many(notifier: Notifier, messages: Sequence[Message]) -> list[Exception | None]:
    """Send ``messages`` through ``notifier`` as one batch: its own ``send_many`` when it has
    one, else :meth:`BatchNotifier.send_many`'s default (one ``send`` per message). One
    result per message, in order: None when sent, else the error."""
    if not messages:
        return []
    own = getattr(notifier, "send_many", None)
    try:
        if own is None:
            results = list(BatchNotifier.send_many(notifier, messages))  # type: ignore[arg-type]
        else:
            results = list(own(messages))
    except Exception as exc:  # the notifier's own fault: nothing of the batch is known sent
        return [exc] * len(messages)
    if len(results) != len(messages):
        fault = TypeError(
            f"{type(notifier).__name__}.send_many returned {len(results)} results"
            f" for {len(messages)} messages"
        )
        return [fault] * len(messages)
    return results


def deliver_many(
    hook: Any, crm: Any, notifier: Notifier | None, messages: Sequence[Message]
) -> list[Exception | None]:
    """:func:`deliver` for a batch: each message to the first plugin that takes it, the rest
    to ``notifier`` in one :func:`send_many`. One result per message, in order: None when
    it went, else the error (a plugin's or the notifier's; ``NotConfigured`` when nothing
    took it)."""
    results: list[Exception | None] = [None] * len(messages)
    rest: list[int] = []
    for n, message in enumerate(messages):
        try:
            if hook.opencrm_deliver_notification(crm=crm, message=message) is True:
                continue
        except Exception as exc:
            results[n] = exc
            continue
        rest.append(n)
    if not rest:
        return results
    if notifier is None:
        for n in rest:
            results[n] = NotConfigured("no plugin took the message and the CRM has no notifier")
        return results
    for n, result in zip(rest, send_many(notifier, [messages[n] for n in rest]), strict=True):
        results[n] = result
    return results
