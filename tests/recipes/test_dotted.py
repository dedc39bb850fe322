"""Dotted config keys: nest and flatten are inverses and keep every value's type."""

from __future__ import annotations

import pytest

from req_plugins.recipes.dotted import flatten, nest


def test_nest_keeps_types_and_flatten_inverts_it():
    flat = {
        "optimizer.lr": 1.0,
        "optimizer.name": "lars",
        "projector.output_dim": 64,
        "trainer.progress_bar": False,
        "checkpoint.resume": None,
        "data.small_crops.scale": [0.05, 0.4],
        "tag": "010",  # a string that parses as a number stays a string
        "note": "${seed}",  # and an interpolation stays text
        "extra": {},
    }
    nested = nest(flat)
    assert nested["optimizer"] == {"lr": 1.0, "name": "lars"}
    assert type(nested["optimizer"]["lr"]) is float
    assert type(nested["projector"]["output_dim"]) is int
    assert nested["trainer"]["progress_bar"] is False and nested["checkpoint"]["resume"] is None
    assert nested["tag"] == "010" and nested["note"] == "${seed}" and nested["extra"] == {}
    assert flatten(nested) == flat


def test_a_later_key_replaces_an_earlier_value():
    assert nest({"a.b": 1, "a": {}}) == {"a": {}}
    assert nest({"a": {"x": 1}, "a.b": 2}) == {"a": {"x": 1, "b": 2}}
    assert flatten({"a": {"b.c": 1}, "d": {"e": {"f": 2}}}) == {"a.b.c": 1, "d.e.f": 2}


@pytest.mark.parametrize(
    "flat", [{"a": 5, "a.b": 1}, {"a": None, "a.b": 1}, {"a.b": 1, "a.b.c": 2}]
)
def test_a_key_below_a_value_is_an_error(flat):
    with pytest.raises(ValueError, match="conflicts with a value set at"):
        nest(flat)


def test_flatten_needs_a_mapping():
    with pytest.raises(ValueError, match="must be a mapping of config keys"):
        flatten(["a", 1])
