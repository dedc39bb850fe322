"""The console scripts: arguments first, heavy imports later, one line for a missing dependency.

Each script imports its command's module when it runs, and that module imports
torch, Lightning or solo-learn only once the arguments are parsed, so ``--help``
answers at once. A missing optional dependency ends the command with one line
naming it and how to install it (exit status 1) instead of a traceback.
``req-solo-pretrain`` finds the packaged solo-learn configs when no
``--config-path`` is given.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: Modules of the ``lightly`` extra (``pip install ".[lightly]"`` in the repository).
LIGHTLY_EXTRA_MODULES = (
    "lightly",
    "lightning",
    "lightning_fabric",
    "pytorch_lightning",
    "torchvision",
    "omegaconf",
    "sklearn",
    "matplotlib",
)
_SOLO_HINT = "install solo-learn as docs/solo-learn.md says"
_LIGHTLY_HINT = 'install the lightly extra: pip install ".[lightly]" in the repository'


def _missing_dependency(error: ModuleNotFoundError) -> str | None:
    """One line for a missing optional dependency, or None when ``error`` is something else."""
    root = (error.name or "").partition(".")[0]
    if root in LIGHTLY_EXTRA_MODULES:
        return f"the optional dependency {root!r} is not installed; {_LIGHTLY_HINT}"
    if root in ("solo", "hydra"):
        return f"solo-learn ({root!r}) is not installed; {_SOLO_HINT}"
    return None


def _run(prog: str, module: str) -> int:
    try:
        return importlib.import_module(module).main()
    except ModuleNotFoundError as error:
        message = _missing_dependency(error)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1


def req_train() -> int:
    return _run("req-train", "req_plugins.lightly.cli")


def req_recipes() -> int:
    return _run("req-recipes", "req_plugins.recipes.cli")


def req_select() -> int:
    return _run("req-select", "req_plugins.recipes.select_cli")


SOLO_PRETRAIN_USAGE = """\
usage: req-solo-pretrain [--config-path DIR] --config-name NAME [KEY=VALUE ...]

solo-learn pretraining (the flow of solo-learn's main_pretrain.py) from a solo-learn
YAML, for any number of large crops, with req_plugins' metric callbacks (req_callbacks).
Arguments are Hydra's, as for main_pretrain.py.

options:
  --config-path DIR   folder of the config (relative to the working directory);
                      default: the packaged configs
  --config-name NAME  the config, e.g. cifar/mv_barlow_twins_4views
  KEY=VALUE           Hydra overrides, e.g. max_epochs=1 devices=1
  --hydra-help        Hydra's own options

packaged configs (req_plugins' recipes, 'req-recipes export-solo DIR' copies them):
{configs}

On CPU set accelerator=cpu, devices=1, precision=32 and sync_batchnorm=False.
"""


def _flag_value(argv: Sequence[str], flags: Sequence[str]) -> str | None:
    """The value of the first of ``flags`` in ``argv`` (``--flag V`` or ``--flag=V``)."""
    for index, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def solo_pretrain_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` pointing Hydra at the packaged configs when it names no config folder.

    ``--config-name cifar/mv_barlow_twins_4views`` becomes ``--config-path
    <packaged>/cifar --config-name mv_barlow_twins_4views``: Hydra resolves a
    config's defaults (``augmentations``, ``override hydra/...``) relative to its
    config path, as in solo-learn's own ``scripts/pretrain/<dataset>/`` layout.
    """
    from req_plugins.recipes.recipe import solo_recipes_dir

    argv = list(argv)
    if _flag_value(argv, ("--config-path", "-cp", "--config-dir", "-cd")) is not None:
        return argv
    folder, _, name = (_flag_value(argv, ("--config-name", "-cn")) or "").rpartition("/")
    for index, arg in enumerate(argv):
        if arg in ("--config-name", "-cn"):
            argv[index + 1] = name
        elif arg.startswith(("--config-name=", "-cn=")):
            argv[index] = f"{arg.split('=', 1)[0]}={name}"
    return ["--config-path", str(solo_recipes_dir() / folder), *argv]


def req_solo_pretrain() -> int:
    argv = sys.argv[1:]
    if "--help" in argv or "-h" in argv:
        from req_plugins.recipes.recipe import list_solo_recipes

        configs = "\n".join(f"  {name}" for name in list_solo_recipes())
        print(SOLO_PRETRAIN_USAGE.format(configs=configs), end="")
        return 0
    hydra_only = "--hydra-help" in argv or "--info" in argv or "-i" in argv
    if _flag_value(argv, ("--config-name", "-cn")) is None and not hydra_only:
        print(SOLO_PRETRAIN_USAGE.splitlines()[0], file=sys.stderr)
        print(
            "req-solo-pretrain: error: give --config-name (see --help for the packaged configs)",
            file=sys.stderr,
        )
        return 2
    try:
        from req_plugins.solo import pretrain
    except ModuleNotFoundError as error:
        message = _missing_dependency(error)
        if message is None:
            raise
        print(f"req-solo-pretrain: error: {message}", file=sys.stderr)
        return 1
    except ImportError as error:  # req_plugins.solo: solo-learn missing or too old
        first_line = str(error).splitlines()[0]
        print(f"req-solo-pretrain: error: {first_line}; {_SOLO_HINT}", file=sys.stderr)
        return 1
    sys.argv = [sys.argv[0], *solo_pretrain_argv(argv)]
    pretrain.main()
    return 0
