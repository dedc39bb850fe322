"""Every solo recipe composes with Hydra, passes solo-learn's parsing and the method's checks."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.solo.availability import skip_module_without_solo

skip_module_without_solo()

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from req_plugins.solo.pretrain import check_large_crops, method_class, parse_solo_cfg  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "solo"

# recipe: (method, large crops, small crops, projector dim d, backbone)
EXPECTED = {
    "cifar/lowdim_barlow_twins.yaml": ("lowdim_barlow_twins", 2, 0, 256, "resnet50"),
    "cifar/mv_barlow_twins_2views_d8192.yaml": ("mv_barlow_twins", 2, 0, 8192, "resnet50"),
    "cifar/mv_barlow_twins_4views.yaml": ("mv_barlow_twins", 4, 0, 256, "resnet50"),
    "cifar/mv_barlow_twins_8views.yaml": ("mv_barlow_twins", 8, 0, 256, "resnet50"),
    "cifar/lowdim_vicreg.yaml": ("lowdim_vicreg", 2, 0, 256, "resnet50"),
    "cifar/mv_vicreg_4views.yaml": ("mv_vicreg", 4, 0, 256, "resnet50"),
    "cifar/adadim.yaml": ("adadim", 2, 0, 2048, "resnet50"),
    "stl10/lowdim_barlow_twins.yaml": ("lowdim_barlow_twins", 2, 0, 256, "resnet50"),
    "stl10/mv_barlow_twins_4views.yaml": ("mv_barlow_twins", 4, 0, 256, "resnet50"),
    "stl10/mv_barlow_twins_swav_2x64_2x32.yaml": ("mv_barlow_twins", 2, 2, 256, "resnet50"),
    "stl10/mv_barlow_twins_swav_2x64_6x32.yaml": ("mv_barlow_twins", 2, 6, 256, "resnet50"),
    "imagenet-100/lowdim_barlow_twins.yaml": ("lowdim_barlow_twins", 2, 0, 256, "resnet18"),
    "imagenet-100/mv_barlow_twins_4views.yaml": ("mv_barlow_twins", 4, 0, 256, "resnet18"),
    "imagenet-100/mv_barlow_twins_8views.yaml": ("mv_barlow_twins", 8, 0, 256, "resnet18"),
    "imagenet-100/mv_barlow_twins_multicrop_2x224_6x96.yaml": (
        "mv_barlow_twins",
        2,
        6,
        256,
        "resnet18",
    ),
    "imagenet-100/adadim.yaml": ("adadim", 2, 0, 2048, "resnet18"),
}


def test_every_recipe_is_checked():
    found = {
        str(path.relative_to(RECIPES))
        for path in RECIPES.glob("*/*.yaml")
        if path.parent.name not in ("augmentations", "wandb")
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_recipe_parses_and_passes_the_method_checks(recipe):
    method, large, small, dim, backbone = EXPECTED[recipe]
    path = RECIPES / recipe
    with initialize_config_dir(config_dir=str(path.parent), version_base="1.2"):
        cfg = compose(config_name=path.name)
    cfg = parse_solo_cfg(cfg)
    method_cls = method_class(cfg.method)
    check_large_crops(cfg, method_cls)
    cfg = method_cls.add_and_assert_specific_cfg(cfg)

    assert (cfg.method, cfg.data.num_large_crops, cfg.data.num_small_crops) == (
        method,
        large,
        small,
    )
    assert (cfg.method_kwargs.proj_output_dim, cfg.backbone.name) == (dim, backbone)
    assert cfg.wandb.enabled is False
    # the papers' learning rates after solo-learn's batch-size scaling (lr * batch / 256, 1 GPU)
    expected_lr = {"adam": 1e-3, "lars": 0.4}[cfg.optimizer.name]
    assert cfg.optimizer.lr == pytest.approx(expected_lr)


def test_req_solo_pretrain_composes_a_packaged_config_by_name(tmp_path):
    """No --config-path: the installed package's configs, their Hydra groups included."""
    code = (
        "import sys; from req_plugins.scripts import req_solo_pretrain; "
        "sys.argv = ['req-solo-pretrain', '--config-name', 'cifar/mv_barlow_twins_4views', "
        "'--cfg', 'job', 'max_epochs=1']; sys.exit(req_solo_pretrain())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REQ_RECIPES_DIR")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cfg = OmegaConf.create(result.stdout)
    assert cfg.method == "mv_barlow_twins" and cfg.max_epochs == 1
    (augmentation,) = cfg.augmentations  # from the cifar/augmentations/views_4.yaml group
    assert augmentation.num_crops == 4 and augmentation.crop_size == 32


# Native image size of each dataset the solo recipes name (crops are cut from these).
IMAGE_SIZE = {"cifar10": 32, "cifar100": 32, "stl10": 96, "imagenet100": 224}
DRY_RUN_BATCH = 2  # per-step images: batch × crops (up to 8) through a ResNet-50 on the CPU


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_recipe_dry_run_builds_the_method_and_trains_two_steps(recipe):
    """The recipe's own method, backbone, projector, optimizer, scheduler and augmentation
    pipelines, on random images of the dataset's size through solo-learn's crop pipeline; only
    the hardware settings and the batch (capped for the CPU) differ from a real run."""
    from lightning.pytorch import seed_everything
    from solo.data.pretrain_dataloader import (
        FullTransformPipeline,
        NCropAugmentation,
        build_transform_pipeline,
        dataset_with_index,
        prepare_dataloader,
    )
    from torchvision.datasets import FakeData

    from req_plugins.solo.pretrain import build_model, build_trainer

    path = RECIPES / recipe
    cpu = {
        "devices": 1,
        "accelerator": "cpu",
        "strategy": "auto",
        "precision": 32,
        "sync_batchnorm": False,
        "max_steps": 2,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "optimizer.batch_size": DRY_RUN_BATCH,
        "data.num_workers": 0,
        "checkpoint.enabled": False,
        "auto_resume.enabled": False,
        "wandb.enabled": False,
    }
    with initialize_config_dir(config_dir=str(path.parent), version_base="1.2"):
        cfg = compose(config_name=path.name, overrides=[f"++{k}={v}" for k, v in cpu.items()])
    cfg = parse_solo_cfg(cfg)
    method_cls = method_class(cfg.method)
    check_large_crops(cfg, method_cls)
    seed_everything(0)
    model = build_model(cfg, method_cls)

    transform = FullTransformPipeline(
        [
            NCropAugmentation(build_transform_pipeline(cfg.data.dataset, aug), aug.num_crops)
            for aug in cfg.augmentations
        ]
    )
    size = IMAGE_SIZE[cfg.data.dataset]
    images = dataset_with_index(FakeData)(
        size=2 * DRY_RUN_BATCH,
        image_size=(3, size, size),
        num_classes=cfg.data.num_classes,
        transform=transform,
    )
    loader = prepare_dataloader(images, batch_size=DRY_RUN_BATCH, num_workers=0)
    trainer = build_trainer(cfg, callbacks=[], loggers=[])
    trainer.fit(model, loader)

    assert trainer.global_step == 2
    losses = {k: float(v) for k, v in trainer.callback_metrics.items() if "loss" in k}
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
