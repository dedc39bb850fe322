"""The req-train config schema: one place for every key's type, default and rule."""

from __future__ import annotations

import pytest

from req_plugins.lightly.config import bundled_config, load_config
from req_plugins.lightly.schema import ConfigError, describe, model_keys


def test_describe_has_a_row_per_key():
    table = describe().splitlines()
    assert table[0] == "| key | type | default | allowed | meaning |"
    keys = [row.split(" | ")[0].removeprefix("| ") for row in table[2:]]
    assert len(keys) == len(set(keys)) and "`data.batch_size`" in keys and "`seed`" in keys
    assert "| `data.path` | str \\| None | `None` |" in describe()  # pipes escaped


def test_defaults_and_bundled_configs_pass_the_schema():
    config = load_config(None, [])
    assert config.trainer.max_epochs == 100 and config.eval.knn_t == 0.1
    for name in ("quickstart", "cifar10_mv_barlow_twins"):
        load_config(bundled_config(name), [])


def test_every_broken_rule_is_reported_at_once_with_key_value_and_rule():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["trainer.max_epochs=0", "eval.knn_t=-0.5", "data.num_views=1"])
    lines = str(info.value).splitlines()
    assert [line.strip() for line in lines] == [
        "`data.num_views`=1: must be >= 2.",
        "`trainer.max_epochs`=0: must be >= 1.",
        "`eval.knn_t`=-0.5: must be > 0.",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_steps=-1"], None),  # -1: no limit
        (["trainer.max_steps=-2"], "`trainer.max_steps`=-2: must be >= 1 (or -1)."),
        (["metrics.max_batches=null"], None),
        (["trainer.devices=[0,1]", "data.batch_size=64"], None),
        (["trainer.devices=[0,1]", "data.batch_size=63"], "must be divisible by the number"),
        (["trainer.devices=2", "trainer.num_nodes=2", "data.batch_size=6"], "processes, 4"),
        (["trainer.devices=auto"], None),
        (["metrics.names=[]"], "`metrics.names`=[]: name at least one metric"),
        (["metrics.names=[]", "metrics.enabled=false"], None),
        (["trainer.threads=null"], None),
        (["trainer.threads=0"], "`trainer.threads`=0: must be >= 1."),
    ],
)
def test_special_values_and_cross_field_rules(overrides, message):
    if message is None:
        load_config(None, overrides)
    else:
        with pytest.raises(ConfigError) as info:
            load_config(None, overrides)
        assert message in str(info.value)


def test_model_keys_are_what_a_resume_may_not_change():
    keys = model_keys()
    assert {"method", "data.num_views", "projector.output_dim", "backbone.name"} <= set(keys)
    assert not {"trainer.max_epochs", "eval.knn_k", "data.path", "seed"} & set(keys)
