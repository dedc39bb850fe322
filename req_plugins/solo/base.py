"""Shared base of the plugin's solo-learn methods: a projector, and views from every crop."""

from __future__ import annotations

from typing import Any

import omegaconf
import torch
from solo.methods.base import BaseMethod
from solo.utils.misc import omegaconf_select

from req_plugins.projectors import ProjectionMLP


def require_cfg(cfg: omegaconf.DictConfig, key: str, what: str) -> Any:
    """The value at ``key``; a ValueError naming the key when it is missing or null."""
    value = omegaconf_select(cfg, key, None)
    if value is None:
        raise ValueError(f"the config must set `{key}` ({what}).")
    return value


def check_cfg_int(cfg: omegaconf.DictConfig, key: str, min_value: int) -> int:
    """The integer at ``key``; a ValueError naming the key when it is not an int >= min_value."""
    value = omegaconf_select(cfg, key, None)
    if isinstance(value, bool) or not isinstance(value, int) or value < min_value:
        raise ValueError(f"`{key}` must be an integer >= {min_value}, got {value!r}.")
    return value


def check_cfg_number(
    cfg: omegaconf.DictConfig, key: str, min_value: float, *, optional: bool = False
) -> float | None:
    """The number at ``key``; a ValueError naming the key when it is not a number >= min_value."""
    value = omegaconf_select(cfg, key, None)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < min_value:
        expected = "null or " * optional + f"a number >= {min_value}"
        raise ValueError(f"`{key}` must be {expected}, got {value!r}.")
    return float(value)


#: Projector dimension of the thesis's multi-view experiments (Part III, §4.2).
LOW_DIM_PROJECTOR_DIM = 256


def set_low_dim_projector_defaults(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
    """Default to the thesis's low-dimensional projector: d = 256, Linear(d)-BN-ReLU-Linear(d).

    The two-layer projector with hidden width d is the one whose parameter counts
    thesis Table 5 reports (e.g. 589k at d = 256 on a ResNet-50).
    """
    cfg.method_kwargs = omegaconf_select(cfg, "method_kwargs", {})
    kwargs = cfg.method_kwargs
    kwargs.proj_output_dim = omegaconf_select(
        cfg, "method_kwargs.proj_output_dim", LOW_DIM_PROJECTOR_DIM
    )
    kwargs.proj_hidden_dim = omegaconf_select(
        cfg, "method_kwargs.proj_hidden_dim", kwargs.proj_output_dim
    )
    kwargs.proj_num_layers = omegaconf_select(cfg, "method_kwargs.proj_num_layers", 2)
    return cfg


class MultiViewMethod(BaseMethod):
    """solo-learn ``BaseMethod`` whose loss sees every crop, large and small.

    solo-learn projects only the large crops (``forward``); here the small crops
    (``multicrop_forward``) are projected too, so ``training_step`` receives
    ``out["z"]`` with one ``(N, proj_output_dim)`` tensor per crop. This gives
    multi-view training with any number of large crops and, under solo-learn's
    own ``main_pretrain.py`` (which allows exactly 2 large crops), with 2 large +
    k small crops, the SwAV-like setting of the thesis.

    Extra cfg settings:
        method_kwargs:
            proj_hidden_dim (int): width of the projector's hidden layers.
            proj_output_dim (int): projector dimension d.
            proj_num_layers (int): linear layers of the projector (default 3:
                Linear-BN-ReLU-Linear-BN-ReLU-Linear, as solo-learn's Barlow Twins).
    """

    #: ``req-solo-pretrain`` lets methods with this flag train on more than 2 large crops.
    supports_many_large_crops = True

    def __init__(self, cfg: omegaconf.DictConfig):
        super().__init__(cfg)
        self.projector = ProjectionMLP(
            self.features_dim,
            cfg.method_kwargs.proj_hidden_dim,
            cfg.method_kwargs.proj_output_dim,
            num_layers=cfg.method_kwargs.proj_num_layers,
        )

    @staticmethod
    def add_and_assert_specific_cfg(cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """Adds the projector's defaults and checks; see the class docstring."""
        cfg = super(MultiViewMethod, MultiViewMethod).add_and_assert_specific_cfg(cfg)

        require_cfg(cfg, "method_kwargs.proj_output_dim", "the projector dimension d")
        require_cfg(cfg, "method_kwargs.proj_hidden_dim", "the projector's hidden width")
        cfg.method_kwargs.proj_num_layers = omegaconf_select(
            cfg, "method_kwargs.proj_num_layers", 3
        )
        check_cfg_int(cfg, "method_kwargs.proj_output_dim", 2)
        check_cfg_int(cfg, "method_kwargs.proj_hidden_dim", 1)
        check_cfg_int(cfg, "method_kwargs.proj_num_layers", 1)
        return cfg

    @property
    def learnable_params(self) -> list[dict[str, Any]]:
        """Adds the projector's parameters to the parent's learnable parameters."""
        extra_learnable_params = [{"name": "projector", "params": self.projector.parameters()}]
        return super().learnable_params + extra_learnable_params

    def forward(self, X: torch.Tensor) -> dict[str, Any]:
        """Backbone, online classifier and projector on a batch of large crops."""
        out = super().forward(X)
        out["z"] = self.projector(out["feats"])
        return out

    def multicrop_forward(self, X: torch.Tensor) -> dict[str, Any]:
        """Backbone and projector on a batch of small crops (they are views too)."""
        out = super().multicrop_forward(X)
        out["z"] = self.projector(out["feats"])
        return out
