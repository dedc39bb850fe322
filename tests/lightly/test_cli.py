"""req-train: configs, overrides, clear errors with nothing written, a full tiny run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from req_plugins.lightly.cli import main
from req_plugins.lightly.config import load_config
from tests.lightly.tiny import TINY


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("\n".join(["method:", "  name: mv_barlow_twins", "data:", "  num_views: 3"]))
    return path


def _fails(capsys, tmp_path, config_file, *overrides, match):
    output_dir = tmp_path / "out"
    code = main([str(config_file), *TINY, f"output_dir={output_dir}", *overrides])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("req-train: error: ")
    assert match in err, err
    assert not output_dir.exists()  # nothing half-written
    return err


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data.batchsize=32"], "unknown config key 'data.batchsize'; valid keys in 'data': name,"),
        (["optimiser.lr=0.1"], "unknown config key 'optimiser'; valid keys in 'the top level'"),
        (["optimizer.lr=fast"], "optimizer.lr"),
        (["method.name=byol"], "unknown method 'byol' for framework 'lightning'; valid methods:"),
        (["method.betta=0.1"], "unknown key(s) ['betta'] in `method` for 'mv_barlow_twins'"),
        (["method.name=simclr"], "`data.num_views` must be 2 for 'simclr'"),
        (["optimizer.name=rmsprop"], "`optimizer.name`='rmsprop': must be one of adam, sgd, lars"),
        (["backbone.name=vit"], "`backbone.name`='vit': must be one of"),
        (["data.name=mnist"], "`data.name`='mnist': must be one of"),
        (["data.fraction=0"], "`data.fraction`=0.0: must be > 0 and <= 1"),
        (["data.augmentation.blur=0.5"], "unknown key(s) ['blur'] in `data.augmentation`"),
        (["trainer.accelerator=quantum"], "invalid `trainer` settings"),
        (["checkpoint.resume=last"], "`checkpoint.resume`='last': no checkpoint at"),
        (["metrics.names=[alpha,nope]"], "unknown metric 'nope'"),
        (["seed"], "override 'seed' must look like key=value"),
        # Accepted before, with a meaningless result or a failure after config.yaml was written.
        (["trainer.max_epochs=0"], "`trainer.max_epochs`=0: must be >= 1"),
        (["trainer.max_epochs=-1"], "`trainer.max_epochs`=-1: must be >= 1"),
        (["trainer.max_steps=0"], "`trainer.max_steps`=0: must be >= 1 (or -1)"),
        (["eval.knn_k=0"], "`eval.knn_k`=0: must be >= 1"),
        (["eval.knn_t=0"], "`eval.knn_t`=0.0: must be > 0"),
        (["eval.linear_epochs=0"], "`eval.linear_epochs`=0: must be >= 1"),
        (["eval.linear_lr=-1"], "`eval.linear_lr`=-1.0: must be > 0"),
        (["data.batch_size=0"], "`data.batch_size`=0: must be >= 1"),
        (
            ["data.fraction=0.02"],  # 27 images
            "`data.batch_size`=64 is larger than the training set (27 images",
        ),
        (
            ["metrics.enabled=true", "projector.output_dim=8"],
            "`metrics.names`=['alpha', 'effective_rank', 'mutual_information'] cannot be "
            "measured with `projector.output_dim`=8",
        ),
        (
            ["trainer.devices=3", "trainer.strategy=ddp"],
            "`data.batch_size`=64 must be divisible by the number of processes, 3",
        ),
        (["trainer.devices=0"], "`trainer.devices`=0: must be a count >= 1"),
        (["optimizer.momentum=1.5"], "`optimizer.momentum`=1.5: must be >= 0 and < 1"),
        (["eval.knn_k=0", "seed=-1"], "`eval.knn_k`=0: must be >= 1.\n  `seed`=-1: must be >= 0"),
    ],
)
def test_bad_config_fails_before_writing(capsys, tmp_path, config_file, overrides, match):
    _fails(capsys, tmp_path, config_file, *overrides, match=match)


def test_bad_data_paths(capsys, tmp_path, config_file):
    _fails(
        capsys,
        tmp_path,
        config_file,
        "data.name=cifar10",
        f"data.path={tmp_path / 'missing'}",
        match="is not a directory",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(
        capsys,
        tmp_path,
        config_file,
        "data.name=cifar10",
        f"data.path={empty}",
        match="does not hold the cifar10 dataset",
    )
    _fails(
        capsys,
        tmp_path,
        config_file,
        "data.name=imagefolder",
        f"data.path={empty}",
        match="must contain 'train/' and 'val/' class folders",
    )
    _fails(capsys, tmp_path, config_file, "data.name=stl10", match="`data.path` is required")


def test_unwritable_output_folder(capsys, tmp_path, config_file):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main([str(config_file), *TINY, f"output_dir={blocker / 'run'}"])
    assert code == 2
    assert f"cannot be created: {str(blocker)!r} is a file" in capsys.readouterr().err
    assert blocker.read_text() == ""


def test_describe_lists_every_key_with_type_default_and_rule(capsys):
    assert main(["--show-config", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "| `trainer.max_epochs` | int | `100` | >= 1 | training epochs |" in out
    assert "| `eval.knn_t` | float | `0.1` | > 0 | temperature |" in out
    assert "`projector.output_dim`" in out and "fixed for a resume" in out
    assert main(["--describe"]) == 2


def test_missing_or_broken_config_file(capsys, tmp_path):
    assert main([str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("method: [unclosed\n")
    assert main([str(broken)]) == 2
    assert "cannot parse config file" in capsys.readouterr().err
    assert main([]) == 2


def test_existing_output_folder_is_protected(capsys, tmp_path, config_file):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "precious.txt").write_text("keep me")
    for overwrite in ("false", "true"):
        code = main([str(config_file), *TINY, f"output_dir={output_dir}", f"overwrite={overwrite}"])
        assert code == 2
        assert "output_dir" in capsys.readouterr().err
    assert sorted(p.name for p in output_dir.iterdir()) == ["precious.txt"]


def test_show_config_and_quickstart_config(capsys):
    assert main(["--show-config", "method.name=vicreg", "optimizer.lr=0.5"]) == 0
    out = capsys.readouterr().out
    assert "name: vicreg" in out and "lr: 0.5" in out and "output_dir: runs/vicreg" in out
    config = load_config(None, [])
    assert config.method.name == "mv_barlow_twins"
    assert main(["--quickstart", "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "num_views: 4" in out and "output_dim: 64" in out and "name: shapes" in out
    assert main(["cifar10_mv_barlow_twins", "--show-config", "data.path=/data/c10"]) == 0
    out = capsys.readouterr().out
    assert "name: cifar10" in out and "path: /data/c10" in out and "name: resnet18" in out
    assert main(["no_such_recipe"]) == 2
    assert (
        "no bundled config 'no_such_recipe'; available: cifar10_mv_barlow_twins, quickstart, "
        "stl10_mv_barlow_twins_2x64_2x32, stl10_mv_barlow_twins_2x64_6x32"
    ) in capsys.readouterr().err


def test_full_run_writes_checkpoints_logs_plots_and_results(capsys, tmp_path, config_file):
    output_dir = tmp_path / "run"
    code = main(
        [
            str(config_file),
            *TINY,
            f"output_dir={output_dir}",
            "data.fraction=0.2",
            "trainer.max_epochs=2",
            "metrics.enabled=true",
            "metrics.every_n_epochs=1",
            "spectrum.enabled=true",
            "spectrum.every_n_steps=2",
            "checkpoint.enabled=true",
            "logging.csv=true",
            "plots=true",
            "eval.random_init_reference=true",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for row in ("kNN top-1", "linear probe top-1", "alpha, embeddings", "I(R;Z)", "wall time"):
        assert row in out
    names = {p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*") if p.is_file()}
    assert {
        "config.yaml",
        "results.json",
        "logs/metrics.csv",
        "checkpoints/last.ckpt",
        "plots/eigenspectrum.png",
        "plots/metrics.png",
        "plots/eigenvalue_trajectories.png",
    } <= names
    results = json.loads((output_dir / "results.json").read_text())
    assert results["epochs"] == 2 and results["num_views"] == 3
    assert 0.1 < results["knn_top1"] <= 1.0 and "random_init_knn_top1" in results
    header = (output_dir / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "repr/embedding_alpha" in header and "spectrum/eig_01" in header
    # The saved config reproduces the run's settings.
    assert load_config(output_dir / "config.yaml").data.num_views == 3

    # A second run into the same folder is refused; overwrite=true replaces a run folder.
    assert main([str(config_file), *TINY, f"output_dir={output_dir}"]) == 2
    capsys.readouterr()
    assert main([str(config_file), *TINY, f"output_dir={output_dir}", "overwrite=true"]) == 0
    assert not (output_dir / "plots").exists()


def test_tensorboard_logging(capsys, tmp_path, config_file):
    output_dir = tmp_path / "tb"
    args = [str(config_file), *TINY, f"output_dir={output_dir}", "logging.tensorboard=true"]
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert main(args) == 2
        assert "needs the tensorboard package" in capsys.readouterr().err
        assert not output_dir.exists()
    else:
        assert main(args) == 0
        assert list((output_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_module_entry_point_lists_methods():
    done = subprocess.run(
        [sys.executable, "-m", "req_plugins.lightly.cli", "--list-methods"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "mv_barlow_twins" in done.stdout and "req-plugins" in done.stdout


@pytest.mark.slow
@pytest.mark.distributed
def test_cli_ddp_two_processes(tmp_path, config_file):
    """`req-train ... trainer.strategy=ddp trainer.devices=2`: Lightning relaunches the command."""
    output_dir = tmp_path / "ddp"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "req_plugins.lightly.cli",
            str(config_file),
            *TINY,
            f"output_dir={output_dir}",
            "data.fraction=0.2",
            "trainer.strategy=ddp",
            "trainer.devices=2",
            "checkpoint.enabled=true",
            "logging.csv=true",
            "metrics.enabled=true",
            "metrics.every_n_epochs=1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("kNN top-1") == 1  # only rank 0 evaluates and reports
    results = json.loads((output_dir / "results.json").read_text())
    assert "repr/mutual_information" in results
    assert (output_dir / "checkpoints" / "last.ckpt").is_file()
