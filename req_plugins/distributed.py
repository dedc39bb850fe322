"""Autograd-aware collectives for losses computed over the global batch.

Every loss with ``gather_distributed=True`` follows one convention, the one of
lightly and solo-learn: each process returns the loss of the *global* batch
(the same value on every rank), and the gradient that reaches a process's local
embeddings is ``world_size`` times the gradient of that global loss. DDP's
gradient averaging then yields exactly the gradient of one process trained on
the concatenated batch.

Both collectives below are the identity when ``torch.distributed`` is not
initialised or the world has one process, so single-process code is unchanged.

Example:
    >>> import torch
    >>> from req_plugins.distributed import all_gather, all_reduce_sum, world_size
    >>> x = torch.ones(4, 3, requires_grad=True)
    >>> world_size(), tuple(all_gather(x).shape), all_reduce_sum(x).sum().item()
    (1, (4, 3), 12.0)
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["all_gather", "all_reduce_sum", "is_distributed", "rank", "world_size"]


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes (1 outside distributed training)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """Rank of this process (0 outside distributed training)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient is summed over processes as well.

    Every rank computes the same function of the reduced tensor, so the gradient
    of a local contribution is the sum of the upstream gradients of all ranks.
    """

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # type: ignore[override]
        reduced = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad_output.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class _AllGather(torch.autograd.Function):
    """Concatenate the tensors of all processes along dim 0.

    Backward sums each slice's gradient over processes and returns this rank's
    slice (all tensors must have the same shape on every rank).
    """

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # type: ignore[override]
        tensor = tensor.contiguous()
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        ctx.local_size = tensor.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad_output.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.local_size
        return grad[start : start + ctx.local_size]


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over all processes, with gradients flowing back to every rank."""
    if not is_distributed():
        return tensor
    return _AllReduceSum.apply(tensor)


def all_gather(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from all processes along dim 0 (rank order), with gradients.

    Every process must pass a tensor of the same shape (DDP's ``DistributedSampler``
    guarantees equal per-process batch sizes).
    """
    if not is_distributed():
        return tensor
    return _AllGather.apply(tensor)
