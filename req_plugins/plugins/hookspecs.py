"""Hook specifications of the ``req_plugins`` plugin system.

A plugin is any module or object with functions marked ``@hookimpl`` and named
like the specs below. Packages expose plugins through the ``req_plugins``
entry-point group::

    [project.entry-points.req_plugins]
    my_methods = "my_package.req_plugin"

and ``my_package/req_plugin.py`` contains::

    from req_plugins.plugins import hookimpl

    @hookimpl
    def req_register_methods(registry):
        registry.add_method("my_method", "my_package.methods:MyMethod", framework="lightning")

Targets are ``"module.path:ClassName"`` strings so that listing methods never
imports torch, Lightning or solo-learn; :meth:`RegistryEntry.load` imports them.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "req_plugins"
"""pluggy project name and Python entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def req_register_methods(registry) -> None:
    """Add self-supervised methods with ``registry.add_method(name, target, framework=...)``."""


@hookspec
def req_register_metrics(registry) -> None:
    """Add representation metrics with ``registry.add_metric(name, target, inputs=...)``."""
