"""``alpha_timing``: time to compute α against time to train a linear probe (α-ReQ Table 1)."""

from __future__ import annotations

import statistics
from pathlib import Path

from req_plugins.plotting import new_figure, save_figure
from req_plugins.recipes.analyses.formatting import paper_cell, signed_cell
from req_plugins.recipes.analyses.plots import draw_paper_vs_ours
from req_plugins.recipes.analyses.types import NAN, Analysis, Stat, Table
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord


def alpha_timing(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """Time to compute α against time to train a linear probe (α-ReQ Table 1)."""
    dataset = scale.analysis.get("paper_dataset", "CIFAR-10")
    alpha_times = [t for r in records for t in r.extra.get("alpha_time_s", [])]
    probe_times = [t for r in records for t in r.extra.get("probe_time_s", [])]
    # Per run: mean probe time over mean α time (a ratio of single sub-millisecond α timings
    # would be mostly noise).
    ratios = [
        statistics.fmean(r.extra["probe_time_s"]) / statistics.fmean(r.extra["alpha_time_s"])
        for r in records
        if r.extra.get("alpha_time_s") and r.extra.get("probe_time_s")
    ]
    ours = {
        "alpha_s": Stat.of(alpha_times),
        "probe_s": Stat.of(probe_times),
        "speedup": Stat.of(ratios),
    }
    names = {
        "alpha_s": "α: eigendecomposition of held-out features (s)",
        "probe_s": "linear probe training (s)",
        "speedup": "speed-up (probe time / α time)",
    }
    rows, data = [], []
    for quantity, stat in ours.items():
        paper = recipe.paper_value({"dataset": dataset, "quantity": quantity})
        paper_value = float(paper["value"]) if paper else NAN
        digits = 3 if quantity == "alpha_s" else 2
        rows.append(
            [
                names[quantity],
                paper_cell(paper, 1),
                stat.format(digits),
                signed_cell(stat.mean - paper_value, 2),
            ]
        )
        data.append(
            {
                "dataset": dataset,
                "quantity": quantity,
                "paper": paper_value,
                "ours": stat.mean,
                "ours_std": stat.std,
                "n": stat.n,
                "diff": stat.mean - paper_value,
            }
        )
    table = Table(
        f"Time to compute α vs to train a linear probe (paper: {dataset})",
        ["quantity", "paper", "ours (mean ± std)", "ours − paper"],
        rows,
        data,
    )
    first = records[0].extra if records else {}
    findings = [
        f"Features: {first.get('num_train')} train / {first.get('num_test')} test images, "
        f"{first.get('feature_dim')}-d; extracting them took "
        f"{Stat.of([r.extra.get('extraction_time_s', NAN) for r in records]).format(2)} s "
        "(needed by both, not counted in either).",
        f"Linear probe: {scale.analysis.get('linear_epochs')} epochs on the stored features; "
        "α: one covariance eigendecomposition of the test features.",
    ]
    return Analysis([table], findings, {"timing.png": lambda path: _plot_timing(data, path)})


def _plot_timing(data: list[dict], path: Path):
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    draw_paper_vs_ours(
        ax, [row for row in data if row["quantity"] != "speedup"], ["α", "linear probe"]
    )
    ax.set_yscale("log")
    ax.set_ylabel("seconds")
    ax.legend()
    save_figure(fig, path)
