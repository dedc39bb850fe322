"""Multi-view datasets and the view transforms (SimCLR-style, lightly or kornia).

Views come from lightly's ``MultiViewTransform`` over ``SimCLRViewTransform``
(:func:`view_transform`, in the loader: :class:`MultiViewDataset`) or from its batched
kornia twin on the training device (:func:`device_view_augmentation`, fed the ``uint8``
images of :class:`ImageTensorDataset`); either way a sample's views are drawn under its
sample seed (:mod:`req_plugins.lightly.data.sampling`).

Multi-crop (SwAV, Caron et al. 2020; :class:`SmallCrops`): after the ``m`` large
views come ``k`` small ones, smaller crops of a smaller part of the image; a batch's
views are then ``m`` tensors of the large size followed by ``k`` of the small size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightly.transforms.multi_view_transform import MultiViewTransform
from lightly.transforms.simclr_transform import SimCLRViewTransform
from lightly.transforms.torchvision_v2_compatibility import torchvision_transforms as T
from torch.utils.data import Dataset

from req_plugins._validation import check_int
from req_plugins.lightly.data.datasets import DatasetInfo
from req_plugins.lightly.data.sampling import sample_seed, seeded_rng


@dataclass(frozen=True)
class SmallCrops:
    """SwAV's small crops (Caron et al. 2020): ``num`` extra views per image, each a
    ``size`` × ``size`` crop of a random box covering a ``scale`` = (min, max) fraction of
    the image, with the large views' other augmentations. ``num=0``: none."""

    num: int = 0
    size: int = 32
    scale: tuple[float, float] = (0.05, 0.14)

    def __post_init__(self) -> None:
        check_int(self.num, "data.small_crops.num", min_value=0)
        check_int(self.size, "data.small_crops.size", min_value=1)
        scale = tuple(self.scale)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(
                "`data.small_crops.scale` must be [min, max] with 0 < min <= max <= 1, got "
                f"{list(self.scale)!r}."
            )
        object.__setattr__(self, "scale", (float(scale[0]), float(scale[1])))


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
        with seeded_rng(seed):
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
        with seeded_rng(sample_seed(self.seed, HELDOUT_EPOCH, index)):
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
