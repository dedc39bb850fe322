"""``req-recipes run NAME --scale full --dry-run`` builds every arm of the paper's setting on a
synthetic stand-in of its dataset and trains it for two steps plus the whole evaluation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from req_plugins.lightly.data.datasets import SYNTHETIC, dataset_info
from req_plugins.recipes.cli import main
from req_plugins.recipes.dotted import flatten
from req_plugins.recipes.dry_run import CPU_BATCH, STEPS, _signature, dry_run_overrides
from req_plugins.recipes.recipe import list_recipes, load_recipe
from req_plugins.recipes.runner import run_config

# What a dry run may change in a full-scale run's config (see req_plugins.recipes.dry_run).
DRY_RUN_KEYS = {
    "data.name",
    "data.path",
    "data.download",
    "data.num_workers",
    "data.batch_size",
    "trainer.max_steps",
    "checkpoint.enabled",
    "plots",
    "metrics.enabled",
    "metrics.names",
}
SWEEPS = [name for name in list_recipes() if load_recipe(name).kind == "sweep"]


@pytest.mark.parametrize("name", SWEEPS)
def test_a_dry_run_changes_only_the_data_and_the_run_length(name):
    recipe = load_recipe(name)
    scale = recipe.scale("full", seeds=1)
    for spec in recipe.runs(scale):
        full, _ = run_config(recipe, spec, Path("run"), "/data")
        overrides = dry_run_overrides(full)
        assert set(overrides) <= DRY_RUN_KEYS
        real = full["data"]["name"]
        stand_in = overrides["data.name"]
        assert stand_in in SYNTHETIC and SYNTHETIC[stand_in] == real
        real_info, synthetic_info = dataset_info(real), dataset_info(stand_in)
        assert (synthetic_info.image_size, synthetic_info.in_channels) == (
            real_info.image_size,
            real_info.in_channels,
        )
        assert synthetic_info.num_classes == {"cifar10": 10, "cifar100": 100}[real]
        assert overrides["trainer.max_steps"] == STEPS
        assert overrides["data.batch_size"] == min(full["data"]["batch_size"], CPU_BATCH)


def test_arms_differing_only_in_a_loss_weight_train_once():
    recipe = load_recipe("thesis_table5")
    scale = recipe.scale("full", seeds=1)
    signatures = {}
    for spec in recipe.runs(scale):
        nested, options = run_config(recipe, spec, Path("run"), None)
        flat = {**flatten(nested), **dry_run_overrides(nested)}
        signatures.setdefault(_signature(flat, options), []).append(spec.labels)
    # β fixed vs β = scaled share networks; methods and projector widths do not.
    assert len(signatures) == 2 * 8
    assert all(
        {labels["beta"] for labels in group} == {"fixed", "scaled"} for group in signatures.values()
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list_recipes())
def test_full_scale_dry_run(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", name, "--scale", "full", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # nothing written
    recipe = load_recipe(name)
    if recipe.kind == "stepwise":
        assert "stepwise model integrated" in out
        return
    scale = recipe.scale("full", seeds=1)
    arms = scale.arms
    lines = [line for line in out.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    assert len(lines) == len(arms)
    trained = [line for line in lines if f": {STEPS} steps, knn_top1 " in line]
    built = [line for line in lines if "built; trains as" in line]
    assert trained and len(trained) + len(built) == len(arms)
    configs = [run_config(recipe, spec, Path("run"), "/data")[0] for spec in recipe.runs(scale)]
    linear = {config["eval"].get("linear", True) for config in configs}
    assert len(linear) == 1  # every arm of a recipe evaluates the same way
    for line in trained:
        assert ("linear_top1" in line) == next(iter(linear))
        assert "repr/embedding_uniformity" in line
    assert f"dry run: {len(arms)} arm(s)" in out
