"""Run one recipe at one scale and write its report (what ``req-recipes run`` does)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from req_plugins.recipes.analyses import Analysis, analyse
from req_plugins.recipes.identity import Superseded, supersede_folder
from req_plugins.recipes.recipe import Recipe, Scale, load_recipe
from req_plugins.recipes.report import write_report


@dataclass
class RecipeOutput:
    recipe: Recipe
    scale: Scale
    analysis: Analysis | None  # None when runs were left to another process (``busy``)
    out_dir: Path
    report: Path | None
    busy: list[tuple[str, int | None]] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    failed: list = field(default_factory=list)  # launched jobs that failed (JobResult)
    missing: list[str] = field(default_factory=list)  # runs without a record (not waited for)


def default_out_dir(recipe: Recipe, scale: str) -> Path:
    return Path("recipe_runs") / recipe.name / scale


def _describe_sweep(recipe: Recipe, scale: Scale, data_path: str | None) -> str:
    """The settings shared by the sweep's runs, in words (from its first run's config)."""
    from req_plugins.recipes.runner import run_config

    config, options = run_config(recipe, recipe.runs(scale)[0], Path("."), data_path)
    data, backbone, trainer = (
        config.get("data", {}),
        config.get("backbone", {}),
        config.get("trainer", {}),
    )
    evaluation = config.get("eval", {})
    backbone_name = backbone.get("name", "resnet18")
    if backbone_name == "small_cnn":
        backbone_name += f" (width {backbone.get('width', 32)})"
    parts = [
        f"data `{data.get('name', 'digits')}`"
        + (f" at `{data['path']}`" if data.get("path") else ""),
        f"backbone `{backbone_name}`",
        f"{trainer.get('max_epochs', 100)} epochs",
        f"batch {data.get('batch_size', 256)}",
        f"optimizer {config.get('optimizer', {}).get('name', 'adam')} "
        f"lr {config.get('optimizer', {}).get('lr', 1e-3)}",
        f"linear probe {evaluation.get('linear_epochs', 100)} epochs on frozen features",
    ]
    progress = scale.progress or {}
    if progress.get("metric", "none") != "none":
        parts.append(
            f"accuracy curve: {progress['metric']} every "
            f"{progress.get('every_n_epochs', 1)} epoch(s)"
        )
    if scale.torch_threads:
        parts.append(f"{scale.torch_threads} torch thread(s)")
    return ", ".join(parts)


def dry_run_recipe(name: str | Path, *, scale: str = "full", log=print) -> list:
    """Build every arm of recipe ``name`` at ``scale`` and train it briefly on a synthetic
    stand-in of its dataset (:mod:`req_plugins.recipes.dry_run`); stepwise recipes run whole
    (they are small)."""
    recipe = load_recipe(name)
    chosen = recipe.scale(scale, seeds=1)
    if recipe.kind == "stepwise":
        from req_plugins.recipes.stepwise import run_stepwise

        start = time.perf_counter()
        result = run_stepwise(**chosen.params)
        log(f"{recipe.name}: stepwise model integrated, {time.perf_counter() - start:.1f} s")
        return [result]
    from req_plugins.recipes.dry_run import dry_run_sweep

    return dry_run_sweep(recipe, chosen, log=log)


def run_recipe(
    name: str | Path,
    *,
    scale: str = "smoke",
    out_dir: str | Path | None = None,
    data_path: str | None = None,
    seeds: int | None = None,
    retrain: bool = False,
    verbose: bool = False,
    log=print,
    command: str = "",
) -> RecipeOutput:
    """Run (or resume) recipe ``name`` at ``scale``; write results.csv, report.md and plots.

    A finished or interrupted run whose config changed raises ``ValueError`` before any
    training unless ``retrain`` (then it is moved aside, see
    :mod:`req_plugins.recipes.identity`). When another process holds some runs, they are
    skipped and no report is written (``RecipeOutput.busy``).
    """
    recipe = load_recipe(name)
    chosen = recipe.scale(scale, seeds=seeds)
    out = Path(out_dir) if out_dir is not None else default_out_dir(recipe, scale)
    start = time.perf_counter()
    if recipe.kind == "stepwise":
        from req_plugins.recipes.stepwise import run_stepwise, stepwise_analysis

        result = run_stepwise(**chosen.params)
        analysis = stepwise_analysis(recipe, chosen, result)
        setting = ", ".join(f"{k}={v}" for k, v in chosen.params.items())
        report = write_report(
            recipe,
            chosen,
            analysis,
            out,
            results=analysis.tables[0].data,
            setting=setting,
            runtime_s=time.perf_counter() - start,
            command=command,
        )
        return RecipeOutput(recipe, chosen, analysis, out, report)

    from req_plugins.recipes.runner import run_sweep

    sweep = run_sweep(
        recipe, chosen, out, data_path=data_path, retrain=retrain, verbose=verbose, log=log
    )
    if sweep.busy:
        return RecipeOutput(recipe, chosen, None, out, None, sweep.busy, sweep.superseded)
    return write_sweep_report(
        recipe, chosen, out, sweep.records, data_path, start, command, sweep.superseded
    )


def write_sweep_report(
    recipe: Recipe,
    chosen: Scale,
    out: Path,
    records: list,
    data_path: str | None,
    start: float,
    command: str,
    superseded: list[Superseded],
) -> RecipeOutput:
    """Analyse a sweep's records and write its report (sequential and launched sweeps alike)."""
    analysis = analyse(recipe, chosen, records)
    report = write_report(
        recipe,
        chosen,
        analysis,
        out,
        records=records,
        setting=_describe_sweep(recipe, chosen, data_path),
        runtime_s=time.perf_counter() - start,
        command=command,
        superseded=superseded,
    )
    return RecipeOutput(recipe, chosen, analysis, out, report, [], superseded)


