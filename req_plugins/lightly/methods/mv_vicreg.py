"""Multi-view VICReg with a low-dimensional projector (thesis Part III)."""

from __future__ import annotations

from lightly.models.modules.heads import VICRegProjectionHead
from torch import Tensor, nn

from req_plugins.lightly.methods.base import SSLMethod, projection_head
from req_plugins.losses import MultiViewVICRegLoss


class MultiViewVICReg(SSLMethod):
    """VICReg over ``m ≥ 2`` views: each view against the mean of the other views.

    ``L = (1/m) Σ_v [λ·mse(z_v, z̃_v) + μ·var + ν·cov]`` with ``z̃_v = mean_{u≠v} z_u``
    (standard VICReg at m = 2). With ``nu_param=None``, ν follows the projector
    dimension, ``ν/λ = 1.3e-3 · 8192 / d`` (the thesis's β ∝ 1/d rule).

    Args:
        projection_hidden_dim, projection_output_dim: widths of the 3-layer lightly projector.
        lambda_param, mu_param: λ, μ (paper: 25, 25).
        nu_param: covariance weight ν; ``None`` derives it from ``d``.
        projection_num_layers: ``None`` for lightly's head, else a ``ProjectionMLP`` with
            that many linear layers (2: the thesis's 2048 → d → d projector).
        **kwargs: :class:`~req_plugins.lightly.methods.base.SSLMethod` arguments.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        *,
        num_views: int = 2,
        projection_hidden_dim: int = 2048,
        projection_num_layers: int | None = None,
        projection_output_dim: int = 256,
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = projection_head(
            VICRegProjectionHead,
            feature_dim,
            projection_hidden_dim,
            projection_output_dim,
            projection_num_layers,
        )
        self.criterion = MultiViewVICRegLoss(
            lambda_param=lambda_param,
            mu_param=mu_param,
            nu_param=nu_param,
            projector_dim=projection_output_dim,
            gather_distributed=True,
        )

    def ssl_loss(self, z: tuple[Tensor, ...]) -> Tensor:
        return self.criterion(list(z))  # all m views at once, O(m)
