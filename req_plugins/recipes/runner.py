"""Run a recipe's sweep through the training layer (:func:`req_plugins.lightly.train.train`).

Layout of an output folder (``--out``, default ``recipe_runs/<recipe>/<scale>``)::

    runs/<run_id>/seed<k>.yaml     the req-train config of the run
    runs/<run_id>/seed<k>/         the req-train run folder (config.yaml, checkpoints/, logs/ ...)
    runs/<run_id>/seed<k>.json     the finished run's record (results, accuracy curve, timings)
    results.csv, curves.csv, report.md, plots/*.png   (written by req_plugins.recipes.report)

A sweep resumes where it stopped: finished runs (record present, same run) are
read back, an interrupted run restarts from its ``last.ckpt`` (its accuracy curve
is part of the checkpoint), anything else is run from scratch. "Same run" is
:mod:`req_plugins.recipes.identity`'s: a finished or interrupted run whose config
changed is never deleted (refused, or moved aside with ``retrain``).

Each run is trained under an exclusive lock of its own, ``runs/<run_id>/.lock-seed<k>/``
(:class:`req_plugins.rundir.RunLock`; the seeds of an arm train in parallel): a second
``req-recipes`` on the same output folder skips the runs the first one is training and says so.
Configs and records are written atomically (temporary file + rename).

The recipe callbacks (:func:`req_plugins.recipes.callbacks.recipe_callbacks`) add what
the recipes need to a req-train run, through ``train(config, callbacks=...)``; runs train
under :mod:`req_plugins.recipes.run_context` (quiet Lightning, the scale's thread budget).
A launcher that trains runs elsewhere uses the same pieces: :func:`plan_sweep` for the runs,
:func:`run_one` for one of them under its lock.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from req_plugins.modes import torch_threads
from req_plugins.recipes.callbacks import recipe_callbacks
from req_plugins.recipes.dotted import flatten, nest
from req_plugins.recipes.identity import (
    Superseded,
    changed_keys,
    config_text,
    identity,
    move_aside,
    supersede_folder,
)
from req_plugins.recipes.recipe import Recipe, RunSpec, Scale
from req_plugins.recipes.run_context import quiet_lightning
from req_plugins.rundir import RunLock, RunLockedError, atomic_write_text


@dataclass
class RunRecord:
    """What one finished run contributes to the report."""

    run_id: str
    labels: dict[str, Any]
    values: dict[str, Any]
    seed: int
    results: dict[str, Any]
    curve: list[dict[str, float]]
    extra: dict[str, Any]
    run_dir: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_config(
    recipe: Recipe, spec: RunSpec, run_dir: Path, data_path: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(req-train config as a nested dict, runner options)`` of one run."""
    flat = flatten(recipe.train)
    flat.update(spec.overrides)
    options = {k: flat.pop(k) for k in list(flat) if k.startswith("recipe.")}
    unknown = sorted(set(options) - {"recipe.data_fraction"})
    if unknown:
        raise ValueError(
            f"recipe {recipe.name!r}: unknown runner option(s) {unknown}; "
            "valid: recipe.data_fraction."
        )
    if data_path is not None:
        flat["data.path"] = data_path
    flat.update(
        {
            "seed": spec.seed,
            "output_dir": str(run_dir),
            "overwrite": True,
            "checkpoint.resume": None,
        }
    )
    flat.setdefault("trainer.progress_bar", False)
    return nest(flat), options


