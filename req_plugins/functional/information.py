r"""Matrix-based Rényi entropy (order 2) and the matrix mutual information I(R;Z).

Following Sanchez Giraldo et al. (2015), as used by AdaDim (Kokilepersaud et al. 2025,
App. A.3): rows of R ``(N, d₁)`` and
Z ``(N, d₂)`` are scaled to unit L2 norm, :math:`A = RR^T/N`, :math:`B = ZZ^T/N` (trace 1),

.. math::
    H_2(A) = -\log \operatorname{tr}(A^2), \quad
    C = \frac{A \circ B}{\operatorname{tr}(A \circ B)}, \quad
    I(R;Z) = H_2(A) + H_2(B) - H_2(C).

Since :math:`C_{ij}^2 \le A_{ij}^2` for unit rows, :math:`I \le \min(H_2(A), H_2(B))`.
:math:`\operatorname{tr}((RR^T)^2) = \|R^TR\|_F^2`, so the marginal entropies follow from
``d × d`` second moments (streamable, exact over all samples). The joint term needs the
pairwise products :math:`k_{ij} = (r_i \cdot r_j)(z_i \cdot z_j)`:

.. math::
    \operatorname{tr}(C^2) = \frac{\sum_i k_{ii}^2 + \sum_{i \ne j} k_{ij}^2}{(\sum_i k_{ii})^2},

and here the off-diagonal sum is :math:`N(N-1)` times the mean of :math:`k_{ij}^2` over the
pairs actually formed — all pairs (exact), the pairs among the first ``max_samples`` rows,
or, in the streaming metric, the pairs within each batch. For exchangeable (shuffled)
samples that mean is unbiased for the all-pairs mean, so the estimate does not drift with
the batch size; only its variance does.

Rows that are exactly zero stay zero (they add nothing to the traces); all formulas above
normalise by the actual traces, so they remain valid.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from req_plugins._validation import as_features, check_int


class _JointStatistics(NamedTuple):
    """Sums for the joint term: Σ kᵢᵢ, Σ kᵢᵢ², Σ_{i≠j} kᵢⱼ² over formed pairs, #pairs."""

    trace: Tensor
    diagonal_square_sum: Tensor
    pair_square_sum: Tensor
    pair_count: Tensor


def _unit_rows(features: object, name: str) -> Tensor:
    x = as_features(features, name, min_samples=1).to(torch.float64)
    return torch.nn.functional.normalize(x, dim=1)


def _squared_gram_norm(x: Tensor) -> Tensor:
    """‖XᵀX‖²_F = ‖XXᵀ‖²_F = tr((XXᵀ)²), via the smaller Gram matrix."""
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    return gram.square().sum()


def _entropy_from_sums(trace: Tensor, squared_gram_norm: Tensor, name: str) -> Tensor:
    """H₂ of the trace-normalised Gram matrix: -log(‖XᵀX‖²_F / tr(XᵀX)²)."""
    if not bool(trace > 0):
        raise ValueError(f"`{name}` is all zero: its matrix entropy is undefined.")
    return -torch.log(squared_gram_norm / trace.square())


def _joint_statistics(r_unit: Tensor, z_unit: Tensor, max_samples: int | None) -> _JointStatistics:
    """Joint-term sums for one batch of unit-row features (pairs among ≤ max_samples rows)."""
    diagonal = r_unit.square().sum(dim=1) * z_unit.square().sum(dim=1)  # kᵢᵢ, 1 or 0
    r_sub, z_sub = r_unit[:max_samples], z_unit[:max_samples]
    kernel = (r_sub @ r_sub.T) * (z_sub @ z_sub.T)
    m = r_sub.shape[0]
    pair_square_sum = kernel.square().sum() - kernel.diagonal().square().sum()
    pair_count = torch.tensor(m * (m - 1), dtype=torch.int64, device=r_unit.device)
    return _JointStatistics(diagonal.sum(), diagonal.square().sum(), pair_square_sum, pair_count)


