"""Multi-view VICReg for solo-learn (``method: mv_vicreg``)."""

from __future__ import annotations

from collections.abc import Sequence

import omegaconf
import torch
from solo.utils.misc import omegaconf_select

from req_plugins.losses import MultiViewVICRegLoss
from req_plugins.solo.base import MultiViewMethod, build_from_cfg


class MultiViewVICReg(MultiViewMethod):
    ssl_loss_name = "mv_vicreg"

    def __init__(self, cfg: omegaconf.DictConfig):
        """VICReg over all m >= 2 crops, each view against the mean of the others.

        VICReg: Bardes et al. 2022; multiple views as in Ghosh et al. 2024.

        Every crop, large or small, is a view. At m = 2 this is standard VICReg
        (official code, lightly): ``λ·mse + μ·½[v(z₁)+v(z₂)] + ν·[c(z₁)+c(z₂)]``.
        solo-learn's own ``vicreg`` sums the two variance hinges instead of
        averaging them, so its ``var_loss_weight: w`` equals ``var_loss_weight: 2w`` here.

        Extra cfg settings:
            method_kwargs:
                proj_hidden_dim (int): width of the projector's hidden layers.
                proj_output_dim (int): projector dimension d.
                proj_num_layers (int): linear layers of the projector (default 3).
                sim_loss_weight (float): invariance weight λ (default 25).
                var_loss_weight (float): variance weight μ (default 25).
                cov_loss_weight (float): covariance weight ν. Default (null): the thesis's
                    low-dimensional-projector rule ν = λ · 1.3e-3 · 8192 / d.
        """

        super().__init__(cfg)

        # global-batch statistics under DDP, as solo-learn's gathered variance/covariance
        self.mv_vicreg_loss = build_from_cfg(
            MultiViewVICRegLoss,
            cfg,
            {
                "sim_loss_weight": "lambda_param",
                "var_loss_weight": "mu_param",
                "cov_loss_weight": "nu_param",
                "proj_output_dim": "projector_dim",
            },
            gather_distributed=True,
        )
        self.sim_loss_weight: float = self.mv_vicreg_loss.lambda_param
        self.var_loss_weight: float = self.mv_vicreg_loss.mu_param
        self.cov_loss_weight: float = self.mv_vicreg_loss.nu_param

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Adds the defaults of the three weights (the loss checks them, see ``__init__``)."""

        cfg = super(MultiViewVICReg, MultiViewVICReg).add_and_assert_specific_cfg(cfg)

        cfg.method_kwargs.sim_loss_weight = omegaconf_select(
            cfg, "method_kwargs.sim_loss_weight", 25.0
        )
        cfg.method_kwargs.var_loss_weight = omegaconf_select(
            cfg, "method_kwargs.var_loss_weight", 25.0
        )
        cfg.method_kwargs.cov_loss_weight = omegaconf_select(
            cfg, "method_kwargs.cov_loss_weight", None
        )
        return cfg

    def ssl_loss(
        self, z: Sequence[torch.Tensor], feats: Sequence[torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """Multi-view VICReg of every crop at once, each view against the mean of the others."""
        return self.mv_vicreg_loss(z)
