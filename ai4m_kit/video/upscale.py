"""Upscalers: nearest, bilinear, bicubic and Lanczos-3 as Pillow computes them, and learned models.

Classical methods follow Pillow's ``Image.resize`` for upscaling, so that Pillow can serve as the
oracle (``tests/test_video_upscale.py`` checks every method on photographs):

- pixel centres are aligned: output pixel ``i`` of ``n_out`` samples the input at
  ``(i + 0.5) * n_in / n_out - 0.5`` (for an integer scale ``s``: ``(i + 0.5) / s - 0.5``);
- kernels: ``bilinear`` the triangle on [-1, 1]; ``bicubic`` Keys' cubic with ``a = -0.5`` on
  [-2, 2]; ``lanczos3`` ``sinc(x) sinc(x / 3)`` on [-3, 3); the kernel is not widened (upscaling);
- at the borders the taps that fall outside the image are dropped and the remaining weights are
  renormalised to sum to one (no padding by replication or reflection);
- separable: the horizontal pass runs first and its result is clamped to [0, 1] (Pillow stores it
  in an 8-bit image), then the vertical pass; the output is clamped to [0, 1];
- ``nearest`` takes input pixel ``floor((i + 0.5) * n_in / n_out)`` (pixel replication for an
  integer scale), with the coordinate accumulated in float64 step by step as Pillow does, so that
  the result is identical to Pillow's for any size.

The only difference from Pillow on 8-bit images is that Pillow rounds the intermediate image and
its weights to fixed point; we keep floats, so our output rounded to 8 bits is within one code
value of Pillow's.

How the passes are applied: each axis has a precomputed banded weight matrix (cached per size,
scale, method, device and dtype), cut into tiles of consecutive outputs. A tile reads a short
window of inputs, so it is a small dense matrix; the horizontal pass is one batched matmul over
the tiles of a strip of rows, the vertical pass a matmul per strip. Strips are sized so that the
intermediate image of a strip stays in cache, which makes the separable matmul faster than Pillow
at 1080p -> 2160p on one core (``ai4m bench upscale``); a dense ``W_h @ x @ W_w^T`` would do about
100 times more arithmetic at that size.

Learned upscalers (plug-ins): ``method`` may be a ``torch.nn.Module`` or any callable ``model``:

- frame models are called on chunks ``(t, C, H, W)``; a model with attribute ``temporal = True``
  is called on sequences ``(1, t, C, H, W)`` (consecutive frames of one clip);
- ``model(x)`` must return the upscaled frames, floats in [0, 1], of shape ``(t, C, H * scale,
  W * scale)`` (``(1, t, C, H * scale, W * scale)`` for a temporal model); anything else is an error
  naming the model; the result is clamped to [0, 1];
- it runs under ``torch.no_grad()``; moving the model to the device is the caller's business.

Modules that provide trained networks make them usable by name with :func:`register_upscaler`;
``upscale(frames, "blind", 2)`` then builds the model with the registered factory.
"""

from __future__ import annotations

import ctypes
import math
import sys
import threading
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

CLASSICAL = ("nearest", "bilinear", "bicubic", "lanczos3")
VALUE_TOLERANCE = 1e-6
# Kernel support (half-width, in input pixels) of each separable method.
_SUPPORT = {"bilinear": 1.0, "bicubic": 2.0, "lanczos3": 3.0}
_BICUBIC_A = -0.5  # Keys' cubic as Pillow and MATLAB use it
_TILE_COLS = 32  # outputs per horizontal tile (32-128 measured at 1920 -> 3840)
_TILE_ROWS = 32  # outputs per vertical tile (16-48 measured, with the strip budget below)
_STRIP_BYTES = {"cpu": 2 << 20, "cuda": 256 << 20}  # intermediate strip: L2-sized on CPU

_registry: dict[str, Callable] = {}
_models: dict[tuple[str, float], Callable] = {}
_registry_lock = threading.Lock()


