"""Training-layer timings: mv_barlow_twins vs lightly's Barlow Twins, and metric-callback overhead.

Targets (issue):
* per training step, ``mv_barlow_twins`` at m = 2 costs at most 1.05x a module built on
  lightly's ``BarlowTwinsLoss`` with the same backbone, head and optimizer
  (``barlow_twins`` in the registry);
* ``RepresentationMetrics`` at its default settings (every 5 epochs, alpha + effective
  rank + I(R;Z) of backbone features and embeddings on the held-out split) adds at most 3%
  to the epoch time of the quickstart run;
* ``OnlineRepresentationMetrics`` (alpha + effective rank of the training step's own
  embeddings, d = 2048) adds at most 1% to the step time.

Step times are full ``training_step`` + backward + optimizer steps on fixed synthetic
batches (no data loading, no Trainer), so that only the modules differ; the ratio is the
median over ABBA rounds. Run:

    python benchmarks/training.py [--device cpu|cuda] [--repeats 7] [--steps 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch

from req_plugins.lightly.backbones import build_backbone
from req_plugins.plugins import get_registry


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _module(method: str, backbone, feature_dim: int, hidden: int, dim: int, device, **kwargs):
    cls = get_registry().get_method(method, "lightning").load()
    module = cls(
        copy.deepcopy(backbone),
        feature_dim,
        10,
        num_views=2,
        projection_hidden_dim=hidden,
        projection_output_dim=dim,
        scheduler="none",
        **kwargs,
    ).to(device)
    optimizer = module.configure_optimizers()
    return module, optimizer


def _steps(module, optimizer, batch, steps: int, device) -> float:
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        loss = module.training_step(batch, i)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def step_time_ratio(setting: dict, device, repeats: int, steps: int) -> None:
    torch.manual_seed(0)
    backbone, feature_dim = build_backbone(**setting["backbone"])
    beta = 0.005
    ours = _module("mv_barlow_twins", backbone, feature_dim, *setting["head"], device, beta=beta)
    lightly = _module(
        "barlow_twins", backbone, feature_dim, *setting["head"], device, lambda_param=beta
    )
    n, shape = setting["batch"], setting["image"]
    generator = torch.Generator().manual_seed(1)
    batch = (
        [torch.randn(n, *shape, generator=generator).to(device) for _ in range(2)],
        torch.randint(0, 10, (n,), generator=generator).to(device),
    )
    for module, optimizer in (ours, lightly):  # warm-up
        _steps(module, optimizer, batch, 2, device)
    names = ("mv_barlow_twins", "barlow_twins (lightly loss)")
    times = {name: [] for name in names}
    ratios = []
    for _ in range(repeats):
        # ABBA rounds: a drift in machine load during a round hits both modules alike.
        a1 = _steps(*ours, batch, steps, device)
        b1 = _steps(*lightly, batch, steps, device)
        b2 = _steps(*lightly, batch, steps, device)
        a2 = _steps(*ours, batch, steps, device)
        times[names[0]] += [a1, a2]
        times[names[1]] += [b1, b2]
        ratios.append((a1 + a2) / (b1 + b2))
    print(f"\n{setting['name']}  (batch {n} x 2 views of {shape}, head {setting['head']})")
    for name, values in times.items():
        print(f"  {name:30s} {1000 * statistics.median(values):9.2f} ms/step (median)")
    ratio = statistics.median(ratios)
    print(
        f"  ratio mv_barlow_twins / lightly  {ratio:.3f}   (median of {repeats} ABBA rounds; "
        "target <= 1.05)"
    )


def metrics_overhead(device, repeats: int, epochs: int) -> None:
    """Fraction of the quickstart epoch time that RepresentationMetrics adds at its defaults."""
    from pytorch_lightning.callbacks import Callback

    from req_plugins.callbacks import RepresentationMetrics
    from req_plugins.lightly.config import bundled_config, load_config
    from req_plugins.lightly.train import prepare_run

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.times = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.times.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    config = load_config(
        bundled_config("quickstart"),
        [
            f"trainer.max_epochs={epochs}",
            f"trainer.accelerator={device.type}",
            "trainer.progress_bar=false",
            "trainer.check_val_every_n_epoch=1000",
            "metrics.enabled=false",
            "spectrum.enabled=false",
            "checkpoint.enabled=false",
            "logging.csv=false",
            "output_dir=/tmp/req_benchmark_training",
        ],
    )
    run = prepare_run(config, callbacks=[timer])
    run.trainer.fit(run.module, datamodule=run.datamodule)
    epoch_time = statistics.median(timer.times[1:])  # the first epoch includes warm-up

    defaults = RepresentationMetrics(run.datamodule.eval_dataloader("test"))
    module = run.module.to(device)
    defaults.compute(module)  # warm-up
    compute_times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        defaults.compute(module)
        _sync(device)
        compute_times.append(time.perf_counter() - start)
    compute_time = statistics.median(compute_times)
    fraction = compute_time / (defaults.every_n_epochs * epoch_time)
    print(
        f"\nRepresentationMetrics overhead (quickstart run: {config.method.name}, "
        f"{config.data.num_views} views, {config.data.name}, {device.type})"
    )
    print(f"  epoch time (median of {len(timer.times) - 1})     {epoch_time:8.3f} s")
    print(
        f"  one measurement ({len(defaults.dataloader.dataset)} held-out images, "
        f"{len(defaults.entries)} metrics)   {compute_time:8.3f} s"
    )
    print(
        f"  every {defaults.every_n_epochs} epochs (default): overhead {100 * fraction:.2f}% "
        "of epoch time   (target <= 3%)"
    )
    print(f"  every epoch:                 overhead {100 * compute_time / epoch_time:.2f}%")


def online_metrics_overhead(
    setting: dict,
    device,
    repeats: int,
    steps: int,
    every_n_steps=(1, 10, 20),
    epoch_steps=195,
    label: str = "",
) -> float:
    """Step time with and without OnlineRepresentationMetrics hooked to the projector.

    Measured side by side (ABBA rounds): training steps with the callback capturing and
    updating on every step vs plain steps. Also timed alone: one hook + ``update``
    (Σffᵀ in float64 of the projector's input and output), from which the overhead of
    updating every k-th step follows, and the once-per-epoch ``compute`` (amortised over
    ``epoch_steps``; CIFAR-10 at batch 256: 195). Returns the measured every-step fraction.
    """
    from req_plugins.callbacks import OnlineRepresentationMetrics

    torch.manual_seed(0)
    backbone, feature_dim = build_backbone(**setting["backbone"])
    module, optimizer = _module(
        "mv_barlow_twins", backbone, feature_dim, *setting["head"], device, beta=0.005
    )
    n, shape = setting["batch"], setting["image"]
    generator = torch.Generator().manual_seed(1)
    batch = (
        [torch.randn(n, *shape, generator=generator).to(device) for _ in range(2)],
        torch.randint(0, 10, (n,), generator=generator).to(device),
    )
    callback = OnlineRepresentationMetrics(every_n_steps=1)  # worst case, measured below
    callback.begin_epoch()

    def measured() -> float:
        callback.attach(module)
        _sync(device)
        start = time.perf_counter()
        for i in range(steps):
            callback.start_batch(i)
            loss = module.training_step(batch, i)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            callback.end_batch()
        _sync(device)
        callback.detach()
        return (time.perf_counter() - start) / steps

    _steps(module, optimizer, batch, 1, device)  # warm-up
    measured()  # the first update of an epoch also sizes the states and finds compute groups
    plain, ratios = [], []
    for _ in range(repeats):
        a1 = _steps(module, optimizer, batch, steps, device)
        b1, b2 = measured(), measured()
        a2 = _steps(module, optimizer, batch, steps, device)
        plain += [a1, a2]
        ratios.append((b1 + b2) / (a1 + a2) - 1)
    step_time, overhead = statistics.median(plain), statistics.median(ratios)

    callback.attach(module)
    update_times = []
    with torch.no_grad():
        for i in range(repeats):
            callback.start_batch(i)
            module.projection_head(module(torch.cat(batch[0])))  # what training_step runs
            _sync(device)
            start = time.perf_counter()
            callback.end_batch()
            _sync(device)
            update_times.append(time.perf_counter() - start)
    callback.detach()
    update_time = statistics.median(update_times)
    _sync(device)
    start = time.perf_counter()
    callback.compute()
    _sync(device)
    compute_time = time.perf_counter() - start

    dims = f"R {feature_dim}-d, Z {setting['head'][1]}-d"
    print(
        f"\n{label}OnlineRepresentationMetrics overhead ({setting['name']}; {dims}; {n} x 2 views)"
    )
    print(f"  step time without the callback         {1000 * step_time:10.2f} ms")
    print(
        f"  every step, measured side by side      {100 * overhead:10.2f} %   "
        f"(median of {repeats} ABBA rounds; target <= 1%)"
    )
    print(f"  one hook + update alone                {1000 * update_time:10.2f} ms")
    for k in every_n_steps:
        print(
            f"    => every_n_steps={k:<3d} (update time / (k x step time)) "
            f"{100 * update_time / (k * step_time):8.2f} %"
        )
    print(
        f"  compute() once per epoch               {1000 * compute_time:10.2f} ms = "
        f"{100 * compute_time / (epoch_steps * step_time):.2f}% of a {epoch_steps}-step epoch"
    )
    return overhead


SETTINGS = {
    "cpu": [
        {
            "name": "small_cnn (width 16) on 1×16×16 digits, low-dim head 512-64",
            "backbone": {"name": "small_cnn", "in_channels": 1, "width": 16},
            "head": (512, 64),
            "batch": 256,
            "image": (1, 16, 16),
        },
        {
            "name": "small_cnn (width 16), wide head 2048-2048",
            "backbone": {"name": "small_cnn", "in_channels": 1, "width": 16},
            "head": (2048, 2048),
            "batch": 256,
            "image": (1, 16, 16),
        },
    ],
    "cuda": [
        {
            "name": "ResNet-18 (CIFAR stem), head 2048-2048",
            "backbone": {"name": "resnet18"},
            "head": (2048, 2048),
            "batch": 256,
            "image": (3, 32, 32),
        },
        {
            "name": "ResNet-18 (CIFAR stem), head 8192-8192",
            "backbone": {"name": "resnet18"},
            "head": (8192, 8192),
            "batch": 256,
            "image": (3, 32, 32),
        },
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="training steps per repeat")
    parser.add_argument("--epochs", type=int, default=4, help="epochs timed for the overhead")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # `self.log` outside a Trainer, Lightning tips
    device = torch.device(args.device)
    print(
        f"device: {device}"
        + (
            f" ({torch.cuda.get_device_name(device)})"
            if device.type == "cuda"
            else f", {torch.get_num_threads()} threads"
        )
    )
    for setting in SETTINGS[device.type]:
        step_time_ratio(setting, device, args.repeats, args.steps)
    metrics_overhead(device, args.repeats, args.epochs)
    wide = next(s for s in SETTINGS[device.type] if s["head"][1] == 2048)  # d = 2048
    online_metrics_overhead(wide, device, args.repeats, args.steps)


if __name__ == "__main__":
    main()
