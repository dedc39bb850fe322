"""Paper-vs-ours tables from run records whose answers are known."""

from __future__ import annotations

import csv
import math

import pytest
from scipy import stats

from req_plugins.recipes.analyses import analyse
from req_plugins.recipes.analyses.correlation import spearman
from req_plugins.recipes.analyses.types import Stat
from req_plugins.recipes.recipe import load_recipe
from req_plugins.recipes.report import write_report
from req_plugins.recipes.runner import RunRecord


def _record(labels, seed, *, results=None, curve=(), values=None, extra=None):
    run_id = "_".join(f"{k}={v}" for k, v in labels.items())
    return RunRecord(
        run_id,
        dict(labels),
        dict(values or labels),
        seed,
        dict(results or {}),
        list(curve),
        dict(extra or {}),
        f"/runs/{run_id}/seed{seed}",
    )


def _curve(accuracies, minutes_per_epoch):
    return [
        {"epoch": i + 1, "time_s": 60 * minutes_per_epoch * (i + 1), "ssl_loss": 1.0, "accuracy": a}
        for i, a in enumerate(accuracies)
    ]


def test_stat_is_mean_and_sample_std_of_finite_values():
    stat = Stat.of([1.0, 2.0, 3.0, float("nan")])
    assert (stat.mean, stat.std, stat.n, stat.total) == (2.0, 1.0, 3, 4)
    assert stat.format(1) == "2.0 ± 1.0 (3/4 seeds)"
    assert Stat.of([float("nan")]).format() == "not reached"
    assert Stat.of([5.0]).std == 0.0


def test_spearman_matches_scipy_with_ties():
    x = [0.3, 1.2, 1.2, 2.5, 0.1, 4.0, 3.3]
    y = [5.0, 3.0, 4.0, 1.0, 6.0, 1.0, 2.0]
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert math.isnan(spearman([1, 2], [2, 1]))  # fewer than 3 pairs
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # nothing to rank
    # Pairs with a non-finite value are left out (a run that diverged or was not measured).
    nan, inf = float("nan"), float("inf")
    assert spearman([*x, nan, 9.0], [*y, 0.0, inf]) == spearman(x, y)


def test_time_to_target_uses_the_baseline_arms_final_accuracy_per_method():
    recipe = load_recipe("thesis_table2")
    scale = recipe.scale("full")
    bt = {"method": "barlow_twins"}
    records = []
    for seed in (0, 1):
        # Baseline: 2 views, d = 8192, final accuracy 0.8, 1 minute per epoch.
        records.append(
            _record({**bt, "views": 2, "d": 8192}, seed, curve=_curve([0.5, 0.7, 0.8], 1.0))
        )
        # 2 views, d = 256: reaches 0.8 at epoch 2 (0.5 min per epoch).
        records.append(
            _record({**bt, "views": 2, "d": 256}, seed, curve=_curve([0.6, 0.8, 0.81], 0.5))
        )
        # 4 views: reaches 0.8 at epoch 1 in seed 0, never in seed 1.
        final = [0.85, 0.9, 0.9] if seed == 0 else [0.6, 0.7, 0.75]
        records.append(_record({**bt, "views": 4, "d": 256}, seed, curve=_curve(final, 0.75)))
    analysis = analyse(recipe, scale, records)
    rows = {(r["views"], r["d"]): r for r in analysis.tables[0].data}
    assert rows[(2, 8192)]["ours"] == pytest.approx(3.0)
    assert rows[(2, 8192)]["ours_relative"] == pytest.approx(1.0)
    assert rows[(2, 256)]["ours"] == pytest.approx(1.0)
    assert rows[(2, 256)]["epochs"] == pytest.approx(2.0)
    assert rows[(2, 256)]["ours_relative"] == pytest.approx(1 / 3)
    assert rows[(4, 256)]["ours"] == pytest.approx(0.75) and rows[(4, 256)]["n"] == 1
    assert rows[(2, 256)]["paper"] == 62.34
    assert rows[(2, 256)]["paper_relative"] == pytest.approx(62.34 / 99.36)
    assert rows[(2, 256)]["diff"] == pytest.approx(1.0 - 62.34)
    table = analysis.tables[0].rows
    assert any("(1/2 seeds)" in cell for row in table for cell in row)


