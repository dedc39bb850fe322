"""The examples in the docstrings of the losses, projectors, collectives and modes run and hold."""

import doctest

import pytest

import req_plugins.distributed
import req_plugins.losses.adadim
import req_plugins.losses.barlow_twins
import req_plugins.losses.ntxent
import req_plugins.losses.vicreg
import req_plugins.modes
import req_plugins.projectors

MODULES = [
    req_plugins.distributed,
    req_plugins.losses.adadim,
    req_plugins.losses.barlow_twins,
    req_plugins.losses.ntxent,
    req_plugins.losses.vicreg,
    req_plugins.modes,
    req_plugins.projectors,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
