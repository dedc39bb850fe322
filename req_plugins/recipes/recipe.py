"""Recipe files: one YAML per paper experiment, validated into a :class:`Recipe`.

A recipe states the paper's setting and numbers and how to reproduce them::

    name: thesis_table5
    title: ...
    kind: sweep                 # sweep (runs req-train) | stepwise (pure torch)
    paper:
      source: ...               # where the numbers come from
      dataset: CIFAR-10
      setting: ...              # the paper's training setup, in words
      metric: linear probe top-1 (%)
      finding: ...              # the claim the experiment supports
      results:                  # the paper's numbers, keyed by axis values
        - {method: barlow_twins, beta: fixed, d: 64, value: 73.6, std: 0.9}
    analysis: {kind: final_metric, metric: linear_top1, rows: [method, beta, d]}
    train: {...}                # req-train config (full scale = the paper's setting)
    axes:                       # the sweep is the product of the axes ...
      method: [barlow_twins, vicreg]
      d: [64, 8192]
    arms: [...]                 # ... or an explicit list of axis-value dicts
    rules:                      # per-run req-train settings, chosen by axis values
      - when: {method: barlow_twins}
        set: {method.name: mv_barlow_twins, projector.output_dim: "{d}"}
    progress: {metric: knn, every_n_epochs: 1}   # accuracy curve during training
    scales:
      full: {seeds: 3}
      smoke: {seeds: 1, axes: {d: [64]}, set: {data.name: digits, ...}}
      cpu: {...}                # any further scale, e.g. a longer CPU run

``"{d}"`` in a rule's value is replaced by the run's value of axis ``d`` (type
kept when the whole string is one placeholder). A scale may restrict axes or
replace ``arms``, add ``set`` overrides (applied before the rules), map paper
values to the values actually run (``substitute: {d: {8192: 256}}``: the row
keeps the paper's label, the run uses 256), override ``analysis`` parameters and
set ``torch_threads`` and ``progress``. Keys under ``recipe.`` in a ``set`` are options of the
recipe runner, not of req-train (``recipe.data_fraction``).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from req_plugins.recipes.dotted import flatten

KINDS = ("sweep", "stepwise")
SCALES = ("smoke", "full")
RUNNER_OPTIONS = ("recipe.data_fraction",)
_TOP_LEVEL = (
    "name",
    "title",
    "kind",
    "paper",
    "analysis",
    "train",
    "axes",
    "arms",
    "rules",
    "progress",
    "scales",
    "params",
    "notes",
)
_PAPER_KEYS = ("source", "dataset", "setting", "metric", "finding", "results", "units")
_SCALE_KEYS = (
    "description",
    "seeds",
    "axes",
    "arms",
    "set",
    "substitute",
    "analysis",
    "torch_threads",
    "params",
    "progress",
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


#: Environment variable naming a folder of recipes to use instead of the packaged ones.
RECIPES_DIR_ENV = "REQ_RECIPES_DIR"
#: Package data folder holding the repository's ``recipes/`` in an installed wheel.
_PACKAGED = "bundled"


def packaged_recipes_dir() -> Path:
    """Folder of the recipes shipped with the package, found through :mod:`importlib.resources`.

    The wheel holds the repository's ``recipes/`` folder as package data,
    ``req_plugins/recipes/bundled``. A source checkout (an editable install, or
    the checkout on ``sys.path``) has no such folder: there the repository's
    ``recipes/`` folder itself is used.
    """
    import importlib.resources  # here, not at the top: the scripts' --help stays fast

    packaged = Path(str(importlib.resources.files(__package__).joinpath(_PACKAGED)))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "recipes"


def recipes_dir() -> Path:
    """Folder of the recipes: ``$REQ_RECIPES_DIR`` if set, else the packaged recipes."""
    env = os.environ.get(RECIPES_DIR_ENV)
    return Path(env) if env else packaged_recipes_dir()


def solo_recipes_dir() -> Path:
    """Folder of the solo-learn pretraining configs (``solo/`` in :func:`recipes_dir`)."""
    return recipes_dir() / "solo"


@dataclass(frozen=True)
class RunSpec:
    """One training run of a sweep: axis labels (the paper's), settings actually used, seed."""

    labels: dict[str, Any]
    values: dict[str, Any]
    overrides: dict[str, Any]
    seed: int

    @property
    def run_id(self) -> str:
        return "_".join(f"{key}={_slug(value)}" for key, value in self.labels.items()) or "run"


@dataclass(frozen=True)
class Scale:
    """A recipe at one scale: the runs to do and the analysis parameters to use."""

    name: str
    description: str
    seeds: int
    arms: list[dict[str, Any]]
    values: list[dict[str, Any]]
    overrides: dict[str, Any]
    analysis: dict[str, Any]
    torch_threads: int | None
    params: dict[str, Any]
    progress: dict[str, Any] | None


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    title: str
    kind: str
    paper: dict[str, Any]
    analysis: dict[str, Any]
    train: dict[str, Any]
    axes: dict[str, list]
    arms: list[dict[str, Any]] | None
    rules: list[dict[str, Any]]
    progress: dict[str, Any] | None
    scales: dict[str, dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def scale(self, name: str, *, seeds: int | None = None) -> Scale:
        """The runs and analysis of scale ``name`` (``seeds`` overrides the scale's count)."""
        if name not in self.scales:
            raise ValueError(
                f"`scale` must be one of {sorted(self.scales)} for recipe {self.name!r}, "
                f"got {name!r}."
            )
        raw = self.scales[name]
        from req_plugins._validation import check_int  # here: the scripts' --help loads no torch

        n_seeds = check_int(raw.get("seeds", 1) if seeds is None else seeds, "seeds", min_value=1)
        arms = self._arms(raw)
        substitute = raw.get("substitute", {})
        values = [
            {key: substitute.get(key, {}).get(value, value) for key, value in arm.items()}
            for arm in arms
        ]
        threads = raw.get("torch_threads")
        if threads is not None:
            check_int(threads, f"scales.{name}.torch_threads", min_value=1)
        return Scale(
            name=name,
            description=str(raw.get("description", "")),
            seeds=n_seeds,
            arms=arms,
            values=values,
            overrides=flatten(raw.get("set", {})),
            analysis={**self.analysis, **raw.get("analysis", {})},
            torch_threads=threads,
            params={**self.params, **raw.get("params", {})},
            progress={**self.progress, **raw.get("progress", {})} if self.progress else None,
        )

    def _arms(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        if "arms" in raw:
            arms = raw["arms"]
        elif self.arms is not None:
            arms = self.arms
        else:
            axes = {**self.axes, **raw.get("axes", {})}
            combos = itertools.product(*axes.values())
            arms = [dict(zip(axes, combo, strict=True)) for combo in combos]
        axis_names = set(self.axis_names)
        for arm in arms:
            if not isinstance(arm, dict) or set(arm) != axis_names:
                raise ValueError(
                    f"recipe {self.name!r}: every arm must set exactly the axes "
                    f"{sorted(axis_names)}, got {arm!r}."
                )
        return arms

    @property
    def axis_names(self) -> list[str]:
        if self.axes:
            return list(self.axes)
        return list(self.arms[0]) if self.arms else []

    def runs(self, scale: Scale, *, base_seed: int = 0) -> list[RunSpec]:
        """Every (arm, seed) run of ``scale`` with its req-train overrides."""
        specs = []
        for labels, values in zip(scale.arms, scale.values, strict=True):
            overrides = dict(scale.overrides)
            for rule in self.rules:
                if all(labels.get(key) == value for key, value in rule.get("when", {}).items()):
                    for key, value in flatten(rule["set"]).items():
                        overrides[key] = _interpolate(value, values, self.name)
            for seed in range(scale.seeds):
                specs.append(RunSpec(labels, values, overrides, base_seed + seed))
        return specs

    def paper_value(self, labels: dict[str, Any]) -> dict[str, Any] | None:
        """The paper's result whose keys all match ``labels`` (None when the paper has none)."""
        for row in self.paper.get("results", []):
            keys = {k: v for k, v in row.items() if k not in ("value", "std", "extra")}
            if all(labels.get(k) == v for k, v in keys.items()) and keys:
                return row
        return None


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "-", str(value))


def _interpolate(value: Any, values: dict[str, Any], recipe: str) -> Any:
    if not isinstance(value, str):
        return value
    names = _PLACEHOLDER.findall(value)
    for name in names:
        if name not in values:
            raise ValueError(
                f"recipe {recipe!r}: placeholder {{{name}}} names no axis; axes: {sorted(values)}."
            )
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return values[whole.group(1)]
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)


def _require(mapping: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in mapping:
        raise ValueError(f"{where}: missing key `{key}`.")
    if not isinstance(mapping[key], kind):
        raise ValueError(f"{where}: `{key}` must be a {kind}, got {mapping[key]!r}.")
    return mapping[key]


def _check_keys(mapping: dict, valid: tuple, where: str) -> None:
    unknown = sorted(set(mapping) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(valid)}.")


def load_recipe(path_or_name: str | Path) -> Recipe:
    """Load and validate a recipe from a YAML path or a bundled recipe's name."""
    import yaml

    path = Path(path_or_name)
    if not path.suffix:
        path = recipes_dir() / f"{path_or_name}.yaml"
        if not path.is_file():
            raise ValueError(
                f"no recipe named {str(path_or_name)!r}; available: {', '.join(list_recipes())}."
            )
    if not path.is_file():
        raise ValueError(f"recipe file {str(path)!r} does not exist.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"cannot parse recipe {str(path)!r}: {error}") from error
    where = f"recipe {str(path)!r}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping.")
    _check_keys(raw, _TOP_LEVEL, where)
    name = _require(raw, "name", str, where)
    if name != path.stem:
        raise ValueError(f"{where}: `name` ({name!r}) must equal the file name ({path.stem!r}).")
    kind = _require(raw, "kind", str, where)
    if kind not in KINDS:
        raise ValueError(f"{where}: `kind` must be one of {KINDS}, got {kind!r}.")
    paper = _require(raw, "paper", dict, where)
    _check_keys(paper, _PAPER_KEYS, f"{where}, `paper`")
    for key in ("source", "dataset", "setting"):
        _require(paper, key, str, f"{where}, `paper`")
    for row in paper.get("results", []):
        if not isinstance(row, dict) or "value" not in row:
            raise ValueError(f"{where}: every `paper.results` entry needs a `value`, got {row!r}.")
    scales = _require(raw, "scales", dict, where)
    missing = [s for s in SCALES if s not in scales]
    if missing:
        raise ValueError(f"{where}: `scales` must define {list(SCALES)}; missing {missing}.")
    for scale_name, scale in scales.items():
        if not isinstance(scale, dict):
            raise ValueError(f"{where}: `scales.{scale_name}` must be a mapping.")
        _check_keys(scale, _SCALE_KEYS, f"{where}, `scales.{scale_name}`")
    axes = raw.get("axes", {}) or {}
    arms = raw.get("arms")
    if kind == "sweep":
        _require(raw, "train", dict, where)
        if bool(axes) == bool(arms):
            raise ValueError(f"{where}: a sweep needs exactly one of `axes` or `arms`.")
        for axis, values in axes.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"{where}: axis `{axis}` must be a non-empty list.")
    rules = raw.get("rules", []) or []
    for rule in rules:
        if not isinstance(rule, dict) or "set" not in rule:
            raise ValueError(f"{where}: every rule needs a `set` mapping, got {rule!r}.")
        _check_keys(rule, ("when", "set"), f"{where}, rule")
    recipe = Recipe(
        name=name,
        path=path,
        title=str(raw.get("title", name)),
        kind=kind,
        paper=paper,
        analysis=raw.get("analysis", {}) or {},
        train=raw.get("train", {}) or {},
        axes=axes,
        arms=arms,
        rules=rules,
        progress=raw.get("progress"),
        scales=scales,
        params=raw.get("params", {}) or {},
        notes=str(raw.get("notes", "")),
    )
    for scale_name in scales:  # expand every scale once so that errors surface at load time
        scale = recipe.scale(scale_name)
        if kind == "sweep":
            recipe.runs(scale)
    return recipe


def list_recipes() -> list[str]:
    """Names of the recipes (``req-recipes run NAME``)."""
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def list_solo_recipes() -> list[str]:
    """The solo-learn configs as ``DATASET/NAME`` (``req-solo-pretrain --config-name``).

    A recipe is a YAML directly in a dataset folder; the folders below it
    (``augmentations/``, ``wandb/``) hold the Hydra groups the recipes compose.
    """
    root = solo_recipes_dir()
    return sorted(
        path.relative_to(root).with_suffix("").as_posix() for path in root.glob("*/*.yaml")
    )


def export_solo_recipes(dest: str | Path) -> Path:
    """Copy the solo-learn configs (with their ``augmentations/`` and ``wandb/`` groups) into
    ``dest``, e.g. for solo-learn's own ``main_pretrain.py --config-path DEST/cifar``.

    ``dest`` must not exist or be empty: nothing already there is overwritten.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"`DIR` must be a new or empty folder, got {str(dest)!r}.")
    shutil.copytree(solo_recipes_dir(), dest, dirs_exist_ok=True)
    return dest
