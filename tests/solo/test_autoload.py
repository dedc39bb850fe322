"""The start-up hook puts registered solo methods into solo.methods.METHODS, and costs nothing else.

The hook's mechanics are tested against a fake ``solo`` package, so they run
without solo-learn; the end-to-end checks need solo-learn and the installed
``req_plugins_solo_autoload.pth``.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from req_plugins.plugins import get_registry
from tests.solo.availability import SOLO_SKIP_REASON

REPO_ROOT = Path(__file__).resolve().parents[2]
DISABLE_ENV = "REQ_PLUGINS_NO_SOLO_AUTOLOAD"
PLUGIN_METHODS = {
    "mv_barlow_twins": "req_plugins.solo.mv_barlow_twins.MultiViewBarlowTwins",
    "mv_vicreg": "req_plugins.solo.mv_vicreg.MultiViewVICReg",
    "lowdim_barlow_twins": "req_plugins.solo.lowdim_barlow_twins.LowDimBarlowTwins",
    "lowdim_vicreg": "req_plugins.solo.lowdim_vicreg.LowDimVICReg",
    "adadim": "req_plugins.solo.adadim.AdaDim",
}


def run_python(code: str, *, pythonpath=(), env_update=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), env.get("PYTHONPATH", "")])
    env.update(env_update or {})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def autoload_pth_installed() -> bool:
    lines = run_python("import sys; print('req_plugins_solo_autoload' in sys.modules)", cwd="/")
    return lines[-1] == "True"


requires_pth = pytest.mark.skipif(
    not autoload_pth_installed(),
    reason="req_plugins_solo_autoload.pth is not installed here (pip install [-e] . installs it)",
)
requires_solo = pytest.mark.skipif(SOLO_SKIP_REASON is not None, reason=SOLO_SKIP_REASON or "")


def test_registry_lists_the_solo_methods_without_importing_them():
    entries = get_registry().methods("solo")
    assert {name: entries[name].target_name for name in PLUGIN_METHODS} == {
        name: target.rpartition(".")[0] + ":" + target.rpartition(".")[2]
        for name, target in PLUGIN_METHODS.items()
    }


def fake_solo(root: Path) -> Path:
    """A ``solo`` package whose ``solo.methods`` defines METHODS, like solo-learn's."""
    (root / "solo" / "methods").mkdir(parents=True)
    (root / "solo" / "__init__.py").write_text("from solo import methods\n")
    (root / "solo" / "methods" / "__init__.py").write_text(
        "METHODS = {'barlow_twins': object}\nEXECUTED = True\n"
    )
    return root


def test_finder_hooks_the_end_of_solo_methods_import(tmp_path):
    lines = run_python(
        """
        import importlib.machinery, sys
        import req_plugins_solo_autoload as autoload
        autoload.install()
        seen = []
        autoload._register_into = lambda module: seen.append(
            (module.__name__, module.EXECUTED, sorted(module.METHODS))
        )
        import solo
        import solo.methods
        print(seen)
        print(isinstance(solo.methods.__spec__.loader, importlib.machinery.SourceFileLoader))
        import json  # other imports are not hooked
        print(len(seen))
        """,
        pythonpath=[fake_solo(tmp_path), REPO_ROOT],
    )
    assert lines == ["[('solo.methods', True, ['barlow_twins'])]", "True", "1"]


def test_environment_variable_turns_the_hook_off(tmp_path):
    lines = run_python(
        """
        import sys
        import req_plugins_solo_autoload as autoload
        autoload.install()
        print(any(isinstance(f, autoload.SoloMethodsFinder) for f in sys.meta_path))
        """,
        pythonpath=[REPO_ROOT],
        env_update={DISABLE_ENV: "1"},
    )
    assert lines == ["False"]


@requires_pth
def test_interpreter_start_up_loads_only_the_stdlib_shim():
    lines = run_python(
        """
        import sys
        heavy = {"torch", "solo", "req_plugins", "pluggy", "lightning", "numpy"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        print(type(sys.meta_path[0]).__name__)
        """,
        cwd="/",
    )
    assert lines == ["[]", "SoloMethodsFinder"]


@requires_pth
@requires_solo
def test_solo_methods_contains_the_plugin_methods_after_a_plain_import():
    lines = run_python(
        """
        from solo.methods import METHODS
        for name in sorted(METHODS):
            cls = METHODS[name]
            print(name, cls.__module__ + "." + cls.__qualname__)
        """,
        cwd="/",
    )
    listed = dict(line.split() for line in lines)
    assert {name: listed.get(name) for name in PLUGIN_METHODS} == PLUGIN_METHODS
    assert listed["barlow_twins"] == "solo.methods.barlow_twins.BarlowTwins"


@requires_pth
@requires_solo
def test_environment_variable_keeps_solo_methods_untouched():
    lines = run_python(
        "from solo.methods import METHODS; print(sorted(set(METHODS) & {'mv_barlow_twins'}))",
        env_update={DISABLE_ENV: "1"},
        cwd="/",
    )
    assert lines == ["[]"]


@requires_pth
@requires_solo
def test_third_party_plugin_methods_reach_solo(tmp_path):
    """A package exposing a ``req_plugins`` entry point gets its solo method into METHODS."""
    package = tmp_path / "toy_ssl"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(
        textwrap.dedent(
            """
            from req_plugins.plugins import hookimpl

            @hookimpl
            def req_register_methods(registry):
                registry.add_method("toy_bt", "toy_ssl.methods:ToyBT", framework="solo")
            """
        )
    )
    (package / "methods.py").write_text(
        "from req_plugins.solo import MultiViewBarlowTwins\n\n"
        "class ToyBT(MultiViewBarlowTwins):\n    pass\n"
    )
    dist_info = tmp_path / "toy_ssl-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-ssl\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[req_plugins]\ntoy = toy_ssl.plugin\n")

    lines = run_python(
        """
        from solo.methods import METHODS
        from req_plugins.plugins import get_registry
        cls = METHODS["toy_bt"]
        print(cls.__module__, cls.__name__, cls.__mro__[1].__name__)
        print(get_registry().get_method("toy_bt", "solo").source)
        """,
        pythonpath=[tmp_path],
        cwd="/",
    )
    assert lines == ["toy_ssl.methods ToyBT MultiViewBarlowTwins", "toy-ssl"]


@requires_solo
def test_add_plugin_methods_keeps_solo_names_and_is_idempotent():
    from req_plugins.solo import MultiViewBarlowTwins, add_plugin_methods

    class Existing:
        pass

    methods = {"mv_barlow_twins": Existing}
    with pytest.warns(UserWarning, match="already has a method named 'mv_barlow_twins'"):
        added = add_plugin_methods(methods)
    assert methods["mv_barlow_twins"] is Existing
    assert sorted(added) == sorted(set(PLUGIN_METHODS) - {"mv_barlow_twins"})
    assert add_plugin_methods(methods) == [] or pytest.fail("second call added again")

    fresh = {}
    add_plugin_methods(fresh)
    assert fresh["mv_barlow_twins"] is MultiViewBarlowTwins
