"""The alpha_layers recipe: α per layer over training (thesis Part II), its configs and analysis."""

from __future__ import annotations

import csv

import pytest
import yaml

from req_plugins.lightly.config import load_config
from req_plugins.recipes.analyses import analyse
from req_plugins.recipes.recipe import load_recipe
from req_plugins.recipes.runner import RunRecord, run_config


@pytest.mark.parametrize("scale_name", ["smoke", "full"])
def test_runs_are_req_train_configs_logging_the_analysed_layers(scale_name, tmp_path):
    recipe = load_recipe("alpha_layers")
    scale = recipe.scale(scale_name)
    for spec in recipe.runs(scale):
        config_dict, _ = run_config(recipe, spec, tmp_path / spec.run_id, "/data")
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config_dict))
        config = load_config(path)
        assert list(config.metrics.layers) == scale.analysis["layers"]
        assert config.metrics.enabled and config.logging.csv and "alpha" in config.metrics.names


def _record(tmp_path, seed: int, alphas: dict[str, list[float]]) -> RunRecord:
    run_dir = tmp_path / f"seed{seed}"
    (run_dir / "logs").mkdir(parents=True)
    columns = ["epoch", "step", "train_loss", *alphas]
    with (run_dir / "logs" / "metrics.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        for epoch in range(3):
            writer.writerow({"epoch": epoch, "step": 10 * epoch, "train_loss": 1.0})  # no α
            writer.writerow(
                {"epoch": epoch, "step": 10 * epoch + 9, **{k: v[epoch] for k, v in alphas.items()}}
            )
    return RunRecord(f"run{seed}", {"model": "barlow_twins"}, {}, seed, {}, [], {}, str(run_dir))


def test_analysis_tables_alpha_per_layer_and_plots(tmp_path):
    recipe = load_recipe("alpha_layers")
    scale = recipe.scale("smoke")
    records = [
        _record(
            tmp_path,
            seed,
            {
                "repr/layers_2_alpha": [0.3, 0.4, 0.5 + shift],
                "repr/layers_5_alpha": [0.6, 0.7, 0.8 + shift],
                "repr/backbone_alpha": [1.5, 1.2, 1.0 + shift],
            },
        )
        for seed, shift in enumerate((0.0, 0.1))
    ]
    analysis = analyse(recipe, scale, records)
    (table,) = analysis.tables
    assert [row["layer"] for row in table.data] == ["layers.2", "layers.5", "backbone output"]
    assert [row["final"] for row in table.data] == pytest.approx([0.55, 0.85, 1.05])
    assert [row["first"] for row in table.data] == pytest.approx([0.3, 0.6, 1.5])
    assert table.data[0]["final_std"] == pytest.approx(0.1 / 2**0.5)
    assert "closest to 1 is backbone output (α = 1.050)" in analysis.findings[0]
    path = tmp_path / "alpha_layers.png"
    analysis.plots["alpha_layers.png"](path)
    assert path.stat().st_size > 1000


def test_analysis_without_logged_layers_names_the_problem(tmp_path):
    recipe = load_recipe("alpha_layers")
    scale = recipe.scale("smoke")
    record = _record(tmp_path, 0, {"repr/backbone_alpha": [1.0, 1.0, 1.0]})
    with pytest.raises(
        ValueError, match="no `repr/layers_2_alpha` values; is `metrics.layers` set"
    ):
        analyse(recipe, scale, [record])
    missing = RunRecord("x", {}, {}, 0, {}, [], {}, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="metrics.csv is missing"):
        analyse(recipe, scale, [missing])
