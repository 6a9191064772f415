"""Grey-level co-occurrence texture scores of image tiles, and top-k patch selection (SUDDS).

:func:`glcm` builds co-occurrence matrices as scikit-image's ``graycomatrix`` does (pairs of a pixel
and its neighbour at ``distance`` along ``angle``: row offset ``round(sin(angle) * distance)``,
column offset ``round(cos(angle) * distance)``), batched over tiles with one ``bincount``;
:func:`glcm_property` is ``graycoprops`` on them (the matrix is normalised first, as there).
:func:`tile_scores` scores every non-overlapping tile of a frame: the properties that depend only on
the grey-level difference (contrast, dissimilarity, homogeneity) are computed straight from the pixel
pairs, which equals the matrix route exactly and never builds a ``levels x levels`` matrix per tile;
the others go through :func:`glcm`. Scores are float64 (the authors' code truncated them to int16).
"""

from __future__ import annotations

import math

import numpy as np
import torch

PROPERTIES = ("contrast", "dissimilarity", "homogeneity", "energy", "ASM", "correlation")
_DIFFERENCE_PROPS = {"contrast": lambda d: d * d, "dissimilarity": lambda d: d.abs(),
                     "homogeneity": lambda d: 1.0 / (1.0 + d * d)}


def _offsets(distance: int, angle: float) -> tuple[int, int]:
    if isinstance(distance, bool) or not isinstance(distance, int) or distance < 1:
        raise ValueError(f"distance must be an integer >= 1; got {distance!r}")
    return int(round(math.sin(angle) * distance)), int(round(math.cos(angle) * distance))


def quantize(grey: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Grey levels ``0..levels-1`` (int64) of 8-bit values or floats in [0, 1].

    Example:
        >>> quantize(torch.tensor([0, 127, 255], dtype=torch.uint8), 8).tolist()
        [0, 3, 7]
    """
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in 2..256; got {levels}")
    if grey.dtype == torch.uint8:
        g = grey.long()
    elif grey.is_floating_point():
        g = (grey.clamp(0, 1) * 255).round().long()
    else:
        g = grey.long().clamp(0, 255)
    return g * levels // 256


def _pairs(q: torch.Tensor, distance: int, angle: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference and neighbour levels of every pixel pair inside ``(..., H, W)``."""
    dr, dc = _offsets(distance, angle)
    h, w = q.shape[-2:]
    r0, r1 = max(0, -dr), min(h, h - dr)
    c0, c1 = max(0, -dc), min(w, w - dc)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"tiles of {h}x{w} have no pixel pair at distance {distance}, angle {angle}")
    return q[..., r0:r1, c0:c1], q[..., r0 + dr:r1 + dr, c0 + dc:c1 + dc]


def glcm(grey: torch.Tensor, distance: int = 5, angle: float = 0.0, *, levels: int = 256, symmetric: bool = True,
         normed: bool = True) -> torch.Tensor:
    """Co-occurrence matrices ``(..., levels, levels)`` of grey tiles ``(..., H, W)`` (uint8 or [0, 1]).

    Equal to ``skimage.feature.graycomatrix(q, [distance], [angle], levels, symmetric, normed)[..., 0, 0]``
    for the quantised tile ``q = quantize(grey, levels)``.

    Example:
        >>> P = glcm(torch.tensor([[0, 0, 255, 255]], dtype=torch.uint8), 1, levels=2, normed=False)
        >>> P.tolist()
        [[2.0, 1.0], [1.0, 2.0]]
    """
    if grey.ndim < 2:
        raise ValueError(f"grey must be (..., H, W); got shape {tuple(grey.shape)}")
    q = quantize(grey, levels)
    a, b = _pairs(q, distance, angle)
    lead = q.shape[:-2]
    n = int(np.prod(lead)) if lead else 1
    idx = (a * levels + b).reshape(n, -1)
    idx = idx + torch.arange(n, device=q.device)[:, None] * levels * levels
    P = torch.bincount(idx.reshape(-1), minlength=n * levels * levels).reshape(*lead, levels, levels).double()
    if symmetric:
        P = P + P.transpose(-1, -2)
    if normed:
        P = P / P.sum(dim=(-1, -2), keepdim=True).clamp_min(1)
    return P


def glcm_property(P: torch.Tensor, prop: str = "contrast") -> torch.Tensor:
    """``graycoprops`` of matrices ``(..., L, L)`` (normalised first); returns ``(...)`` float64.

    Example:
        >>> P = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
        >>> round(float(glcm_property(P, "contrast")), 4)
        0.3333
    """
    if prop not in PROPERTIES:
        raise ValueError(f"prop must be one of {PROPERTIES}; got {prop!r}")
    P = P.double()
    P = P / P.sum(dim=(-1, -2), keepdim=True).clamp_min(1e-300)
    L = P.shape[-1]
    i = torch.arange(L, dtype=torch.float64, device=P.device)[:, None]
    j = i.T
    if prop in _DIFFERENCE_PROPS:
        return (P * _DIFFERENCE_PROPS[prop](i - j)).sum(dim=(-1, -2))
    if prop == "ASM":
        return (P * P).sum(dim=(-1, -2))
    if prop == "energy":
        return (P * P).sum(dim=(-1, -2)).sqrt()
    mu_i = (P * i).sum(dim=(-1, -2))
    mu_j = (P * j).sum(dim=(-1, -2))
    sd_i = (P * (i - mu_i[..., None, None]) ** 2).sum(dim=(-1, -2)).sqrt()
    sd_j = (P * (j - mu_j[..., None, None]) ** 2).sum(dim=(-1, -2)).sqrt()
    cov = (P * (i - mu_i[..., None, None]) * (j - mu_j[..., None, None])).sum(dim=(-1, -2))
    flat = (sd_i < 1e-15) | (sd_j < 1e-15)  # scikit-image: a constant tile has correlation 1
    return torch.where(flat, torch.ones_like(cov), cov / (sd_i * sd_j).where(~flat, torch.ones_like(cov)))


