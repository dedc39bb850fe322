"""``layer_alpha``: α per layer over training (thesis Part II: α across a network's layers).

Reads the ``repr/<layer>_alpha`` values that ``RepresentationMetrics(layers=...)``
(req-train's ``metrics.layers``) logged to each run's ``logs/metrics.csv``, plus
``repr/backbone_alpha`` (the backbone's output, the deepest layer).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from req_plugins.callbacks.layers import layer_key
from req_plugins.plotting import new_figure, save_figure
from req_plugins.recipes.analyses.types import Analysis, Stat, Table
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord

BACKBONE = "backbone output"


def _columns(layers: list[str]) -> dict[str, str]:
    """``{layer label: logged key}``, shallowest first, the backbone's output last."""
    columns = {layer: f"repr/{layer_key(layer)}_alpha" for layer in layers}
    columns[BACKBONE] = "repr/backbone_alpha"
    return columns


def alpha_trajectories(run_dir: str | Path, layers: list[str]) -> dict[str, list[tuple]]:
    """``{layer: [(epoch, α), ...]}`` read from a run's ``logs/metrics.csv``."""
    path = Path(run_dir) / "logs" / "metrics.csv"
    if not path.is_file():
        raise ValueError(
            f"{path} is missing: the layer analysis reads the α values logged there "
            "(keep logging.csv=true)."
        )
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    trajectories: dict[str, list[tuple]] = {}
    for label, column in _columns(layers).items():
        points = [(int(float(row["epoch"])), float(row[column])) for row in rows if row.get(column)]
        if not points:
            raise ValueError(f"{path}: no `{column}` values; is `metrics.layers` set?")
        trajectories[label] = points
    return trajectories


def layer_alpha(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """Table of α per layer (first and last measurement, mean ± std over seeds) and a plot
    of α per layer over training epochs."""
    layers = list(scale.analysis.get("layers", []))
    if not layers:
        raise ValueError(f"recipe {recipe.name!r}: `analysis.layers` must name the layers.")
    runs = [alpha_trajectories(record.run_dir, layers) for record in records]
    rows, data = [], []
    for label in _columns(layers):
        first = Stat.of([run[label][0][1] for run in runs])
        last = Stat.of([run[label][-1][1] for run in runs])
        rows.append([label, first.format(3), last.format(3), f"{abs(last.mean - 1):.3f}"])
        data.append(
            {"layer": label, "first": first.mean, "final": last.mean, "final_std": last.std}
        )
    table = Table(
        "α per layer (mean ± std over seeds)",
        ["layer", "α, first measurement", "α, end of training", "|α − 1| at the end"],
        rows,
        data,
    )
    closest = min(data, key=lambda row: abs(row["final"] - 1))
    findings = [
        f"At the end of training the layer with α closest to 1 is {closest['layer']} "
        f"(α = {closest['final']:.3f}); final α by depth: "
        + ", ".join(f"{row['layer']} {row['final']:.3f}" for row in data)
        + "."
    ]
    return Analysis([table], findings, {"alpha_layers.png": lambda p: _plot(runs, p)})


def _plot(runs: list[dict[str, list[tuple]]], path: Path) -> None:
    fig = new_figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for index, label in enumerate(runs[0]):
        for seed, run in enumerate(runs):
            epochs, values = zip(*run[label], strict=True)
            ax.plot(
                [e + 1 for e in epochs],
                values,
                color=f"C{index}",
                marker="o",
                markersize=3,
                alpha=0.9,
                label=label if seed == 0 else None,
            )
    ax.axhline(1.0, color="k", linestyle=":", linewidth=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("α (held-out features)")
    ax.set_title("α per layer over training")
    if any(math.isfinite(v) for run in runs for pts in run.values() for _, v in pts):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
