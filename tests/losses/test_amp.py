"""Mixed precision: the losses compute their statistics in float32 under ``torch.autocast``.

Stated tolerances: on the same half-precision embeddings the loss under autocast equals the
float32 computation to 1e-6 (relative), i.e. autocast changes nothing inside the loss; against
a model run entirely in float32 it differs only by the rounding of the embeddings themselves
(bf16 keeps 8 significant bits), within 2 % here.
"""

import pytest
import torch
from torch import nn

from tests.losses.cases import LOSS_CASES as CASES

# N = 32 and d = 64 (N < d: VICReg's Gram path)
N, D_IN, D = 32, 24, 64


def _model_and_inputs(m, device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D_IN, 48), nn.ReLU(), nn.Linear(48, D)).to(device)
    inputs = torch.randn(m * N, D_IN, device=device)
    return model, inputs


def _forward(model, inputs, m, call, loss_fn):
    features = model[:2](inputs)
    views = list(model[2](features).chunk(m))
    r = list(features[: 2 * N].chunk(2))
    return views, r, call(loss_fn, views, r)


def _check_autocast(name, device, dtype):
    make_loss, m, call = CASES[name]
    loss_fn = make_loss()
    model, inputs = _model_and_inputs(m, device)
    with torch.autocast(device, dtype=dtype):
        views, r, loss = _forward(model, inputs, m, call, loss_fn)
    assert views[0].dtype == dtype  # autocast really produced half-precision embeddings
    assert loss.dtype == torch.float32
    # the same half-precision embeddings, upcast by hand, without autocast
    same_inputs = call(
        loss_fn, [v.detach().float() for v in views], [x.detach().float() for x in r]
    )
    torch.testing.assert_close(loss.detach(), same_inputs, rtol=1e-6, atol=1e-6)
    # against the float32 model
    _, _, fp32_loss = _forward(model, inputs, m, call, loss_fn)
    torch.testing.assert_close(loss.detach(), fp32_loss.detach(), rtol=2e-2, atol=1e-3)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", list(CASES))
def test_cpu_bfloat16_autocast_statistics_in_float32(name):
    _check_autocast(name, "cpu", torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_autocast_statistics_in_float32(name, dtype):
    _check_autocast(name, "cuda", dtype)


@pytest.mark.parametrize("name", list(CASES))
def test_float16_embeddings_of_magnitude_100(name):
    """Squared covariances of such embeddings (~1e8) overflow float16 (max 65504)."""
    make_loss, m, call = CASES[name]
    loss_fn = make_loss()
    generator = torch.Generator().manual_seed(1)
    base = 100 * torch.randn(N, D, generator=generator)
    views = [
        (base + 30 * torch.randn(N, D, generator=generator)).half().requires_grad_()
        for _ in range(m)
    ]
    r = [torch.randn(N, 16, generator=generator).half().requires_grad_() for _ in range(2)]
    loss = call(loss_fn, views, r)
    assert torch.isfinite(loss)
    expected = call(loss_fn, [v.detach().float() for v in views], [x.detach().float() for x in r])
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-6, atol=1e-6)
    grads = torch.autograd.grad(loss, views)
    for grad in grads:
        assert grad.dtype == torch.float16
        assert torch.isfinite(grad).all()
    assert any(grad.abs().sum() > 0 for grad in grads)
