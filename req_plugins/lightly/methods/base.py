"""Shared plumbing of the lightly-style methods: backbone, online linear classifier, optimizer.

Each method file subclasses :class:`SSLMethod`, builds its projection head and
criterion, and writes ``ssl_loss`` (the paper's loss of the projected views) or,
when it needs more than the embeddings, its own ``training_step``. Batches are
``(views, targets)`` with ``views`` a list of ``m`` image tensors, as produced by
lightly's ``MultiViewTransform``; with multi-crop (SwAV, Caron et al. 2020) the large
views come first, then the small ones, and every one is a view of the loss.
"""

from __future__ import annotations

import torch
from lightly.models.utils import get_weight_decay_parameters
from lightly.utils.benchmarking import OnlineLinearClassifier
from lightly.utils.lars import LARS
from lightly.utils.scheduler import CosineWarmupScheduler
from pytorch_lightning import LightningModule
from torch import Tensor, nn

from req_plugins._validation import check_choice, check_int, check_number
from req_plugins.projectors import ProjectionMLP

OPTIMIZERS = ("adam", "sgd", "lars")
SCHEDULERS = ("cosine", "none")


def check_two_views(num_views: int, method: str, multi_view_method: str | None) -> None:
    """Raise unless ``num_views == 2`` (the paper's setting of a two-view method)."""
    if num_views != 2:
        hint = f"; use {multi_view_method!r} for m > 2 views" if multi_view_method else ""
        raise ValueError(
            f"`data.num_views` must be 2 for {method!r}, got {num_views} (small crops count "
            f"as views){hint}."
        )


def projection_head(
    lightly_head: type[nn.Module],
    feature_dim: int,
    hidden_dim: int,
    output_dim: int,
    num_layers: int | None,
) -> nn.Module:
    """The method's lightly head (``num_layers=None``) or a ``num_layers``-layer MLP.

    ``num_layers=2`` with ``hidden_dim = output_dim = d`` is the thesis's projector
    (2048 → d → d; Part III, Table 5's parameter counts).
    """
    if num_layers is None:
        return lightly_head(feature_dim, hidden_dim, output_dim)
    check_int(num_layers, "projector.num_layers", min_value=1)
    return ProjectionMLP(feature_dim, hidden_dim, output_dim, num_layers=num_layers)


