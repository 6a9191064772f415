"""SUDDS: a patch-based detector of synthetically upscaled video (report §3.2, Figure 4).

A patch ``(B, 3, P, P)`` in [0, 1] goes through a ResNet-18 (:mod:`ai4m_kit.models.resnet`, torchvision
layout); the global average pools of its four stage outputs are concatenated (``15 w`` values for
base width ``w``). Two switchable additions:

- the **staircase** (after StairIQA): starting from the stem, each step applies 1x1 -> 3x3 (stride 1
  into ``layer1``, 2 afterwards) -> 1x1 convolutions and adds the next stage's output, so low-level
  detail is carried up to the last stage; its pooled output adds ``8 w`` values;
- **DCT** features of the whole frame: the mean log-magnitude of the luma's orthonormal 2-D DCT-II in
  ``bands`` frequency bands (band of a coefficient ``(v, u)``: ``max(v / H, u / W)``), minus the mean
  over all coefficients; an upscaled frame lacks energy beyond the cut-off ``1 / scale`` of its
  source. Adds ``bands`` values (shared by every patch of a frame).

A two-layer MLP (hidden 256, dropout 0.5) maps the features to class logits (2: original /
upscaled, or one class per method). Patch votes are aggregated by majority to a frame, frames to a
video (:func:`aggregate_votes`). Baselines: :class:`DCTSpectrumDetector` (one threshold on the
spectrum's high band, chosen on training frames) and :class:`SmallCNN` (trained from scratch).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from .resnet import ResNet18, pool_blocks

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DCT_BANDS = 16


@functools.lru_cache(maxsize=8)
def _band_index(h: int, w: int, bands: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.maximum(np.arange(h)[:, None] / h, np.arange(w)[None, :] / w)
    band = np.minimum((r * bands).astype(np.int64), bands - 1).ravel()
    return band, np.bincount(band, minlength=bands)


def dct_features(luma, bands: int = DCT_BANDS) -> torch.Tensor:
    """DCT band features ``(bands,)`` of one luma frame ``(H, W)`` (values in [0, 1] or code values;
    the features do not depend on the scale of the values). Single precision (a 4K frame in well
    under a second on one core).

    Example:
        >>> f = dct_features(torch.rand(64, 96)); f.shape, bool(f.abs().max() < 2)
        (torch.Size([16]), True)
    """
    from scipy.fft import dctn

    y = luma.detach().cpu().float().numpy() if isinstance(luma, torch.Tensor) else np.asarray(luma, dtype=np.float32)
    if y.ndim != 2 or min(y.shape) < bands:
        raise ValueError(f"luma must be one frame (H, W) with sides >= bands ({bands}); got shape {y.shape}")
    peak = max(float(np.abs(y).max()), 1e-12)
    mag = np.abs(dctn(y / np.float32(peak), type=2, norm="ortho"))
    mag = np.log10(mag + np.float32(1e-6), out=mag)
    band, counts = _band_index(*y.shape, bands)
    sums = np.bincount(band, weights=mag.ravel(), minlength=bands)
    means = sums / np.maximum(counts, 1)
    return torch.from_numpy(means - sums.sum() / mag.size).float()


def spectrum_score(dct: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    """Parameter-free upscaling score of DCT band features ``(..., bands)``: mean log-magnitude of the
    bands beyond the cut-off ``1 / scale`` minus that of the octave below it (lower: more likely upscaled).

    Example:
        >>> spectrum_score(torch.tensor([[0., 0., 0., 0., -1., -1., -1., -1.]]))
        tensor([-1.])
    """
    bands = dct.shape[-1]
    cut = int(round(bands / scale))
    low = max(0, int(round(cut / 2)))
    return dct[..., cut:].mean(-1) - dct[..., low:cut].mean(-1)


class DCTSpectrumDetector:
    """One threshold on :func:`spectrum_score` of a frame, chosen on training frames (best balanced
    accuracy): a frame scoring below it is called upscaled."""

    def __init__(self, scale: float = 2.0):
        self.scale = scale
        self.threshold: float | None = None

    def fit(self, dct: torch.Tensor, upscaled: torch.Tensor) -> "DCTSpectrumDetector":
        s = spectrum_score(dct, self.scale).double()
        y = upscaled.bool()
        if y.all() or (~y).all():
            raise ValueError("upscaled: training frames need both original and upscaled frames")
        cands = torch.sort(s).values
        cands = torch.cat([cands[:1] - 1, (cands[1:] + cands[:-1]) / 2, cands[-1:] + 1])
        pred = s[None, :] < cands[:, None]
        bal = 0.5 * ((pred & y).sum(1) / y.sum() + (~pred & ~y).sum(1) / (~y).sum())
        self.threshold = float(cands[int(bal.argmax())])
        return self

    def predict(self, dct: torch.Tensor) -> torch.Tensor:
        """1 for frames called upscaled, 0 for original."""
        if self.threshold is None:
            raise ValueError("DCTSpectrumDetector: call fit() before predict()")
        return (spectrum_score(dct, self.scale) < self.threshold).long()


class Staircase(nn.Module):
    """StairIQA-style fusion of the stem and stage outputs ``channels = (c0, c1, c2, c3, c4)``; output
    ``(B, c4)`` after global average pooling."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        steps = []
        for i in range(1, len(channels)):
            cin, cout = channels[i - 1], channels[i]
            mid = max(cout // 2, 4)
            steps.append(nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                nn.Conv2d(mid, mid, 3, 1 if i == 1 else 2, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)))
        self.steps = nn.ModuleList(steps)
        self.out_size = channels[-1]

    def forward(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        x = blocks[0]
        for step, nxt in zip(self.steps, blocks[1:]):
            y = step(x)
            if y.shape[-2:] != nxt.shape[-2:]:  # odd sizes: align to the stage's grid
                y = nn.functional.adaptive_avg_pool2d(y, nxt.shape[-2:])
            x = torch.relu(y + nxt)
        return x.mean(dim=(-1, -2))


class SUDDS(nn.Module):
    """The detector: backbone features (+ staircase) (+ DCT) -> MLP.

    ``feature_size = 15 w + (8 w if staircase) + (dct_bands if dct)`` for backbone width ``w``.

    Example:
        >>> m = SUDDS(width=8, classes=2)
        >>> m.feature_size, SUDDS(width=8, staircase=False, dct=False).feature_size
        (200, 120)
        >>> m.eval()(torch.rand(4, 3, 32, 32), torch.zeros(4, 16)).shape
        torch.Size([4, 2])
    """

    def __init__(self, width: int = 64, classes: int = 2, *, staircase: bool = True, dct: bool = True,
                 dct_bands: int = DCT_BANDS, hidden: int = 256, dropout: float = 0.5, backbone: ResNet18 | None = None):
        super().__init__()
        if classes < 2:
            raise ValueError(f"classes must be >= 2; got {classes}")
        self.backbone = backbone if backbone is not None else ResNet18(width)
        w = self.backbone.width
        self.use_staircase, self.use_dct, self.classes, self.dct_bands = staircase, dct, classes, dct_bands
        self.staircase = Staircase(self.backbone.block_channels) if staircase else None
        self.dct_norm = nn.BatchNorm1d(dct_bands, affine=False) if dct else None
        self.feature_size = 15 * w + (8 * w if staircase else 0) + (dct_bands if dct else 0)
        self.head = nn.Sequential(nn.Linear(self.feature_size, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, classes))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def blocks(self, patches: torch.Tensor) -> list[torch.Tensor]:
        """Backbone feature maps of patches in [0, 1] (ImageNet normalisation inside)."""
        return self.backbone.blocks((patches - self.mean) / self.std)

    def features_from_blocks(self, blocks: list[torch.Tensor], dct: torch.Tensor | None = None) -> torch.Tensor:
        """The feature vector ``(B, feature_size)`` from backbone maps (and per-patch DCT features)."""
        parts = [pool_blocks(blocks)]
        if self.staircase is not None:
            parts.append(self.staircase(blocks))
        if self.dct_norm is not None:
            if dct is None or dct.shape != (blocks[0].shape[0], self.dct_bands):
                got = None if dct is None else tuple(dct.shape)
                raise ValueError(f"dct must be ({blocks[0].shape[0]}, {self.dct_bands}) for a model with DCT features; got {got}")
            parts.append(self.dct_norm(dct))
        return torch.cat(parts, dim=1)

    def features(self, patches: torch.Tensor, dct: torch.Tensor | None = None) -> torch.Tensor:
        return self.features_from_blocks(self.blocks(patches), dct)

    def forward(self, patches: torch.Tensor, dct: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(patches, dct))

    def extra_repr(self) -> str:
        return f"classes={self.classes}, staircase={self.use_staircase}, dct={self.use_dct}, feature_size={self.feature_size}"


class SmallCNN(nn.Module):
    """Baseline: four conv-BN-ReLU layers (stride 2 after the first) and a linear classifier, trained
    on patches from scratch, without the pretrained backbone.

    Example:
        >>> SmallCNN(classes=3)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 3])
    """

    def __init__(self, classes: int = 2, width: int = 16):
        super().__init__()
        layers, cin = [], 3
        for i, c in enumerate((width, width, 2 * width, 4 * width)):
            layers += [nn.Conv2d(cin, c, 3, 1 if i == 0 else 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)
        self.classes = classes

    def forward(self, patches: torch.Tensor, dct: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.body(patches * 2 - 1).mean(dim=(-1, -2)))


def aggregate_votes(patch_labels: torch.Tensor, groups: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Majority vote per group: ``(labels (G,), vote fractions (G, classes))`` for patch (or frame)
    labels ``(N,)`` and their group index ``(N,)`` in ``0..G-1``. Ties go to the lower class index
    (for binary labels: "original").

    Example:
        >>> aggregate_votes(torch.tensor([1, 1, 0, 0, 1, 0]), torch.tensor([0, 0, 0, 1, 1, 1]), 2)[0].tolist()
        [1, 0]
    """
    if patch_labels.shape != groups.shape or patch_labels.ndim != 1:
        raise ValueError(f"patch_labels and groups must be (N,); got {tuple(patch_labels.shape)}, {tuple(groups.shape)}")
    g = int(groups.max()) + 1 if groups.numel() else 0
    counts = torch.zeros(g, classes, dtype=torch.float64)
    counts.index_put_((groups.long(), patch_labels.long()), torch.ones(len(groups), dtype=torch.float64), accumulate=True)
    frac = counts / counts.sum(1, keepdim=True).clamp_min(1)
    return counts.argmax(1), frac


def video_verdict(frame_labels: torch.Tensor) -> tuple[bool, float]:
    """Video verdict from frame labels (0 original, >0 an upscaling class): upscaled when most frames
    say so; the probability is the fraction of frames voting upscaled."""
    up = (frame_labels > 0).double()
    p = float(up.mean()) if len(up) else 0.0
    return p > 0.5, p
