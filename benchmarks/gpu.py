"""The GPU figures in one run (about 8 minutes on one GPU): what training these methods costs.

Printed side by side, all measured in this one run:

1. Step time per method (forward + backward + optimizer step of backbone, projector and
   SSL loss; bf16 autocast; ResNet-50 with CIFAR stem, batch 256, 32×32 synthetic
   images, projector 2048-2048): lightly's Barlow Twins, mv_barlow_twins at m = 2/4/8,
   mv_vicreg at m = 2/8, adadim — eager vs ``torch.compile`` (backbone, projector and
   loss compiled separately, so identical backbones reuse the compile cache).
2. Multi-view augmentation throughput: lightly's PIL pipeline on the CPU vs batched kornia
   on the device (``data.augment_on``), m = 2/4/8 (``benchmarks/augmentation.py``).
3. α + RankMe of 50 000 × 2048 features on the device vs reptrix on the CPU, and a linear
   probe on the same features (α-ReQ, Agrawal et al. 2022, Table 1: α in 3 s vs a linear
   probe in 48 s).
4. Overhead of ``OnlineRepresentationMetrics`` on the step time (``benchmarks/training.py``).

``--device cpu --small`` runs every part at a toy size (well under a minute) to check
the script itself. Run:

    python benchmarks/gpu.py                     # on a GPU machine
    python benchmarks/gpu.py --device cpu --small
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import augmentation  # benchmarks/augmentation.py
import torch
import training  # benchmarks/training.py

from req_plugins.functional import (
    alpha_from_eigenvalues,
    effective_rank_from_spectrum,
    eigenspectrum,
)
from req_plugins.lightly.backbones import build_backbone
from req_plugins.lightly.evaluation import linear_probe_accuracy
from req_plugins.plugins import get_registry

# the repository root, for the tests' synthetic features (one definition for tests and benchmarks)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.functional.synthetic import power_law_features  # noqa: E402

FULL = {
    "backbone": {"name": "resnet50"},
    "head": (2048, 2048),
    "batch": 256,
    "image": (3, 32, 32),
    "steps": 10,
    "features": (50_000, 2048),
    "probe_epochs": 100,
    "augmentation": {"batch_size": 256, "batches": 4, "num_workers": 8},
}
SMALL = {
    "backbone": {"name": "small_cnn", "in_channels": 3, "width": 4},
    "head": (64, 32),
    "batch": 8,
    "image": (3, 16, 16),
    "steps": 1,
    "features": (2_000, 256),
    "probe_epochs": 2,
    "augmentation": {"batch_size": 16, "batches": 1, "num_workers": 0},
}
# (label, registered method, m, method arguments)
METHODS = [
    ("lightly BT", "barlow_twins", 2, {"lambda_param": 0.005}),
    ("mv_barlow_twins", "mv_barlow_twins", 2, {}),
    ("mv_barlow_twins", "mv_barlow_twins", 4, {}),
    ("mv_barlow_twins", "mv_barlow_twins", 8, {}),
    ("mv_vicreg", "mv_vicreg", 2, {}),
    ("mv_vicreg", "mv_vicreg", 8, {}),
    ("adadim", "adadim", 2, {"alpha_mode": "fixed", "alpha": 0.5}),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _method(name: str, num_views: int, kwargs: dict, setting: dict, device):
    torch.manual_seed(0)
    backbone, feature_dim = build_backbone(**setting["backbone"])
    cls = get_registry().get_method(name, "lightning").load()
    module = cls(
        backbone,
        feature_dim,
        10,
        num_views=num_views,
        projection_hidden_dim=setting["head"][0],
        projection_output_dim=setting["head"][1],
        scheduler="none",
        **kwargs,
    ).to(device)
    return module, module.configure_optimizers()


def _loss_fn(module):
    """``(features, z) -> loss`` of one step, as the method's ``training_step`` computes it."""
    if type(module).__name__ == "AdaDim":  # its loss also reads the backbone features
        alpha = module.controller.alpha(0.0, 1)
        return lambda features, z: module.criterion(z[0], z[1], r=features, alpha=alpha)
    return lambda features, z: module.ssl_loss(z)


def _timed_steps(parts, optimizer, images, m: int, count: int, device) -> float:
    """Seconds per training step of ``parts = (backbone, projector, loss)``, bf16 autocast."""
    backbone, head, loss = parts
    _sync(device)
    start = time.perf_counter()
    for _ in range(count):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            features = backbone(images).flatten(start_dim=1)
            z = head(features).chunk(m)
            value = loss(features, z)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    _sync(device)
    return (time.perf_counter() - start) / count


