"""Multi-view Barlow Twins with a low-dimensional projector (thesis Part III)."""

from __future__ import annotations

from lightly.models.modules import BarlowTwinsProjectionHead
from torch import Tensor, nn

from req_plugins.lightly.methods.base import SSLMethod
from req_plugins.losses import MultiViewBarlowTwinsLoss


class MultiViewBarlowTwins(SSLMethod):
    """Barlow Twins over ``m ≥ 2`` views at a cost linear in ``m`` (thesis Eq. 10).

    Every view is pulled towards the mean view ``z̄``, and ``z̄``'s auto-correlation
    is decorrelated: ``L = (1/m) Σ_v Σ_i (C(z_v, z̄)_ii − 1)² + β Σ_{i≠j} C(z̄, z̄)_ij²``
    (the standard loss at m = 2). With ``beta=None``, β follows the projector
    dimension, ``β = 4e-4 · 8192 / d`` (``beta_for_dim``), the thesis's rule that
    makes small projectors work.

    Args:
        projection_hidden_dim, projection_output_dim: widths of the 3-layer projector
            (``d = projection_output_dim``).
        beta: redundancy-reduction weight; ``None`` derives it from ``d``.
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
        projection_output_dim: int = 256,
        beta: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = BarlowTwinsProjectionHead(
            feature_dim, projection_hidden_dim, projection_output_dim
        )
        self.criterion = MultiViewBarlowTwinsLoss(
            beta=beta, projector_dim=projection_output_dim, gather_distributed=True
        )

    def ssl_loss(self, z: tuple[Tensor, ...]) -> Tensor:
        return self.criterion(list(z))  # all m views at once, O(m)
