"""α-ReQ Algorithm 1: picks the known best model with fewer linear evaluations than exhaustive."""

from __future__ import annotations

import math
import random

import pytest

from req_plugins.recipes.select_cli import main
from req_plugins.recipes.selection import select_models
from tests.recipes.synthetic import write_models

# 16 models (M = 4 per round, H = 4 rounds); the α = 1 model is the best by construction and
# does not come in the first round.
ALPHAS = [2.6, 0.4, 1.6, 0.7, 0.5, 3.0, 1.25, 2.0, 1.0, 0.3, 1.8, 0.8, 2.3, 1.4, 0.6, 3.5]


def _unimodal(peak: float, width: float):
    return lambda alpha: math.exp(-(((math.log(alpha) - math.log(peak)) / width) ** 2))


def test_selection_on_known_alpha_and_accuracy_skips_models_and_finds_the_best():
    accuracy = _unimodal(1.0, 0.5)
    names = [f"m{i}" for i in range(len(ALPHAS))]
    alpha_of = dict(zip(names, ALPHAS, strict=True))
    evaluated = []

    def evaluate(name):
        evaluated.append(name)
        return accuracy(alpha_of[name])

    result = select_models(names, alpha_of.get, evaluate, parallel=4, top_k=2)
    assert alpha_of[result.best] == 1.0
    assert result.num_evaluations == len(evaluated) < len(names)
    assert set(result.alphas) == set(names)  # α is computed for every model
    assert len(result.kept) == 2
    # The interval only ever brackets the best model seen so far.
    assert result.intervals[0] == (0.0, math.inf)
    low, high = result.intervals[-1]
    assert low < 1.0 < high and (low, high) != (0.0, math.inf)


@pytest.mark.parametrize("seed", range(20))
def test_best_model_is_never_skipped_when_accuracy_is_unimodal_in_alpha(seed):
    rng = random.Random(seed)
    alphas = [rng.uniform(0.2, 4.0) for _ in range(rng.randint(6, 40))]
    accuracy = _unimodal(rng.uniform(0.6, 1.6), rng.uniform(0.2, 1.0))
    names = [f"m{i}" for i in range(len(alphas))]
    alpha_of = dict(zip(names, alphas, strict=True))
    result = select_models(
        names,
        alpha_of.get,
        lambda n: accuracy(alpha_of[n]),
        parallel=rng.randint(1, 6),
        top_k=rng.randint(1, 4),
    )
    assert result.best == max(names, key=lambda n: accuracy(alpha_of[n]))
    assert result.num_evaluations <= len(names)


def test_prior_interval_limits_evaluations_and_bad_arguments_raise():
    names = ["a", "b", "c"]
    alpha_of = {"a": 0.2, "b": 1.0, "c": 5.0}
    result = select_models(names, alpha_of.get, lambda n: 1.0, alpha_range=(0.5, 2.0))
    assert result.num_evaluations == 1 and result.best == "b"
    with pytest.raises(ValueError, match="widen `alpha_range`"):
        select_models(names, alpha_of.get, lambda n: 1.0, alpha_range=(10.0, 20.0))
    with pytest.raises(ValueError, match="`parallel`"):
        select_models(names, alpha_of.get, lambda n: 1.0, parallel=0)
    with pytest.raises(ValueError, match="`top_k`"):
        select_models(names, alpha_of.get, lambda n: 1.0, top_k=0)
    with pytest.raises(ValueError, match="empty"):
        select_models([], alpha_of.get, lambda n: 1.0)


def test_req_select_on_synthetic_feature_files(tmp_path, capsys):
    models = write_models(tmp_path / "models", ALPHAS)
    best = next(name for name, alpha in models.items() if alpha == 1.0)
    assert (
        main([str(tmp_path / "models"), "--parallel", "4", "--top-k", "3", "--linear-epochs", "30"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"chosen model: {best} " in out
    evaluations = int(out.split("linear evaluations run: ")[1].split()[0])
    exhaustive = int(out.split("exhaustive search would run: ")[1].split()[0])
    assert exhaustive == len(ALPHAS)
    assert evaluations < exhaustive
    assert out.count("skipped") == exhaustive - evaluations


def test_req_select_rejects_a_folder_without_models(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no trained models" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