def _measured(scale: Scale, options: dict[str, Any]) -> dict[str, Any]:
    """What else shapes a run's record besides req-train's config: runner options and what is
    measured during and after training."""
    measured = dict(options)
    if scale.progress:
        measured["progress"] = scale.progress
    if scale.analysis.get("kind") == "alpha_timing":
        measured["alpha_timing"] = {k: scale.analysis.get(k) for k in ("repeats", "linear_epochs")}
    return measured


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its spec, where it lives and its ``seed<k>.yaml`` text."""

    spec: RunSpec
    base: Path  # runs/<run_id>
    text: str
    options: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return self.base / f"seed{self.spec.seed}"

    @property
    def config_path(self) -> Path:
        return self.base / f"seed{self.spec.seed}.yaml"

    @property
    def record_path(self) -> Path:
        return self.base / f"seed{self.spec.seed}.json"

    @property
    def lock_dir(self) -> Path:
        """The folder whose :class:`~req_plugins.rundir.RunLock` a process training this run
        holds (hidden: left alone by ``seed*`` globs and by moving a run aside)."""
        return self.base / f".lock-seed{self.spec.seed}"

    @property
    def name(self) -> str:
        return f"runs/{self.base.name}/seed{self.spec.seed}"

    def has_results(self) -> bool:
        """A record or a checkpoint: something a rerun from scratch would throw away."""
        return self.record_path.is_file() or (self.run_dir / "checkpoints" / "last.ckpt").is_file()

    def changed(self) -> list[str] | None:
        """The keys that changed since this run was written (None: nothing written, or the same
        run)."""
        if not self.config_path.is_file():
            return None
        keys = changed_keys(identity(self.config_path.read_text()), identity(self.text))
        return keys or None


def plan_sweep(
    recipe: Recipe, scale: Scale, out_dir: Path, data_path: str | None
) -> list[PlannedRun]:
    """Every run of ``scale`` with its config (validated by req-train's loader)."""
    planned = []
    for spec in recipe.runs(scale):
        base = out_dir / "runs" / spec.run_id
        config, options = run_config(recipe, spec, base / f"seed{spec.seed}", data_path)
        run = PlannedRun(spec, base, config_text(config, _measured(scale, options)), options)
        identity(run.text)  # req-train's own validation (unknown keys, types) before any work
        planned.append(run)
    return planned


def changed_runs(planned: list[PlannedRun]) -> list[tuple[PlannedRun, list[str]]]:
    """Finished or interrupted runs whose config changed (what a rerun would replace)."""
    changed = []
    for run in planned:
        if run.has_results():
            keys = run.changed()
            if keys:
                changed.append((run, keys))
    return changed


def refuse_changed(changed: list[tuple[PlannedRun, list[str]]], out_dir: Path) -> None:
    lines = [f"  {run.name} (changed: {', '.join(keys)})" for run, keys in changed]
    raise ValueError(
        f"{len(changed)} finished or interrupted run(s) in {str(out_dir)!r} were trained with "
        "another config:\n" + "\n".join(lines) + "\nNothing was changed. Rerun with --retrain to "
        f"train them again (the old runs are moved to {str(out_dir / 'superseded')!r}), or choose "
        "another --out."
    )


def run_one(
    run: PlannedRun, scale: Scale, *, retrain: bool, superseded_dir: Path
) -> tuple[RunRecord, bool, Superseded | None]:
    """Train (or read back) one run; the caller holds its lock (``RunLock(run.lock_dir)``). Return
    its record, whether it was read back, and the old run moved aside for it (if any)."""
    from req_plugins.lightly.config import load_config
    from req_plugins.lightly.train import train

    spec, run_dir = run.spec, run.run_dir
    keys = run.changed()
    if keys is None and run.record_path.is_file():
        return RunRecord(**json.loads(run.record_path.read_text())), True, None
    moved = None
    if keys is not None and run.has_results():
        if not retrain:  # changed since the sweep's first check (another process)
            refuse_changed([(run, keys)], run.base.parents[1])
        moved = move_aside(run.base, spec.seed, superseded_dir, keys)
    resume = keys is None and (run_dir / "checkpoints" / "last.ckpt").is_file()
    if not resume:  # nothing of value left: at most a run that died before its first checkpoint
        run.record_path.unlink(missing_ok=True)
        if run_dir.exists():
            shutil.rmtree(run_dir)
    atomic_write_text(run.config_path, run.text)
    config = load_config(run.config_path, ["checkpoint.resume=last"] if resume else [])
    progress, timing, callbacks = recipe_callbacks(scale, config, run.options)
    results = train(config, callbacks=callbacks)
    results.pop("plots", None)
    extra = {"data_fraction": run.options.get("recipe.data_fraction", 1.0)}
    if timing is not None:
        extra.update(timing.timings)
    record = RunRecord(
        run_id=spec.run_id,
        labels=spec.labels,
        values=spec.values,
        seed=spec.seed,
        results=results,
        curve=progress.history,
        extra=extra,
        run_dir=str(run_dir),
    )
    for checkpoint in (run_dir / "checkpoints").glob("*.ckpt"):
        if checkpoint.name != "last.ckpt":  # keep last.ckpt for req-select, drop duplicates
            checkpoint.unlink()
    atomic_write_text(run.record_path, json.dumps(record.to_json(), indent=2, default=float))
    return record, False, moved


@dataclass
class SweepResult:
    """The records of a sweep's runs, in sweep order, and what the sweep could not do."""

    records: list[RunRecord]
    busy: list[tuple[str, int | None]]  # runs another process is training: (run, its pid)
    superseded: list[Superseded]


def _run_locked(run, scale, retrain, superseded_dir, log, prefix):
    """:func:`run_one` under the run's lock (raises ``RunLockedError`` while another holds it)."""
    with RunLock(run.lock_dir) as lock:
        if lock.stale_holder:
            log(f"{prefix}: taking over from process {lock.stale_holder}, which died")
        return run_one(run, scale, retrain=retrain, superseded_dir=superseded_dir)


def run_sweep(
    recipe: Recipe,
    scale: Scale,
    out_dir: Path,
    *,
    data_path: str | None = None,
    retrain: bool = False,
    verbose: bool = False,
    log=print,
) -> SweepResult:
    """Run (or resume) every run of ``scale``.

    Raises ``ValueError`` before training anything when a finished or interrupted run's
    config changed and ``retrain`` is false. Runs held by another process are skipped, then
    looked at again at the end: read back if it finished them, trained if it let go.
    """
    planned = plan_sweep(recipe, scale, out_dir, data_path)
    changed = changed_runs(planned)
    if changed and not retrain:
        refuse_changed(changed, out_dir)
    superseded_dir = supersede_folder(out_dir)
    result = SweepResult([], [], [])
    records: dict[int, RunRecord] = {}
    held: dict[int, int | None] = {}  # runs another process holds: index -> its pid
    with torch_threads(scale.torch_threads), quiet_lightning(verbose):
        # A second pass over the runs another process held: read back if it finished them
        # meanwhile, trained here if it let go unfinished; still held, they stay busy.
        for second_pass in (False, True):
            for index in list(held) if second_pass else range(len(planned)):
                run = planned[index]
                start = time.perf_counter()
                name = ", ".join(f"{k}={v}" for k, v in run.spec.labels.items())
                prefix = f"[{index + 1}/{len(planned)}] {name}, seed {run.spec.seed}"
                try:
                    record, reused, moved = _run_locked(
                        run, scale, retrain, superseded_dir, log, prefix
                    )
                except RunLockedError as error:
                    held[index] = error.holder
                    if not second_pass:
                        log(f"{prefix}: skipped, process {error.holder} is training it")
                    continue
                held.pop(index, None)
                if moved is not None:
                    result.superseded.append(moved)
                    log(f"{prefix}: config changed, old run moved to {moved.moved_to}")
                note = "read back" if reused else f"{time.perf_counter() - start:.1f} s"
                accuracy = record.results.get("linear_top1")
                shown = f", linear {100 * accuracy:.1f}%" if accuracy is not None else ""
                log(f"{prefix}: {note}{shown}")
                records[index] = record
    result.records = [records[index] for index in sorted(records)]
    result.busy = [(planned[index].name, holder) for index, holder in held.items()]
    return result
