"""req-train multi-crop (SwAV, Caron et al. 2020): 2 large + k small crops, every crop a view."""

from __future__ import annotations

import math

import pytest
import torch

from req_plugins.lightly.augmentation import ViewAugmentation
from req_plugins.lightly.cli import main
from req_plugins.lightly.config import bundled_config, load_config
from req_plugins.lightly.data.datamodule import build_data
from req_plugins.lightly.data.views import SmallCrops
from req_plugins.lightly.schema import ConfigError
from req_plugins.lightly.train import prepare_run, train
from tests.lightly.tiny import TINY, LossRecorder, tiny_config

SMALL = ["data.small_crops.num=2", "data.small_crops.size=8"]


def _first_batch(run):
    run.datamodule.trainer = None
    return next(iter(run.datamodule.train_dataloader()))


def test_cpu_views_are_the_large_then_the_small_crops():
    data = build_data("digits", num_views=2, small_crops=SmallCrops(3, 8, (0.05, 0.14)))
    views, _ = data.train_views[(0, 1234)]
    assert [tuple(view.shape) for view in views] == [(1, 16, 16)] * 2 + [(1, 8, 8)] * 3
    crops = [view.transform.transforms[0] for view in data.train_views.transform.transforms]
    assert [crop.scale for crop in crops] == [(0.4, 1.0)] * 2 + [(0.05, 0.14)] * 3
    assert [crop.size for crop in crops] == [(16, 16)] * 2 + [(8, 8)] * 3


def test_small_crops_cover_at_most_their_scale_of_the_image():
    """A small crop of a horizontal ramp spans at most sqrt(4/3 · 0.14) of its width."""
    data = build_data(
        "digits",
        num_views=2,
        small_crops=SmallCrops(1, 8, (0.05, 0.14)),
        augmentation={"rr_prob": 0.0, "cj_prob": 0.0},
    )
    small = data.train_views.transform.transforms[2].transform.transforms[0]
    ramp = torch.arange(100.0).expand(1, 100, 100)
    for seed in range(50):
        torch.manual_seed(seed)
        top, left, height, width = small.get_params(ramp, small.scale, small.ratio)
        assert 0.05 * 1e4 - 1 <= height * width <= 0.14 * 1e4 + 1
    widest = math.sqrt(0.14 * 4 / 3) * 100  # torchvision's ratio is at most 4/3
    crop = small(ramp)
    assert crop.shape == (1, 8, 8) and float(crop.max() - crop.min()) <= widest + 1


def test_device_views_are_the_large_then_the_small_crops():
    data = build_data(
        "digits", num_views=2, small_crops=SmallCrops(2, 8, (0.05, 0.14)), augment_on="device"
    )
    images = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    views = data.device_augmentation(images, seed=3)
    assert [tuple(view.shape) for view in views] == [(5, 1, 16, 16)] * 2 + [(5, 1, 8, 8)] * 2
    again = data.device_augmentation(images, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    assert data.device_augmentation.small_view is not data.device_augmentation.view


def test_device_small_crops_cover_at_most_their_scale_of_the_image():
    crop_only = {"cj_prob": 0.0, "random_gray_scale": 0.0, "gaussian_blur": 0.0, "hf_prob": 0.0}
    small = ViewAugmentation(8, min_scale=0.05, max_scale=0.14, normalize=None, **crop_only)
    large = ViewAugmentation(8, min_scale=0.9, normalize=None, **crop_only)
    ramp = (torch.arange(100.0) / 100).expand(64, 1, 100, 100)
    torch.manual_seed(0)
    small_crops, large_crops = small(ramp), large(ramp)
    assert small_crops.shape == (64, 1, 8, 8)
    small_spans = small_crops.amax(dim=(1, 2, 3)) - small_crops.amin(dim=(1, 2, 3))
    large_spans = large_crops.amax(dim=(1, 2, 3)) - large_crops.amin(dim=(1, 2, 3))
    # torchvision's / kornia's aspect ratio is at most 4/3: width <= sqrt(4/3 * 0.14)
    assert float(small_spans.max()) <= math.sqrt(0.14 * 4 / 3) + 0.01
    assert float(large_spans.min()) >= math.sqrt(0.9 * 3 / 4) - 0.05


@pytest.mark.parametrize("augment_on", ["cpu", "device"])
def test_the_loss_receives_every_crop_and_the_classifier_the_large_ones(tmp_path, augment_on):
    run = prepare_run(
        tiny_config(tmp_path / "run", *SMALL, f"data.augment_on={augment_on}", "data.num_views=2")
    )
    assert run.module.num_views == 4
    batch = _first_batch(run)
    if augment_on == "device":
        images, targets, seeds = batch
        from req_plugins.lightly.augmentation import batch_seed

        batch = (run.datamodule.data.device_augmentation(images, seed=batch_seed(seeds)), targets)
    views, targets = batch
    seen = {}
    run.module.ssl_loss = lambda z: seen.setdefault("z", z)[0].sum() * 0
    run.module.online_classification_loss = lambda f, t: seen.setdefault("f", f).sum() * 0
    run.module.log_ssl_loss = lambda loss, n: None
    run.module.training_step(batch, 0)
    assert [tuple(z.shape) for z in seen["z"]] == [(64, 16)] * 4
    assert seen["f"].shape[0] == 2 * targets.shape[0]  # large crops only
    # The projections are those of each view on its own (eval mode: BatchNorm per sample).
    run.module.eval()
    _, z = run.module.embed_views(views)
    for view, z_view in zip(views, z, strict=True):
        alone = run.module.projection_head(run.module(view))
        torch.testing.assert_close(z_view, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("augment_on", ["cpu", "device"])
def test_tiny_run_with_two_small_crops_trains(tmp_path, augment_on):
    recorder = LossRecorder()
    config = tiny_config(
        tmp_path / "run",
        *SMALL,
        "data.num_views=2",
        f"data.augment_on={augment_on}",
        "trainer.max_steps=4",
        "eval.knn=false",
        "eval.linear=false",
    )
    results = train(config, callbacks=[recorder])
    assert len(recorder.losses) == 4 and all(math.isfinite(x) for x in recorder.losses)
    assert results["num_views"] == 2 and results["small_crops"] == 2


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data.small_crops.num=-1"], "`data.small_crops.num`=-1: must be >= 0."),
        (["data.small_crops.size=0"], "`data.small_crops.size`=0: must be >= 1."),
        (["data.small_crops.scale=[0.2,0.1]"], "`data.small_crops.scale`=[0.2, 0.1]: must be"),
        (["data.small_crops.scale=[0,0.1]"], "`data.small_crops.scale`=[0.0, 0.1]: must be"),
        (["data.small_crops.scale=[0.1,1.5]"], "`data.small_crops.scale`=[0.1, 1.5]: must be"),
        (["data.small_crops.scale=[0.1]"], "`data.small_crops.scale`=[0.1]: must be"),
        (["data.small_crops.num=two"], "data.small_crops.num"),
        (
            ["method.name=barlow_twins", "data.num_views=2", "data.small_crops.num=2"],
            "`data.num_views` must be 2 for 'barlow_twins', got 4 (small crops count as views)",
        ),
    ],
)
def test_bad_small_crops_exit_2_naming_the_key(capsys, tmp_path, overrides, match):
    output_dir = tmp_path / "out"
    config_file = tmp_path / "run.yaml"
    config_file.write_text("method:\n  name: mv_barlow_twins\n")
    assert main([str(config_file), *TINY, f"output_dir={output_dir}", *overrides]) == 2
    err = capsys.readouterr().err
    assert err.startswith("req-train: error: ") and match in err, err
    assert not output_dir.exists()


