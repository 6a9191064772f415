"""A small CIFAR-style ResNet (basic blocks, 3 stages) with an optional whitening layer after the
first convolution, as in the decorrelated-batch-norm experiments of the matrix square-root study.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity (or 1×1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetSmall(nn.Module):
    """CIFAR-style ResNet: stem conv, optional whitening, 3 stages of basic blocks, global pooling.

    Args:
        num_classes: output logits.
        in_channels: image channels.
        width: channels of the first stage (doubled at each later stage).
        blocks_per_stage: basic blocks per stage (1 gives a ResNet-8).
        whitening: a factory ``width -> nn.Module`` for the layer after the first convolution
            (e.g. ``lambda c: ZCAWhitening(c, groups=4, method="mpa")``), or None for batch norm.

    Example:
        >>> net = ResNetSmall(num_classes=10, in_channels=1, width=8)
        >>> net(torch.randn(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16, blocks_per_stage: int = 1,
                 whitening: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        if width < 1 or blocks_per_stage < 1 or num_classes < 1:
            raise ValueError(f"width, blocks_per_stage and num_classes must be >= 1; got {width}, {blocks_per_stage}, {num_classes}")
        self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.norm = whitening(width) if whitening is not None else nn.BatchNorm2d(width)
        layers: list[nn.Module] = []
        c = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(blocks_per_stage):
                layers.append(BasicBlock(c, c_out, stride=2 if (stage > 0 and i == 0) else 1))
                c = c_out
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_grid(x).mean(dim=(-2, -1)))

    def feature_grid(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map ``(B, 4·width, H/4, W/4)``, before global pooling.

        Example:
            >>> ResNetSmall(num_classes=10, in_channels=1, width=4).feature_grid(torch.zeros(2, 1, 28, 28)).shape
            torch.Size([2, 16, 7, 7])
        """
        return self.stages(torch.relu(self.norm(self.stem(x))))


def resnet_small(**kwargs: Any) -> ResNetSmall:
    """Build a :class:`ResNetSmall` (keyword arguments as in the class)."""
    return ResNetSmall(**kwargs)
