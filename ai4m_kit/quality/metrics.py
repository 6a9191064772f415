"""Full-reference image and video quality: PSNR, SSIM and MS-SSIM with explicit conventions.

Every number in an SR paper depends on conventions that are rarely printed next to it. Here they
are named arguments, with defaults that reproduce what is usually cited:

- ``channel="y"``: luma of RGB frames (``(..., 3, H, W)``), ``Y' = Kr R + Kg G + Kb B`` with the
  ``matrix`` coefficients (``"bt601"``: 0.299, 0.587, 0.114; ``"bt709"``: 0.2126, 0.7152, 0.0722);
  ``y_range="limited"`` maps it to ``(16 + 219 Y') / 255`` (MATLAB's ``rgb2ycbcr`` for double or
  uint16 input, and BasicSR's ``bgr2ycbcr(y_only=True)``, without rounding to 8 bits), ``"full"``
  keeps ``Y'``. ``channel="rgb"`` uses every channel as given (RGB, or a single grey/luma plane).
- Values are floats in [0, 1], or integer code values with ``bit_depth`` (divided by
  ``2**bit_depth - 1``; ``uint8`` tensors default to 8 bits). ``data_range`` is the peak signal in
  that [0, 1] scale: 1.0, i.e. 255 for 8-bit codes, also for limited-range Y (as BasicSR).
- ``crop_border``: pixels dropped on each side before anything else (SR papers crop the scale).
- SSIM (Wang et al. 2004, the reference ``ssim.m``): 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
  K2 = 0.03, statistics of the population (not sample) covariance, the mean of the SSIM map over
  the *valid* region (no padding: ``filter2(..., 'valid')``). ``downsample=True`` first applies
  ``ssim.m``'s automatic scaling: ``f = max(1, round(min(H, W) / 256))``, an ``f x f`` mean filter
  (``imfilter(..., 'symmetric', 'same')``) and every ``f``-th pixel from the first; ``False`` is
  BasicSR's / torchmetrics' / scikit-image's (no downsampling).
- MS-SSIM (Wang, Simoncelli, Bovik 2003, ``msssim.m``): 5 scales, weights (0.0448, 0.2856,
  0.3001, 0.2363, 0.1333), 2x2 mean filter then every second pixel between scales; the product of
  the mean contrast-structure terms of scales 1-4 and the mean SSIM of scale 5, each to its weight.

Defaults: PSNR-Y and SSIM-Y on BT.601 limited-range Y as in BasicSR / most SR papers (PSNR with
``crop_border=scale``); SSIM with ``downsample=True`` is Wang's ``ssim.m`` (pass ``downsample=False``
for BasicSR's SSIM). :func:`measure_pair` streams two clips and returns per-frame values.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from ..data.errors import DataError
from ..files import atomic_path

MATRICES = {"bt601": (0.299, 0.587, 0.114), "bt709": (0.2126, 0.7152, 0.0722)}
CHANNELS = ("y", "rgb")
Y_RANGES = ("limited", "full")
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
METRICS = ("psnr", "ssim", "ms_ssim", "vmaf")
POOLINGS = ("mean", "harmonic", "percentile", "min")
TITLE = "Per-frame full-reference quality (ai4m-kit quality)"


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}")


def _code_scale(x: torch.Tensor, bit_depth: int | None, name: str) -> float:
    """The factor that brings ``x`` to [0, 1]: ``1 / (2**bit_depth - 1)``, 1/255 for uint8, 1 for floats."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (..., C, H, W); got {type(x).__name__}")
    if bit_depth is not None:
        if isinstance(bit_depth, bool) or not isinstance(bit_depth, int) or not 1 <= bit_depth <= 16:
            raise ValueError(f"bit_depth must be an integer in 1..16; got {bit_depth!r}")
        return 1.0 / (2 ** bit_depth - 1)
    if x.dtype == torch.uint8:
        return 1.0 / 255
    if not x.is_floating_point():
        raise TypeError(f"{name} holds integer code values ({x.dtype}); pass bit_depth= (8-16)")
    lo, hi = torch.aminmax(x.detach())
    if float(lo) < -1e-6 or float(hi) > 1 + 1e-6:
        raise ValueError(f"{name} must hold floats in [0, 1] (or pass bit_depth= for code values); "
                         f"got min {float(lo):.6g}, max {float(hi):.6g}")
    return 1.0


