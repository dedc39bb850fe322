"""PNG figures of the representation metrics (matplotlib figures; the backend is left alone).

* :func:`plot_eigenspectrum` — normalised covariance eigenvalues on log-log axes
  with the fitted power law ``λ_k ∝ k^-α`` over the α-ReQ fit range.
* :func:`plot_metric_trajectories` — :class:`RepresentationMetrics` history.
* :func:`plot_eigenvalue_trajectories` — :class:`SpectrumTracker` history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from req_plugins.functional import alpha_from_eigenvalues
from req_plugins.plotting import new_figure, save_figure


def _power_law_line(eigenvalues: Tensor, alpha: Tensor, fit_range: tuple[int, int]):
    """Ranks and values of the fitted line ``c − α log k`` over the usable fit range.

    The intercept is the weighted mean of ``log λ_k + α log k`` with the fit's
    weights ``1/k``, i.e. the intercept of the weighted least-squares fit.
    """
    start, stop = fit_range
    stop = min(stop, int((eigenvalues > 0).sum()))
    rank = torch.arange(start + 1, stop + 1, dtype=torch.float64)
    weight = 1.0 / rank
    intercept = (weight * (eigenvalues[start:stop].log() + alpha * rank.log())).sum() / weight.sum()
    return rank, torch.exp(intercept - alpha * rank.log())


def plot_eigenspectrum(
    spectra: Mapping[str, Tensor],
    path: str | Path,
    *,
    fit_range: tuple[int, int] = (10, 100),
    title: str = "Eigenspectrum",
) -> Path:
    """Plot each descending eigenvalue vector of ``spectra`` (label → eigenvalues) on log-log axes.

    Eigenvalues are normalised to sum 1; the dashed line is the weighted power-law
    fit of :func:`req_plugins.functional.alpha_from_eigenvalues` over ``fit_range``,
    and α is given in the legend.
    """
    figure = new_figure(figsize=(5.5, 4.0))
    axes = figure.subplots()
    for label, eigenvalues in spectra.items():
        values = eigenvalues.detach().to(torch.float64).cpu()
        values = values / values.sum()
        positive = values[values > 0]
        ranks = torch.arange(1, len(positive) + 1)
        fit = alpha_from_eigenvalues(values, fit_range=fit_range)
        (line,) = axes.loglog(ranks, positive, label=f"{label} (α = {float(fit.alpha):.2f})")
        fit_ranks, fit_values = _power_law_line(values, fit.alpha, fit_range)
        axes.loglog(fit_ranks, fit_values, "--", color=line.get_color(), linewidth=2)
    axes.set_xlabel("rank k")
    axes.set_ylabel("normalised eigenvalue λ_k")
    axes.set_title(title)
    axes.legend()
    return save_figure(figure, path)


def plot_metric_trajectories(
    history: Sequence[Mapping[str, Any]], path: str | Path, *, x: str = "epoch"
) -> Path:
    """One panel per metric of a :class:`RepresentationMetrics` history, against ``x``."""
    if not history:
        raise ValueError("`history` is empty: nothing to plot.")
    keys = [key for key in history[0] if key not in ("epoch", "step")]
    figure = new_figure(figsize=(3.2 * len(keys), 3.0))
    axes = figure.subplots(1, len(keys), squeeze=False)
    xs = [entry[x] + (1 if x == "epoch" else 0) for entry in history]
    for axis, key in zip(axes[0], keys, strict=True):
        axis.plot(xs, [entry[key] for entry in history], marker="o")
        axis.set_title(key, fontsize=9)
        axis.set_xlabel(x)
    return save_figure(figure, path)


def plot_eigenvalue_trajectories(
    history: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "Embedding eigenvalues"
) -> Path:
    """Top eigenvalues of a :class:`SpectrumTracker` history against the training step (log y)."""
    if not history:
        raise ValueError("`history` is empty: nothing to plot.")
    from matplotlib import colormaps

    steps = [entry["step"] for entry in history]
    values = torch.tensor([entry["eigenvalues"] for entry in history], dtype=torch.float64)
    figure = new_figure(figsize=(5.5, 4.0))
    axes = figure.subplots()
    colors = colormaps["viridis"](torch.linspace(0, 1, values.shape[1]).numpy())
    for k in range(values.shape[1]):
        axes.plot(steps, values[:, k].clamp_min(1e-12), color=colors[k], label=f"λ_{k + 1}")
    axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel("covariance eigenvalue")
    axes.set_title(title)
    if values.shape[1] <= 8:
        axes.legend(fontsize=7)
    return save_figure(figure, path)
