"""Creating the plugin manager of a CRM (one per CRM instance, never module-level)."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from opencrm.plugins import hookspecs

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "make_plugin_manager"]

ENTRY_POINT_GROUP = "opencrm"

#: Module names of the built-in plugins, registered like any other plugin.
BUILTIN_PLUGINS = (
    "opencrm.plugins.builtin.field_types",
    "opencrm.plugins.builtin.audit",
    "opencrm.plugins.builtin.notifications",
    "opencrm.plugins.builtin.twilio_telephony",
    "opencrm.plugins.builtin.reports",
)


def make_plugin_manager(
    plugins: Iterable[object] = (), *, load_entrypoints: bool = True
) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs, the built-in plugins, ``plugins`` and, unless told
    not to, every plugin installed under the ``opencrm`` entry-point group."""
    import importlib

    pm = pluggy.PluginManager("opencrm")
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    for plugin in plugins:
        pm.register(plugin)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return pm
