"""``time_to_target``: training time until the held-out accuracy reaches a target.

The target is the final accuracy of a ``target.arm`` or a fixed ``target.value``
(thesis Tables 2 and 3); times relative to the ``baseline`` arm make CPU and GPU
numbers comparable.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from req_plugins.recipes.analyses.curves import accuracy_curve, final_accuracy, plot_curves
from req_plugins.recipes.analyses.formatting import (
    group_records,
    label_cells,
    number_cell,
    paper_cell,
    short_labels,
    signed_cell,
)
from req_plugins.recipes.analyses.types import NAN, Analysis, Stat, Table
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord


def _matches(record: RunRecord, arm: dict[str, Any]) -> bool:
    return all(record.labels.get(k) == v for k, v in arm.items())


def time_to_target(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """Wall time (minutes) and epochs until the accuracy curve reaches ``target``: a
    ``target.arm``'s final accuracy or a fixed ``target.value`` (thesis Tables 2 and 3)."""
    params = scale.analysis
    target_spec = params.get("target")
    if not isinstance(target_spec, dict) or set(target_spec) not in ({"arm"}, {"value"}):
        raise ValueError(
            f"recipe {recipe.name!r}: `analysis.target` must be {{arm: {{...}}}} or "
            f"{{value: accuracy}}, got {target_spec!r}."
        )
    baseline_arm = params.get("baseline", target_spec.get("arm"))
    keys = recipe.axis_names

    def arm_runs(record: RunRecord, arm: dict[str, Any]) -> list[RunRecord]:
        """Runs of ``arm`` (axes it does not name as in ``record``), same seed when there is one."""
        wanted = {**record.labels, **arm}
        pool = [r for r in records if r.labels == wanted]
        return [r for r in pool if r.seed == record.seed] or pool

    def target_for(record: RunRecord) -> float:
        if "value" in target_spec:
            return float(target_spec["value"])
        pool = arm_runs(record, target_spec["arm"])
        if not pool:
            raise ValueError(
                f"recipe {recipe.name!r}: no run matches the target arm {target_spec['arm']}."
            )
        return statistics.fmean(final_accuracy(r) for r in pool)

    reach: dict[int, tuple[float, float]] = {}  # id(record) -> (minutes, epochs)
    for record in records:
        target = target_for(record)
        hit = next((e for e in accuracy_curve(record) if e["accuracy"] >= target - 1e-12), None)
        reach[id(record)] = (hit["time_s"] / 60, hit["epoch"]) if hit else (NAN, NAN)

    def baseline_minutes(record: RunRecord) -> float:
        pool = arm_runs(record, baseline_arm) if baseline_arm else []
        return statistics.fmean(reach[id(r)][0] for r in pool) if pool else NAN

    rows, data = [], []
    for group in group_records(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        minutes = Stat.of([reach[id(r)][0] for r in group])
        epochs = Stat.of([reach[id(r)][1] for r in group])
        relative = Stat.of([reach[id(r)][0] / baseline_minutes(r) for r in group])
        final = Stat.of([100 * final_accuracy(r) for r in group])
        # Mean accuracy over the evaluated epochs: a noise-robust summary of "converges sooner".
        mean_curve = Stat.of(
            [
                100 * statistics.fmean(e["accuracy"] for e in accuracy_curve(r))
                for r in group
                if accuracy_curve(r)
            ]
        )
        paper = recipe.paper_value(labels)
        paper_value = float(paper["value"]) if paper else NAN
        paper_baseline = recipe.paper_value({**labels, **baseline_arm}) if baseline_arm else None
        paper_relative = (
            paper_value / float(paper_baseline["value"]) if paper and paper_baseline else NAN
        )
        rows.append(
            label_cells(group[0].labels, group[0].values, keys)
            + [
                paper_cell(paper, 2),
                minutes.format(2),
                signed_cell(minutes.mean - paper_value, 2),
                number_cell(paper_relative, 2),
                relative.format(2),
                epochs.format(1),
                final.format(1),
                mean_curve.format(1),
            ]
        )
        data.append(
            {
                **labels,
                "paper": paper_value,
                "ours": minutes.mean,
                "ours_std": minutes.std,
                "n": minutes.n,
                "diff": minutes.mean - paper_value,
                "paper_relative": paper_relative,
                "ours_relative": relative.mean,
                "epochs": epochs.mean,
                "final_accuracy": final.mean,
                "mean_curve_accuracy": mean_curve.mean,
            }
        )
    what = (
        f"accuracy {100 * target_spec['value']:.1f}%"
        if "value" in target_spec
        else f"the final accuracy of {short_labels(target_spec['arm'])}"
    )
    table = Table(
        f"Minutes of training to reach {what}",
        [
            *keys,
            "paper (min)",
            "ours (min)",
            "ours − paper",
            "paper, relative",
            "ours, relative",
            "ours: epochs",
            "ours: final acc (%)",
            "ours: mean acc over epochs (%)",
        ],
        rows,
        data,
    )
    findings = (
        [
            f"Relative times divide by the baseline arm ({short_labels(baseline_arm)}) of the same "
            "source, so they compare across hardware; absolute minutes do not."
        ]
        if baseline_arm
        else []
    )
    for row in data:
        name = short_labels({k: row[k] for k in keys})
        if math.isfinite(row["epochs"]):
            findings.append(
                f"{name}: reached the target after {row['epochs']:.1f} epochs "
                f"({row['ours']:.2f} min) on average."
            )
        else:
            findings.append(f"{name}: did not reach the target.")
    # One target line on the plot: the fixed value, or the target arms' mean final accuracy.
    target_line = target_spec.get("value")
    if target_line is None:
        pool = [r for r in records if _matches(r, target_spec["arm"])]
        target_line = statistics.fmean(final_accuracy(r) for r in pool) if pool else None
    return Analysis(
        [table],
        findings,
        {"curves.png": lambda path: plot_curves(records, keys, target_line, path)},
    )
