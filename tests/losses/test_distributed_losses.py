"""2-process gloo runs give the loss and gradients of one process over the concatenated batch.

Convention (req_plugins.distributed): with ``gather_distributed=True`` every rank returns
the loss of the global batch and the gradient of its local embeddings is ``world_size``
times the global one, which DDP's averaging turns into exactly the single-process gradient.
"""

import pytest
import torch
from torch import nn

from req_plugins.functional import effective_rank, matrix_mutual_information
from req_plugins.losses import (
    AdaDimController,
    AdaDimLoss,
    MultiViewBarlowTwinsLoss,
    MultiViewVICRegLoss,
    NTXentLoss,
)
from tests.ddp import run_distributed

WORLD_SIZE = 2
N_LOCAL, D_IN, D = 6, 5, 4

CASES = {
    "barlow_twins_2_views": (lambda gather: MultiViewBarlowTwinsLoss(0.05, None, gather), 2),
    "barlow_twins_4_views": (lambda gather: MultiViewBarlowTwinsLoss(0.05, None, gather), 4),
    "vicreg_2_views": (lambda gather: MultiViewVICRegLoss(gather_distributed=gather), 2),
    "vicreg_3_views": (lambda gather: MultiViewVICRegLoss(gather_distributed=gather), 3),
    "ntxent": (lambda gather: NTXentLoss(0.2, gather_distributed=gather), 2),
}


def _global_data(m):
    generator = torch.Generator().manual_seed(m)
    n = N_LOCAL * WORLD_SIZE
    base = torch.randn(n, D, generator=generator, dtype=torch.float64)
    # scaled dimensions keep the VICReg variance hinge active
    scale = torch.tensor([0.3, 0.7, 1.0, 2.0], dtype=torch.float64)
    views = [
        base + 0.5 * torch.randn(n, D, generator=generator, dtype=torch.float64) for _ in range(m)
    ]
    inputs = [torch.randn(n, D_IN, generator=generator, dtype=torch.float64) for _ in range(m)]
    return [v * scale for v in views], inputs


def _model():
    torch.manual_seed(0)
    return nn.Linear(D_IN, D).double()


def _loss_and_grads(loss_fn, views, inputs, model):
    views = [v.clone().requires_grad_() for v in views]
    loss = loss_fn(views)
    view_grads = torch.autograd.grad(loss, views)
    m = len(inputs)
    embeddings = model(torch.cat(inputs)).chunk(m)
    model_loss = loss_fn(list(embeddings))
    model_loss.backward()
    return {
        "loss": loss.detach(),
        "view_grads": view_grads,
        "model_loss": model_loss.detach(),
        "param_grads": [p.grad.clone() for p in model.parameters()],
    }


ADADIM = {"alpha": 0.3, "beta": 0.5}  # a large β so that the MI term weighs in the comparison


def _adadim_data():
    views, _ = _global_data(2)
    generator = torch.Generator().manual_seed(7)
    r = [
        torch.randn(N_LOCAL * WORLD_SIZE, 3, generator=generator, dtype=torch.float64)
        for _ in views
    ]
    return views, r


def _adadim_loss_and_grads(loss_fn, views, r):
    inputs = [x.clone().requires_grad_() for x in [*views, *r]]
    loss = loss_fn(inputs[0], inputs[1], r=inputs[2:], alpha=ADADIM["alpha"])
    return loss.detach(), torch.autograd.grad(loss, inputs)


def _controller_features(rank, batch):
    # rank 0 sees low-rank features, rank 1 full-rank ones: α must be their common mean
    generator = torch.Generator().manual_seed(100 * rank + batch)
    rank_of_features = 2 if rank == 0 else 16
    return torch.randn(20, rank_of_features, generator=generator) @ torch.randn(
        rank_of_features, 16, generator=generator
    )