def test_small_crops_python_api_checks_its_values():
    with pytest.raises(ValueError, match=r"`data.small_crops.scale` must be \[min, max\]"):
        SmallCrops(2, 32, (0.5, 0.2))
    with pytest.raises(ValueError, match="`data.small_crops.num` must be >= 0"):
        SmallCrops(-1)


@pytest.mark.parametrize("small", [2, 6])
def test_stl10_multicrop_configs_are_the_thesis_settings(tmp_path, small):
    config = load_config(bundled_config(f"stl10_mv_barlow_twins_2x64_{small}x32"), [])
    assert config.data.num_views == 2 and config.data.augmentation.input_size == 64
    assert config.data.small_crops.num == small and config.data.small_crops.size == 32
    assert list(config.data.small_crops.scale) == [0.05, 0.14]
    assert config.projector.num_layers == 2 and config.projector.output_dim == 256
    # The config builds on a synthetic STL-10 stand-in: 64 px large and 32 px small views.
    run = prepare_run(
        load_config(
            bundled_config(f"stl10_mv_barlow_twins_2x64_{small}x32"),
            [
                "data.name=synthetic_stl10",
                "data.batch_size=4",
                "data.num_workers=0",
                "backbone.name=small_cnn",
                "backbone.width=4",
                "trainer.accelerator=cpu",
                "trainer.precision=32-true",
                "metrics.enabled=false",
                f"output_dir={tmp_path / 'run'}",
            ],
        )
    )
    assert run.module.num_views == 2 + small
    views, _ = _first_batch(run)
    shapes = [tuple(view.shape) for view in views]
    assert shapes == [(4, 3, 64, 64)] * 2 + [(4, 3, 32, 32)] * small


def test_small_crops_num_is_fixed_for_a_resume_and_scale_is_checked_at_load():
    from req_plugins.lightly.schema import model_keys

    assert "data.small_crops.num" in model_keys()
    with pytest.raises(ConfigError):
        load_config(None, ["data.small_crops.scale=[0.5,0.4]"])


def test_run_folders_written_before_small_crops_existed_still_resume(tmp_path):
    from omegaconf import OmegaConf

    from req_plugins.lightly.resume import check_same_run

    old = OmegaConf.to_container(load_config(None, []))
    del old["data"]["small_crops"]  # a config.yaml from before the key
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(old))
    check_same_run(load_config(None, []), tmp_path)  # no small crops then, none now
    with pytest.raises(ConfigError, match=r"`data.small_crops.num` 0 -> 2"):
        check_same_run(load_config(None, ["data.small_crops.num=2"]), tmp_path)