def _luma(x: torch.Tensor, scale: float, matrix: str, y_range: str, dtype: torch.dtype) -> torch.Tensor:
    """:func:`rgb_to_y` of ``x * scale`` with the scaling folded into the coefficients, one plane
    converted at a time (no full-size float copy of the RGB frames)."""
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"channel='y' needs RGB frames (..., 3, H, W); got shape {tuple(x.shape)}")
    gain, offset = (219.0 / 255.0, 16.0 / 255.0) if y_range == "limited" else (1.0, 0.0)
    k = [c * gain * scale for c in MATRICES[matrix]]
    y = x[..., 0:1, :, :].to(dtype) * k[0]  # a new tensor even when x already has dtype
    y.add_(x[..., 1:2, :, :].to(dtype), alpha=k[1]).add_(x[..., 2:3, :, :].to(dtype), alpha=k[2])
    return y.add_(offset) if offset else y


def rgb_to_y(rgb: torch.Tensor, *, matrix: str = "bt601", y_range: str = "limited") -> torch.Tensor:
    """Luma ``(..., 1, H, W)`` of RGB ``(..., 3, H, W)`` floats in [0, 1], in the [0, 1] scale.

    ``y_range="limited"``: ``(16 + 219 Y') / 255`` as MATLAB's ``rgb2ycbcr``; ``"full"``: ``Y'``.

    Example:
        >>> y = rgb_to_y(torch.ones(3, 2, 2))
        >>> round(float(y[0, 0, 0]) * 255, 4)
        235.0
    """
    _check_choice("matrix", matrix, MATRICES)
    _check_choice("y_range", y_range, Y_RANGES)
    return _luma(rgb, 1.0, matrix, y_range, rgb.dtype if rgb.is_floating_point() else torch.float32)


def _prepare(ref, dist, *, bit_depth, channel, matrix, y_range, crop_border, dtype):
    """Both inputs as float ``(..., C', H', W')`` in [0, 1], converted and cropped."""
    _check_choice("channel", channel, CHANNELS)
    _check_choice("matrix", matrix, MATRICES)
    _check_choice("y_range", y_range, Y_RANGES)
    for name, t in (("ref", ref), ("dist", dist)):
        if isinstance(t, torch.Tensor) and t.ndim < 3:
            raise ValueError(f"{name} must be (..., C, H, W); got shape {tuple(t.shape)}")
    sx, sy = _code_scale(ref, bit_depth, "ref"), _code_scale(dist, bit_depth, "dist")
    if ref.shape != dist.shape:
        raise ValueError(f"ref and dist must have the same shape (..., C, H, W); got {tuple(ref.shape)} and {tuple(dist.shape)}")
    if channel == "y":
        x, y = _luma(ref, sx, matrix, y_range, dtype), _luma(dist, sy, matrix, y_range, dtype)
    else:
        x = ref.to(dtype) * sx if sx != 1 else ref.to(dtype)
        y = dist.to(dtype) * sy if sy != 1 else dist.to(dtype)
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be an integer >= 0; got {crop_border!r}")
    if crop_border:
        H, W = x.shape[-2:]
        if 2 * crop_border >= min(H, W):
            raise ValueError(f"crop_border {crop_border} leaves nothing of a {W}x{H} frame")
        c = crop_border
        x, y = x[..., c:H - c, c:W - c], y[..., c:H - c, c:W - c]
    return x, y


