"""Small tensor helpers shared by the losses."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from req_plugins._validation import check_int, check_number
from req_plugins.projectors import D_REF, beta_for_dim


def off_diagonal(matrix: Tensor) -> Tensor:
    """The off-diagonal entries of a square matrix, as a strided view (no copy, no mask)."""
    d = matrix.shape[0]
    # in the flattened matrix the diagonal entries are every (d+1)-th element; dropping the
    # first element puts them in the last column of a (d-1, d+1) view
    return matrix.flatten()[1:].view(d - 1, d + 1)[:, :-1]


def orthogonality_weight(
    weight: float | None, name: str, projector_dim: int | None, ref_weight: float, default: float
) -> float:
    """The given ``weight`` (≥ 0), else the 1/d rule for ``projector_dim``, else ``default``."""
    if projector_dim is not None:
        check_int(projector_dim, "projector_dim", min_value=2)
    if weight is not None:
        return check_number(weight, name, min_value=0.0)
    if projector_dim is not None:
        return beta_for_dim(projector_dim, D_REF, ref_weight)
    return default


def check_projector_dim(dim: int, projector_dim: int | None, derived: str) -> None:
    """Raise if the embeddings' width differs from the ``projector_dim`` the loss was built for."""
    if projector_dim is not None and dim != projector_dim:
        raise ValueError(
            f"The embeddings have dimension {dim} but the loss was built for "
            f"`projector_dim={projector_dim}` ({derived} follows from it)."
        )


def float32_statistics(
    views: list[Tensor],
) -> tuple[list[Tensor], contextlib.AbstractContextManager]:
    """The views with half precision raised to float32, and a context that keeps it there.

    Under ``torch.autocast`` a projector returns float16 / bfloat16 embeddings and autocast
    would run the loss's matmuls in that precision too: squared covariances of fp16
    embeddings of magnitude 10 already overflow (max 65504), and bf16 keeps 3 digits. The
    losses therefore compute every statistic in float32 (float64 input stays float64),
    with autocast disabled inside; gradients flow back to the half-precision views.
    """
    views = [v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for v in views]
    device_type = views[0].device.type
    if torch.amp.is_autocast_available(device_type):
        return views, torch.autocast(device_type, enabled=False)
    return views, contextlib.nullcontext()
