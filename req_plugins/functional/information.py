r"""Matrix-based Rényi entropy (order 2) and the matrix mutual information I(R;Z).

Following Sanchez Giraldo et al. 2015 (as used by AdaDim, Kokilepersaud et al.): the rows of
R ``(N, d₁)`` and Z ``(N, d₂)`` are scaled to unit L2 norm, a trace-1 PSD matrix is formed
from each, and with :math:`H_2(A) = -\log\operatorname{tr}(A^2)`

.. math::
    C = \frac{A \circ B}{\operatorname{tr}(A \circ B)}, \qquad
    I(R;Z) = H_2(A) + H_2(B) - H_2(C).

Two estimators differ in which matrices A and B are:

* ``estimator="gram"`` — the N×N sample Gram matrices :math:`A = \hat R\hat R^T/N`,
  :math:`B = \hat Z\hat Z^T/N` (Sanchez Giraldo et al.; any :math:`d_1, d_2`). The joint term
  needs the pairwise products :math:`k_{ij} = (\hat r_i\cdot\hat r_j)(\hat z_i\cdot\hat z_j)`:
  :math:`\operatorname{tr}(C^2) = (\sum_i k_{ii}^2 + \sum_{i\ne j}k_{ij}^2)/(\sum_i k_{ii})^2`,
  O(N²) work. It is *not* a sum over samples, so it cannot be streamed from per-batch sums.
* ``estimator="covariance"`` — the d×d normalised covariance matrices
  :math:`A = \hat R^T\hat R/N`, :math:`B = \hat Z^T\hat Z/N` (uncentred second moments of
  the unit rows, trace 1; needs :math:`d_1 = d_2`). This is what the AdaDim paper uses for
  its I(R;Z) analysis (its appendix A.3, "following Tan et al. 2023 … the normalized
  covariance matrices … are used as inputs"). Every term is a sum over samples, so it
  streams exactly. **Caveat:** A and B are each built from one space alone, so this
  quantity never sees which z belongs to which r — shuffling the rows of Z leaves it
  unchanged — and it compares feature k of R with feature k of Z, so rotating Z changes
  it. It measures how alike the two feature-covariance structures are, index by index,
  not the dependence between R and Z: on jointly Gaussian R and Z = AR + noise it is not
  monotone in the true mutual information (the Gram estimator is; both are tested).

The marginal entropies of the two estimators coincide (:math:`\hat R\hat R^T` and
:math:`\hat R^T\hat R` share their non-zero eigenvalues, and
:math:`\operatorname{tr}((\hat R\hat R^T)^2) = \|\hat R^T\hat R\|_F^2`); only the joint term
differs, often several-fold (the two are different functionals, not two estimates of one).

**Negative values.** Neither quantity is a Shannon mutual information, and neither is
bounded below by 0: :math:`H_2(C)` can exceed :math:`H_2(A) + H_2(B)`. For the Gram
estimator this happens only by a little, when R and Z share (almost) no structure, so a
value at or slightly below 0 means "no detectable dependence at this sample size". For the
covariance estimator a clearly negative value means the two spaces put their variance on
different feature indices. Values are not clamped: clamping would bias averages and
trajectories, and the function is a differentiable loss term. The upper bound
:math:`I \le \min(H_2(A), H_2(B))` holds for the Gram estimator.

Rows that are exactly zero stay zero (they add nothing to the traces); all formulas above
normalise by the actual traces, so they remain valid.
"""

from __future__ import annotations

import torch
from torch import Tensor

from req_plugins._validation import check_choice, check_finite, check_int, features_shape_checked

#: The I(R;Z) estimators, see the module docstring.
ESTIMATORS = ("gram", "covariance")
# Rows per block of the O(N²) joint term: bounds its memory to _PAIR_BLOCK × N.
_PAIR_BLOCK = 2048


