"""Signal receivers, connected by the app's ``ready()``."""

from __future__ import annotations

from typing import Any

from opencrm_django import runtime

__all__ = ["settings_changed"]


def settings_changed(*, setting: str, **kwargs: Any) -> None:
    """A changed ``OPENCRM_*`` or ``DATABASES`` setting takes effect on the next request."""
    if setting.startswith("OPENCRM_") or setting in ("DATABASES", "AUTH_USER_MODEL"):
        runtime.reset()
