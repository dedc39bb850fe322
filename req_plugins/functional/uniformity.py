r"""Uniformity on the hypersphere (Wang & Isola 2020), as tracked in the AdaDim analysis.

.. math:: \mathcal{U}_t = \log \frac{2}{N(N-1)} \sum_{i<j} e^{-t\,\|\hat x_i - \hat x_j\|^2},
          \qquad \hat x = x / \|x\|,\ t = 2

Lower is more uniform: the log of the mean pairwise Gaussian potential, whose minimum over
distributions on the sphere is the uniform one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from req_plugins._validation import check_finite, check_number, features_shape_checked

_ROW_CHUNK = 2048  # rows of the pairwise block formed at once: O(chunk · N) memory


def pairwise_log_mean_exp(unit: Tensor, t: float, chunk: int = _ROW_CHUNK) -> Tensor:
    r""":math:`\log\operatorname{mean}_{i<j} \exp(-t\|u_i - u_j\|^2)` of the rows of ``unit``.

    Exact over all :math:`N(N-1)/2` pairs, in row blocks of ``chunk`` (memory
    O(chunk · N)), as one log-sum-exp (no underflow for large ``t``). Differentiable.
    """
    n = unit.shape[0]
    squared_norms = unit.square().sum(dim=1)
    parts = []
    for start in range(0, n - 1, chunk):
        block = unit[start : start + chunk]
        stop = start + block.shape[0]
        # Pairs (i, j) with i in this block and j > i.
        others = unit[start + 1 :]
        distances = (
            squared_norms[start:stop, None]
            + squared_norms[None, start + 1 :]
            - 2 * block @ others.T
        ).clamp_min(0)
        rows = torch.arange(start, stop, device=unit.device)[:, None]
        cols = torch.arange(start + 1, n, device=unit.device)[None, :]
        exponents = (-t * distances).masked_fill(cols <= rows, -math.inf)
        parts.append(torch.logsumexp(exponents.flatten(), dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(n * (n - 1) / 2)


def uniformity(features: Tensor, *, t: float = 2.0) -> Tensor:
    r"""Uniformity (Wang & Isola 2020, "Understanding Contrastive Representation Learning
    through Alignment and Uniformity on the Hypersphere").

    .. math:: \mathcal{U}_t = \log \frac{2}{N(N-1)} \sum_{i<j}
              e^{-t\,\|\hat x_i - \hat x_j\|^2}, \qquad \hat x_i = x_i / \|x_i\|

    Equal to the authors' ``torch.pdist(x̂, p=2).pow(2).mul(-t).exp().mean().log()``
    (computed here as a log-sum-exp, so no underflow). Lower is more uniform; it lies in
    :math:`[-4t, 0]`, ``0`` for a collapse onto one point. Rows are L2-normalised as
    ``torch.nn.functional.normalize`` does (an all-zero row stays zero).

    Args:
        features: ``(N, D)`` embeddings with ``N >= 2`` (extra dims flattened per sample), any
            float dtype.
        t: the kernel's scale :math:`t > 0` (paper: 2).

    Returns:
        0-dim float64 tensor. Differentiable.

    Example:
        >>> corners = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        >>> round(float(uniformity(corners)), 4)
        -4.3963
    """
    t = check_number(t, "t", min_value=0.0, strict_min=True)
    x = features_shape_checked(features, "features", min_samples=2)
    check_finite(x, "features")
    unit = F.normalize(x.to(torch.float64), dim=1)
    return pairwise_log_mean_exp(unit, t)
