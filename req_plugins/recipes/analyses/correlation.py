"""``rank_correlation``: does α track accuracy more closely than the SSL loss (α-ReQ Fig. 5)?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from scipy.stats import spearmanr

from req_plugins.plotting import new_figure, save_figure
from req_plugins.recipes.analyses.formatting import group_records, label_cells, signed_cell
from req_plugins.recipes.analyses.types import NAN, Analysis, Stat, Table
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of the pairs where both values are finite.

    :func:`scipy.stats.spearmanr` (ties get their mean rank), NaN with fewer than 3
    pairs or when either side is constant (no ranking to correlate).
    """
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:
        return NAN
    a, b = zip(*pairs, strict=True)
    if len(set(a)) == 1 or len(set(b)) == 1:
        return NAN
    return float(spearmanr(a, b).statistic)


def rank_correlation(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """Spearman correlations of α, of the SSL loss and of |α − 1| with accuracy over the
    runs of a sweep (α-ReQ Fig. 5)."""
    params = scale.analysis
    alpha_key = params.get("alpha", "repr/backbone_alpha")
    accuracy_key = params.get("metric", "linear_top1")
    dim_axis = params.get("normalize_loss_by")
    keys = recipe.axis_names
    points = []
    for record in records:
        loss = record.curve[-1]["ssl_loss"] if record.curve else NAN
        if dim_axis is not None:
            loss /= float(record.values[dim_axis])
        points.append(
            {
                **record.labels,
                "seed": record.seed,
                "alpha": float(record.results.get(alpha_key, NAN)),
                "loss": loss,
                "accuracy": 100 * float(record.results.get(accuracy_key, NAN)),
            }
        )
    rows, data = [], []
    for group in group_records(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        mine = [p for p in points if all(p[k] == labels[k] for k in keys)]
        stats = {name: Stat.of([p[name] for p in mine]) for name in ("alpha", "loss", "accuracy")}
        rows.append(
            label_cells(group[0].labels, group[0].values, keys)
            + [stats["alpha"].format(2), stats["loss"].format(4), stats["accuracy"].format(1)]
        )
        data.append({**labels, **{name: s.mean for name, s in stats.items()}})
    loss_name = f"SSL loss / {dim_axis}" if dim_axis else "SSL loss"
    runs = Table(
        "Every run of the sweep (mean ± std over seeds)",
        [*keys, "α", loss_name, "accuracy (%)"],
        rows,
        data,
    )
    rho_alpha = spearman([p["alpha"] for p in points], [p["accuracy"] for p in points])
    rho_loss = spearman([p["loss"] for p in points], [p["accuracy"] for p in points])
    rho_goldilocks = spearman(
        [abs(p["alpha"] - 1) for p in points], [p["accuracy"] for p in points]
    )
    claims = {row["quantity"]: row for row in recipe.paper.get("results", [])}
    tracks = math.isfinite(rho_alpha) and math.isfinite(rho_loss) and abs(rho_alpha) > abs(rho_loss)
    summary_rows, summary_data = [], []
    for quantity, name, value, holds in (
        ("rho_alpha_accuracy", "Spearman ρ(α, accuracy)", rho_alpha, tracks),
        ("rho_loss_accuracy", f"Spearman ρ({loss_name}, accuracy)", rho_loss, tracks),
        (
            "rho_goldilocks_accuracy",
            "Spearman ρ(|α − 1|, accuracy)",
            rho_goldilocks,
            math.isfinite(rho_goldilocks) and rho_goldilocks < 0,
        ),
    ):
        claim = claims.get(quantity, {}).get("value", "—")
        summary_rows.append([name, str(claim), signed_cell(value, 2), "yes" if holds else "no"])
        summary_data.append({"quantity": quantity, "paper": claim, "ours": value, "holds": holds})
    summary = Table(
        f"Rank correlations over {len(points)} runs (the paper gives no coefficients)",
        ["quantity", "paper", "ours", "paper's claim holds here?"],
        summary_rows,
        summary_data,
    )
    findings = [
        f"|ρ(α, acc)| = {abs(rho_alpha):.2f} vs |ρ(loss, acc)| = {abs(rho_loss):.2f}: "
        + (
            "α tracks accuracy more closely than the SSL loss, as in the paper."
            if tracks
            else "here α does NOT track accuracy more closely than the SSL loss."
        )
    ]
    return Analysis(
        [summary, runs],
        findings,
        {"correlations.png": lambda path: _plot_correlations(points, loss_name, dim_axis, path)},
    )


def _plot_correlations(points: list[dict], loss_name: str, color_axis: str | None, path: Path):
    fig = new_figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    colors = sorted({str(p.get(color_axis)) for p in points}) if color_axis else ["all"]
    for index, value in enumerate(colors):
        mine = [p for p in points if not color_axis or str(p.get(color_axis)) == value]
        label = f"{color_axis}={value}" if color_axis else None
        axes[0].scatter(
            [p["alpha"] for p in mine],
            [p["accuracy"] for p in mine],
            color=f"C{index}",
            label=label,
        )
        axes[1].scatter(
            [p["loss"] for p in mine], [p["accuracy"] for p in mine], color=f"C{index}", label=label
        )
    axes[0].set_xlabel("α (backbone features)")
    axes[1].set_xlabel(loss_name)
    for ax in axes:
        ax.set_ylabel("linear probe accuracy (%)")
        ax.grid(alpha=0.3)
    if color_axis:
        axes[0].legend(fontsize=7)
    save_figure(fig, path)
