"""Train a recipe's runs as separate jobs: several at a time on one machine, or on SLURM.

``req-recipes run NAME --launcher local --jobs N`` trains N runs at a time, each in its own
process (a submitit :class:`~submitit.LocalExecutor` job) pinned to its own GPUs
(``CUDA_VISIBLE_DEVICES``) or, on CPU, to ``cores // N`` torch threads.
``--launcher submitit`` submits one job per run to SLURM as a job array
(:meth:`submitit.AutoExecutor.map_array`); ``--cluster local|debug`` runs the same jobs on
this machine (for testing). Job logs go to ``OUT/.submitit/``.

A job's unit of work is :class:`req_plugins.recipes.job.RunJob`, "train run k of the plan if
it is not done": the same planned runs, identity, folder lock and resume as the sequential
runner. So a relaunch after a cancelled or failed job trains only the runs without a record, a
killed job's run resumes from its ``last.ckpt``, and two launchers on one output folder never
train the same run twice. A failed run leaves ``runs/<run_id>/seed<k>.error`` (its traceback
and job log), which ``req-recipes status`` shows. The report is written once every run has its
record, from the records in the run folders, by the same code as a sequential sweep
(:func:`req_plugins.recipes.run.finish_sweep`).

A run on several GPUs or nodes (``--gpus-per-run K --nodes M``) is one job of ``M`` nodes ×
``K`` tasks; the run's config gets ``trainer.devices: K``, ``trainer.num_nodes: M`` and
``trainer.strategy: ddp``, and Lightning's ``SLURMEnvironment`` reads ranks and the master
node from SLURM's variables. Rank 0 holds the lock and writes the run's files; the other
ranks join its training (:meth:`req_plugins.recipes.job.RunJob.follow`).
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from req_plugins.recipes.job import JobOutcome, RunJob

LOG_FOLDER = ".submitit"
CLUSTERS = ("slurm", "local", "debug")


@dataclass(frozen=True)
class LaunchSettings:
    """How ``req-recipes run --launcher ...`` places the runs (the CLI's options)."""

    launcher: str  # local | submitit
    jobs: int = 1  # local: runs at a time
    devices_per_run: int | None = None  # local: GPUs per run (None: 1 if CUDA is available)
    cluster: str = "slurm"  # submitit: slurm, or local / debug for testing
    time_min: int = 24 * 60
    gpus_per_run: int = 1
    nodes: int = 1
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    partition: str | None = None
    account: str | None = None
    constraint: str | None = None
    array_parallelism: int | None = None
    wait: bool = True

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad option (before anything is written)."""
        from req_plugins._validation import check_int

        if self.launcher not in ("local", "submitit"):
            raise ValueError(f"`--launcher` must be local or submitit, got {self.launcher!r}.")
        if self.cluster not in CLUSTERS:
            raise ValueError(
                f"`--cluster` must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}."
            )
        check_int(self.jobs, "--jobs", min_value=1)
        if self.devices_per_run is not None:
            check_int(self.devices_per_run, "--devices-per-run", min_value=0)
        check_int(self.time_min, "--time", min_value=1)
        check_int(self.gpus_per_run, "--gpus-per-run", min_value=0)
        check_int(self.nodes, "--nodes", min_value=1)
        for option, value in (
            ("--cpus-per-task", self.cpus_per_task),
            ("--array-parallelism", self.array_parallelism),
        ):
            if value is not None:
                check_int(value, option, min_value=1)
        if self.mem_gb is not None and not self.mem_gb > 0:
            raise ValueError(f"`--mem-gb` must be > 0, got {self.mem_gb}.")
        if self.nodes > 1 and self.cluster != "slurm":
            raise ValueError(
                f"`--nodes` {self.nodes}: several nodes need `--cluster slurm` "
                f"(got {self.cluster!r}, which runs on this machine)."
            )

    def overrides(self) -> dict[str, Any]:
        """The runs' placement settings (:func:`placement_overrides`)."""
        if self.launcher == "local":
            return placement_overrides(self.devices_per_run or 0)
        return placement_overrides(self.gpus_per_run, self.nodes)


def parse_time(text: str) -> int:
    """SLURM time limit ``MINUTES``, ``H:MM:SS`` or ``D-HH:MM[:SS]`` in whole minutes."""
    try:
        days, _, clock = text.rpartition("-")
        parts = [int(part) for part in clock.split(":")]
        if len(parts) == 1 and not days:
            minutes = parts[0]
        else:
            if len(parts) == 2 and days:
                parts.append(0)
            hours, mins, secs = ([0] * (3 - len(parts)) + parts)[-3:]
            minutes = (int(days or 0) * 24 + hours) * 60 + mins + (secs > 0)
    except ValueError:
        raise ValueError(
            f"`--time` must be MINUTES, H:MM:SS or D-HH:MM[:SS], got {text!r}."
        ) from None
    if minutes < 1:
        raise ValueError(f"`--time` must be at least one minute, got {text!r}.")
    return minutes


def placement_overrides(devices: int, nodes: int = 1) -> dict[str, Any]:
    """req-train settings of a run on ``devices`` processes per node × ``nodes`` (none for one
    process, so a one-device run is the sequential runner's run)."""
    if devices * nodes <= 1:
        return {}
    return {"trainer.devices": devices, "trainer.num_nodes": nodes, "trainer.strategy": "ddp"}


@dataclass(frozen=True)
class JobResult:
    """A finished job: its outcome, or the error it failed with and its log."""

    index: int
    run: str
    job_id: str
    log: str
    outcome: JobOutcome | None = None
    error: str = ""


def _last_error(message: str) -> str:
    """The exception line of submitit's failed-job message (its trace sits between two rules),
    or the message's first line (a job killed before it could report)."""
    parts = message.split("-" * 22)
    text = parts[1] if len(parts) >= 3 else message
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return message.strip() or "no message"
    return lines[-1] if len(parts) >= 3 else lines[0]


def _collect(index: int, name: str, job) -> JobResult:
    log = str(job.paths.stderr)
    try:
        outcomes = job.results()  # one per task: rank 0's is the run's
    except Exception as error:  # the job failed, was killed or cancelled
        return JobResult(index, name, job.job_id, log, error=_last_error(str(error)))
    return JobResult(index, name, job.job_id, log, outcome=outcomes[0])


def device_slots(jobs: int, devices_per_run: int, visible: int) -> list[tuple[int, ...]]:
    """The GPUs of each of ``jobs`` concurrent runs: ``devices_per_run`` consecutive ones each."""
    if jobs * devices_per_run > visible:
        raise ValueError(
            f"`--jobs` {jobs} × `--devices-per-run` {devices_per_run} needs "
            f"{jobs * devices_per_run} GPU(s); this machine has {visible}."
        )
    return [
        tuple(range(slot * devices_per_run, (slot + 1) * devices_per_run)) for slot in range(jobs)
    ]


def launch_local(
    job: RunJob,
    work: list[tuple[int, str]],
    *,
    slots: list[tuple[int, ...]],
    timeout_min: int,
    log=print,
    poll_s: float = 0.5,
) -> list[JobResult]:
    """Train ``work`` (``(plan index, run name)`` pairs), ``len(slots)`` runs at a time, each a
    submitit local job on its slot's GPUs (none: CPU, ``job.threads`` torch threads)."""
    import submitit

    executor = submitit.LocalExecutor(folder=Path(job.out_dir) / LOG_FOLDER / "%j")
    queue = collections.deque(work)
    running: dict[int, tuple[int, str, Any]] = {}
    results: list[JobResult] = []
    while queue or running:
        for slot, devices in enumerate(slots):
            if slot in running or not queue:
                continue
            index, name = queue.popleft()
            executor.update_parameters(
                timeout_min=timeout_min,
                gpus_per_node=len(devices),
                visible_gpus=devices,
                tasks_per_node=max(1, len(devices)),
            )
            submitted = executor.submit(job, index)
            running[slot] = (index, name, submitted)
            where = f"GPU(s) {','.join(map(str, devices))}" if devices else "CPU"
            log(f"{name}: job {submitted.job_id} started on {where}")
        time.sleep(poll_s)
        for slot, (index, name, submitted) in list(running.items()):
            if submitted.done():
                results.append(_collect(index, name, submitted))
                log(describe(results[-1]))
                del running[slot]
    return sorted(results, key=lambda result: result.index)


def submitit_parameters(
    *,
    name: str,
    time_min: int,
    gpus_per_run: int,
    nodes: int,
    cpus_per_task: int | None = None,
    mem_gb: float | None = None,
    partition: str | None = None,
    account: str | None = None,
    constraint: str | None = None,
    array_parallelism: int | None = None,
) -> dict[str, Any]:
    """:meth:`submitit.AutoExecutor.update_parameters` arguments of one job per run: ``nodes``
    nodes × one task per GPU (Lightning's SLURM launch: ``srun`` starts every rank)."""
    parameters: dict[str, Any] = {
        "name": name,
        "timeout_min": time_min,
        "nodes": nodes,
        "tasks_per_node": max(1, gpus_per_run),
        "gpus_per_node": gpus_per_run,
        "cpus_per_task": cpus_per_task,
        "mem_gb": mem_gb,
        "slurm_partition": partition,
        "slurm_account": account,
        "slurm_constraint": constraint,
        "slurm_array_parallelism": array_parallelism,
    }
    return {key: value for key, value in parameters.items() if value is not None}


def launch_submitit(
    job: RunJob,
    work: list[tuple[int, str]],
    *,
    cluster: str,
    parameters: dict[str, Any],
    wait: bool = True,
    log=print,
) -> list[JobResult]:
    """Submit one job per run of ``work`` as an array; wait for them unless ``not wait``."""
    import submitit

    executor = submitit.AutoExecutor(folder=Path(job.out_dir) / LOG_FOLDER / "%j", cluster=cluster)
    executor.update_parameters(**parameters)
    jobs = executor.map_array(job, [index for index, _ in work])
    for (_, name), submitted in zip(work, jobs, strict=True):
        log(f"{name}: job {submitted.job_id} submitted ({cluster})")
    if not wait:
        return []
    results = []
    for (index, name), submitted in zip(work, jobs, strict=True):
        results.append(_collect(index, name, submitted))
        log(describe(results[-1]))
    return results


def describe(result: JobResult) -> str:
    """One line on a finished job."""
    if result.outcome is None:
        return f"{result.run}: FAILED ({result.error}); log: {result.log}"
    outcome = result.outcome
    if outcome.state == "busy":
        return f"{result.run}: skipped, process {outcome.holder} is training it"
    note = f"{outcome.state}, {outcome.seconds:.1f} s"
    if outcome.linear_top1 is not None:
        note += f", linear {100 * outcome.linear_top1:.1f}%"
    return f"{result.run}: {note} (job {result.job_id})"


def cpu_budget(jobs: int) -> int:
    """Torch threads of each of ``jobs`` concurrent CPU runs: this process's cores // jobs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // jobs)
