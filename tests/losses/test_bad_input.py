"""Bad input fails early with a ValueError that names what is wrong."""

import pytest
import torch

from req_plugins._validation import as_views, check_finite
from req_plugins.losses import MultiViewBarlowTwinsLoss, MultiViewVICRegLoss, NTXentLoss

LOSSES = [MultiViewBarlowTwinsLoss, MultiViewVICRegLoss, NTXentLoss]


def _z(n=8, d=4):
    return torch.randn(n, d)


@pytest.mark.parametrize("loss_cls", LOSSES)
class TestViews:
    def test_one_view(self, loss_cls):
        with pytest.raises(ValueError, match="at least 2 views, got 1"):
            loss_cls()([_z()])
        with pytest.raises(ValueError, match="single tensor `z_a` and no `z_b`"):
            loss_cls()(_z())

    def test_different_shapes(self, loss_cls):
        with pytest.raises(ValueError, match=r"same shape: `z_a` has \(8, 4\), `z_b` has \(8, 5\)"):
            loss_cls()(_z(), _z(d=5))
        with pytest.raises(ValueError, match=r"`views\[1\]` has \(6, 4\)"):
            loss_cls()([_z(), _z(n=6)])

    def test_batch_size_one(self, loss_cls):
        with pytest.raises(ValueError, match="`z_a` needs a batch of at least 2 samples"):
            loss_cls()(_z(n=1), _z(n=1))

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite_with_validate_args(self, loss_cls, bad):
        z_b = _z()
        z_b[2, 1] = bad
        with pytest.raises(ValueError, match="`z_b` contains 1 non-finite"):
            loss_cls(validate_args=True)(_z(), z_b)
        if loss_cls is not NTXentLoss:  # NT-Xent takes two views
            with pytest.raises(ValueError, match=r"`views\[2\]` contains 1 non-finite"):
                loss_cls(validate_args=True)([_z(), _z(), z_b])

    def test_non_finite_without_validate_args_propagates(self, loss_cls):
        # the default looks at no value (no host sync): NaN in, NaN out, never a wrong number
        z_b = _z()
        z_b[2, 1] = float("nan")
        assert torch.isnan(loss_cls()(_z(), z_b))

    def test_non_finite_under_compile_asserts_without_sync(self, loss_cls):
        compiled = torch.compile(loss_cls(validate_args=True), fullgraph=True, backend="eager")
        z_b = _z()
        assert torch.isfinite(compiled(_z(), z_b))
        z_b[2, 1] = float("inf")
        with pytest.raises(RuntimeError, match="`z_b` contains NaN or Inf"):
            compiled(_z(), z_b)

    def test_not_2d(self, loss_cls):
        with pytest.raises(ValueError, match=r"`z_a` must be a 2-d \(N, d\) tensor"):
            loss_cls()(torch.randn(8, 2, 2), torch.randn(8, 2, 2))

    def test_integer_tensor(self, loss_cls):
        with pytest.raises(ValueError, match="`z_a` must be a real floating-point"):
            loss_cls()(torch.ones(8, 4, dtype=torch.long), _z())

    def test_mixed_dtypes(self, loss_cls):
        with pytest.raises(ValueError, match="share dtype and device"):
            loss_cls()(_z(), _z().double())

    def test_both_conventions_at_once(self, loss_cls):
        with pytest.raises(ValueError, match="not both"):
            loss_cls()([_z(), _z()], _z())


@pytest.mark.parametrize("loss_cls", [MultiViewBarlowTwinsLoss, MultiViewVICRegLoss])
def test_projector_dim_below_two(loss_cls):
    with pytest.raises(ValueError, match="`projector_dim` must be >= 2, got 1"):
        loss_cls(projector_dim=1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"beta": -1e-3}, "beta"),
        ({"beta": float("nan")}, "beta"),
    ],
)
def test_barlow_twins_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        MultiViewBarlowTwinsLoss(**kwargs)


@pytest.mark.parametrize("name", ["lambda_param", "mu_param", "nu_param", "eps"])
def test_vicreg_negative_weights(name):
    with pytest.raises(ValueError, match=f"`{name}` must be >= 0"):
        MultiViewVICRegLoss(**{name: -1.0})


def test_large_finite_embeddings_are_not_mistaken_for_non_finite():
    # the finiteness check's fast path sums the tensor; an overflowing sum must not raise
    z = torch.full((8, 4), 3e38)
    z[::2] *= -0.5
    check_finite(z, "z")
    as_views(z, z.clone())