def register_upscaler(name: str, factory: Callable[[float], Callable], *, replace: bool = False) -> None:
    """Make a learned upscaler usable by name: ``upscale(frames, name, scale)``.

    ``factory(scale)`` returns the model (an ``nn.Module`` or a callable following the plug-in
    contract of this module's docstring); it is called on first use for each scale and its model
    is kept for later calls. ``replace=True`` replaces an earlier registration of ``name``.

    Example:
        >>> class Twice(torch.nn.Module):
        ...     def forward(self, x):
        ...         return x.repeat_interleave(2, -1).repeat_interleave(2, -2)
        >>> register_upscaler("doctest-twice", lambda scale: Twice(), replace=True)
        >>> upscale(torch.rand(3, 4, 5), "doctest-twice", 2).shape
        torch.Size([3, 8, 10])
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string; got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable (scale -> model); got {type(factory).__name__}")
    if name in CLASSICAL:
        raise ValueError(f"name {name!r} is a built-in method; choose another name")
    with _registry_lock:
        if name in _registry and not replace:
            raise ValueError(f"upscaler {name!r} is already registered; pass replace=True to replace it")
        _registry[name] = factory
        for key in [k for k in _models if k[0] == name]:
            del _models[key]


def available_upscalers() -> tuple[str, ...]:
    """Names ``upscale`` accepts: the classical methods, then the registered ones (sorted).

    Example:
        >>> available_upscalers()[:4]
        ('nearest', 'bilinear', 'bicubic', 'lanczos3')
    """
    with _registry_lock:
        return CLASSICAL + tuple(sorted(_registry))


def _registered_model(name: str, scale: float) -> Callable:
    with _registry_lock:
        if name not in _registry:
            raise ValueError(f"method must be one of {', '.join(CLASSICAL + tuple(sorted(_registry)))}, "
                             f"an nn.Module or a callable; got {name!r}")
        key = (name, float(scale))
        if key not in _models:
            _models[key] = _registry[name](scale)
        return _models[key]


def model_name(model) -> str:
    """A readable name of a model for error messages (class name, or function name).

    Example:
        >>> model_name(torch.nn.Identity())
        'Identity'
    """
    if isinstance(model, str):
        return model
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return getattr(model, "__name__", None) or type(model).__name__


def output_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(H, W)`` after upscaling by ``scale``: each side times ``scale``, rounded half up.

    Example:
        >>> output_size((1080, 1920), 2), output_size((5, 7), 1.5)
        ((2160, 3840), (8, 11))
    """
    return tuple(int(math.floor(n * scale + 0.5)) for n in size)


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a number > 1; got {type(scale).__name__} {scale!r}")
    if not math.isfinite(scale) or not scale > 1:
        raise ValueError(f"scale must be a number > 1; got {scale!r}")
    return float(scale)


def _check_frames(frames) -> None:
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"frames must be a torch.Tensor (..., C, H, W); got {type(frames).__name__}")
    if frames.ndim < 3:
        raise ValueError(f"frames must be (C, H, W), (T, C, H, W) or (..., C, H, W); got shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise TypeError(f"frames must be a float tensor with values in [0, 1]; got dtype {frames.dtype} "
                        f"(divide 8-bit code values by 255)")
    if frames.numel() == 0:
        raise ValueError(f"frames must not be empty; got shape {tuple(frames.shape)}")
    lo, hi = torch.aminmax(frames)
    lo, hi = float(lo), float(hi)
    if not (lo >= -VALUE_TOLERANCE and hi <= 1 + VALUE_TOLERANCE):
        raise ValueError(f"frames must hold values in [0, 1]; got min {lo:.6g}, max {hi:.6g}")


def upscale(frames: torch.Tensor, method, scale: float, *, chunk: int = 8, device=None) -> torch.Tensor:
    """Upscale float frames in [0, 1] shaped ``(..., C, H, W)`` by ``scale``.

    Args:
        frames: one frame ``(C, H, W)``, a batch or a video ``(T, C, H, W)``, or more leading dims.
        method: ``"nearest"``, ``"bilinear"``, ``"bicubic"``, ``"lanczos3"`` (as Pillow; see the
            module docstring), a registered name (:func:`available_upscalers`), an ``nn.Module`` or
            a callable following the plug-in contract.
        scale: factor > 1; non-integer factors work for the classical methods (output sides are
            rounded half up, and the sampling uses the exact size ratio, as Pillow does). A learned
            model gets sizes ``H * scale`` that must be whole numbers.
        chunk: frames (along the first dim of an input with 4 or more dims) processed at a time,
            so that a long clip never needs all temporaries at once.
        device: torch device to compute on (default: the frames'); the result is returned on the
            frames' device, so a long clip on the CPU can be upscaled on a GPU chunk by chunk.

    Returns:
        ``(..., C, H', W')`` with ``(H', W') = output_size((H, W), scale)``, same dtype as
        ``frames``, values in [0, 1].

    Example:
        >>> x = torch.rand(2, 3, 4, 6)
        >>> upscale(x, "lanczos3", 2).shape
        torch.Size([2, 3, 8, 12])
        >>> torch.equal(upscale(x, "nearest", 2)[..., ::2, ::2], x)
        True
    """
    _check_frames(frames)
    scale = _check_scale(scale)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1; got {chunk!r}")
    if isinstance(method, str):
        if method not in CLASSICAL:
            method = _registered_model(method, scale)
    elif not callable(method):
        raise TypeError(f"method must be a name ({', '.join(available_upscalers())}), an nn.Module or a callable; "
                        f"got {type(method).__name__}")
    device = frames.device if device is None else torch.device(device)
    *lead, C, H, W = frames.shape
    Ho, Wo = output_size((H, W), scale)
    if not isinstance(method, str):
        return _upscale_model(frames, method, scale, chunk=chunk, device=device)
    out = _empty_output((*lead, C, Ho, Wo), frames.dtype, frames.device)
    if frames.ndim == 3:
        _classical(frames[None], method, out[None], device)
        return out
    for s in range(0, frames.shape[0], chunk):
        _classical(frames[s:s + chunk], method, out[s:s + chunk], device)
    return out


