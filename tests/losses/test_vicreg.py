import pytest
import torch
from lightly.loss import VICRegLoss

from req_plugins.losses import MultiViewVICRegLoss
from req_plugins.projectors import beta_for_dim
from tests.losses import references
from tests.losses.cases import correlated_views as _views
from tests.losses.cases import value_and_grads as _value_and_grads


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"lambda_param": 1.0, "mu_param": 3.0, "nu_param": 0.5, "eps": 1e-2},
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
# N ≥ d: covariances as d×d matrices; N < d: through the N×N Gram matrices
@pytest.mark.parametrize(("n", "d"), [(64, 32), (32, 96)])
def test_two_views_equal_lightly(params, dtype, n, d):
    z_a, z_b = _views(2, n=n, d=d, dtype=dtype, seed=1)
    # small-variance dimensions make the variance hinge active
    z_a, z_b = (z * torch.linspace(0.1, 2.0, d, dtype=dtype) for z in (z_a, z_b))
    z_a, z_b = z_a.detach().requires_grad_(), z_b.detach().requires_grad_()
    loss, grads = _value_and_grads(MultiViewVICRegLoss(**params), [z_a, z_b])
    theirs = VICRegLoss(**params)
    expected, expected_grads = _value_and_grads(lambda v: theirs(*v), [z_a, z_b])
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(loss, expected, **tol)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, **tol)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize(("n", "d"), [(8, 5), (5, 8)])
def test_equal_spec_formula(m, n, d):
    views = _views(m, n=n, d=d, seed=m)
    views = [
        (v * torch.linspace(0.2, 1.5, d, dtype=v.dtype)).detach().requires_grad_() for v in views
    ]
    params = {"lambda_param": 2.0, "mu_param": 3.0, "nu_param": 0.7}
    loss, grads = _value_and_grads(MultiViewVICRegLoss(**params), views)
    expected, expected_grads = _value_and_grads(
        lambda v: references.vicreg_multiview(v, **params), views
    )
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m", [2, 3, 5])
def test_invariant_to_view_order(m):
    views = _views(m, seed=20 + m)
    loss_fn = MultiViewVICRegLoss()
    expected = loss_fn(views)
    for permutation in [list(reversed(range(m))), [*range(1, m), 0]]:
        torch.testing.assert_close(loss_fn([views[i] for i in permutation]), expected)


@pytest.mark.parametrize("m", [2, 3, 8])
def test_identical_views_have_zero_invariance(m):
    z = _views(1, n=16, d=6)[0].detach()
    invariance_only = MultiViewVICRegLoss(lambda_param=1.0, mu_param=0.0, nu_param=0.0)
    assert float(invariance_only([z.clone() for _ in range(m)])) < 1e-24
    assert float(invariance_only(_views(m, n=16, d=6)).detach()) > 1e-2


def test_nu_follows_projector_dim_unless_given():
    assert MultiViewVICRegLoss().nu_param == 1.0
    # ν/λ = 1.3e-3 at d = 8192, scaled by 8192 / d
    assert MultiViewVICRegLoss(projector_dim=8192).nu_param == pytest.approx(25 * 1.3e-3)
    assert MultiViewVICRegLoss(projector_dim=256).nu_param == pytest.approx(25 * 1.3e-3 * 32)
    loss_fn = MultiViewVICRegLoss(lambda_param=10.0, projector_dim=64)
    assert loss_fn.nu_param == 10.0 * beta_for_dim(64, beta_ref=1.3e-3)
    assert MultiViewVICRegLoss(nu_param=0.5, projector_dim=64).nu_param == 0.5


def test_projector_dim_mismatch_is_rejected():
    with pytest.raises(ValueError, match="projector_dim=16"):
        MultiViewVICRegLoss(projector_dim=16)(_views(2, d=8))


@pytest.mark.parametrize("m", [3, 8])
def test_many_views_with_fewer_samples_than_dimensions_equal_loops(m):
    # N < d: the view and leave-one-out covariance penalties all come from N×N Gram matrices
    views = _views(m, n=4, d=7, seed=40 + m)
    loss, grads = _value_and_grads(MultiViewVICRegLoss(), views)
    expected, expected_grads = _value_and_grads(references.vicreg_multiview, views)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("m", "n", "d"), [(2, 5, 8), (3, 5, 8), (3, 8, 5)])
def test_collapsed_dimension_has_finite_gradients(m, n, d):
    # a constant dimension has zero variance: the hinge is active and the gradient finite
    views = [v.detach().clone() for v in _views(m, n=n, d=d, seed=60 + m)]
    for view in views:
        view[:, 2] = 0.7
    views = [v.requires_grad_() for v in views]
    loss, grads = _value_and_grads(MultiViewVICRegLoss(), views)
    expected, expected_grads = _value_and_grads(references.vicreg_multiview, views)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)
