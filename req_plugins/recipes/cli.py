"""``req-recipes``: list and run the paper-reproduction recipes.

Usage::

    req-recipes list
    req-recipes run NAME [--scale smoke|full|...] [--data PATH] [--seeds N] [--out DIR]

``run`` resumes a partly finished sweep in ``--out`` (default
``recipe_runs/NAME/SCALE``) and writes ``results.csv``, ``report.md`` and
``plots/*.png`` there. Bad recipes or arguments fail with exit status 2.
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
        from req_plugins.recipes.run import run_recipe

        command = "req-recipes " + shlex.join(sys.argv[1:] if argv is None else argv)
        output = run_recipe(
            args.name,
            scale=args.scale,
            out_dir=args.out,
            data_path=args.data,
            seeds=args.seeds,
            verbose=args.verbose,
            command=command,
        )
    except ValueError as error:
        print(f"req-recipes: error: {error}", file=sys.stderr)
        return 2
    for table in output.analysis.tables:
        print(f"\n{table.title}\n{markdown_table(table)}")
    for finding in output.analysis.findings:
        print(f"* {finding}")
    print(f"\nreport: {output.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
