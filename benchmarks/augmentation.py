"""Multi-view augmentation throughput: lightly's PIL pipeline on the CPU vs batched kornia.

Images per second delivered to the model, i.e. until the ``m`` views of a batch are
tensors on the training device, for m = 2, 4, 8, CIFAR-10's pipeline (32×32 RGB,
``req-train``'s defaults for cifar10), measured side by side in one run:

* ``cpu-pil``: ``data.augment_on=cpu`` — the loader runs lightly's ``MultiViewTransform``
  (m PIL pipelines per image), then the views are moved to the device;
* ``batched``: ``data.augment_on=device`` — the loader yields each image once as a uint8
  tensor; after the transfer kornia makes the m views of the whole batch at once.

Both go through ``req-train``'s own datasets, sampler and seeding. Run:

    python benchmarks/augmentation.py [--device cpu|cuda] [--batches 4] [--num-workers 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from req_plugins.lightly.augmentation import batch_seed
from req_plugins.lightly.data.datasets import dataset_info
from req_plugins.lightly.data.sampling import EpochSampler
from req_plugins.lightly.data.views import (
    ImageTensorDataset,
    MultiViewDataset,
    device_view_augmentation,
    view_transform,
)


class RandomImages(Dataset):
    """``size`` random 32×32 RGB PIL images (CIFAR-10's format), made once."""

    def __init__(self, size: int) -> None:
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, size=(size, 32, 32, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return Image.fromarray(self.images[index]), 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _loader(dataset, batch_size: int, num_workers: int) -> DataLoader:
    sampler = EpochSampler(len(dataset), seed=0)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=True
    )


def cpu_pil(images, num_views: int, device, batch_size: int, batches: int, workers: int):
    """Seconds per batch of lightly's PIL pipeline, views moved to ``device``."""
    dataset = MultiViewDataset(images, view_transform(dataset_info("cifar10"), num_views, {}))
    loader = iter(_loader(dataset, batch_size, workers))
    next(loader)  # warm-up (and worker start)
    _sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        views, _ = next(loader)
        views = [view.to(device, non_blocking=True) for view in views]
    _sync(device)
    return (time.perf_counter() - start) / batches


def batched(images, num_views: int, device, batch_size: int, batches: int, workers: int):
    """Seconds per batch of the on-device pipeline: uint8 images moved, then kornia."""
    info = dataset_info("cifar10")
    augmentation = device_view_augmentation(info, num_views, {}).to(device)
    loader = iter(_loader(ImageTensorDataset(images), batch_size, workers))

    def one() -> list[torch.Tensor]:
        uint8, _, seeds = next(loader)
        seed = batch_seed(seeds)
        return augmentation(uint8.to(device, non_blocking=True), seed=seed)

    one()  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        one()
    _sync(device)
    return (time.perf_counter() - start) / batches


def throughput(
    device,
    views=(2, 4, 8),
    batch_size: int = 256,
    batches: int = 4,
    num_workers: int = 0,
    label: str = "",
) -> dict[int, tuple[float, float]]:
    """Print (title prefixed by ``label``) and return ``{m: (cpu-pil, batched images/s)}``."""
    images = RandomImages(batch_size * (batches + 1))
    print(
        f"\n{label}Augmentation throughput (CIFAR-10 pipeline, batch {batch_size}, "
        f"{batches} batches, {num_workers} loader workers, device {device.type}): "
        "source images/s (views/s)"
    )
    print(f"  {'m':>3}  {'cpu-pil':>20}  {'batched':>20}  {'speed-up':>8}")
    results = {}
    for m in views:
        pil = cpu_pil(images, m, device, batch_size, batches, num_workers)
        fast = batched(images, m, device, batch_size, batches, num_workers)
        pil_rate, fast_rate = batch_size / pil, batch_size / fast
        results[m] = (pil_rate, fast_rate)
        print(
            f"  {m:>3}  {pil_rate:9.0f} ({m * pil_rate:8.0f})  "
            f"{fast_rate:9.0f} ({m * fast_rate:8.0f})  {pil / fast:7.2f}x"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device: {device}, {torch.get_num_threads()} CPU threads")
    throughput(device, (2, 4, 8), args.batch_size, args.batches, args.num_workers)


if __name__ == "__main__":
    main()
