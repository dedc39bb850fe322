"""Batched multi-view augmentation on the training device (kornia).

The CPU pipeline (lightly's ``MultiViewTransform``) runs ``m`` PIL pipelines per
image in the loader workers. Here each image is loaded once, as a ``uint8``
tensor, and after the batch reaches the training device its ``m`` views come
from one pass of kornia's batched augmentations over the ``m × N`` images, each
with its own randomly drawn parameters (crop box, flip, jitter factors, blur
sigma, …). The operations and their parameters are those of lightly's
``SimCLRViewTransform`` (SimCLR, Chen et al. 2020), plus the solarisation of
BYOL's second view (Grill et al. 2020).

Differences from the PIL pipeline, by construction of kornia's batched ops:
colour jitter applies brightness/contrast/saturation/hue in an order drawn once
per batch (torchvision draws it per image), the Gaussian blur uses a kernel of
``2⌈3σ_max⌉ + 1`` pixels (PIL approximates the Gaussian with box blurs), and a
crop larger than the output is resampled bilinearly without antialiasing.

Randomness: :meth:`MultiViewAugmentation.forward` draws every parameter from a
generator seeded with ``seed``; ``req-train`` derives it from the batch's sample
seeds (:func:`batch_seed`), which depend only on ``(seed, epoch, index)``, so a
resumed run draws exactly the augmentations of an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import kornia.augmentation as K
import numpy as np
import torch
from lightly.transforms.utils import IMAGENET_NORMALIZE
from torch import Tensor, nn

from req_plugins._validation import check_int


def batch_seed(sample_seeds: Tensor | Sequence[int]) -> int:
    """One augmentation seed for a batch, from its samples' seeds (order matters)."""
    seeds = sample_seeds.tolist() if isinstance(sample_seeds, Tensor) else list(sample_seeds)
    return int(np.random.SeedSequence([int(s) for s in seeds]).generate_state(1)[0])


class ViewAugmentation(nn.Module):
    """One SimCLR-style view of every image of a batch, parameters drawn per image.

    Arguments are those of lightly's ``SimCLRViewTransform`` (same names, meanings
    and defaults), plus ``solarization_prob`` (BYOL; 0 for SimCLR) and ``max_scale``,
    the largest crop area (1: lightly's; below 1: SwAV's small crops).

    Input: ``(N, C, H, W)`` images, ``uint8`` in [0, 255] or floating point in [0, 1],
    all of one size. Output: ``(N, C, input_size, input_size)`` float32, normalised
    with ``normalize`` (mean/std per channel) when given.

    Example:
        >>> augment = ViewAugmentation(input_size=16, normalize=None)
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> augment(images).shape
        torch.Size([4, 3, 16, 16])
    """

    def __init__(
        self,
        input_size: int = 224,
        cj_prob: float = 0.8,
        cj_strength: float = 1.0,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.8,
        cj_hue: float = 0.2,
        min_scale: float = 0.08,
        random_gray_scale: float = 0.2,
        gaussian_blur: float = 0.5,
        sigmas: tuple[float, float] = (0.1, 2),
        vf_prob: float = 0.0,
        hf_prob: float = 0.5,
        rr_prob: float = 0.0,
        rr_degrees: float | tuple[float, float] | None = None,
        normalize: dict[str, list[float]] | None = IMAGENET_NORMALIZE,
        solarization_prob: float = 0.0,
        max_scale: float = 1.0,
    ) -> None:
        super().__init__()
        size = (input_size, input_size)
        # "resample": one batched affine warp for all crops ("slice" loops over the images).
        ops: list[nn.Module] = [
            K.RandomResizedCrop(size, scale=(min_scale, max_scale), cropping_mode="resample")
        ]
        # Operations that never fire are left out (they would still draw parameters).
        if hf_prob > 0:
            ops.append(K.RandomHorizontalFlip(p=hf_prob))
        if vf_prob > 0:
            ops.append(K.RandomVerticalFlip(p=vf_prob))
        if rr_prob > 0:
            if rr_degrees is None:  # lightly's RandomRotate: a quarter turn counter-clockwise
                ops.append(K.RandomRotation90(times=(1, 1), p=rr_prob))
            else:
                ops.append(K.RandomRotation(degrees=rr_degrees, p=rr_prob))
        jitter = [cj_bright, cj_contrast, cj_sat, cj_hue]
        if cj_prob > 0 and cj_strength > 0 and any(jitter):
            b, c, s, h = (cj_strength * value for value in jitter)
            ops.append(K.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h, p=cj_prob))
        if random_gray_scale > 0:
            ops.append(K.RandomGrayscale(p=random_gray_scale))
        if gaussian_blur > 0:
            kernel = 2 * math.ceil(3 * max(sigmas)) + 1
            ops.append(K.RandomGaussianBlur(kernel, sigma=tuple(sigmas), p=gaussian_blur))
        if solarization_prob > 0:  # PIL's solarize threshold 128 ≈ 0.5 of [0, 1]
            ops.append(K.RandomSolarize(thresholds=0.0, additions=0.0, p=solarization_prob))
        if normalize:
            ops.append(K.Normalize(mean=normalize["mean"], std=normalize["std"]))
        self.ops = K.AugmentationSequential(*ops)

    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4:
            raise ValueError(
                f"`images` must be a batch (N, C, H, W), got shape {tuple(images.shape)}."
            )
        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        elif not images.is_floating_point():
            raise ValueError(f"`images` must be uint8 or floating point, got {images.dtype}.")
        return self.ops(images.float())


class MultiViewAugmentation(nn.Module):
    """``num_views`` views of every image of a batch, in one batched pass.

    The batch is repeated ``num_views`` times and ``view`` augments the ``m × N``
    images at once, each with its own parameters; the result is split back into
    ``m`` tensors of ``N`` views, as ``MultiViewTransform`` + collate would give.
    ``small_view`` and ``num_small`` add SwAV's small crops after them, in a second pass.

    Example:
        >>> augment = MultiViewAugmentation(ViewAugmentation(input_size=16), num_views=4)
        >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> views = augment(images, seed=0)
        >>> len(views), tuple(views[0].shape)
        (4, (8, 3, 16, 16))
        >>> bool((augment(images, seed=0)[3] == views[3]).all())
        True
    """

    def __init__(
        self,
        view: ViewAugmentation,
        num_views: int,
        small_view: ViewAugmentation | None = None,
        num_small: int = 0,
    ) -> None:
        super().__init__()
        check_int(num_views, "num_views", min_value=1)
        check_int(num_small, "num_small", min_value=0)
        if num_small and small_view is None:
            raise ValueError(f"`num_small`={num_small} needs `small_view` (the small crops).")
        self.view = view
        self.num_views = num_views
        self.small_view = small_view
        self.num_small = num_small

    def _views(self, images: Tensor) -> list[Tensor]:
        groups = [(self.view, self.num_views), (self.small_view, self.num_small)]
        views: list[Tensor] = []
        for view, count in groups[: 2 if self.num_small else 1]:
            batch = images.repeat(count, *([1] * (images.ndim - 1)))
            views += view(batch).chunk(count)
        return views

    def forward(self, images: Tensor, seed: int | None = None) -> list[Tensor]:
        """The views of ``images``; with ``seed`` the draws depend on it alone."""
        if seed is None:
            return self._views(images)
        # kornia draws its parameters from torch's global generators: seed them for
        # this call only (the CUDA one too, for any draw made on the device).
        devices = [images.device] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._views(images)
