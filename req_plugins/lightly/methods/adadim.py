"""AdaDim (adaptive VICReg ↔ InfoNCE mixing driven by the backbone's effective rank)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from lightly.models.modules.heads import VICRegProjectionHead
from torch import Tensor, nn

from req_plugins.lightly.methods.base import SSLMethod, check_two_views
from req_plugins.losses import AdaDimController, AdaDimLoss
from req_plugins.modes import eval_mode


class AdaDim(SSLMethod):
    """AdaDim: ``L = (1 − α_t)·VICReg + α_t·InfoNCE + β·γ_t·I(R;Z)``.

    ``α_t`` is the normalised effective rank of the backbone features, measured
    on ``alpha_num_batches`` training batches at the start of every
    ``alpha_every_n_epochs``-th epoch (0 before the first measurement), or a
    fixed / linear / cosine schedule for the paper's ablations. The controller
    is a submodule, so checkpoints carry α and resuming continues exactly.

    Args:
        projection_hidden_dim, projection_output_dim: widths of the 3-layer projector.
        alpha_mode, alpha, alpha_num_batches, alpha_every_n_epochs: the ``mode``,
            ``alpha``, ``num_batches`` and ``every_n_epochs`` of
            :class:`~req_plugins.losses.AdaDimController`.
        lambda_param, mu_param, nu_param, temperature, beta, gamma, mi_max_samples: see
            :class:`~req_plugins.losses.AdaDimLoss`.
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
        projection_output_dim: int = 2048,
        alpha_mode: str = "adaptive",
        alpha: float | None = None,
        alpha_num_batches: int = 10,
        alpha_every_n_epochs: int = 20,
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float = 1.0,
        temperature: float = 0.1,
        beta: float = 1e-4,
        gamma: str | float = "adaptive",
        mi_max_samples: int | None = None,
        **kwargs,
    ) -> None:
        check_two_views(num_views, "adadim", None)
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = VICRegProjectionHead(
            feature_dim, projection_hidden_dim, projection_output_dim
        )
        self.criterion = AdaDimLoss(
            lambda_param=lambda_param,
            mu_param=mu_param,
            nu_param=nu_param,
            temperature=temperature,
            beta=beta,
            gamma=gamma,
            mi_max_samples=mi_max_samples,
            gather_distributed=True,
        )
        self.controller = AdaDimController(
            alpha_mode, alpha, num_batches=alpha_num_batches, every_n_epochs=alpha_every_n_epochs
        )

    def _training_features(self) -> Iterator[Tensor]:
        """Backbone features of the first view of training batches (eval mode, no side effects)."""
        # req-train's datamodule makes the views on the device (data.augment_on=device)
        views_of = getattr(self.trainer.datamodule, "training_views", None)
        with eval_mode(self):
            for batch in self.trainer.train_dataloader:
                if views_of is not None:
                    view = views_of(batch, self.device)[0]
                else:
                    view = batch[0][0].to(self.device)
                yield self.forward(view)

    def on_train_epoch_start(self) -> None:
        if self.controller.should_measure(self.current_epoch):
            self.controller.measure(self._training_features(), self.current_epoch)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        views, targets = batch[0], batch[1]
        features = self.forward(torch.cat(views))  # R of view a, then view b
        z_a, z_b = self.projection_head(features).chunk(2)
        epoch = self.current_epoch + batch_idx / max(1, self.trainer.num_training_batches)
        alpha = self.controller.alpha(epoch, self.trainer.max_epochs)
        loss = self.criterion(z_a, z_b, r=features, alpha=alpha)
        self.log("adadim_alpha", alpha, sync_dist=False, batch_size=targets.shape[0])
        self.log_ssl_loss(loss, targets.shape[0])
        return loss + self.online_classification_loss(features, targets)
