"""Compact vision transformers that expose their final token grid, for DRLoc (report §4.2).

Every model here is a :class:`GridModel`: ``forward(x)`` gives class logits and
``forward_with_grid(x)`` gives ``(logits, grid)`` with ``grid`` the ``(B, C, k, k)`` map on which
DRLoc samples its pairs. The models, each readable in a screen:

- :class:`ViT`: patch embedding, learned positions, pre-norm blocks; logits from the mean token.
- :class:`SwinLike`: windowed attention with a relative position bias, alternate blocks shifted by
  half a window (with the attention mask of the wrapped regions), patch merging between stages; the
  grid is the last stage.
- :class:`CvTLike`: each stage embeds tokens with an overlapping strided convolution, and attention
  projects queries, keys and values with depthwise 3×3 convolutions (keys and values strided).
- :class:`T2TLike`: tokens-to-token soft splits (``unfold``) with a small transformer between
  them, then a ViT.
- :class:`ResNetGrid`: :class:`~ai4m_kit.models.resnet_small.ResNetSmall` and its last stage.

CvT and T2T end on a ``2k × 2k`` map; as the authors do, it is average-pooled (3×3, stride 2,
padding 1) to the ``k × k`` grid DRLoc sees; their logits come from the unpooled tokens.
:func:`build_model` makes each at a profile's size: ``demo`` (28–32 px inputs, 2 CPU cores),
``smoke`` (tests) or ``paper`` (the report's Swin-T, CvT-13, T2T-ViT-14 at 224 px; a ResNet at
ResNet-18 scale, its 56×56 map pooled to 7×7). ViT-S/16 at ``paper`` ends on 14×14.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resnet_small import ResNetSmall

MODELS = ("vit", "swin", "cvt", "t2t", "resnet")
TRANSFORMERS = ("vit", "swin", "cvt", "t2t")


class GridModel(nn.Module):
    """A classifier that also returns its final ``(B, C, k, k)`` token grid."""

    grid_channels: int

    def forward_with_grid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_grid(x)[0]

    def grid(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_grid(x)[1]


def _tokens(img: torch.Tensor) -> torch.Tensor:
    return img.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, H·W, C)


def _image(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)


def _check_heads(dim: int, heads: int) -> None:
    if dim % heads:
        raise ValueError(f"dim {dim} must be divisible by heads {heads}")


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None):
    """Multi-head scaled dot-product attention of ``(B, N, C)`` queries on ``(B, M, C)`` keys/values."""
    b, n, c = q.shape
    q, k, v = (t.reshape(b, t.shape[1], heads, c // heads).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, n, c)


class Attention(nn.Module):
    """Multi-head self-attention with linear projections; ``mask`` is added to the logits."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        _check_heads(dim, heads)
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(_attend(q, k, v, self.heads, mask))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x), ...)``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, attn: nn.Module, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(dim), attn, nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), *args)
        return x + self.mlp(self.norm2(x))


# ------------------------------------------------------------------------------------------- ViT


