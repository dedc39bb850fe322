"""What a ``req-train`` run writes while it trains, written so that no kill can corrupt it.

* :class:`AtomicCheckpointIO` — checkpoints go to a temporary file that replaces the
  target only once complete (Lightning's own writer truncates the target first);
* :class:`RunCSVLogger` — ``logs/metrics.csv`` appended row by row (a kill loses at most
  the row being written) and, on resume, continued from the checkpoint's epoch instead
  of recreated (Lightning's CSV logger deletes the file it finds);
* :class:`StderrProgressBar` — progress bars on stderr, so stdout holds only results;
* :class:`RunClock` — training wall time and completed epochs, saved in checkpoints, so a
  resumed run reports its whole training time and a finished run is recognised.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.core.saving import save_hparams_to_yaml
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from req_plugins.rundir import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save each checkpoint to a temporary file, then rename it over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no `storage_options`.")
        with atomic_open(path, "wb") as handle:
            torch.save(checkpoint, handle)


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """``(header, complete rows)`` of a metrics CSV; a half-written last line is dropped."""
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, appending each row at once and keeping rows it is told to keep.

    ``keep_until``: on resume, the checkpoint's ``(epoch, global_step)``: rows of epochs up
    to its epoch (rows without an epoch: of steps up to its step) are kept, later ones (an
    interrupted epoch, which the resumed run repeats) dropped; ``None`` starts a new file.
    """

    def __init__(self, log_dir: str, keep_until: tuple[int, int] | None) -> None:
        self._keep_until = keep_until
        self._rows: list[dict[str, Any]] = []
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # called by __init__: load instead of delete
        path = Path(self.metrics_file_path)
        if self._keep_until is None or not path.is_file():
            return
        _, rows = read_csv_rows(path)
        self._rows = [
            {k: v for k, v in row.items() if v not in ("", None)}
            for row in rows
            if self._before_checkpoint(row)
        ]
        self.metrics_keys = sorted(set().union(*self._rows)) if self._rows else []
        self._rewrite()

    def _before_checkpoint(self, row: dict[str, str]) -> bool:
        epoch, step = self._keep_until
        if row.get("epoch"):
            return float(row["epoch"]) <= epoch
        return bool(row.get("step")) and float(row["step"]) <= step

    def log_hparams(self, params: dict[str, Any]) -> None:
        self.hparams.update(params)
        path = Path(self.log_dir) / self.NAME_HPARAMS_FILE
        temporary = path.with_name(f".{path.name}.tmp")
        save_hparams_to_yaml(temporary, self.hparams)
        os.replace(temporary, path)

    def _rewrite(self) -> None:
        with atomic_open(self.metrics_file_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(self._rows)

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        super().log_metrics(metrics_dict, step)
        self.save()

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        rows, self.metrics = self.metrics, []
        self._rows.extend(rows)
        if new_keys or not os.path.isfile(self.metrics_file_path):
            self._rewrite()  # a new column: the whole file, atomically
            return
        with open(self.metrics_file_path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=self.metrics_keys).writerows(rows)


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` writing ``<save_dir>/logs/metrics.csv`` through :class:`_AppendingWriter`."""

    def __init__(self, save_dir: str | Path, keep_until: tuple[int, int] | None = None) -> None:
        super().__init__(save_dir=str(save_dir), name="logs", version="")
        self._keep_until = keep_until

    @property
    @rank_zero_experiment
    def experiment(self) -> _AppendingWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self._keep_until)
        return self._experiment


class StderrProgressBar(TQDMProgressBar):
    """Lightning's tqdm bars, on stderr (Lightning writes them to stdout)."""

    def _on_stderr(self, init) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return init()

    def init_sanity_tqdm(self):
        return self._on_stderr(super().init_sanity_tqdm)

    def init_train_tqdm(self):
        return self._on_stderr(super().init_train_tqdm)

    def init_validation_tqdm(self):
        return self._on_stderr(super().init_validation_tqdm)

    def init_predict_tqdm(self):
        return self._on_stderr(super().init_predict_tqdm)

    def init_test_tqdm(self):
        return self._on_stderr(super().init_test_tqdm)


class RunClock(Callback):
    """Training wall time and completed epochs of a run, across resumes (checkpointed)."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.epochs_completed = 0
        self._epoch_start: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Runs before ModelCheckpoint (Lightning calls checkpoint callbacks last), so the
        # epoch's checkpoint counts the epoch.
        if self._epoch_start is not None:
            self.train_seconds += time.perf_counter() - self._epoch_start
            self._epoch_start = None
        self.epochs_completed = trainer.current_epoch + 1

    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self.train_seconds, "epochs_completed": self.epochs_completed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.train_seconds = float(state_dict["train_seconds"])
        self.epochs_completed = int(state_dict["epochs_completed"])
