"""No host-device synchronisation: every loss compiles with ``fullgraph=True`` and equals eager.

A data-dependent Python branch (``bool(tensor)``, ``.item()``) — the signature of a host
sync — makes ``torch.compile(fullgraph=True)`` fail ("Could not guard on data-dependent
expression"), so compiling the full graph proves the forward and backward never wait for
the device. On a GPU the same is checked directly with ``torch.cuda.set_sync_debug_mode``.
"""

import shutil

import pytest
import torch
from torch import nn

from req_plugins.losses import MultiViewVICRegLoss
from tests.losses.cases import LOSS_CASES, call_multiview

# name: (loss factory, views, call, batch N, embedding d)
CASES = {
    **{name: (*case, 16, 8) for name, case in LOSS_CASES.items()},
    # N < d: covariance penalties through the N×N Gram matrices (custom backward)
    "vicreg_4_views_gram": (MultiViewVICRegLoss, 4, call_multiview, 8, 16),
}


def _inputs(m, n, d, seed=0, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=generator)
    scale = torch.linspace(0.2, 2.0, d)  # keeps the VICReg variance hinge active
    views = [(base + 0.5 * torch.randn(n, d, generator=generator)) * scale for _ in range(m)]
    r = [torch.randn(n, 12, generator=generator) for _ in range(2)]
    return [x.to(device).requires_grad_() for x in views], [
        x.to(device).requires_grad_() for x in r
    ]


def _value_and_grads(loss_fn, call, views, r):
    loss = call(loss_fn, views, r)
    inputs = views + r
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return loss.detach(), [
        g if g is not None else torch.zeros_like(x) for g, x in zip(grads, inputs, strict=True)
    ]


def _assert_compiled_equals_eager(name, backend):
    make_loss, m, call, n, d = CASES[name]
    loss_fn = make_loss()
    compiled = torch.compile(loss_fn, fullgraph=True, backend=backend)
    views, r = _inputs(m, n, d)
    expected, expected_grads = _value_and_grads(loss_fn, call, views, r)
    got, grads = _value_and_grads(compiled, call, views, r)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-6)
    assert expected_grads[0].abs().sum() > 0  # the comparison is not vacuous


@pytest.mark.parametrize("name", list(CASES))
def test_fullgraph_compile_equals_eager(name):
    torch._dynamo.reset()
    _assert_compiled_equals_eager(name, backend="eager")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="inductor needs a C compiler")
def test_inductor_compile_equals_eager():
    # one loss only: inductor's C++ code generation takes minutes on a small CPU
    torch._dynamo.reset()
    _assert_compiled_equals_eager("vicreg_4_views_gram", backend="inductor")


def test_fullgraph_compile_with_validate_args():
    # validate_args=True compiles too: the NaN / Inf check becomes torch._assert_async
    torch._dynamo.reset()
    loss_fn = MultiViewVICRegLoss(validate_args=True)
    views, _ = _inputs(3, 8, 16)
    compiled = torch.compile(loss_fn, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(views), loss_fn(views), rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_training_step_never_synchronises(name):
    """Forward, backward and an optimiser step of a small model under sync debug mode "error"."""
    make_loss, m, call, n, d = CASES[name]
    torch.manual_seed(0)
    projector = nn.Sequential(nn.Linear(12, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, d))
    projector = projector.cuda()
    optimizer = torch.optim.SGD(projector.parameters(), lr=0.01, momentum=0.9)
    loss_fn = make_loss()
    inputs = [torch.randn(n, 12, device="cuda") for _ in range(m)]
    r = [x.clone().requires_grad_() for x in inputs[:2]]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        views = list(projector(torch.cat(inputs)).chunk(m))
        loss = call(loss_fn, views, r)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(loss).item()