class ViT(GridModel):
    """Vision transformer: ``patch × patch`` embedding, learned positions, ``depth`` blocks.

    Example:
        >>> net = ViT(num_classes=10, in_channels=1, image_size=28, patch=4, dim=16, depth=1, heads=2)
        >>> [tuple(t.shape) for t in net.forward_with_grid(torch.zeros(2, 1, 28, 28))]
        [(2, 10), (2, 16, 7, 7)]
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int, *, patch: int = 4, dim: int = 48,
                 depth: int = 3, heads: int = 3, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} must be divisible by patch {patch}")
        k = image_size // patch
        self.grid_channels = dim
        self.embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.pos = nn.Parameter(torch.randn(1, k * k, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, Attention(dim, heads), mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward_with_grid(self, x):
        img = self.embed(x)
        h, w = img.shape[-2:]
        t = _tokens(img) + self.pos
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)
        return self.head(t.mean(1)), _image(t, h, w)


# ------------------------------------------------------------------------------------------ Swin


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """``(B, H, W, C)`` → ``(B·H/w·W/w, w·w, C)``, windows in batch-major order."""
    b, h, wd, c = x.shape
    return x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def _unwindows(t: torch.Tensor, w: int, b: int, h: int, wd: int) -> torch.Tensor:
    c = t.shape[-1]
    return t.view(b, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, c)


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


class SwinBlock(nn.Module):
    """Window attention (relative position bias) on ``(B, H, W, C)``, shifted by ``shift`` cells."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, resolution: int, mlp_ratio: float = 2.0):
        super().__init__()
        _check_heads(dim, heads)
        self.heads, self.window, self.shift = heads, window, shift
        self.block = Block(dim, Attention(dim, heads), mlp_ratio)
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]) + (window - 1)  # (2, N, N), each in [0, 2w-2]
        self.register_buffer("bias_index", rel[0] * (2 * window - 1) + rel[1], persistent=False)
        mask = torch.zeros(window * window, window * window)[None]
        if shift:  # cells that wrapped round in the roll must not attend to their new neighbours
            region = torch.zeros(1, resolution, resolution, 1)
            cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
            for n, (a, b) in enumerate((a, b) for a in cuts for b in cuts):
                region[:, a, b] = n
            lab = _windows(region, window)[..., 0]  # (nW, N)
            mask = (lab[:, :, None] != lab[:, None, :]).float() * -100.0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        t = _windows(x, self.window)
        bias = self.bias_table[self.bias_index].permute(2, 0, 1)  # (heads, N, N)
        mask = self.mask[:, None] + bias[None]  # (nW or 1, heads, N, N)
        if mask.shape[0] > 1:  # one mask per window, windows in batch-major order
            mask = mask.repeat(b, 1, 1, 1)
        x = _unwindows(self.block(t, mask), self.window, b, h, w)
        if self.shift:
            x = torch.roll(x, (self.shift, self.shift), dims=(1, 2))
        return x


