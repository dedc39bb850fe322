"""``req-recipes``: list and run the paper-reproduction recipes.

Usage::

    req-recipes list
    req-recipes run NAME [--scale smoke|full|...] [--data PATH] [--seeds N] [--out DIR]
                         [--retrain] [--dry-run]
                         [--launcher local --jobs N [--devices-per-run K]]
                         [--launcher submitit [--cluster slurm|local|debug] [--partition P]
                          [--time T] [--gpus-per-run K] [--nodes M] [--cpus-per-task C]
                          [--mem-gb G] [--account A] [--constraint C]
                          [--array-parallelism J] [--no-wait]]
    req-recipes status NAME [--scale SCALE] [--out DIR]

``run`` resumes a partly finished sweep in ``--out`` (default
``recipe_runs/NAME/SCALE``) and writes ``results.csv``, ``report.md`` and
``plots/*.png`` there. A finished or interrupted run whose config changed is
refused (exit 2, nothing changed) unless ``--retrain``, which moves the old run
to ``superseded/``. ``--dry-run`` builds every arm of the scale on a synthetic
stand-in of its dataset and trains each for two steps (:mod:`req_plugins.recipes.dry_run`).
Bad recipes or arguments fail with exit status 2, before any training.

``run --launcher local --jobs N`` trains N runs at a time as separate processes;
``run --launcher submitit`` submits one SLURM job per run (:mod:`req_plugins.recipes.launch`).
``status NAME --out DIR`` shows which runs are done, running, failed or pending
(:mod:`req_plugins.recipes.status`).
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
    _launcher_arguments(run)
    status = commands.add_parser(
        "status", help="show which runs of a sweep are done, running, failed or pending"
    )
    status.add_argument("name", metavar="NAME", help="a recipe name (see `list`) or a YAML path")
    status.add_argument("--scale", default="smoke", help="the scale run (default smoke)")
    status.add_argument("--out", metavar="DIR", default=None, help="the sweep's output folder")
    status.add_argument("--data", metavar="PATH", default=None, help="as given to `run`")
    status.add_argument("--seeds", type=int, default=None, help="as given to `run`")
    return parser


#: Options of each launcher (argparse dest -> flag); given with another launcher they are refused.
_LOCAL_OPTIONS = {"jobs": "--jobs", "devices_per_run": "--devices-per-run"}
_SUBMITIT_OPTIONS = {
    "cluster": "--cluster",
    "partition": "--partition",
    "time": "--time",
    "gpus_per_run": "--gpus-per-run",
    "nodes": "--nodes",
    "cpus_per_task": "--cpus-per-task",
    "mem_gb": "--mem-gb",
    "account": "--account",
    "constraint": "--constraint",
    "array_parallelism": "--array-parallelism",
    "no_wait": "--no-wait",
}


def _launcher_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group(
        "launchers",
        "train the runs as separate jobs (docs: Running a full sweep on a cluster); the report "
        "is written once every run has its record",
    )
    group.add_argument(
        "--launcher",
        choices=("local", "submitit"),
        default=None,
        help="local: --jobs runs at a time on this machine; submitit: one SLURM job per run "
        "(a job array)",
    )
    group.add_argument("--jobs", type=int, default=None, help="local: runs at a time (default 1)")
    group.add_argument(
        "--devices-per-run",
        type=int,
        default=None,
        help="local: GPUs per run (default 1 with CUDA, else 0: CPU, cores // jobs threads)",
    )
    group.add_argument(
        "--cluster",
        choices=("slurm", "local", "debug"),
        default=None,
        help="submitit: slurm (default), or local / debug to run the jobs here (testing)",
    )
    group.add_argument("--partition", default=None, help="submitit: SLURM partition")
    group.add_argument(
        "--time", default=None, help="submitit: time limit per run, MINUTES or D-HH:MM:SS"
    )
    group.add_argument(
        "--gpus-per-run", type=int, default=None, help="submitit: GPUs per node of a run (1)"
    )
    group.add_argument("--nodes", type=int, default=None, help="submitit: nodes per run (1)")
    group.add_argument("--cpus-per-task", type=int, default=None, help="submitit: CPUs per GPU")
    group.add_argument("--mem-gb", type=float, default=None, help="submitit: memory per node")
    group.add_argument("--account", default=None, help="submitit: SLURM account")
    group.add_argument("--constraint", default=None, help="submitit: SLURM constraint")
    group.add_argument(
        "--array-parallelism", type=int, default=None, help="submitit: runs at a time (256)"
    )
    group.add_argument(
        "--no-wait",
        action="store_true",
        default=None,
        help="submitit: submit and return; the same command later writes the report",
    )


def _launch_settings(args: argparse.Namespace):
    """The launcher settings of ``run``'s arguments (None: sequential); ``ValueError`` names an
    option given without its launcher."""
    from req_plugins.recipes.launch import LaunchSettings, parse_time

    given = {
        dest for dest in {**_LOCAL_OPTIONS, **_SUBMITIT_OPTIONS} if getattr(args, dest) is not None
    }
    allowed = {None: {}, "local": _LOCAL_OPTIONS, "submitit": _SUBMITIT_OPTIONS}[args.launcher]
    for dest in sorted(given - set(allowed)):
        flag = {**_LOCAL_OPTIONS, **_SUBMITIT_OPTIONS}[dest]
        needs = "local" if dest in _LOCAL_OPTIONS else "submitit"
        raise ValueError(f"`{flag}` applies to `--launcher {needs}` only.")
    if args.launcher is None:
        return None
    if args.dry_run:
        raise ValueError("`--launcher` and `--dry-run` do not go together.")
    chosen = {dest: getattr(args, dest) for dest in given}
    chosen.pop("no_wait", None)
    if "time" in chosen:
        chosen["time_min"] = parse_time(chosen.pop("time"))
    settings = LaunchSettings(args.launcher, wait=not args.no_wait, **chosen)
    settings.check()
    return settings


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


def _status(args: argparse.Namespace) -> int:
    from req_plugins.recipes.recipe import load_recipe
    from req_plugins.recipes.run import default_out_dir
    from req_plugins.recipes.status import status_table, sweep_status

    out = args.out or default_out_dir(load_recipe(args.name), args.scale)
    statuses = sweep_status(
        args.name, scale=args.scale, out_dir=out, data_path=args.data, seeds=args.seeds
    )
    print(status_table(statuses))
    return 0


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
        if args.command == "status":
            return _status(args)
        settings = _launch_settings(args)
        from req_plugins.recipes.report import markdown_table
        from req_plugins.recipes.run import dry_run_recipe, launch_recipe, run_recipe

        if args.dry_run:
            outcomes = dry_run_recipe(args.name, scale=args.scale)
            print(f"dry run: {len(outcomes)} arm(s) built and trained briefly, nothing written")
            return 0
        command = "req-recipes " + shlex.join(sys.argv[1:] if argv is None else argv)
        options = dict(
            scale=args.scale,
            out_dir=args.out,
            data_path=args.data,
            seeds=args.seeds,
            retrain=args.retrain,
            verbose=args.verbose,
            command=command,
        )
        if settings is None:
            output = run_recipe(args.name, **options)
        else:
            output = launch_recipe(args.name, settings, **options)
    except ValueError as error:
        print(f"req-recipes: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if error.name != "submitit":
            raise
        print(
            "req-recipes: error: --launcher needs submitit; install the slurm extra: "
            'pip install ".[slurm]" in the repository',
            file=sys.stderr,
        )
        return 1
    if output.failed or output.missing:
        for result in output.failed:
            print(f"failed: {result.run}: {result.error}; log: {result.log}")
        if output.failed:
            print(
                f"\n{len(output.failed)} run(s) failed; report not written. Fix the cause and run "
                "the same command again: it trains only the runs without a record."
            )
        else:
            print(
                f"\n{len(output.missing)} run(s) submitted or still to train; report not written. "
                f"`req-recipes status {args.name} --out {output.out_dir}` shows them; the same "
                "command writes the report once they are done."
            )
        return 1 if output.failed else 0
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
