"""Configuration of ``req-train``: YAML + ``key=value`` overrides, checked against the schema.

A run is described by one YAML file whose sections mirror
:class:`req_plugins.lightly.schema.TrainConfig` (keys, types, defaults and rules live
there, one line per key); command-line overrides use OmegaConf/hydra dot-list syntax
(``optimizer.lr=0.002 data.num_views=4``). Every key is checked before anything is
built: an unknown key, a value of the wrong type or out of its range raises
:class:`ConfigError` (a ``ValueError``) naming the dotted key, the value and what is
allowed. ``method`` holds the method's name plus its own arguments (checked against
the registered class's signature when the run is built).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from req_plugins.lightly.schema import ConfigError, TrainConfig, check_values

__all__ = ["ConfigError", "TrainConfig", "bundled_config", "load_config"]

CONFIG_DIR = Path(__file__).parent / "configs"


def _check_keys(user: Any, schema: type, section: str) -> None:
    """Raise on keys of ``user`` that the dataclass ``schema`` does not define (recursively)."""
    if not isinstance(user, (dict, DictConfig)):
        raise ConfigError(f"`{section}` must be a mapping, got {user!r}.")
    fields = typing.get_type_hints(schema)
    for key in user:
        path = f"{section}.{key}" if section else str(key)
        if key not in fields:
            raise ConfigError(
                f"unknown config key {path!r}; valid keys in "
                f"{section or 'the top level'!r}: {', '.join(fields)}."
            )
        if dataclasses.is_dataclass(fields[key]):
            _check_keys(user[key], fields[key], path)


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> DictConfig:
    """Defaults ← YAML file ``path`` ← ``key=value`` overrides, validated and resolved.

    Raises :class:`ConfigError` for a missing file, an unknown key, a value of the wrong
    type or out of range, or settings that contradict each other.
    """
    layers = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist.")
        try:
            layers.append(OmegaConf.load(path))
        except Exception as error:  # noqa: BLE001 - any YAML syntax error
            raise ConfigError(f"cannot parse config file {str(path)!r}: {error}") from error
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like key=value (e.g. seed=1).")
    if overrides:
        try:
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        except OmegaConfBaseException as error:
            raise ConfigError(f"cannot parse overrides {list(overrides)}: {error}") from error
    for layer in layers:
        if isinstance(layer, ListConfig):
            raise ConfigError("the config must be a mapping of sections, not a list.")
        _check_keys(layer, TrainConfig, "")
    try:
        config = OmegaConf.merge(OmegaConf.structured(TrainConfig), *layers)
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        where = f"`{error.full_key}`: " if getattr(error, "full_key", None) else ""
        message = str(getattr(error, "msg", None) or error).splitlines()[0]
        raise ConfigError(f"invalid config value: {where}{message}") from error
    check_values(config)
    return config


def bundled_config(name: str) -> Path:
    """Path of a config shipped with the package (``req_plugins/lightly/configs/<name>.yaml``)."""
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"no bundled config {name!r}; available: {', '.join(available)}.")
    return path
