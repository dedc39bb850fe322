"""The README's Python examples run and print what the README says they print.

Every ```python block that is followed directly by a plain ``` block (its
output) is executed in a fresh namespace; numbers are compared with a relative
tolerance of 1e-3 (BLAS may round the last printed digit differently).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_EXAMPLE = re.compile(r"```python\n(.*?)```\n```\n(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?")


def _examples() -> list[tuple[str, str]]:
    return _EXAMPLE.findall(README.read_text())


def _assert_same_output(actual: str, expected: str) -> None:
    assert _NUMBER.sub("#", actual).split() == _NUMBER.sub("#", expected).split(), actual
    for got, want in zip(_NUMBER.findall(actual), _NUMBER.findall(expected), strict=True):
        assert math.isclose(float(got), float(want), rel_tol=1e-3, abs_tol=1e-6), (got, want)


def test_readme_has_examples_with_output():
    assert len(_examples()) >= 3


@pytest.mark.parametrize("code, expected", _examples(), ids=lambda s: s.split("\n")[0][:40])
def test_readme_example(code: str, expected: str):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    _assert_same_output(out.getvalue(), expected)
