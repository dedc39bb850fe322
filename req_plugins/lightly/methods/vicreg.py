"""VICReg (Bardes et al., 2022) with lightly's loss and projection head."""

from __future__ import annotations

from lightly.loss import VICRegLoss
from lightly.models.modules.heads import VICRegProjectionHead
from torch import Tensor, nn

from req_plugins.lightly.methods.base import SSLMethod, check_two_views, projection_head


class VICReg(SSLMethod):
    """VICReg: invariance (MSE) + variance hinge + covariance decorrelation of two views.

    ``L = λ·inv + μ·var + ν·cov`` (lightly's ``VICRegLoss``, embeddings gathered
    under DDP). Two views only; see ``mv_vicreg``.

    Args:
        projection_hidden_dim, projection_output_dim: widths of the 3-layer lightly projector.
        lambda_param, mu_param, nu_param: λ, μ, ν (paper: 25, 25, 1).
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
        projection_hidden_dim: int = 8192,
        projection_num_layers: int | None = None,
        projection_output_dim: int = 8192,
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float = 1.0,
        **kwargs,
    ) -> None:
        check_two_views(num_views, "vicreg", "mv_vicreg")
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = projection_head(
            VICRegProjectionHead,
            feature_dim,
            projection_hidden_dim,
            projection_output_dim,
            projection_num_layers,
        )
        self.criterion = VICRegLoss(
            lambda_param=lambda_param,
            mu_param=mu_param,
            nu_param=nu_param,
            gather_distributed=True,
        )

    def ssl_loss(self, z: tuple[Tensor, ...]) -> Tensor:
        z_a, z_b = z
        return self.criterion(z_a, z_b)