def _joint_entropy(count: Tensor, joint: _JointStatistics) -> Tensor:
    """H₂(C) from the joint sums, the off-diagonal sum scaled from the formed pairs to all."""
    n = count.to(torch.float64)
    off_diagonal = n * (n - 1) * joint.pair_square_sum / joint.pair_count
    trace_c2 = (joint.diagonal_square_sum + off_diagonal) / joint.trace.square()
    return -torch.log(trace_c2)


def _check_pair(r: object, z: object) -> tuple[Tensor, Tensor]:
    r_unit, z_unit = _unit_rows(r, "r"), _unit_rows(z, "z")
    if z_unit.shape[0] != r_unit.shape[0]:
        raise ValueError(
            f"`z` must have as many samples as `r` (row i of both is the same input): "
            f"`r` has {r_unit.shape[0]}, `z` has {z_unit.shape[0]}."
        )
    if z_unit.device != r_unit.device:
        raise ValueError(f"`z` is on {z_unit.device} but `r` is on {r_unit.device}.")
    return r_unit, z_unit


def renyi_entropy(features: Tensor) -> Tensor:
    r"""Order-2 matrix Rényi entropy :math:`H_2(A) = -\log\operatorname{tr}(A^2)`.

    :math:`A = FF^T/N` after scaling every row of ``features`` to unit L2 norm, so
    :math:`0 \le H_2 \le \log\min(N, D)`. Computed as
    :math:`-\log(\|F^TF\|_F^2 / N^2)` on the smaller Gram matrix, in float64. Differentiable.

    Example:
        >>> round(float(renyi_entropy(torch.eye(4))), 4)  # 4 orthogonal directions: log 4
        1.3863
        >>> round(float(renyi_entropy(torch.ones(4, 3))), 4) + 0.0  # a single direction
        0.0
    """
    x = _unit_rows(features, "features")
    if x.shape[0] < 2:
        raise ValueError(f"`features` needs at least 2 samples along dim 0, got {x.shape[0]}.")
    return _entropy_from_sums(x.square().sum(), _squared_gram_norm(x), "features")


def matrix_mutual_information(r: Tensor, z: Tensor, *, max_samples: int | None = None) -> Tensor:
    r"""Matrix mutual information :math:`I(R;Z) = H_2(A) + H_2(B) - H_2(C)` (order 2).

    See the module docstring for the formulas. :math:`H_2(A)` and :math:`H_2(B)` always use
    all N rows. The joint term :math:`H_2(C)` needs the N×N pairwise products: with
    ``max_samples=None`` all pairs are used (exact; O(N²) memory), otherwise only the pairs
    among the first ``max_samples`` rows, scaled to all pairs (an unbiased estimate when
    the rows are in random order). Differentiable (AdaDim uses it as a loss term); float64.

    Args:
        r: ``(N, d₁)`` representations (e.g. backbone features).
        z: ``(N, d₂)`` embeddings of the same N inputs (e.g. projector outputs).
        max_samples: cap on the rows used for the joint term (``>= 2``), or ``None``.

    Returns:
        0-dim float64 tensor, in nats. For independent R and Z it approaches 0 only when N
        is large against :math:`d_1 d_2` (the diagonal terms :math:`k_{ii}` weigh 1/N).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> r = torch.randn(512, 8, generator=g)
        >>> z_linear = r @ torch.randn(8, 8, generator=g)
        >>> z_independent = torch.randn(512, 8, generator=g)
        >>> round(float(matrix_mutual_information(r, z_linear)), 2)
        0.52
        >>> round(float(matrix_mutual_information(r, z_independent)), 2)
        0.09
    """
    if max_samples is not None:
        check_int(max_samples, "max_samples", min_value=2)
    r_unit, z_unit = _check_pair(r, z)
    n = r_unit.shape[0]
    if n < 2:
        raise ValueError(f"`r` needs at least 2 samples along dim 0, got {n}.")
    entropy_r = _entropy_from_sums(r_unit.square().sum(), _squared_gram_norm(r_unit), "r")
    entropy_z = _entropy_from_sums(z_unit.square().sum(), _squared_gram_norm(z_unit), "z")
    joint = _joint_statistics(r_unit, z_unit, max_samples)
    count = torch.tensor(n, dtype=torch.int64, device=r_unit.device)
    return entropy_r + entropy_z - _joint_entropy(count, joint)
