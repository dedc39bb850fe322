"""One job of a launched sweep: train run k of the plan if it is not done.

:class:`RunJob` plans the sweep exactly as the sequential runner does
(:func:`req_plugins.recipes.runner.plan_sweep`: same run identity, folders and configs) and
trains run ``k`` with :func:`req_plugins.recipes.runner.run_one` under the run folder's lock
(:class:`req_plugins.rundir.RunLock`). A run that fails leaves ``runs/<run_id>/seed<k>.error``
(its traceback and the job's log path) for ``req-recipes status``; a finished run removes it.
In a job of several tasks (one run on several GPUs or nodes), rank 0 does all of that and the
other ranks join its training (:meth:`RunJob.follow`).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from req_plugins.recipes.identity import Superseded
from req_plugins.recipes.recipe import Recipe, Scale, load_recipe

#: How long the other ranks of a multi-process run wait for rank 0 to write the run's config.
FOLLOW_TIMEOUT_S = 600.0


def error_path(run) -> Path:
    """``runs/<run_id>/seed<k>.error``: the traceback of the run's last failed job."""
    return run.base / f"seed{run.spec.seed}.error"


def plan(
    recipe: Recipe,
    scale: str,
    out_dir: Path,
    *,
    seeds: int | None = None,
    data_path: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[Scale, list]:
    """``(scale, planned runs)`` of a sweep, as the sequential runner plans it (plus the
    launcher's placement ``overrides``)."""
    from req_plugins.recipes.runner import plan_sweep

    chosen = recipe.scale(scale, seeds=seeds)
    if overrides:
        chosen = dataclasses.replace(chosen, overrides={**chosen.overrides, **overrides})
    return chosen, plan_sweep(recipe, chosen, out_dir, data_path)


@dataclass(frozen=True)
class JobOutcome:
    """What one job did: ``state`` is ``trained``, ``read back``, ``busy`` (another process
    holds the run) or ``joined`` (a rank > 0 of a multi-process run)."""

    run: str
    state: str
    seconds: float = 0.0
    holder: int | None = None
    superseded: Superseded | None = None
    linear_top1: float | None = None


def _task() -> tuple[int, int, str, str]:
    """``(global rank, tasks, cluster, log path)`` of the submitit job running this process."""
    try:
        import submitit

        env = submitit.JobEnvironment()
    except (ImportError, RuntimeError):  # called outside a submitit job
        return 0, 1, "", ""
    return env.global_rank, env.num_tasks, env.cluster, str(env.paths.stderr)


@dataclass(frozen=True)
class RunJob:
    """Train run ``index`` of the plan if it is not done (a job's unit of work, picklable)."""

    recipe: str  # the recipe's YAML path
    scale: str
    out_dir: str
    superseded_dir: str
    seeds: int | None = None
    data_path: str | None = None
    retrain: bool = False
    threads: int | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    verbose: bool = False
    runs: tuple[str, ...] = ()  # the plan's run names when submitted (a queued job checks them)

    def planned(self) -> tuple[Scale, list]:
        recipe = load_recipe(self.recipe)
        return plan(
            recipe,
            self.scale,
            Path(self.out_dir),
            seeds=self.seeds,
            data_path=self.data_path,
            overrides=dict(self.overrides),
        )

    def __call__(self, index: int) -> JobOutcome:
        from req_plugins.modes import torch_threads
        from req_plugins.recipes.run_context import quiet_lightning
        from req_plugins.recipes.runner import run_one
        from req_plugins.rundir import RunLock, RunLockedError, atomic_write_text

        scale, planned = self.planned()
        if self.runs and tuple(run.name for run in planned) != self.runs:
            raise ValueError(
                f"recipe {self.recipe!r} plans other runs than when this job was submitted "
                "(the file changed); nothing was trained. Launch the sweep again."
            )
        run = planned[index]
        rank, tasks, cluster, log_path = _task()
        if tasks > 1 and cluster == "local":  # SLURM's variables are read by Lightning itself
            from submitit.helpers import TorchDistributedEnvironment

            TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        threads = scale.torch_threads
        if self.threads is not None:
            threads = min(threads or self.threads, self.threads)
        start = time.perf_counter()
        with torch_threads(threads), quiet_lightning(self.verbose):
            if rank > 0:
                return self.follow(run, scale)
            try:
                with RunLock(run.lock_dir):
                    try:
                        record, reused, moved = run_one(
                            run,
                            scale,
                            retrain=self.retrain,
                            superseded_dir=Path(self.superseded_dir),
                        )
                    except Exception:
                        atomic_write_text(
                            error_path(run),
                            f"job log: {log_path or '(not a submitit job)'}\n"
                            + traceback.format_exc(),
                        )
                        raise
                    error_path(run).unlink(missing_ok=True)
            except RunLockedError as error:
                return JobOutcome(run.name, "busy", holder=error.holder)
        return JobOutcome(
            run.name,
            "read back" if reused else "trained",
            time.perf_counter() - start,
            superseded=moved,
            linear_top1=record.results.get("linear_top1"),
        )

    def follow(self, run, scale: Scale) -> JobOutcome:
        """A rank > 0 of a multi-process run: wait for rank 0 to write the run's config, then
        join its training (rank 0 decides resume-or-fresh before writing the config, and its
        decision is what the files say once the config is there)."""
        from req_plugins.lightly.config import load_config
        from req_plugins.lightly.train import train
        from req_plugins.recipes.callbacks import recipe_callbacks

        deadline = time.monotonic() + FOLLOW_TIMEOUT_S
        while not (run.config_path.is_file() and run.config_path.read_text() == run.text):
            if time.monotonic() > deadline:
                raise TimeoutError(f"rank 0 did not write {run.config_path} within the timeout")
            time.sleep(1.0)
        if run.record_path.is_file():
            return JobOutcome(run.name, "read back")
        resume = (run.run_dir / "checkpoints" / "last.ckpt").is_file()
        config = load_config(run.config_path, ["checkpoint.resume=last"] if resume else [])
        _, _, callbacks = recipe_callbacks(scale, config, run.options)
        train(config, callbacks=callbacks)
        return JobOutcome(run.name, "joined")
