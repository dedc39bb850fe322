"""Put the registry's solo-learn methods into ``solo.methods.METHODS``.

solo-learn's ``main_pretrain.py`` resolves ``method: <name>`` through that dict.
The start-up hook ``req_plugins_solo_autoload`` calls :func:`add_plugin_methods`
as soon as ``solo.methods`` is imported; ``req-solo-pretrain`` calls it too.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import MutableMapping

from req_plugins.plugins import RegistryEntry, get_registry


def add_plugin_methods(methods: MutableMapping[str, type] | None = None) -> list[str]:
    """Add every method registered for the ``"solo"`` framework to solo-learn's ``METHODS``.

    solo-learn's own methods keep their names: a plugin method with a taken name
    is not added (with a warning). A method whose module is itself being imported
    right now (it imported ``solo.methods`` first) is left for a later call.

    Args:
        methods: the dict to fill; ``solo.methods.METHODS`` when None.

    Returns:
        The names that were added by this call.

    Example:
        >>> from solo.methods import METHODS  # doctest: +SKIP
        >>> add_plugin_methods(METHODS)  # the autoload hook did it already  # doctest: +SKIP
        []
    """
    if methods is None:
        from solo.methods import METHODS as methods
    added = []
    for name, entry in get_registry().methods("solo").items():
        if name in methods:
            if not _is_loaded_class_of(entry, methods[name]):
                warnings.warn(
                    f"solo-learn already has a method named {name!r} "
                    f"({methods[name].__module__}.{methods[name].__qualname__}); "
                    f"{entry.target_name} registered by {entry.source} is not added.",
                    stacklevel=2,
                )
            continue
        if _module_is_initializing(entry):
            continue
        try:
            methods[name] = entry.load()
        except ImportError as error:
            warnings.warn(f"solo method {name!r} is not available: {error}", stacklevel=2)
            continue
        added.append(name)
    return added


def _target_module(entry: RegistryEntry) -> str:
    return entry.target_name.partition(":")[0]


def _is_loaded_class_of(entry: RegistryEntry, cls: type) -> bool:
    return entry.target_name == f"{cls.__module__}:{cls.__qualname__}"


def _module_is_initializing(entry: RegistryEntry) -> bool:
    module = sys.modules.get(_target_module(entry))
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))
