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

``req-select CHECKPOINT_DIR`` applies it to a folder of trained models:

* req-train run folders (``config.yaml`` + ``checkpoints/*.ckpt``; a recipe's
  output folder holds one per run): the model is rebuilt by req-train from its
  config, the checkpoint's weights are loaded, α is computed on the backbone
  features of the held-out split and the probe is req-train's linear probe;
* feature files ``*.features.pt`` (a dict with ``train_features``,
  ``train_targets``, ``test_features``, ``test_targets``) for models trained
  elsewhere.

Every file is read with ``torch.load(..., weights_only=True)``: tensors, plain
containers and the few classes a req-train checkpoint holds
(:func:`req_plugins.recipes.model_files.safe_load`), never arbitrary pickled objects, so a file from
elsewhere cannot run code. A file that cannot be read this way (corrupt,
truncated, holding other pickled objects) or that holds non-finite features is
reported by name and left out; the others are still compared. Each run's probe
uses that run's own ``seed`` and ``eval.linear_*`` settings, so its accuracy is
the one its recipe report shows.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: req-select --help does not load it
    from torch import Tensor

FEATURE_SUFFIX = ".features.pt"


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
    if not isinstance(parallel, int) or parallel < 1:
        raise ValueError(f"`parallel` (M) must be an integer >= 1, got {parallel!r}.")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"`top_k` (K) must be an integer >= 1, got {top_k!r}.")
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


# ------------------------------------------------------------------------ checkpoint folders


@dataclass
class Candidate:
    """A trained model found in a folder: a req-train run or a feature file."""

    name: str
    path: Path
    kind: str  # "run" | "features"
    checkpoint: Path | None = None
    config: Any = field(default=None, repr=False)  # the run's req-train config, once loaded
    features: tuple[Tensor, Tensor, Tensor, Tensor] | None = field(default=None, repr=False)


def find_candidates(root: str | Path) -> list[Candidate]:
    """Every req-train run folder and ``*.features.pt`` file under ``root``, sorted by path
    (runs a recipe moved to ``superseded/`` left out)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"`CHECKPOINT_DIR` {str(root)!r} is not a directory.")
    candidates = []
    for config in sorted(root.rglob("config.yaml")):
        run = config.parent
        if "superseded" in run.relative_to(root).parts:  # old runs a recipe replaced
            continue
        checkpoints = sorted((run / "checkpoints").glob("*.ckpt"))
        if not checkpoints:
            continue
        last = run / "checkpoints" / "last.ckpt"
        checkpoint = last if last.is_file() else checkpoints[-1]
        candidates.append(Candidate(str(run.relative_to(root)), run, "run", checkpoint))
    for path in sorted(root.rglob(f"*{FEATURE_SUFFIX}")):
        name = str(path.relative_to(root))[: -len(FEATURE_SUFFIX)]
        candidates.append(Candidate(name, path, "features"))
    if not candidates:
        raise ValueError(
            f"no trained models under {str(root)!r}: expected req-train run folders (config.yaml "
            f"and checkpoints/*.ckpt) or feature files (*{FEATURE_SUFFIX})."
        )
    return candidates


def _run_features(candidate: Candidate, data_path: str | None, device: str):
    """Rebuild a req-train run from its config, load its checkpoint, extract backbone features."""
    from req_plugins.lightly.config import load_config
    from req_plugins.lightly.evaluation import extract_features
    from req_plugins.lightly.train import prepare_run

    overrides = [
        f"checkpoint.resume={candidate.checkpoint}",  # also tells req-train the folder is in use
        "checkpoint.enabled=false",
        "logging.csv=false",
        "logging.tensorboard=false",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.strategy=auto",
    ]
    if data_path is not None:
        overrides.append(f"data.path={data_path}")
    from req_plugins.recipes.model_files import BadModelFile, check_features, safe_load

    state = safe_load(candidate.checkpoint)  # before building anything from the folder
    if not isinstance(state, dict) or "state_dict" not in state:
        raise BadModelFile(f"{str(candidate.checkpoint)!r} is not a Lightning checkpoint.")
    try:
        run = prepare_run(load_config(candidate.path / "config.yaml", overrides))
        run.module.load_state_dict(state["state_dict"])
    except (ValueError, RuntimeError, KeyError) as error:
        raise BadModelFile(
            f"{str(candidate.path)!r}: its checkpoint does not fit its config.yaml "
            f"({str(error).splitlines()[0]})"
        ) from None
    module = run.module.to(device)
    train = extract_features(module, run.datamodule.eval_dataloader("train"))
    test = extract_features(module, run.datamodule.eval_dataloader("test"))
    return check_features(candidate.checkpoint, (*train, *test)), run.config


class CandidateScorer:
    """α and linear-probe accuracy of candidates, features extracted once per model.

    A req-train run's probe uses the run's ``seed`` and ``eval.linear_epochs`` /
    ``linear_lr`` / ``linear_batch_size`` (``linear_epochs`` overrides the epochs);
    feature files use ``seed``, ``linear_lr`` and a batch of 256.
    """

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        data_path: str | None = None,
        device: str = "cpu",
        linear_epochs: int | None = None,
        linear_lr: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.candidates = {c.name: c for c in candidates}
        self.data_path = data_path
        self.device = device
        self.linear_epochs = linear_epochs
        self.linear_lr = linear_lr
        self.seed = seed

    def features(self, name: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        candidate = self.candidates[name]
        if candidate.features is None:
            if candidate.kind == "features":
                from req_plugins.recipes.model_files import load_feature_file

                candidate.features = load_feature_file(candidate.path)
            else:
                candidate.features, candidate.config = _run_features(
                    candidate, self.data_path, self.device
                )
        return candidate.features

    def alpha(self, name: str) -> float:
        """α of the held-out features (α-ReQ: computed on the validation split)."""
        from req_plugins.functional import alpha_req

        return float(alpha_req(self.features(name)[2]).alpha)

    def accuracy(self, name: str) -> float:
        from req_plugins.lightly.evaluation import linear_probe_accuracy

        train_x, train_y, test_x, test_y = self.features(name)
        config = self.candidates[name].config
        settings = {"epochs": 100, "lr": self.linear_lr, "batch_size": 256, "seed": self.seed}
        if config is not None:  # the run's own probe, as its training run evaluated it
            settings = {
                "epochs": int(config.eval.linear_epochs),
                "lr": float(config.eval.linear_lr),
                "batch_size": int(config.eval.linear_batch_size),
                "seed": int(config.seed),
            }
            if "protocol" in config.eval:  # the probe's optimizer recipe (sgd | thesis)
                settings["protocol"] = str(config.eval.protocol)
        if self.linear_epochs is not None:
            settings["epochs"] = self.linear_epochs
        num_classes = int(max(train_y.max(), test_y.max())) + 1
        return linear_probe_accuracy(
            train_x, train_y, test_x, test_y, num_classes=num_classes, **settings
        )

    def usable(self, log=print) -> list[str]:
        """Load every candidate's features; report each unusable one (by name) and leave it
        out; return the names of the others."""
        from req_plugins.recipes.model_files import BadModelFile

        names = []
        for name in self.candidates:
            try:
                self.features(name)
            except BadModelFile as error:
                log(f"req-select: skipped {name}: {error}")
                continue
            names.append(name)
        return names


def format_selection(result: SelectionResult, parallel: int, top_k: int) -> str:
    rounds = math.ceil(result.num_models / parallel)
    lines = [
        f"models: {result.num_models} (M = {parallel} per round, H = {rounds} rounds), "
        f"keep top K = {top_k}",
        "",
        f"{'model':40s} {'alpha':>7s} {'linear acc':>11s}",
    ]
    for name, alpha in result.alphas.items():
        accuracy = result.accuracies.get(name)
        shown = f"{100 * accuracy:10.2f}%" if accuracy is not None else f"{'skipped':>11s}"
        marker = "  <- chosen" if name == result.best else ""
        lines.append(f"{name:40s} {alpha:7.3f} {shown}{marker}")
    lines += [
        "",
        f"chosen model: {result.best} (alpha {result.alphas[result.best]:.3f}, "
        f"linear accuracy {100 * result.accuracies[result.best]:.2f}%)",
        f"linear evaluations run: {result.num_evaluations}",
        f"exhaustive search would run: {result.num_models}",
        "alpha intervals per round: "
        + ", ".join(f"[{low:.3g}, {high:.3g}]" for low, high in result.intervals),
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="req-select",
        description="α-guided model selection (α-ReQ Algorithm 1): compute α for every model, "
        "train linear probes only for models whose α lies in the shrinking interval, keep the "
        "top K, and report the chosen model and how many probes it took.",
    )
    parser.add_argument(
        "checkpoint_dir",
        metavar="CHECKPOINT_DIR",
        help="folder of req-train runs (e.g. a recipe's output) or *.features.pt files",
    )
    parser.add_argument(
        "--parallel", "-M", type=int, default=4, help="models trained per round (M); default 4"
    )
    parser.add_argument("--top-k", "-K", type=int, default=3, help="models kept (K); default 3")
    parser.add_argument(
        "--alpha-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(0.0, math.inf),
        help="initial α interval, e.g. a Goldilocks prior 0.5 2 (default: none)",
    )
    parser.add_argument(
        "--shuffle",
        type=int,
        metavar="SEED",
        default=None,
        help="visit the models in a random order (default: sorted by path)",
    )
    parser.add_argument(
        "--data", metavar="PATH", default=None, help="dataset folder, when it moved since training"
    )
    parser.add_argument(
        "--linear-epochs",
        type=int,
        default=None,
        help="linear-probe epochs (default: each run's eval.linear_epochs)",
    )
    parser.add_argument(
        "--device", default=None, help="device for α and the probes (default: cuda if available)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from req_plugins.recipes.run_context import quiet_lightning

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        candidates = find_candidates(args.checkpoint_dir)
        scorer = CandidateScorer(
            candidates, data_path=args.data, device=args.device, linear_epochs=args.linear_epochs
        )
        with quiet_lightning(verbose=False):
            names = scorer.usable(log=lambda line: print(line, file=sys.stderr))
            if not names:
                raise ValueError(
                    f"none of the {len(candidates)} model(s) under {args.checkpoint_dir!r} "
                    "could be used (see above)."
                )
            if args.shuffle is not None:
                random.Random(args.shuffle).shuffle(names)
            result = select_models(
                names,
                scorer.alpha,
                scorer.accuracy,
                parallel=args.parallel,
                top_k=args.top_k,
                alpha_range=tuple(args.alpha_range),
            )
    except ValueError as error:
        print(f"req-select: error: {error}", file=sys.stderr)
        return 2
    print(format_selection(result, args.parallel, args.top_k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
