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
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord

NAN = float("nan")


@dataclass(frozen=True)
class Stat:
    """Mean ± sample standard deviation over ``n`` finite values (NaNs are not counted)."""

    mean: float
    std: float
    n: int
    total: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not finite:
            return cls(NAN, NAN, 0, len(values))
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        return cls(statistics.fmean(finite), std, len(finite), len(values))

    def format(self, digits: int = 1) -> str:
        if self.n == 0:
            return "not reached" if self.total else "—"
        text = f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"
        if self.n < self.total:
            text += f" ({self.n}/{self.total} seeds)"
        return text


@dataclass
class Table:
    """A markdown table plus the raw numbers behind it (for CSV and tests)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    data: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Analysis:
    tables: list[Table]
    findings: list[str]
    plots: dict[str, Callable[[Path], None]]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _number(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.{digits}f}"


def _paper_cell(row: dict[str, Any] | None, digits: int = 1) -> str:
    if row is None:
        return "—"
    text = _number(float(row["value"]), digits)
    if row.get("std") is not None:
        text += f" ± {float(row['std']):.{digits}f}"
    return text


def _label_cells(record_labels: dict, record_values: dict, keys: Sequence[str]) -> list[str]:
    """Axis values, with the value actually run when a scale substituted it."""
    cells = []
    for key in keys:
        label, value = record_labels[key], record_values[key]
        cells.append(str(label) if label == value else f"{label} (ran {value})")
    return cells


def _groups(records: list[RunRecord], keys: Sequence[str]) -> list[list[RunRecord]]:
    """Records grouped by their labels on ``keys``, in sweep order."""
    groups: dict[tuple, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(tuple(record.labels[k] for k in keys), []).append(record)
    return list(groups.values())


def _short(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _scaled(value: float | None, percent: bool) -> float:
    if value is None:
        return NAN
    return 100.0 * float(value) if percent else float(value)


# ----------------------------------------------------------------------------- final_metric


def final_metric(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    params = scale.analysis
    metric = params.get("metric", "linear_top1")
    percent = params.get("percent", True)
    keys = params.get("rows", recipe.axis_names)
    digits = params.get("digits", 1)
    extra_metrics = params.get("extra_metrics", {})  # further final results, e.g. knn_top1
    curve_columns = params.get("curve_columns", {})  # final-epoch values logged by the method
    rows, data = [], []
    for group in _groups(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        stat = Stat.of([_scaled(r.results.get(metric), percent) for r in group])
        paper = recipe.paper_value(labels)
        paper_value = float(paper["value"]) if paper else NAN
        diff = stat.mean - paper_value
        rows.append(
            _label_cells(group[0].labels, group[0].values, keys)
            + [_paper_cell(paper, digits), stat.format(digits), _signed(diff, digits)]
        )
        for key in extra_metrics:
            values = [_scaled(r.results.get(key), percent) for r in group]
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


def _gap_findings(axis: str | None, keys: Sequence[str], data: list[dict]) -> list[str]:
    """Per group of the other row axes: metric at the smallest minus at the largest ``axis``."""
    if axis is None:
        return []
    others = [k for k in keys if k != axis]
    findings = []
    groups: dict[tuple, list[dict]] = {}
    for row in data:
        groups.setdefault(tuple(row[k] for k in others), []).append(row)
    for group_key, rows in groups.items():
        rows = sorted(rows, key=lambda r: float(r[axis]))
        low, high = rows[0], rows[-1]
        if low is high:
            continue
        name = ", ".join(f"{k}={v}" for k, v in zip(others, group_key, strict=True))
        findings.append(
            f"{name}: {axis}={low[axis]} minus {axis}={high[axis]}: ours "
            f"{_signed(low['ours'] - high['ours'])} points, paper "
            f"{_signed(low['paper'] - high['paper'])} points."
        )
    return findings


def _plot_final(data: list[dict], keys: Sequence[str], axis: str | None, unit: str, path: Path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if axis is not None:
        others = [k for k in keys if k != axis]
        groups: dict[tuple, list[dict]] = {}
        for row in data:
            groups.setdefault(tuple(row[k] for k in others), []).append(row)
        for index, (group_key, rows) in enumerate(groups.items()):
            rows = sorted(rows, key=lambda r: float(r[axis]))
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
        positions = range(len(data))
        ax.bar([p - 0.2 for p in positions], [r["paper"] for r in data], 0.4, label="paper")
        ax.bar(
            [p + 0.2 for p in positions],
            [r["ours"] for r in data],
            0.4,
            yerr=[r["ours_std"] for r in data],
            label="ours",
            capsize=3,
        )
        ax.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(unit)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------ curves (T2, T3, T6)


def _curve(record: RunRecord, key: str = "accuracy") -> list[dict]:
    return [entry for entry in record.curve if key in entry]


def _final_accuracy(record: RunRecord) -> float:
    curve = _curve(record)
    return curve[-1]["accuracy"] if curve else NAN


def _matches(record: RunRecord, arm: dict[str, Any]) -> bool:
    return all(record.labels.get(k) == v for k, v in arm.items())


def _plot_curves(records: list[RunRecord], keys, target: float | None, path: Path):
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, group in enumerate(_groups(records, keys)):
        label = _short({k: group[0].labels[k] for k in keys})
        for record in group:
            curve = _curve(record)
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def time_to_target(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
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
        return statistics.fmean(_final_accuracy(r) for r in pool)

    reach: dict[int, tuple[float, float]] = {}  # id(record) -> (minutes, epochs)
    for record in records:
        target = target_for(record)
        hit = next((e for e in _curve(record) if e["accuracy"] >= target - 1e-12), None)
        reach[id(record)] = (hit["time_s"] / 60, hit["epoch"]) if hit else (NAN, NAN)

    def baseline_minutes(record: RunRecord) -> float:
        pool = arm_runs(record, baseline_arm) if baseline_arm else []
        return statistics.fmean(reach[id(r)][0] for r in pool) if pool else NAN

    rows, data = [], []
    for group in _groups(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        minutes = Stat.of([reach[id(r)][0] for r in group])
        epochs = Stat.of([reach[id(r)][1] for r in group])
        relative = Stat.of([reach[id(r)][0] / baseline_minutes(r) for r in group])
        final = Stat.of([100 * _final_accuracy(r) for r in group])
        # Mean accuracy over the evaluated epochs: a noise-robust summary of "converges sooner".
        mean_curve = Stat.of(
            [100 * statistics.fmean(e["accuracy"] for e in _curve(r)) for r in group if _curve(r)]
        )
        paper = recipe.paper_value(labels)
        paper_value = float(paper["value"]) if paper else NAN
        paper_baseline = recipe.paper_value({**labels, **baseline_arm}) if baseline_arm else None
        paper_relative = (
            paper_value / float(paper_baseline["value"]) if paper and paper_baseline else NAN
        )
        rows.append(
            _label_cells(group[0].labels, group[0].values, keys)
            + [
                _paper_cell(paper, 2),
                minutes.format(2),
                _signed(minutes.mean - paper_value, 2),
                _number(paper_relative, 2),
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
        else f"the final accuracy of {_short(target_spec['arm'])}"
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
            f"Relative times divide by the baseline arm ({_short(baseline_arm)}) of the same "
            "source, so they compare across hardware; absolute minutes do not."
        ]
        if baseline_arm
        else []
    )
    for row in data:
        name = _short({k: row[k] for k in keys})
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
        target_line = statistics.fmean(_final_accuracy(r) for r in pool) if pool else None
    return Analysis(
        [table],
        findings,
        {"curves.png": lambda path: _plot_curves(records, keys, target_line, path)},
    )


def best_over_epochs(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    keys = recipe.axis_names
    rows, data = [], []
    for group in _groups(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        best_acc, best_epoch = [], []
        for record in group:
            curve = _curve(record)
            best = max(curve, key=lambda e: e["accuracy"]) if curve else None
            best_acc.append(100 * best["accuracy"] if best else NAN)
            best_epoch.append(best["epoch"] if best else NAN)
        acc, epoch = Stat.of(best_acc), Stat.of(best_epoch)
        paper = recipe.paper_value(labels)
        paper_value = float(paper["value"]) if paper else NAN
        paper_epoch = (paper or {}).get("extra", {}).get("epoch")
        rows.append(
            _label_cells(group[0].labels, group[0].values, keys)
            + [
                _paper_cell(paper, 2),
                acc.format(2),
                _signed(acc.mean - paper_value, 2),
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
        f"{_short({k: r[k] for k in keys})}: best {r['ours']:.2f}% at epoch {r['ours_epoch']:.0f}."
        for r in data
    ]
    return Analysis(
        [table], findings, {"curves.png": lambda path: _plot_curves(records, keys, None, path)}
    )


# --------------------------------------------------------------------------- rank_correlation


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their mean rank
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson correlation of the ranks; ties get mean ranks)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:
        return NAN
    rx, ry = _ranks([a for a, _ in pairs]), _ranks([b for _, b in pairs])
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    norm = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / norm if norm > 0 else NAN


def rank_correlation(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
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
    for group in _groups(records, keys):
        labels = {k: group[0].labels[k] for k in keys}
        mine = [p for p in points if all(p[k] == labels[k] for k in keys)]
        stats = {name: Stat.of([p[name] for p in mine]) for name in ("alpha", "loss", "accuracy")}
        rows.append(
            _label_cells(group[0].labels, group[0].values, keys)
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
        summary_rows.append([name, str(claim), _signed(value, 2), "yes" if holds else "no"])
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
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------ alpha_timing


def alpha_timing(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
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
                _paper_cell(paper, 1),
                stat.format(digits),
                _signed(stat.mean - paper_value, 2),
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
    return Analysis([table], findings, {"timing.png": lambda path: _plot_timing(data, names, path)})


def _plot_timing(data: list[dict], names: dict[str, str], path: Path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    times = [row for row in data if row["quantity"] != "speedup"]
    positions = range(len(times))
    ax.bar([p - 0.2 for p in positions], [r["paper"] for r in times], 0.4, label="paper")
    ax.bar(
        [p + 0.2 for p in positions],
        [r["ours"] for r in times],
        0.4,
        yerr=[r["ours_std"] for r in times],
        label="ours",
        capsize=3,
    )
    ax.set_xticks(list(positions), ["α", "linear probe"])
    ax.set_yscale("log")
    ax.set_ylabel("seconds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def layer_alpha(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    """α per layer over training (``req_plugins.recipes.layer_analysis``)."""
    from req_plugins.recipes.layer_analysis import layer_alpha as analysis

    return analysis(recipe, scale, records)


ANALYSES: dict[str, Callable[[Recipe, Scale, list[RunRecord]], Analysis]] = {
    "final_metric": final_metric,
    "time_to_target": time_to_target,
    "best_over_epochs": best_over_epochs,
    "rank_correlation": rank_correlation,
    "alpha_timing": alpha_timing,
    "layer_alpha": layer_alpha,
}


def analyse(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> Analysis:
    kind = scale.analysis.get("kind")
    if kind not in ANALYSES:
        raise ValueError(
            f"recipe {recipe.name!r}: `analysis.kind` must be one of {sorted(ANALYSES)}, "
            f"got {kind!r}."
        )
    return ANALYSES[kind](recipe, scale, records)
