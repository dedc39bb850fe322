"""A callback base class that both Lightning namespaces accept.

solo-learn trains with ``lightning.pytorch``, lightly with ``pytorch_lightning``;
the two ``Callback`` classes are distinct. A Trainer checks
``isinstance(callback, Callback)`` for its own namespace and then calls hooks by
name, so a class deriving from both Callback classes (those that are installed)
works in either Trainer.
"""

from __future__ import annotations

import importlib

import torch
import torch.distributed as dist
from torch import nn


def _callback_classes() -> tuple[type, ...]:
    classes = []
    for module_name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            classes.append(importlib.import_module(module_name).Callback)
        except ImportError:
            continue
    if not classes:
        raise ImportError(
            "req_plugins.callbacks needs `lightning` or `pytorch_lightning`: "
            "pip install 'req-plugins[lightly]'."
        )
    return tuple(classes)


class DualCallback(*_callback_classes()):
    """Base of the callbacks here: a ``Callback`` of each installed Lightning namespace."""


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process.

    Each DDP process updates its running statistics on its own shard; DDP
    broadcasts rank 0's at the next forward anyway. Doing it before an
    evaluation makes every process embed with the same model.
    """
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def default_embed(pl_module: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R, Z)``: backbone features and projector embeddings of ``images``.

    Uses ``pl_module.embed`` when the module defines it (the ``req-train`` methods),
    else ``backbone`` followed by ``projection_head`` (lightly) or ``projector``
    (solo-learn).
    """
    if hasattr(pl_module, "embed"):
        return pl_module.embed(images)
    features = pl_module.backbone(images).flatten(start_dim=1)
    head = getattr(pl_module, "projection_head", None) or getattr(pl_module, "projector", None)
    if head is None:
        raise ValueError(
            f"{type(pl_module).__name__} has no `embed`, `projection_head` or `projector`; "
            "pass `embed_fn=lambda module, images: (features, embeddings)` to the callback."
        )
    return features, head(features)
