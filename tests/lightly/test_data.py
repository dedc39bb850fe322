"""Embedded digits, seeded multi-view sampling/sharding, dataset builders, backbones."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from req_plugins.lightly.backbones import build_backbone
from req_plugins.lightly.data.datamodule import SSLDataModule, build_data
from req_plugins.lightly.data.datasets import DigitsDataset
from req_plugins.lightly.data.sampling import EpochSampler, sample_seed


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = DigitsDataset("train"), DigitsDataset("test")
    assert (len(train), len(test)) == (1347, 450)
    assert np.bincount(test.targets).min() >= 43  # ~45 of each digit
    train_rows = {image.tobytes() for image in train.images}
    overlap = sum(image.tobytes() in train_rows for image in test.images)
    assert overlap <= 2  # the raw dataset itself has a couple of duplicate images
    assert np.array_equal(DigitsDataset("test").images, test.images)
    image, label = train[0]
    assert isinstance(image, Image.Image) and image.size == (8, 8) and 0 <= label <= 9


def test_epoch_sampler_shards_the_single_process_order():
    single = list(EpochSampler(103, seed=7))
    shards = [list(EpochSampler(103, seed=7, num_replicas=2, rank=r)) for r in range(2)]
    assert len(single) == 103 and sorted(i for i, _ in single) == list(range(103))
    assert len(shards[0]) == len(shards[1]) == 52  # padded like DistributedSampler
    # A global batch of 2b on one process = the first b of each rank.
    b = 16
    assert sorted(single[: 2 * b]) == sorted(shards[0][:b] + shards[1][:b])
    assert all(s == sample_seed(7, 0, i) for i, s in single)


def test_epoch_sampler_reshuffles_each_epoch_deterministically():
    sampler = EpochSampler(50, seed=0)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert [i for i, _ in second] != [i for i, _ in first]
    assert {i: s for i, s in second}[3] != {i: s for i, s in first}[3]


def test_views_depend_only_on_the_sample_seed():
    data = build_data("digits", num_views=3)
    key = (5, sample_seed(0, 2, 5))
    torch.manual_seed(123)
    random.seed(4)
    state = (torch.random.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    views_a, target = data.train_views[key]
    assert len(views_a) == 3 and views_a[0].shape == (1, 16, 16) and target == data.train.targets[5]
    # the global RNGs were left alone ...
    assert torch.equal(torch.random.get_rng_state(), state[0])
    assert np.array_equal(np.random.get_state()[1], state[1]) and random.getstate() == state[2]
    # ... and do not influence the views
    torch.manual_seed(999)
    views_b, _ = data.train_views[key]
    assert all(torch.equal(a, b) for a, b in zip(views_a, views_b, strict=True))
    assert not torch.equal(views_a[0], views_a[1])  # the m views differ


def test_loader_batches_do_not_depend_on_workers():
    data = build_data("digits", num_views=2, fraction=0.05)
    sampler = EpochSampler(len(data.train_views), seed=3)
    batches = [
        next(iter(DataLoader(data.train_views, batch_size=16, sampler=sampler, num_workers=n)))
        for n in (0, 2)
    ]
    for view_a, view_b in zip(batches[0][0], batches[1][0], strict=True):
        assert torch.equal(view_a, view_b)


def test_fraction_keeps_a_fixed_subset():
    a = build_data("digits", fraction=0.25).train_views.dataset
    b = build_data("digits", fraction=0.25).train_views.dataset
    assert len(a) == round(0.25 * 1347) and a.indices == b.indices


def test_imagefolder(tmp_path):
    for split in ("train", "val"):
        for label in ("cat", "dog", "emu"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                pixels = np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    data = build_data("imagefolder", str(tmp_path), num_views=2, augmentation={"input_size": 32})
    assert data.info.num_classes == 3
    views, _ = data.train_views[(0, 1)]
    assert views[0].shape == (3, 32, 32)
    image, label = data.test[4]
    assert image.shape == (3, 224, 224) and label == 1


def test_bad_data_arguments():
    with pytest.raises(ValueError, match="`data.num_views` must be >= 2"):
        build_data("digits", num_views=1)
    with pytest.raises(ValueError, match="valid keys .*min_scale"):
        build_data("digits", augmentation={"min_scal": 0.2})


def test_datamodule_checks_the_batch_size():
    data = build_data("digits", fraction=0.05)

    class FakeTrainer:
        world_size, global_rank = 3, 0

    datamodule = SSLDataModule(data, batch_size=64)
    datamodule.trainer = FakeTrainer()
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        datamodule.train_dataloader()
    datamodule = SSLDataModule(data, batch_size=512)
    with pytest.raises(ValueError, match="larger than the training set"):
        datamodule.train_dataloader()


@pytest.mark.parametrize(
    ("name", "kwargs", "shape", "dim"),
    [
        ("small_cnn", {"in_channels": 1, "width": 8}, (2, 1, 16, 16), 32),
        ("resnet18", {"cifar_stem": True}, (2, 3, 32, 32), 512),
        ("resnet18", {"cifar_stem": False, "in_channels": 1}, (2, 1, 64, 64), 512),
    ],
)
def test_backbones(name, kwargs, shape, dim):
    backbone, feature_dim = build_backbone(name, **kwargs)
    assert feature_dim == dim
    assert backbone(torch.randn(shape)).shape == (2, dim)


def test_resnet50_feature_dim_and_cifar_stem():
    backbone, feature_dim = build_backbone("resnet50")
    assert feature_dim == 2048
    assert backbone.conv1.kernel_size == (3, 3) and backbone.conv1.stride == (1, 1)


def test_bad_backbone():
    with pytest.raises(ValueError, match="`backbone.name` must be one of"):
        build_backbone("vit_b_16")
    with pytest.raises(ValueError, match="`backbone.width`"):
        build_backbone("small_cnn", width=0)