def psnr(ref: torch.Tensor, dist: torch.Tensor, *, bit_depth: int | None = None, channel: str = "y",
         matrix: str = "bt601", y_range: str = "limited", data_range: float = 1.0, crop_border: int = 0,
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """PSNR in dB of frames ``(..., C, H, W)``: ``10 log10(data_range^2 / MSE)``, MSE over C, H, W.

    Defaults are BasicSR's ``calculate_psnr(test_y_channel=True)``: BT.601 limited-range Y, peak 255
    on the 8-bit scale (pass ``crop_border=scale`` as SR papers do). Identical frames give ``inf``.

    Returns:
        float64 ``(...)``.

    Example:
        >>> ref = torch.full((3, 8, 8), 100, dtype=torch.uint8)
        >>> round(float(psnr(ref, ref + 5, channel="rgb")), 4)
        34.1514
    """
    x, y = _prepare(ref, dist, bit_depth=bit_depth, channel=channel, matrix=matrix, y_range=y_range,
                    crop_border=crop_border, dtype=dtype)
    mse = (x - y).square_().mean(dim=(-3, -2, -1)).to(torch.float64)
    return 10.0 * torch.log10(float(data_range) ** 2 / mse)


def wang_downsample_factor(height: int, width: int) -> int:
    """``ssim.m``'s automatic scale ``f = max(1, round(min(H, W) / 256))`` (MATLAB rounds half up).

    Example:
        >>> wang_downsample_factor(1080, 1920), wang_downsample_factor(2160, 3840), wang_downsample_factor(180, 320)
        (4, 8, 1)
    """
    return max(1, int(math.floor(min(height, width) / 256 + 0.5)))


def _mean_filter_subsample(x: torch.Tensor, f: int) -> torch.Tensor:
    """``imfilter(x, ones(f)/f^2, 'symmetric', 'same')`` then ``x(1:f:end, 1:f:end)`` on ``(N, H, W)``.

    MATLAB centres an even kernel at ``floor((f + 1) / 2)``: output ``i`` averages inputs
    ``i - o .. i - o + f - 1`` with ``o = floor((f - 1) / 2)``; outside samples mirror the edge.
    """
    H, W = x.shape[-2:]
    o = (f - 1) // 2

    def pad(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
        after = max(0, (math.ceil(n / f) - 1) * f - o + f - n)
        if o > n or after > n:
            raise ValueError(f"frame {W}x{H} too small for a {f}x{f} downsampling")
        parts = [t.narrow(dim, 0, o).flip(dim)] if o else []
        parts.append(t)
        if after:
            parts.append(t.narrow(dim, n - after, after).flip(dim))
        return torch.cat(parts, dim) if len(parts) > 1 else t

    x = pad(pad(x, H, -2), W, -1)
    return F.avg_pool2d(x.unsqueeze(1), f, f).squeeze(1)[..., :math.ceil(H / f), :math.ceil(W / f)]


def _gaussian_taps() -> list[float]:
    """The normalised 1-D Gaussian of the 11x11 window (its outer product is ``fspecial``'s 2-D one)."""
    r = SSIM_WINDOW // 2
    g = [math.exp(-(i * i) / (2 * SSIM_SIGMA ** 2)) for i in range(-r, r + 1)]
    return [v / sum(g) for v in g]


_STRIP_BYTES = {"cpu": 1 << 20, "cuda": 256 << 20}  # five maps of a strip of rows: L2-sized on a CPU


def _filter_taps(t: torch.Tensor, g: list[float], dim: int) -> torch.Tensor:
    """Valid correlation of ``t`` with the taps ``g`` along ``dim`` (-1 or -2), as shifted adds:
    memory-bound like any 11-tap filter, and on the CPU several times faster than conv2d with a
    one-channel (1, 11) kernel."""
    n = t.shape[dim] - len(g) + 1
    out = t.narrow(dim, 0, n) * g[0]
    for k in range(1, len(g)):
        out.add_(t.narrow(dim, k, n), alpha=g[k])
    return out


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure over the valid region of ``(N, H, W)`` pairs.

    The five maps x, y, x², y², xy are filtered by the separable Gaussian (rows, then columns) in
    strips of rows whose maps fit in cache, and the SSIM terms are summed strip by strip.
    """
    N, H, W = x.shape
    if min(H, W) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} after cropping and "
                         f"downsampling; got {W}x{H}")
    g = _gaussian_taps()
    Ho, Wo = H - SSIM_WINDOW + 1, W - SSIM_WINDOW + 1
    budget = _STRIP_BYTES.get(x.device.type, _STRIP_BYTES["cuda"])
    rows = max(8, budget // (5 * W * x.element_size()) - SSIM_WINDOW + 1)
    frames_per_step = max(1, budget // (5 * (rows + SSIM_WINDOW - 1) * W * x.element_size()))
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    # Shift by the frame mean: the (co)variances do not change and E[x^2] - mu^2 loses less in float32.
    shift = x.mean(dim=(-2, -1), keepdim=True)
    s_sum = torch.zeros(N, dtype=torch.float64, device=x.device)
    cs_sum = torch.zeros(N, dtype=torch.float64, device=x.device)
    for f0 in range(0, N, frames_per_step):
        f1 = min(N, f0 + frames_per_step)
        m = shift[f0:f1]
        for r0 in range(0, Ho, rows):
            r1 = min(Ho, r0 + rows)
            xs = x[f0:f1, r0:r1 + SSIM_WINDOW - 1] - m
            ys = y[f0:f1, r0:r1 + SSIM_WINDOW - 1] - m
            maps = torch.stack((xs, ys, xs * xs, ys * ys, xs * ys), dim=1)
            mu_x, mu_y, exx, eyy, exy = _filter_taps(_filter_taps(maps, g, -1), g, -2).unbind(1)
            cov = exy.sub_(mu_x * mu_y).mul_(2).add_(c2)
            var = exx.sub_(mu_x * mu_x).add_(eyy.sub_(mu_y * mu_y)).add_(c2)
            cs = cov.div_(var)
            mu_x, mu_y = mu_x.add_(m), mu_y.add_(m)
            lum = (2 * mu_x * mu_y + c1).div_(mu_x.square().add_(mu_y.square()).add_(c1))
            cs_sum[f0:f1] += cs.sum(dim=(-2, -1), dtype=torch.float64)
            s_sum[f0:f1] += lum.mul_(cs).sum(dim=(-2, -1), dtype=torch.float64)
    return s_sum / (Ho * Wo), cs_sum / (Ho * Wo)


def ssim(ref: torch.Tensor, dist: torch.Tensor, *, bit_depth: int | None = None, channel: str = "y",
         matrix: str = "bt601", y_range: str = "limited", data_range: float = 1.0, crop_border: int = 0,
         downsample: bool = True, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Mean SSIM of frames ``(..., C, H, W)`` (the mean over channels for ``channel="rgb"``).

    Default: Wang's ``ssim.m`` (with its automatic downsampling) on BT.601 limited-range Y;
    ``downsample=False`` gives BasicSR's ``calculate_ssim(test_y_channel=True)`` and equals
    scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` (which pads, then crops the same valid region).
    Separable Gaussian (rows, then columns; 11 shifted multiply-adds each, which beat conv2d with
    (1, 11) and (11, 1) kernels on a CPU: ``ai4m bench quality``) on the five stacked maps x, y,
    x², y², xy, in cache-sized strips of rows.

    Returns:
        float64 ``(...)``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> ssim(x, x).tolist()
        [1.0, 1.0]
    """
    x, y = _prepare(ref, dist, bit_depth=bit_depth, channel=channel, matrix=matrix, y_range=y_range,
                    crop_border=crop_border, dtype=dtype)
    lead, (H, W) = x.shape[:-2], x.shape[-2:]
    x, y = x.reshape(-1, H, W), y.reshape(-1, H, W)
    f = wang_downsample_factor(H, W) if downsample else 1
    if f > 1:
        x, y = _mean_filter_subsample(x, f), _mean_filter_subsample(y, f)
    s, _ = _ssim_cs(x, y, float(data_range))
    return s.reshape(lead).to(torch.float64).mean(dim=-1)


def ms_ssim(ref: torch.Tensor, dist: torch.Tensor, *, bit_depth: int | None = None, channel: str = "y",
            matrix: str = "bt601", y_range: str = "limited", data_range: float = 1.0, crop_border: int = 0,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """MS-SSIM of frames ``(..., C, H, W)`` as Wang's ``msssim.m`` (5 scales, no automatic
    downsampling; the smallest scale must still hold the 11x11 window, so min(H, W) >= 161).

    A negative mean contrast-structure term at a scale (rare; strongly anti-correlated frames) gives
    NaN, where ``msssim.m`` would give a complex number.

    Example:
        >>> x = torch.rand(1, 1, 176, 176)
        >>> round(float(ms_ssim(x, x, channel="rgb")[0]), 6)
        1.0
    """
    x, y = _prepare(ref, dist, bit_depth=bit_depth, channel=channel, matrix=matrix, y_range=y_range,
                    crop_border=crop_border, dtype=dtype)
    lead, (H, W) = x.shape[:-2], x.shape[-2:]
    if min(math.ceil(H / 16), math.ceil(W / 16)) < SSIM_WINDOW:
        raise ValueError(f"MS-SSIM needs frames of at least 161x161 (5 scales, 11x11 window); got {W}x{H}")
    x, y = x.reshape(-1, H, W), y.reshape(-1, H, W)
    result = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
    for level, weight in enumerate(MS_SSIM_WEIGHTS):
        s, cs = _ssim_cs(x, y, float(data_range))
        last = level == len(MS_SSIM_WEIGHTS) - 1
        result = result * (s if last else cs).to(torch.float64) ** weight
        if not last:
            x, y = _mean_filter_subsample(x, 2), _mean_filter_subsample(y, 2)
    return result.reshape(lead).mean(dim=-1)


def pool_frames(values, how: str = "mean", q: float = 5) -> float:
    """Pool per-frame values into one number.

    ``"mean"``; ``"harmonic"`` (``n / sum(1 / v)``, values must be > 0; note that libvmaf's own
    ``harmonic_mean`` pools ``1 / mean(1 / (v + 1)) - 1``); ``"percentile"`` (the ``q``-th, linear
    interpolation, e.g. q=5: how bad the worst frames get); ``"min"``. NaN propagates.

    Example:
        >>> pool_frames([1.0, 2.0, 4.0]), round(pool_frames([1.0, 2.0, 4.0], "harmonic"), 4)
        (2.3333333333333335, 1.7143)
    """
    _check_choice("how", how, POOLINGS)
    v = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("values must hold at least one frame; got none")
    if how == "mean":
        return float(v.mean())
    if how == "min":
        return float(v.min())
    if how == "percentile":
        if not 0 <= q <= 100:
            raise ValueError(f"q must be in [0, 100]; got {q!r}")
        return float(np.percentile(v, q))
    if np.any(v <= 0):
        raise ValueError(f"harmonic pooling needs values > 0; got min {v.min():.6g}")
    return float(v.size / np.sum(1.0 / v))


def parse_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """Metric names from "psnr,ssim" or a sequence, checked against :data:`METRICS`, duplicates dropped."""
    names = tuple(m.strip() for m in metrics.split(",")) if isinstance(metrics, str) else tuple(metrics)
    if not names:
        raise ValueError(f"metrics must name at least one of {METRICS}; got none")
    for m in names:
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; available: {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


def _check_pair(ref, dist, scale_to: str | None) -> float | None:
    """The integer factor the distorted clip must be upscaled by (None: same size)."""
    if len(ref) != len(dist):
        raise DataError(f"mismatched pair: {ref.path} has {len(ref)} frames, {dist.path} has {len(dist)}")
    if ref.bit_depth != dist.bit_depth:
        raise DataError(f"mismatched pair: {ref.path} has {ref.bit_depth}-bit frames, {dist.path} {dist.bit_depth}-bit")
    (H, W), (h, w) = ref.size, dist.size
    if (H, W) == (h, w):
        return None
    sizes = f"{ref.path} is {W}x{H}, {dist.path} is {w}x{h}"
    if scale_to is None:
        raise DataError(f"mismatched pair: {sizes}; pass scale_to='ref' to upscale the distorted clip (bicubic)")
    if H % h or W % w or H // h != W // w or H // h < 2:
        raise DataError(f"mismatched pair: {sizes}; scale_to='ref' needs the same integer factor on both sides")
    return float(H // h)


def measure_pair(ref: str | os.PathLike, dist: str | os.PathLike, metrics: str | Sequence[str] = ("psnr", "ssim"), *,
                 chunk: int = 8, channel: str = "y", matrix: str = "bt601", y_range: str = "limited",
                 data_range: float = 1.0, crop_border: int = 0, downsample: bool = True,
                 scale_to: str | None = None, vmaf_model: str = "auto", threads: int = 1,
                 device: str | torch.device | None = None) -> xr.Dataset:
    """Per-frame quality of the clip ``dist`` against ``ref`` (PNG frame folders or video files).

    Streams both clips ``chunk`` frames at a time (frames are decoded to RGB; a video's YUV goes
    through swscale with its range tag). The pair must have the same frame count, size and bit
    depth; with ``scale_to="ref"`` a distorted clip smaller by an integer factor is upscaled with
    :func:`ai4m_kit.video.upscale.upscale` ``"bicubic"`` (Keys a = -0.5, as Pillow) first, and VMAF
    gets FFmpeg's bicubic scaler. ``"vmaf"`` runs libvmaf (:func:`ai4m_kit.quality.vmaf.vmaf_clip`)
    on the full frames (no ``crop_border``) and merges its score and features.

    Returns:
        Dataset with dim ``frame`` and variables among ``psnr`` (dB), ``ssim``, ``ms_ssim``,
        ``vmaf`` (+ libvmaf's features); the conventions are in the attributes.
    """
    from ..data import open_clip
    from ..video.upscale import upscale

    names = parse_metrics(metrics)
    _check_choice("channel", channel, CHANNELS)
    _check_choice("matrix", matrix, MATRICES)
    _check_choice("y_range", y_range, Y_RANGES)
    if scale_to not in (None, "ref"):
        raise ValueError(f"scale_to must be None or 'ref'; got {scale_to!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1; got {chunk!r}")
    r, d = open_clip(ref), open_clip(dist)
    factor = _check_pair(r, d, scale_to)
    peak = float(2 ** r.bit_depth - 1)
    opts = dict(channel=channel, matrix=matrix, y_range=y_range, data_range=data_range, crop_border=crop_border)
    frame_metrics = [m for m in names if m != "vmaf"]
    values: dict[str, list[np.ndarray]] = {m: [] for m in frame_metrics}
    done = 0
    if frame_metrics:
        chunks_d = d.iter_chunks(chunk, "rgb")
        for cr in r.iter_chunks(chunk, "rgb"):
            cd = next(chunks_d, None)
            if cd is None or len(cd) != len(cr):
                raise DataError(f"mismatched pair: {dist} ended before {ref} (after about {done} frames)")
            x = cr.to(device=device, dtype=torch.float32).div_(peak)
            y = cd.to(device=device, dtype=torch.float32).div_(peak)
            if factor is not None:
                y = upscale(y, "bicubic", factor)
            if channel == "y":  # once for all metrics
                x, y = _luma(x, 1.0, matrix, y_range, x.dtype), _luma(y, 1.0, matrix, y_range, y.dtype)
            for m in frame_metrics:
                fn = {"psnr": psnr, "ssim": ssim, "ms_ssim": ms_ssim}[m]
                extra = {"downsample": downsample} if m == "ssim" else {}
                values[m].append(fn(x, y, **{**opts, "channel": "rgb"}, **extra).cpu().numpy())
            done += len(cr)
        if next(chunks_d, None) is not None:
            raise DataError(f"mismatched pair: {ref} ended before {dist} (after {done} frames)")
    ds = xr.Dataset({m: ("frame", np.concatenate(v)) for m, v in values.items()},
                    coords={"frame": np.arange(len(r))})
    if "vmaf" in names:
        from .vmaf import vmaf_clip

        vm = vmaf_clip(ref, dist, model=vmaf_model, scale="bicubic" if factor is not None else None, threads=threads)
        ds = xr.merge([ds, vm], combine_attrs="override") if frame_metrics else vm
        ds.attrs.update(vm.attrs)
    return _attrs(ds, r, d, names, factor, downsample=downsample, **opts)


def _attrs(ds: xr.Dataset, r, d, names, factor, *, downsample, channel, matrix, y_range, data_range, crop_border):
    from ai4m_kit import __version__

    plane = (f"{matrix.upper().replace('BT', 'BT.')} {y_range}-range Y" if channel == "y" else "every RGB channel")
    ds.attrs.update(
        title=TITLE, reference=str(Path(r.path).resolve()), distorted=str(Path(d.path).resolve()),
        metrics=",".join(names), frames=len(r), height=r.size[0], width=r.size[1], bit_depth=r.bit_depth,
        channel=channel, matrix=matrix, y_range=y_range, data_range=float(data_range), crop_border=crop_border,
        ssim_downsample=int(bool(downsample)),
        distorted_scaling=("none" if factor is None else f"bicubic x{factor:g} to the reference size"),
        ai4m_kit_version=__version__, torch_version=torch.__version__,
    )
    notes = {
        "psnr": ("dB", f"10 log10(peak^2 / MSE) on {plane}, peak {data_range:g} of [0, 1] (255 on 8 bits), "
                       f"crop_border {crop_border} (BasicSR convention)"),
        "ssim": ("1", f"mean SSIM on {plane}, Gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, valid region, "
                      + ("Wang ssim.m automatic downsampling" if downsample else "no downsampling (BasicSR)")),
        "ms_ssim": ("1", f"MS-SSIM (Wang 2003, 5 scales, weights {MS_SSIM_WEIGHTS}) on {plane}"),
    }
    for name, (units, text) in notes.items():
        if name in ds:
            ds[name].attrs.update(units=units, description=text, mean=pool_frames(ds[name].values))
    return ds


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a :func:`measure_pair` result to NetCDF (scipy engine) atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="scipy")
    return Path(path)


def is_quality_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a NetCDF file whose title says it was written by :func:`save`."""
    try:
        with xr.open_dataset(path, engine="scipy") as ds:
            return ds.attrs.get("title") == TITLE
    except Exception:  # noqa: BLE001 - unreadable: not ours
        return False
