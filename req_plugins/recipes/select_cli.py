"""``req-select CHECKPOINT_DIR``: α-guided model selection
(:func:`~req_plugins.recipes.selection.select_models`) over the models in a folder
(:mod:`req_plugins.recipes.candidates`), reporting the chosen model and how many linear probes
it took."""

from __future__ import annotations

import argparse
import math
import random
import sys

from req_plugins.recipes.candidates import CandidateScorer, find_candidates
from req_plugins.recipes.selection import SelectionResult, select_models


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