def _worker(rank, world_size):
    results = {}
    rows = slice(rank * N_LOCAL, (rank + 1) * N_LOCAL)
    views, r = _adadim_data()
    results["adadim"] = _adadim_loss_and_grads(
        AdaDimLoss(beta=ADADIM["beta"], gather_distributed=True),
        [v[rows] for v in views],
        [x[rows] for x in r],
    )
    controller = AdaDimController(num_batches=3)
    results["controller_alpha"] = controller.measure(
        (_controller_features(rank, b) for b in range(3)), epoch=20
    )
    for name, (make_loss, m) in CASES.items():
        views, inputs = _global_data(m)
        model = nn.parallel.DistributedDataParallel(_model())
        results[name] = _loss_and_grads(
            make_loss(True), [v[rows] for v in views], [x[rows] for x in inputs], model
        )
    return results


@pytest.fixture(scope="module")
def distributed_results():
    return run_distributed(_worker, WORLD_SIZE)


@pytest.mark.distributed
@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_equal_one_process_over_concatenated_batch(distributed_results, name):
    make_loss, m = CASES[name]
    views, inputs = _global_data(m)
    expected = _loss_and_grads(make_loss(False), views, inputs, _model())
    for rank, results in enumerate(distributed_results):
        got = results[name]
        rows = slice(rank * N_LOCAL, (rank + 1) * N_LOCAL)
        torch.testing.assert_close(got["loss"], expected["loss"], rtol=1e-12, atol=1e-12)
        for grad, expected_grad in zip(got["view_grads"], expected["view_grads"], strict=True):
            torch.testing.assert_close(
                grad / WORLD_SIZE, expected_grad[rows], rtol=1e-10, atol=1e-12
            )
        # end to end through DDP: same loss, same parameter gradients
        torch.testing.assert_close(
            got["model_loss"], expected["model_loss"], rtol=1e-12, atol=1e-12
        )
        for grad, expected_grad in zip(got["param_grads"], expected["param_grads"], strict=True):
            torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.distributed
def test_adadim_two_processes(distributed_results):
    """VICReg and InfoNCE over the global batch, the MI term averaged over the processes."""
    views, r = _adadim_data()
    beta = ADADIM["beta"]
    shards = [slice(k * N_LOCAL, (k + 1) * N_LOCAL) for k in range(WORLD_SIZE)]

    def reference(z_a, z_b, r, alpha):
        mi = [
            matrix_mutual_information(torch.cat([r[0][s], r[1][s]]), torch.cat([z_a[s], z_b[s]]))
            for s in shards
        ]
        return (
            (1 - alpha) * MultiViewVICRegLoss()(z_a, z_b)
            + alpha * NTXentLoss(temperature=0.1)(z_a, z_b)
            + beta * alpha * sum(mi) / len(mi)
        )

    expected, expected_grads = _adadim_loss_and_grads(reference, views, r)
    for rank, results in enumerate(distributed_results):
        loss, grads = results["adadim"]
        torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
        for grad, expected_grad in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(
                grad / WORLD_SIZE, expected_grad[shards[rank]], rtol=1e-10, atol=1e-12
            )


@pytest.mark.distributed
def test_controller_alpha_is_averaged_over_processes(distributed_results):
    per_rank = [
        sum(float(effective_rank(_controller_features(rank, b), normalized=True)) for b in range(3))
        for rank in range(WORLD_SIZE)
    ]
    expected = sum(per_rank) / (3 * WORLD_SIZE)
    alphas = [results["controller_alpha"] for results in distributed_results]
    assert alphas[0] == alphas[1] == pytest.approx(expected, rel=1e-12)
    assert 0.1 < expected < 0.9  # the two ranks really differ


@pytest.mark.distributed
def test_without_gather_each_process_sees_only_its_batch(distributed_results):
    # sanity check of the test itself: the local-batch loss differs from the global one
    make_loss, m = CASES["barlow_twins_4_views"]
    views, _ = _global_data(m)
    local = make_loss(False)([v[:N_LOCAL] for v in views])
    assert not torch.allclose(local, distributed_results[0]["barlow_twins_4_views"]["loss"])
