"""Batched on-device multi-view augmentation: per-sample draws, seeding, each op, req-train."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback
from torchvision.transforms import functional as F

from req_plugins.lightly.augmentation import MultiViewAugmentation, ViewAugmentation, batch_seed
from req_plugins.lightly.data.datamodule import SSLDataModule, build_data
from req_plugins.lightly.data.views import ImageTensorDataset

from .test_methods import StopAfter
from .tiny import LossRecorder, tiny_config

# Every random op off and the crop the whole image: the identity, up to resampling error.
OFF = dict(
    input_size=16,
    min_scale=1.0,
    cj_prob=0.0,
    random_gray_scale=0.0,
    gaussian_blur=0.0,
    hf_prob=0.0,
    normalize=None,
)


def _images(n: int = 6, size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)


def _apply(augment: ViewAugmentation, images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return augment(images)


def test_shapes_and_dtypes():
    augment = ViewAugmentation(input_size=12)
    views = augment(_images(4, 32))
    assert views.shape == (4, 3, 12, 12) and views.dtype == torch.float32
    floats = _images(4, 32).float() / 255
    assert augment(floats.double()).dtype == torch.float32
    grey = ViewAugmentation(16, cj_sat=0.0, cj_hue=0.0, random_gray_scale=0.0, normalize=None)
    assert grey(_images(3, 8)[:, :1]).shape == (3, 1, 16, 16)
    with pytest.raises(ValueError, match="`images` must be a batch"):
        augment(_images(1)[0])
    with pytest.raises(ValueError, match="uint8 or floating point"):
        augment(_images(2).int())
    with pytest.raises(ValueError, match="`num_views`"):
        MultiViewAugmentation(augment, 0)


def test_views_differ_across_samples_and_views():
    same_image = _images(1).repeat(8, 1, 1, 1)
    views = MultiViewAugmentation(ViewAugmentation(input_size=16), num_views=4)(same_image, seed=3)
    assert len(views) == 4 and all(v.shape == (8, 3, 16, 16) for v in views)
    stacked = torch.stack(views).flatten(2)  # (views, samples, pixels)
    for v in range(4):  # one image, eight samples: eight different views
        assert torch.cdist(stacked[v], stacked[v]).add(torch.eye(8)).min() > 0
    for i in range(8):  # and the views of one sample differ too
        assert torch.cdist(stacked[:, i], stacked[:, i]).add(torch.eye(4)).min() > 0


def test_seeded_draws_are_reproducible_and_leave_the_global_generator_alone():
    augment = MultiViewAugmentation(ViewAugmentation(input_size=16), num_views=3)
    images = _images()
    state = torch.random.get_rng_state()
    first = augment(images, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    again = augment(images, seed=7)
    other = augment(images, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_batch_seed_depends_on_the_samples_and_their_order():
    assert batch_seed(torch.tensor([1, 2, 3])) == batch_seed([1, 2, 3])
    assert len({batch_seed([1, 2, 3]), batch_seed([3, 2, 1]), batch_seed([1, 2, 4])}) == 3


def test_off_is_the_identity_and_normalize_applies():
    images = _images()
    plain = _apply(ViewAugmentation(**OFF), images)
    torch.testing.assert_close(plain, images.float() / 255, atol=1e-5, rtol=0)
    stats = {"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.25, 2.0]}
    normalized = _apply(ViewAugmentation(**{**OFF, "normalize": stats}), images)
    mean, std = (torch.tensor(stats[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    torch.testing.assert_close(normalized, (plain - mean) / std)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"hf_prob": 1.0}, lambda x: x.flip(-1)),
        ({"vf_prob": 1.0}, lambda x: x.flip(-2)),
        ({"rr_prob": 1.0}, lambda x: F.rotate(x, 90)),  # lightly's RandomRotate
        ({"solarization_prob": 1.0}, lambda x: torch.where(x < 0.5, x, 1 - x)),
    ],
)
def test_geometric_ops_and_solarization_apply(setting, expected):
    # Same seed: the crop draws come first and are identical, so the op is all that differs.
    images = _images()
    for min_scale in (1.0, 0.3):
        base = {**OFF, "min_scale": min_scale}
        without = _apply(ViewAugmentation(**base), images)
        with_op = _apply(ViewAugmentation(**{**base, **setting}), images)
        torch.testing.assert_close(with_op, expected(without), atol=1e-5, rtol=0)


def test_grayscale_jitter_blur_and_crop_apply():
    images = _images()
    plain = _apply(ViewAugmentation(**OFF), images)
    grey = _apply(ViewAugmentation(**{**OFF, "random_gray_scale": 1.0}), images)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert not torch.allclose(plain[:, 0], plain[:, 1])

    jitter = _apply(ViewAugmentation(**{**OFF, "cj_prob": 1.0}), images)
    assert (jitter - plain).abs().amax(dim=(1, 2, 3)).min() > 0.01  # every image jittered
    assert jitter.min() >= 0 and jitter.max() <= 1

    def total_variation(x: torch.Tensor) -> torch.Tensor:
        return x.diff(dim=-1).abs().mean(dim=(1, 2, 3)) + x.diff(dim=-2).abs().mean(dim=(1, 2, 3))

    blur = ViewAugmentation(**{**OFF, "gaussian_blur": 1.0, "sigmas": (1.0, 2.0)})
    assert (total_variation(_apply(blur, images)) < 0.8 * total_variation(plain)).all()

    crops = _apply(ViewAugmentation(**{**OFF, "min_scale": 0.1, "input_size": 8}), images)
    assert crops.shape == (6, 3, 8, 8)
    # A crop of at most a third of the image, upsampled, is smoother than the downsampled image.
    resized = torch.nn.functional.interpolate(plain, size=8, mode="bilinear", antialias=True)
    assert total_variation(crops).mean() != pytest.approx(total_variation(resized).mean())


def _flat(value) -> list[float]:
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in _flat(item)]
    return [float(value)]


def _lightly_parameters(transform) -> dict:
    """The random ops of lightly's SimCLRViewTransform pipeline and their parameters."""
    from lightly.transforms.gaussian_blur import GaussianBlur
    from lightly.transforms.rotation import RandomRotate, RandomRotateDegrees
    from torchvision.transforms import v2

    found = {}
    for op in transform.transform.transforms:
        if isinstance(op, v2.RandomResizedCrop):
            found["crop"] = (tuple(op.size), tuple(op.scale), tuple(op.ratio))
        elif isinstance(op, v2.RandomHorizontalFlip) and op.p > 0:
            found["hflip"] = op.p
        elif isinstance(op, v2.RandomVerticalFlip) and op.p > 0:
            found["vflip"] = op.p
        elif isinstance(op, RandomRotate) and op.prob > 0:
            found["rotate90"] = op.prob
        elif isinstance(op, RandomRotateDegrees):
            found["rotate"] = (op.transform.p, tuple(op.transform.transforms[0].degrees))
        elif isinstance(op, v2.RandomApply):  # colour jitter
            jitter = op.transforms[0]
            neutral = {"brightness": (1, 1), "contrast": (1, 1), "saturation": (1, 1)}
            ranges = [
                tuple(getattr(jitter, k) or neutral.get(k, (0, 0)))
                for k in ("brightness", "contrast", "saturation", "hue")
            ]
            found["jitter"] = (op.p, ranges)
        elif isinstance(op, v2.RandomGrayscale) and op.p > 0:
            found["gray"] = op.p
        elif isinstance(op, GaussianBlur) and op.prob > 0:
            found["blur"] = (op.prob, tuple(op.sigmas))
        elif isinstance(op, v2.Normalize):
            found["normalize"] = (list(op.mean), list(op.std))
    return found


