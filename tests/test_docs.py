"""The documentation site covers every public module, and its docstring rendering is right.

The site itself is built by ``tox -e docs`` (``mkdocs build --strict``); these tests need
no mkdocs, only griffe for the extension that turns the docstrings' reST into Markdown.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)


def _public_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "req_plugins").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            modules.add(".".join(parts))
    return modules


def _documented_modules() -> set[str]:
    return {
        name
        for page in (ROOT / "docs" / "api").glob("*.md")
        for name in _DIRECTIVE.findall(page.read_text())
    }


def test_every_public_module_has_an_api_page():
    missing = _public_modules() - _documented_modules() - {"req_plugins"}
    assert not missing, f"add these to a page in docs/api/: {sorted(missing)}"


def test_api_pages_name_existing_modules():
    stale = _documented_modules() - _public_modules()
    assert not stale, f"docs/api/ documents modules that do not exist: {sorted(stale)}"


def _extension():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "docs" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rest_blocks_become_markdown():
    ext = _extension()
    docstring = "\n".join(
        [
            "Intro.",
            "",
            ".. math:: a = b",
            "          + c",
            "",
            "Layout::",
            "",
            "    run/",
            "      x.csv",
            "",
            "Example:",
            "    >>> f([1][0])",
            "    1",
        ]
    )
    assert ext._blocks(docstring).splitlines() == [
        "Intro.",
        "",
        "",
        "$$",
        "a = b",
        "+ c",
        "$$",
        "",
        "",
        "Layout:",
        "",
        "```text",
        "run/",
        "  x.csv",
        "```",
        "",
        "",
        "Example:",
        "",
        "    ```pycon",
        "    >>> f([1][0])",
        "    1",
        "    ```",
    ]


def test_rest_roles_become_math_and_links():
    ext = _extension()
    import griffe

    package = griffe.load("req_plugins.functional", search_paths=[ROOT], resolve_aliases=False)
    spectrum = package["spectrum"]
    text = ext._roles(
        ":math:`\\lambda_k` by :func:`alpha_req`, :func:`~req_plugins.functional.eigenspectrum`"
        " and :class:`NoSuchThing`",
        spectrum,
    )
    assert text == (
        "\\(\\lambda_k\\) by "
        '<autoref identifier="req_plugins.functional.spectrum.alpha_req" optional>'
        "<code>alpha_req()</code></autoref>, "
        '<autoref identifier="req_plugins.functional.spectrum.eigenspectrum" optional>'
        "<code>eigenspectrum()</code></autoref> and `NoSuchThing`"
    )
