"""Datasets, multi-view augmentation and loaders for ``req-train``.

The embedded default is scikit-learn's 8×8 handwritten digits (1,797 images,
10 classes): it ships with scikit-learn, so training works offline on a fresh
machine. CIFAR-10/100, STL-10 and ImageFolder trees are read from a local path.

Views come from lightly's ``MultiViewTransform`` over ``SimCLRViewTransform``;
every sample's views are drawn under a seed that depends only on
``(seed, epoch, index)`` (see :class:`EpochSampler`), so a run sees the same
augmented batches on one process or several, with any ``num_workers``, and after
resuming from a checkpoint.

With ``augment_on="device"`` the loader yields each image once, as a ``uint8``
tensor, and :class:`SSLDataModule` makes its ``m`` views on the training device
after the batch is transferred, with kornia's batched augmentations
(:mod:`req_plugins.lightly.augmentation`), seeded from the batch's sample seeds.

Multi-crop (SwAV, Caron et al. 2020; :class:`SmallCrops`): after the ``m`` large
views come ``k`` small ones, smaller crops of a smaller part of the image; a batch's
views are then ``m`` tensors of the large size followed by ``k`` of the small size.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightly.transforms.multi_view_transform import MultiViewTransform
from lightly.transforms.simclr_transform import SimCLRViewTransform
from lightly.transforms.torchvision_v2_compatibility import torchvision_transforms as T
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from req_plugins._validation import check_choice

#: Stand-ins of the real datasets for dry runs (``req-recipes run --dry-run``): random images of
#: the same size, channels and classes, with the same splits, made on the fly (no path).
SYNTHETIC = {
    "synthetic_cifar10": "cifar10",
    "synthetic_cifar100": "cifar100",
    "synthetic_stl10": "stl10",
    "synthetic_imagenet100": "imagefolder",
}
DATASETS = ("digits", "cifar10", "cifar100", "stl10", "imagefolder", *SYNTHETIC)
AUGMENT_ON = ("cpu", "device")
#: Images per split of a synthetic stand-in: enough self-supervised images for a couple of
#: full-size batches (they are drawn lazily), a few for the probes and metrics.
SYNTHETIC_SIZES = {"ssl": 512, "train": 16, "test": 16}


@dataclass(frozen=True)
class DatasetInfo:
    """What the model and the transforms need to know about a dataset."""

    num_classes: int
    image_size: int
    in_channels: int
    normalize: dict[str, list[float]]
    # Defaults for lightly's SimCLRViewTransform; config `data.augmentation` overrides them.
    augmentation: dict[str, Any] = field(default_factory=dict)


_CIFAR_AUGMENTATION = {"cj_strength": 0.5, "min_scale": 0.2, "gaussian_blur": 0.0}
_INFO = {
    # Digits are grey, small and not mirror-symmetric: crops, rotations and
    # brightness/contrast jitter only.
    "digits": DatasetInfo(
        num_classes=10,
        image_size=16,
        in_channels=1,
        normalize={"mean": [0.3045], "std": [0.3760]},
        augmentation={
            "min_scale": 0.4,
            "cj_strength": 0.5,
            "cj_sat": 0.0,
            "cj_hue": 0.0,
            "random_gray_scale": 0.0,
            "gaussian_blur": 0.0,
            "hf_prob": 0.0,
            "rr_prob": 0.5,
            "rr_degrees": 15.0,
        },
    ),
    "cifar10": DatasetInfo(
        10,
        32,
        3,
        {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]},
        _CIFAR_AUGMENTATION,
    ),
    "cifar100": DatasetInfo(
        100,
        32,
        3,
        {"mean": [0.5071, 0.4865, 0.4409], "std": [0.2673, 0.2564, 0.2762]},
        _CIFAR_AUGMENTATION,
    ),
    "stl10": DatasetInfo(
        10,
        96,
        3,
        {"mean": [0.4467, 0.4398, 0.4066], "std": [0.2603, 0.2566, 0.2713]},
        {"cj_strength": 0.5},
    ),
    "imagefolder": DatasetInfo(0, 224, 3, IMAGENET_NORMALIZE),
}
_INFO.update({name: _INFO[real] for name, real in SYNTHETIC.items()})
_INFO["synthetic_imagenet100"] = DatasetInfo(100, 224, 3, IMAGENET_NORMALIZE)


@dataclass(frozen=True)
class SmallCrops:
    """SwAV's small crops (Caron et al. 2020): ``num`` extra views per image, each a
    ``size`` × ``size`` crop of a random box covering a ``scale`` = (min, max) fraction of
    the image, with the large views' other augmentations. ``num=0``: none."""

    num: int = 0
    size: int = 32
    scale: tuple[float, float] = (0.05, 0.14)

    def __post_init__(self) -> None:
        for name, low in (("num", 0), ("size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"`data.small_crops.{name}` must be an integer >= {low}, got {value!r}."
                )
        scale = tuple(self.scale)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(
                "`data.small_crops.scale` must be [min, max] with 0 < min <= max <= 1, got "
                f"{list(self.scale)!r}."
            )
        object.__setattr__(self, "scale", (float(scale[0]), float(scale[1])))


def dataset_info(name: str) -> DatasetInfo:
    check_choice(name, "data.name", DATASETS)
    return _INFO[name]


class DigitsDataset(Dataset):
    """scikit-learn's 8×8 digits as greyscale PIL images, split into train / test.

    The split is stratified with a fixed seed (independent of the training seed)
    so that all runs evaluate on the same 25% held-out images.

    Example:
        >>> train, test = DigitsDataset("train"), DigitsDataset("test")
        >>> len(train), len(test)
        (1347, 450)
        >>> image, label = train[0]
        >>> image.size, image.mode
        ((8, 8), 'L')
    """

    def __init__(self, split: str = "train", transform=None, test_fraction: float = 0.25) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        check_choice(split, "split", ("train", "test"))
        digits = load_digits()
        images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
        train_idx, test_idx = train_test_split(
            np.arange(len(images)),
            test_size=test_fraction,
            stratify=digits.target,
            random_state=0,
        )
        keep = train_idx if split == "train" else test_idx
        self.images = images[keep]
        self.targets = digits.target[keep].astype(np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index], mode="L")
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])


