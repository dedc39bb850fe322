"""Multi-view VICReg: each view against the mean of the other views.

VICReg: Bardes et al. 2022; multiple views as in Ghosh et al. 2024 (NeurIPS).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from req_plugins._validation import as_views, check_number
from req_plugins.distributed import all_gather
from req_plugins.losses._common import check_projector_dim, off_diagonal, orthogonality_weight
from req_plugins.projectors import VICREG_NU_RATIO_REF

__all__ = ["DEFAULT_NU", "MultiViewVICRegLoss", "vicreg_covariance", "vicreg_variance"]

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

    Low-dimensional projectors (Ghosh et al. 2024, §3.3 and §4.1): when ``projector_dim``
    is given and ``nu_param`` is not, ν follows the thesis's fixed ratio rule
    ``ν/λ = 1.3e-3 · 8192 / d``, i.e. ``ν = λ · beta_for_dim(d, 8192, 1.3e-3)``
    (``ν = 0.0325`` at d = 8192, ``1.04`` at d = 256 with λ = 25). With neither,
    ν = 1 (VICReg paper).

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

    def forward(self, z_a: Tensor | Sequence[Tensor], z_b: Tensor | None = None) -> Tensor:
        """Loss of two views ``(z_a, z_b)`` or of a list of m ≥ 2 views, each ``(N, d)``."""
        views = as_views(z_a, z_b)
        dim = views[0].shape[1]
        check_projector_dim(dim, self.projector_dim, f"ν = {self.nu_param:g}")
        if self.gather_distributed:
            views = [all_gather(view) for view in views]

        if len(views) == 2:
            z_1, z_2 = views
            invariance = F.mse_loss(z_1, z_2)
            variance = 0.5 * (vicreg_variance(z_1, self.eps) + vicreg_variance(z_2, self.eps))
            covariance = vicreg_covariance(z_1) + vicreg_covariance(z_2)
        else:
            m = len(views)
            total = torch.stack(views).sum(dim=0)
            invariance = variance = covariance = 0.0
            for view in views:
                others = (total - view) / (m - 1)
                invariance = invariance + F.mse_loss(view, others)
                variance = variance + 0.5 * (
                    vicreg_variance(view, self.eps) + vicreg_variance(others, self.eps)
                )
                covariance = covariance + vicreg_covariance(view) + vicreg_covariance(others)
            invariance, variance, covariance = invariance / m, variance / m, covariance / m
        return (
            self.lambda_param * invariance + self.mu_param * variance + self.nu_param * covariance
        )

    def extra_repr(self) -> str:
        return (
            f"lambda_param={self.lambda_param:g}, mu_param={self.mu_param:g}, "
            f"nu_param={self.nu_param:g}, projector_dim={self.projector_dim}"
        )


def vicreg_variance(z: Tensor, eps: float = 1e-4) -> Tensor:
    """Hinge on the per-dimension std: ``mean_i relu(1 − sqrt(Var(z_{:,i}) + eps))``."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(1.0 - std).mean()


def vicreg_covariance(z: Tensor) -> Tensor:
    """Squared off-diagonal covariances over the dimension: ``(1/d) Σ_{i≠j} Cov(z)_ij²``."""
    n, d = z.shape
    centered = z - z.mean(dim=0)
    cov = (centered.T @ centered).div_(n - 1)
    return off_diagonal(cov).pow(2).sum() / d
