"""Write a recipe's ``results.csv``, ``curves.csv``, ``table.csv``, ``report.md`` and PNG plots."""

from __future__ import annotations

import csv
import datetime
import math
from pathlib import Path
from typing import Any

from req_plugins.recipes.analyses.types import Analysis, Table
from req_plugins.recipes.identity import Superseded
from req_plugins.recipes.recipe import Recipe, Scale
from req_plugins.recipes.runner import RunRecord
from req_plugins.rundir import atomic_open, atomic_write_text


def markdown_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows
    ]
    return "\n".join(lines)


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(value) for key, value in row.items()})
    return path


def record_rows(recipe: Recipe, scale: Scale, records: list[RunRecord]) -> list[dict[str, Any]]:
    """One ``results.csv`` row per run: axis labels, values run, seed, final results, timings."""
    rows = []
    for record in records:
        row: dict[str, Any] = {"recipe": recipe.name, "scale": scale.name, "run": record.run_id}
        row.update(record.labels)
        row.update({f"ran_{k}": v for k, v in record.values.items() if v != record.labels[k]})
        row["seed"] = record.seed
        row.update({k: v for k, v in record.results.items() if not isinstance(v, (list, dict))})
        if record.curve:
            row["final_ssl_loss"] = record.curve[-1]["ssl_loss"]
        for key, value in record.extra.items():
            if isinstance(value, list):
                row[f"{key}_mean"] = sum(value) / len(value) if value else float("nan")
            else:
                row[key] = value
        row["run_dir"] = record.run_dir
        rows.append(row)
    return rows


def curve_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    return [
        {"run": r.run_id, **r.labels, "seed": r.seed, **entry} for r in records for entry in r.curve
    ]


def write_report(
    recipe: Recipe,
    scale: Scale,
    analysis: Analysis,
    out_dir: Path,
    *,
    records: list[RunRecord] | None = None,
    results: list[dict[str, Any]] | None = None,
    setting: str = "",
    runtime_s: float | None = None,
    command: str = "",
    superseded: list[Superseded] = (),
) -> Path:
    """Write every output file of a recipe run into ``out_dir``; return ``report.md``'s path.

    Sweeps pass their ``records``; other kinds pass ready ``results`` rows for
    ``results.csv``; ``superseded`` lists the old runs this invocation moved aside. Every
    file is written atomically (a temporary file renamed over the old one).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    if records is not None:
        results = record_rows(recipe, scale, records)
        curves = curve_rows(records)
        if curves:
            write_csv(out_dir / "curves.csv", curves)
    write_csv(out_dir / "results.csv", results or [])
    write_csv(
        out_dir / "table.csv", [dict(row, table=t.title) for t in analysis.tables for row in t.data]
    )
    plot_paths = []
    for name, draw in analysis.plots.items():
        draw(plots_dir / name)  # each plot is saved atomically (req_plugins.plotting)
        plot_paths.append(plots_dir / name)

    paper = recipe.paper
    lines = [
        f"# {recipe.title}",
        "",
        f"Recipe `{recipe.name}` at scale **{scale.name}**"
        + (f" ({scale.description})" if scale.description else "")
        + f", {scale.seeds} seed(s). Generated {datetime.datetime.now():%Y-%m-%d %H:%M}"
        + (f" (this invocation: {runtime_s / 60:.1f} min)" if runtime_s is not None else "")
        + ".",
        "",
        f"* **Paper**: {paper['source']}",
        f"* **Paper's dataset**: {paper['dataset']}",
        f"* **Paper's setting**: {paper['setting']}",
    ]
    if paper.get("finding"):
        lines.append(f"* **Paper's finding**: {paper['finding']}")
    if setting:
        lines.append(f"* **This run**: {setting}")
    if command:
        lines.append(f"* **Command**: `{command}`")
    if records is not None and scale.name != "full":
        lines += [
            "",
            "> Not the paper's setting: this scale runs a small model on a small dataset for a "
            "few epochs, so *ours − paper* compares different experiments. It checks the "
            "pipeline end to end; `--scale full` runs the paper's setting.",
        ]
    if superseded:
        lines += ["", "## Superseded runs", ""]
        lines += [
            f"* `{old.run}`: its config changed ({', '.join(f'`{k}`' for k in old.keys)}); "
            f"the old run was moved to `{old.moved_to}`."
            for old in superseded
        ]
    if recipe.notes:
        lines += ["", recipe.notes.strip()]
    for table in analysis.tables:
        lines += ["", f"## {table.title}", "", markdown_table(table)]
    if analysis.findings:
        lines += ["", "## What we measured", ""] + [f"* {finding}" for finding in analysis.findings]
    if plot_paths:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}](plots/{p.name})" for p in plot_paths]
    lines += [
        "",
        "## Files",
        "",
        "* `results.csv` — one row per run (and seed)"
        + (", `curves.csv` — per-epoch time, SSL loss and accuracy" if records else "")
        + ", `table.csv` — the numbers of the tables above.",
        "",
    ]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report