def _kornia_parameters(augment: ViewAugmentation) -> dict:
    import kornia.augmentation as K

    found = {}
    for op in augment.ops.children():
        generator = op._param_generator
        if isinstance(op, K.RandomResizedCrop):
            found["crop"] = (tuple(generator.size), tuple(generator.scale), tuple(generator.ratio))
        elif isinstance(op, K.RandomHorizontalFlip):
            found["hflip"] = op.p
        elif isinstance(op, K.RandomVerticalFlip):
            found["vflip"] = op.p
        elif isinstance(op, K.RandomRotation90):
            found["rotate90"] = op.p
        elif isinstance(op, K.RandomRotation):
            sampler = generator.degree_sampler if hasattr(generator, "degree_sampler") else None
            degrees = (float(sampler.low), float(sampler.high)) if sampler else generator.degrees
            found["rotate"] = (op.p, tuple(degrees))
        elif isinstance(op, K.ColorJitter):
            samplers = [
                getattr(generator, f"{k}_sampler")
                for k in ("brightness", "contrast", "saturation", "hue")
            ]
            found["jitter"] = (op.p, [(float(s.low), float(s.high)) for s in samplers])
        elif isinstance(op, K.RandomGrayscale):
            found["gray"] = op.p
        elif isinstance(op, K.RandomGaussianBlur):
            found["blur"] = (op.p, tuple(generator.sigma))
        elif isinstance(op, K.Normalize):
            found["normalize"] = (op.flags["mean"].tolist(), op.flags["std"].tolist())
    return found


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("digits", {}),
        ("cifar10", {}),
        ("stl10", {"vf_prob": 0.3, "rr_prob": 0.25}),
        ("imagefolder", {"gaussian_blur": 0.1, "sigmas": [0.5, 1.5]}),
    ],
)
def test_same_ops_and_parameters_as_lightlys_simclr_view_transform(name, overrides):
    from lightly.transforms.simclr_transform import SimCLRViewTransform

    from req_plugins.lightly.data.datasets import dataset_info
    from req_plugins.lightly.data.views import _augmentation_kwargs

    kwargs = _augmentation_kwargs(dataset_info(name), overrides)
    expected = _lightly_parameters(SimCLRViewTransform(**kwargs))
    ours = _kornia_parameters(ViewAugmentation(**kwargs))
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert _flat(ours[key]) == pytest.approx(_flat(value), abs=1e-6), key


