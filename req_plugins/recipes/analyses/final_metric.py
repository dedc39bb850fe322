"""``final_metric``: a final result per row of axis values, paper vs ours (mean ± std)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from req_plugins.plotting import new_figure, save_figure
from req_plugins.recipes.analyses.formatting import (
    group_records,
    label_cells,
    paper_cell,
    scaled,
    signed_cell,
)
from req_plugins.recipes.analyses.plots import draw_paper_vs_ours
from req_plugins.recipes.analyses.types import NAN, Analysis, Stat, Table
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord


def final_metric(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """``metric`` (e.g. ``linear_top1``) per row of ``rows`` axes, mean ± std over seeds
    (thesis Tables 5 and 7, AdaDim Table 6); ``gap_axis`` adds the gap between its
    smallest and largest value per row group."""
    params = scale.analysis
    metric = params.get("metric", "linear_top1")
    percent = params.get("percent", True)
    keys = params.get("rows", recipe.axis_names)
    digits = params.get("digits", 1)
    extra_metrics = params.get("extra_metrics", {})  # further final results, e.g. knn_top1
    curve_columns = params.get("curve_columns", {})  # final-epoch values logged by the method
    rows, data = [], []
    for group in group_records(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        stat = Stat.of([scaled(r.results.get(metric), percent) for r in group])
        paper = recipe.paper_value(labels)
        paper_value = float(paper["value"]) if paper else NAN
        diff = stat.mean - paper_value
        rows.append(
            label_cells(group[0].labels, group[0].values, keys)
            + [paper_cell(paper, digits), stat.format(digits), signed_cell(diff, digits)]
        )
        for key in extra_metrics:
            values = [scaled(r.results.get(key), percent) for r in group]
            rows[-1].append(Stat.of(values).format(digits))
        for key in curve_columns:
            rows[-1].append(
                Stat.of([r.curve[-1].get(key, NAN) for r in group if r.curve]).format(2)
            )
        data.append(
            {
                **labels,
                "paper": paper_value,
                "ours": stat.mean,
                "ours_std": stat.std,
                "n": stat.n,
                "diff": diff,
            }
        )
    unit = recipe.paper.get("metric", metric)
    table = Table(
        f"{unit}: paper vs ours",
        [
            *keys,
            "paper",
            "ours (mean ± std)",
            "ours − paper",
            *extra_metrics.values(),
            *curve_columns.values(),
        ],
        rows,
        data,
    )
    findings = _gap_findings(params.get("gap_axis"), keys, data)
    return Analysis(
        [table],
        findings,
        {"results.png": lambda path: _plot_final(data, keys, params.get("gap_axis"), unit, path)},
    )


def _series(data: list[dict], others: Sequence[str], axis: str) -> dict[tuple, list[dict]]:
    """Rows grouped by their values on the ``others`` axes, each group sorted by ``axis``."""
    groups: dict[tuple, list[dict]] = {}
    for row in data:
        groups.setdefault(tuple(row[k] for k in others), []).append(row)
    return {key: sorted(rows, key=lambda r: float(r[axis])) for key, rows in groups.items()}


def _gap_findings(axis: str | None, keys: Sequence[str], data: list[dict]) -> list[str]:
    """Per group of the other row axes: metric at the smallest minus at the largest ``axis``."""
    if axis is None:
        return []
    others = [k for k in keys if k != axis]
    findings = []
    for group_key, rows in _series(data, others, axis).items():
        low, high = rows[0], rows[-1]
        if low is high:
            continue
        name = ", ".join(f"{k}={v}" for k, v in zip(others, group_key, strict=True))
        findings.append(
            f"{name}: {axis}={low[axis]} minus {axis}={high[axis]}: ours "
            f"{signed_cell(low['ours'] - high['ours'])} points, paper "
            f"{signed_cell(low['paper'] - high['paper'])} points."
        )
    return findings


def _plot_final(data: list[dict], keys: Sequence[str], axis: str | None, unit: str, path: Path):
    """Ours and the paper's against ``axis`` (log2) per row group, else bars per row."""
    fig = new_figure(figsize=(7, 4.5))
    ax = fig.subplots()
    if axis is not None:
        others = [k for k in keys if k != axis]
        for index, (group_key, rows) in enumerate(_series(data, others, axis).items()):
            x = [float(r[axis]) for r in rows]
            label = ", ".join(str(v) for v in group_key)
            color = f"C{index}"
            ax.errorbar(
                x,
                [r["ours"] for r in rows],
                yerr=[r["ours_std"] for r in rows],
                marker="o",
                color=color,
                label=f"ours: {label}",
                capsize=3,
            )
            ax.plot(
                x,
                [r["paper"] for r in rows],
                "--",
                marker="x",
                color=color,
                label=f"paper: {label}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel(axis)
    else:
        names = [", ".join(str(r[k]) for k in keys) for r in data]
        draw_paper_vs_ours(ax, data, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(unit)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
