"""What makes two recipe runs the same run, and what happens to a run whose config changed.

A run's identity is its resolved req-train config (defaults filled in, as
:func:`req_plugins.lightly.config.load_config` reads it) plus the recipe runner's
own options, with what does not change the result left out:

* where the run is written (``output_dir``) and how req-train is told to start
  (``overwrite``, ``checkpoint.resume``);
* ``data.path`` for datasets that read no path (the embedded digits and the
  synthetic stand-ins), and otherwise its spelling: ``data/cifar``,
  ``./data/cifar/`` and ``/abs/data/cifar`` name one folder.

A finished run (record written) or an interrupted one (``last.ckpt`` written)
whose identity changed is never deleted: ``req-recipes run`` refuses before
training anything, naming the runs and the keys that changed; with
``--retrain`` it moves them to ``superseded/<UTC time>/`` in the output folder
and names them in the report.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from req_plugins.recipes.dotted import flatten

OPTIONS_PREFIX = "# recipe options: "
# Keys of a run's config that say where and how req-train starts, not what it trains.
_PLACEMENT_KEYS = ("output_dir", "overwrite", "checkpoint.resume")


def config_text(config: dict[str, Any], options: dict[str, Any]) -> str:
    """A run's ``seed<k>.yaml``: the runner's options as a comment, then req-train's config."""
    return f"{OPTIONS_PREFIX}{json.dumps(options, sort_keys=True)}\n" + yaml.safe_dump(
        config, sort_keys=True
    )


def _uses_data_path(name: str) -> bool:
    from req_plugins.lightly.data.datasets import SYNTHETIC

    return name != "digits" and name not in SYNTHETIC


def identity(text: str) -> dict[str, Any]:
    """The identity of the run described by ``text`` (a ``seed<k>.yaml``), as flat keys."""
    from omegaconf import OmegaConf

    from req_plugins.lightly.config import load_config

    first = text.split("\n", 1)[0]
    options = json.loads(first[len(OPTIONS_PREFIX) :]) if first.startswith(OPTIONS_PREFIX) else {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text)
        config = OmegaConf.to_container(load_config(path))
    flat = {key: value for key, value in flatten(config).items() if key not in _PLACEMENT_KEYS}
    path_value = flat.pop("data.path", None)
    if path_value is not None and _uses_data_path(flat.get("data.name", "")):
        flat["data.path"] = os.path.normpath(os.path.abspath(os.path.expanduser(path_value)))
    flat.update({f"recipe options.{key}": value for key, value in flatten(options).items()})
    return flat


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose value differs between two identities (set in one only included)."""
    unset = object()
    return sorted(key for key in set(old) | set(new) if old.get(key, unset) != new.get(key, unset))


@dataclass(frozen=True)
class Superseded:
    """A run moved aside because its config changed."""

    run: str  # runs/<run_id>/seed<k>
    moved_to: Path
    keys: list[str]


def supersede_folder(out_dir: Path) -> Path:
    """A fresh ``superseded/<UTC time>`` folder in ``out_dir`` (not created)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return out_dir / "superseded" / stamp


def move_aside(base: Path, seed: int, destination: Path, keys: list[str]) -> Superseded:
    """Move ``seed<k>.yaml``, ``seed<k>.json`` and ``seed<k>/`` of ``runs/<run_id>`` (``base``)
    to ``<destination>/runs/<run_id>/``."""
    target = destination / "runs" / base.name
    target.mkdir(parents=True, exist_ok=True)
    for name in (f"seed{seed}.yaml", f"seed{seed}.json", f"seed{seed}"):
        if (base / name).exists():
            os.replace(base / name, target / name)
    return Superseded(f"runs/{base.name}/seed{seed}", target, keys)
