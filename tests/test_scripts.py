"""The console scripts answer --help without loading torch, and a missing optional dependency
ends them with one line, not a traceback.

Each check runs the script's entry function in a fresh interpreter started outside the
checkout, so it sees the installed package as a user's shell does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SCRIPTS = {
    "req-train": "req_train",
    "req-recipes": "req_recipes",
    "req-select": "req_select",
    "req-solo-pretrain": "req_solo_pretrain",
}
#: Modules whose import costs seconds: none may load for --help.
HEAVY = ("torch", "torchmetrics", "lightning", "lightly", "omegaconf", "hydra", "solo", "submitit")


def run_script(
    script: str, args: list[str], cwd, *, block: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run ``script``'s entry function with ``args``; modules in ``block`` act as not installed.

    The last line of stdout lists the heavy modules that were imported.
    """
    code = f"""
        import sys
        for name in {block!r}:
            sys.modules[name] = None  # import raises ModuleNotFoundError, as if not installed
        sys.argv = [{script!r}, *{args!r}]
        from req_plugins.scripts import {SCRIPTS[script]} as entry
        try:
            code = entry()
        except SystemExit as stop:
            code = stop.code
        loaded = sorted(m for m in {HEAVY!r} if sys.modules.get(m) is not None)
        print("loaded:", ",".join(loaded))
        sys.exit(code)
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_loads_no_heavy_module(script, tmp_path):
    result = run_script(script, ["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")
    assert result.stdout.splitlines()[-1] == "loaded: ", result.stdout.splitlines()[-1]


def test_solo_pretrain_help_lists_the_packaged_configs(tmp_path):
    result = run_script("req-solo-pretrain", ["--help"], tmp_path)
    assert "  cifar/mv_barlow_twins_4views\n" in result.stdout
    assert "sync_batchnorm=False" in result.stdout


def test_req_recipes_list_names_every_recipe_and_solo_config(tmp_path):
    result = run_script("req-recipes", ["list"], tmp_path)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split()
    for path in RECIPES.glob("*.yaml"):
        assert path.stem in listed
    for path in RECIPES.glob("solo/*/*.yaml"):
        assert path.relative_to(RECIPES / "solo").with_suffix("").as_posix() in listed


def _one_line_error(result: subprocess.CompletedProcess, script: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), result.stderr
    return lines[0]


def test_req_train_without_lightly_says_which_extra_to_install(tmp_path):
    result = run_script("req-train", ["--quickstart"], tmp_path, block=("lightly",))
    line = _one_line_error(result, "req-train")
    assert "'lightly' is not installed" in line and '".[lightly]"' in line
    assert not (tmp_path / "runs").exists()  # nothing written


def test_req_solo_pretrain_without_solo_learn_is_one_line(tmp_path):
    args = ["--config-name", "cifar/mv_barlow_twins_4views"]
    result = run_script("req-solo-pretrain", args, tmp_path, block=("solo",))
    line = _one_line_error(result, "req-solo-pretrain")
    assert "needs solo-learn >= 1.0.6, which is not installed" in line
    assert "docs/solo-learn.md" in line


def test_req_solo_pretrain_without_a_config_name_is_a_usage_error(tmp_path):
    result = run_script("req-solo-pretrain", ["max_epochs=1"], tmp_path)
    assert result.returncode == 2
    assert "give --config-name" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_module_outside_the_extras_keeps_its_traceback(tmp_path):
    # pyyaml is a required dependency: without it the install is broken; show it in full
    result = run_script("req-recipes", ["list"], tmp_path, block=("yaml",))
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "yaml" in result.stderr