class SyntheticDataset(Dataset):
    """Random RGB images standing in for ``split`` of a real dataset (see :data:`SYNTHETIC`).

    Image ``i`` is drawn from a generator seeded by ``(split, i)``, its label is
    ``i mod num_classes``: the same images on every call, in any order.

    Example:
        >>> image, label = SyntheticDataset(dataset_info("synthetic_cifar100"), "test")[3]
        >>> image.size, image.mode, label
        ((32, 32), 'RGB', 3)
    """

    def __init__(self, info: DatasetInfo, split: str, transform=None) -> None:
        check_choice(split, "split", tuple(SYNTHETIC_SIZES))
        self.info = info
        self.offset = tuple(SYNTHETIC_SIZES).index(split) * 1_000_000
        self.size = SYNTHETIC_SIZES[split]
        self.transform = transform

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not 0 <= index < self.size:
            raise IndexError(index)
        side = self.info.image_size
        rng = np.random.default_rng(self.offset + index)
        pixels = rng.integers(0, 256, size=(side, side, self.info.in_channels), dtype=np.uint8)
        image = Image.fromarray(pixels.squeeze(-1) if self.info.in_channels == 1 else pixels)
        if self.transform is not None:
            image = self.transform(image)
        return image, index % self.info.num_classes


def _raw_dataset(name: str, path: str | None, split: str, download: bool, transform=None):
    """The dataset's ``split`` ("ssl", "train" or "test") without augmentation."""
    if name == "digits":
        return DigitsDataset("test" if split == "test" else "train", transform)
    if name in SYNTHETIC:
        return SyntheticDataset(dataset_info(name), split, transform)
    from torchvision import datasets

    if path is None:
        raise ValueError(f"`data.path` is required for data.name={name!r} (a local directory).")
    root = Path(path).expanduser()
    if not root.is_dir() and not download:
        raise ValueError(f"`data.path` {str(root)!r} is not a directory.")
    try:
        if name in ("cifar10", "cifar100"):
            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            return cls(root, train=split != "test", transform=transform, download=download)
        if name == "stl10":
            stl_split = {"ssl": "train+unlabeled", "train": "train", "test": "test"}[split]
            return datasets.STL10(root, split=stl_split, transform=transform, download=download)
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
        raise ValueError(
            f"`data.path` {str(root)!r} does not hold the {name} dataset in torchvision's layout "
            f"({error}). Point it at the folder that contains it, or set data.download=true."
        ) from error
    # imagefolder: <path>/train/<class>/*.jpg and <path>/val/<class>/*.jpg
    folder = root / ("val" if split == "test" else "train")
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise ValueError(
            f"`data.path` {str(root)!r} must contain 'train/' and 'val/' class folders for "
            f"data.name='imagefolder'; found {found}."
        )
    try:
        return datasets.ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, RuntimeError) as error:
        raise ValueError(
            f"`data.path`: cannot read an ImageFolder from {str(folder)!r}: {error}"
        ) from error