def _upscale_model(frames: torch.Tensor, model, scale: float, *, chunk: int, device) -> torch.Tensor:
    *lead, C, H, W = frames.shape
    Ho, Wo = H * scale, W * scale
    if Ho != int(Ho) or Wo != int(Wo):
        raise ValueError(f"scale {scale:g} gives a fractional size {Wo:g}x{Ho:g} for {W}x{H} frames; "
                         f"model {model_name(model)} needs a whole output size")
    Ho, Wo = int(Ho), int(Wo)
    temporal = bool(getattr(model, "temporal", False))
    # Sequences (temporal models) run along dim -4; frame models see every frame independently.
    T = frames.shape[-4] if frames.ndim >= 4 and temporal else 1
    seqs = frames.reshape(-1, T, C, H, W) if temporal else frames.reshape(1, -1, C, H, W)
    out = torch.empty(seqs.shape[:2] + (C, Ho, Wo), dtype=frames.dtype, device=frames.device)
    with torch.no_grad():
        for b in range(seqs.shape[0]):
            for s in range(0, seqs.shape[1], chunk):
                x = seqs[b, s:s + chunk].to(device)
                y = model(x[None]) if temporal else model(x)
                want = ((1,) if temporal else ()) + (x.shape[0], C, Ho, Wo)
                if not isinstance(y, torch.Tensor) or tuple(y.shape) != want:
                    got = f"shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
                    raise ValueError(f"upscaler {model_name(model)} returned {got} for input {tuple(x.shape if not temporal else x[None].shape)}; "
                                     f"expected {want} (scale {scale:g})")
                if not y.is_floating_point():
                    raise TypeError(f"upscaler {model_name(model)} returned dtype {y.dtype}; expected floats in [0, 1]")
                out[b, s:s + chunk].copy_((y[0] if temporal else y).clamp(0, 1))
    return out.reshape(*lead, C, Ho, Wo)


_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14  # Linux


