"""The output folder of a ``req-train`` run: checked before a run, prepared under its lock.

:func:`check_writable` and :func:`check_output_dir` only read (they run before anything
is written); :func:`start_run_folder` runs once the run holds the folder's
:class:`~req_plugins.rundir.RunLock`: it clears the folder for ``overwrite=true`` (never
while another run holds it), removes the temporary files of a killed atomic write and
saves ``config.yaml``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from req_plugins.lightly.resume import CONFIG_FILE
from req_plugins.lightly.schema import ConfigError
from req_plugins.rundir import LOCK_FILE, RunLock, RunLockedError, atomic_write_text, lock_holder


def check_writable(output_dir: Path) -> None:
    """`output_dir` can be created and written (checked without writing)."""
    existing = output_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == output_dir and not output_dir.is_dir():
        raise ConfigError(f"`output_dir` {str(output_dir)!r} exists and is not a directory.")
    if not existing.is_dir():
        raise ConfigError(
            f"`output_dir` {str(output_dir)!r} cannot be created: {str(existing)!r} is a file."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"`output_dir` {str(output_dir)!r} cannot be written: no write permission on "
            f"{str(existing)!r}."
        )


def holds_files(output_dir: Path) -> bool:
    return output_dir.is_dir() and any(p.name != LOCK_FILE for p in output_dir.iterdir())


def check_output_dir(
    config: DictConfig, output_dir: Path, resuming: bool, *, locked_by_us: bool = False
) -> None:
    """Refuse a folder that a live run holds, or that holds files this run may not replace."""
    holder = None if locked_by_us else lock_holder(output_dir)
    if holder is not None:
        raise RunLockedError(output_dir, holder or None)
    if resuming or not holds_files(output_dir):
        return
    if not config.overwrite:
        raise ConfigError(
            f"`output_dir` {str(output_dir)!r} already holds files; choose another folder, "
            "resume with checkpoint.resume=last, or set overwrite=true."
        )
    if not (output_dir / CONFIG_FILE).is_file():
        raise ConfigError(
            f"`output_dir` {str(output_dir)!r} is not a req-train run folder (no {CONFIG_FILE}); "
            "overwrite=true only replaces run folders."
        )


def start_run_folder(run, lock: RunLock) -> None:
    """Under the lock: take over a dead run's lock, clear or tidy the folder, save the config."""
    if lock.stale_holder is not None:
        print(
            f"req-train: {str(run.output_dir)!r} was locked by process {lock.stale_holder}, "
            "which is gone; taking over.",
            file=sys.stderr,
        )
    # Checked again now that the folder is ours: another run may have filled it meanwhile.
    check_output_dir(run.config, run.output_dir, run.resume_from is not None, locked_by_us=True)
    for path in list(run.output_dir.iterdir()):
        if run.resume_from is None and run.config.overwrite and path.name != LOCK_FILE:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for leftover in run.output_dir.rglob(".*.tmp*"):  # a killed atomic write's temporary file
        leftover.unlink()
    if not run.finished:
        atomic_write_text(run.output_dir / CONFIG_FILE, OmegaConf.to_yaml(run.config))
