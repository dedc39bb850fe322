"""Shapes: an embedded 32×32 RGB image dataset, generated from a seed, where the class is a shape.

Each image shows one filled shape (ten classes, :data:`SHAPES`), lighter than its
background, on a cluttered background. Everything but the shape varies from image to image
and carries no information about the class: the shape's and the background's colours
(random hue, saturation up to 0.3, random brightness; at least 0.5 apart in luminance), a
smooth colour texture and pixel noise over the background, two distractor strokes, and the
shape's position, size and rotation. Colour jitter, grey-scale and random resized crops —
the augmentations of self-supervised learning (SimCLR, Chen et al. 2020) — remove most of
these nuisances, so a network trained to be invariant to them learns the shapes, whereas
raw pixels and the features of a randomly initialised network are dominated by brightness,
colour and clutter.

Images are rendered in a vectorised pass: each shape is a mask in its own rotated and
scaled coordinates, evaluated at 3× the resolution and averaged down (anti-aliasing).
A split is generated on first access and kept in memory (3 KB per image; 5,000 images
take a few seconds); the same ``(seed, split)`` gives the same bytes on every machine with
the same numpy, and the splits draw from independent random streams of ``seed``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from req_plugins._validation import check_choice, check_int

#: The classes, in label order.
SHAPES = (
    "disk",
    "ring",
    "square",
    "frame",
    "triangle",
    "plus",
    "star",
    "crescent",
    "two_dots",
    "ell",
)
SPLITS = ("train", "val", "test")
#: Images per split by default (class-balanced: a multiple of the number of classes).
DEFAULT_SIZES = {"train": 5000, "val": 1000, "test": 1000}
IMAGE_SIZE = 32
_SUPERSAMPLE = 3


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-``shape`` mask at the shape's own coordinates ``(u, v)`` (its radius ≈ 1)."""
    if shape == "disk":
        return u * u + v * v < 0.8**2
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 < 0.95**2) & (r2 > 0.55**2)
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) < 0.7
    if shape == "frame":
        side = np.maximum(np.abs(u), np.abs(v))
        return (side < 0.8) & (side > 0.45)
    if shape == "triangle":  # equilateral, inradius 0.45
        inside = np.ones(u.shape, dtype=bool)
        for angle in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            inside &= u * np.cos(angle) + v * np.sin(angle) < 0.45
        return inside
    if shape == "plus":
        au, av = np.abs(u), np.abs(v)
        return ((au < 0.28) & (av < 0.9)) | ((av < 0.28) & (au < 0.9))
    if shape == "star":  # five points: radius from 0.35 (valleys) to 0.95 (tips)
        angle = np.arctan2(v, u)
        return np.hypot(u, v) < 0.35 + 0.6 * np.abs(np.cos(2.5 * angle)) ** 3
    if shape == "crescent":
        return (u * u + v * v < 0.85**2) & ((u - 0.4) ** 2 + v * v > 0.7**2)
    if shape == "two_dots":
        return ((u - 0.5) ** 2 + v * v < 0.38**2) | ((u + 0.5) ** 2 + v * v < 0.38**2)
    if shape == "ell":
        return ((u > -0.7) & (u < -0.25) & (np.abs(v) < 0.8)) | (
            (u > -0.7) & (u < 0.7) & (v > 0.35) & (v < 0.8)
        )
    raise ValueError(f"unknown shape {shape!r}")


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``(n, 3)`` RGB in [0, 1] of HSV colours given as three ``(n,)`` arrays in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0], dtype=np.float32) + 6 * hue[:, None]) % 6
    ramp = np.clip(np.minimum(k, 4 - k), 0, 1)
    return value[:, None] * (1 - saturation[:, None] * ramp)


def _random_colours(rng: np.random.Generator, n: int, saturation: float) -> np.ndarray:
    hue, sat, value = rng.random((3, n), dtype=np.float32)
    return _hsv_to_rgb(hue, saturation * sat, value)


