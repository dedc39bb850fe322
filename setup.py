"""pyproject.toml configures the package; this file adds what it cannot express.

* The package list: the ``req_plugins`` packages and ``req_plugins.recipes.bundled``,
  the repository's top-level ``recipes/`` folder shipped as package data (mapped
  in pyproject.toml; ``find_packages`` cannot see it).
* The solo-learn autoload hook. A ``.pth`` file must sit at the root of
  site-packages: ``build_py`` writes ``req_plugins_solo_autoload.pth`` next to the
  top-level module it imports (see ``req_plugins_solo_autoload.py``), for regular
  wheels (into ``build_lib``) and for editable installs (into the editable wheel).
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

AUTOLOAD_MODULE = "req_plugins_solo_autoload"
# site.py executes .pth lines that start with "import". The ImportError guard keeps a stale
# .pth (e.g. an editable checkout deleted without `pip uninstall`) from erroring at every start.
PTH_LINE = (
    f'import sys; exec("try:\\n import {AUTOLOAD_MODULE}\\nexcept ImportError:\\n pass")\n'
)


class BuildPyWithAutoloadPth(build_py):
    def run(self):
        super().run()
        # Editable wheels are packed from the install directory, regular ones from build_lib.
        if self.editable_mode:
            target = self.get_finalized_command("install").install_lib
        else:
            target = self.build_lib
        Path(target, f"{AUTOLOAD_MODULE}.pth").write_text(PTH_LINE)


setup(
    packages=[*find_packages(include=["req_plugins*"]), "req_plugins.recipes.bundled"],
    py_modules=[AUTOLOAD_MODULE],
    cmdclass={"build_py": BuildPyWithAutoloadPth},
)
