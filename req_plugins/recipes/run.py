"""Run one recipe at one scale and write its report (what ``req-recipes run`` does)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from req_plugins.recipes.analyses import Analysis, analyse
from req_plugins.recipes.recipe import Recipe, Scale, load_recipe
from req_plugins.recipes.report import write_report


@dataclass
class RecipeOutput:
    recipe: Recipe
    scale: Scale
    analysis: Analysis
    out_dir: Path
    report: Path


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


def run_recipe(
    name: str | Path,
    *,
    scale: str = "smoke",
    out_dir: str | Path | None = None,
    data_path: str | None = None,
    seeds: int | None = None,
    verbose: bool = False,
    log=print,
    command: str = "",
) -> RecipeOutput:
    """Run (or resume) recipe ``name`` at ``scale``; write results.csv, report.md and plots."""
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
    records = run_sweep(recipe, chosen, out, data_path=data_path, verbose=verbose, log=log)
    analysis = analyse(recipe, chosen, records)
    report = write_report(
        recipe,
        chosen,
        analysis,
        out,
        records=records,
        setting=setting,
        runtime_s=time.perf_counter() - start,
        command=command,
    )
    return RecipeOutput(recipe, chosen, analysis, out, report)
