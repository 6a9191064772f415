"""Batched image augmentations for self-supervised learning, on ``(B, C, H, W)`` floats in [0, 1].

Every random parameter is drawn per sample from the ``torch.Generator`` passed in (on the
generator's device, then moved to the images' device), so one seed gives the same views on CPU and
CUDA. The colour operations follow torchvision's definitions (which the W-MSE, SimCLR and BYOL code
uses): brightness multiplies, contrast and saturation blend with the grey mean / grey image
(ITU-R 601 luma weights 0.299, 0.587, 0.114), hue rotates H in HSV; the four are applied in a random
order per sample. Grey inputs (``C == 1``) keep one channel: brightness and contrast apply,
saturation, hue and greyscale leave them unchanged.

Defaults are W-MSE's (Ermolov et al. 2021, the ``htdt/self-supervised`` repository's ``cfg.py``,
used for CIFAR-10/100, STL-10 and Tiny ImageNet alike), in its order: colour jitter (0.4, 0.4, 0.4,
0.1) with probability 0.8, greyscale with probability 0.1, random resized crop with scale
(0.2, 1.0) and aspect ratio (3/4, 4/3) resampled bicubically, horizontal flip with probability 0.5.
SimCLR's ImageNet recipe differs in crop scale (0.08, 1.0), jitter (0.8, 0.8, 0.8, 0.2) and
greyscale probability 0.2; pass those to :func:`augment` to use it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WMSE_DEFAULTS = {
    "scale": (0.2, 1.0),
    "ratio": (3 / 4, 4 / 3),
    "brightness": 0.4,
    "contrast": 0.4,
    "saturation": 0.4,
    "hue": 0.1,
    "p_jitter": 0.8,
    "p_greyscale": 0.1,
    "p_flip": 0.5,
}
LUMA = (0.299, 0.587, 0.114)


def _check(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be (B, C, H, W) with C 1 or 3; got {shape}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1]; got {images.dtype} (use ImageSet.as_float())")


def _rand(generator: torch.Generator, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) numbers from ``generator`` on its own device, moved to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64).to(device)


def _uniform(generator: torch.Generator, n: int, lo: float, hi: float, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * _rand(generator, (n,), device)


def _per_sample(factor: torch.Tensor | float, images: torch.Tensor) -> torch.Tensor:
    factor = torch.as_tensor(factor, dtype=images.dtype, device=images.device)
    return factor.reshape(-1, 1, 1, 1) if factor.ndim else factor


# ------------------------------------------------------------------------------ colour operations


def rgb_to_grey(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma ``(B, 1, H, W)`` of RGB ``(B, 3, H, W)`` (grey input is returned as is)."""
    if images.shape[-3] == 1:
        return images
    r, g, b = images.unbind(-3)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(-3)


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """RGB ``(..., 3, H, W)`` in [0, 1] to HSV with all three channels in [0, 1] (hue in turns).

    Example:
        >>> [round(v, 4) for v in rgb_to_hsv(torch.tensor([0.0, 0.0, 1.0]).reshape(3, 1, 1)).flatten().tolist()]
        [0.6667, 1.0, 1.0]
    """
    r, g, b = images.unbind(-3)
    maxc, _ = images.max(dim=-3)
    minc, _ = images.min(dim=-3)
    delta = maxc - minc
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    rc, gc, bc = (maxc - r) / safe_delta, (maxc - g) / safe_delta, (maxc - b) / safe_delta
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, torch.remainder(h / 6.0, 1.0), torch.zeros_like(h))
    return torch.stack((h, s, maxc), dim=-3)