class SSLMethod(LightningModule):
    """Base class of the ``req-train`` methods (``pytorch_lightning`` namespace, like lightly).

    Args:
        backbone: maps images to features (flattened to ``(N, feature_dim)``).
        feature_dim: backbone feature dimension.
        num_classes: classes of the online linear classifier (trained on detached
            features; it never changes the backbone).
        num_views: number of augmented views per image (``m``), small crops included.
        optimizer: ``"adam"``, ``"sgd"`` or ``"lars"`` (lightly's LARS).
        lr, weight_decay, momentum: optimizer settings (momentum: SGD and LARS).
            Norm and bias parameters get no weight decay.
        scheduler: ``"cosine"`` (lightly's ``CosineWarmupScheduler``, per step) or ``"none"``.
        warmup_epochs: linear warm-up length of the cosine schedule.

    Subclasses set ``self.projection_head`` and ``self.criterion``. ``req-train``
    builds a registered method as ``cls(backbone, feature_dim, num_classes,
    num_views=…, projection_hidden_dim=…, projection_output_dim=…,
    [projection_num_layers=…, when ``projector.num_layers`` is set], optimizer=…,
    lr=…, weight_decay=…, momentum=…, scheduler=…, warmup_epochs=…, **method)``
    where ``method`` is the config's ``method`` section without ``name``; a
    third-party method accepts the same arguments (subclassing this class is the
    easy way).
    """

    projection_head: nn.Module

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        *,
        num_views: int = 2,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        momentum: float = 0.9,
        scheduler: str = "cosine",
        warmup_epochs: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice(optimizer, "optimizer.name", OPTIMIZERS)
        check_choice(scheduler, "scheduler.name", SCHEDULERS)
        check_int(num_views, "num_views", min_value=2)
        for name, value in (("lr", lr), ("weight_decay", weight_decay), ("momentum", momentum)):
            check_number(value, f"optimizer.{name}", min_value=0.0)
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone
        self.num_views = num_views
        self.online_classifier = OnlineLinearClassifier(
            feature_dim=feature_dim, num_classes=num_classes, topk=(1,)
        )

    def forward(self, images: Tensor) -> Tensor:
        """Backbone features ``R`` of shape ``(N, feature_dim)``."""
        return self.backbone(images).flatten(start_dim=1)

    @torch.no_grad()
    def embed(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(R, Z)``: backbone features and projector embeddings (read by the metric callbacks)."""
        features = self.forward(images)
        return features, self.projection_head(features)

    def embed_views(self, views: list[Tensor]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Backbone features of the large views and the projections ``z_1, ..., z_m`` of all.

        Consecutive views of one size go through the networks as one batch: all ``m``
        views at once, or (multi-crop) the large views, then the small ones, as
        solo-learn's ``multicrop_forward``; only the large views' features are returned
        (the online classifier's, as in solo-learn).
        """
        groups: list[list[Tensor]] = []
        for view in views:
            if groups and groups[-1][0].shape[1:] == view.shape[1:]:
                groups[-1].append(view)
            else:
                groups.append([view])
        z: list[Tensor] = []
        large_features = None
        for group in groups:
            features = self.forward(torch.cat(group))
            z += self.projection_head(features).chunk(len(group))
            large_features = features if large_features is None else large_features
        return large_features, tuple(z)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        views, targets = batch[0], batch[1]
        features, z = self.embed_views(views)  # z_1, ..., z_m
        loss = self.ssl_loss(z)
        self.log_ssl_loss(loss, targets.shape[0])
        return loss + self.online_classification_loss(features, targets)

    def ssl_loss(self, z: tuple[Tensor, ...]) -> Tensor:
        """The method's SSL loss of the projected views ``z_1, ..., z_m``."""
        raise NotImplementedError(
            f"{type(self).__name__} must define `ssl_loss(z)` or its own `training_step`."
        )

    def log_ssl_loss(self, loss: Tensor, batch_size: int) -> None:
        self.log("train_loss", loss, prog_bar=True, sync_dist=True, batch_size=batch_size)

    def online_classification_loss(self, features: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of the online linear classifier on detached features of all views."""
        num_views = features.shape[0] // targets.shape[0]
        loss, log = self.online_classifier.training_step(
            (features.detach(), targets.repeat(num_views)), 0
        )
        self.log_dict(log, sync_dist=True, batch_size=targets.shape[0])
        return loss

    def validation_step(self, batch, batch_idx: int) -> Tensor:
        images, targets = batch[0], batch[1]
        features = self.forward(images)
        loss, log = self.online_classifier.validation_step((features.detach(), targets), batch_idx)
        self.log_dict(log, prog_bar=True, sync_dist=True, batch_size=targets.shape[0])
        return loss

    def configure_optimizers(self):
        hp = self.hparams
        ssl_modules = [m for name, m in self.named_children() if name != "online_classifier"]
        decay, no_decay = get_weight_decay_parameters(ssl_modules)
        groups = [
            {"name": "ssl", "params": decay},
            {"name": "ssl_no_weight_decay", "params": no_decay, "weight_decay": 0.0},
            {
                "name": "online_classifier",
                "params": list(self.online_classifier.parameters()),
                "weight_decay": 0.0,
            },
        ]
        groups = [group for group in groups if group["params"]]
        if hp.optimizer == "adam":
            optimizer = torch.optim.Adam(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                groups, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
            )
        else:
            optimizer = LARS(groups, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        if hp.scheduler == "none":
            return optimizer
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = total_steps / max(1, self.trainer.max_epochs)
        scheduler = CosineWarmupScheduler(
            optimizer,
            warmup_epochs=int(hp.warmup_epochs * steps_per_epoch),
            max_epochs=total_steps,
        )
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]
