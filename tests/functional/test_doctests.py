"""The docstring examples of the functional and metric modules run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "req_plugins.functional.spectrum",
    "req_plugins.functional.information",
    "req_plugins.functional.lidar",
    "req_plugins.functional.uniformity",
    "req_plugins.metrics.alpha",
    "req_plugins.metrics.effective_rank",
    "req_plugins.metrics.mutual_information",
    "req_plugins.metrics.lidar",
    "req_plugins.metrics.uniformity",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    import torch

    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