def _unit_rows(features: object, name: str, validate_args: bool = True) -> Tensor:
    x = features_shape_checked(features, name, min_samples=1)
    if validate_args:
        check_finite(x, name)
    return torch.nn.functional.normalize(x.to(torch.float64), dim=1)


def _squared_gram_norm(x: Tensor) -> Tensor:
    """‖XᵀX‖²_F = ‖XXᵀ‖²_F = tr((XXᵀ)²), via the smaller Gram matrix."""
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    return gram.square().sum()


def _entropy_from_sums(
    trace: Tensor, squared_norm: Tensor, name: str, validate_args: bool = True
) -> Tensor:
    """H₂ of a trace-normalised PSD matrix M: -log(‖M‖²_F / tr(M)²)."""
    if validate_args and not bool(trace > 0):
        raise ValueError(f"`{name}` is all zero: its matrix entropy is undefined.")
    return -torch.log(squared_norm / trace.square())


def _pair_square_sum(r_unit: Tensor, z_unit: Tensor) -> Tensor:
    """Σ_{i≠j} k_ij² with k_ij = (r_i·r_j)(z_i·z_j), in row blocks (memory O(block · N))."""
    total = r_unit.new_zeros(())
    for start in range(0, r_unit.shape[0], _PAIR_BLOCK):
        stop = start + _PAIR_BLOCK
        kernel = (r_unit[start:stop] @ r_unit.T) * (z_unit[start:stop] @ z_unit.T)
        total = total + kernel.square().sum()
    diagonal = r_unit.square().sum(dim=1) * z_unit.square().sum(dim=1)
    return total - diagonal.square().sum()


def _gram_mutual_information(
    r_unit: Tensor, z_unit: Tensor, pair_rows: Tensor | None, validate_args: bool = True
) -> Tensor:
    """Gram estimator on unit rows; the joint off-diagonal term from the pairs of
    ``pair_rows`` (indices; ``None``: all rows), scaled to all N(N-1) pairs."""
    n = r_unit.shape[0]
    entropy_r = _entropy_from_sums(
        r_unit.square().sum(), _squared_gram_norm(r_unit), "r", validate_args
    )
    entropy_z = _entropy_from_sums(
        z_unit.square().sum(), _squared_gram_norm(z_unit), "z", validate_args
    )
    diagonal = r_unit.square().sum(dim=1) * z_unit.square().sum(dim=1)  # kᵢᵢ, 1 or 0
    if pair_rows is None:
        off_diagonal = _pair_square_sum(r_unit, z_unit)
    else:
        m = pair_rows.numel()
        pairs = _pair_square_sum(r_unit[pair_rows], z_unit[pair_rows])
        off_diagonal = pairs * (n * (n - 1) / (m * (m - 1)))
    trace_c2 = (diagonal.square().sum() + off_diagonal) / diagonal.sum().square()
    return entropy_r + entropy_z + torch.log(trace_c2)


def _covariance_mutual_information(
    r_second_moment: Tensor, z_second_moment: Tensor, validate_args: bool = True
) -> Tensor:
    """Covariance estimator from the summed d×d second moments of the unit rows."""
    joint = r_second_moment * z_second_moment
    entropy_r = _entropy_from_sums(
        r_second_moment.trace(), r_second_moment.square().sum(), "r", validate_args
    )
    entropy_z = _entropy_from_sums(
        z_second_moment.trace(), z_second_moment.square().sum(), "z", validate_args
    )
    return entropy_r + entropy_z + torch.log(joint.square().sum() / joint.trace().square())


def _check_same_samples(r: Tensor, z: Tensor) -> None:
    if z.shape[0] != r.shape[0]:
        raise ValueError(
            f"`z` must have as many samples as `r` (row i of both is the same input): "
            f"`r` has {r.shape[0]}, `z` has {z.shape[0]}."
        )
    if z.device != r.device:
        raise ValueError(f"`z` is on {z.device} but `r` is on {r.device}.")


