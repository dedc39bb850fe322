"""``req-solo-pretrain`` (and solo-learn's own ``main_pretrain.py``) train plugin methods on CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.solo.availability import skip_module_without_solo

skip_module_without_solo()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from PIL import Image  # noqa: E402

from req_plugins.solo.pretrain import absolute_config_path, pretrain  # noqa: E402
from tests.solo.helpers import augmentation  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
HYDRA_QUIET = {
    "defaults": [
        "_self_",
        {"override hydra/hydra_logging": "disabled"},
        {"override hydra/job_logging": "disabled"},
    ],
    "hydra": {"output_subdir": None, "run": {"dir": "."}},
}


def tiny_image_folder(root: Path, classes=("cat", "dog"), per_class=8) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def pretrain_cfg(tmp_path: Path, method: str, crops: list[dict], **extra) -> dict:
    data = tiny_image_folder(tmp_path / "images")
    cfg = {
        "name": "tiny",
        "method": method,
        "backbone": {"name": "resnet18"},
        "method_kwargs": {"proj_hidden_dim": 64, "proj_output_dim": 32},
        "data": {
            "dataset": "custom",
            "train_path": str(data),
            "val_path": str(data),
            "format": "image_folder",
            "num_workers": 0,
        },
        "augmentations": crops,
        "optimizer": {
            "name": "lars",
            "batch_size": 4,
            "lr": 0.3,
            "classifier_lr": 0.1,
            "weight_decay": 1e-5,
        },
        "scheduler": {"name": "warmup_cosine", "warmup_epochs": 0},
        "checkpoint": {"enabled": True, "dir": str(tmp_path / "ckpt"), "frequency": 1},
        "auto_resume": {"enabled": False},
        "performance": {"disable_channel_last": True},
        "max_epochs": 1,
        "devices": 1,
        "accelerator": "cpu",
        "precision": 32,
        "enable_progress_bar": False,
    }
    cfg.update(extra)
    return cfg


def run_cli(args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "REQ_PLUGINS_NO_SOLO_AUTOLOAD"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_req_solo_pretrain_trains_a_four_view_method_for_one_epoch(tmp_path):
    cfg = pretrain_cfg(
        tmp_path,
        "mv_barlow_twins",
        [augmentation(32, 4)],
        req_callbacks={
            "representation_metrics": {
                "every_n_epochs": 1,
                "metrics": ["effective_rank"],
                "max_batches": 2,
            },
            "spectrum_tracker": {"every_n_steps": 2, "top_k": 4, "max_batches": 1},
        },
        csv_logger={"enabled": True, "dir": str(tmp_path / "logs")},
    )
    (tmp_path / "configs").mkdir()
    OmegaConf.save({**HYDRA_QUIET, **cfg}, tmp_path / "configs" / "tiny.yaml")

    # a relative --config-path is resolved against the working directory
    result = run_cli(
        ["-m", "req_plugins.solo.pretrain", "--config-path", "configs", "--config-name", "tiny"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    (args_file,) = (tmp_path / "ckpt" / "mv_barlow_twins").glob("*/args.json")
    saved_cfg = json.loads(args_file.read_text())
    assert (saved_cfg["data"]["num_large_crops"], saved_cfg["data"]["num_small_crops"]) == (4, 0)
    (ckpt_file,) = args_file.parent.glob("*.ckpt")
    checkpoint = torch.load(ckpt_file, map_location="cpu", weights_only=False)
    assert checkpoint["epoch"] == 0 and checkpoint["global_step"] == 4  # 16 images / batch 4
    assert any(key.startswith("projector.") for key in checkpoint["state_dict"])

    (metrics_file,) = (tmp_path / "logs").glob("**/metrics.csv")
    header, *rows = metrics_file.read_text().splitlines()
    columns = header.split(",")
    assert {
        "train_mv_barlow_loss_epoch",
        "repr/embedding_effective_rank",
        "spectrum/eig_01",
    } <= set(columns)
    ranks = [row.split(",")[columns.index("repr/embedding_effective_rank")] for row in rows]
    assert any(float(value) > 1.0 for value in ranks if value)


def test_more_than_two_large_crops_is_refused_for_two_view_methods(tmp_path):
    cfg = OmegaConf.create(
        pretrain_cfg(
            tmp_path,
            "barlow_twins",
            [augmentation(32, 4)],
            method_kwargs={"proj_hidden_dim": 64, "proj_output_dim": 32},
        )
    )
    with pytest.raises(ValueError, match="'barlow_twins' trains on exactly 2 large crops"):
        pretrain(cfg)


def test_unknown_method_lists_the_valid_ones(tmp_path):
    cfg = OmegaConf.create(pretrain_cfg(tmp_path, "mv_barlowtwins", [augmentation(32, 2)]))
    with pytest.raises(ValueError, match="unknown solo-learn method.*mv_barlow_twins"):
        pretrain(cfg)


def test_relative_config_paths_become_absolute():
    cwd = os.getcwd()
    assert absolute_config_path(["prog", "--config-path", "a", "--config-name", "b"]) == [
        "prog",
        "--config-path",
        os.path.join(cwd, "a"),
        "--config-name",
        "b",
    ]
    assert absolute_config_path(["prog", "-cp=x/y", "k=v"]) == [
        "prog",
        f"-cp={os.path.join(cwd, 'x/y')}",
        "k=v",
    ]


SOLO_LEARN_ROOT = os.environ.get("SOLO_LEARN_ROOT")
requires_solo_scripts = pytest.mark.skipif(
    not SOLO_LEARN_ROOT
    or not all(
        Path(SOLO_LEARN_ROOT, name).is_file() for name in ("main_pretrain.py", "main_linear.py")
    ),
    reason="set SOLO_LEARN_ROOT to a solo-learn source checkout: its main_pretrain.py and "
    "main_linear.py are not installed with the package",
)


@pytest.fixture(scope="module")
def solo_pretrained(tmp_path_factory):
    """solo-learn's unmodified main_pretrain.py, 2 large + 2 small crops (4 views), one epoch of
    2 steps; returns (work folder, checkpoint path, completed process)."""
    tmp_path = tmp_path_factory.mktemp("main_pretrain")
    cfg = pretrain_cfg(
        tmp_path,
        "mv_barlow_twins",
        [augmentation(32, 2), augmentation(16, 2)],
        # main_pretrain.py takes len(devices) for the lr scaling: a one-character string works
        devices="1",
        strategy="auto",  # main_pretrain.py passes strategy: None on to the Trainer
        limit_train_batches=2,
        limit_val_batches=1,
    )
    (tmp_path / "configs").mkdir()
    OmegaConf.save({**HYDRA_QUIET, **cfg}, tmp_path / "configs" / "tiny.yaml")
    main_pretrain = Path(SOLO_LEARN_ROOT, "main_pretrain.py")

    result = run_cli(
        [str(main_pretrain), "--config-path", str(tmp_path / "configs"), "--config-name", "tiny"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (ckpt_file,) = (tmp_path / "ckpt" / "mv_barlow_twins").glob("*/*.ckpt")
    return tmp_path, ckpt_file


@requires_solo_scripts
@pytest.mark.slow
def test_solo_main_pretrain_resolves_and_trains_the_plugin_method(solo_pretrained):
    _, ckpt_file = solo_pretrained
    checkpoint = torch.load(ckpt_file, map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2
    args = json.loads(next(ckpt_file.parent.glob("args.json")).read_text())
    assert args["method"] == "mv_barlow_twins"
    assert (args["data"]["num_large_crops"], args["data"]["num_small_crops"]) == (2, 2)


@requires_solo_scripts
@pytest.mark.slow
def test_solo_main_linear_trains_a_probe_on_the_plugin_checkpoint(solo_pretrained):
    """solo-learn's unmodified main_linear.py loads the plugin method's backbone, frozen."""
    work, pretrained = solo_pretrained
    # solo-learn's LinearModel logs top-5 accuracy: it needs at least 5 classes
    images = tiny_image_folder(work / "labelled", classes=tuple("abcde"), per_class=2)
    cfg = {
        **HYDRA_QUIET,
        "name": "tiny-linear",
        "pretrained_feature_extractor": str(pretrained),
        "pretrain_method": "mv_barlow_twins",
        "backbone": {"name": "resnet18"},
        "data": {
            "dataset": "custom",
            "train_path": str(images),
            "val_path": str(images),
            "format": "image_folder",
            "num_workers": 0,
        },
        "optimizer": {"name": "sgd", "batch_size": 4, "lr": 0.1, "weight_decay": 0.0},
        "scheduler": {"name": "step", "lr_decay_steps": [1]},
        "checkpoint": {"enabled": True, "dir": str(work / "linear_ckpt"), "frequency": 1},
        "auto_resume": {"enabled": False},
        "performance": {"disable_channel_last": True},
        "max_epochs": 1,
        "devices": "1",  # as for main_pretrain.py: len(devices) scales the lr
        "accelerator": "cpu",
        "strategy": "auto",
        "precision": 32,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "enable_progress_bar": False,
    }
    (work / "linear_configs").mkdir()
    OmegaConf.save(cfg, work / "linear_configs" / "linear.yaml")
    main_linear = Path(SOLO_LEARN_ROOT, "main_linear.py")

    result = run_cli(
        [
            str(main_linear),
            "--config-path",
            str(work / "linear_configs"),
            "--config-name",
            "linear",
        ],
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (linear_file,) = (work / "linear_ckpt" / "linear").glob("*/*.ckpt")
    linear = torch.load(linear_file, map_location="cpu", weights_only=False)
    assert linear["global_step"] == 2
    pretrained_state = torch.load(pretrained, map_location="cpu", weights_only=False)["state_dict"]
    backbone = {
        key.removeprefix("backbone."): value
        for key, value in pretrained_state.items()
        if key.startswith("backbone.") and not key.startswith("backbone.fc.")
    }
    probed = {
        key.removeprefix("backbone."): value
        for key, value in linear["state_dict"].items()
        if key.startswith("backbone.")
    }
    # every pretrained backbone tensor reached the probe's model, unchanged (frozen)
    assert backbone.keys() <= probed.keys() and backbone
    for key, value in backbone.items():
        assert torch.equal(probed[key], value), key
    assert linear["state_dict"]["classifier.weight"].shape == (5, 512)  # five image classes
