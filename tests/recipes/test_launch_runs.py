"""Launched sweeps train each run as a separate job and end with the sequential sweep's outputs:
`--launcher local --jobs 2` gives the sequential accuracies; a job killed midway is reported, and
the relaunch trains only that run (from its last.ckpt), leaving the finished run's files as they
were; a failing run (through submitit's local executor) is reported with its job log, does not
stop the others, and `req-recipes status` shows it."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from req_plugins.recipes.candidates import find_candidates
from req_plugins.recipes.cli import main
from req_plugins.rundir import LOCK_FILE
from tests.recipes.tiny_recipe import TINY

pytestmark = pytest.mark.slow


def _recipe(folder, text=TINY):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(text)
    return path


def _accuracies(out) -> dict[tuple[str, str], tuple[str, str]]:
    with (out / "results.csv").open() as handle:
        rows = csv.DictReader(handle)
        return {(row["run"], row["seed"]): (row["linear_top1"], row["knn_top1"]) for row in rows}


def _files(folder) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (lock files aside) with its bytes and mtime."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != LOCK_FILE
    }


def test_two_local_jobs_give_the_sequential_accuracies(tmp_path, capsys):
    # Two seeds of one arm: their jobs train at the same time (each seed has its own lock).
    recipe = _recipe(tmp_path, TINY.replace("axes: {d: [16, 32]}", "axes: {d: [16]}"))
    sweep = ["run", str(recipe), "--seeds", "2"]
    assert main([*sweep, "--out", str(tmp_path / "seq")]) == 0
    capsys.readouterr()
    out = tmp_path / "jobs"
    launch = ["--out", str(out), "--launcher", "local", "--jobs", "2"]
    assert main([*sweep, *launch]) == 0
    log = capsys.readouterr().out
    assert "2 run(s): 0 done, 2 to train" in log
    job_ids = {line.split(" job ")[1].split()[0] for line in log.splitlines() if "started" in line}
    assert len(job_ids) == 2  # two jobs, two processes
    assert all((out / ".submitit" / job_id).is_dir() for job_id in job_ids)
    assert log.count(": trained, ") == 2
    assert set(_accuracies(out)) == {("d=16", "0"), ("d=16", "1")}
    assert _accuracies(out) == _accuracies(tmp_path / "seq")
    assert (out / "report.md").is_file() and (out / "table.csv").is_file()
    # req-select finds the same models as in a sequential sweep's folder (job logs aside).
    assert [c.name for c in find_candidates(out)] == ["runs/d=16/seed0", "runs/d=16/seed1"]
    # A relaunch submits nothing and writes the same results.
    assert main([*sweep, *launch]) == 0
    assert "2 run(s): 2 done, 0 to train" in capsys.readouterr().out
    assert _accuracies(out) == _accuracies(tmp_path / "seq")


def _wait_for(condition, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_job_killed_midway_is_relaunched_alone(tmp_path, capsys):
    # d=32 trains 3 epochs (a checkpoint each), d=16 one: d=16 finishes while d=32 is killed.
    recipe = _recipe(
        tmp_path,
        TINY.replace("rules: [", "rules: [{when: {d: 32}, set: {trainer.max_epochs: 3}}, "),
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "req_plugins.recipes.cli", "run", str(recipe)]
    command += ["--out", str(out), "--launcher", "local", "--jobs", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    checkpoint = out / "runs/d=32/seed0/checkpoints/last.ckpt"
    try:
        _wait_for(checkpoint.is_file, "d=32's first checkpoint")
        job_pid = int((out / "runs/d=32/.lock-seed0" / LOCK_FILE).read_text())
        os.kill(job_pid, signal.SIGKILL)  # the job's process, midway through its run
        log, _ = launcher.communicate(timeout=300)
    finally:
        launcher.kill()
    assert launcher.returncode == 1, log
    assert "runs/d=16/seed0: trained" in log
    assert "failed: runs/d=32/seed0" in log and "report not written" in log
    assert not (out / "report.md").exists() and not (out / "runs/d=32/seed0.json").exists()
    assert main(["status", str(recipe), "--out", str(out)]) == 0
    status = capsys.readouterr().out
    assert "runs/d=16/seed0  done" in status and "runs/d=32/seed0  interrupted" in status

    finished = _files(out / "runs/d=16")
    assert main(command[3:]) == 0  # the same command, relaunched
    relaunched = capsys.readouterr().out
    assert "2 run(s): 1 done, 1 to train" in relaunched
    assert "runs/d=16/seed0: job" not in relaunched  # no job for the finished run
    assert _files(out / "runs/d=16") == finished  # bytes and mtimes untouched
    with (out / "curves.csv").open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle) if row["run"] == "d=32"]
    assert epochs == [1, 2, 3]  # resumed from its checkpoint: every epoch logged once
    assert set(_accuracies(out)) == {("d=16", "0"), ("d=32", "0")}


def test_a_failing_run_is_reported_with_its_log_and_the_others_finish(tmp_path, capsys):
    # d=32 asks for a batch larger than the training set: req-train refuses once it has the data.
    recipe = _recipe(
        tmp_path,
        TINY.replace("rules: [", "rules: [{when: {d: 32}, set: {data.batch_size: 4096}}, "),
    )
    out = tmp_path / "out"
    launch = ["--launcher", "submitit", "--cluster", "local", "--gpus-per-run", "0"]
    assert main(["run", str(recipe), "--out", str(out), *launch]) == 1
    log = capsys.readouterr().out
    (failure,) = [line for line in log.splitlines() if line.startswith("failed: ")]
    assert failure.startswith("failed: runs/d=32/seed0: ") and "batch_size" in failure
    job_log = failure.rsplit("; log: ", 1)[1]
    assert job_log.startswith(str(out / ".submitit")) and "batch_size" in open(job_log).read()
    assert (out / "runs/d=16/seed0.json").is_file()  # the other run finished
    assert not (out / "report.md").exists()

    assert main(["status", str(recipe), "--out", str(out)]) == 0
    rows = {
        line.split()[0]: line for line in capsys.readouterr().out.splitlines() if "runs/" in line
    }
    assert rows["runs/d=16/seed0"].split()[1] == "done"
    assert rows["runs/d=32/seed0"].split()[1] == "failed"
    assert "batch_size" in rows["runs/d=32/seed0"] and job_log in rows["runs/d=32/seed0"]
