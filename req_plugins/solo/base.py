"""Shared base of the plugin's solo-learn methods: a projector, views from every crop, one step."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import omegaconf
import torch
from solo.methods.base import BaseMethod
from solo.utils.misc import omegaconf_select

from req_plugins._validation import check_int
from req_plugins.projectors import ProjectionMLP

T = TypeVar("T")


def require_cfg(cfg: omegaconf.DictConfig, key: str, what: str) -> Any:
    """The value at ``key``; a ValueError naming the key when it is missing or null."""
    value = omegaconf_select(cfg, key, None)
    if value is None:
        raise ValueError(f"the config must set `{key}` ({what}).")
    return value


def build_from_cfg(
    factory: Callable[..., T], cfg: omegaconf.DictConfig, arguments: Mapping[str, str], **fixed
) -> T:
    """``factory(argument=method_kwargs[key] for key, argument in arguments, **fixed)``.

    The factory validates its arguments (the losses and the AdaDim controller do, with
    errors naming the argument); a ``ValueError`` is re-raised naming the config key
    ``method_kwargs.<key>`` the value came from instead, so each setting is checked once,
    by the code that uses it.
    """
    kwargs = cfg.method_kwargs
    try:
        return factory(**{argument: kwargs[key] for key, argument in arguments.items()}, **fixed)
    except ValueError as error:
        message = str(error)
        for key, argument in arguments.items():
            message = message.replace(f"`{argument}`", f"`method_kwargs.{key}`")
        raise ValueError(message) from error


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

    A subclass builds its loss and writes :meth:`ssl_loss`, the paper's equation of the
    projected views; the shared :meth:`training_step` adds the online classifier's loss
    and logs the SSL loss as ``train_<ssl_loss_name>_loss``.

    Extra cfg settings:
        method_kwargs:
            proj_hidden_dim (int): width of the projector's hidden layers.
            proj_output_dim (int): projector dimension d.
            proj_num_layers (int): linear layers of the projector (default 3:
                Linear-BN-ReLU-Linear-BN-ReLU-Linear, as solo-learn's Barlow Twins).
    """

    #: ``req-solo-pretrain`` lets methods with this flag train on more than 2 large crops.
    supports_many_large_crops = True
    #: The SSL loss is logged as ``train_<ssl_loss_name>_loss``.
    ssl_loss_name: str

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
        for key, min_value in (
            ("proj_output_dim", 2),
            ("proj_hidden_dim", 1),
            ("proj_num_layers", 1),
        ):
            check_int(cfg.method_kwargs[key], f"method_kwargs.{key}", min_value=min_value)
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

    def training_step(self, batch: Sequence[Any], batch_idx: int) -> torch.Tensor:
        """The method's SSL loss of every crop's projection, plus the online classifier's loss.

        Args:
            batch (Sequence[Any]): ``[img_indexes, [X], Y]`` where ``[X]`` holds one batch
                of images per crop (large crops first).
            batch_idx (int): index of the batch.

        Returns:
            torch.Tensor: SSL loss + classification loss.
        """
        # solo-learn's step: every crop through the networks, the online classifier's loss
        out = super().training_step(batch, batch_idx)
        ssl_loss = self.ssl_loss(out["z"], out["feats"], batch_idx)
        self.log(f"train_{self.ssl_loss_name}_loss", ssl_loss, on_epoch=True, sync_dist=True)
        return ssl_loss + out["loss"]

    def ssl_loss(
        self, z: Sequence[torch.Tensor], feats: Sequence[torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """The method's SSL loss of the projections ``z`` (one per crop, large crops first).

        ``feats`` are the backbone features of each crop and ``batch_idx`` the batch's
        index in the epoch, for losses that need them (AdaDim).
        """
        raise NotImplementedError(f"{type(self).__name__} must define `ssl_loss`.")