def tile_grid(height: int, width: int, patch: int) -> torch.Tensor:
    """Top-left corners ``(n, 2)`` (y, x) of the non-overlapping ``patch``-pixel tiles that lie wholly
    inside a ``height x width`` frame, in row-major order (the last partial row/column is dropped).

    Example:
        >>> tile_grid(5, 9, 4).tolist()
        [[0, 0], [0, 4]]
    """
    if patch < 1:
        raise ValueError(f"patch must be >= 1; got {patch}")
    if height < patch or width < patch:
        raise ValueError(f"frame of {width}x{height} is smaller than one {patch}x{patch} patch")
    ys = torch.arange(height // patch) * patch
    xs = torch.arange(width // patch) * patch
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


def _tiles(grey: torch.Tensor, patch: int) -> torch.Tensor:
    """``(rows, cols, patch, patch)`` view of the whole tiles of ``(H, W)``."""
    h, w = grey.shape[-2:]
    r, c = h // patch, w // patch
    return grey[: r * patch, : c * patch].reshape(r, patch, c, patch).transpose(1, 2)


def tile_scores(grey: torch.Tensor, patch: int, *, prop: str = "contrast", distance: int = 5, angle: float = 0.0,
                levels: int = 256) -> torch.Tensor:
    """GLCM ``prop`` (symmetric, normed) of every tile of :func:`tile_grid`, for a grey frame ``(H, W)``
    (uint8 or [0, 1]); float64 ``(n,)`` in the grid's order.

    Example:
        >>> g = torch.zeros(8, 16, dtype=torch.uint8); g[:, 8:] = torch.randint(0, 255, (8, 8), dtype=torch.uint8)
        >>> s = tile_scores(g, 8, distance=1); bool(s[0] == 0 and s[1] > 0)
        True
    """
    if grey.ndim != 2:
        raise ValueError(f"grey must be one frame (H, W); got shape {tuple(grey.shape)}")
    tile_grid(*grey.shape, patch)  # size check
    tiles = _tiles(grey, patch)
    if prop in _DIFFERENCE_PROPS:
        # 16-bit levels and 32-bit differences, summed exactly in int64: 4K frames stay cheap.
        q = tiles.to(torch.int16) if (levels == 256 and tiles.dtype == torch.uint8) else quantize(tiles, levels).to(torch.int16)
        a, b = _pairs(q, distance, angle)
        d = (a - b).to(torch.int32)
        n = d.shape[-1] * d.shape[-2]
        if prop == "contrast":
            return ((d * d).sum(dim=(-1, -2)).double() / n).reshape(-1)
        if prop == "dissimilarity":
            return (d.abs().sum(dim=(-1, -2)).double() / n).reshape(-1)
        return _DIFFERENCE_PROPS[prop](d.double()).mean(dim=(-1, -2)).reshape(-1)
    return glcm_property(glcm(tiles, distance, angle, levels=levels), prop).reshape(-1)


def select_patches(grey: torch.Tensor, patch: int, k: int, *, prop: str = "contrast", distance: int = 5,
                   angle: float = 0.0, levels: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Corners ``(k, 2)`` (y, x) of the ``k`` tiles with the highest GLCM ``prop`` (ties: grid order),
    and their scores; fewer than ``k`` when the frame has fewer tiles.

    Example:
        >>> g = torch.zeros(16, 16, dtype=torch.uint8); g[8:, 8:] = torch.arange(64, dtype=torch.uint8).reshape(8, 8) * 4
        >>> select_patches(g, 8, 1, distance=1)[0].tolist()
        [[8, 8]]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    scores = tile_scores(grey, patch, prop=prop, distance=distance, angle=angle, levels=levels)
    corners = tile_grid(*grey.shape, patch)
    # Stable descending order: equal scores keep the grid order (reproducible choice).
    order = torch.sort(-scores, stable=True).indices[: min(k, len(scores))]
    return corners[order], scores[order]


def crop_patches(frame: torch.Tensor, corners: torch.Tensor, patch: int) -> torch.Tensor:
    """Patches ``(n, C, patch, patch)`` of a frame ``(C, H, W)`` at ``corners`` ``(n, 2)``."""
    h, w = frame.shape[-2:]
    out = []
    for y, x in corners.tolist():
        if y < 0 or x < 0 or y + patch > h or x + patch > w:
            raise ValueError(f"patch at ({y}, {x}) of size {patch} crosses the {w}x{h} frame border")
        out.append(frame[..., y:y + patch, x:x + patch])
    return torch.stack(out)
