"""Benchmark the label-free metrics: speed against reptrix and the bare floor; streaming memory.

Part 1 — on the same features (N = 10 000, D = 2048, float32, power-law spectrum) it times

* ours: ``AlphaReQ`` + ``EffectiveRank`` in a ``MetricCollection`` that shares their states
  (one float64 second-moment GEMM over batches of 1024, then one ``eigvalsh`` of the centred
  covariance for α and one of the uncentred second moment for the RankMe effective rank),
* reptrix: ``reptrix.alpha.get_alpha`` + ``reptrix.rankme.get_rankme`` (one sklearn PCA each),
* the bare floor: float32→float64 cast + one float64 GEMM ``XᵀX`` + one float64 ``eigvalsh``,

and prints the ratios (targets: reptrix / ours ≥ 4, ours / floor ≤ 1.5). For reference it
also times the one-call functionals (``alpha_req`` + ``effective_rank``, the latter via an SVD).

Part 2 — streams N = 50 000 and N = 200 000 samples of D = 512 in batches of 1024 through
``AlphaReQ``, ``EffectiveRank`` and ``MatrixMutualInformation``, each N in a fresh process,
and prints each run's peak-RSS growth (``VmHWM`` after the stream minus ``VmRSS`` before it,
the peak reset after a warm-up), which must not grow with N.

Run: ``python benchmarks/metrics.py [--repeats 3] [--skip-reptrix] [--skip-stream]``.
Timings taken while other jobs load the CPU are not final; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torchmetrics import MetricCollection

from req_plugins.functional import (
    alpha_req,
    effective_rank,
    effective_rank_from_spectrum,
    eigenvalues_from_moments,
    feature_moments,
)
from req_plugins.metrics import AlphaReQ, EffectiveRank, MatrixMutualInformation

# the repository root, for the tests' synthetic features (one definition for tests and benchmarks)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.functional.synthetic import power_law_features  # noqa: E402

N, D, BATCH = 10_000, 2048, 1024
STREAM_D, STREAM_BATCH, STREAM_SIZES = 512, 1024, (50_000, 200_000)


def ours(features: torch.Tensor) -> tuple[float, float]:
    metrics = MetricCollection(
        {"alpha": AlphaReQ(), "erank": EffectiveRank()}, compute_groups=[["alpha", "erank"]]
    )
    for batch in features.split(BATCH):
        metrics.update(batch)
    values = metrics.compute()
    return float(values["alpha"]), float(values["erank"])


def ours_functional(features: torch.Tensor) -> tuple[float, float]:
    return float(alpha_req(features).alpha), float(effective_rank(features))


def reptrix_pair(features: torch.Tensor) -> tuple[float, float]:
    import reptrix.alpha
    import reptrix.rankme

    return float(reptrix.alpha.get_alpha(features)[0]), float(reptrix.rankme.get_rankme(features))


def floor(features: torch.Tensor) -> tuple[float, float]:
    x = features.double()
    torch.linalg.eigvalsh(x.T @ x)
    return float("nan"), float("nan")


def floor_gemm(features: torch.Tensor) -> tuple[float, float]:
    x = features.double()
    x.T @ x
    return float("nan"), float("nan")


def floor_eigvalsh(matrix: torch.Tensor) -> tuple[float, float]:
    torch.linalg.eigvalsh(matrix)
    return float("nan"), float("nan")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def time_methods(methods: dict, repeats: int) -> tuple[dict[str, list[float]], dict]:
    """Interleaved repeats (so that load spikes hit every method alike): seconds, last results."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    results = {}
    for _ in range(repeats):
        for name, (fn, arg) in methods.items():
            start = time.perf_counter()
            results[name] = fn(arg)
            times[name].append(time.perf_counter() - start)
    return times, results


