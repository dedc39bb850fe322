"""The thesis's Part III protocol in req-train: 2-layer projector, Adam probe, β per view count."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from lightly.models.modules import BarlowTwinsProjectionHead
from torch import nn

from req_plugins.lightly import evaluation
from req_plugins.lightly.cli import main
from req_plugins.lightly.train import prepare_run
from req_plugins.projectors import ProjectionMLP, beta_for_dim, beta_for_views
from tests.lightly.tiny import TINY, tiny_config

TINY_YAML = Path(__file__).with_name("tiny.yaml")
# Thesis Part III, Table 5: projector dimension d -> "Projector params (approx)" as printed,
# and one unit of its last printed digit.
TABLE_5_PARAMETERS = {
    64: (135e3, 1e3),
    128: (278e3, 1e3),
    256: (589e3, 1e3),
    512: (1.3e6, 1e5),
    1024: (3.1e6, 1e5),
    2048: (8.3e6, 1e5),
    4096: (25.2e6, 1e5),
    8192: (83.9e6, 1e5),
}


def _run(tmp_path, *overrides):
    return prepare_run(tiny_config(tmp_path / "out", *overrides))


def _linears(head: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in head.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("d", sorted(TABLE_5_PARAMETERS))
def test_thesis_projector_has_table_5_parameter_counts(d):
    printed, unit = TABLE_5_PARAMETERS[d]
    head = ProjectionMLP(2048, d, d, num_layers=2)  # what projector.num_layers=2 builds
    weights = sum(m.weight.numel() for m in head.modules() if isinstance(m, nn.Linear))
    assert weights == 2048 * d + d * d
    # the table prints the weight matrices' count, truncated or rounded to its digits
    assert abs(weights - printed) < unit
    everything = sum(p.numel() for p in head.parameters())  # + BN affine and the last bias
    assert everything - weights == 3 * d
    lightly_count = sum(p.numel() for p in BarlowTwinsProjectionHead(2048, d, d).parameters())
    if d >= 256:  # lightly's 3-layer head is not what the thesis counted
        assert lightly_count > 1.1 * printed


@pytest.mark.parametrize("method", ["mv_barlow_twins", "mv_vicreg", "barlow_twins", "vicreg"])
def test_projector_num_layers_builds_the_thesis_head(tmp_path, method):
    run = _run(
        tmp_path,
        f"method.name={method}",
        "projector.num_layers=2",
        "projector.hidden_dim=16",
        "projector.output_dim=16",
    )
    head = run.module.projection_head
    assert isinstance(head, ProjectionMLP) and head.num_layers == 2
    assert _linears(head) == [(run.module.online_classifier.feature_dim, 16), (16, 16)]


def test_projector_num_layers_unset_keeps_lightlys_head(tmp_path):
    head = _run(tmp_path).module.projection_head
    assert isinstance(head, BarlowTwinsProjectionHead) and len(_linears(head)) == 3


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["projector.num_layers=0"], "`projector.num_layers`=0: must be >= 1"),
        (["projector.num_layers=-2"], "`projector.num_layers`=-2: must be >= 1"),
        (["eval.protocol=adam"], "`eval.protocol`='adam': must be one of sgd, thesis"),
        (["method.beta_views_rule=half"], "`method.beta_views_rule` must be one of"),
        (
            ["method.name=adadim", "data.num_views=2", "projector.num_layers=2"],
            "`projector.num_layers`=2: method 'adadim' builds its own projector",
        ),
    ],
)
def test_bad_protocol_values_exit_2_naming_the_key(capsys, tmp_path, overrides, match):
    output_dir = tmp_path / "out"
    code = main([str(TINY_YAML), *TINY, f"output_dir={output_dir}", *overrides])
    err = capsys.readouterr().err
    assert code == 2 and match in err, err
    assert not output_dir.exists()


def test_thesis_probe_protocol_reaches_the_probe(tmp_path, monkeypatch):
    calls = []
    optimizers = []
    real_probe, real_adam = evaluation.linear_probe_accuracy, torch.optim.Adam

    def probe(*args, **kwargs):
        calls.append(kwargs)
        return real_probe(*args, **kwargs)

    def adam(params, **kwargs):
        optimizers.append(kwargs)
        return real_adam(params, **kwargs)

    monkeypatch.setattr("req_plugins.lightly.report.linear_probe_accuracy", probe)
    monkeypatch.setattr(evaluation.torch.optim, "Adam", adam)
    from req_plugins.lightly.train import train

    config = tiny_config(
        tmp_path / "out",
        "eval.protocol=thesis",
        "eval.linear_lr=1e-3",
        "eval.linear_batch_size=512",
        "eval.linear_epochs=3",
        "eval.knn=false",
        "trainer.max_steps=1",
        "optimizer.name=sgd",  # so the only Adam is the probe's
    )
    train(config)
    assert [{k: c[k] for k in ("protocol", "lr", "batch_size", "epochs")} for c in calls] == [
        {"protocol": "thesis", "lr": 1e-3, "batch_size": 512, "epochs": 3}
    ]
    assert optimizers == [{"lr": 1e-3, "weight_decay": 1e-6}]


def test_thesis_probe_is_adam_on_raw_features_and_separates_clusters():
    generator = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=generator) * 3
    labels = torch.arange(4).repeat_interleave(50)
    features = centers[labels] + 0.3 * torch.randn(200, 16, generator=generator)
    settings = {"num_classes": 4, "epochs": 50, "lr": 1e-2, "batch_size": 64, "seed": 1}
    accuracy = evaluation.linear_probe_accuracy(
        features, labels, features, labels, protocol="thesis", **settings
    )
    assert accuracy == 1.0
    # raw features: unlike the sgd protocol, scaling the features changes the result
    tiny = evaluation.linear_probe_accuracy(
        features * 1e-4, labels, features * 1e-4, labels, protocol="thesis", **settings
    )
    assert tiny < 1.0
    assert evaluation.THESIS_PROBE == {
        "lr": 1e-3,
        "batch_size": 512,
        "epochs": 200,
        "weight_decay": 1e-6,
    }


def test_fastssl_beta_rule_values():
    # the authors' released multi-patch configs (CIFAR-10, batch 128)
    assert beta_for_views(0.02, 4, "fastssl") == 0.01
    assert beta_for_views(0.02, 8, "fastssl") == 0.01
    assert beta_for_views(0.0008, 4, "fastssl") == 0.0004
    assert beta_for_views(0.0008, 8, "fastssl") == 0.0004
    assert beta_for_views(0.02, 2, "fastssl") == beta_for_views(0.02, 3, "fastssl") == 0.02
    assert [beta_for_views(0.02, m) for m in (2, 4, 8)] == [0.02, 0.02, 0.02]
    with pytest.raises(ValueError, match="`beta_views_rule` must be one of"):
        beta_for_views(0.02, 4, "half")


@pytest.mark.parametrize(
    ("views", "rule", "beta", "expected"),
    [
        (2, "fastssl", None, beta_for_dim(16)),
        (4, "fastssl", None, beta_for_dim(16) / 2),
        (4, "none", None, beta_for_dim(16)),
        (8, "fastssl", 0.0008, 0.0004),
        (8, "none", 0.0008, 0.0008),
    ],
)
def test_method_beta_views_rule_reaches_the_loss(tmp_path, views, rule, beta, expected):
    overrides = [f"data.num_views={views}", f"method.beta_views_rule={rule}"]
    if beta is not None:
        overrides.append(f"method.beta={beta}")
    assert _run(tmp_path, *overrides).module.criterion.beta == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "name", ["thesis_table2", "thesis_table3", "thesis_table5", "thesis_table6", "thesis_table7"]
)
def test_thesis_recipes_run_the_thesis_protocol_at_full_scale(name, tmp_path):
    from req_plugins.lightly.config import load_config
    from req_plugins.recipes.recipe import load_recipe
    from req_plugins.recipes.runner import run_config

    recipe = load_recipe(name)
    for spec in recipe.runs(recipe.scale("full")):
        config_dict, _ = run_config(recipe, spec, tmp_path / spec.run_id, "/data")
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config_dict))
        config = load_config(path)
        assert config.projector.num_layers == 2
        assert config.projector.hidden_dim == config.projector.output_dim  # 2048 -> d -> d
        assert (config.eval.protocol, config.eval.linear_lr) == ("thesis", 1e-3)
        assert (config.eval.linear_batch_size, config.eval.linear_epochs) == (512, 200)
        if config.method.name == "mv_barlow_twins" and name != "thesis_table5":
            assert config.method.beta_views_rule == "none"  # each multi-view recipe states it
