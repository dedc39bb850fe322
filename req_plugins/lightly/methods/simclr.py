"""SimCLR (Chen et al., 2020) with lightly's NT-Xent loss and projection head."""

from __future__ import annotations

from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from torch import Tensor, nn

from req_plugins.lightly.methods.base import SSLMethod, check_two_views, projection_head


class SimCLR(SSLMethod):
    """SimCLR: each view must pick its partner out of the batch (InfoNCE / NT-Xent).

    Args:
        projection_hidden_dim, projection_output_dim: widths of the 2-layer lightly projector.
        temperature: softmax temperature τ (lightly's default 0.5).
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
        projection_output_dim: int = 128,
        temperature: float = 0.5,
        **kwargs,
    ) -> None:
        check_two_views(num_views, "simclr", None)
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = projection_head(
            SimCLRProjectionHead,
            feature_dim,
            projection_hidden_dim,
            projection_output_dim,
            projection_num_layers,
        )
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)

    def ssl_loss(self, z: tuple[Tensor, ...]) -> Tensor:
        z_a, z_b = z
        return self.criterion(z_a, z_b)
