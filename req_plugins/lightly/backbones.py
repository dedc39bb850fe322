"""Backbones for ``req-train``: torchvision ResNets (optional CIFAR stem) and a small CPU CNN.

Every backbone maps images to a flat feature vector (no classification layer);
:func:`build_backbone` also returns that feature dimension.
"""

from __future__ import annotations

from torch import Tensor, nn

from req_plugins._validation import check_choice, check_int

BACKBONES = ("small_cnn", "resnet18", "resnet50")


class SmallCNN(nn.Module):
    """Three 3×3 conv blocks (Conv→BN→ReLU, stride 1, 2, 2) and global average pooling.

    Sized for small images (8–32 px) on a CPU: about 0.1M parameters at the
    default widths; the feature dimension is ``widths[-1]``.

    Example:
        >>> import torch
        >>> SmallCNN(in_channels=1)(torch.randn(2, 1, 16, 16)).shape
        torch.Size([2, 128])
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            layers += [
                nn.Conv2d(channels, width, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.layers = nn.Sequential(*layers)
        self.feature_dim = channels

    def forward(self, images: Tensor) -> Tensor:
        return self.layers(images)


def _resnet(name: str, in_channels: int, cifar_stem: bool) -> tuple[nn.Module, int]:
    import torchvision

    resnet = getattr(torchvision.models, name)()
    feature_dim = resnet.fc.in_features
    resnet.fc = nn.Identity()
    if cifar_stem:
        # 32-px images: a 3×3 stride-1 first conv and no max-pool keep the spatial
        # resolution that the ImageNet stem (7×7 stride 2 + pool) would throw away.
        resnet.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        resnet.maxpool = nn.Identity()
    elif in_channels != 3:
        resnet.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    return resnet, feature_dim


def build_backbone(
    name: str, *, in_channels: int = 3, cifar_stem: bool = True, width: int = 32
) -> tuple[nn.Module, int]:
    """Return ``(backbone, feature_dim)`` for ``name`` in :data:`BACKBONES`.

    ``width`` is the first block's channel count of ``small_cnn`` (then 2×, 4×);
    ``cifar_stem`` applies to the ResNets.
    """
    check_choice(name, "backbone.name", BACKBONES)
    if name == "small_cnn":
        check_int(width, "backbone.width", min_value=1)
        backbone = SmallCNN(in_channels, (width, 2 * width, 4 * width))
        return backbone, backbone.feature_dim
    return _resnet(name, in_channels, cifar_stem)