def _colours(
    rng: np.random.Generator, n: int, min_contrast: float, saturation: float, light: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background RGB colours: uniform hue, saturation uniform in
    ``[0, saturation]``, value uniform in [0, 1], the two luminances at least
    ``min_contrast`` apart (so the shape survives grey-scale), redrawn until they are."""
    foreground = _random_colours(rng, n, saturation)
    background = _random_colours(rng, n, saturation)
    while (bad := np.abs(_luminance(foreground) - _luminance(background)) < min_contrast).any():
        foreground[bad] = _random_colours(rng, int(bad.sum()), saturation)
        background[bad] = _random_colours(rng, int(bad.sum()), saturation)
    if light:  # the lighter colour is the shape's
        swap = (_luminance(foreground) < _luminance(background))[:, None]
        foreground, background = (
            np.where(swap, background, foreground),
            np.where(swap, foreground, background),
        )
    return foreground, background


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of ``(n, g, g, c)`` grids to ``(n, size, size, c)``."""
    upsampled = torch.nn.functional.interpolate(
        torch.from_numpy(grid).permute(0, 3, 1, 2), size=(size, size), mode="bilinear"
    )
    return upsampled.permute(0, 2, 3, 1).numpy()


def _strokes(rng: np.random.Generator, n: int, count: int, size: int) -> np.ndarray:
    """Soft masks ``(n, size, size)`` of ``count`` random line segments per image, each in
    ``[0, 1]`` with a random opacity (distractors: as thick as the shapes' thin parts)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    masks = np.zeros((n, size, size), dtype=np.float32)
    for _ in range(count):
        start = rng.uniform(0, size, (n, 2)).astype(np.float32)
        angle = rng.uniform(0, np.pi, n).astype(np.float32)
        length = rng.uniform(0.3, 0.8, n).astype(np.float32) * size
        direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        width = rng.uniform(0.6, 1.2, n).astype(np.float32)
        dx = xs[None] - start[:, 0, None, None]
        dy = ys[None] - start[:, 1, None, None]
        along = np.clip(
            dx * direction[:, 0, None, None] + dy * direction[:, 1, None, None],
            0,
            length[:, None, None],
        )
        distance = np.hypot(
            dx - along * direction[:, 0, None, None], dy - along * direction[:, 1, None, None]
        )
        line = np.clip(width[:, None, None] + 0.5 - distance, 0, 1)
        opacity = rng.uniform(0.4, 1.0, n).astype(np.float32)[:, None, None]
        masks = np.maximum(masks, line * opacity)
    return masks


def render_shapes(
    labels: np.ndarray,
    rng: np.random.Generator,
    *,
    size: int = IMAGE_SIZE,
    scale: tuple[float, float] = (0.25, 0.4),
    texture: float = 0.5,
    strokes: int = 2,
    copies: int = 1,
    min_contrast: float = 0.5,
    saturation: float = 0.3,
    light_shapes: bool = True,
) -> np.ndarray:
    """``uint8`` images ``(n, size, size, 3)`` of the shapes ``labels`` (indices into
    :data:`SHAPES`), every nuisance drawn from ``rng``.

    ``scale``: the shape's radius as a fraction of the image side, uniform in that range;
    ``texture`` scales the background's colour texture and noise and the shape's shading
    (0: flat colours);
    ``strokes``: distractor line segments per image, drawn with the shape's colour or a
    random one; ``copies``: instances of the shape per image (same colour, each with its own
    position, size and rotation); ``min_contrast``: least luminance difference between the
    shape's and the background's colour; ``saturation``: largest saturation of the
    colours (0: shades of grey); ``light_shapes``: the shape is always the lighter of the
    two colours (else either, at random).
    """
    n = len(labels)
    hi = size * _SUPERSAMPLE
    pixel = (np.arange(hi, dtype=np.float32) + 0.5) / _SUPERSAMPLE
    foreground, background = _colours(rng, n, min_contrast, saturation, light_shapes)
    coverage = np.zeros((n, size, size), dtype=np.float32)
    for _ in range(copies):
        radius = rng.uniform(*scale, n).astype(np.float32) * size
        # the shape's centre stays inside the image, at most ~half of it outside
        margin = 0.5 * radius
        centre = (
            margin[:, None] + rng.random((n, 2), dtype=np.float32) * (size - 2 * margin)[:, None]
        )
        angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
        for label, shape in enumerate(SHAPES):
            index = np.flatnonzero(labels == label)
            if not len(index):
                continue
            cos, sin = np.cos(angle[index]), np.sin(angle[index])
            dx = (pixel[None, None, :] - centre[index, 0, None, None]) / radius[index, None, None]
            dy = (pixel[None, :, None] - centre[index, 1, None, None]) / radius[index, None, None]
            u = dx * cos[:, None, None] + dy * sin[:, None, None]
            v = dy * cos[:, None, None] - dx * sin[:, None, None]
            mask = _shape_mask(shape, u, v).astype(np.float32)
            mask = mask.reshape(len(index), size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(
                axis=(2, 4)
            )
            coverage[index] = np.maximum(coverage[index], mask)

    # background: its colour, a smooth random colour field (a 4×4 grid upsampled) and noise
    field = _upsample(rng.normal(0, 0.18, (n, 4, 4, 3)).astype(np.float32), size)
    field += rng.random((n, size, size, 3), dtype=np.float32) * 0.2 - 0.1  # sd 0.06
    image = background[:, None, None, :] + texture * field
    stroke_colour = np.where(
        rng.random((n, 1)) < 0.5, foreground, _random_colours(rng, n, saturation)
    )
    line = _strokes(rng, n, strokes, size)[..., None]
    image = image * (1 - line) + stroke_colour[:, None, None, :] * line
    # the shape: its colour, lightly shaded
    shade = 1 + texture * (rng.random((n, size, size, 1), dtype=np.float32) * 0.14 - 0.07)
    alpha = coverage[..., None]
    image = image * (1 - alpha) + foreground[:, None, None, :] * shade * alpha
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _generate(seed: int, split: str, size: int, render: tuple) -> np.ndarray:
    """The images of a split, kept in memory: a run reads the same split several times."""
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    labels = np.arange(size) % len(SHAPES)
    data = render_shapes(labels, rng, **dict(render))
    data.flags.writeable = False  # shared by every dataset object of this split
    return data


class ShapesDataset(Dataset):
    """Ten shapes on cluttered backgrounds, 32×32 RGB, generated from ``seed`` (no download).

    ``split`` is ``"train"``, ``"val"`` or ``"test"`` (independent random streams of
    ``seed``); ``size`` images (default :data:`DEFAULT_SIZES`), class-balanced: image ``i``
    shows shape ``i mod 10``. Items are ``(PIL image, label)`` passed through
    ``transform`` / ``target_transform``, as torchvision's CIFAR10; :attr:`data` holds the
    ``uint8`` array ``(size, 32, 32, 3)``. Keyword arguments after ``size`` are those of
    :func:`render_shapes` (the nuisances' strength).

    Example:
        >>> train = ShapesDataset("train", size=20)
        >>> image, label = train[3]
        >>> image.size, image.mode, label, train.classes[label]
        ((32, 32), 'RGB', 3, 'frame')
        >>> bool((ShapesDataset("train", size=20).data == train.data).all())
        True
    """

    classes = list(SHAPES)

    def __init__(
        self,
        split: str = "train",
        transform=None,
        target_transform=None,
        *,
        seed: int = 0,
        size: int | None = None,
        **render,
    ) -> None:
        check_choice(split, "split", SPLITS)
        size = DEFAULT_SIZES[split] if size is None else size
        check_int(size, "size", min_value=1)
        check_int(seed, "seed", min_value=0)
        self.split = split
        self.transform = transform
        self.target_transform = target_transform
        self.targets = [i % len(SHAPES) for i in range(size)]
        render = {k: tuple(v) if isinstance(v, list) else v for k, v in render.items()}
        self.data = _generate(seed, split, size, tuple(sorted(render.items())))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.data[index])
        target = self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one ``uint8`` tensor ``(N, 3, 32, 32)`` and the labels ``(N,)``."""
        images = torch.from_numpy(self.data.copy()).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(self.targets)
