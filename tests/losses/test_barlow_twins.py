import pytest
import torch
from lightly.loss import BarlowTwinsLoss

from req_plugins.losses import MultiViewBarlowTwinsLoss
from req_plugins.losses.barlow_twins import DEFAULT_BETA
from req_plugins.projectors import beta_for_dim
from tests.losses import references
from tests.losses.cases import correlated_views as _views
from tests.losses.cases import value_and_grads as _value_and_grads


@pytest.mark.parametrize("beta", [None, 0.0, 0.02, 1.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_two_views_equal_lightly(beta, dtype):
    z_a, z_b = _views(2, n=64, d=32, dtype=dtype, seed=1)
    ours = MultiViewBarlowTwinsLoss(beta=beta)
    theirs = BarlowTwinsLoss() if beta is None else BarlowTwinsLoss(lambda_param=beta)
    loss, grads = _value_and_grads(ours, [z_a, z_b])
    expected, expected_grads = _value_and_grads(lambda v: theirs(*v), [z_a, z_b])
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(loss, expected, **tol)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, **tol)
    # the two call conventions are the same loss
    torch.testing.assert_close(ours(z_a, z_b), ours([z_a, z_b]), rtol=0, atol=0)


def test_two_views_equal_spec_pair_formula():
    views = _views(2)
    loss, grads = _value_and_grads(MultiViewBarlowTwinsLoss(beta=0.3), views)
    expected, expected_grads = _value_and_grads(
        lambda v: references.barlow_twins_pair(*v, beta=0.3), views
    )
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m", [3, 4, 6])
def test_many_views_equal_spec_formula(m):
    views = _views(m, seed=m)
    loss, grads = _value_and_grads(MultiViewBarlowTwinsLoss(beta=0.3), views)
    expected, expected_grads = _value_and_grads(
        lambda v: references.barlow_twins_multiview(v, beta=0.3), views
    )
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


def test_many_views_is_not_the_all_pairs_loss():
    # the O(m) form is a different estimator from the O(m²) mean of pairs, not a rewrite of it
    views = _views(4)
    ours = MultiViewBarlowTwinsLoss(beta=0.3)(views)
    all_pairs = references.barlow_twins_all_pairs(views, beta=0.3)
    assert not torch.allclose(ours, all_pairs, rtol=1e-3)


@pytest.mark.parametrize("m", [2, 3, 5])
def test_invariant_to_view_order(m):
    views = _views(m, seed=10 + m)
    loss_fn = MultiViewBarlowTwinsLoss(beta=0.05)
    expected = loss_fn(views)
    for permutation in [list(reversed(range(m))), [*range(1, m), 0]]:
        torch.testing.assert_close(loss_fn([views[i] for i in permutation]), expected)


@pytest.mark.parametrize("m", [2, 3, 8])
def test_identical_views_have_zero_invariance(m):
    z = _views(1, n=32, d=6)[0].detach()
    # β = 0 leaves only the invariance term; it vanishes up to the BatchNorm ε (1e-5 / var)
    invariance = MultiViewBarlowTwinsLoss(beta=0.0)([z.clone() for _ in range(m)])
    assert float(invariance) < 1e-8
    different = MultiViewBarlowTwinsLoss(beta=0.0)(_views(m, n=32, d=6))
    assert float(different.detach()) > 1e-2


def test_beta_follows_projector_dim_unless_given():
    assert MultiViewBarlowTwinsLoss().beta == DEFAULT_BETA == 5e-3
    assert MultiViewBarlowTwinsLoss(projector_dim=256).beta == beta_for_dim(256) == 0.0128
    assert MultiViewBarlowTwinsLoss(projector_dim=8192).beta == 4e-4
    assert MultiViewBarlowTwinsLoss(beta=0.1, projector_dim=256).beta == 0.1


def test_beta_from_projector_dim_is_the_one_used():
    views = _views(3, d=16)
    by_rule = MultiViewBarlowTwinsLoss(projector_dim=16)(views)
    explicit = MultiViewBarlowTwinsLoss(beta=beta_for_dim(16))(views)
    torch.testing.assert_close(by_rule, explicit, rtol=0, atol=0)


def test_projector_dim_mismatch_is_rejected():
    with pytest.raises(ValueError, match="projector_dim=16"):
        MultiViewBarlowTwinsLoss(projector_dim=16)(_views(2, d=8))


def test_cost_does_not_build_pairwise_matrices():
    # one d×d matmul whatever m: the autograd graph holds a single (d, d) correlation matrix
    views = _views(8, n=16, d=64, dtype=torch.float32)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(tuple(t.shape)) or t, lambda t: t
    ):
        MultiViewBarlowTwinsLoss()(views)
    assert sum(shape == (64, 64) for shape in saved) <= 2
