"""Process and module modes switched for a block and restored after: a module's train / eval
mode (:func:`eval_mode`) and torch's CPU thread count (:func:`torch_threads`).

Shared by the callbacks, the lightly layer and the solo-learn layer, which all embed
images with a model that is training (BatchNorm and dropout must act as at test time).

Example:
    >>> from torch import nn
    >>> from req_plugins.modes import eval_mode
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout()).train()
    >>> model[0].eval()  # a submodule in its own mode keeps it afterwards
    Linear(in_features=2, out_features=2, bias=True)
    >>> with eval_mode(model):
    ...     print(model.training, model[1].training)
    False False
    >>> model.training, model[0].training, model[1].training
    (True, False, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["eval_mode", "torch_threads"]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` and every submodule in eval mode; restore each one's own mode after."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.train(training)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads (None: leave the count as it is)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
