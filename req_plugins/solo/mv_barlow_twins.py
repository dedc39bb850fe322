"""Multi-view Barlow Twins for solo-learn (``method: mv_barlow_twins``)."""

from __future__ import annotations

from collections.abc import Sequence

import omegaconf
import torch
from solo.utils.misc import omegaconf_select

from req_plugins._validation import check_number
from req_plugins.losses import MultiViewBarlowTwinsLoss
from req_plugins.solo.base import MultiViewMethod, build_from_cfg


class MultiViewBarlowTwins(MultiViewMethod):
    ssl_loss_name = "mv_barlow"

    def __init__(self, cfg: omegaconf.DictConfig):
        """Barlow Twins over all m >= 2 crops, O(m) (Ghosh et al. 2024, Eq. 10).

        Every crop, large or small, is a view. At m = 2 the loss is exactly
        solo-learn's ``barlow_loss_func`` with the same ``lamb`` and ``scale_loss``:
        ``scale_loss · [Σ_i (1 − C_ii)² + lamb · Σ_{i≠j} C_ij²]`` on batch-normalised
        views; for m > 2 each view is correlated with the mean view.

        Extra cfg settings:
            method_kwargs:
                proj_hidden_dim (int): width of the projector's hidden layers.
                proj_output_dim (int): projector dimension d.
                proj_num_layers (int): linear layers of the projector (default 3).
                lamb (float): redundancy-reduction weight β. Default (null):
                    β = 4e-4 · 8192 / d, the thesis's low-dimensional-projector rule.
                scale_loss (float): factor on the whole loss (default 1; solo-learn's
                    ``barlow_twins`` uses 0.024 unless set).
        """

        super().__init__(cfg)

        self.scale_loss: float = cfg.method_kwargs.scale_loss
        # global-batch statistics under DDP, like solo-learn's all-reduced correlation
        self.mv_barlow_loss = build_from_cfg(
            MultiViewBarlowTwinsLoss,
            cfg,
            {"lamb": "beta", "proj_output_dim": "projector_dim"},
            gather_distributed=True,
        )
        self.lamb: float = self.mv_barlow_loss.beta

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Adds the defaults of lamb and scale_loss; checks scale_loss (the loss checks lamb)."""

        cfg = super(MultiViewBarlowTwins, MultiViewBarlowTwins).add_and_assert_specific_cfg(cfg)

        cfg.method_kwargs.lamb = omegaconf_select(cfg, "method_kwargs.lamb", None)
        cfg.method_kwargs.scale_loss = omegaconf_select(cfg, "method_kwargs.scale_loss", 1.0)
        check_number(cfg.method_kwargs.scale_loss, "method_kwargs.scale_loss", min_value=0.0)

        return cfg

    def ssl_loss(
        self, z: Sequence[torch.Tensor], feats: Sequence[torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """``scale_loss · L_BT(z_1, …, z_m)`` over every crop at once, O(m)."""
        return self.scale_loss * self.mv_barlow_loss(z)
