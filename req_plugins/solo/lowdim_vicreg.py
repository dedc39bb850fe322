"""VICReg with a low-dimensional projector for solo-learn (``method: lowdim_vicreg``)."""

from __future__ import annotations

import omegaconf

from req_plugins.solo.base import set_low_dim_projector_defaults
from req_plugins.solo.mv_vicreg import MultiViewVICReg


class LowDimVICReg(MultiViewVICReg):
    """Multi-view VICReg with the thesis's low-dimensional projector (Part III, §4.1).

    Same loss and settings as ``mv_vicreg``; only the defaults differ:
    ``proj_output_dim: 256``, ``proj_hidden_dim: proj_output_dim``,
    ``proj_num_layers: 2``, and ν = λ · 1.3e-3 · 8192 / d (1.04 at d = 256,
    λ = 25) unless ``cov_loss_weight`` is set.
    """

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Fills the low-dimensional projector's defaults, then ``mv_vicreg``'s ones."""
        cfg = set_low_dim_projector_defaults(cfg)
        return super(LowDimVICReg, LowDimVICReg).add_and_assert_specific_cfg(cfg)
