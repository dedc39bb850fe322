"""Barlow Twins (Zbontar et al., 2021) with lightly's loss and projection head."""

from __future__ import annotations

from lightly.loss import BarlowTwinsLoss
from lightly.models.modules import BarlowTwinsProjectionHead
from torch import Tensor, nn

from req_plugins.lightly.methods.base import SSLMethod, check_two_views, projection_head


class BarlowTwins(SSLMethod):
    """Barlow Twins: make the cross-correlation of two views' embeddings the identity.

    ``L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²`` with ``C`` the batch cross-correlation
    of the standardised embeddings (lightly's ``BarlowTwinsLoss``, correlation
    matrices all-reduced under DDP). Two views only; see ``mv_barlow_twins``.

    Args:
        projection_hidden_dim, projection_output_dim: widths of the 3-layer lightly projector.
        lambda_param: redundancy-reduction weight λ (lightly's default 5e-3).
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
        lambda_param: float = 5e-3,
        **kwargs,
    ) -> None:
        check_two_views(num_views, "barlow_twins", "mv_barlow_twins")
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = projection_head(
            BarlowTwinsProjectionHead,
            feature_dim,
            projection_hidden_dim,
            projection_output_dim,
            projection_num_layers,
        )
        self.criterion = BarlowTwinsLoss(lambda_param=lambda_param, gather_distributed=True)

    def ssl_loss(self, z: tuple[Tensor, ...]) -> Tensor:
        z_a, z_b = z
        return self.criterion(z_a, z_b)
