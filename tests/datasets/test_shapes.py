"""The generated shapes dataset: determinism, balance, splits, format, learnable classes, views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from req_plugins.datasets import SHAPES, ShapesDataset, render_shapes
from req_plugins.datasets.shapes import _generate
from req_plugins.lightly.data.datamodule import build_data
from req_plugins.lightly.data.datasets import dataset_info
from req_plugins.lightly.evaluation import knn_accuracy


def test_same_seed_same_bytes_and_other_splits_or_seeds_differ():
    labels = np.arange(40) % len(SHAPES)
    first = render_shapes(labels, np.random.default_rng([7, 0]))
    again = render_shapes(labels, np.random.default_rng([7, 0]))  # not the cache: re-rendered
    assert first.tobytes() == again.tobytes()
    _generate.cache_clear()
    assert ShapesDataset("train", seed=7, size=40).data.tobytes() == first.tobytes()
    for other in (ShapesDataset("val", seed=7, size=40), ShapesDataset("train", seed=8, size=40)):
        differing = (other.data != first).any(axis=(1, 2, 3))
        assert differing.all()


def test_splits_are_disjoint_and_class_balanced():
    splits = {name: ShapesDataset(name, size=300) for name in ("train", "val", "test")}
    seen = set()
    for dataset in splits.values():
        counts = np.bincount(dataset.targets, minlength=len(SHAPES))
        assert counts.tolist() == [30] * len(SHAPES)
        images = {image.tobytes() for image in dataset.data}
        assert len(images) == len(dataset) and not images & seen
        seen |= images
    assert [len(ShapesDataset(s)) for s in ("train", "val", "test")] == [5000, 1000, 1000]


def test_items_are_rgb_32px_images_like_torchvision_datasets():
    dataset = ShapesDataset("test", size=20)
    assert dataset.data.dtype == np.uint8 and dataset.data.shape == (20, 32, 32, 3)
    assert dataset.data.min() < 30 and dataset.data.max() > 225  # uses the whole range
    image, target = dataset[13]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (32, 32)
    assert target == 3 and dataset.classes[target] == "frame" and dataset.classes == list(SHAPES)
    as_tensor = ShapesDataset(
        "test", lambda img: torch.from_numpy(np.array(img)), lambda t: t + 100, size=20
    )
    pixels, shifted = as_tensor[13]
    assert torch.equal(pixels, torch.from_numpy(dataset.data[13].copy())) and shifted == 103
    images, targets = dataset.tensors()
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.uint8
    assert targets.tolist() == dataset.targets
    with pytest.raises(ValueError, match="`split` must be one of"):
        ShapesDataset("ssl")
    with pytest.raises(ValueError, match="`size` must be >= 1"):
        ShapesDataset("train", size=0)
    with pytest.raises(ValueError, match="`seed` must be >= 0"):
        ShapesDataset("train", seed=-1)


def _shape_silhouettes(images: np.ndarray) -> torch.Tensor:
    """A colour-blind view of the images: each pixel's luminance distance from the image's
    median (the background's), so the shape stands out whatever its colours."""
    luminance = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    median = np.median(luminance.reshape(len(images), -1), axis=1)[:, None, None]
    return torch.from_numpy(np.abs(luminance - median).reshape(len(images), -1))


def test_the_class_is_the_shape_not_the_colour():
    train, test = ShapesDataset("train", size=2000), ShapesDataset("test", size=500)
    train_y, test_y = torch.tensor(train.targets), torch.tensor(test.targets)

    def knn(features):
        return knn_accuracy(
            features(train.data), train_y, features(test.data), test_y, num_classes=len(SHAPES)
        )

    # The shape's silhouette (colour removed) predicts the class well above chance (0.1) ...
    assert knn(_shape_silhouettes) > 0.25
    # ... the images' mean colour does not: colours are drawn independently of the class.
    assert knn(lambda x: torch.from_numpy(x.reshape(len(x), -1, 3).mean(1) / 255)) < 0.16


@pytest.mark.parametrize("augment_on", ["cpu", "device"])
def test_req_train_views_apply(augment_on):
    info = dataset_info("shapes")
    assert (info.num_classes, info.image_size, info.in_channels) == (10, 32, 3)
    data = build_data("shapes", num_views=4, augment_on=augment_on)
    assert len(data.train_views) == 5000 and len(data.test) == 1000
    image, target = data.test[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and target == 0
    if augment_on == "cpu":
        views, target = data.train_views[(1, 123)]
    else:
        image, target, seed = data.train_views[(1, 123)]
        assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
        views = [v[0] for v in data.device_augmentation(image[None], seed=seed)]
    assert target == 1 and len(views) == 4
    assert all(v.shape == (3, 32, 32) and v.dtype == torch.float32 for v in views)
    assert all(not torch.allclose(views[0], v) for v in views[1:])
