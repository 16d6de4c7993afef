"""Delivering a notification: a plugin first (``opencrm_deliver_notification``), else the CRM's
:class:`~opencrm.core.ports.Notifier`, else nobody."""

from __future__ import annotations

from typing import Any

from opencrm.core.ports import Message, Notifier

__all__ = ["can_deliver", "deliver"]


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