@contextmanager
def _seeded_rng(seed: int) -> Iterator[None]:
    """Run a block with torch, numpy and python RNGs seeded by ``seed``; restore them after."""
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    torch.random.default_generator.manual_seed(seed)
    np.random.seed(seed)  # lightly's GaussianBlur draws from numpy
    random.seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample ``index`` in ``epoch``."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class EpochSampler(Sampler):
    """Shuffled ``(index, sample_seed)`` pairs for one of ``num_replicas`` processes.

    Shards like ``DistributedSampler`` (rank ``r`` takes positions ``r, r+W, …`` of
    an epoch-seeded permutation, padded to a multiple of ``W``), so a global batch
    of ``B`` split over ``W`` processes holds the same samples as one process with
    batch ``B``. Lightning calls :meth:`set_epoch` before every epoch.
    """

    def __init__(
        self, dataset_size: int, *, seed: int, num_replicas: int = 1, rank: int = 0
    ) -> None:
        self.dataset_size = dataset_size
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.dataset_size / self.num_replicas)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.dataset_size, generator=generator).tolist()
        order += order[: len(self) * self.num_replicas - len(order)]
        for index in order[self.rank :: self.num_replicas]:
            yield index, sample_seed(self.seed, self.epoch, index)


class MultiViewDataset(Dataset):
    """``dataset`` whose images become ``m`` augmented views, indexed by ``(index, seed)``."""

    def __init__(self, dataset: Dataset, transform: MultiViewTransform) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        image, target = self.dataset[index]
        with _seeded_rng(seed):
            views = self.transform(image)
        return views, target


class ImageTensorDataset(Dataset):
    """``dataset``'s images as ``uint8`` tensors ``(C, H, W)``, indexed by ``(index, seed)``.

    Yields ``(image, target, seed)``; the views are made later, on the training
    device, from the batch. Images of varying size (ImageFolder) are first resized
    and centre-cropped to ``load_size`` so that they batch.
    """

    def __init__(self, dataset: Dataset, load_size: int | None = None) -> None:
        self.dataset = dataset
        self.resize = None
        if load_size is not None:
            self.resize = T.Compose([T.Resize(load_size), T.CenterCrop(load_size)])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        from torchvision.transforms.functional import pil_to_tensor

        index, seed = key
        image, target = self.dataset[index]
        if self.resize is not None:
            image = self.resize(image)
        return pil_to_tensor(image), target, seed