def _empty_output(shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.empty``, asking Linux for transparent huge pages on a large CPU result.

    A 4K float frame is 100 MB, and faulting it in 4 KiB pages is a large share of the resampling
    time (``ai4m bench upscale`` shows it). Best effort: any failure (other OS, THP off) leaves an
    ordinary tensor.
    """
    out = torch.empty(shape, dtype=dtype, device=device)
    nbytes = out.numel() * out.element_size()
    if out.device.type == "cpu" and sys.platform.startswith("linux") and nbytes >= 8 * _HUGE_PAGE:
        start = -(-out.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE
        end = (out.data_ptr() + nbytes) // _HUGE_PAGE * _HUGE_PAGE
        try:
            ctypes.CDLL(None).madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_HUGEPAGE)
        except (OSError, AttributeError):
            pass
    return out


# --- classical methods ---------------------------------------------------------------------------

def _kernel(method: str, x: np.ndarray) -> np.ndarray:
    """The interpolation kernel at offsets ``x`` (input pixels), float64."""
    ax = np.abs(x)
    if method == "bilinear":
        return np.where(ax < 1, 1 - ax, 0.0)
    if method == "bicubic":
        a = _BICUBIC_A
        near = ((a + 2) * ax - (a + 3)) * ax * ax + 1
        far = (((ax - 5) * ax + 8) * ax - 4) * a
        return np.where(ax < 1, near, np.where(ax < 2, far, 0.0))
    if method == "lanczos3":
        return np.where((x >= -3) & (x < 3), np.sinc(x) * np.sinc(x / 3), 0.0)
    raise ValueError(f"method must be one of {CLASSICAL}; got {method!r}")


def _centres(n_in: int, n_out: int) -> np.ndarray:
    """Input coordinate (pixel edges at integers) sampled by each output pixel, as Pillow."""
    return (np.arange(n_out) + 0.5) * (n_in / n_out)


def _tile_weights(n_in: int, n_out: int, method: str, block: int, starts: np.ndarray, length: int) -> np.ndarray:
    """``(tiles, block, length)`` weights: tile ``t``'s output ``b`` from input ``starts[t] + l``.

    Taps outside ``[0, n_in)`` get weight 0 and each output's weights are renormalised over the
    taps inside (Pillow's border rule); rows beyond ``n_out`` are zero.
    """
    tiles = len(starts)
    dst = np.arange(tiles)[:, None] * block + np.arange(block)[None, :]  # (tiles, block)
    src = starts[:, None] + np.arange(length)[None, :]  # (tiles, length)
    centre = _centres(n_in, n_out)[np.minimum(dst, n_out - 1)]
    w = _kernel(method, src[:, None, :] + 0.5 - centre[:, :, None])  # (tiles, block, length)
    w *= ((src >= 0) & (src < n_in))[:, None, :]
    total = w.sum(-1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    w *= (dst < n_out)[:, :, None]
    return w


def _band(n_in: int, n_out: int, method: str, block: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last input index (unclamped) that each tile of ``block`` outputs may touch."""
    support = _SUPPORT[method]
    centre = _centres(n_in, n_out)
    first = np.floor(centre - 0.5 - support).astype(np.int64)
    last = np.ceil(centre - 0.5 + support).astype(np.int64)
    tiles = -(-n_out // block)
    pad = tiles * block - n_out
    first = np.concatenate([first, np.full(pad, first[-1])]).reshape(tiles, block).min(1)
    last = np.concatenate([last, np.full(pad, last[-1])]).reshape(tiles, block).max(1)
    return first, last


@lru_cache(maxsize=64)
def _columns_plan(n_in: int, n_out: int, method: str, block: int, device: torch.device, dtype: torch.dtype):
    """Horizontal pass on a zero-padded row: tiles of ``block`` output columns, each a
    ``(length, block)`` matrix applied to a window of ``length`` padded inputs.

    Returns ``(weights (tiles, length, block), pad_left, padded_width, step, gather, shared, own)``:
    windows start every ``step`` padded columns (``gather`` is None), or, when the size ratio gives
    no whole step, at the padded columns ``gather`` ``(tiles, length)``. With a whole step the
    weights repeat from tile to tile away from the borders: ``shared`` is that ``(length, block)``
    matrix and ``own`` lists the tiles that differ (borders, last partial tile), so that the pass
    is one matmul plus a few fix-ups instead of a batched matmul over every tile.
    """
    first, last = _band(n_in, n_out, method, block)
    tiles = len(first)
    step = block * n_in // n_out
    if block * n_in % n_out == 0 and step > 0:
        starts = (first - step * np.arange(tiles)).min() + step * np.arange(tiles)
    else:
        starts, step = first, 0
    length = int((last - starts).max()) + 1
    pad_left = max(0, -int(starts.min()))
    padded = int(starts.max()) + length + pad_left
    w = _tile_weights(n_in, n_out, method, block, starts, length).transpose(0, 2, 1)
    weights = torch.from_numpy(np.ascontiguousarray(w)).to(device=device, dtype=dtype)
    gather, shared, own = None, None, list(range(tiles))
    if step == 0:
        gather = torch.from_numpy(starts[:, None] + pad_left + np.arange(length)[None, :]).to(device)
    else:
        middle = w[tiles // 2]
        own = [t for t in range(tiles) if not np.allclose(w[t], middle, rtol=0, atol=1e-13)]
        shared = weights[tiles // 2].contiguous()
    return weights, pad_left, padded, step, gather, shared, own


@lru_cache(maxsize=64)
def _rows_plan(n_in: int, n_out: int, method: str, block: int, device: torch.device, dtype: torch.dtype):
    """Vertical pass: tiles of ``block`` output rows, each a ``(block, length)`` matrix applied to
    input rows ``starts[t]:starts[t] + length`` (windows shifted inside the image at the borders).

    Returns ``(weights (tiles, block, length), starts, length)``.
    """
    first, last = _band(n_in, n_out, method, block)
    length = min(n_in, int((last - first).max()) + 1)
    starts = np.clip(first, 0, n_in - length)
    w = _tile_weights(n_in, n_out, method, block, starts, length)
    return torch.from_numpy(w).to(device=device, dtype=dtype), [int(s) for s in starts], length


def _nearest_index(n_in: int, n_out: int, device) -> torch.Tensor:
    """Input index of each output pixel: ``floor((i + 0.5) * n_in / n_out)``, summed step by step in
    float64 as Pillow does (its rounding decides ties such as 4.5 * 8 / 12 = 2.9999...)."""
    ratio = n_in / n_out
    coords = np.cumsum(np.concatenate([[ratio * 0.5], np.full(n_out - 1, ratio)]))
    idx = np.floor(coords).astype(np.int64)
    return torch.from_numpy(np.minimum(idx, n_in - 1)).to(device)


def _classical(x: torch.Tensor, method: str, out: torch.Tensor, device: torch.device) -> None:
    """Upscale ``x`` (N, ..., C, H, W) into ``out`` (N, ..., C, Ho, Wo) with a classical method,
    computing on ``device``."""
    H, W = x.shape[-2:]
    Ho, Wo = out.shape[-2:]
    # Half precision has no fast CPU matmul and too few bits for the weights: compute in float32.
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    planes = x.to(device=device, dtype=dtype).reshape(-1, H, W)
    direct = out.device == device and out.dtype == dtype and out.is_contiguous()
    result = out.view(-1, Ho, Wo) if direct else torch.empty(planes.shape[0], Ho, Wo, dtype=dtype, device=device)
    if method == "nearest":
        sy, sx = Ho // H, Wo // W
        if Ho == sy * H and Wo == sx * W:  # integer factors: Pillow's rule is pixel replication
            P = planes.shape[0]
            result.view(P, H, sy, W, sx).copy_(planes[:, :, None, :, None].expand(P, H, sy, W, sx))
        else:
            result.copy_(planes[:, _nearest_index(H, Ho, device)[:, None], _nearest_index(W, Wo, device)])
    else:
        _separable(planes.contiguous(), result, method)
    if not direct:
        out.copy_(result.view(out.shape))


def _separable(planes: torch.Tensor, out: torch.Tensor, method: str) -> None:
    """Horizontal then vertical pass of ``planes`` (P, H, W) into ``out`` (P, Ho, Wo), one strip
    of output rows at a time so that the intermediate strip stays in cache."""
    P, H, W = planes.shape
    _, Ho, Wo = out.shape
    dev, dtype = planes.device, planes.dtype
    block_cols = _TILE_COLS
    wh, pad_left, padded, step, gather, shared, own = _columns_plan(W, Wo, method, block_cols, dev, dtype)
    tiles_h, length_h, _ = wh.shape
    width = tiles_h * block_cols
    budget = _STRIP_BYTES.get(dev.type, _STRIP_BYTES["cpu"]) // (width * planes.element_size())
    block_rows = min(Ho, max(_TILE_ROWS, _TILE_ROWS * (budget // (P * _TILE_ROWS))))
    wv, starts, length_v = _rows_plan(H, Ho, method, block_rows, dev, dtype)
    group = max(1, min(P, budget // length_v))
    for p0 in range(0, P, group):
        src, dst = planes[p0:p0 + group], out[p0:p0 + group]
        g = src.shape[0]
        strip = torch.zeros(g, length_v, padded, dtype=dtype, device=dev)  # padding stays zero
        inter = torch.empty(g * length_v, tiles_h, block_cols, dtype=dtype, device=dev)
        flat = strip.view(g * length_v, padded)
        rows_view = inter.view(g, length_v, width)[:, :, :Wo]
        for t, a in enumerate(starts):
            r0, r1 = t * block_rows, min((t + 1) * block_rows, Ho)
            strip[:, :, pad_left:pad_left + W].copy_(src[:, a:a + length_v])
            if gather is not None:
                torch.bmm(flat[:, gather].transpose(0, 1), wh, out=inter.transpose(0, 1))
            else:
                windows = flat.unfold(1, length_h, step)[:, :tiles_h]  # (rows, tiles, length), a view
                # Overlapping windows: the reshape copies them (in cache), then one matmul for all tiles.
                torch.mm(windows.reshape(-1, length_h), shared, out=inter.view(-1, block_cols))
                for j in own:
                    inter[:, j] = windows[:, j] @ wh[j]
            rows_view.clamp_(0, 1)
            target = dst[:, r0:r1]
            torch.bmm(wv[t, : r1 - r0].expand(g, r1 - r0, length_v), rows_view, out=target)
            target.clamp_(0, 1)