def test_time_to_fixed_threshold_and_best_over_epochs():
    recipe = load_recipe("thesis_table3")
    scale = recipe.scale("full")  # threshold 0.80
    labels = {"method": "barlow_twins", "views": 2, "d": 256, "fraction": 1.0}
    base = {"method": "barlow_twins", "views": 2, "d": 8192, "fraction": 1.0}
    records = [
        _record(labels, 0, curve=_curve([0.5, 0.79, 0.8], 2.0)),
        _record(base, 0, curve=_curve([0.81, 0.9], 4.0)),
    ]
    rows = {r["d"]: r for r in analyse(recipe, scale, records).tables[0].data}
    assert rows[256]["ours"] == pytest.approx(6.0) and rows[256]["epochs"] == 3
    assert rows[256]["ours_relative"] == pytest.approx(6.0 / 4.0)

    recipe = load_recipe("thesis_table6")
    records = [
        _record({"views": 4}, s, curve=_curve(c, 1.0))
        for s, c in enumerate([[0.5, 0.9, 0.8], [0.7, 0.8, 0.92]])
    ]
    row = analyse(recipe, recipe.scale("full"), records).tables[0].data[0]
    assert row["ours"] == pytest.approx(91.0) and row["ours_epoch"] == pytest.approx(2.5)
    assert row["paper"] == 92.39 and row["paper_epoch"] == 340


def test_final_metric_table_report_and_csv(tmp_path):
    recipe = load_recipe("thesis_table5")
    scale = recipe.scale("smoke", seeds=2)
    records = []
    for beta, accuracy in (("fixed", {64: 0.70, 256: 0.80}), ("scaled", {64: 0.79, 256: 0.80})):
        for d, value in accuracy.items():
            for seed, noise in enumerate((-0.01, 0.01)):
                labels = {"method": "barlow_twins", "beta": beta, "d": d}
                records.append(
                    _record(
                        labels,
                        seed,
                        results={"linear_top1": value + noise},
                        curve=_curve([value], 0.1),
                    )
                )
    analysis = analyse(recipe, scale, records)
    rows = {(r["beta"], r["d"]): r for r in analysis.tables[0].data}
    assert rows[("fixed", 64)]["ours"] == pytest.approx(70.0)
    assert rows[("fixed", 64)]["ours_std"] == pytest.approx(math.sqrt(2) * 1.0)
    assert rows[("fixed", 64)]["diff"] == pytest.approx(70.0 - 73.6)
    gaps = " ".join(analysis.findings)
    assert "beta=fixed: d=64 minus d=256: ours -10.0 points, paper -2.3 points" in gaps
    assert "beta=scaled: d=64 minus d=256: ours -1.0 points" in gaps

    report = write_report(recipe, scale, analysis, tmp_path, records=records, setting="test")
    text = report.read_text()
    assert "| barlow_twins | fixed | 64 | 73.6 ± 0.9 | 70.0 ± 1.4 | -3.6 |" in text
    assert "Not the paper's setting" in text and "![results](plots/results.png)" in text
    assert (tmp_path / "plots" / "results.png").stat().st_size > 10_000
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and {"linear_top1", "seed", "beta", "d"} <= set(rows[0])
    assert (tmp_path / "curves.csv").is_file() and (tmp_path / "table.csv").is_file()


def test_rank_correlation_and_alpha_timing():
    recipe = load_recipe("alpha_req_fig5")
    records = []
    for i, (alpha, loss, accuracy) in enumerate(
        [(1.0, 3.0, 0.9), (1.5, 1.0, 0.8), (2.0, 2.0, 0.7), (3.0, 4.0, 0.6)]
    ):
        labels = {"lambda": 0.01 * (i + 1), "d": 128}
        records.append(
            _record(
                labels,
                0,
                curve=[{"epoch": 1, "time_s": 1.0, "ssl_loss": 128 * loss}],
                results={"repr/backbone_alpha": alpha, "linear_top1": accuracy},
            )
        )
    analysis = analyse(recipe, recipe.scale("full"), records)
    summary = {r["quantity"]: r for r in analysis.tables[0].data}
    assert summary["rho_alpha_accuracy"]["ours"] == pytest.approx(-1.0)
    assert summary["rho_loss_accuracy"]["ours"] == pytest.approx(
        stats.spearmanr([3, 1, 2, 4], [0.9, 0.8, 0.7, 0.6]).statistic
    )
    assert summary["rho_alpha_accuracy"]["holds"] is True
    assert "α tracks accuracy more closely" in analysis.findings[0]

    recipe = load_recipe("alpha_req_table1")
    records = [
        _record(
            {"model": "barlow_twins"},
            0,
            extra={"alpha_time_s": [0.1, 0.3], "probe_time_s": [4.0, 4.0]},
        )
    ]
    rows = {r["quantity"]: r for r in analyse(recipe, recipe.scale("full"), records).tables[0].data}
    assert rows["alpha_s"]["ours"] == pytest.approx(0.2)
    assert rows["speedup"]["ours"] == pytest.approx(20.0)
    assert rows["probe_s"]["paper"] == 48 and rows["speedup"]["paper"] == 16
