"""Degradations that make low-resolution training and test clips from high-resolution ones.

Three kinds, batch-first on ``(..., C, H, W)`` float tensors in [0, 1] (C = 3 RGB, or C = 1), on CPU
or CUDA with the same code:

- ``"bicubic"``: :func:`bicubic_down`, MATLAB ``imresize`` antialiased bicubic downscaling;
- ``"blur"``: :func:`blur_down`, Gaussian blur then decimation (the "classical" model
  ``x = (k * y) downsampled by s``), with one Gaussian kernel drawn per clip by :func:`degrade_params`;
- ``"bsrgan"``: :func:`bsrgan`, the practical degradation model of Zhang et al. (ICCV 2021), with
  ONE parameter draw per clip (:func:`bsrgan_params`) applied to every frame.

Every parameter set is a plain JSON-able dict holding ``"kind"`` and ``"scale"``, so it can be stored
next to results and applied again (:func:`degrade` with ``params=``).

Resampling is separable: each axis is a banded weight matrix (built in float64 from the published
formula, boundary handling folded in, cast and cached per size, device and dtype) applied block by
block as one batched matrix product, so it runs unchanged on CPU and CUDA.

Example:
    >>> clip = torch.rand(2, 3, 16, 16)
    >>> lr, params = degrade(clip, "bsrgan", 2, seed=1)
    >>> lr.shape, params["kind"], params["scale"]
    (torch.Size([2, 3, 8, 8]), 'bsrgan', 2)
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
import torch

KINDS = ("bicubic", "blur", "bsrgan")
RESIZE_MODES = ("bilinear", "bicubic", "area")  # OpenCV INTER_LINEAR, INTER_CUBIC, INTER_AREA (codes 1, 2, 3)
BSRGAN_SCALES = (2, 4)
BSRGAN_STEPS = ("blur1", "blur2", "down2", "down3", "noise", "jpeg")
# Published values (see bsrgan_params for the source of each).
BSRGAN_PRESCALE_PROB = 0.25       # x4 only: halve first, then run the x2 model on the half-size image
BSRGAN_JPEG_PROB = 0.9            # the JPEG step inside the shuffled order (the final JPEG always runs)
BSRGAN_RESIZE_PROB = 0.75         # down2: resize by a random factor, else the shifted-blur nearest path
BSRGAN_NOISE_LEVELS = (2, 25)     # integer noise levels, sigma = level / 255
BSRGAN_JPEG_QUALITY = (30, 95)
BSRGAN_KERNEL_SIZES = tuple(range(7, 26, 2))
BSRGAN_SHIFT_KERNEL_SIZE = 25
BLUR_KERNEL_SIZE = 21
_RANGE_TOL = 1e-6
_BLOCK = 32  # output samples per block of the banded matrix products


# ---------------------------------------------------------------------------------------------- checks

def _check_frames(x, name: str = "frames") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (..., C, H, W); got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"{name} must be (..., C, H, W) with C = 1 or 3; got ndim {x.ndim}, shape {tuple(x.shape)}")
    if x.shape[-3] not in (1, 3):
        raise ValueError(f"{name} must have C = 1 or 3 channels at dim -3 (..., C, H, W); got C = {x.shape[-3]}, "
                         f"shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1]; got dtype {x.dtype} "
                        f"(divide code values by 2**bit_depth - 1)")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); need at least one frame of at least 1x1 pixels")
    lo, hi = torch.aminmax(x.detach())
    lo, hi = float(lo), float(hi)
    if not (lo >= -_RANGE_TOL and hi <= 1 + _RANGE_TOL):
        raise ValueError(f"{name} values must lie in [0, 1]; got min {lo:.6g}, max {hi:.6g}")


def _check_scale(scale, *, integer: bool, where: str, allowed: tuple[int, ...] | None = None):
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a number for {where}; got {type(scale).__name__}")
    if not math.isfinite(float(scale)):
        raise ValueError(f"scale must be finite for {where}; got {scale}")
    if integer:
        if float(scale) != int(scale) or int(scale) < 2:
            raise ValueError(f"scale must be an integer >= 2 for {where}; got {scale}")
        scale = int(scale)
    elif not float(scale) > 1:
        raise ValueError(f"scale must be > 1 for {where}; got {scale}")
    if allowed is not None and scale not in allowed:
        raise ValueError(f"scale must be one of {allowed} for {where}; got {scale}")
    return scale


def _lr_size(n: int, scale, axis: str) -> int:
    out = n / scale
    if out < 1 or abs(out - round(out)) > 1e-9:
        raise ValueError(f"{axis} {n} is not divisible by the scale {scale:g}; crop it to a multiple of the scale")
    return int(round(out))


def _lr_shape(h: int, w: int, scale) -> tuple[int, int]:
    return _lr_size(h, scale, "height"), _lr_size(w, scale, "width")


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


# ------------------------------------------------------------------------------ 1-D weight matrices

def _fold(j: np.ndarray, n: int, boundary: str) -> np.ndarray:
    """Map indices outside [0, n) back inside: ``symmetric`` (MATLAB: edge sample repeated, d c b a | a b c d),
    ``mirror`` (scipy.ndimage: edge not repeated, d c b | a b c d) or ``replicate`` (OpenCV resize)."""
    if boundary == "replicate" or n == 1:
        return np.clip(j, 0, n - 1)
    period = 2 * n if boundary == "symmetric" else 2 * n - 2
    j = np.mod(j, period)
    return np.where(j < n, j, period - j - (1 if boundary == "symmetric" else 0))


def _dense(n_in: int, n_out: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, boundary: str) -> np.ndarray:
    mat = np.zeros((n_out, n_in))
    np.add.at(mat, (rows, _fold(cols, n_in, boundary)), weights)
    return mat


def _cubic(d: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a`` (MATLAB and Pillow: -0.5, OpenCV: -0.75)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _matlab_bicubic_weights(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """MATLAB ``imresize(..., 'bicubic')`` contributions for downscaling by ``scale`` (> 1): kernel
    ``a = -0.5`` widened by the scale (antialiasing), output sample ``i`` (0-based) centred on input
    coordinate ``(i + 0.5) * scale - 0.5``, rows normalised to 1, symmetric boundary."""
    s = 1.0 / scale  # MATLAB's scale: output / input
    width = 4.0 / s
    u = (np.arange(n_out) + 1) / s + 0.5 * (1 - 1 / s)  # 1-based input coordinate of each output sample
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = s * _cubic(s * (u[:, None] - idx), -0.5)
    w /= w.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(n_out), taps)
    return _dense(n_in, n_out, rows, (idx - 1).astype(np.int64).ravel(), w.ravel(), "symmetric")


def _opencv_weights(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """OpenCV ``cv2.resize`` float weights (half-pixel centres, replicated border, no antialiasing):
    ``bilinear`` (INTER_LINEAR), ``bicubic`` (INTER_CUBIC, a = -0.75), ``area`` (INTER_AREA: exact
    box overlaps when shrinking; when enlarging we use bilinear, where OpenCV uses a sharpened variant)."""
    s = n_in / n_out
    if n_in == n_out:
        return np.eye(n_in)
    if mode == "area" and s > 1:
        lo = np.arange(n_out)[:, None] * s
        j = np.floor(lo).astype(np.int64) + np.arange(int(math.ceil(s)) + 1)[None, :]
        w = np.clip(np.minimum(j + 1, lo + s) - np.maximum(j, lo), 0, None) / s
        rows = np.repeat(np.arange(n_out), j.shape[1])
        return _dense(n_in, n_out, rows, j.ravel(), w.ravel(), "replicate")
    src = (np.arange(n_out) + 0.5) * s - 0.5
    x0 = np.floor(src)
    f = src - x0
    if mode == "bicubic":
        idx = x0[:, None] + np.arange(-1, 3)[None, :]
        w = _cubic(src[:, None] - idx, -0.75)
    else:  # bilinear, and area when enlarging
        x0, f = np.where(x0 < 0, 0, x0), np.where(x0 < 0, 0, f)
        x0, f = np.where(x0 >= n_in - 1, n_in - 1, x0), np.where(x0 >= n_in - 1, 0, f)
        idx = x0[:, None] + np.arange(2)[None, :]
        w = np.stack([1 - f, f], axis=1)
    rows = np.repeat(np.arange(n_out), idx.shape[1])
    return _dense(n_in, n_out, rows, idx.astype(np.int64).ravel(), w.ravel(), "replicate")


def _filter_weights(n_in: int, taps: tuple[float, ...], stride: int) -> np.ndarray:
    """1-D convolution with ``taps`` (centre at ``len(taps) // 2``), mirror boundary, keeping input samples
    ``0, stride, 2 * stride, ...``: ``out[i] = sum_j taps[j] * in[i * stride - (j - c)]``."""
    k = np.asarray(taps, dtype=np.float64)
    c = len(k) // 2
    n_out = -(-n_in // stride)
    i = np.arange(n_out)[:, None] * stride
    j = np.arange(len(k))[None, :]
    cols = (i - (j - c)).astype(np.int64)
    rows = np.repeat(np.arange(n_out), len(k))
    return _dense(n_in, n_out, rows, cols.ravel(), np.broadcast_to(k, cols.shape).ravel(), "mirror")


@lru_cache(maxsize=128)
def _weights(spec: tuple, n_in: int, n_out: int) -> np.ndarray:
    kind = spec[0]
    if kind == "matlab":
        return _matlab_bicubic_weights(n_in, n_out, spec[1])
    if kind == "opencv":
        return _opencv_weights(n_in, n_out, spec[1])
    return _filter_weights(n_in, spec[1], spec[2])


@lru_cache(maxsize=128)
def _banded(spec: tuple, n_in: int, n_out: int, device: str, dtype: torch.dtype):
    """The weight matrix as blocks of ``_BLOCK`` output rows, each reading ``L`` consecutive inputs:
    ``(indices (nb * L,), weights (nb, L, B))``."""
    mat = _weights(spec, n_in, n_out)
    nb = -(-n_out // _BLOCK)
    spans = []
    for b in range(nb):
        nz = np.flatnonzero(np.any(mat[b * _BLOCK:(b + 1) * _BLOCK] != 0, axis=0))
        spans.append((int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 1))
    length = min(n_in, max(hi - lo for lo, hi in spans))
    starts = [min(lo, n_in - length) for lo, _ in spans]
    blocks = np.zeros((nb, length, _BLOCK))
    for b, s in enumerate(starts):
        rows = mat[b * _BLOCK:(b + 1) * _BLOCK, s:s + length]
        blocks[b, :, :rows.shape[0]] = rows.T
    idx = torch.as_tensor(np.add.outer(starts, np.arange(length)).ravel(), device=device)
    return idx, torch.as_tensor(blocks, dtype=dtype, device=device)


def _resample_rows(x3: torch.Tensor, spec: tuple, n_out: int) -> torch.Tensor:
    """Apply the 1-D resampler ``spec`` along dim 1 of ``x3`` ``(M, n_in, K)`` (any strides): one gather of
    the blocks' input rows (which also makes a strided view contiguous) and one batched matrix product."""
    m, n_in, k = x3.shape
    idx, blocks = _banded(spec, n_in, n_out, str(x3.device), x3.dtype)
    nb, length, _ = blocks.shape
    gathered = x3.index_select(1, idx).view(m, nb, length, k)
    out = torch.matmul(blocks.transpose(1, 2), gathered)  # (M, nb, B, K)
    return out.view(m, nb * _BLOCK, k)[:, :n_out]


def _separable(x: torch.Tensor, spec_h: tuple, spec_w: tuple, size: tuple[int, int]) -> torch.Tensor:
    """Resample the last two dimensions of ``x`` to ``size`` with two 1-D resamplers (W, then H); each
    pass reads the other's output transposed, so no separate transpose copies are made."""
    dtype = x.dtype
    x3 = x.to(_work_dtype(x)).reshape(-1, *x.shape[-2:])
    y = _resample_rows(x3.transpose(1, 2), spec_w, size[1])  # (M, W', H)
    z = _resample_rows(y.transpose(1, 2), spec_h, size[0])   # (M, H', W')
    return z.reshape(*x.shape[:-2], *size).to(dtype)


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize ``(..., H, W)`` to ``size`` with an OpenCV mode (``bilinear``, ``bicubic``, ``area``) or
    ``matlab_bicubic`` (MATLAB ``imresize``, antialiased)."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    if mode == "matlab_bicubic":
        return _separable(x, ("matlab", h / size[0]), ("matlab", w / size[1]), size)
    return _separable(x, ("opencv", mode), ("opencv", mode), size)


# --------------------------------------------------------------------------------------- 2-D filters

def _kernel_np(size: int, sigma_x: float, sigma_y: float, theta: float, shift: float = 0.0) -> np.ndarray:
    d = np.arange(size, dtype=np.float64) - (size - 1) / 2 + shift
    xx, yy = np.meshgrid(d, d)  # xx: column offset, yy: row offset
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy    # coordinate along the sigma_x axis (cos theta, sin theta)
    v = -s * xx + c * yy   # coordinate along the sigma_y axis
    k = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return k / k.sum()


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, *,
                    dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """A ``(size, size)`` Gaussian blur kernel normalised to sum 1 (built in float64, then cast).

    ``k[y, x] ~ exp(-q / 2)`` with ``q = [x, y] S^-1 [x, y]^T`` on integer offsets from the centre
    pixel, ``S = R diag(sigma_x^2, sigma_y^2) R^T`` and ``R`` the rotation by ``theta`` (radians; x to
    the right, y down the rows). ``sigma_y=None`` gives an isotropic kernel (MATLAB
    ``fspecial('gaussian', size, sigma)``); BSRGAN's anisotropic kernel with covariance eigenvalues
    ``l1, l2`` and angle ``theta`` is ``gaussian_kernel(size, sqrt(l1), sqrt(l2), theta)``.

    Example:
        >>> k = gaussian_kernel(5, 1.0)
        >>> round(float(k.sum()), 12), bool(torch.equal(k, k.flip(0, 1)))
        (1.0, True)
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer (the centre is a pixel); got {size!r}")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    for name, value in (("sigma_x", sigma_x), ("sigma_y", sigma_y)):
        if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return torch.as_tensor(_kernel_np(int(size), float(sigma_x), float(sigma_y), float(theta)), dtype=dtype,
                           device=device)


def _as_kernel(kernel) -> np.ndarray:
    k = kernel.detach().cpu().double().numpy() if isinstance(kernel, torch.Tensor) else np.asarray(kernel, float)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be a square 2-D array of odd size; got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel must hold finite values")
    return k


def _filter2d(x: torch.Tensor, kernel: np.ndarray, stride: int = 1) -> torch.Tensor:
    """Convolve the last two dimensions with ``kernel`` (true convolution, as ``scipy.ndimage.convolve``
    with ``mode='mirror'``) and keep samples ``[0::stride, 0::stride]``.

    Rank-1 kernels (isotropic Gaussians, the shifted kernel) run as two banded 1-D passes; others via FFT.
    """
    dtype = x.dtype
    y = x.to(_work_dtype(x))
    h, w = y.shape[-2:]
    u, s, vt = np.linalg.svd(kernel)
    if s[0] == 0 or len(s) == 1 or s[1] <= 1e-10 * s[0]:
        col, row = u[:, 0] * math.sqrt(s[0]), vt[0] * math.sqrt(s[0])
        if col.sum() < 0:
            col, row = -col, -row
        spec_h = ("filter", tuple(float(v) for v in col), stride)
        spec_w = ("filter", tuple(float(v) for v in row), stride)
        return _separable(y, spec_h, spec_w, (-(-h // stride), -(-w // stride))).to(dtype)
    from scipy.fft import next_fast_len

    c = kernel.shape[0] // 2
    if c < h and c < w:  # torch's "reflect" is scipy's "mirror"
        padded = torch.nn.functional.pad(y.reshape(-1, *y.shape[-3:]), (c, c, c, c), mode="reflect")
        padded = padded.view(*y.shape[:-2], h + 2 * c, w + 2 * c)
    else:
        rows = torch.as_tensor(_fold(np.arange(-c, h + c), h, "mirror"), device=y.device)
        cols = torch.as_tensor(_fold(np.arange(-c, w + c), w, "mirror"), device=y.device)
        padded = y.index_select(-2, rows).index_select(-1, cols)
    fh, fw = next_fast_len(h + 2 * c, real=True), next_fast_len(w + 2 * c, real=True)
    spectrum = torch.fft.rfft2(padded, s=(fh, fw))
    spectrum *= torch.fft.rfft2(torch.as_tensor(kernel, dtype=y.dtype, device=y.device), s=(fh, fw))
    full = torch.fft.irfft2(spectrum, s=(fh, fw))
    return full[..., 2 * c:2 * c + h:stride, 2 * c:2 * c + w:stride].contiguous().to(dtype)


# ---------------------------------------------------------------------------------- public resamplers

def bicubic_down(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Downscale ``(..., C, H, W)`` by ``scale`` as MATLAB ``imresize(x, 1/scale, 'bicubic')`` does.

    Convention (MATLAB ``imresize`` with antialiasing on, the default): the cubic convolution kernel
    with ``a = -0.5`` is widened by ``scale`` (support ``4 * scale`` input pixels, i.e. it is evaluated
    at ``d / scale`` and scaled by ``1 / scale``); output pixel ``i`` (0-based) is centred on input
    coordinate ``(i + 0.5) * scale - 0.5`` (pixel centres aligned, no half-pixel shift); each row of
    weights is normalised to 1; taps outside the image are mirrored with the edge sample repeated
    (MATLAB's symmetric boundary). Integer scales and non-integer ones (> 1) where ``H / scale`` and
    ``W / scale`` are integers. Pillow's ``BICUBIC`` reduce uses the same kernel and centres but clips
    and renormalises at the borders, so the two agree inside the image.

    Example:
        >>> bicubic_down(torch.full((1, 3, 8, 8), 0.5), 2).shape
        torch.Size([1, 3, 4, 4])
    """
    _check_frames(x, "x")
    scale = _check_scale(scale, integer=False, where="bicubic_down")
    size = _lr_shape(x.shape[-2], x.shape[-1], scale)
    return _resize(x, size, "matlab_bicubic").clamp_(0, 1)


def _sigma_kernel(sigma) -> np.ndarray:
    if isinstance(sigma, (tuple, list)):
        if len(sigma) != 3:
            raise ValueError(f"sigma must be a number or (sigma_x, sigma_y, theta); got {sigma!r}")
        sx, sy, theta = (float(v) for v in sigma)
    else:
        sx, sy, theta = float(sigma), float(sigma), 0.0
    for name, value in (("sigma_x", sx), ("sigma_y", sy)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"sigma: {name} must be a finite number > 0; got {value}")
    size = 2 * math.ceil(3 * max(sx, sy)) + 1
    return _kernel_np(size, sx, sy, theta)


def blur_down(x: torch.Tensor, scale: int, *, sigma=None, kernel=None) -> torch.Tensor:
    """Gaussian blur then decimation: ``x = (k * y)`` sampled at ``[0::scale, 0::scale]``.

    The classical SR degradation (as in BSRGAN's ``classical_degradation``): the blurred image keeps
    the TOP-LEFT sample of each ``scale x scale`` block (rows and columns ``0, scale, 2 * scale, ...``).
    The convolution mirrors the image at its borders without repeating the edge sample
    (``scipy.ndimage`` ``mode='mirror'``).

    Args:
        x: ``(..., C, H, W)`` float in [0, 1], ``H`` and ``W`` divisible by ``scale``.
        scale: integer >= 2.
        sigma: isotropic standard deviation in pixels, or ``(sigma_x, sigma_y, theta)`` (see
            :func:`gaussian_kernel`); the kernel spans ``2 * ceil(3 * max sigma) + 1`` pixels.
        kernel: a square odd-sized 2-D kernel instead (tensor, array or nested lists), used as given.

    Example:
        >>> blur_down(torch.full((3, 8, 8), 0.25), 2, sigma=1.0).shape
        torch.Size([3, 4, 4])
    """
    _check_frames(x, "x")
    scale = _check_scale(scale, integer=True, where="blur_down")
    if (sigma is None) == (kernel is None):
        raise TypeError("blur_down needs exactly one of sigma= or kernel=; got "
                        + ("neither" if sigma is None else "both"))
    _lr_shape(x.shape[-2], x.shape[-1], scale)
    k = _sigma_kernel(sigma) if kernel is None else _as_kernel(kernel)
    return _filter2d(x, k, scale).clamp_(0, 1)


# ------------------------------------------------------------------------------------------- drawing

def _rand(g: torch.Generator) -> float:
    return float(torch.rand((), generator=g, dtype=torch.float64, device=g.device))


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * _rand(g)


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (both included)."""
    return int(torch.randint(lo, hi + 1, (), generator=g, device=g.device))


def _choice(g: torch.Generator, options):
    return options[_randint(g, 0, len(options) - 1)]


def _kernel_list(k: np.ndarray) -> list:
    return [[float(v) for v in row] for row in k]


def _draw_blur(g: torch.Generator, sf: int) -> dict:
    """BSRGAN ``add_blur`` at stage scale ``sf``: anisotropic or isotropic with probability 1/2 each."""
    if _rand(g) < 0.5:
        l1, l2 = (4.0 + sf) * _rand(g), (4.0 + sf) * _rand(g)
        size = 2 * _randint(g, 2, 11) + 3
        theta = math.pi * _rand(g)
        k = _kernel_np(size, math.sqrt(max(l1, 1e-12)), math.sqrt(max(l2, 1e-12)), theta)
        return {"type": "anisotropic", "size": size, "l1": l1, "l2": l2, "theta": theta, "kernel": _kernel_list(k)}
    size = 2 * _randint(g, 2, 11) + 3
    sigma = (2.0 + 0.2 * sf) * _rand(g)
    k = _kernel_np(size, max(sigma, 1e-6), max(sigma, 1e-6), 0.0)
    return {"type": "isotropic", "size": size, "sigma": sigma, "kernel": _kernel_list(k)}


def _draw_noise(g: torch.Generator) -> dict:
    level = _randint(g, *BSRGAN_NOISE_LEVELS)
    r = _rand(g)
    if r > 0.6:
        return {"mode": "channel", "level": level, "sigma": level / 255.0}
    if r < 0.4:
        return {"mode": "gray", "level": level, "sigma": level / 255.0}
    d = torch.rand(3, generator=g, dtype=torch.float64, device=g.device).cpu().numpy()
    a = torch.rand(3, 3, generator=g, dtype=torch.float64, device=g.device).cpu().numpy()
    q, _ = np.linalg.qr(a)
    big = BSRGAN_NOISE_LEVELS[1] / 255.0
    cov = big ** 2 * (q.T @ np.diag(d) @ q)
    cov = (cov + cov.T) / 2
    return {"mode": "general", "level": BSRGAN_NOISE_LEVELS[1], "sigma": big,
            "covariance": [[float(v) for v in row] for row in cov]}


def bsrgan_params(scale: int, generator: torch.Generator | None = None, *, height: int, width: int) -> dict:
    """Draw ONE BSRGAN degradation for a clip of ``height x width`` frames (plain JSON-able values).

    The model of Zhang, Liang, Van Gool and Timofte, "Designing a Practical Degradation Model for Deep
    Blind Image Super-Resolution" (ICCV 2021); probabilities and ranges as in the authors' reference
    ``degradation_bsrgan`` (github.com/cszn/BSRGAN, ``utils/utils_blindsr.py``), read for this module:

    - ``prescale`` (x4 only, probability 0.25, fixed at the start): halve the image, by MATLAB bicubic
      (probability 1/2) or an OpenCV resize with a uniformly chosen mode; the rest then runs as x2
      (``stage_scale`` 2), else ``stage_scale`` = ``scale``.
    - ``order``: a uniformly random permutation of ``blur1, blur2, down2, down3, noise, jpeg`` in which
      ``down2`` and ``down3`` are swapped if needed so that ``down2`` comes first; the final JPEG
      (``final_jpeg``) is always last. The camera ISP (sensor) noise step of the paper is left out (it
      needs a trained ISP model; in the reference it runs with probability 0.25 only when one is given).
    - ``blur1``, ``blur2`` (each): with probability 1/2 an anisotropic Gaussian, covariance eigenvalues
      ``l1, l2 ~ U(0, 4 + sf)``, angle ``theta ~ U(0, pi)``; else isotropic, ``sigma ~ U(0, 2 + 0.2 sf)``;
      kernel size uniform in {7, 9, ..., 25} (``sf`` = stage scale).
    - ``down2``: with probability 0.75 an OpenCV resize by ``f ~ U(1, 2 sf)`` to ``floor(size / f)``
      with a uniformly chosen mode among bilinear, bicubic, area (OpenCV codes 1, 2, 3); else the
      "nearest" path: an isotropic 25x25 Gaussian, ``sigma ~ U(0.1, 0.6 sf)``, shifted by
      ``(sf - 1) / 2`` pixels towards the bottom right, then samples ``[0::sf, 0::sf]`` (so each sample
      is centred on its ``sf x sf`` block). ``down3``: resize to the final ``H / scale x W / scale``
      with a uniformly chosen mode (a no-op after the nearest path).
    - ``noise``: level ``L`` uniform in {2, ..., 25}, ``sigma = L / 255``; channel-independent
      (probability 0.4), grey (same noise on all channels, 0.4) or general (0.2): zero-mean with
      covariance ``(25/255)^2 U^T D U``, ``D = diag(U(0, 1)^3)``, ``U`` orthonormal from the QR of a
      uniform random 3x3 matrix (the reference also takes ``abs`` of this matrix, which need not be a
      covariance; we keep it positive semi-definite).
    - ``jpeg`` (probability 0.9, else ``None``) and ``final_jpeg``: quality uniform in {30, ..., 95}.

    Setting ``noise``, ``jpeg`` or ``final_jpeg`` to ``None`` in the returned dict switches that step off.

    Example:
        >>> p = bsrgan_params(4, torch.Generator().manual_seed(0), height=64, width=64)
        >>> p["kind"], p["scale"], sorted(p["order"]) == sorted(BSRGAN_STEPS)
        ('bsrgan', 4, True)
    """
    scale = _check_scale(scale, integer=True, where="bsrgan", allowed=BSRGAN_SCALES)
    _lr_shape(height, width, scale)
    g = torch.Generator().manual_seed(0) if generator is None else generator
    prescale = None
    sf = scale
    if scale == 4 and _rand(g) < BSRGAN_PRESCALE_PROB:
        prescale = {"mode": "matlab_bicubic" if _rand(g) < 0.5 else _choice(g, RESIZE_MODES)}
        sf = 2
    order = [BSRGAN_STEPS[int(i)] for i in torch.randperm(len(BSRGAN_STEPS), generator=g, device=g.device)]
    i2, i3 = order.index("down2"), order.index("down3")
    if i2 > i3:
        order[i2], order[i3] = order[i3], order[i2]
    h, w = (height // 2, width // 2) if prescale else (height, width)
    params: dict = {"kind": "bsrgan", "scale": scale, "height": height, "width": width,
                    "prescale": prescale, "stage_scale": sf, "order": order}
    params["blur1"] = _draw_blur(g, sf)
    params["blur2"] = _draw_blur(g, sf)
    if _rand(g) < BSRGAN_RESIZE_PROB:
        f = _uniform(g, 1.0, 2.0 * sf)
        params["down2"] = {"path": "resize", "factor": f, "size": [max(1, int(h / f)), max(1, int(w / f))],
                           "mode": _choice(g, RESIZE_MODES)}
    else:
        sigma = _uniform(g, 0.1, 0.6 * sf)
        k = _kernel_np(BSRGAN_SHIFT_KERNEL_SIZE, sigma, sigma, 0.0, shift=(sf - 1) / 2)
        params["down2"] = {"path": "nearest", "sigma": sigma, "shift": (sf - 1) / 2, "stride": sf,
                           "kernel": _kernel_list(k)}
    params["down3"] = {"mode": _choice(g, RESIZE_MODES), "size": [height // scale, width // scale]}
    params["noise"] = _draw_noise(g)
    params["jpeg"] = {"quality": _randint(g, *BSRGAN_JPEG_QUALITY)} if _rand(g) < BSRGAN_JPEG_PROB else None
    params["final_jpeg"] = {"quality": _randint(g, *BSRGAN_JPEG_QUALITY)}
    return params


# ------------------------------------------------------------------------------------------ applying

def _noise(shape: tuple[int, int, int], noise: dict, g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    c, h, w = shape
    mode = noise["mode"]
    if mode == "general" and c == 3:
        cov = np.asarray(noise["covariance"], dtype=np.float64)
        vals, vecs = np.linalg.eigh(cov)
        root = torch.as_tensor(vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T, dtype=dtype, device=g.device)
        return (root @ torch.randn(3, h * w, generator=g, dtype=dtype, device=g.device)).view(3, h, w)
    if mode == "general":  # one channel: the mean channel variance
        sigma = math.sqrt(float(np.trace(np.asarray(noise["covariance"]))) / 3)
    else:
        sigma = float(noise["sigma"])
    rows = 1 if mode == "gray" else c
    return sigma * torch.randn(rows, h, w, generator=g, dtype=dtype, device=g.device)


def _add_noise(x: torch.Tensor, noise: dict, g: torch.Generator) -> torch.Tensor:
    """One noise realisation per frame, drawn in frame order (so chunked runs give the same bytes)."""
    flat = x.reshape(-1, *x.shape[-3:])
    draws = torch.stack([_noise(tuple(flat.shape[-3:]), noise, g, x.dtype).expand(flat.shape[-3:])
                         for _ in range(flat.shape[0])])
    return (flat + draws.to(x.device)).clamp_(0, 1).view(x.shape)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of every frame with Pillow (8-bit, 4:2:0 chroma for RGB, same quality)."""
    from PIL import Image

    flat = x.reshape(-1, *x.shape[-3:])
    codes = (flat.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    out = np.empty_like(codes)
    for i, frame in enumerate(codes):
        img = Image.fromarray(frame[0] if frame.shape[0] == 1 else frame.transpose(1, 2, 0))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as dec:
            arr = np.asarray(dec.convert(img.mode))
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return (torch.from_numpy(out).to(x.device, x.dtype) / 255).view(x.shape)


def _check_params(params, kind: str, scale, frames: torch.Tensor | None = None) -> None:
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict (from degrade_params or a stored degradation.json); "
                        f"got {type(params).__name__}")
    if params.get("kind") != kind or params.get("scale") != scale:
        raise ValueError(f"params are for kind {params.get('kind')!r} scale {params.get('scale')!r}; "
                         f"expected kind {kind!r} scale {scale!r}")
    if frames is not None and "height" in params and tuple(frames.shape[-2:]) != (params["height"], params["width"]):
        raise ValueError(f"params were drawn for {params['height']}x{params['width']} frames; got frames of "
                         f"{frames.shape[-2]}x{frames.shape[-1]}")


def _bsrgan_apply(x: torch.Tensor, params: dict, g: torch.Generator) -> torch.Tensor:
    dtype = x.dtype
    y = x.to(_work_dtype(x))
    h, w = y.shape[-2:]
    try:
        if params["prescale"] is not None:
            y = _resize(y, (h // 2, w // 2), params["prescale"]["mode"]).clamp_(0, 1)
        for step in params["order"]:
            spec = params[step]
            if step in ("blur1", "blur2"):
                y = _filter2d(y, _as_kernel(spec["kernel"]), 1)
            elif step == "down2" and spec["path"] == "resize":
                y = _resize(y, tuple(spec["size"]), spec["mode"]).clamp_(0, 1)
            elif step == "down2":
                y = _filter2d(y, _as_kernel(spec["kernel"]), int(spec["stride"])).clamp_(0, 1)
            elif step == "down3":
                y = _resize(y, tuple(spec["size"]), spec["mode"]).clamp_(0, 1)
            elif step == "noise" and spec is not None:
                y = _add_noise(y, spec, g)
            elif step == "jpeg" and spec is not None:
                y = _jpeg(y, spec["quality"])
        if params["final_jpeg"] is not None:
            y = _jpeg(y, params["final_jpeg"]["quality"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"params: malformed BSRGAN parameters ({type(err).__name__}: {err})") from err
    return y.clamp_(0, 1).to(dtype)


def bsrgan(frames: torch.Tensor, scale: int, *, params: dict | None = None,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """Degrade a clip ``(T, C, H, W)`` (or any ``(..., C, H, W)``) with the BSRGAN model; returns
    ``(lr, params)`` with ``lr`` float in [0, 1] of exactly ``H / scale x W / scale``.

    One parameter set (:func:`bsrgan_params`, drawn from ``generator`` unless ``params`` is given) is
    applied to every frame: same kernels, order, resize modes, noise level and covariance and JPEG
    qualities. Only the noise realisation differs between frames: each frame draws its own from
    ``generator`` in frame order, so a clip processed in chunks with the same generator gives the same
    bytes as in one call. Noise is drawn on the generator's device and moved to the frames' device.
    ``generator=None`` uses a generator seeded with 0. JPEG runs through Pillow on the CPU.
    """
    _check_frames(frames, "frames")
    scale = _check_scale(scale, integer=True, where="bsrgan", allowed=BSRGAN_SCALES)
    h, w = frames.shape[-2:]
    _lr_shape(h, w, scale)
    g = torch.Generator().manual_seed(0) if generator is None else generator
    if params is None:
        params = bsrgan_params(scale, g, height=h, width=w)
    else:
        _check_params(params, "bsrgan", scale, frames)
    return _bsrgan_apply(frames, params, g), params


def degrade_params(kind: str, scale, *, height: int, width: int, generator: torch.Generator | None = None) -> dict:
    """Draw the per-clip parameters of ``kind`` for ``height x width`` frames (checks sizes first).

    ``"bicubic"`` draws nothing; ``"blur"`` draws an isotropic Gaussian, ``sigma ~ U(0.2, scale)``
    (0.2-2.0 for x2, 0.2-4.0 for x4, the usual range of blind-SR work such as IKC), on a
    21x21 support; ``"bsrgan"``: :func:`bsrgan_params`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    g = torch.Generator().manual_seed(0) if generator is None else generator
    if kind == "bsrgan":
        return bsrgan_params(scale, g, height=height, width=width)
    if kind == "bicubic":
        scale = _check_scale(scale, integer=False, where="bicubic")
        _lr_shape(height, width, scale)
        return {"kind": "bicubic", "scale": scale, "convention": "matlab-imresize-bicubic-antialiased"}
    scale = _check_scale(scale, integer=True, where="blur")
    _lr_shape(height, width, scale)
    sigma = _uniform(g, 0.2, float(scale))
    k = _kernel_np(BLUR_KERNEL_SIZE, sigma, sigma, 0.0)
    return {"kind": "blur", "scale": scale, "height": height, "width": width, "sigma": sigma,
            "size": BLUR_KERNEL_SIZE, "sample": "top-left", "kernel": _kernel_list(k)}


def degrade(frames: torch.Tensor, kind: str, scale=2, *, seed: int = 0, generator: torch.Generator | None = None,
            params: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Degrade a clip ``(..., C, H, W)`` in [0, 1] with ``kind`` in ``("bicubic", "blur", "bsrgan")``.

    Parameters are drawn once for the whole clip (:func:`degrade_params`) from ``generator``, or from a
    new CPU generator seeded with ``seed``, unless ``params`` (a dict returned before, e.g. read from a
    ``degradation.json``) is given; then the generator only draws BSRGAN's per-frame noise
    realisations. Returns ``(lr, params)``; ``params`` always holds ``"kind"`` and ``"scale"``.

    Example:
        >>> lr, p = degrade(torch.rand(4, 3, 8, 8), "blur", 2, seed=3)
        >>> lr.shape, p["kind"], 0.2 <= p["sigma"] <= 2.0
        (torch.Size([4, 3, 4, 4]), 'blur', True)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    _check_frames(frames, "frames")
    g = torch.Generator().manual_seed(int(seed)) if generator is None else generator
    h, w = frames.shape[-2:]
    if kind == "bsrgan":
        return bsrgan(frames, scale, params=params, generator=g)
    if params is None:
        params = degrade_params(kind, scale, height=h, width=w, generator=g)
    else:
        _check_params(params, kind, scale, frames)
    if kind == "bicubic":
        return bicubic_down(frames, scale), params
    if "kernel" not in params:
        raise ValueError("params: blur parameters need a 'kernel'")
    return blur_down(frames, scale, kernel=params["kernel"]), params
