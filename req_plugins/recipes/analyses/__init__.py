"""Turn a sweep's run records into the paper-vs-ours tables, findings and plots.

Each analysis kind reads the recipe's ``analysis`` parameters:

* ``final_metric`` — a final result (``metric``, e.g. ``linear_top1``) per row of
  axis values, mean ± std over seeds (thesis Tables 5 and 7, AdaDim Table 6);
  ``gap_axis`` adds the gap between its smallest and largest value per row group.
* ``time_to_target`` — training wall time (minutes) and epochs until the
  held-out accuracy curve reaches a target: the final accuracy of a ``target.arm``
  or a fixed ``target.value`` (thesis Tables 2 and 3); times relative to the
  ``baseline`` arm make CPU and GPU numbers comparable.
* ``best_over_epochs`` — best accuracy along the curve and its epoch (thesis Table 6).
* ``rank_correlation`` — Spearman correlations of α and of the SSL loss with
  accuracy over a hyperparameter sweep (α-ReQ Fig. 5).
* ``alpha_timing`` — time to compute α against time to train a linear probe
  (α-ReQ Table 1).
* ``layer_alpha`` — α of named intermediate layers over training (thesis Part II).

:func:`analyse` picks the kind; each lives in its own module of this package, and
:class:`Analysis` (tables, findings, plots) is what each returns.
"""

from __future__ import annotations

from collections.abc import Callable

from req_plugins.recipes.analyses.correlation import rank_correlation
from req_plugins.recipes.analyses.curves import best_over_epochs
from req_plugins.recipes.analyses.final_metric import final_metric
from req_plugins.recipes.analyses.layer_alpha import layer_alpha
from req_plugins.recipes.analyses.time_to_target import time_to_target
from req_plugins.recipes.analyses.timing import alpha_timing
from req_plugins.recipes.analyses.types import Analysis
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord

ANALYSES: dict[str, Callable[[Recipe, Scale, list[RunRecord]], Analysis]] = {
    "final_metric": final_metric,
    "time_to_target": time_to_target,
    "best_over_epochs": best_over_epochs,
    "rank_correlation": rank_correlation,
    "alpha_timing": alpha_timing,
    "layer_alpha": layer_alpha,
}


def analyse(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """The analysis named by the scale's ``analysis.kind``, applied to ``records``."""
    kind = scale.analysis.get("kind")
    if kind not in ANALYSES:
        raise ValueError(
            f"recipe {recipe.name!r}: `analysis.kind` must be one of {sorted(ANALYSES)}, "
            f"got {kind!r}."
        )
    return ANALYSES[kind](recipe, scale, records)