def hsv_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`: HSV ``(..., 3, H, W)`` (hue in turns) to RGB."""
    h, s, v = images.unbind(-3)
    h6 = torch.remainder(h, 1.0) * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    sector = sector.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # Per sector, which of (v, q, p, t) each of r, g, b takes.
    table = torch.stack(
        (
            torch.stack((v, q, p, p, t, v), dim=0),
            torch.stack((t, v, v, q, p, p), dim=0),
            torch.stack((p, p, t, v, v, q), dim=0),
        ),
        dim=0,
    )  # (3, 6, ...)
    index = sector.unsqueeze(0).unsqueeze(0).expand(3, 1, *sector.shape)
    rgb = torch.gather(table, 1, index).squeeze(1)  # (3, ...)
    return rgb.movedim(0, -3)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """``clamp(factor * x)``; ``factor`` a number or one per sample ``(B,)``."""
    return (images * _per_sample(factor, images)).clamp(0.0, 1.0)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Blend with each image's mean grey level: ``clamp(f * x + (1 - f) * mean(grey(x)))``."""
    mean = rgb_to_grey(images).mean(dim=(-3, -2, -1), keepdim=True)
    f = _per_sample(factor, images)
    return (f * images + (1 - f) * mean).clamp(0.0, 1.0)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Blend with the grey image: ``clamp(f * x + (1 - f) * grey(x))``; grey input unchanged."""
    if images.shape[-3] == 1:
        return images
    f = _per_sample(factor, images)
    return (f * images + (1 - f) * rgb_to_grey(images)).clamp(0.0, 1.0)


def adjust_hue(images: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Rotate hue by ``factor`` turns (in [-0.5, 0.5]); grey input unchanged."""
    if images.shape[-3] == 1:
        return images
    hsv = rgb_to_hsv(images)
    shift = _per_sample(factor, images).squeeze(-3) if torch.as_tensor(factor).ndim else factor
    h = torch.remainder(hsv[:, 0] + shift, 1.0)
    return hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), dim=1)).clamp(0.0, 1.0)


_ADJUST = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


# ------------------------------------------------------------------------------ random operations


def colour_jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
    p: float = 0.8,
) -> torch.Tensor:
    """With probability ``p`` per sample, jitter brightness, contrast, saturation and hue in a random order.

    Factors are uniform in ``[max(0, 1 - s), 1 + s]`` for the first three and in ``[-hue, hue]``
    turns for hue, each drawn per sample (torchvision's ``ColorJitter`` ranges).

    Example:
        >>> x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> colour_jitter(x, torch.Generator().manual_seed(1)).shape
        torch.Size([4, 3, 8, 8])
    """
    _check(images)
    if not 0.0 <= hue <= 0.5:
        raise ValueError(f"hue must lie in [0, 0.5] turns; got {hue}")
    n, device = images.shape[0], images.device
    apply = _rand(generator, (n,), device) < p
    factors = (
        _uniform(generator, n, max(0.0, 1 - brightness), 1 + brightness, device),
        _uniform(generator, n, max(0.0, 1 - contrast), 1 + contrast, device),
        _uniform(generator, n, max(0.0, 1 - saturation), 1 + saturation, device),
        _uniform(generator, n, -hue, hue, device),
    )
    order = torch.argsort(_rand(generator, (n, 4), device), dim=1)  # a random permutation per sample
    out = images.clone()
    for step in range(4):
        for op, adjust in enumerate(_ADJUST):
            idx = torch.nonzero(apply & (order[:, step] == op)).flatten()
            if idx.numel():
                out[idx] = adjust(out[idx], factors[op][idx])
    return out


def random_greyscale(images: torch.Tensor, generator: torch.Generator, *, p: float = 0.1) -> torch.Tensor:
    """With probability ``p`` per sample, replace RGB by its luma in all three channels."""
    _check(images)
    pick = (_rand(generator, (images.shape[0],), images.device) < p).reshape(-1, 1, 1, 1)
    if images.shape[1] == 1:
        return images.clone()
    return torch.where(pick, rgb_to_grey(images).expand_as(images), images)


def random_horizontal_flip(images: torch.Tensor, generator: torch.Generator, *, p: float = 0.5) -> torch.Tensor:
    """With probability ``p`` per sample, mirror left to right."""
    _check(images)
    pick = (_rand(generator, (images.shape[0],), images.device) < p).reshape(-1, 1, 1, 1)
    return torch.where(pick, images.flip(-1), images)


def crop_and_resize(
    images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], *, interpolation: str = "bilinear"
) -> torch.Tensor:
    """Resample box ``(x0, y0, x1, y1)`` of each image (pixel edges, ``x1``/``y1`` exclusive) to ``size`` (H, W).

    A box of exactly ``size`` pixels at integer offsets returns the pixels unchanged. Bicubic
    results are clamped to [0, 1].

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> crop_and_resize(x, torch.tensor([[1, 1, 3, 3]]), (2, 2))[0, 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """
    _check(images)
    height, width = images.shape[-2:]
    out_h, out_w = size
    boxes = boxes.to(device=images.device, dtype=images.dtype).reshape(-1, 4)
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(f"boxes must be ({images.shape[0]}, 4); got {tuple(boxes.shape)}")
    x0, y0, x1, y1 = boxes.unbind(1)
    # Output pixel centres mapped into the box, then to grid_sample's [-1, 1] (align_corners=False).
    u = (torch.arange(out_w, device=images.device, dtype=images.dtype) + 0.5) / out_w
    v = (torch.arange(out_h, device=images.device, dtype=images.dtype) + 0.5) / out_h
    gx = (x0[:, None] + u[None] * (x1 - x0)[:, None]) / width * 2 - 1  # (B, W')
    gy = (y0[:, None] + v[None] * (y1 - y0)[:, None]) / height * 2 - 1  # (B, H')
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    out = F.grid_sample(images, grid, mode=interpolation, padding_mode="border", align_corners=False)
    return out.clamp(0.0, 1.0) if interpolation == "bicubic" else out


def random_resized_crop(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    size: int | tuple[int, int] | None = None,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    interpolation: str = "bicubic",
) -> torch.Tensor:
    """Crop a random box per sample and resize it to ``size`` (default: the input size).

    As torchvision's ``RandomResizedCrop``: the box's area is a fraction in ``scale`` of the image,
    its aspect ratio (w/h) log-uniform in ``ratio``, its sides whole pixels; of 10 draws the first
    that fits is used, else a centre crop of the whole image at the nearest allowed ratio.
    """
    _check(images)
    n, device = images.shape[0], images.device
    height, width = images.shape[-2:]
    out_size = (height, width) if size is None else ((size, size) if isinstance(size, int) else tuple(size))
    tries = 10
    area = height * width * (scale[0] + (scale[1] - scale[0]) * _rand(generator, (n, tries), device))
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * _rand(generator, (n, tries), device)
    aspect = torch.exp(log_r)
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(fits.to(torch.int8), dim=1, keepdim=True)  # first fitting draw (0 if none)
    any_fit = fits.any(dim=1)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    # Fallback: the whole image, trimmed to the nearest allowed aspect ratio, centred.
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        fw, fh = round(height * max(ratio)), height
    else:
        fw, fh = width, height
    w = torch.where(any_fit, w, torch.full_like(w, fw))
    h = torch.where(any_fit, h, torch.full_like(h, fh))
    pos = _rand(generator, (n, 2), device)
    x0 = torch.where(any_fit, torch.floor(pos[:, 0] * (width - w + 1)), torch.full_like(w, (width - fw) // 2))
    y0 = torch.where(any_fit, torch.floor(pos[:, 1] * (height - h + 1)), torch.full_like(h, (height - fh) // 2))
    boxes = torch.stack((x0, y0, x0 + w, y0 + h), dim=1)
    return crop_and_resize(images, boxes, out_size, interpolation=interpolation)


def augment(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    size: int | tuple[int, int] | None = None,
    scale: tuple[float, float] = WMSE_DEFAULTS["scale"],
    ratio: tuple[float, float] = WMSE_DEFAULTS["ratio"],
    brightness: float = WMSE_DEFAULTS["brightness"],
    contrast: float = WMSE_DEFAULTS["contrast"],
    saturation: float = WMSE_DEFAULTS["saturation"],
    hue: float = WMSE_DEFAULTS["hue"],
    p_jitter: float = WMSE_DEFAULTS["p_jitter"],
    p_greyscale: float = WMSE_DEFAULTS["p_greyscale"],
    p_flip: float = WMSE_DEFAULTS["p_flip"],
    interpolation: str = "bicubic",
) -> torch.Tensor:
    """One augmented view per image, in W-MSE's order: jitter, greyscale, resized crop, flip.

    Example:
        >>> x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> augment(x, torch.Generator().manual_seed(0)).shape
        torch.Size([8, 3, 32, 32])
    """
    out = colour_jitter(
        images, generator, brightness=brightness, contrast=contrast, saturation=saturation, hue=hue, p=p_jitter
    )
    out = random_greyscale(out, generator, p=p_greyscale)
    out = random_resized_crop(out, generator, size=size, scale=scale, ratio=ratio, interpolation=interpolation)
    return random_horizontal_flip(out, generator, p=p_flip)


def multi_view(images: torch.Tensor, d: int, generator: torch.Generator, **aug) -> torch.Tensor:
    """``d`` independent augmentations of every image, ``(d, B, C, H', W')``; ``aug`` as :func:`augment`.

    Example:
        >>> x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> multi_view(x, 4, torch.Generator().manual_seed(0)).shape
        torch.Size([4, 4, 3, 16, 16])
    """
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d (views per image) must be a positive int; got {d!r}")
    return torch.stack([augment(images, generator, **aug) for _ in range(d)])
