"""Multi-view VICReg: each view against the mean of the other views.

VICReg: Bardes et al. 2022; multiple views as in Ghosh et al. 2024 (NeurIPS).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from req_plugins._validation import as_views, check_number
from req_plugins.distributed import all_gather, is_distributed
from req_plugins.losses._common import (
    check_projector_dim,
    float32_statistics,
    off_diagonal,
    orthogonality_weight,
)
from req_plugins.projectors import VICREG_NU_RATIO_REF

__all__ = ["DEFAULT_NU", "MultiViewVICRegLoss"]

#: ν when neither ``nu_param`` nor ``projector_dim`` is given (VICReg paper, lightly).
DEFAULT_NU = 1.0


class MultiViewVICRegLoss(nn.Module):
    r"""VICReg loss for m ≥ 2 views, O(m) in the number of views.

    Each view ``z_v`` is compared with the mean of the other views
    ``z̃_v = mean_{u≠v} z_u`` and the terms are averaged over views:

    .. code-block:: text

        inv = (1/m) Σ_v mse(z_v, z̃_v)
        var = (1/m) Σ_v ½ [v(z_v) + v(z̃_v)]
        cov = (1/m) Σ_v [c(z_v) + c(z̃_v)]
        L   = λ·inv + μ·var + ν·cov
        v(Z) = mean_i relu(1 − sqrt(Var(Z_{:,i}) + ε))        (unbiased variance)
        c(Z) = (1/d) Σ_{i≠j} Cov(Z)_{ij}²                      (Cov with 1/(N−1))

    With m = 2 (``z̃_1 = z_2``, ``z̃_2 = z_1``) each pair counts once and the loss
    is standard VICReg, equal to lightly's ``VICRegLoss(λ, μ, ν, eps=ε)``.

    Cost: the leave-one-out views ``(m − 1)·z̃_v = Σ_u z_u − z_v`` share one sum over the
    views (centring commutes with it); their variances and covariance penalties are those
    of that difference scaled by ``1/(m − 1)²`` and ``1/(m − 1)⁴``. With fewer samples than
    dimensions (N < d) each penalty ``Σ_{i≠j} C_ij² = ‖C‖_F² − Σ_i C_ii²`` takes ``‖C‖_F``
    from the N×N Gram matrix, ``‖ZᵀZ‖_F = ‖ZZᵀ‖_F`` (O(N²d) instead of O(Nd²)), with a
    one-matmul backward. Each of the m views and m leave-one-out views still needs its own
    matrix (2 at m = 2, where the leave-one-out view is the other view; 2m beyond).

    Low-dimensional projectors (Ghosh et al. 2024, §3.3 and §4.1): when ``projector_dim``
    is given and ``nu_param`` is not, ν follows the thesis's fixed ratio rule
    ``ν/λ = 1.3e-3 · 8192 / d``, i.e. ``ν = λ · beta_for_dim(d, 8192, 1.3e-3)``
    (``ν = 0.0325`` at d = 8192, ``1.04`` at d = 256 with λ = 25). With neither,
    ν = 1 (VICReg paper).

    No host-device synchronisation; statistics in float32 under mixed precision (see
    :mod:`req_plugins.losses`).

    Args:
        lambda_param: invariance weight λ.
        mu_param: variance weight μ.
        nu_param: covariance weight ν; overrides the 1/d rule.
        projector_dim: projector output dimension d; sets ν by the 1/d rule and is
            checked against the embeddings.
        gather_distributed: under ``torch.distributed``, gather the embeddings of all
            processes (with gradients) and compute every term over the global batch,
            so every rank returns the loss of the concatenated batch.
        eps: ε added to the variance before the square root.
        validate_args: also reject NaN / Inf in the embeddings (off by default: it
            synchronises; see :mod:`req_plugins.losses`).

    Example:
        >>> import torch
        >>> loss_fn = MultiViewVICRegLoss()
        >>> z_a, z_b = torch.randn(32, 64), torch.randn(32, 64)
        >>> bool(loss_fn(z_a, z_b) > 0)
        True
        >>> loss_fn([torch.randn(32, 64) for _ in range(4)]).ndim  # four views
        0
    """

    def __init__(
        self,
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float | None = None,
        projector_dim: int | None = None,
        gather_distributed: bool = False,
        eps: float = 1e-4,
        validate_args: bool = False,
    ):
        super().__init__()
        self.lambda_param = check_number(lambda_param, "lambda_param", min_value=0.0)
        self.mu_param = check_number(mu_param, "mu_param", min_value=0.0)
        self.eps = check_number(eps, "eps", min_value=0.0)
        # the 1/d rule fixes the ratio ν/λ
        self.nu_param = orthogonality_weight(
            nu_param,
            "nu_param",
            projector_dim,
            self.lambda_param * VICREG_NU_RATIO_REF,
            DEFAULT_NU,
        )
        self.projector_dim = projector_dim
        self.gather_distributed = gather_distributed
        self.validate_args = validate_args

    def forward(self, z_a: Tensor | Sequence[Tensor], z_b: Tensor | None = None) -> Tensor:
        """Loss of two views ``(z_a, z_b)`` or of a list of m ≥ 2 views, each ``(N, d)``."""
        views = as_views(z_a, z_b, check_values=self.validate_args)
        m, (n, dim) = len(views), views[0].shape
        check_projector_dim(dim, self.projector_dim, f"ν = {self.nu_param:g}")
        views, float32 = float32_statistics(views)
        with float32:
            z = torch.stack(views)  # (m, N, d)
            if self.gather_distributed and is_distributed():
                # one collective for all views: gather the (N, m·d) rows of the samples
                z = all_gather(z.transpose(0, 1).reshape(n, m * dim))
                z = z.view(-1, m, dim).transpose(0, 1)
            return self._loss(z)

    def _loss(self, z: Tensor) -> Tensor:
        m = z.shape[0]
        centered = z - z.mean(dim=1, keepdim=True)
        view_var = _variances(centered)
        view_cov = _covariance_penalties(centered, view_var)
        if m == 2:
            # the mean of the other views is the other view: each pair counts once
            invariance = F.mse_loss(z[0], z[1])
            variance = self._hinge(view_var)
            covariance = view_cov.sum()
        else:
            # (m − 1)·z̃_v = Σ_u z_u − z_v; centring commutes with it, so the leave-one-out
            # views' statistics come from the shared sum, scaled by powers of 1/(m − 1)
            loo = centered.sum(dim=0) - centered
            loo_var = _variances(loo)
            loo_cov = _covariance_penalties(loo, loo_var) / (m - 1) ** 4
            # z_v − z̃_v = m/(m − 1)·(z_v − z̄) with z̄ the mean of all views
            mean_view = z.mean(dim=0, keepdim=True).expand_as(z)
            invariance = F.mse_loss(z, mean_view) * (m / (m - 1)) ** 2
            variance = 0.5 * (self._hinge(view_var) + self._hinge(loo_var / (m - 1) ** 2))
            covariance = (view_cov + loo_cov).mean()
        return (
            self.lambda_param * invariance + self.mu_param * variance + self.nu_param * covariance
        )

    def _hinge(self, variances: Tensor) -> Tensor:
        """mean over views and dimensions of relu(1 − sqrt(Var + ε))."""
        return F.relu(1.0 - torch.sqrt(variances + self.eps)).mean()

    def extra_repr(self) -> str:
        return (
            f"lambda_param={self.lambda_param:g}, mu_param={self.mu_param:g}, "
            f"nu_param={self.nu_param:g}, projector_dim={self.projector_dim}"
        )


def _variances(centered: Tensor) -> Tensor:
    """Unbiased per-dimension variances ``(k, d)`` of centred ``(k, N, d)`` embeddings."""
    # a norm is one reduction with a one-multiply backward (a square's backward is slower)
    return torch.linalg.vector_norm(centered, dim=1).pow(2) / (centered.shape[1] - 1)


def _covariance_penalties(centered: Tensor, variances: Tensor) -> Tensor:
    """``(1/d) Σ_{i≠j} Cov_ij²`` for each of the k centred ``(N, d)`` blocks, ``(k,)``.

    With N < d the squared Frobenius norm comes from the N×N Gram matrix,
    ``‖ZᵀZ‖_F² = ‖ZZᵀ‖_F²`` (O(N²d) instead of O(Nd²)), less the squared variances on
    the diagonal; otherwise from the d×d covariance's off-diagonal entries directly.
    """
    n, d = centered.shape[1:]
    if n < d:
        squared_norm = _GramSquaredNorm.apply(centered) / (n - 1) ** 2
        return (squared_norm - variances.pow(2).sum(dim=1)) / d
    cov = centered.transpose(1, 2) @ centered / (n - 1)
    return torch.stack([off_diagonal(c).pow(2).sum() for c in cov]) / d


class _GramSquaredNorm(torch.autograd.Function):
    """``‖Z_k Z_kᵀ‖_F²`` for a batch ``(k, N, d)``, with the gradient ``4 (Z_k Z_kᵀ) Z_k``.

    Autograd would differentiate the product ``Z Zᵀ`` through both factors (two matmuls);
    the symmetric closed form needs one.
    """

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:  # type: ignore[override]
        gram = z @ z.transpose(1, 2)
        ctx.save_for_backward(z, gram)
        return gram.pow(2).sum(dim=(1, 2))

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:  # type: ignore[override]
        z, gram = ctx.saved_tensors
        return (gram * (4 * grad_output).view(-1, 1, 1)) @ z
