"""``req-recipes``: list and run the paper-reproduction recipes.

Usage::

    req-recipes list
    req-recipes run NAME [--scale smoke|full|...] [--data PATH] [--seeds N] [--out DIR]
                         [--retrain] [--dry-run]

``run`` resumes a partly finished sweep in ``--out`` (default
``recipe_runs/NAME/SCALE``) and writes ``results.csv``, ``report.md`` and
``plots/*.png`` there. A finished or interrupted run whose config changed is
refused (exit 2, nothing changed) unless ``--retrain``, which moves the old run
to ``superseded/``. ``--dry-run`` builds every arm of the scale on a synthetic
stand-in of its dataset and trains each for two steps (:mod:`req_plugins.recipes.dry_run`).
Bad recipes or arguments fail with exit status 2, before any training.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="req-recipes",
        description="Reproduce the papers' tables: run a recipe's sweep through req-train and "
        "write a paper-vs-ours report with plots.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the recipes, their paper source and scales")
    export = commands.add_parser(
        "export-solo",
        help="copy the solo-learn configs into DIR (for solo-learn's own main_pretrain.py)",
    )
    export.add_argument("dir", metavar="DIR", help="a new or empty folder")
    run = commands.add_parser("run", help="run (or resume) a recipe and write its report")
    run.add_argument("name", metavar="NAME", help="a recipe name (see `list`) or a YAML path")
    run.add_argument(
        "--scale",
        default="smoke",
        help="smoke (CPU, minutes, embedded digits), full (the paper's setting), "
        "or another scale the recipe defines; default smoke",
    )
    run.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="dataset folder for the full scale (sets data.path)",
    )
    run.add_argument(
        "--seeds", type=int, default=None, help="number of seeds (default: the scale's)"
    )
    run.add_argument(
        "--out", metavar="DIR", default=None, help="output folder (default: recipe_runs/NAME/SCALE)"
    )
    run.add_argument(
        "--retrain",
        action="store_true",
        help="retrain finished or interrupted runs whose config changed; the old runs are "
        "moved to OUT/superseded/ (without it such a change is refused)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="build every arm of the scale as a real run does, on a synthetic stand-in of the "
        "dataset, and train each for 2 steps plus the evaluation; writes nothing to --out",
    )
    run.add_argument("--verbose", action="store_true", help="show Lightning's output")
    return parser


def _list() -> str:
    from req_plugins.recipes.recipe import list_recipes, list_solo_recipes, load_recipe

    lines = []
    for name in list_recipes():
        recipe = load_recipe(name)
        scales = ", ".join(recipe.scales)
        lines.append(
            f"{name}\n    {recipe.title}\n    dataset: {recipe.paper['dataset']}; scales: {scales}"
        )
    lines.append("\nsolo-learn configs (req-solo-pretrain --config-name NAME; export-solo DIR):")
    lines += [f"    {name}" for name in list_solo_recipes()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print(_list())
            return 0
        if args.command == "export-solo":
            from req_plugins.recipes.recipe import export_solo_recipes

            print(f"solo-learn configs copied to {export_solo_recipes(args.dir)}")
            return 0
        from req_plugins.recipes.report import markdown_table
        from req_plugins.recipes.run import dry_run_recipe, run_recipe

        if args.dry_run:
            outcomes = dry_run_recipe(args.name, scale=args.scale)
            print(f"dry run: {len(outcomes)} arm(s) built and trained briefly, nothing written")
            return 0
        command = "req-recipes " + shlex.join(sys.argv[1:] if argv is None else argv)
        output = run_recipe(
            args.name,
            scale=args.scale,
            out_dir=args.out,
            data_path=args.data,
            seeds=args.seeds,
            retrain=args.retrain,
            verbose=args.verbose,
            command=command,
        )
    except ValueError as error:
        print(f"req-recipes: error: {error}", file=sys.stderr)
        return 2
    if output.busy:
        holders = sorted({str(pid) for _, pid in output.busy})
        print(
            f"\n{len(output.busy)} run(s) are being trained by process(es) {', '.join(holders)} "
            f"on {output.out_dir}; report not written. Run the same command again once they "
            "finish."
        )
        return 0
    for table in output.analysis.tables:
        print(f"\n{table.title}\n{markdown_table(table)}")
    for finding in output.analysis.findings:
        print(f"* {finding}")
    for old in output.superseded:
        print(f"superseded: {old.run} -> {old.moved_to}")
    print(f"\nreport: {output.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