def step_times(setting: dict, device, backend: str) -> None:
    """Eager vs compiled step time of every method, bf16 autocast."""
    n, steps = setting["batch"], setting["steps"]
    print(
        f"\n1. Step time, bf16 autocast, {setting['backbone']['name']}, batch {n} x m views of "
        f"{setting['image']}, projector {setting['head']}; compiled = torch.compile "
        f"(backend {backend!r}) of backbone, projector and loss; median of 2 ABBA rounds"
    )
    print(
        f"  {'method':<17} {'m':>2}  {'eager ms':>9}  {'compiled ms':>11}  {'speed-up':>8}  "
        f"{'first compiled step s':>21}"
    )
    for label, name, m, kwargs in METHODS:
        module, optimizer = _method(name, m, kwargs, setting, device)
        generator = torch.Generator().manual_seed(1)
        images = torch.randn(m * n, *setting["image"], generator=generator).to(device)
        eager = (module.backbone, module.projection_head, _loss_fn(module))
        compiled = tuple(torch.compile(part, backend=backend) for part in eager)

        def run(parts, count: int, optimizer=optimizer, images=images, m=m):
            return _timed_steps(parts, optimizer, images, m, count, device)

        run(eager, 1)  # warm-up
        first = run(compiled, 1)  # compiles
        times = {"eager": [], "compiled": []}
        for _ in range(2):  # ABBA
            times["eager"].append(run(eager, steps))
            times["compiled"] += [run(compiled, steps), run(compiled, steps)]
            times["eager"].append(run(eager, steps))
        e, c = (statistics.median(times[k]) for k in ("eager", "compiled"))
        print(
            f"  {label:<17} {m:>2}  {1000 * e:9.2f}  {1000 * c:11.2f}  {e / c:7.2f}x  {first:21.1f}"
        )
        del module, optimizer, compiled
        if device.type == "cuda":
            torch.cuda.empty_cache()


def metrics_vs_probe(setting: dict, device) -> None:
    """α + RankMe on the device vs reptrix on the CPU, and a linear probe, same features."""
    from reptrix.alpha import get_alpha
    from reptrix.rankme import get_rankme

    n, d = setting["features"]
    features = power_law_features(n, d, device=device)  # covariance spectrum ∝ 1/k
    generator = torch.Generator().manual_seed(2)
    targets = torch.randint(0, 10, (n,), generator=generator).to(device)
    test = power_law_features(n // 5, d, seed=1, device=device)
    test_targets = torch.randint(0, 10, (n // 5,), generator=generator).to(device)

    def timed(fn):
        _sync(device)
        start = time.perf_counter()
        value = fn()
        _sync(device)
        return value, time.perf_counter() - start

    def ours() -> tuple[float, float]:
        # reptrix's convention for both: eigenvalues of the centred covariance (PCA).
        spectrum = eigenspectrum(features, center=True, normalize=False)
        return (
            float(alpha_from_eigenvalues(spectrum).alpha),
            float(effective_rank_from_spectrum(spectrum)),
        )

    eigenspectrum(features[:1000])  # warm-up (CUDA context, kernels)
    (ours_alpha, ours_rank), ours_time = timed(ours)
    cpu = features.cpu()
    (ref_alpha, ref_rank), ref_time = timed(
        lambda: (float(get_alpha(cpu, max_eigenvals=d)[0]), float(get_rankme(cpu, d)))
    )
    epochs = setting["probe_epochs"]
    accuracy, probe_time = timed(
        lambda: linear_probe_accuracy(
            features, targets, test, test_targets, num_classes=10, epochs=epochs
        )
    )
    print(f"\n3. Label-free metrics vs a linear probe, {n} x {d} features")
    print(f"  {'':<38} {'alpha':>8} {'RankMe':>9} {'seconds':>9}")
    print(
        f"  {'req_plugins on ' + device.type + ' (float64)':<38} {ours_alpha:8.4f} "
        f"{ours_rank:9.2f} {ours_time:9.3f}"
    )
    print(f"  {'reptrix on cpu':<38} {ref_alpha:8.4f} {ref_rank:9.2f} {ref_time:9.3f}")
    print(
        f"  {f'linear probe on {device.type} ({epochs} epochs, SGD)':<38} {'':>8} {'':>9} "
        f"{probe_time:9.3f}   (top-1 {accuracy:.3f}: random labels)"
    )
    print(
        f"  probe time / metric time: {probe_time / ours_time:.1f}x "
        "(alpha-ReQ Table 1: 48 s / 3 s = 16x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="toy sizes (checks the script)")
    parser.add_argument(
        "--backend",
        default=None,
        help="torch.compile backend (default: inductor on CUDA, eager on the CPU)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # `self.log` outside a Trainer, Lightning tips
    device = torch.device(args.device)
    setting = SMALL if args.small else FULL
    backend = args.backend or ("inductor" if device.type == "cuda" else "eager")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device: {name}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads"
        f"{'; --small' if args.small else ''}"
    )
    start = time.perf_counter()
    step_times(setting, device, backend)
    augmentation.throughput(device, (2, 4, 8), **setting["augmentation"], label="2. ")
    metrics_vs_probe(setting, device)
    training.online_metrics_overhead(
        {"name": setting["backbone"]["name"], **setting},
        device,
        repeats=3,
        steps=setting["steps"],
        label="4. ",
    )
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
