import pytest
import torch
from torch import nn

from req_plugins.projectors import (
    BARLOW_TWINS_BETA_REF,
    D_REF,
    VICREG_NU_RATIO_REF,
    ProjectionMLP,
    beta_for_dim,
)


def test_beta_reference_points():
    assert (D_REF, BARLOW_TWINS_BETA_REF, VICREG_NU_RATIO_REF) == (8192, 4e-4, 1.3e-3)
    assert beta_for_dim(8192) == 4e-4
    assert beta_for_dim(8192, beta_ref=1.3e-3) == 1.3e-3


@pytest.mark.parametrize("d", [2, 64, 100, 256, 1000, 8192, 16384])
def test_beta_is_inverse_in_d(d):
    assert beta_for_dim(d) * d == pytest.approx(4e-4 * 8192, rel=1e-15)
    assert beta_for_dim(d, d_ref=512, beta_ref=0.1) == pytest.approx(0.1 * 512 / d, rel=1e-15)


def test_beta_halves_when_d_doubles():
    assert beta_for_dim(128) == 2 * beta_for_dim(256) == 4 * beta_for_dim(512)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d": 1}, "`d` must be >= 2, got 1"),
        ({"d": 0}, "`d` must be >= 2"),
        ({"d": 64.0}, "`d` must be an integer"),
        ({"d": 64, "d_ref": 0}, "`d_ref` must be >= 1"),
        ({"d": 64, "beta_ref": -1.0}, "`beta_ref` must be >= 0"),
        ({"d": 64, "beta_ref": float("inf")}, "`beta_ref` must be finite"),
    ],
)
def test_beta_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        beta_for_dim(**kwargs)


def test_three_layer_structure():
    head = ProjectionMLP(32, 48, 16)
    kinds = [type(layer) for layer in head.layers]
    assert kinds == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.Linear,
    ]
    linears = [layer for layer in head.layers if isinstance(layer, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (32, 48),
        (48, 48),
        (48, 16),
    ]
    assert [lin.bias is not None for lin in linears] == [False, False, True]
    assert head(torch.randn(5, 32)).shape == (5, 16)


@pytest.mark.parametrize(
    ("d", "thesis_params"),
    [(64, 135e3), (128, 278e3), (256, 589e3), (512, 1.3e6), (1024, 3.1e6), (8192, 83.9e6)],
)
def test_two_layer_head_matches_thesis_table_5_parameter_counts(d, thesis_params):
    head = ProjectionMLP(2048, d, d, num_layers=2)
    n_params = sum(p.numel() for p in head.parameters())
    # Table 5 rounds to 2-3 significant digits
    assert n_params == pytest.approx(thesis_params, rel=0.02)


def test_same_parameter_count_as_lightly_barlow_twins_head():
    lightly_heads = pytest.importorskip("lightly.models.modules.heads")
    ours = ProjectionMLP(64, 128, 32)
    theirs = lightly_heads.BarlowTwinsProjectionHead(64, 128, 32)
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]


def test_one_layer_is_linear():
    head = ProjectionMLP(8, 100, 4, num_layers=1)
    assert len(head.layers) == 1 and head.layers[0].weight.shape == (4, 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((8, 16, 1), "`output_dim` must be >= 2, got 1"),
        ((0, 16, 4), "`input_dim` must be >= 1"),
        ((8, 0, 4), "`hidden_dim` must be >= 1"),
        ((8, 16, 4, 0), "`num_layers` must be >= 1"),
    ],
)
def test_projector_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        ProjectionMLP(*args)
