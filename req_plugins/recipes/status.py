"""``req-recipes status``: which runs of a sweep are done, running, failed or still to train.

Read from the output folder alone (it never writes): a run is

* ``done``: its record ``runs/<run_id>/seed<k>.json`` is written (``changed`` if its config
  differs from the recipe's now, apart from where it ran: ``trainer.devices``,
  ``trainer.num_nodes``, ``trainer.strategy``);
* ``running``: a live process holds its folder's lock (the pid is shown);
* ``failed``: its last job left ``seed<k>.error`` (the error and the job's log are shown);
* ``interrupted``: it has a ``last.ckpt`` but no record (a relaunch resumes it);
* ``pending``: nothing of it is written yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from req_plugins.recipes.job import error_path, plan
from req_plugins.recipes.recipe import load_recipe
from req_plugins.rundir import lock_holder

STATES = ("done", "changed", "running", "failed", "interrupted", "pending")
#: Keys that say where a run ran, not what it trained (a launcher's placement).
_PLACEMENT = {"trainer.devices", "trainer.num_nodes", "trainer.strategy"}


@dataclass(frozen=True)
class RunStatus:
    run: str  # runs/<run_id>/seed<k>
    state: str
    detail: str = ""


def _failure(path: Path) -> str:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    log = lines[0].removeprefix("job log: ") if lines else ""
    error = lines[-1] if len(lines) > 1 else ""
    return f"{error}; log: {log}"


def sweep_status(
    name: str | Path,
    *,
    scale: str = "smoke",
    out_dir: str | Path,
    data_path: str | None = None,
    seeds: int | None = None,
) -> list[RunStatus]:
    """The state of every run of recipe ``name`` at ``scale`` in ``out_dir``, in sweep order."""
    recipe = load_recipe(name)
    if recipe.kind != "sweep":
        raise ValueError(f"recipe {recipe.name!r} is {recipe.kind}: it has no runs to show.")
    _, planned = plan(recipe, scale, Path(out_dir), seeds=seeds, data_path=data_path)
    statuses = []
    for run in planned:
        holder = lock_holder(run.lock_dir)
        if holder is not None:
            statuses.append(RunStatus(run.name, "running", f"process {holder or '?'}"))
        elif run.record_path.is_file():
            keys = [key for key in run.changed() or [] if key not in _PLACEMENT]
            if keys:
                statuses.append(RunStatus(run.name, "changed", f"changed: {', '.join(keys)}"))
            else:
                statuses.append(RunStatus(run.name, "done"))
        elif error_path(run).is_file():
            statuses.append(RunStatus(run.name, "failed", _failure(error_path(run))))
        elif (run.run_dir / "checkpoints" / "last.ckpt").is_file():
            statuses.append(RunStatus(run.name, "interrupted", "resumes from last.ckpt"))
        else:
            statuses.append(RunStatus(run.name, "pending"))
    return statuses


def status_table(statuses: list[RunStatus]) -> str:
    """The statuses as an aligned table and a count per state."""
    width = max([len("run")] + [len(status.run) for status in statuses])
    lines = [f"{'run':<{width}}  {'state':<11}  detail"]
    lines += [f"{s.run:<{width}}  {s.state:<11}  {s.detail}".rstrip() for s in statuses]
    counts = [
        f"{sum(s.state == state for s in statuses)} {state}"
        for state in STATES
        if any(s.state == state for s in statuses)
    ]
    lines.append(f"\n{len(statuses)} run(s): " + ", ".join(counts))
    return "\n".join(lines)