def finish_sweep(
    recipe: Recipe,
    chosen: Scale,
    out: Path,
    planned: list,
    *,
    data_path: str | None,
    start: float,
    command: str,
    superseded: list[Superseded] = (),
    busy: list[tuple[str, int | None]] = (),
    failed: list = (),
) -> RecipeOutput:
    """Write the report of a launched sweep from the records in its run folders, once every run
    has one; otherwise say which runs are busy, failed or missing and write nothing."""
    from req_plugins.recipes.runner import RunRecord

    missing = [run.name for run in planned if not run.record_path.is_file()]
    if busy or failed or missing:
        return RecipeOutput(
            recipe, chosen, None, out, None, list(busy), list(superseded), list(failed), missing
        )
    records = [RunRecord(**json.loads(run.record_path.read_text())) for run in planned]
    return write_sweep_report(
        recipe, chosen, out, records, data_path, start, command, list(superseded)
    )


def launch_recipe(
    name: str | Path,
    settings,
    *,
    scale: str = "smoke",
    out_dir: str | Path | None = None,
    data_path: str | None = None,
    seeds: int | None = None,
    retrain: bool = False,
    verbose: bool = False,
    log=print,
    command: str = "",
) -> RecipeOutput:
    """Run (or resume) recipe ``name``'s sweep as separate jobs placed by ``settings``
    (:class:`req_plugins.recipes.launch.LaunchSettings`), then write its report as
    :func:`run_recipe` does.

    Only runs without a record (and not held by another process) are submitted. Bad options,
    a stepwise recipe or a changed config raise ``ValueError`` before anything is written.
    """
    from req_plugins.recipes import launch
    from req_plugins.recipes.job import RunJob, plan
    from req_plugins.recipes.runner import changed_runs, refuse_changed
    from req_plugins.rundir import lock_holder

    settings.check()
    recipe = load_recipe(name)
    if recipe.kind != "sweep":
        raise ValueError(
            f"`--launcher`: recipe {recipe.name!r} is {recipe.kind}, not a sweep of training "
            "runs; run it without --launcher."
        )
    threads, slots = None, [()] * settings.jobs
    if settings.launcher == "local":
        import torch

        devices = settings.devices_per_run
        if devices is None:
            devices = 1 if torch.cuda.is_available() else 0
        if devices:
            slots = launch.device_slots(settings.jobs, devices, torch.cuda.device_count())
        else:
            threads = launch.cpu_budget(settings.jobs)
    out = Path(out_dir) if out_dir is not None else default_out_dir(recipe, scale)
    chosen, planned = plan(
        recipe, scale, out, seeds=seeds, data_path=data_path, overrides=settings.overrides()
    )
    changed = changed_runs(planned)
    if changed and not retrain:
        refuse_changed(changed, out)
    start = time.perf_counter()
    busy, work = [], []
    for index, run in enumerate(planned):
        holder = lock_holder(run.lock_dir)
        if holder is not None:
            busy.append((run.name, holder))
            log(f"{run.name}: skipped, process {holder} is training it")
        elif not (run.record_path.is_file() and run.changed() is None):
            work.append((index, run.name))
    log(f"{len(planned)} run(s): {len(planned) - len(work) - len(busy)} done, {len(work)} to train")
    job = RunJob(
        recipe=str(Path(recipe.path).resolve()),
        scale=scale,
        out_dir=str(out.resolve()),
        superseded_dir=str(supersede_folder(out).resolve()),
        seeds=seeds,
        data_path=data_path,
        retrain=retrain,
        threads=threads,
        overrides=tuple(settings.overrides().items()),
        verbose=verbose,
        runs=tuple(run.name for run in planned),
    )
    results = []
    if work and settings.launcher == "local":
        results = launch.launch_local(
            job, work, slots=slots, timeout_min=settings.time_min, log=log
        )
    elif work:
        parameters = launch.submitit_parameters(
            name=f"req-{recipe.name}",
            time_min=settings.time_min,
            gpus_per_run=settings.gpus_per_run,
            nodes=settings.nodes,
            cpus_per_task=settings.cpus_per_task,
            mem_gb=settings.mem_gb,
            partition=settings.partition,
            account=settings.account,
            constraint=settings.constraint,
            array_parallelism=settings.array_parallelism,
        )
        results = launch.launch_submitit(
            job, work, cluster=settings.cluster, parameters=parameters, wait=settings.wait, log=log
        )
    outcomes = [result.outcome for result in results if result.outcome is not None]
    busy += [(outcome.run, outcome.holder) for outcome in outcomes if outcome.state == "busy"]
    return finish_sweep(
        recipe,
        chosen,
        out,
        planned,
        data_path=data_path,
        start=start,
        command=command,
        superseded=[outcome.superseded for outcome in outcomes if outcome.superseded],
        busy=busy,
        failed=[result for result in results if result.outcome is None],
    )