def _check_pair(
    r: object, z: object, estimator: str = "gram", validate_args: bool = True
) -> tuple[Tensor, Tensor]:
    """Unit rows of ``r`` and ``z`` (float64) after the shape, dtype and device checks."""
    r_unit = _unit_rows(r, "r", validate_args)
    z_unit = _unit_rows(z, "z", validate_args)
    _check_same_samples(r_unit, z_unit)
    if estimator == "covariance" and z_unit.shape[1] != r_unit.shape[1]:
        raise ValueError(
            "estimator='covariance' takes the Hadamard product of the d×d matrices of R and "
            f"Z, so `z` must have as many features as `r`: `r` has {r_unit.shape[1]}, `z` has "
            f"{z_unit.shape[1]} (use estimator='gram' for different widths)."
        )
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


def matrix_mutual_information(
    r: Tensor,
    z: Tensor,
    *,
    estimator: str = "gram",
    max_samples: int | None = None,
    validate_args: bool = True,
) -> Tensor:
    r"""Matrix mutual information :math:`I(R;Z) = H_2(A) + H_2(B) - H_2(C)` (order 2).

    See the module docstring for the formulas and for what a negative value means.

    * ``estimator="gram"`` (default; what :class:`~req_plugins.losses.AdaDimLoss` uses):
      N×N sample Gram matrices, any widths. :math:`H_2(A)` and :math:`H_2(B)` use all N
      rows; the joint term uses all pairs (exact, O(N²) time, memory O(min(N, 2048)·N)), or
      with ``max_samples`` only the pairs among the first ``max_samples`` rows, scaled to
      all pairs (unbiased when the rows are in random order).
    * ``estimator="covariance"``: the d×d normalised covariance matrices — the AdaDim
      paper's analysis estimator (after Tan et al. 2023); needs ``d₁ = d₂``, O(N d²).

    Differentiable (AdaDim uses it as a loss term); float64 on the input's device.

    Args:
        r: ``(N, d₁)`` representations (e.g. backbone features).
        z: ``(N, d₂)`` embeddings of the same N inputs (e.g. projector outputs).
        estimator: ``"gram"`` or ``"covariance"``.
        max_samples: cap on the rows used for the Gram joint term (``>= 2``), or ``None``.
        validate_args: also check that the inputs are finite and not all zero. These value
            checks synchronise the host with the device; pass ``False`` in a compiled or
            GPU training step (shape, dtype and device are always checked, for free).

    Returns:
        0-dim float64 tensor, in nats. For independent R and Z the Gram estimate approaches
        0 only when N is large against :math:`d_1 d_2` (the diagonal terms weigh 1/N).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> r = torch.randn(512, 8, generator=g)
        >>> z_linear = r @ torch.randn(8, 8, generator=g)
        >>> z_independent = torch.randn(512, 8, generator=g)
        >>> round(float(matrix_mutual_information(r, z_linear)), 2)
        0.52
        >>> round(float(matrix_mutual_information(r, z_independent)), 2)
        0.09
        >>> round(float(matrix_mutual_information(r, z_linear, estimator="covariance")), 2)
        1.6
    """
    check_choice(estimator, "estimator", ESTIMATORS)
    if max_samples is not None:
        check_int(max_samples, "max_samples", min_value=2)
        if estimator != "gram":
            raise ValueError(
                "`max_samples` subsamples the pairs of the Gram estimator; "
                "estimator='covariance' always uses every sample exactly."
            )
    r_unit, z_unit = _check_pair(r, z, estimator, validate_args)
    n = r_unit.shape[0]
    if n < 2:
        raise ValueError(f"`r` needs at least 2 samples along dim 0, got {n}.")
    if estimator == "covariance":
        return _covariance_mutual_information(r_unit.T @ r_unit, z_unit.T @ z_unit, validate_args)
    pair_rows = None
    if max_samples is not None and max_samples < n:
        pair_rows = torch.arange(max_samples, device=r_unit.device)
    return _gram_mutual_information(r_unit, z_unit, pair_rows, validate_args)
