import pytest
import torch

from req_plugins.distributed import all_gather, all_reduce_sum, is_distributed, rank, world_size
from tests.ddp import run_distributed


def test_single_process_is_identity():
    assert (is_distributed(), world_size(), rank()) == (False, 1, 0)
    x = torch.randn(3, 2, requires_grad=True)
    assert all_gather(x) is x
    assert all_reduce_sum(x) is x


def _local(rank):
    # rank-dependent values, so that a wrong slice or a missing reduction shows
    return torch.arange(6, dtype=torch.float64).reshape(3, 2) + 10 * rank


def _collectives_worker(rank, world_size):
    x = _local(rank).requires_grad_()
    gathered = all_gather(x)
    # a rank-dependent weight: the gradient of x must sum the contributions of all ranks
    weight = torch.arange(gathered.numel(), dtype=torch.float64).reshape(gathered.shape) + rank
    (gathered * weight).sum().backward()
    gather_grad = x.grad.clone()

    y = _local(rank).requires_grad_()
    reduced = all_reduce_sum(y)
    (reduced * (rank + 1)).sum().backward()
    return {
        "info": (is_distributed(), world_size, rank),
        "gathered": gathered.detach(),
        "gather_grad": gather_grad,
        "reduced": reduced.detach(),
        "reduce_grad": y.grad,
    }


@pytest.mark.distributed
def test_collectives_values_and_gradients():
    results = run_distributed(_collectives_worker, 2)
    everything = torch.cat([_local(0), _local(1)])
    for r, result in enumerate(results):
        assert result["info"] == (True, 2, r)
        torch.testing.assert_close(result["gathered"], everything, rtol=0, atol=0)
        torch.testing.assert_close(result["reduced"], _local(0) + _local(1), rtol=0, atol=0)
        # all_gather: d/dx_r Σ_ranks Σ gathered·weight_rank = Σ_ranks weight_rank[rows of r]
        base = torch.arange(12, dtype=torch.float64).reshape(6, 2)
        expected = (2 * base + 0 + 1)[3 * r : 3 * r + 3]
        torch.testing.assert_close(result["gather_grad"], expected, rtol=0, atol=0)
        # all_reduce_sum: d/dy_r Σ_ranks (rank+1)·Σ reduced = 1 + 2
        torch.testing.assert_close(
            result["reduce_grad"], torch.full((3, 2), 3.0, dtype=torch.float64)
        )