def speed(repeats: int, skip_reptrix: bool) -> None:
    print(f"== Part 1: alpha + effective rank, N={N}, D={D}, float32 input ==")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average at start: {load()}"
    )
    features = power_law_features(N, D)
    gram = features.double().T @ features.double()
    methods = {
        "ours (metrics, shared states)": (ours, features),
        "ours (functionals, 1 call each)": (ours_functional, features),
        "floor (cast + f64 GEMM + f64 eigvalsh)": (floor, features),
        "  floor part: cast + f64 GEMM": (floor_gemm, features),
        "  floor part: f64 eigvalsh": (floor_eigvalsh, gram),
    }
    if not skip_reptrix:
        methods["reptrix (get_alpha + get_rankme)"] = (reptrix_pair, features)
    # Warm-up on a small problem: library initialisation (MKL, sklearn) is not what we time.
    small = power_law_features(2048, 256, seed=1)
    for fn, arg in methods.values():
        fn(small if arg is features else arg[:256, :256])

    times, results = time_methods(methods, repeats)
    for name, (alpha, erank) in results.items():
        if not name.startswith(("floor", " ")):
            print(f"  {name:<40s} alpha = {alpha:.6f}   effective rank = {erank:.4f}")
    # reptrix's rankme is the entropy of the centred covariance eigenvalues; ours defaults to
    # RankMe's uncentred singular values. Same definition, from the same kind of statistics:
    centred = eigenvalues_from_moments(feature_moments(features), center=True)
    print(
        f"  {'ours, spectrum=eigen + center=True':<40s} {'':20s}   effective rank = "
        f"{float(effective_rank_from_spectrum(centred)):.4f}  (reptrix's definition)"
    )
    print(f"seconds per call over {repeats} interleaved repeats (min / median):")
    for name, ts in times.items():
        print(f"  {name:<40s} {min(ts):8.3f} / {statistics.median(ts):8.3f}")
    best = {name: min(ts) for name, ts in times.items()}
    ours_time = best["ours (metrics, shared states)"]
    floor_time = best["floor (cast + f64 GEMM + f64 eigvalsh)"]
    print("ratios (best of repeats):")
    if not skip_reptrix:
        ratio = best["reptrix (get_alpha + get_rankme)"] / ours_time
        print(f"  reptrix / ours       = {ratio:6.2f}x   (target >= 4)")
    print(f"  ours / floor         = {ours_time / floor_time:6.2f}x   (target <= 1.5)")
    print(
        "  note: ours does the floor's GEMM once, in float64 like the floor, and two eigvalsh "
        "(centred covariance for alpha, uncentred second moment for RankMe)."
    )
    print(f"load average at end: {load()}")


def rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process from /proc, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def stream_child(n: int) -> None:
    """Stream n samples through the three metrics; print the peak-RSS growth as JSON."""
    g = torch.Generator().manual_seed(0)
    scales = torch.arange(1, STREAM_D + 1, dtype=torch.float32) ** -0.5
    projection = torch.randn(STREAM_D, 128, generator=g) / STREAM_D**0.5
    spectrum = MetricCollection(
        {"alpha": AlphaReQ(), "erank": EffectiveRank()}, compute_groups=[["alpha", "erank"]]
    )
    mutual_information = MatrixMutualInformation()

    def stream(count: int) -> None:
        seen = 0
        while seen < count:
            r = torch.randn(min(STREAM_BATCH, count - seen), STREAM_D, generator=g) * scales
            spectrum.update(r)
            mutual_information.update(r, torch.tanh(r @ projection))
            seen += r.shape[0]

    # Warm-up on a few batches, then reset: states, allocator pools and libraries are in
    # place, so what follows measures only what grows with the stream.
    stream(4 * STREAM_BATCH)
    spectrum.compute()
    mutual_information.compute()
    spectrum.reset()
    mutual_information.reset()
    peak_was_reset = reset_peak_rss()
    baseline_kib = rss_kib("VmRSS") if peak_was_reset else rss_kib("VmHWM")
    start = time.perf_counter()
    stream(n)
    values = spectrum.compute()
    mi = float(mutual_information.compute())
    peak_kib = rss_kib("VmHWM")
    result = {
        "n": int(spectrum["alpha"].count),
        "seconds": time.perf_counter() - start,
        "baseline_mib": baseline_kib / 1024,
        "growth_mib": (peak_kib - baseline_kib) / 1024,
        "peak_was_reset": peak_was_reset,
        "alpha": float(values["alpha"]),
        "erank": float(values["erank"]),
        "mi": mi,
    }
    print(json.dumps(result))


def streaming() -> None:
    print(
        f"\n== Part 2: streaming D={STREAM_D} in batches of {STREAM_BATCH}, fresh process per N =="
    )
    print(
        "metrics: AlphaReQ + EffectiveRank (shared float64 states) and MatrixMutualInformation "
        "(R = features, Z = tanh of a 128-d projection)"
    )
    results = []
    for n in STREAM_SIZES:
        out = subprocess.run(
            [sys.executable, __file__, "--stream-child", str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"  N={result['n']:>7d}: {result['seconds']:6.1f} s, "
            f"RSS {result['baseline_mib']:.0f} MiB at start, peak growth "
            f"{result['growth_mib']:+.1f} MiB; alpha={result['alpha']:.4f} "
            f"erank={result['erank']:.2f} I(R;Z)={result['mi']:.4f}"
        )
    if not all(result["peak_was_reset"] for result in results):
        print("  (could not reset the peak RSS: growth is measured from the warm-up's peak)")
    small, large = results
    streamed_mib = (large["n"] - small["n"]) * STREAM_D * 4 / 2**20
    print(
        f"  peak-RSS growth at N={large['n']} minus at N={small['n']}: "
        f"{large['growth_mib'] - small['growth_mib']:+.1f} MiB "
        f"(the float32 features streamed differ by {streamed_mib:.0f} MiB)"
    )
    print(
        "  (the growth itself is one update's working set, e.g. the 1024x1024 float64 kernels "
        "of the MI joint term, freed and re-allocated after the warm-up)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-reptrix", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument("--stream-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_child:
        stream_child(args.stream_child)
        return
    speed(args.repeats, args.skip_reptrix)
    if not args.skip_stream:
        streaming()


if __name__ == "__main__":
    main()
