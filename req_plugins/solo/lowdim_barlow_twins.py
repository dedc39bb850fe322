"""Barlow Twins with a low-dimensional projector for solo-learn (``lowdim_barlow_twins``)."""

from __future__ import annotations

import omegaconf

from req_plugins.solo.base import set_low_dim_projector_defaults
from req_plugins.solo.mv_barlow_twins import MultiViewBarlowTwins


class LowDimBarlowTwins(MultiViewBarlowTwins):
    """Multi-view Barlow Twins with the thesis's low-dimensional projector (Part III, §4.1).

    Same loss and settings as ``mv_barlow_twins``; only the defaults differ:
    ``proj_output_dim: 256``, ``proj_hidden_dim: proj_output_dim``,
    ``proj_num_layers: 2``, and β = 4e-4 · 8192 / d (0.0128 at d = 256) unless
    ``lamb`` is set.
    """

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Fills the low-dimensional projector's defaults, then ``mv_barlow_twins``' ones."""
        cfg = set_low_dim_projector_defaults(cfg)
        return super(LowDimBarlowTwins, LowDimBarlowTwins).add_and_assert_specific_cfg(cfg)
