"""The run-folder contract of req-train under faults: kills, Ctrl+C, races, bad checkpoints.

Each fault is injected into a real ``req-train`` process (``python -c`` wrapping
``req_plugins.lightly.cli.main``): a signal at a chosen optimizer step, a kill in the
middle of writing a checkpoint, a pause while a second process tries the same folder.
A resumed run must leave exactly the files an uninterrupted run leaves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from req_plugins.lightly.cli import main
from req_plugins.lightly.methods.base import SSLMethod
from tests.lightly.tiny import TINY

# 3 epochs of 4 steps (a fifth of the digits), every kind of row in metrics.csv.
RUN = [
    str(Path(__file__).with_name("tiny.yaml")),
    *TINY,
    "data.fraction=0.2",
    "trainer.max_epochs=3",
    "trainer.check_val_every_n_epoch=1",
    "metrics.enabled=true",
    "metrics.every_n_epochs=1",
    "spectrum.enabled=true",
    "spectrum.every_n_steps=2",
    "checkpoint.enabled=true",
    "logging.csv=true",
]

# `req-train` with a fault: MODE STEP ARGS...; MODE is none, sigint, sigkill (a signal to
# itself at optimizer step STEP), kill_in_checkpoint (SIGKILL half-way through the
# STEP-th checkpoint written), fail (a ValueError at step STEP) or pause (at step STEP,
# print "paused" and wait for the file <output_dir>/go).
FAULTY_REQ_TRAIN = """
import os, signal, sys, time
import torch
from req_plugins.lightly import cli
from req_plugins.lightly.methods.base import SSLMethod

mode, at, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
training_step = SSLMethod.training_step

def faulty_step(self, batch, batch_idx):
    if self.trainer.global_step == at:
        if mode in ("sigint", "sigkill"):
            os.kill(os.getpid(), signal.SIGINT if mode == "sigint" else signal.SIGKILL)
            time.sleep(5)  # the signal arrives here
        if mode == "fail":
            raise ValueError("injected failure during training")
        if mode == "pause":
            go = os.path.join([a for a in argv if a.startswith("output_dir=")][0][11:], "go")
            print("paused", flush=True)
            while not os.path.exists(go):
                time.sleep(0.05)
    return training_step(self, batch, batch_idx)

SSLMethod.training_step = faulty_step
saves, real_save = [0], torch.save

def faulty_save(obj, handle, *args, **kwargs):
    saves[0] += 1
    if mode == "kill_in_checkpoint" and saves[0] == at:
        handle.write(b"PK half a checkpoint")
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, handle, *args, **kwargs)

