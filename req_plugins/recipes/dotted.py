"""Dotted config keys: ``{"a": {"b": 1}}`` ⇄ ``{"a.b": 1}``, the form recipe ``set`` blocks,
rules and run identities use."""

from __future__ import annotations

from typing import Any


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (dotted keys kept as they are; an empty mapping and
    a list are values)."""
    if not isinstance(mapping, dict):
        raise ValueError(f"`set` must be a mapping of config keys, got {mapping!r}.")
    flat = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``, in key order (a later key replaces an earlier
    one's value); values keep their types."""
    from omegaconf import DictConfig, OmegaConf  # here: the scripts' --help loads no omegaconf

    config = OmegaConf.create()
    unset = object()
    for key, value in flat.items():
        parents = key.split(".")[:-1]
        for depth in range(1, len(parents) + 1):
            parent = ".".join(parents[:depth])
            node = OmegaConf.select(config, parent, default=unset)
            if node is not unset and not isinstance(node, DictConfig):
                raise ValueError(f"config key {key!r} conflicts with a value set at {parent!r}.")
        OmegaConf.update(config, key, value, merge=False, force_add=True)
    return OmegaConf.to_container(config)
