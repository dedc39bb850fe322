import inspect

import pytest
import torch
from lightly.loss import NTXentLoss as LightlyNTXentLoss

from req_plugins.losses import NTXentLoss
from tests.losses import references


def _pair(n, d, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=generator, dtype=dtype)
    return [
        (base + 0.5 * torch.randn(n, d, generator=generator, dtype=dtype)).requires_grad_()
        for _ in range(2)
    ]


def _value_and_grads(loss_fn, views):
    loss = loss_fn(*views)
    return loss.detach(), torch.autograd.grad(loss, views)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_equal_lightly(temperature, dtype):
    views = _pair(64, 32, dtype=dtype, seed=3)
    loss, grads = _value_and_grads(NTXentLoss(temperature=temperature), views)
    expected, expected_grads = _value_and_grads(LightlyNTXentLoss(temperature=temperature), views)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(loss, expected, **tol)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, **tol)


def test_equal_per_anchor_formula():
    views = _pair(6, 4, seed=4)
    loss, grads = _value_and_grads(NTXentLoss(temperature=0.3), views)
    expected, expected_grads = _value_and_grads(
        lambda a, b: references.nt_xent(a, b, temperature=0.3), views
    )
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


def test_symmetric_in_the_views_and_scale_invariant():
    z_a, z_b = _pair(16, 8, seed=5)
    loss_fn = NTXentLoss()
    torch.testing.assert_close(loss_fn(z_a, z_b), loss_fn(z_b, z_a))
    torch.testing.assert_close(loss_fn(3.0 * z_a, 0.5 * z_b), loss_fn(z_a, z_b))


def test_defaults_are_lightlys():
    """Same name as lightly's loss, same default temperature (0.5) and the same values."""
    ours = inspect.signature(NTXentLoss).parameters["temperature"].default
    lightlys = inspect.signature(LightlyNTXentLoss).parameters["temperature"].default
    assert ours == lightlys == 0.5
    views = _pair(32, 16, seed=6)
    loss, grads = _value_and_grads(NTXentLoss(), views)
    expected, expected_grads = _value_and_grads(LightlyNTXentLoss(), views)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.0, -0.1, float("nan")])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=temperature)


def test_more_than_two_views_rejected():
    z_a, z_b = _pair(4, 3)
    with pytest.raises(ValueError):
        NTXentLoss()([z_a, z_b, z_a], None)
