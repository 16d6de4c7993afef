"""Plugin support: hook specifications, the plugin manager and the built-in plugins."""

from opencrm.plugins.hookspecs import hookimpl, hookspec
from opencrm.plugins.manager import ENTRY_POINT_GROUP, make_plugin_manager

__all__ = ["ENTRY_POINT_GROUP", "hookimpl", "hookspec", "make_plugin_manager"]
