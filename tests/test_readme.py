"""The README's and the user guide's Python examples run and print what the pages say.

Every ```python block of README.md and docs/**/*.md that is followed directly by a plain
``` (or ```text) block (its output) is executed in a fresh namespace; numbers are compared
with a relative tolerance of 1e-3 (BLAS may round the last printed digit differently).
Moving a section from the README into the docs keeps it tested.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
_EXAMPLE = re.compile(r"```python\n(.*?)```\n```(?:text)?\n(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?")


def _examples() -> list[tuple[Path, str, str]]:
    return [(page, *example) for page in PAGES for example in _EXAMPLE.findall(page.read_text())]


def _example_id(example: tuple[Path, str, str]) -> str:
    page, code, _ = example
    return f"{page.relative_to(ROOT)}:{code.splitlines()[0][:40]}"


def _assert_same_output(actual: str, expected: str) -> None:
    assert _NUMBER.sub("#", actual).split() == _NUMBER.sub("#", expected).split(), actual
    for got, want in zip(_NUMBER.findall(actual), _NUMBER.findall(expected), strict=True):
        assert math.isclose(float(got), float(want), rel_tol=1e-3, abs_tol=1e-6), (got, want)


def test_pages_have_examples_with_output():
    assert len(_examples()) >= 3


@pytest.mark.parametrize("example", _examples(), ids=_example_id)
def test_example(example: tuple[Path, str, str]):
    page, code, expected = example
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(page), "exec"), {"__name__": "__readme__"})
    _assert_same_output(out.getvalue(), expected)
