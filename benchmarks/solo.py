"""Per-step time of the plugin's ``mv_barlow_twins`` against solo-learn's ``barlow_twins``.

Target (issue): at 2 views, with the same backbone and projector, the plugin method's
training step takes at most 1.05x the time of solo-learn's own Barlow Twins.

Both methods are built from one solo-learn config (``lamb``/``scale_loss`` equal, so the
losses are equal too); the plugin model gets an exact copy of solo-learn's backbone and
projector, so the only difference is the method code and the loss. Each is trained by a
Lightning Trainer on the same in-memory batches; a callback times every step (forward,
backward, optimizer step) and the first ``--warmup`` steps are dropped. The two methods
alternate (ABBA) in ``--rounds`` rounds; the ratio is the median of the per-round ratios
of median step times, which keeps machine drift out of it. The loss alone
(forward + backward) is timed too.

Needs solo-learn (see docs/solo-learn.md); prints a note and exits 0 without it.

Run:  python benchmarks/solo.py [--batch-size 32] [--steps 4] [--rounds 6] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import warnings

# This script is named solo.py: keep its folder off sys.path so `import solo` finds solo-learn.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--proj-dim", type=int, default=2048, help="projector hidden/output dim")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--dataset", default="cifar10", help="cifar10: 32x32, imagenet100: 224")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()

    try:
        import req_plugins.solo  # noqa: F401
    except ImportError as error:
        print(f"solo-learn is not importable, nothing to compare: {str(error).splitlines()[0]}")
        return

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)

    cfg = make_cfg(args)
    solo_model, plugin_model = make_models(cfg)
    batches = make_batches(args, cfg)

    print(
        f"device={device} ({describe(device)}), torch threads={torch.get_num_threads()}, "
        f"backbone={args.backbone}, dataset={args.dataset} "
        f"({batches[0][1][0].shape[-1]}px), batch={args.batch_size}, "
        f"projector={args.proj_dim}-{args.proj_dim}-{args.proj_dim}, 2 views, "
        f"{args.rounds} rounds x {args.steps} timed steps (+{args.warmup} warm-up)"
    )
    models = {"solo barlow_twins": solo_model, "plugin mv_barlow_twins": plugin_model}
    step_times = {name: [] for name in models}
    round_ratios = []
    for round_index in range(args.rounds):
        # ABBA order: neither method always runs first
        order = list(models) if round_index % 2 == 0 else list(models)[::-1]
        medians = {}
        for name in order:
            times = time_steps(copy.deepcopy(models[name]), batches, args, device)
            step_times[name] += times
            medians[name] = statistics.median(times)
        round_ratios.append(medians["plugin mv_barlow_twins"] / medians["solo barlow_twins"])

    print("\ntraining step (forward + backward + LARS step):")
    for name, times in step_times.items():
        print(
            f"  {name:<24} {1e3 * statistics.median(times):9.2f} ms/step  (median of {len(times)})"
        )
    ratio = statistics.median(round_ratios)
    verdict = "OK" if ratio <= 1.05 else "ABOVE TARGET"
    print(f"  per-round ratios plugin / solo: {', '.join(f'{r:.3f}' for r in round_ratios)}")
    print(f"  ratio plugin / solo (median of rounds) {ratio:.3f}   (target <= 1.05: {verdict})")

    print("\nloss only (forward + backward), same 2 embeddings:")
    solo_loss, plugin_loss = time_losses(plugin_model, args, device)
    print(f"  solo barlow_loss_func    {1e3 * solo_loss:9.3f} ms")
    print(f"  plugin MultiViewBTLoss   {1e3 * plugin_loss:9.3f} ms")
    print(f"  ratio plugin / solo      {plugin_loss / solo_loss:9.3f}")


def make_cfg(args):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {
            "name": "benchmark",
            "method": "barlow_twins",
            "backbone": {"name": args.backbone},
            "method_kwargs": {
                "proj_hidden_dim": args.proj_dim,
                "proj_output_dim": args.proj_dim,
                "lamb": 0.0051,
                "scale_loss": 0.024,
            },
            "data": {
                "dataset": args.dataset,
                "num_large_crops": 2,
                "num_small_crops": 0,
                "num_classes": 10,
            },
            "optimizer": {
                "name": "lars",
                "batch_size": args.batch_size,
                "lr": 0.3,
                "classifier_lr": 0.1,
                "weight_decay": 1e-4,
                "kwargs": {
                    "momentum": 0.9,
                    "eta": 0.02,
                    "clip_lr": True,
                    "exclude_bias_n_norm": True,
                },
            },
            "scheduler": {"name": "warmup_cosine"},
            "performance": {"disable_channel_last": True},
            "max_epochs": 1,
        }
    )
    OmegaConf.set_struct(cfg, False)
    return cfg


def make_models(cfg):
    import torch
    from solo.methods import METHODS

    torch.manual_seed(0)
    solo_model = METHODS["barlow_twins"](cfg.copy())
    plugin_cfg = cfg.copy()
    plugin_cfg.method = "mv_barlow_twins"
    plugin_model = METHODS["mv_barlow_twins"](plugin_cfg)
    # identical backbone, classifier and projector: only the method code and loss differ
    plugin_model.backbone = copy.deepcopy(solo_model.backbone)
    plugin_model.classifier = copy.deepcopy(solo_model.classifier)
    plugin_model.projector = copy.deepcopy(solo_model.projector)
    return solo_model, plugin_model


def make_batches(args, cfg):
    import torch

    size = 32 if cfg.data.dataset.startswith("cifar") else 224
    generator = torch.Generator().manual_seed(0)
    return [
        (
            torch.arange(args.batch_size),
            [torch.randn(args.batch_size, 3, size, size, generator=generator) for _ in range(2)],
            torch.randint(0, 10, (args.batch_size,), generator=generator),
        )
        for _ in range(4)
    ]


def time_steps(model, batches, args, device):
    """Wall time of each training step after the warm-up, synchronised on GPU."""
    import torch
    from lightning.pytorch import Callback, Trainer
    from torch.utils.data import DataLoader

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    class StepTimer(Callback):
        def __init__(self):
            self.times = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            sync()
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            sync()
            if batch_idx >= args.warmup:
                self.times.append(time.perf_counter() - self.start)

    timer = StepTimer()
    total = args.warmup + args.steps
    # batch_size=None: the dataset's items are whole, pre-made batches
    loader = DataLoader([batches[i % len(batches)] for i in range(total)], batch_size=None)
    trainer = Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        max_steps=total,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    trainer.fit(model, loader)
    return timer.times


def time_losses(plugin_model, args, device, repeats=20):
    import torch
    from solo.losses.barlow import barlow_loss_func

    generator = torch.Generator().manual_seed(1)
    z = [
        torch.randn(args.batch_size, args.proj_dim, generator=generator).to(device).requires_grad_()
        for _ in range(2)
    ]
    loss_fn = plugin_model.mv_barlow_loss.to(device)
    scale = plugin_model.scale_loss

    def solo_loss():
        return barlow_loss_func(z[0], z[1], lamb=0.0051, scale_loss=0.024)

    def plugin_loss():
        return scale * loss_fn(z)

    def median_time(fn):
        times = []
        for i in range(repeats + 3):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn().backward()
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 3:
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    # alternate to share drift
    solo_times, plugin_times = [], []
    for _ in range(3):
        solo_times.append(median_time(solo_loss))
        plugin_times.append(median_time(plugin_loss))
    return statistics.median(solo_times), statistics.median(plugin_times)


def describe(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{os.cpu_count()} CPU cores"


if __name__ == "__main__":
    sys.exit(main())
