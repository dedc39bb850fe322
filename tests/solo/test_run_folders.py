"""``req-solo-pretrain`` gives every run its own checkpoint and log folder: two runs of one
method with the CSV logger no longer share ``<checkpoint.dir>/<method>/0`` (solo-learn's
checkpointer names the folder after the logger's version, which the CSV logger numbers per run
name), and a resumed run keeps its folder."""

import json
import os

import pytest

from tests.solo.availability import skip_module_without_solo

skip_module_without_solo()

from omegaconf import OmegaConf  # noqa: E402

from req_plugins.solo.pretrain import RUN_VERSION_ENV, pretrain, run_version  # noqa: E402
from tests.solo.helpers import augmentation  # noqa: E402
from tests.solo.test_pretrain import pretrain_cfg  # noqa: E402


@pytest.fixture(autouse=True)
def not_a_ddp_child(monkeypatch):
    monkeypatch.delenv(RUN_VERSION_ENV, raising=False)


@pytest.mark.slow
def test_two_runs_of_one_method_keep_separate_folders(tmp_path):
    logs = str(tmp_path / "logs")
    folders = {}
    for name in ("first", "second"):
        cfg = pretrain_cfg(
            tmp_path / name,
            "mv_barlow_twins",
            [augmentation(32, 2)],
            name=name,
            csv_logger={"enabled": True, "dir": logs},
            limit_train_batches=1,
        )
        cfg["checkpoint"]["dir"] = str(tmp_path / "ckpt")  # one shared trained_models/
        pretrain(OmegaConf.create(cfg))
        (args_file,) = [
            path
            for path in (tmp_path / "ckpt" / "mv_barlow_twins").glob("*/args.json")
            if json.loads(path.read_text())["name"] == name
        ]
        folders[name] = args_file.parent
    assert folders["first"] != folders["second"]
    assert RUN_VERSION_ENV not in os.environ  # set only while fit runs
    for name, folder in folders.items():
        assert folder.name.startswith(f"{name}-")
        assert json.loads((folder / "args.json").read_text())["name"] == name
        (checkpoint,) = folder.glob("*.ckpt")
        assert checkpoint.name.startswith(f"{name}-{folder.name}-ep=0")
        # the run's CSV log is in a folder of the same version
        assert (tmp_path / "logs" / name / folder.name / "metrics.csv").is_file()


def test_a_resumed_run_keeps_its_folder_and_new_runs_never_collide(tmp_path, monkeypatch):
    cfg = OmegaConf.create(
        {"name": "run", "method": "mv_vicreg", "checkpoint": {"dir": str(tmp_path), "enabled": 1}}
    )
    first = run_version(cfg, None)
    second = run_version(cfg, None)
    assert first != second and first.startswith("run-")
    assert (tmp_path / "mv_vicreg" / first).is_dir()  # claimed at once
    checkpoint = tmp_path / "mv_vicreg" / first / f"run-{first}-ep=3.ckpt"
    assert run_version(cfg, str(checkpoint)) == first
    # A checkpoint from elsewhere does not name this run's folder.
    assert run_version(cfg, str(tmp_path / "elsewhere" / "x.ckpt")) not in (first, second)
    # A process Lightning starts for DDP takes its parent's version.
    monkeypatch.setenv(RUN_VERSION_ENV, second)
    assert run_version(cfg, None) == second
