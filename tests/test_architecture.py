"""The layer rule of docs/contributing.md: the core never imports the integrations.

The core (functional metrics, metrics, losses, projectors, distributed, the embedded
datasets and the shared validation) depends on torch, torchmetrics and numpy only, so a
user of a loss or a metric never pays for Lightning, lightly or solo-learn.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "req_plugins"
CORE = ("functional", "metrics", "losses", "projectors", "distributed", "datasets", "_validation")
INTEGRATIONS = ("callbacks", "lightly", "solo", "plugins", "recipes", "scripts", "callback_factory")
THIRD_PARTY_INTEGRATIONS = ("lightly", "lightning", "pytorch_lightning", "solo", "omegaconf")


def _core_files() -> list[Path]:
    files = []
    for name in CORE:
        path = PACKAGE / name
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.with_suffix(".py").exists():
            files.append(path.with_suffix(".py"))
    return files


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, wherever the import statement sits."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_integration(path):
    forbidden = {f"req_plugins.{name}" for name in INTEGRATIONS} | set(THIRD_PARTY_INTEGRATIONS)
    bad = sorted(
        name
        for name in _imported_modules(path)
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    )
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}: the core must not"


def test_the_core_loads_without_lightning_or_lightly():
    code = (
        "import sys, req_plugins\n"
        "from req_plugins import functional, metrics, losses, projectors, distributed\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {THIRD_PARTY_INTEGRATIONS!r}]\n"
        "bad += [m for m in sys.modules if m.split('.')[:2] in "
        f"[['req_plugins', n] for n in {INTEGRATIONS!r}]]\n"
        "print(sorted(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
