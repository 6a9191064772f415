"""ResNet-18 in torchvision's module layout, with a width parameter and per-block feature maps.

At ``width=64`` the state-dict keys and shapes are torchvision's ``resnet18`` (``conv1``, ``bn1``,
``layer1.0.conv1`` ... ``layer4.1.bn2``, ``layer{2,3,4}.0.downsample.{0,1}``, ``fc``), so a user's
ImageNet checkpoint file loads by path (:func:`load_resnet18`); smaller widths give the same layout
with every channel count scaled (``width, 2w, 4w, 8w``), for CPU budgets.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual (torchvision's ``BasicBlock``)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 (torchvision layout) of base ``width``; :meth:`blocks` returns the stem and the four
    stage outputs, :meth:`pooled` their global average pools concatenated.

    Example:
        >>> net = ResNet18(width=8)
        >>> [tuple(f.shape[1:]) for f in net.blocks(torch.zeros(1, 3, 64, 64))]
        [(8, 16, 16), (8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2)]
        >>> net.pooled(torch.zeros(2, 3, 64, 64)).shape, net.pooled_size
        (torch.Size([2, 120]), 120)
    """

    def __init__(self, width: int = 64, num_classes: int = 1000):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1; got {width}")
        self.width = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [width, 2 * width, 4 * width, 8 * width]
        cin = width
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c)))
            cin = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def block_channels(self) -> tuple[int, ...]:
        """Channels of the stem and of each stage output."""
        w = self.width
        return (w, w, 2 * w, 4 * w, 8 * w)

    @property
    def pooled_size(self) -> int:
        """Size of :meth:`pooled`: the four stage outputs, ``15 * width``."""
        return 15 * self.width

    def blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of the stem (after max pooling) and of ``layer1`` .. ``layer4``."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be (B, 3, H, W); got shape {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = [x]
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            out.append(x)
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pools of the four stage outputs, concatenated ``(B, 15 * width)``."""
        return pool_blocks(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.blocks(x)[-1]), 1))

    def extra_repr(self) -> str:
        return f"width={self.width}"


def pool_blocks(blocks: list[torch.Tensor]) -> torch.Tensor:
    """GAP of the stage outputs (``blocks[1:]``) concatenated."""
    return torch.cat([b.mean(dim=(-1, -2)) for b in blocks[1:]], dim=1)


def load_resnet18(path: str | os.PathLike, width: int | None = None) -> ResNet18:
    """A :class:`ResNet18` with the weights of a torchvision-layout checkpoint file (a state dict, or a
    dict holding one under ``state_dict``/``model``; a ``module.`` prefix from DDP is removed). The
    classifier ``fc`` may have any number of classes; ``width`` (default: the checkpoint's) is checked."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__})") from err
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or "conv1.weight" not in {k.removeprefix("module.") for k in state}:
        raise ValueError(f"{path}: not a ResNet-18 state dict in torchvision's layout (no conv1.weight)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    got_width = state["conv1.weight"].shape[0]
    if width is not None and got_width != width:
        raise ValueError(f"{path}: checkpoint has width {got_width}; expected {width}")
    net = ResNet18(got_width, num_classes=state["fc.weight"].shape[0] if "fc.weight" in state else 1000)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not torchvision's ResNet-18 layout (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return net
