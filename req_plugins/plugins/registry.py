"""Registry of methods and metrics, filled by pluggy hooks.

Every entry, the project's own included, arrives through a plugin's
``req_register_methods`` / ``req_register_metrics`` hook; the registry records
which distribution (or module) the plugin came from.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import re
import warnings
from dataclasses import dataclass
from types import ModuleType

import pluggy

from req_plugins._validation import check_choice
from req_plugins.plugins import hookspecs
from req_plugins.plugins.hookspecs import PROJECT_NAME

FRAMEWORKS = ("lightning", "solo")
"""Frameworks a method can target: Lightning modules (lightly style) or solo-learn."""

METRIC_INPUTS = ("features", "pair", "views")
"""What a metric's ``update`` takes: one feature batch, a (representation, embedding) pair, or
the ``(n_objects, n_views, D)`` embeddings of m >= 2 views per object (LiDAR)."""

BUILTIN_SOURCE = "req-plugins"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered method or metric.

    ``target`` is the class itself or a lazy ``"module.path:ClassName"`` string;
    ``source`` names the distribution (or module) whose plugin registered it.
    """

    name: str
    target: str | type
    source: str
    framework: str | None = None
    inputs: str | None = None
    description: str = ""

    @property
    def target_name(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return f"{self.target.__module__}:{self.target.__qualname__}"

    def load(self) -> type:
        """Import and return the registered class."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attribute = self.target.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attribute.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as error:
            raise ImportError(
                f"cannot load {self.name!r} (registered by {self.source}) from {self.target!r}: "
                f"{error}"
            ) from error
        return obj


def make_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows the ``req_plugins`` hook specifications."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


class Registry:
    """Methods (per framework) and metrics contributed by plugins.

    Use :func:`get_registry` for the process-wide registry built from the
    ``req_plugins`` entry points, or :meth:`register` to add a plugin object at
    runtime (it goes through the same hooks).
    """

    def __init__(self, plugin_manager: pluggy.PluginManager | None = None) -> None:
        self.plugin_manager = plugin_manager or make_plugin_manager()
        self._methods: dict[str, dict[str, RegistryEntry]] = {fw: {} for fw in FRAMEWORKS}
        self._metrics: dict[str, RegistryEntry] = {}
        self._source: str | None = None

    # -- called by plugins from their hooks ---------------------------------------------------
    def add_method(
        self, name: str, target: str | type, *, framework: str, description: str = ""
    ) -> None:
        """Register method ``name`` for ``framework`` ("lightning" or "solo")."""
        check_choice(framework, "framework", FRAMEWORKS)
        self._check_entry(name, target)
        existing = self._methods[framework].get(name)
        if existing is not None:
            raise ValueError(
                f"method {name!r} for framework {framework!r} is already registered by "
                f"{existing.source}; {self._source} tried to register it again."
            )
        self._methods[framework][name] = RegistryEntry(
            name, target, self._source, framework=framework, description=description
        )

    def add_metric(
        self, name: str, target: str | type, *, inputs: str = "features", description: str = ""
    ) -> None:
        """Register a ``torchmetrics.Metric`` class; ``inputs`` says what its ``update`` takes."""
        check_choice(inputs, "inputs", METRIC_INPUTS)
        self._check_entry(name, target)
        existing = self._metrics.get(name)
        if existing is not None:
            raise ValueError(
                f"metric {name!r} is already registered by {existing.source}; "
                f"{self._source} tried to register it again."
            )
        self._metrics[name] = RegistryEntry(
            name, target, self._source, inputs=inputs, description=description
        )

    def _check_entry(self, name: object, target: object) -> None:
        if self._source is None:
            raise RuntimeError(
                "entries are added from a plugin's req_register_* hook; "
                "call registry.register(plugin) instead of adding them directly."
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"`name` must be an identifier-like string, got {name!r}.")
        if isinstance(target, str):
            if not _TARGET.match(target):
                raise ValueError(
                    f"`target` must be a class or a 'module.path:ClassName' string, got {target!r}."
                )
        elif not isinstance(target, type):
            raise ValueError(f"`target` must be a class or a string, got {type(target).__name__}.")

    # -- plugins -------------------------------------------------------------------------------
    def register(
        self, plugin: object, name: str | None = None, *, source: str | None = None
    ) -> str:
        """Register ``plugin`` with the plugin manager and collect what its hooks add.

        ``source`` defaults to the distribution that ships the plugin's module,
        or the module's name when it belongs to none.
        """
        plugin_name = self.plugin_manager.register(plugin, name)
        if plugin_name is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked in the plugin manager.")
        self._collect(plugin, source or _source_of(plugin))
        return plugin_name

    def _collect(self, plugin: object, source: str) -> None:
        """Call the registered ``plugin``'s hooks (its alone), crediting ``source``."""
        others = [p for p in self.plugin_manager.get_plugins() if p is not plugin]
        self._source = source
        try:
            for hook_name in ("req_register_methods", "req_register_metrics"):
                hook = self.plugin_manager.subset_hook_caller(hook_name, remove_plugins=others)
                hook(registry=self)
        finally:
            self._source = None

    def load_entry_points(self) -> None:
        """Register every plugin of the ``req_plugins`` entry-point group.

        pluggy's loader names each plugin by its entry point (unique names, as pytest's
        ``pytest11``). A plugin that fails to import is skipped with a warning so that one
        broken package does not take the others down; pluggy's loader raises at the first
        import error instead, hence one call per entry point.
        """
        manager = self.plugin_manager
        for entry_point in importlib.metadata.entry_points(group=PROJECT_NAME):
            source = entry_point.dist.name if entry_point.dist else entry_point.module
            if manager.get_plugin(entry_point.name) is not None:
                # pluggy would skip it without a word; a lost plugin must be visible.
                owner = dict(manager.list_name_plugin()).get(entry_point.name)
                holder = next(
                    (d.project_name for p, d in manager.list_plugin_distinfo() if p is owner), "?"
                )
                warnings.warn(
                    f"req_plugins: skipping plugin {entry_point.value!r} of {source}: its entry "
                    f"point name {entry_point.name!r} is already taken by {holder}; rename it",
                    stacklevel=2,
                )
                continue
            loaded = len(manager.list_plugin_distinfo())
            try:
                manager.load_setuptools_entrypoints(PROJECT_NAME, name=entry_point.name)
            except Exception as error:  # noqa: BLE001 - any import error of a third party
                warnings.warn(
                    f"req_plugins: skipping plugin {entry_point.value!r} of {source}: {error}",
                    stacklevel=2,
                )
                continue
            for plugin, dist in manager.list_plugin_distinfo()[loaded:]:
                self._collect(plugin, dist.metadata["Name"])

    # -- lookups -------------------------------------------------------------------------------
    def methods(self, framework: str) -> dict[str, RegistryEntry]:
        """Registered methods of ``framework``, by name."""
        check_choice(framework, "framework", FRAMEWORKS)
        return dict(sorted(self._methods[framework].items()))

    def metrics(self) -> dict[str, RegistryEntry]:
        """Registered metrics, by name."""
        return dict(sorted(self._metrics.items()))

    def get_method(self, name: str, framework: str) -> RegistryEntry:
        """The entry of method ``name``; unknown names raise listing the valid ones."""
        methods = self.methods(framework)
        if name not in methods:
            elsewhere = [fw for fw in FRAMEWORKS if fw != framework and name in self._methods[fw]]
            hint = f" ({name!r} exists for framework {elsewhere[0]!r})" if elsewhere else ""
            raise ValueError(
                f"unknown method {name!r} for framework {framework!r}{hint}; "
                f"valid methods: {', '.join(methods) or '(none registered)'}."
            )
        return methods[name]

    def get_metric(self, name: str) -> RegistryEntry:
        """The entry of metric ``name``; unknown names raise listing the valid ones."""
        if name not in self._metrics:
            raise ValueError(
                f"unknown metric {name!r}; valid metrics: {', '.join(self.metrics()) or '(none)'}."
            )
        return self._metrics[name]

    def describe(self) -> str:
        """A plain-text table of all methods and metrics with their source package."""
        rows = [("method", "framework", "source", "target")]
        for framework in FRAMEWORKS:
            for entry in self.methods(framework).values():
                rows.append((entry.name, framework, entry.source, entry.target_name))
        rows.append(("", "", "", ""))
        rows.append(("metric", "inputs", "source", "target"))
        for entry in self.metrics().values():
            rows.append((entry.name, entry.inputs, entry.source, entry.target_name))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )


def _source_of(plugin: object) -> str:
    module_name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    top_level = module_name.split(".")[0]
    distributions = importlib.metadata.packages_distributions().get(top_level)
    return distributions[0] if distributions else module_name


def create_registry() -> Registry:
    """A new registry filled from the ``req_plugins`` entry points.

    The project's own methods arrive through its ``builtin`` entry point; when
    the package runs from a source tree without installed metadata, that same
    plugin module is registered directly.
    """
    registry = Registry()
    registry.load_entry_points()
    from req_plugins.plugins import builtin

    if not registry.plugin_manager.is_registered(builtin):
        registry.register(builtin, "builtin", source=BUILTIN_SOURCE)
    return registry


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry (built once, on first use)."""
    return create_registry()