torch.save = faulty_save
sys.exit(cli.main(argv))
"""


def _command(mode: str, at: int, output_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        FAULTY_REQ_TRAIN,
        mode,
        str(at),
        *RUN,
        f"output_dir={output_dir}",
        *overrides,
    ]


def req_train(mode: str, at: int, output_dir: Path, *overrides: str) -> subprocess.Popen:
    """``req-train`` in a new process with the fault ``mode``; returns it once it ended."""
    process = subprocess.Popen(
        _command(mode, at, output_dir, *overrides),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    process.out, process.err = process.communicate(timeout=600)
    return process


def in_process(monkeypatch, mode: str, at: int, output_dir: Path, *overrides: str) -> int:
    """``req-train`` in this process (no import cost) with the fault ``mode`` at step ``at``."""
    training_step = SSLMethod.training_step

    def faulty_step(self, batch, batch_idx):
        if self.trainer.global_step == at:
            if mode == "sigint":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the KeyboardInterrupt arrives here
            if mode == "fail":
                raise ValueError("injected failure during training")
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(SSLMethod, "training_step", faulty_step)
    handler = signal.getsignal(signal.SIGINT)
    # Python's Ctrl+C handler even where pytest inherited SIGINT ignored (nohup, a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return main([*RUN, f"output_dir={output_dir}", *overrides])
    except SystemExit as exit:  # Lightning exits on Ctrl+C
        return exit.code
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl+C
        monkeypatch.undo()


def _results(folder: Path) -> dict:
    results = json.loads((folder / "results.json").read_text())
    results["plots"] = [Path(p).name for p in results.get("plots", [])]
    return {k: v for k, v in results.items() if not k.endswith("_time_s")}


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted") / "run"
    torch.set_num_threads(1)  # as in the req-train processes (OMP_NUM_THREADS=1)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert in_process(monkeypatch, "none", -1, folder) == 0
    return folder


def _assert_same_as(folder: Path, reference: Path, *, also_kept: set[str] = frozenset()) -> None:
    assert (folder / "logs" / "metrics.csv").read_text() == (
        reference / "logs" / "metrics.csv"
    ).read_text()
    assert _results(folder) == _results(reference)
    # No last-v1.ckpt, no temporary files.
    assert _files(folder) == _files(reference) | also_kept


def test_uninterrupted_run_logs_every_epoch(uninterrupted):
    lines = (uninterrupted / "logs" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    epochs = {row.split(",")[header.index("epoch")] for row in lines[1:]}
    assert epochs == {"", "0", "1", "2"}  # spectrum/* rows are per step, without an epoch
    assert "repr/embedding_alpha" in header and "spectrum/eig_01" in header
    assert _results(uninterrupted)["epochs"] == 3
    assert json.loads((uninterrupted / "results.json").read_text())["train_time_s"] > 0


def test_ctrl_c_mid_epoch_then_resume_equals_uninterrupted_run(
    capsys, monkeypatch, tmp_path, uninterrupted
):
    folder = tmp_path / "run"
    assert in_process(monkeypatch, "sigint", 6, folder) == 1  # step 6: half-way through epoch 1
    assert "continue with checkpoint.resume=last" in capsys.readouterr().err
    assert not (folder / "results.json").exists()
    config_before = (folder / "config.yaml").read_text()

    assert in_process(monkeypatch, "none", -1, folder, "checkpoint.resume=last") == 0
    _assert_same_as(folder, uninterrupted)
    config_after = (folder / "config.yaml").read_text()
    assert config_after.replace("resume: last", "resume: null") == config_before


def test_kill_mid_epoch_then_resume_from_a_chosen_checkpoint(
    capsys, monkeypatch, tmp_path, uninterrupted
):
    folder = tmp_path / "run"
    killed = req_train("sigkill", 10, folder)  # step 10: half-way through epoch 2
    assert killed.returncode == -signal.SIGKILL
    assert not (folder / "results.json").exists()
    (epoch_1,) = (folder / "checkpoints").glob("epoch=1-*.ckpt")

    overrides = [f"checkpoint.resume={epoch_1}"]
    assert in_process(monkeypatch, "none", -1, folder, *overrides) == 0
    # The dead process's lock is taken over, and said so.
    assert f"locked by process {killed.pid}, which is gone" in capsys.readouterr().err
    # Lightning keeps the checkpoint a run resumed from.
    _assert_same_as(folder, uninterrupted, also_kept={f"checkpoints/{epoch_1.name}"})


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(
    monkeypatch, tmp_path, uninterrupted
):
    folder = tmp_path / "run"
    # Checkpoint writes: epoch 0 (epoch file, last.ckpt), epoch 1 (epoch file: killed).
    killed = req_train("kill_in_checkpoint", 3, folder)
    assert killed.returncode == -signal.SIGKILL
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0  # the previous version, whole
    assert any(p.name.endswith(".tmp") for p in (folder / "checkpoints").iterdir())

    assert in_process(monkeypatch, "none", -1, folder, "checkpoint.resume=last") == 0
    _assert_same_as(folder, uninterrupted)


def _copy(run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(run, folder)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        name: ((folder / name).read_bytes(), (folder / name).stat().st_mtime_ns)
        for name in sorted(_files(folder))
        if name != ".lock"
    }


def test_resuming_a_finished_run_changes_nothing(capsys, tmp_path, uninterrupted):
    folder = _copy(uninterrupted, tmp_path)
    before = _snapshot(folder)
    assert main([*RUN, f"output_dir={folder}", "checkpoint.resume=last"]) == 0
    captured = capsys.readouterr()
    assert "already finished its 3 epoch(s); nothing to do" in captured.err
    assert "kNN top-1" in captured.out  # the finished run's results, as they were
    assert _snapshot(folder) == before


def test_resume_with_a_changed_model_key_is_refused_and_changes_nothing(
    capsys, tmp_path, uninterrupted
):
    folder = _copy(uninterrupted, tmp_path)
    (folder / "results.json").unlink()  # not finished: a real resume would train
    before = _snapshot(folder)
    args = [*RUN, f"output_dir={folder}", "checkpoint.resume=last"]
    assert main([*args, "projector.output_dim=32", "data.num_views=3"]) == 2
    err = capsys.readouterr().err
    assert "`projector.output_dim` 16 -> 32" in err and "`data.num_views` 2 -> 3" in err
    assert _snapshot(folder) == before


def test_corrupt_checkpoint_is_named_and_intact_ones_listed(capsys, tmp_path, uninterrupted):
    folder = _copy(uninterrupted, tmp_path)
    last = folder / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    (folder / "results.json").unlink()
    before = _snapshot(folder)
    assert main([*RUN, f"output_dir={folder}", "checkpoint.resume=last"]) == 2
    err = capsys.readouterr().err
    assert f"{str(last)!r} is corrupt or truncated" in err
    (intact,) = (folder / "checkpoints").glob("epoch=2-*.ckpt")
    assert f"intact: {intact}" in err
    assert _snapshot(folder) == before


def test_second_process_on_a_live_run_folder_is_refused_at_once(capsys, tmp_path):
    folder = tmp_path / "run"
    first = subprocess.Popen(
        _command("pause", 2, folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert first.stdout.readline().strip() == "paused"
        config = (folder / "config.yaml").read_text()
        for overwrite in ("false", "true"):
            started = time.perf_counter()
            code = main([*RUN, f"output_dir={folder}", f"overwrite={overwrite}", "seed=1"])
            err = capsys.readouterr().err
            assert code == 2
            assert f"in use by process {first.pid}" in err, err
            assert time.perf_counter() - started < 30  # refused, not queued behind the run
        assert (folder / "config.yaml").read_text() == config  # nothing deleted or replaced
        (folder / "go").touch()
        out, err = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, err[-3000:]
    (folder / "go").unlink()
    assert "seed: 0" in (folder / "config.yaml").read_text()
    assert _results(folder)["epochs"] == 3
    names = _files(folder)
    assert not any("-v1" in name for name in names)
    assert {"checkpoints/last.ckpt", "results.json", "logs/metrics.csv"} <= names


def test_failure_during_training_exits_1_with_its_traceback(capsys, monkeypatch, tmp_path):
    folder = tmp_path / "run"
    assert in_process(monkeypatch, "fail", 6, folder) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ValueError: injected failure during training" in err
    assert "req-train: error:" not in err  # not reported as bad input
    # What was written before the failure is intact: the epoch-0 checkpoint and its rows.
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    assert not (folder / "results.json").exists()


def test_progress_bar_on_stderr_results_on_stdout(capsys, tmp_path):
    assert main([RUN[0], *TINY, "trainer.progress_bar=true", f"output_dir={tmp_path}/run"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.out and "it/s" not in captured.out
    assert "kNN top-1" in captured.out
    assert "Epoch 0" in captured.err
