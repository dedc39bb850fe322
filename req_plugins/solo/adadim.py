"""AdaDim for solo-learn (``method: adadim``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import omegaconf
import torch
from solo.utils.misc import omegaconf_select

from req_plugins.losses import AdaDimController, AdaDimLoss
from req_plugins.losses.adadim import ALPHA_MODES
from req_plugins.solo.base import MultiViewMethod, check_cfg_int, check_cfg_number

#: The paper's projector: 2048-2048-2048 (AdaDim App. A).
ADADIM_PROJECTOR_DIM = 2048


class AdaDim(MultiViewMethod):
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

        Extra cfg settings:
            method_kwargs:
                proj_hidden_dim (int): projector hidden width (default 2048).
                proj_output_dim (int): projector dimension (default 2048).
                proj_num_layers (int): linear layers of the projector (default 3).
                sim_loss_weight (float): VICReg invariance weight λ (default 25).
                var_loss_weight (float): VICReg variance weight μ (default 25, averaged
                    over the two views as in the official VICReg, see ``mv_vicreg``).
                cov_loss_weight (float): VICReg covariance weight ν (default 1).
                temperature (float): InfoNCE temperature τ (default 0.1).
                beta (float): weight β of the I(R;Z) term (default 1e-4).
                gamma ("adaptive" | "off" | float): γ_t = α_t, 0 or a constant
                    (default "adaptive").
                mi_max_samples (int | null): cap on the samples of I(R;Z)'s joint term.
                alpha_mode (str): "adaptive" (default), "fixed", "linear" or "cosine".
                alpha (float | null): α for ``alpha_mode: fixed``.
                alpha_num_batches (int): batches averaged per measurement (default 10).
                alpha_every_n_epochs (int): epochs between measurements (default 20).
        """

        super().__init__(cfg)

        kwargs = cfg.method_kwargs
        # global-batch VICReg/InfoNCE under DDP, as solo-learn's gathered losses
        self.adadim_loss = AdaDimLoss(
            lambda_param=kwargs.sim_loss_weight,
            mu_param=kwargs.var_loss_weight,
            nu_param=kwargs.cov_loss_weight,
            temperature=kwargs.temperature,
            beta=kwargs.beta,
            gamma=kwargs.gamma,
            mi_max_samples=kwargs.mi_max_samples,
            gather_distributed=True,
        )
        self.alpha_controller = AdaDimController(
            mode=kwargs.alpha_mode,
            alpha=kwargs.alpha,
            num_batches=kwargs.alpha_num_batches,
            every_n_epochs=kwargs.alpha_every_n_epochs,
        )

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Adds method specific default values/checks for config.

        Args:
            cfg (omegaconf.DictConfig): DictConfig object.

        Returns:
            omegaconf.DictConfig: same as the argument, used to avoid errors.
        """

        cfg.method_kwargs = omegaconf_select(cfg, "method_kwargs", {})
        defaults = {
            "proj_hidden_dim": ADADIM_PROJECTOR_DIM,
            "proj_output_dim": ADADIM_PROJECTOR_DIM,
            "sim_loss_weight": 25.0,
            "var_loss_weight": 25.0,
            "cov_loss_weight": 1.0,
            "temperature": 0.1,
            "beta": 1e-4,
            "gamma": "adaptive",
            "mi_max_samples": None,
            "alpha_mode": "adaptive",
            "alpha": None,
            "alpha_num_batches": 10,
            "alpha_every_n_epochs": 20,
        }
        for key, default in defaults.items():
            cfg.method_kwargs[key] = omegaconf_select(cfg, f"method_kwargs.{key}", default)

        cfg = super(AdaDim, AdaDim).add_and_assert_specific_cfg(cfg)

        for key in ("sim_loss_weight", "var_loss_weight", "cov_loss_weight", "beta"):
            check_cfg_number(cfg, f"method_kwargs.{key}", 0.0)
        if check_cfg_number(cfg, "method_kwargs.temperature", 0.0) == 0.0:
            raise ValueError("`method_kwargs.temperature` must be > 0, got 0.")
        if cfg.method_kwargs.gamma not in ("adaptive", "off"):
            check_cfg_number(cfg, "method_kwargs.gamma", 0.0)
        if cfg.method_kwargs.mi_max_samples is not None:
            check_cfg_int(cfg, "method_kwargs.mi_max_samples", 2)
        mode = cfg.method_kwargs.alpha_mode
        if mode not in ALPHA_MODES:
            raise ValueError(
                f"`method_kwargs.alpha_mode` must be one of {ALPHA_MODES}, got {mode!r}."
            )
        if (mode == "fixed") != (cfg.method_kwargs.alpha is not None):
            raise ValueError(
                "`method_kwargs.alpha` is set (in [0, 1]) with alpha_mode: fixed, and only then."
            )
        if mode == "fixed" and not 0.0 <= check_cfg_number(cfg, "method_kwargs.alpha", 0.0) <= 1.0:
            raise ValueError(
                f"`method_kwargs.alpha` must be in [0, 1], got {cfg.method_kwargs.alpha}."
            )
        check_cfg_int(cfg, "method_kwargs.alpha_num_batches", 1)
        check_cfg_int(cfg, "method_kwargs.alpha_every_n_epochs", 1)

        return cfg

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
        modes = {module: module.training for module in self.backbone.modules()}
        self.backbone.eval()
        try:
            for _, crops, _ in itertools.islice(
                self.trainer.train_dataloader, self.alpha_controller.num_batches
            ):
                images = crops[0] if isinstance(crops, (list, tuple)) else crops
                images = images.to(self.device)
                if not self.no_channel_last:
                    images = images.to(memory_format=torch.channels_last)
                yield self.backbone(images)
        finally:
            for module, training in modes.items():
                module.train(training)

    def training_step(self, batch: Sequence[Any], batch_idx: int) -> torch.Tensor:
        """AdaDim loss over every pair of crops, plus the online classifier's loss.

        Args:
            batch (Sequence[Any]): ``[img_indexes, [X], Y]`` where ``[X]`` holds one batch
                of images per crop (large crops first).
            batch_idx (int): index of the batch.

        Returns:
            torch.Tensor: AdaDim loss + classification loss.
        """

        out = super().training_step(batch, batch_idx)
        class_loss = out["loss"]
        z, r = out["z"], out["feats"]

        alpha = self.alpha_at(batch_idx)
        pairs = list(itertools.combinations(range(len(z)), 2))
        adadim_loss = sum(
            self.adadim_loss(z[u], z[v], r=(r[u], r[v]), alpha=alpha) for u, v in pairs
        ) / len(pairs)

        self.log("train_adadim_loss", adadim_loss, on_epoch=True, sync_dist=True)
        self.log("train_adadim_alpha", alpha, on_epoch=True, sync_dist=False)

        return adadim_loss + class_loss
