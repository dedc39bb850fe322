"""Forward+backward timings of the multi-view losses (prints figures and ratios side by side).

Targets (thesis §3 and issue 10):

* multi-view Barlow Twins is linear in the number of views: time(m=8) / time(m=2) <= 4.5,
  and at least 3x faster than the naive all-pairs loss at m = 8;
* multi-view VICReg likewise: time(m=8) / time(m=2) <= 4.5, and at m = 8 at most 2x
  multi-view Barlow Twins (the thesis compares both methods per wall-clock minute). Beyond
  m = 2 every view and every leave-one-out mean view needs its own covariance penalty
  (2m matrices), while at m = 2 the leave-one-out view is the other view (2 matrices), so
  time(m=8) / time(m=4) shows the linear growth and time(m=8) / time(m=2) carries that 2x;
* each loss at m = 2 within 1.1x of lightly's counterpart;
* with ``--compile``: the same losses under ``torch.compile(fullgraph=True)`` (inductor),
  eager / compiled at m = 8 (informative, no target; needs a C compiler).

All timings of one run are interleaved round by round (the best round counts), so that load
from other jobs hits every configuration alike; the load average is printed.

Run:  python benchmarks/losses.py [--n 256] [--d 2048] [--repeats 3] [--rounds 3] [--compile]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

import torch

from req_plugins.losses import MultiViewBarlowTwinsLoss, MultiViewVICRegLoss, NTXentLoss

VIEW_COUNTS = (2, 4, 8)


def time_forward_backward(loss_fn, views, repeats):
    """Median wall time (s) of loss + backward over ``repeats`` runs, after one warm-up."""
    times = []
    for i in range(repeats + 1):
        for view in views:
            view.grad = None
        start = time.perf_counter()
        loss_fn(views).backward()
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def best_of_rounds(cases, repeats, rounds):
    """``{name: best median}`` of ``cases = {name: (loss_fn, views)}``, interleaved by round."""
    best = {}
    for _ in range(rounds):
        for name, (loss_fn, views) in cases.items():
            seconds = time_forward_backward(loss_fn, views, repeats)
            best[name] = min(best.get(name, seconds), seconds)
    return best


def all_pairs(pair_loss):
    """The naive O(m²) multi-view loss: the mean of the pairwise loss over all pairs."""

    def loss_fn(views):
        pairs = list(itertools.combinations(views, 2))
        return sum(pair_loss(a, b) for a, b in pairs) / len(pairs)

    return loss_fn


def _unpack(pair_loss):
    return lambda views: pair_loss(*views)


def _print_scaling(title, t):
    print(title)
    for m in VIEW_COUNTS:
        print(f"  m = {m}: {1e3 * t[m]:8.1f} ms   (x{t[m] / t[2]:.2f} of m = 2)")
    print(f"  time(m=8)/time(m=2) = {t[8] / t[2]:.2f}   (target <= 4.5)")
    print(f"  time(m=8)/time(m=4) = {t[8] / t[4]:.2f}   (linear in m: 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="batch size N")
    parser.add_argument("--d", type=int, default=2048, help="projector dimension d")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best counts)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def views(m):
        return [torch.randn(args.n, args.d, requires_grad=True) for _ in range(m)]

    print(
        f"N = {args.n}, d = {args.d}, float32, CPU, {torch.get_num_threads()} threads, "
        f"best of {args.rounds} interleaved rounds of median-of-{args.repeats}, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    bt, vic = MultiViewBarlowTwinsLoss(), MultiViewVICRegLoss()
    cases = {("bt", m): (bt, views(m)) for m in VIEW_COUNTS}
    cases |= {("vicreg", m): (vic, views(m)) for m in VIEW_COUNTS}
    cases["bt all pairs"] = (all_pairs(lambda a, b: bt(a, b)), views(8))
    if args.compile:
        for name, loss_fn in (("bt", bt), ("vicreg", vic)):
            compiled = torch.compile(loss_fn, fullgraph=True)
            start = time.perf_counter()
            time_forward_backward(compiled, views(8), 1)
            print(f"torch.compile of {name} (m = 8): {time.perf_counter() - start:.0f} s")
            cases[(name, "compiled")] = (compiled, views(8))
    t = best_of_rounds(cases, args.repeats, args.rounds)
    bt_t = {m: t[("bt", m)] for m in VIEW_COUNTS}
    vic_t = {m: t[("vicreg", m)] for m in VIEW_COUNTS}

    _print_scaling("\nMulti-view Barlow Twins, forward+backward", bt_t)
    naive = t["bt all pairs"]
    print(f"  all pairs, m = 8: {1e3 * naive:8.1f} ms")
    print(f"  all-pairs / ours at m = 8 = {naive / bt_t[8]:.1f}x   (target >= 3)")
    _print_scaling("\nMulti-view VICReg, forward+backward", vic_t)
    print(f"  VICReg / Barlow Twins at m = 8 = {vic_t[8] / bt_t[8]:.2f}   (target <= 2)")
    if args.compile:
        print("\ntorch.compile(fullgraph=True, inductor) at m = 8, forward+backward")
        for name in ("bt", "vicreg"):
            eager, compiled = t[(name, 8)], t[(name, "compiled")]
            print(
                f"  {name:7s} eager {1e3 * eager:8.1f} ms   compiled {1e3 * compiled:8.1f} ms"
                f"   eager / compiled {eager / compiled:.2f}"
            )

    try:
        from lightly.loss import BarlowTwinsLoss, VICRegLoss
        from lightly.loss import NTXentLoss as LightlyNTXent
    except ImportError:
        print("\nlightly is not installed: skipping the comparison with lightly.")
        return
    print("\nm = 2 against lightly (forward+backward; ratio = ours / lightly, target <= 1.1)")
    pairs = [
        ("Barlow Twins", bt, BarlowTwinsLoss()),
        ("VICReg", vic, VICRegLoss()),
        ("NT-Xent", NTXentLoss(temperature=0.5), LightlyNTXent(temperature=0.5)),
    ]
    cases = {}
    for name, ours, theirs in pairs:
        z = views(2)
        cases[(name, "ours")] = (ours, z)
        cases[(name, "lightly")] = (_unpack(theirs), z)
    t = best_of_rounds(cases, args.repeats, args.rounds)
    for name, _, _ in pairs:
        o, l_ = t[(name, "ours")], t[(name, "lightly")]
        print(
            f"  {name:13s} ours {1e3 * o:8.1f} ms   lightly {1e3 * l_:8.1f} ms   ratio {o / l_:.2f}"
        )


if __name__ == "__main__":
    main()
