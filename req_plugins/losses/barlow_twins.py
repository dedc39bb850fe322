"""Multi-view Barlow Twins with cost linear in the number of views.

Ghosh et al. 2024, *Harnessing small projectors and multiple views for efficient vision
pretraining* (NeurIPS), Eq. 10; Barlow Twins: Zbontar et al. 2021.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from req_plugins._validation import as_views
from req_plugins.distributed import all_reduce_sum, is_distributed, world_size
from req_plugins.losses._common import (
    check_projector_dim,
    float32_statistics,
    off_diagonal,
    orthogonality_weight,
)
from req_plugins.projectors import BARLOW_TWINS_BETA_REF

__all__ = ["DEFAULT_BETA", "MultiViewBarlowTwinsLoss"]

#: β when neither ``beta`` nor ``projector_dim`` is given: the Barlow Twins paper's
#: weight, also lightly's ``BarlowTwinsLoss`` default.
DEFAULT_BETA = 5e-3
#: Added to the batch variance before the standardisation, as ``F.batch_norm`` does.
_BN_EPS = 1e-5


class MultiViewBarlowTwinsLoss(nn.Module):
    r"""Barlow Twins loss for m ≥ 2 views, O(m) in the number of views.

    Every view is standardised per dimension over the batch (mean 0, std 1,
    biased variance + 1e-5, exactly like ``F.batch_norm``). With ``N`` samples:

    * m = 2, the standard loss with ``C = z_1ᵀ z_2 / N``:
      ``L = Σ_i (1 − C_ii)² + β Σ_{i≠j} C_ij²``;
    * m > 2, each view against the mean view ``z̄ = (1/m) Σ_v z_v`` (the mean of the
      standardised views, not re-standardised):
      ``L = (1/m) Σ_v Σ_i ((z_vᵀ z̄ / N)_ii − 1)² + β Σ_{i≠j} (z̄ᵀ z̄ / N)_ij²``.

    The m > 2 form needs the diagonal of m cross-correlations (O(m·N·d)) and one
    d×d auto-correlation, instead of the m(m−1)/2 d×d matrices of all pairs.

    β follows the low-dimensional-projector rule ``β = 4e-4 · 8192 / d``
    (:func:`~req_plugins.projectors.beta_for_dim`) when ``projector_dim`` is given
    and ``beta`` is not; with neither, β = 5e-3 (Barlow Twins paper, lightly's
    default). At m = 2 the loss equals lightly's ``BarlowTwinsLoss(lambda_param=β)``.

    No host-device synchronisation; statistics in float32 under mixed precision (see
    :mod:`req_plugins.losses`).

    Args:
        beta: redundancy-reduction weight β (≥ 0); overrides the 1/d rule.
        projector_dim: projector output dimension d; sets β by the 1/d rule and is
            checked against the embeddings.
        gather_distributed: compute the loss over the global batch under
            ``torch.distributed``: batch statistics and correlation matrices are
            all-reduced (autograd-aware), so every rank returns the loss of the
            concatenated batch and DDP's gradient averaging gives its exact gradient.
        validate_args: also reject NaN / Inf in the embeddings (off by default: it
            synchronises; see :mod:`req_plugins.losses`).

    Example:
        >>> import torch
        >>> loss_fn = MultiViewBarlowTwinsLoss(projector_dim=256)
        >>> loss_fn.beta
        0.0128
        >>> views = [torch.randn(32, 256, requires_grad=True) for _ in range(4)]
        >>> loss = loss_fn(views)  # or loss_fn(z_a, z_b) for two views
        >>> loss.backward()
    """

    def __init__(
        self,
        beta: float | None = None,
        projector_dim: int | None = None,
        gather_distributed: bool = False,
        validate_args: bool = False,
    ):
        super().__init__()
        self.beta = orthogonality_weight(
            beta, "beta", projector_dim, BARLOW_TWINS_BETA_REF, DEFAULT_BETA
        )
        self.projector_dim = projector_dim
        self.gather_distributed = gather_distributed
        self.validate_args = validate_args

    def forward(self, z_a: Tensor | Sequence[Tensor], z_b: Tensor | None = None) -> Tensor:
        """Loss of two views ``(z_a, z_b)`` or of a list of m ≥ 2 views, each ``(N, d)``."""
        views = as_views(z_a, z_b, check_values=self.validate_args)
        dim = views[0].shape[1]
        check_projector_dim(dim, self.projector_dim, f"β = {self.beta:g}")
        views, float32 = float32_statistics(views)
        with float32:
            return self._loss(views, dim)

    def _loss(self, views: list[Tensor], dim: int) -> Tensor:
        m, n = len(views), views[0].shape[0]
        distributed = self.gather_distributed and is_distributed()
        reduce = all_reduce_sum if distributed else _identity
        n_total = n * world_size() if distributed else n
        # per-view standardisation is per-column standardisation of the concatenation
        z = torch.cat(views, dim=1)
        z = _standardize_global(z, n_total) if distributed else _standardize(z)

        if m == 2:
            corr = reduce(z[:, :dim].T @ z[:, dim:]).div_(n_total)
            invariance = (corr.diagonal() - 1).pow(2).sum()
        else:
            z = z.view(n, m, dim)
            z_mean = z.mean(dim=1)
            # only the diagonals of the view-vs-mean cross-correlations enter the loss
            diagonals = reduce((z * z_mean.unsqueeze(1)).sum(dim=0)) / n_total  # (m, d)
            invariance = (diagonals - 1).pow(2).sum(dim=1).mean()
            corr = reduce(z_mean.T @ z_mean).div_(n_total)
        return invariance + self.beta * off_diagonal(corr).pow(2).sum()

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}, projector_dim={self.projector_dim}"


def _identity(tensor: Tensor) -> Tensor:
    return tensor


def _standardize(z: Tensor) -> Tensor:
    """Per-column (z − mean) / sqrt(biased var + 1e-5): the op of lightly's Barlow Twins."""
    return F.batch_norm(z, None, None, training=True, eps=_BN_EPS)


def _standardize_global(z: Tensor, n_total: int) -> Tensor:
    """:func:`_standardize` with the mean and variance of the batch of all processes."""
    mean = all_reduce_sum(z.sum(dim=0)) / n_total
    centered = z - mean
    var = all_reduce_sum(centered.pow(2).sum(dim=0)) / n_total
    return centered * torch.rsqrt(var + _BN_EPS)
