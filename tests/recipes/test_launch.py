"""Launcher options are checked before anything is written; a run on several GPUs or nodes is
one SLURM job of nodes × one task per GPU, and Lightning, inside it, reads its rank and world
from SLURM's variables."""

from __future__ import annotations

import importlib
import importlib.util
import os

import pytest

from req_plugins.recipes.cli import main
from req_plugins.recipes.launch import (
    LaunchSettings,
    device_slots,
    parse_time,
    placement_overrides,
    submitit_parameters,
)
from tests.recipes.tiny_recipe import TINY


@pytest.mark.parametrize(
    "options, named",
    [
        (["--launcher", "local", "--jobs", "0"], "--jobs"),
        (["--jobs", "2"], "--jobs"),
        (["--launcher", "local", "--partition", "gpu"], "--partition"),
        (["--launcher", "submitit", "--jobs", "2"], "--jobs"),
        (["--launcher", "local", "--devices-per-run", "64"], "--devices-per-run"),
        (["--launcher", "submitit", "--cluster", "local", "--nodes", "2"], "--nodes"),
        (["--launcher", "submitit", "--time", "soon"], "--time"),
        (["--launcher", "submitit", "--gpus-per-run", "-1"], "--gpus-per-run"),
        (["--launcher", "submitit", "--mem-gb", "0"], "--mem-gb"),
        (["--launcher", "submitit", "--array-parallelism", "0"], "--array-parallelism"),
        (["--launcher", "local", "--dry-run"], "--dry-run"),
    ],
)
def test_bad_launcher_options_exit_2_naming_the_option_and_write_nothing(
    tmp_path, capsys, options, named
):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", str(recipe), "--out", str(out), *options]) == 2
    error = capsys.readouterr().err
    assert error.startswith("req-recipes: error:") and f"`{named}`" in error
    assert not out.exists()


def test_a_stepwise_recipe_is_not_launched(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "stepwise_ssl", "--launcher", "local", "--out", str(out)]) == 2
    assert "not a sweep" in capsys.readouterr().err and not out.exists()


def test_slurm_time_limits_in_minutes():
    assert parse_time("90") == 90
    assert parse_time("1:30:00") == 90
    assert parse_time("2-00:00") == 2 * 24 * 60
    assert parse_time("0:00:30") == 1  # rounded up: SLURM would kill a job cut short
    with pytest.raises(ValueError, match="--time"):
        parse_time("0")


def test_device_slots_give_each_concurrent_run_its_own_gpus():
    assert device_slots(4, 2, 8) == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert device_slots(2, 0, 0) == [(), ()]
    with pytest.raises(ValueError, match="needs 6 GPU"):
        device_slots(3, 2, 4)


def test_one_device_runs_keep_the_sequential_config_and_ddp_runs_say_where_they_run():
    assert placement_overrides(1) == {} and placement_overrides(0) == {}
    assert LaunchSettings("submitit", gpus_per_run=1).overrides() == {}
    assert LaunchSettings("submitit", gpus_per_run=4, nodes=2).overrides() == {
        "trainer.devices": 4,
        "trainer.num_nodes": 2,
        "trainer.strategy": "ddp",
    }


def _slurm_spec(tmp_path, monkeypatch, runs: int, **options) -> str:
    """The sbatch file submitit writes for an array of ``runs`` jobs with ``options``."""
    submitit = pytest.importorskip("submitit")
    from submitit.slurm.slurm import _make_sbatch_string

    # submitit's SLURM executor looks for srun on PATH; nothing is submitted here.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    executor = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="slurm")
    executor.update_parameters(**submitit_parameters(name="req-thesis_table5", **options))
    parameters = dict(executor._executor.parameters, map_count=runs)
    return _make_sbatch_string(command="python -m job", folder=tmp_path / "%j", **parameters)


def test_a_multi_node_run_is_one_job_of_nodes_times_one_task_per_gpu(tmp_path, monkeypatch):
    text = _slurm_spec(
        tmp_path,
        monkeypatch,
        96,
        time_min=600,
        gpus_per_run=4,
        nodes=2,
        cpus_per_task=8,
        mem_gb=200,
        partition="gpu",
        account="proj",
        constraint="a100",
        array_parallelism=6,
    )
    lines = set(text.splitlines())
    for expected in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=200GB",
        "#SBATCH --time=600",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=proj",
        "#SBATCH --constraint=a100",
        "#SBATCH --array=0-95%6",
        "#SBATCH --job-name=req-thesis_table5",
    ):
        assert expected in lines, (expected, text)
    # srun starts every task: Lightning joins them (no process of its own is spawned).
    assert any(line.startswith("srun ") for line in lines)


def test_a_one_gpu_run_asks_for_one_gpu_and_one_task(tmp_path, monkeypatch):
    lines = set(
        _slurm_spec(tmp_path, monkeypatch, 3, time_min=60, gpus_per_run=1, nodes=1).splitlines()
    )
    assert {"#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=1"} <= (
        lines
    )
    assert "#SBATCH --array=0-2%3" in lines


def test_lightning_reads_rank_and_world_from_a_simulated_slurm_job(monkeypatch):
    """Task 6 of a 2-node × 4-GPU run, as ``srun`` starts it: the Trainer req-train builds from
    the run's placement settings is rank 6 of 8, on node 1, local rank 2, master on gpu-a17."""
    from pytorch_lightning import Trainer
    from pytorch_lightning.plugins.environments import SLURMEnvironment

    for key, value in {
        "SLURM_NTASKS": "8",
        "SLURM_NTASKS_PER_NODE": "4",
        "SLURM_PROCID": "6",
        "SLURM_LOCALID": "2",
        "SLURM_NODEID": "1",
        "SLURM_NNODES": "2",
        "SLURM_NODELIST": "gpu-a[17-18]",
        "SLURM_JOB_ID": "4242_7",
        "SLURM_JOB_NAME": "req-thesis_table5",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert SLURMEnvironment.detect()
    environment = SLURMEnvironment()
    assert environment.creates_processes_externally  # srun started the 8 tasks
    assert (environment.world_size(), environment.global_rank()) == (8, 6)
    assert (environment.local_rank(), environment.node_rank()) == (2, 1)
    assert environment.main_address == "gpu-a17"

    # The DDP strategy sets the process-wide `rank_zero_only.rank` to 6, which would silence
    # every later test's loggers: each copy gets its rank back at teardown.
    for name in (
        "lightning_utilities.core.rank_zero",
        "lightning_fabric.utilities.rank_zero",
        "pytorch_lightning.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.utilities.rank_zero",
    ):
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            function = importlib.import_module(name).rank_zero_only
            monkeypatch.setattr(function, "rank", getattr(function, "rank", 0), raising=False)

    placement = LaunchSettings("submitit", gpus_per_run=4, nodes=2).overrides()
    trainer = Trainer(
        accelerator="cpu",
        devices=placement["trainer.devices"],
        num_nodes=placement["trainer.num_nodes"],
        strategy=placement["trainer.strategy"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    assert isinstance(trainer.strategy.cluster_environment, SLURMEnvironment)
    assert (trainer.world_size, trainer.global_rank) == (8, 6)
    assert (trainer.node_rank, trainer.local_rank) == (1, 2)
    assert not trainer.is_global_zero
