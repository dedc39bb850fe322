"""Forward+backward timings of the multi-view losses (CPU; prints figures and ratios).

Targets (Ghosh et al. 2024, Eq. 10; issue): multi-view Barlow Twins is linear in the number of
views, time(m=8) / time(m=2) <= 4.5, at least 3x faster than the naive all-pairs loss at m = 8,
and each loss at m = 2 within 1.1x of lightly's counterpart.

Run:  python benchmarks/losses.py [--n 256] [--d 2048] [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from req_plugins.losses import MultiViewBarlowTwinsLoss, MultiViewVICRegLoss, NTXentLoss


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


def all_pairs(pair_loss):
    """The naive O(m²) multi-view loss: the mean of the pairwise loss over all pairs."""

    def loss_fn(views):
        pairs = list(itertools.combinations(views, 2))
        return sum(pair_loss(a, b) for a, b in pairs) / len(pairs)

    return loss_fn


def _unpack(pair_loss):
    return lambda views: pair_loss(*views)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="batch size N")
    parser.add_argument("--d", type=int, default=2048, help="projector dimension d")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)

    def views(m):
        return [torch.randn(args.n, args.d, requires_grad=True) for _ in range(m)]

    print(
        f"N = {args.n}, d = {args.d}, float32, CPU, {torch.get_num_threads()} threads, "
        f"median of {args.repeats}, torch {torch.__version__}"
    )
    bt = MultiViewBarlowTwinsLoss()
    rows = [(m, time_forward_backward(bt, views(m), args.repeats)) for m in (2, 4, 8)]
    naive = time_forward_backward(all_pairs(lambda a, b: bt(a, b)), views(8), args.repeats)
    t = dict(rows)
    print("\nMulti-view Barlow Twins, forward+backward")
    for m, seconds in rows:
        print(f"  m = {m}: {1e3 * seconds:8.1f} ms   (x{seconds / t[2]:.2f} of m = 2)")
    print(f"  all pairs, m = 8: {1e3 * naive:8.1f} ms")
    print(f"  time(m=8)/time(m=2) = {t[8] / t[2]:.2f}   (target <= 4.5)")
    print(f"  all-pairs / ours at m = 8 = {naive / t[8]:.1f}x   (target >= 3)")

    vic = MultiViewVICRegLoss()
    print("\nMulti-view VICReg, forward+backward (leave-one-out, 2m covariance matrices)")
    vic_times = {m: time_forward_backward(vic, views(m), args.repeats) for m in (2, 4, 8)}
    for m, seconds in vic_times.items():
        print(f"  m = {m}: {1e3 * seconds:8.1f} ms   (x{seconds / vic_times[2]:.2f} of m = 2)")

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
    for name, ours, theirs in pairs:
        z = views(2)
        theirs_on_list = _unpack(theirs)
        # interleave the two to spread machine noise evenly
        ours_t, theirs_t = [], []
        for _ in range(3):
            ours_t.append(time_forward_backward(ours, z, args.repeats))
            theirs_t.append(time_forward_backward(theirs_on_list, z, args.repeats))
        o, l_ = min(ours_t), min(theirs_t)
        print(
            f"  {name:13s} ours {1e3 * o:8.1f} ms   lightly {1e3 * l_:8.1f} ms   ratio {o / l_:.2f}"
        )


if __name__ == "__main__":
    main()
