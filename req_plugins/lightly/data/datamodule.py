"""The datasets and loaders of a run: :func:`build_data` and :class:`SSLDataModule`.

With ``augment_on="device"`` the loader yields each image once, as a ``uint8``
tensor, and :class:`SSLDataModule` makes its ``m`` views on the training device
after the batch is transferred, with kornia's batched augmentations
(:mod:`req_plugins.lightly.augmentation`), seeded from the batch's sample seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from req_plugins._validation import check_choice, check_int
from req_plugins.lightly.data.datasets import DatasetInfo, dataset_info, raw_dataset
from req_plugins.lightly.data.sampling import EpochSampler
from req_plugins.lightly.data.views import (
    HeldOutViews,
    ImageTensorDataset,
    MultiViewDataset,
    SmallCrops,
    device_view_augmentation,
    eval_transform,
    view_transform,
)

AUGMENT_ON = ("cpu", "device")


@dataclass
class SSLData:
    """The three views of a dataset a run needs."""

    info: DatasetInfo
    # Self-supervised training set: m views per sample (augment_on="cpu"), or the
    # uint8 images (augment_on="device") that `device_augmentation` turns into views.
    train_views: MultiViewDataset | ImageTensorDataset
    train: Dataset  # labelled training split, evaluation transform (probes, kNN bank)
    test: Dataset  # held-out split, evaluation transform (probes, metrics)
    device_augmentation: torch.nn.Module | None = None
    test_views: HeldOutViews | None = None  # held-out split, m views (`views` metrics)


def build_data(
    name: str,
    path: str | None = None,
    *,
    num_views: int = 2,
    augmentation: dict[str, Any] | None = None,
    download: bool = False,
    fraction: float = 1.0,
    augment_on: str = "cpu",
    small_crops: SmallCrops | None = None,
    heldout_views: int = 0,
    seed: int = 0,
) -> SSLData:
    """Build the datasets of a run; bad names or paths raise ``ValueError`` before training.

    ``fraction`` < 1 pretrains on a fixed random subset of the self-supervised
    training set (the thesis's data-fraction experiments); evaluation always
    uses the full labelled splits. ``augment_on`` is ``"cpu"`` (lightly's PIL
    pipeline in the loader) or ``"device"`` (kornia, batched, on the training device).
    ``small_crops`` adds SwAV's small views. ``heldout_views`` >= 2 also builds
    :attr:`SSLData.test_views` (:class:`HeldOutViews`: the image and ``heldout_views - 1``
    training augmentations of the large views, seeded by ``seed``).
    """
    info = dataset_info(name)
    check_choice(augment_on, "data.augment_on", AUGMENT_ON)
    check_int(num_views, "data.num_views", min_value=2)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`data.fraction` must be in (0, 1], got {fraction!r}.")
    if heldout_views:
        check_int(heldout_views, "metrics.lidar_views", min_value=2)
    augmentation = dict(augmentation or {})
    # validates `augmentation` either way
    views = view_transform(info, num_views, augmentation, small_crops)
    evaluation = eval_transform(info)
    ssl = raw_dataset(name, path, "ssl", download)
    if fraction < 1.0:
        keep = torch.randperm(len(ssl), generator=torch.Generator().manual_seed(0))
        ssl = Subset(ssl, keep[: max(1, round(fraction * len(ssl)))].tolist())
    train = raw_dataset(name, path, "train", download, evaluation)
    test = raw_dataset(name, path, "test", download, evaluation)
    test_views = None
    if heldout_views:
        augment = view_transform(info, heldout_views - 1, augmentation)
        raw_test = raw_dataset(name, path, "test", download)
        test_views = HeldOutViews(raw_test, evaluation, augment, seed)
    if name == "imagefolder":
        info = DatasetInfo(len(train.classes), info.image_size, 3, info.normalize)
    if augment_on == "device":
        # Crops of ImageFolder images are taken from a fixed-size load (ImageNet's 256 for 224).
        load_size = round(info.image_size * 8 / 7) if name == "imagefolder" else None
        return SSLData(
            info,
            ImageTensorDataset(ssl, load_size),
            train,
            test,
            device_view_augmentation(info, num_views, augmentation, small_crops),
            test_views,
        )
    return SSLData(info, MultiViewDataset(ssl, views), train, test, test_views=test_views)


class SSLDataModule(LightningDataModule):
    """Loaders of a run. ``batch_size`` is global: it is split over the processes."""

    def __init__(
        self, data: SSLData, *, batch_size: int, num_workers: int = 0, seed: int = 0
    ) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _per_device_batch_size(self) -> int:
        world_size, _ = self._world()
        if self.batch_size % world_size:
            raise ValueError(
                f"`data.batch_size` ({self.batch_size}) must be divisible by the number of "
                f"processes ({world_size})."
            )
        return self.batch_size // world_size

    def _loader(self, dataset, batch_size: int, sampler=None, drop_last: bool = False):
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            drop_last=drop_last,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        world_size, rank = self._world()
        sampler = EpochSampler(
            len(self.data.train_views), seed=self.seed, num_replicas=world_size, rank=rank
        )
        batch_size = self._per_device_batch_size()
        if len(sampler) < batch_size:
            raise ValueError(
                f"`data.batch_size` ({self.batch_size}) is larger than the training set "
                f"({len(self.data.train_views)} images); no full batch can be drawn."
            )
        return self._loader(self.data.train_views, batch_size, sampler, drop_last=True)

    def _augments_batch(self) -> bool:
        return (
            self.data.device_augmentation is not None
            and self.trainer is not None
            and self.trainer.training
        )

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """augment_on=device: replace the sample seeds by one batch seed (on the host)."""
        if self._augments_batch():
            from req_plugins.lightly.augmentation import batch_seed

            images, targets, seeds = batch
            return images, targets, batch_seed(seeds)
        return batch

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """augment_on=device: ``(images, targets, seed)`` → ``(views, targets)`` on the device."""
        if self._augments_batch():
            images, targets, seed = batch
            augmentation = self.data.device_augmentation.to(images.device)
            return augmentation(images, seed=seed), targets
        return batch

    def training_views(self, batch, device: torch.device) -> list[Tensor]:
        """The ``m`` views of a batch read straight from :meth:`train_dataloader`, on ``device``.

        For code that iterates the training loader itself (AdaDim's α measurement),
        where Lightning's transfer hooks do not run.
        """
        if self.data.device_augmentation is None:
            return [view.to(device) for view in batch[0]]
        from req_plugins.lightly.augmentation import batch_seed

        images, _, seeds = batch
        augmentation = self.data.device_augmentation.to(device)
        return augmentation(images.to(device), seed=batch_seed(seeds))

    def val_dataloader(self) -> DataLoader:
        world_size, rank = self._world()
        sampler = None
        if world_size > 1:
            sampler = DistributedSampler(
                self.data.test, num_replicas=world_size, rank=rank, shuffle=False
            )
        return self._loader(self.data.test, self._per_device_batch_size(), sampler)

    def eval_dataloader(self, split: str) -> DataLoader:
        """Unshuffled loader of the labelled ``"train"`` or ``"test"`` split (one process).

        ``"test_views"``: the held-out split as ``(views, targets)`` (:class:`HeldOutViews`).
        """
        check_choice(split, "split", ("train", "test", "test_views"))
        dataset = getattr(self.data, split)
        if dataset is None:
            raise ValueError("no held-out views: build the data with `heldout_views` >= 2.")
        return self._loader(dataset, self.batch_size)
