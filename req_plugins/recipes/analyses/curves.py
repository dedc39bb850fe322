"""Held-out accuracy curves: ``best_over_epochs`` and the curve plot it shares with
``time_to_target``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from req_plugins.plotting import new_figure, save_figure
from req_plugins.recipes.analyses.formatting import (
    group_records,
    label_cells,
    paper_cell,
    short_labels,
    signed_cell,
)
from req_plugins.recipes.analyses.types import NAN, Analysis, Stat, Table
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord


def accuracy_curve(record: RunRecord) -> list[dict]:
    """The epochs of ``record``'s curve that have a held-out accuracy."""
    return [entry for entry in record.curve if "accuracy" in entry]


def final_accuracy(record: RunRecord) -> float:
    curve = accuracy_curve(record)
    return curve[-1]["accuracy"] if curve else NAN


def plot_curves(records: list[RunRecord], keys: Sequence[str], target: float | None, path: Path):
    """Accuracy against epochs and against wall time, one colour per row of ``keys``."""
    fig = new_figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for index, group in enumerate(group_records(records, keys)):
        label = short_labels({k: group[0].labels[k] for k in keys})
        for record in group:
            curve = accuracy_curve(record)
            if not curve:
                continue
            kwargs = {"color": f"C{index}", "alpha": 0.9, "marker": "o", "markersize": 3}
            if record is group[0]:
                kwargs["label"] = label
            accuracy = [100 * e["accuracy"] for e in curve]
            axes[0].plot([e["epoch"] for e in curve], accuracy, **kwargs)
            axes[1].plot([e["time_s"] / 60 for e in curve], accuracy, **kwargs)
    for ax, xlabel in zip(axes, ("epoch", "training wall time (min)"), strict=True):
        if target is not None and math.isfinite(target):
            ax.axhline(100 * target, color="k", linestyle=":", label="target")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, path)


def best_over_epochs(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """Best accuracy along the curve and its epoch (thesis Table 6)."""
    keys = recipe.axis_names
    rows, data = [], []
    for group in group_records(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        best_acc, best_epoch = [], []
        for record in group:
            curve = accuracy_curve(record)
            best = max(curve, key=lambda e: e["accuracy"]) if curve else None
            best_acc.append(100 * best["accuracy"] if best else NAN)
            best_epoch.append(best["epoch"] if best else NAN)
        acc, epoch = Stat.of(best_acc), Stat.of(best_epoch)
        paper = recipe.paper_value(labels)
        paper_value = float(paper["value"]) if paper else NAN
        paper_epoch = (paper or {}).get("extra", {}).get("epoch")
        rows.append(
            label_cells(group[0].labels, group[0].values, keys)
            + [
                paper_cell(paper, 2),
                acc.format(2),
                signed_cell(acc.mean - paper_value, 2),
                str(paper_epoch if paper_epoch is not None else "—"),
                epoch.format(0),
            ]
        )
        data.append(
            {
                **labels,
                "paper": paper_value,
                "ours": acc.mean,
                "ours_std": acc.std,
                "n": acc.n,
                "diff": acc.mean - paper_value,
                "paper_epoch": paper_epoch,
                "ours_epoch": epoch.mean,
            }
        )
    table = Table(
        "Best held-out accuracy over training (%) and the epoch it was reached",
        [*keys, "paper best", "ours best", "ours − paper", "paper: epoch", "ours: epoch"],
        rows,
        data,
    )
    findings = [
        f"{short_labels({k: r[k] for k in keys})}: best {r['ours']:.2f}% "
        f"at epoch {r['ours_epoch']:.0f}."
        for r in data
    ]
    return Analysis(
        [table], findings, {"curves.png": lambda path: plot_curves(records, keys, None, path)}
    )
