"""The dataset table of ``req-train`` (``data.name``) and the datasets read without a path.

The embedded default is scikit-learn's 8×8 handwritten digits (1,797 images,
10 classes): it ships with scikit-learn, so training works offline on a fresh
machine. CIFAR-10/100, STL-10 and ImageFolder trees are read from a local path;
the ``synthetic_*`` stand-ins (random images) serve dry runs.

ADDING A DATASET is one entry in :data:`_INFO` (its :class:`DatasetInfo`: classes,
image size, channels, normalisation, augmentation defaults) and one loader in
:data:`_LOADERS` (``(path, split, download, transform)`` → the split ``"ssl"``,
``"train"`` or ``"test"`` as a torch ``Dataset`` of ``(PIL image, label)``); the config
schema and ``req-train --describe`` list :data:`DATASETS`, which follows the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image
from torch.utils.data import Dataset

from req_plugins._validation import check_choice

#: Stand-ins of the real datasets for dry runs (``req-recipes run --dry-run``): random images of
#: the same size, channels and classes, with the same splits, made on the fly (no path).
SYNTHETIC = {
    "synthetic_cifar10": "cifar10",
    "synthetic_cifar100": "cifar100",
    "synthetic_stl10": "stl10",
    "synthetic_imagenet100": "imagefolder",
}
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
#: The dataset table: ``data.name`` → :class:`DatasetInfo` (its loader is in :data:`_LOADERS`).
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
    # Generated (req_plugins.datasets.ShapesDataset): 32×32 RGB like CIFAR, CIFAR's augmentations.
    "shapes": DatasetInfo(
        10,
        32,
        3,
        {"mean": [0.2617, 0.2628, 0.2622], "std": [0.2541, 0.2558, 0.2521]},
        _CIFAR_AUGMENTATION,
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


#: How a dataset's split is read: ``(path, split, download, transform)`` → a ``Dataset`` of
#: ``(PIL image, label)`` without augmentation; ``split`` is "ssl", "train" or "test".
Loader = Callable[[str | None, str, bool, Any], Dataset]


def _digits(path: str | None, split: str, download: bool, transform=None) -> Dataset:
    return DigitsDataset("test" if split == "test" else "train", transform)


def _shapes(path: str | None, split: str, download: bool, transform=None) -> Dataset:
    from req_plugins.datasets import ShapesDataset

    return ShapesDataset("test" if split == "test" else "train", transform)


def _synthetic(name: str, path: str | None, split: str, download: bool, transform=None):
    return SyntheticDataset(_INFO[name], split, transform)


def _local_root(name: str, path: str | None, download: bool) -> Path:
    if path is None:
        raise ValueError(f"`data.path` is required for data.name={name!r} (a local directory).")
    root = Path(path).expanduser()
    if not root.is_dir() and not download:
        raise ValueError(f"`data.path` {str(root)!r} is not a directory.")
    return root


def _torchvision(name: str, path: str | None, split: str, download: bool, transform=None):
    """CIFAR-10/100 or STL-10 in torchvision's layout under ``data.path``."""
    from torchvision import datasets

    root = _local_root(name, path, download)
    try:
        if name in ("cifar10", "cifar100"):
            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            return cls(root, train=split != "test", transform=transform, download=download)
        stl_split = {"ssl": "train+unlabeled", "train": "train", "test": "test"}[split]
        return datasets.STL10(root, split=stl_split, transform=transform, download=download)
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
        raise ValueError(
            f"`data.path` {str(root)!r} does not hold the {name} dataset in torchvision's layout "
            f"({error}). Point it at the folder that contains it, or set data.download=true."
        ) from error


def _image_folder(path: str | None, split: str, download: bool, transform=None):
    """``<path>/train/<class>/*.jpg`` and ``<path>/val/<class>/*.jpg`` (the test split)."""
    from torchvision import datasets

    root = _local_root("imagefolder", path, download)
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


#: The loader of every ``data.name`` (keys as in :data:`_INFO`).
_LOADERS: dict[str, Loader] = {
    "digits": _digits,
    "shapes": _shapes,
    "cifar10": partial(_torchvision, "cifar10"),
    "cifar100": partial(_torchvision, "cifar100"),
    "stl10": partial(_torchvision, "stl10"),
    "imagefolder": _image_folder,
    **{name: partial(_synthetic, name) for name in SYNTHETIC},
}
#: The values of ``data.name``, in the table's order.
DATASETS = tuple(_INFO)


def dataset_info(name: str) -> DatasetInfo:
    check_choice(name, "data.name", DATASETS)
    return _INFO[name]


def raw_dataset(name: str, path: str | None, split: str, download: bool, transform=None):
    """The dataset's ``split`` ("ssl", "train" or "test") without augmentation."""
    check_choice(name, "data.name", DATASETS)
    return _LOADERS[name](path, split, download, transform)
