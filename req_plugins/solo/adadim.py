"""AdaDim for solo-learn (``method: adadim``)."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterator, Sequence

import omegaconf
import torch
from solo.utils.misc import omegaconf_select

from req_plugins.losses import AdaDimController, AdaDimLoss
from req_plugins.modes import eval_mode
from req_plugins.solo.base import MultiViewMethod, build_from_cfg

#: The paper's projector: 2048-2048-2048 (AdaDim App. A).
ADADIM_PROJECTOR_DIM = 2048

#: ``method_kwargs`` key -> :class:`~req_plugins.losses.AdaDimLoss` argument.
LOSS_ARGUMENTS = {
    "sim_loss_weight": "lambda_param",
    "var_loss_weight": "mu_param",
    "cov_loss_weight": "nu_param",
    "temperature": "temperature",
    "beta": "beta",
    "gamma": "gamma",
    "mi_max_samples": "mi_max_samples",
}
#: ``method_kwargs`` key -> :class:`~req_plugins.losses.AdaDimController` argument.
CONTROLLER_ARGUMENTS = {
    "alpha_mode": "mode",
    "alpha": "alpha",
    "alpha_num_batches": "num_batches",
    "alpha_every_n_epochs": "every_n_epochs",
}


def _defaults(cls: type, arguments: dict[str, str]) -> dict:
    """The config defaults: ``cls``'s own argument defaults (the paper's values), by key."""
    parameters = inspect.signature(cls).parameters
    return {key: parameters[argument].default for key, argument in arguments.items()}


class AdaDim(MultiViewMethod):
    ssl_loss_name = "adadim"

    def __init__(self, cfg: omegaconf.DictConfig):
        """AdaDim: adaptive mix of VICReg and InfoNCE driven by the backbone's effective rank.

        ``L = (1 − α_t)·VICReg(Z_u, Z_v) + α_t·InfoNCE(Z_u, Z_v) + β·γ_t·I(R;Z)``
        (Kokilepersaud et al. 2025, AdaDim §4). With 2 crops this is the paper's loss; with
        m > 2 crops (large or small) it is averaged over the m(m−1)/2 pairs of views **(reading)**.

        α_t comes from an :class:`~req_plugins.losses.AdaDimController`, a submodule whose
        state (measured α, epoch of the last measurement) is saved in solo-learn's
        checkpoints, so a resumed run continues the schedule. In the adaptive mode α is
        re-measured at the start of every ``alpha_every_n_epochs``-th epoch: the normalised
        effective rank of the backbone features (eval mode, no gradient) of the first
        large crop of ``alpha_num_batches`` fresh (shuffled) training batches.

        Extra cfg settings (``method_kwargs``; meanings, defaults and valid values are
        those of :class:`~req_plugins.losses.AdaDimLoss` and
        :class:`~req_plugins.losses.AdaDimController`):
            proj_hidden_dim, proj_output_dim, proj_num_layers: the projector
                (default 2048, 2048, 3).
            sim_loss_weight, var_loss_weight, cov_loss_weight: the loss's λ, μ, ν
                (``lambda_param``, ``mu_param``, ``nu_param``); μ weighs the variance
                averaged over the two views, as the official VICReg (see ``mv_vicreg``).
            temperature, beta, gamma, mi_max_samples: the loss's arguments of these names.
            alpha_mode, alpha, alpha_num_batches, alpha_every_n_epochs: the controller's
                ``mode``, ``alpha``, ``num_batches`` and ``every_n_epochs``.
        """

        super().__init__(cfg)

        # global-batch VICReg/InfoNCE under DDP, as solo-learn's gathered losses
        self.adadim_loss = build_from_cfg(AdaDimLoss, cfg, LOSS_ARGUMENTS, gather_distributed=True)
        self.alpha_controller = build_from_cfg(AdaDimController, cfg, CONTROLLER_ARGUMENTS)

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Adds method specific default values/checks for config.

        The loss's and the controller's settings are checked where they are used, by
        :class:`~req_plugins.losses.AdaDimLoss` and
        :class:`~req_plugins.losses.AdaDimController` (errors name the config key).

        Args:
            cfg (omegaconf.DictConfig): DictConfig object.

        Returns:
            omegaconf.DictConfig: same as the argument, used to avoid errors.
        """

        cfg.method_kwargs = omegaconf_select(cfg, "method_kwargs", {})
        defaults = {
            "proj_hidden_dim": ADADIM_PROJECTOR_DIM,
            "proj_output_dim": ADADIM_PROJECTOR_DIM,
            **_defaults(AdaDimLoss, LOSS_ARGUMENTS),
            **_defaults(AdaDimController, CONTROLLER_ARGUMENTS),
        }
        for key, default in defaults.items():
            cfg.method_kwargs[key] = omegaconf_select(cfg, f"method_kwargs.{key}", default)

        return super(AdaDim, AdaDim).add_and_assert_specific_cfg(cfg)

    def alpha_at(self, batch_idx: int) -> float:
        """α_t at training batch ``batch_idx`` of the current epoch."""
        steps = self.trainer.num_training_batches
        fraction = batch_idx / steps if 0 < steps < float("inf") else 0.0
        return self.alpha_controller.alpha(self.current_epoch + fraction, self.max_epochs)

    def on_train_epoch_start(self) -> None:
        """Re-measure α when the adaptive schedule says so (every ``alpha_every_n_epochs``)."""
        if self.alpha_controller.should_measure(self.current_epoch):
            alpha = self.alpha_controller.measure(self._train_features(), self.current_epoch)
            self.log("adadim_measured_alpha", alpha, sync_dist=False)

    def _train_features(self) -> Iterator[torch.Tensor]:
        """Backbone features of the first large crop of fresh training batches, in eval mode."""
        with eval_mode(self.backbone):
            for _, crops, _ in itertools.islice(
                self.trainer.train_dataloader, self.alpha_controller.num_batches
            ):
                images = crops[0] if isinstance(crops, (list, tuple)) else crops
                images = images.to(self.device)
                if not self.no_channel_last:
                    images = images.to(memory_format=torch.channels_last)
                yield self.backbone(images)

    def ssl_loss(
        self, z: Sequence[torch.Tensor], feats: Sequence[torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """The AdaDim loss at α_t, averaged over every pair of crops."""
        alpha = self.alpha_at(batch_idx)
        self.log("train_adadim_alpha", alpha, on_epoch=True, sync_dist=False)
        pairs = list(itertools.combinations(range(len(z)), 2))
        return sum(
            self.adadim_loss(z[u], z[v], r=(feats[u], feats[v]), alpha=alpha) for u, v in pairs
        ) / len(pairs)