class PatchMerging(nn.Module):
    """Concatenate each 2×2 neighbourhood ``(B, H, W, C)`` → ``(B, H/2, W/2, 4C)``, LN, linear to ``2C``."""

    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.norm, self.reduce = nn.LayerNorm(4 * dim), nn.Linear(4 * dim, out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduce(self.norm(x))


class SwinLike(GridModel):
    """Swin-like transformer: stages of (shifted) window attention joined by patch merging.

    The window is the largest divisor of each stage's resolution up to ``window``; a stage no
    larger than its window attends globally and is not shifted (as Swin does).

    Example:
        >>> net = SwinLike(10, 1, 28, patch=2, dims=(8, 16), depths=(2, 1), heads=(1, 2), window=7)
        >>> tuple(net.grid(torch.zeros(2, 1, 28, 28)).shape)
        (2, 16, 7, 7)
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int, *, patch: int = 2,
                 dims=(32, 64), depths=(2, 2), heads=(2, 4), window: int = 7, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if not len(dims) == len(depths) == len(heads):
            raise ValueError(f"dims, depths and heads must have one entry per stage; got {dims}, {depths}, {heads}")
        res = image_size // patch
        if image_size % patch or res % 2 ** (len(dims) - 1):
            raise ValueError(f"image_size {image_size} must be divisible by patch {patch} × 2^(stages-1)")
        self.embed = nn.Conv2d(in_channels, dims[0], patch, patch)
        self.embed_norm = nn.LayerNorm(dims[0])
        self.stages, self.merges = nn.ModuleList(), nn.ModuleList()
        for s, (dim, depth, h) in enumerate(zip(dims, depths, heads)):
            win = _largest_divisor(res, window)
            shift = win // 2 if win < res else 0
            self.stages.append(nn.Sequential(*(SwinBlock(dim, h, win, shift if i % 2 else 0, res, mlp_ratio)
                                               for i in range(depth))))
            if s + 1 < len(dims):
                self.merges.append(PatchMerging(dim, dims[s + 1]))
                res //= 2
        self.grid_channels = dims[-1]
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward_with_grid(self, x):
        x = self.embed_norm(self.embed(x).permute(0, 2, 3, 1))  # (B, H, W, C)
        for s, stage in enumerate(self.stages):
            x = stage(x)
            if s < len(self.merges):
                x = self.merges[s](x)
        x = self.norm(x)
        return self.head(x.mean(dim=(1, 2))), x.permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------------- CvT


def _pool_grid(img: torch.Tensor) -> torch.Tensor:
    """The authors' reduction of a ``2k × 2k`` map to ``k × k``: average pooling 3×3, stride 2, pad 1."""
    return F.avg_pool2d(img, 3, stride=2, padding=1)


class ConvAttention(nn.Module):
    """CvT's convolutional projection: depthwise 3×3 conv + BN, then linear, for q, k, v (k, v strided)."""

    def __init__(self, dim: int, heads: int, kv_stride: int = 2) -> None:
        super().__init__()
        _check_heads(dim, heads)
        self.heads = heads

        def conv(stride):
            return nn.Sequential(nn.Conv2d(dim, dim, 3, stride, 1, groups=dim, bias=False), nn.BatchNorm2d(dim))

        self.conv_q, self.conv_k, self.conv_v = conv(1), conv(kv_stride), conv(kv_stride)
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        img = _image(x, *hw)
        q = self.q(_tokens(self.conv_q(img)))
        k = self.k(_tokens(self.conv_k(img)))
        v = self.v(_tokens(self.conv_v(img)))
        return self.proj(_attend(q, k, v, self.heads))


class CvTLike(GridModel):
    """CvT-like: stages ``(kernel, stride, dim, depth, heads)`` of convolutional token embedding
    (+ LN) and blocks with convolutional projections; the final ``2k`` map is pooled to ``k``.

    Example:
        >>> net = CvTLike(10, 1, 28, stages=((3, 2, 8, 1, 1), (3, 1, 16, 1, 2)))
        >>> tuple(net.grid(torch.zeros(2, 1, 28, 28)).shape)
        (2, 16, 7, 7)
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int, *,
                 stages=((3, 2, 32, 1, 1), (3, 1, 64, 2, 2)), kv_stride: int = 2, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.embeds, self.embed_norms, self.stages = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c = in_channels
        for kernel, stride, dim, depth, heads in stages:
            self.embeds.append(nn.Conv2d(c, dim, kernel, stride, kernel // 2))
            self.embed_norms.append(nn.LayerNorm(dim))
            self.stages.append(nn.ModuleList(Block(dim, ConvAttention(dim, heads, kv_stride), mlp_ratio)
                                             for _ in range(depth)))
            c = dim
        self.grid_channels = c
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, num_classes)

    def forward_with_grid(self, x):
        for embed, norm, blocks in zip(self.embeds, self.embed_norms, self.stages):
            x = embed(x)
            hw = tuple(x.shape[-2:])
            t = norm(_tokens(x))
            for blk in blocks:
                t = blk(t, hw)
            x = _image(t, *hw)
        t = self.norm(t)
        return self.head(t.mean(1)), _pool_grid(_image(t, *hw))


# ------------------------------------------------------------------------------------------- T2T


class T2TLike(GridModel):
    """T2T-like: soft splits ``(kernel, stride, padding)`` with a one-head transformer of width
    ``token_dim`` after each but the last, then a ViT of ``depth`` blocks; the ``2k`` map is pooled to ``k``.

    Example:
        >>> net = T2TLike(10, 1, 28, splits=((3, 2, 1), (3, 1, 1)), token_dim=8, dim=16, depth=1, heads=2)
        >>> tuple(net.grid(torch.zeros(2, 1, 28, 28)).shape)
        (2, 16, 7, 7)
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int, *, splits=((3, 2, 1), (3, 1, 1)),
                 token_dim: int = 16, dim: int = 48, depth: int = 3, heads: int = 3, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.splits = tuple(tuple(s) for s in splits)
        self.t2t_proj, self.t2t_blocks = nn.ModuleList(), nn.ModuleList()
        c, res = in_channels, image_size
        for s, (kernel, stride, pad) in enumerate(self.splits):
            res = (res + 2 * pad - kernel) // stride + 1
            if s + 1 < len(self.splits):
                self.t2t_proj.append(nn.Linear(c * kernel * kernel, token_dim))
                self.t2t_blocks.append(Block(token_dim, Attention(token_dim, 1), 1.0))
                c = token_dim
        self.project = nn.Linear(c * self.splits[-1][0] ** 2, dim)
        self.pos = nn.Parameter(torch.randn(1, res * res, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, Attention(dim, heads), mlp_ratio) for _ in range(depth))
        self.grid_channels = dim
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward_with_grid(self, x):
        for s, (kernel, stride, pad) in enumerate(self.splits):
            res = (x.shape[-1] + 2 * pad - kernel) // stride + 1
            t = F.unfold(x, kernel, padding=pad, stride=stride).transpose(1, 2)  # soft split: (B, N, C·k·k)
            if s + 1 < len(self.splits):
                t = self.t2t_blocks[s](self.t2t_proj[s](t))
                x = _image(t, res, res)  # re-structurise
        t = self.project(t) + self.pos
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)
        return self.head(t.mean(1)), _pool_grid(_image(t, res, res))