def test_build_data_on_device_loads_each_image_once_as_uint8():
    data = build_data("digits", num_views=4, augment_on="device")
    assert isinstance(data.train_views, ImageTensorDataset)
    image, target, seed = data.train_views[(5, 123)]
    assert image.dtype == torch.uint8 and image.shape == (1, 8, 8) and seed == 123
    views = data.device_augmentation(image[None].repeat(2, 1, 1, 1), seed=seed)
    assert len(views) == 4 and views[0].shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="data.augment_on"):
        build_data("digits", augment_on="gpu")
    with pytest.raises(ValueError, match="unknown key"):
        build_data("digits", augmentation={"blur": 0.5}, augment_on="device")


def test_datamodule_turns_training_batches_into_views():
    data = build_data("digits", num_views=3, augment_on="device")
    module = SSLDataModule(data, batch_size=16, seed=0)
    batch = next(iter(module.train_dataloader()))
    assert [tuple(t.shape) for t in batch] == [(16, 1, 8, 8), (16,), (16,)]

    class Trainer:  # the hooks only ask whether the Trainer is training
        training = True

    module.trainer = Trainer()
    moved = module.on_after_batch_transfer(module.on_before_batch_transfer(batch, 0), 0)
    views, targets = moved
    assert len(views) == 3 and views[0].shape == (16, 1, 16, 16) and torch.equal(targets, batch[1])
    again = module.on_after_batch_transfer(module.on_before_batch_transfer(batch, 0), 0)
    assert all(torch.equal(a, b) for a, b in zip(views, again[0], strict=True))
    # Code that reads the loader itself (AdaDim's α measurement) gets the same views.
    direct = module.training_views(batch, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(views, direct, strict=True))
    Trainer.training = False  # validation batches pass through
    assert module.on_after_batch_transfer(batch, 0) is batch


class ViewRecorder(Callback):
    """The views each training step received (after the device augmentation)."""

    def __init__(self) -> None:
        self.views: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.views.append(torch.stack(batch[0]).clone())


def test_req_train_on_device_trains_and_resumes_exactly(tmp_path):
    from req_plugins.lightly.train import train

    common = [
        "data.augment_on=device",
        "data.num_views=4",
        "data.fraction=0.2",
        "trainer.max_epochs=2",
        "checkpoint.enabled=true",
        "eval.knn=false",
        "eval.linear=false",
    ]
    full_views, full_losses = ViewRecorder(), LossRecorder()
    train(tiny_config(tmp_path / "full", *common), callbacks=[full_views, full_losses])
    assert all(torch.isfinite(torch.tensor(full_losses.losses)))
    assert full_views.views[0].shape == (4, 64, 1, 16, 16)
    assert not torch.equal(full_views.views[0], full_views.views[-1])

    first = ViewRecorder()
    train(tiny_config(tmp_path / "resumed", *common), callbacks=[first, StopAfter(1)])
    second, second_losses = ViewRecorder(), LossRecorder()
    resume = tiny_config(tmp_path / "resumed", *common, "checkpoint.resume=last")
    train(resume, callbacks=[second, second_losses])
    resumed = first.views + second.views
    assert len(resumed) == len(full_views.views) and len(first.views) == len(second.views)
    assert all(torch.equal(a, b) for a, b in zip(resumed, full_views.views, strict=True))
    assert second_losses.losses == full_losses.losses[len(first.views) :]


def test_adadim_measures_alpha_on_device_made_views(tmp_path):
    from req_plugins.lightly.train import train

    recorder = LossRecorder()
    config = tiny_config(
        tmp_path,
        "method.name=adadim",
        "method.alpha_every_n_epochs=1",
        "method.alpha_num_batches=2",
        "data.augment_on=device",
        "data.fraction=0.2",
        "trainer.max_epochs=2",
        "eval.knn=false",
        "eval.linear=false",
    )
    train(config, callbacks=[recorder])
    assert len(recorder.losses) == 8 and all(torch.isfinite(torch.tensor(recorder.losses)))


def test_augment_on_defaults_to_cpu(tmp_path):
    assert tiny_config(tmp_path).data.augment_on == "cpu"


def test_docstring_examples():
    import doctest

    from req_plugins.lightly import augmentation

    result = doctest.testmod(augmentation, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0
