"""Plugin system: pluggy hooks through which methods and metrics are registered.

>>> from req_plugins.plugins import get_registry
>>> "mv_barlow_twins" in get_registry().methods("lightning")
True
"""

from req_plugins.plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec
from req_plugins.plugins.registry import (
    FRAMEWORKS,
    METRIC_INPUTS,
    Registry,
    RegistryEntry,
    create_registry,
    get_registry,
    make_plugin_manager,
)

__all__ = [
    "FRAMEWORKS",
    "METRIC_INPUTS",
    "PROJECT_NAME",
    "Registry",
    "RegistryEntry",
    "create_registry",
    "get_registry",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
]
