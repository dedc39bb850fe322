"""Run one recipe at one scale and write its report (what ``req-recipes run`` does)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from req_plugins.recipes.analyses import Analysis, analyse
from req_plugins.recipes.identity import Superseded
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

    setting = _describe_sweep(recipe, chosen, data_path)
    sweep = run_sweep(
        recipe, chosen, out, data_path=data_path, retrain=retrain, verbose=verbose, log=log
    )
    if sweep.busy:
        return RecipeOutput(recipe, chosen, None, out, None, sweep.busy, sweep.superseded)
    analysis = analyse(recipe, chosen, sweep.records)
    report = write_report(
        recipe,
        chosen,
        analysis,
        out,
        records=sweep.records,
        setting=setting,
        runtime_s=time.perf_counter() - start,
        command=command,
        superseded=sweep.superseded,
    )
    return RecipeOutput(recipe, chosen, analysis, out, report, [], sweep.superseded)