# ---------------------------------------------------------------------------------------- ResNet


class ResNetGrid(GridModel):
    """:class:`ResNetSmall` as a :class:`GridModel`: its last stage is the grid (``H/4``), or that
    map average-pooled to ``grid_size`` cells a side (the CIFAR-style stem keeps 56×56 at 224 px,
    where ResNet-50 ends on 7×7); the logits come from the unpooled map.

    Example:
        >>> tuple(ResNetGrid(10, 1, width=4).grid(torch.zeros(2, 1, 28, 28)).shape)
        (2, 16, 7, 7)
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int | None = None, *, width: int = 16,
                 blocks: int = 1, grid_size: int | None = None) -> None:
        super().__init__()
        self.net = ResNetSmall(num_classes=num_classes, in_channels=in_channels, width=width, blocks_per_stage=blocks)
        self.grid_channels, self.grid_size = 4 * width, grid_size
        self.head = self.net.head

    def forward_with_grid(self, x):
        grid = self.net.feature_grid(x)
        logits = self.net.head(grid.mean(dim=(-2, -1)))
        if self.grid_size is not None:
            grid = F.adaptive_avg_pool2d(grid, self.grid_size)
        return logits, grid


# -------------------------------------------------------------------------------------- builders

SIZES = {
    "smoke": {"vit": dict(patch=4, dim=16, depth=1, heads=2),
              "swin": dict(patch=2, dims=(8, 16), depths=(2, 1), heads=(1, 2), window=7),
              "cvt": dict(stages=((3, 2, 8, 1, 1), (3, 1, 16, 1, 2))),
              "t2t": dict(splits=((3, 2, 1), (3, 1, 1)), token_dim=8, dim=16, depth=1, heads=2),
              "resnet": dict(width=4)},
    "demo": {"vit": dict(patch=4, dim=48, depth=3, heads=3),
             "swin": dict(patch=2, dims=(24, 48), depths=(2, 2), heads=(2, 3), window=7),
             "cvt": dict(stages=((3, 2, 24, 1, 1), (3, 1, 48, 2, 3))),
             "t2t": dict(splits=((3, 2, 1), (3, 1, 1)), token_dim=16, dim=48, depth=2, heads=3),
             "resnet": dict(width=12)},
    # the report's models at 224 px: ViT-S/16, Swin-T, CvT-13, T2T-ViT-14; ResNet at ResNet-18 scale
    "paper": {"vit": dict(patch=16, dim=384, depth=12, heads=6, mlp_ratio=4.0),
              "swin": dict(patch=4, dims=(96, 192, 384, 768), depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), window=7,
                           mlp_ratio=4.0),
              "cvt": dict(stages=((7, 4, 64, 1, 1), (3, 2, 192, 2, 3), (3, 2, 384, 10, 6)), mlp_ratio=4.0),
              "t2t": dict(splits=((7, 4, 2), (3, 2, 1), (3, 2, 1)), token_dim=64, dim=384, depth=14, heads=6,
                          mlp_ratio=3.0),
              "resnet": dict(width=64, blocks=2, grid_size=7)},
}
_CLASSES = {"vit": ViT, "swin": SwinLike, "cvt": CvTLike, "t2t": T2TLike, "resnet": ResNetGrid}


def build_model(name: str, *, num_classes: int, in_channels: int, image_size: int, size: str = "demo",
                **overrides) -> GridModel:
    """One of :data:`MODELS` at a profile's ``size`` (``smoke``, ``demo``, ``paper``); keyword
    ``overrides`` replace the size's settings.

    Example:
        >>> net = build_model("cvt", num_classes=10, in_channels=1, image_size=28, size="smoke")
        >>> tuple(net.grid(torch.zeros(1, 1, 28, 28)).shape)
        (1, 16, 7, 7)
    """
    if name not in _CLASSES:
        raise ValueError(f"model must be one of {MODELS}; got {name!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {tuple(SIZES)}; got {size!r}")
    return _CLASSES[name](num_classes, in_channels, image_size, **{**SIZES[size][name], **overrides})
