"""Small configs, fake data and a CPU Trainer for the solo-learn tests (solo-learn must import)."""

from __future__ import annotations

import inspect

import torch
from lightning.pytorch import Trainer
from omegaconf import OmegaConf
from solo.data.pretrain_dataloader import (
    FullTransformPipeline,
    NCropAugmentation,
    build_transform_pipeline,
    dataset_with_index,
    prepare_dataloader,
)
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import FakeData

NUM_CLASSES = 10
CROP_SIZE = 32
SMALL_CROP_SIZE = 16

PROJECTOR = {"proj_hidden_dim": 64, "proj_output_dim": 32}


def method_cfg(method, method_kwargs=None, *, num_large_crops=2, num_small_crops=0, batch_size=4):
    """A solo-learn method config as ``main_pretrain.py`` would hand it to the method."""
    cfg = OmegaConf.create(
        {
            "name": "test",
            "method": method,
            "backbone": {"name": "resnet18"},
            "method_kwargs": dict(method_kwargs or {}),
            "data": {
                "dataset": "imagenet100",  # ImageNet stem: 32x32 crops shrink to 8x8 at once (fast)
                "num_large_crops": num_large_crops,
                "num_small_crops": num_small_crops,
                "num_classes": NUM_CLASSES,
            },
            "optimizer": {
                "name": "lars",
                "batch_size": batch_size,
                "lr": 0.3,
                "classifier_lr": 0.1,
                "weight_decay": 1e-5,
                "kwargs": {"momentum": 0.9},
            },
            "scheduler": {"name": "warmup_cosine"},
            "max_epochs": 2,
            # channels-last inputs to a contiguous model are slow on CPU
            "performance": {"disable_channel_last": True},
        }
    )
    OmegaConf.set_struct(cfg, False)
    return cfg


def augmentation(crop_size: int, num_crops: int) -> dict:
    return {
        "rrc": {"enabled": True, "crop_min_scale": 0.2, "crop_max_scale": 1.0},
        "color_jitter": {
            "enabled": True,
            "brightness": 0.4,
            "contrast": 0.4,
            "saturation": 0.2,
            "hue": 0.1,
            "prob": 0.8,
        },
        "grayscale": {"enabled": True, "prob": 0.2},
        "gaussian_blur": {"enabled": False, "prob": 0.0},
        "solarization": {"enabled": False, "prob": 0.0},
        "equalization": {"enabled": False, "prob": 0.0},
        "horizontal_flip": {"enabled": True, "prob": 0.5},
        "crop_size": crop_size,
        "num_crops": num_crops,
    }


def fake_loaders(cfg, size=16):
    """Crops of FakeData images through solo-learn's own augmentation pipeline, and a val loader."""
    pipelines = [augmentation(CROP_SIZE, cfg.data.num_large_crops)]
    if cfg.data.num_small_crops:
        pipelines.append(augmentation(SMALL_CROP_SIZE, cfg.data.num_small_crops))
    transform = FullTransformPipeline(
        [
            NCropAugmentation(
                build_transform_pipeline(cfg.data.dataset, OmegaConf.create(aug)), aug["num_crops"]
            )
            for aug in pipelines
        ]
    )
    train_set = dataset_with_index(FakeData)(
        size=size,
        image_size=(3, CROP_SIZE, CROP_SIZE),
        num_classes=NUM_CLASSES,
        transform=transform,
    )
    train_loader = prepare_dataloader(train_set, batch_size=cfg.optimizer.batch_size, num_workers=0)
    val_set = FakeData(
        size=size,
        image_size=(3, CROP_SIZE, CROP_SIZE),
        num_classes=NUM_CLASSES,
        transform=transforms.ToTensor(),
    )
    val_loader = DataLoader(val_set, batch_size=cfg.optimizer.batch_size, num_workers=0)
    return train_loader, val_loader


def cpu_trainer(**overrides) -> Trainer:
    """A quiet single-process CPU Trainer; ``fast_dev_run`` (one batch each) unless overridden."""
    kwargs = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "fast_dev_run": True,
    }
    kwargs.update(overrides)
    assert set(kwargs) <= set(inspect.signature(Trainer.__init__).parameters)
    return Trainer(**kwargs)


def image_batch(batch_size: int, size: int = CROP_SIZE) -> torch.Tensor:
    return torch.randn(batch_size, 3, size, size)
