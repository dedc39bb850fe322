r"""α-guided model selection on a compute budget (α-ReQ, Algorithm 1 / Appendix Algorithm 2).

M models are trained in parallel, H times in a row. After each round, α (one
eigendecomposition per model, no labels) is computed for the M new models and a
linear probe is trained **only** for those whose α lies in the current interval
``[α_min, α_max]``; the interval then shrinks around the best models evaluated so
far and only the top K are kept:

.. code-block:: text

    α_min, α_max = 0, ∞                      (or a prior Goldilocks interval around α ≈ 1)
    for each round of M models:
        evaluate α for the M models
        run the linear probe for the models with α ∈ [α_min, α_max]
        b = the most accurate model evaluated so far
        α_min = max{α_j : α_j < α_b and acc_j < acc_b}      (evaluated models j)
        α_max = min{α_j : α_j > α_b and acc_j < acc_b}
        keep the top K models by accuracy
    return the best kept model

**(reading)** The extracted pseudo-code of the update is garbled
(``α_min = max{α_m | α_m > α_j & acc_m > acc_j ∀ m, j}``); we read it with ``m`` the
best model so far: the interval runs between the best model's nearest evaluated
neighbours in α on either side. When accuracy is unimodal in α (the paper's
finding: best near α ≈ 1) the global optimum always lies strictly between them,
so it is never skipped, and the interval tightens like a bisection. Reading ``m``
as *any* model instead lets one noisy pair of near-chance models invert the
interval. An empty side leaves that bound where it was. The update uses every
model evaluated so far; the top-K trim limits what is *kept*, as in the paper.
An exhaustive search runs M·H probes; the paper argues O(M log H) on average.

``req-select`` (:mod:`req_plugins.recipes.select_cli`) applies it to a folder of trained
models (:mod:`req_plugins.recipes.candidates`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class SelectionResult:
    """Outcome of :func:`select_models`."""

    best: str
    alphas: dict[str, float]
    accuracies: dict[str, float]  # the models that got a linear probe
    kept: list[str]  # the top K at the end
    intervals: list[tuple[float, float]]  # [α_min, α_max] used in each round
    num_models: int

    @property
    def num_evaluations(self) -> int:
        return len(self.accuracies)


def _update_interval(
    evaluated: dict[str, tuple[float, float]], interval: tuple[float, float]
) -> tuple[float, float]:
    """New ``(α_min, α_max)``: the evaluated neighbours in α of the most accurate model."""
    alpha_min, alpha_max = interval
    if not evaluated:
        return interval
    best_alpha, best_accuracy = max(evaluated.values(), key=lambda point: point[1])
    below = [a for a, acc in evaluated.values() if a < best_alpha and acc < best_accuracy]
    above = [a for a, acc in evaluated.values() if a > best_alpha and acc < best_accuracy]
    if below:
        alpha_min = max(below)
    if above:
        alpha_max = min(above)
    return alpha_min, alpha_max


def select_models(
    names: Sequence[str],
    alpha_fn: Callable[[str], float],
    evaluate_fn: Callable[[str], float],
    *,
    parallel: int = 4,
    top_k: int = 3,
    alpha_range: tuple[float, float] = (0.0, math.inf),
) -> SelectionResult:
    """Algorithm 1 of α-ReQ over ``names`` taken in rounds of ``parallel`` (M) models.

    Args:
        names: the models in the order they were trained (H = ⌈len/M⌉ rounds).
        alpha_fn: name → α (cheap, label-free).
        evaluate_fn: name → linear-probe accuracy (the expensive step).
        parallel: M, models per round.
        top_k: K, models kept in memory.
        alpha_range: the initial ``[α_min, α_max]`` (default: no prior).
    """
    if not names:
        raise ValueError("`names` is empty: there are no models to select from.")
    from req_plugins._validation import check_int  # here: req-select --help loads no torch

    check_int(parallel, "parallel", min_value=1)
    check_int(top_k, "top_k", min_value=1)
    low, high = alpha_range
    if not low <= high:
        raise ValueError(f"`alpha_range` must satisfy low <= high, got {alpha_range!r}.")
    interval = (float(low), float(high))
    alphas: dict[str, float] = {}
    accuracies: dict[str, float] = {}
    evaluated: dict[str, tuple[float, float]] = {}
    kept: dict[str, tuple[float, float]] = {}
    intervals = []
    for start in range(0, len(names), parallel):
        intervals.append(interval)
        for name in names[start : start + parallel]:
            alphas[name] = float(alpha_fn(name))
            if interval[0] <= alphas[name] <= interval[1]:
                accuracies[name] = float(evaluate_fn(name))
                evaluated[name] = (alphas[name], accuracies[name])
                kept[name] = evaluated[name]
        interval = _update_interval(evaluated, interval)
        ranked = sorted(kept, key=lambda n: kept[n][1], reverse=True)
        kept = {n: kept[n] for n in ranked[:top_k]}
    if not kept:
        raise ValueError(
            f"no model has α in the initial interval {alpha_range}; widen `alpha_range`."
        )
    best = max(kept, key=lambda n: kept[n][1])
    return SelectionResult(best, alphas, accuracies, list(kept), intervals, len(names))
