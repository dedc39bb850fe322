"""The wheel is what users get: every recipe YAML inside, found without the repository.

The wheel is built from a copy of the sources (the checkout stays untouched), unpacked
with ``pip install --target`` and imported from there by a fresh interpreter started
outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPES = REPO_ROOT / "recipes"
#: What setuptools needs to build the package (everything else in the checkout is not shipped).
SOURCES = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "req_plugins_solo_autoload.py",
    "req_plugins",
    "recipes",
)


def repository_yamls() -> set[str]:
    return {path.relative_to(RECIPES).as_posix() for path in RECIPES.rglob("*.yaml")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source), "-w", str(out)],
        check=True,
        timeout=600,
    )
    (wheel_file,) = out.glob("req_plugins-*.whl")
    return wheel_file


@pytest.mark.slow
def test_wheel_ships_every_recipe_and_the_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = "req_plugins/recipes/bundled/"
    shipped = {name[len(bundled) :] for name in names if name.startswith(bundled)}
    assert len(repository_yamls()) >= 39  # 10 paper recipes + 29 solo-learn configs and groups
    assert repository_yamls() <= shipped
    assert "solo/README.md" in shipped
    assert "req_plugins_solo_autoload.pth" in names
    (entry_points,) = (name for name in names if name.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("req-train", "req-recipes", "req-select", "req-solo-pretrain"):
        assert f"{script} = req_plugins.scripts:" in text


@pytest.mark.slow
def test_installed_wheel_finds_its_recipes_without_the_repository(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        check=True,
        timeout=600,
    )
    code = """
        import json, sys
        from pathlib import Path
        import req_plugins
        from req_plugins.recipes.recipe import list_recipes, list_solo_recipes, recipes_dir
        from req_plugins.scripts import solo_pretrain_argv

        root = recipes_dir()
        print(json.dumps({
            "package": req_plugins.__file__,
            "recipes_dir": str(root),
            "yamls": sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml")),
            "recipes": list_recipes(),
            "solo": list_solo_recipes(),
            "solo_argv": solo_pretrain_argv(["--config-name", "cifar/mv_barlow_twins_4views"]),
        }))
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REQ_RECIPES_DIR")}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["package"]).is_relative_to(target)
    assert found["recipes_dir"] == str(target / "req_plugins" / "recipes" / "bundled")
    assert set(found["yamls"]) == repository_yamls()
    assert found["recipes"] == sorted(path.stem for path in RECIPES.glob("*.yaml"))
    assert "cifar/mv_barlow_twins_4views" in found["solo"]
    assert len(found["solo"]) == len(list(RECIPES.glob("solo/*/*.yaml")))
    cifar_dir = str(target / "req_plugins" / "recipes" / "bundled" / "solo" / "cifar")
    assert found["solo_argv"] == [
        "--config-path",
        cifar_dir,
        "--config-name",
        "mv_barlow_twins_4views",
    ]


def test_recipes_dir_override(monkeypatch, tmp_path):
    from req_plugins.recipes.recipe import list_recipes, recipes_dir

    (tmp_path / "mine.yaml").write_text("name: mine\n")
    monkeypatch.setenv("REQ_RECIPES_DIR", str(tmp_path))
    assert recipes_dir() == tmp_path
    assert list_recipes() == ["mine"]


def test_export_solo_copies_the_configs_and_never_overwrites(capsys, tmp_path):
    from req_plugins.recipes.cli import main

    dest = tmp_path / "solo"
    assert main(["export-solo", str(dest)]) == 0
    copied = {path.relative_to(dest).as_posix() for path in dest.rglob("*") if path.is_file()}
    solo = RECIPES / "solo"
    assert copied == {p.relative_to(solo).as_posix() for p in solo.rglob("*") if p.is_file()}
    (dest / "cifar" / "adadim.yaml").write_text("edited: true\n")
    assert main(["export-solo", str(dest)]) == 2
    assert "must be a new or empty folder" in capsys.readouterr().err
    assert (dest / "cifar" / "adadim.yaml").read_text() == "edited: true\n"
