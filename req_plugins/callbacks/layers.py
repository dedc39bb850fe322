"""Outputs of named intermediate modules, captured with forward hooks (layer-wise metrics).

The thesis (Part II) studies α across the layers of a network; :class:`LayerOutputs`
gives the representations those metrics need without changing the model: a forward
hook on each named module keeps its output of the last forward pass.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3))
    >>> with LayerOutputs(net, ["0", "2"]) as outputs:
    ...     _ = net(torch.randn(4, 3, 10, 10))
    >>> {name: tuple(value.shape) for name, value in outputs.items()}
    {'0': (4, 8), '2': (4, 16)}
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["LayerOutputs", "layer_key", "pool_features", "resolve_layers"]


def layer_key(name: str) -> str:
    """The name in logged keys: ``"layers.5"`` → ``"layers_5"`` (``repr/layers_5_alpha``)."""
    return name.replace(".", "_")


def pool_features(output: Tensor) -> Tensor:
    """``(N, D)`` features of a module output: feature maps ``(N, C, H, W)`` are averaged over
    space (global average pooling, as the backbone's last layer does), other shapes flattened."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.dim() == 4:
        return output.mean(dim=(2, 3))
    return output.flatten(start_dim=1)


def resolve_layers(module: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """``{name: submodule}``; a name is looked up in ``module``, then in ``module.backbone``.

    Raises ``ValueError`` naming the unknown names and the backbone's named children.
    """
    backbone = getattr(module, "backbone", None)
    found, missing = {}, []
    for name in names:
        for root in (module, backbone):
            if root is None:
                continue
            try:
                found[name] = root.get_submodule(name)
                break
            except AttributeError:
                continue
        else:
            missing.append(name)
    if missing:
        root = backbone if isinstance(backbone, nn.Module) else module
        available = [name for name, _ in root.named_modules() if name][:40]
        raise ValueError(
            f"`layers` {missing}: no such module in {type(module).__name__} or its backbone; "
            f"modules of the backbone include {available}."
        )
    return found


class LayerOutputs(dict):
    """Context manager: ``{name: (N, D) features}`` of named modules' last forward pass.

    Inside the ``with`` block a forward hook on each module of ``names`` (see
    :func:`resolve_layers`) stores its output pooled by :func:`pool_features`; the hooks
    are removed on exit. With no names it registers nothing.
    """

    def __init__(self, module: nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.modules = resolve_layers(module, names) if names else {}
        self.handles: list = []

    def __enter__(self) -> LayerOutputs:
        for name, submodule in self.modules.items():
            self.handles.append(submodule.register_forward_hook(self._keep(name)))
        return self

    def _keep(self, name: str):
        def hook(module: nn.Module, inputs, output) -> None:
            # pooled at once: a later in-place op cannot change what was captured
            self[name] = pool_features(output.detach() if isinstance(output, Tensor) else output)

        return hook

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
