"""Layer-wise metrics: forward hooks on named intermediate modules (thesis Part II, α per layer)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from req_plugins.callbacks import RepresentationMetrics
from req_plugins.callbacks.layers import LayerOutputs, layer_key, pool_features, resolve_layers
from req_plugins.functional import alpha_req, effective_rank


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ConvNet(nn.Module):
    device = torch.device("cpu")  # what the callbacks read from a LightningModule

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 48, 3, padding=1),
            nn.BatchNorm2d(48),
            nn.ReLU(),
            nn.Conv2d(48, 96, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.projection_head = nn.Linear(96, 32)


def _loader() -> DataLoader:
    images = torch.randn(300, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return DataLoader(TensorDataset(images, torch.zeros(300, dtype=torch.long)), batch_size=100)


def test_layer_alpha_equals_the_functional_on_the_same_intermediate_features():
    module, loader = ConvNet(), _loader()
    callback = RepresentationMetrics(
        loader, metrics=["alpha", "effective_rank"], layers=["2", "backbone.4"]
    )
    values = callback.compute(module)
    module.eval()
    with torch.no_grad():
        images = torch.cat([batch[0] for batch in loader])
        first = module.backbone[:3](images).mean(dim=(2, 3))  # 48 channels, pooled over space
        second = module.backbone[:5](images).mean(dim=(2, 3))  # 96 channels
    expected = {
        "repr/2_alpha": alpha_req(first).alpha,
        "repr/2_effective_rank": effective_rank(first),
        "repr/backbone_4_alpha": alpha_req(second).alpha,
        "repr/backbone_4_effective_rank": effective_rank(second),
    }
    for key, value in expected.items():
        assert values[key] == pytest.approx(float(value), rel=1e-6), key
    assert "repr/backbone_alpha" in values and "repr/mutual_information" not in values
    # the layer values differ from each other and from the last layer's
    assert len({round(values[k], 6) for k in ("repr/2_alpha", "repr/backbone_4_alpha")}) == 2


def test_hooks_are_removed_and_capture_pooled_outputs():
    net = ConvNet().backbone
    with LayerOutputs(net, ["2", "4"]) as outputs:
        net(torch.randn(5, 1, 8, 8))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {"2": (5, 48), "4": (5, 96)}
    assert all(not m._forward_hooks for m in net.modules())
    assert pool_features(torch.ones(2, 3, 4)).shape == (2, 12)
    assert layer_key("layer3.1.conv2") == "layer3_1_conv2"


def test_unknown_layer_is_named_with_the_available_ones():
    with pytest.raises(ValueError, match=r"`layers` \['layer9'\]: no such module .* '4'"):
        resolve_layers(ConvNet(), ["2", "layer9"])
    callback = RepresentationMetrics(_loader(), metrics=["alpha"], layers=["layer9"])
    with pytest.raises(ValueError, match="layer9"):
        callback.compute(ConvNet())


def test_layers_need_a_single_representation_metric():
    with pytest.raises(ValueError, match="`layers` needs a metric of single representations"):
        RepresentationMetrics(_loader(), metrics=["mutual_information"], layers=["2"])


def test_req_train_metrics_layers(tmp_path, capsys):
    from req_plugins.lightly.cli import main
    from req_plugins.lightly.train import prepare_run
    from tests.lightly.tiny import TINY, tiny_config

    tiny_yaml = Path(__file__).parent / "lightly" / "tiny.yaml"
    output_dir = tmp_path / "bad"
    code = main(
        [str(tiny_yaml), *TINY, f"output_dir={output_dir}", "metrics.enabled=true"]
        + ["metrics.names=[alpha]", "metrics.layers=[layer3]"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "`metrics.layers`=['layer3']: `layers` ['layer3']" in err, err
    assert not output_dir.exists()

    run = prepare_run(
        tiny_config(
            tmp_path / "good",
            "backbone.width=32",  # layers.5: 64 channels
            "projector.output_dim=32",
            "metrics.enabled=true",
            "metrics.names=[alpha]",
            "metrics.layers=[layers.5]",
        )
    )
    values = run.representation_metrics.compute(run.module)
    assert set(values) == {"repr/backbone_alpha", "repr/embedding_alpha", "repr/layers_5_alpha"}