def _augmentation_kwargs(info: DatasetInfo, augmentation: dict[str, Any]) -> dict[str, Any]:
    """Arguments of lightly's ``SimCLRViewTransform``: dataset defaults ← ``augmentation``."""
    import inspect

    valid = [p for p in inspect.signature(SimCLRViewTransform).parameters if p != "self"]
    unknown = sorted(set(augmentation) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in `data.augmentation`; valid keys (arguments of "
            f"lightly's SimCLRViewTransform): {', '.join(valid)}."
        )
    kwargs = {"input_size": info.image_size, "normalize": info.normalize}
    kwargs.update(info.augmentation)
    kwargs.update(augmentation)
    if isinstance(kwargs.get("sigmas"), list):
        kwargs["sigmas"] = tuple(kwargs["sigmas"])
    return kwargs


def _small_crop_kwargs(kwargs: dict[str, Any], small_crops: SmallCrops) -> dict[str, Any]:
    return {**kwargs, "input_size": small_crops.size, "min_scale": small_crops.scale[0]}


def view_transform(
    info: DatasetInfo,
    num_views: int,
    augmentation: dict[str, Any],
    small_crops: SmallCrops | None = None,
):
    """lightly's ``MultiViewTransform`` of ``num_views`` SimCLR-style view transforms.

    ``augmentation`` overrides the dataset's defaults; keys are the arguments of
    ``lightly.transforms.SimCLRViewTransform`` (unknown keys raise listing them).
    ``small_crops`` appends its ``num`` small views (same augmentations, smaller crops).
    """
    kwargs = _augmentation_kwargs(info, augmentation)
    views = [SimCLRViewTransform(**kwargs) for _ in range(num_views)]
    for _ in range(small_crops.num if small_crops else 0):
        small = SimCLRViewTransform(**_small_crop_kwargs(kwargs, small_crops))
        # lightly's crop always reaches scale 1; a small crop's box is at most scale[1].
        small.transform.transforms[0].scale = small_crops.scale
        views.append(small)
    return MultiViewTransform(views)


def device_view_augmentation(
    info: DatasetInfo,
    num_views: int,
    augmentation: dict[str, Any],
    small_crops: SmallCrops | None = None,
):
    """The batched twin of :func:`view_transform` (same keys and defaults), run on the device."""
    from req_plugins.lightly.augmentation import MultiViewAugmentation, ViewAugmentation

    kwargs = _augmentation_kwargs(info, augmentation)
    if not small_crops or not small_crops.num:
        return MultiViewAugmentation(ViewAugmentation(**kwargs), num_views)
    small = ViewAugmentation(
        **_small_crop_kwargs(kwargs, small_crops), max_scale=small_crops.scale[1]
    )
    return MultiViewAugmentation(ViewAugmentation(**kwargs), num_views, small, small_crops.num)


#: Epoch number of the held-out views' seeds (training epochs never reach it).
HELDOUT_EPOCH = 2**32 - 1


class HeldOutViews(Dataset):
    """Held-out images as ``(views, target)`` for ``views`` metrics (LiDAR).

    ``views[0]`` is the image under ``evaluation`` (what the other metrics measure, so
    their values do not change), ``views[1:]`` are ``augmentation``'s views, drawn under a
    seed that depends only on ``(seed, index)``: every measurement sees the same views.
    """

    def __init__(
        self, dataset: Dataset, evaluation, augmentation: MultiViewTransform, seed: int
    ) -> None:
        self.dataset = dataset
        self.evaluation = evaluation
        self.augmentation = augmentation
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, target = self.dataset[index]
        with _seeded_rng(sample_seed(self.seed, HELDOUT_EPOCH, index)):
            views = self.augmentation(image)
        return [self.evaluation(image), *views], target


def eval_transform(info: DatasetInfo):
    """Deterministic transform for evaluation: resize, tensor, normalise."""
    return T.Compose(
        [
            T.Resize(info.image_size),
            T.CenterCrop(info.image_size),
            T.ToTensor(),
            T.Normalize(mean=info.normalize["mean"], std=info.normalize["std"]),
        ]
    )


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
    if not isinstance(num_views, int) or num_views < 2:
        raise ValueError(f"`data.num_views` must be an integer >= 2, got {num_views!r}.")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`data.fraction` must be in (0, 1], got {fraction!r}.")
    if heldout_views and (isinstance(heldout_views, bool) or heldout_views < 2):
        raise ValueError(f"`metrics.lidar_views` must be an integer >= 2, got {heldout_views!r}.")
    augmentation = dict(augmentation or {})
    # validates `augmentation` either way
    views = view_transform(info, num_views, augmentation, small_crops)
    evaluation = eval_transform(info)
    ssl = _raw_dataset(name, path, "ssl", download)
    if fraction < 1.0:
        keep = torch.randperm(len(ssl), generator=torch.Generator().manual_seed(0))
        ssl = Subset(ssl, keep[: max(1, round(fraction * len(ssl)))].tolist())
    train = _raw_dataset(name, path, "train", download, evaluation)
    test = _raw_dataset(name, path, "test", download, evaluation)
    test_views = None
    if heldout_views:
        augment = view_transform(info, heldout_views - 1, augmentation)
        raw_test = _raw_dataset(name, path, "test", download)
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
