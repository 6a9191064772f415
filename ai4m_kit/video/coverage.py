"""Content coverage of a video corpus: per-frame SI, TI and colourfulness, and how widely they spread.

``analyse_clip`` streams one clip (frame folder or video file) and returns per-frame descriptors;
``run_corpus`` does that for every clip under some paths, writes an ``xarray.Dataset`` (dims
``definition``, ``clip``, ``frame``) to NetCDF as it goes, skips clips already in the output
(resumable) and can farm clips out to a ``dask.distributed`` cluster.

How a clip is read (what makes ``ai4m coverage`` fast end to end): each file is decoded once; a
reader thread decodes while worker threads compute, at most ``chunk`` frames in flight, so memory
does not grow with the clip's length. SI and TI are computed from the decoder's luma plane in
horizontal strips (the same operators as :mod:`ai4m_kit.video.descriptors`, exact moments merged
across strips); colourfulness from the Y'CbCr planes without an RGB frame: ``R − G`` and
``(R + G)/2 − B`` are linear in Cb and Cr, so their means and variances follow from the chroma
planes' moments (each chroma sample standing for the luma pixels it covers, as a 2×2 block for
4:2:0), and the pixels whose R'G'B' leaves ``[0, 1]`` (found with a table of luma bounds per chroma
pair) are corrected exactly for the clipping an RGB conversion does. This module imports NumPy
only; xarray when a dataset is built, torch only for a non-CPU ``device``.

Coverage measures follow Winkler (2012, "Analysis of public image and video databases for
quality assessment"): the *range* of each descriptor over clips, its *uniformity* (entropy of a
``bins``-bin histogram over that range divided by ``log(bins)``: 1 = evenly spread, 0 = all in one
bin), and the *area of the convex hull* of the clips in the SI–TI and SI–CF planes.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..data.errors import DataError
from ..files import atomic_path, fingerprint
from .descriptors import DEFAULT_POOLING, DEFINITIONS, MATRICES, POOLINGS, code_range, display_model

if TYPE_CHECKING:
    import xarray as xr

DESCRIPTORS = ("si", "ti", "cf")
STRIP_ROWS = 32  # rows per strip: a strip's temporaries stay in the CPU's L2 cache


class without_dask:
    """While active, xarray takes dask as absent when nothing has imported it yet.

    xarray asks for ``dask.array`` the first time it builds a variable (to test whether data is a
    dask array), and that import costs about a second; the test for dask collections imports
    ``dask.base`` (0.1 s). When dask is not imported, no dask array
    can exist, so the answer is known: the context stores it in xarray's cache of array modules and
    removes it afterwards (later dask users see xarray unchanged). Likewise ``to_netcdf`` asks
    which dask scheduler is active (importing ``distributed``) only to decide how to close files
    after chunked writes; our datasets have no chunks, so the question is skipped. Best effort: if
    xarray's internals differ, nothing is changed."""

    def __enter__(self):
        import sys

        self.entry, self.patched = None, []
        if "distributed" not in sys.modules:
            try:
                from xarray.backends import locks, writers

                for module in (locks, writers):
                    self._replace(module, "get_dask_scheduler", _no_scheduler)
            except Exception:  # noqa: BLE001 - another xarray: left as it is
                pass
        if "dask" in sys.modules:
            return self
        try:
            from xarray.namedarray import utils

            self._replace(utils, "is_dask_collection", _not_dask)
        except Exception:  # noqa: BLE001 - another xarray: left as it is
            pass
        try:
            from packaging.version import Version
            from xarray.namedarray import pycompat

            cache = pycompat._cached_duck_array_modules
            if "dask" not in cache:
                stub = object.__new__(pycompat.DuckArrayModule)
                stub.module, stub.version, stub.type, stub.available = None, Version("0.0.0"), (), False
                self.cache = cache
                cache["dask"] = self.entry = stub
        except Exception:  # noqa: BLE001 - another xarray: it imports dask as it always did
            self.entry = None
        return self

    def __exit__(self, *exc):
        if self.entry is not None and self.cache.get("dask") is self.entry:
            del self.cache["dask"]
        for module, name, original in reversed(self.patched):
            setattr(module, name, original)
        return False

    def _replace(self, module, name: str, value) -> None:
        if callable(getattr(module, name, None)):
            self.patched.append((module, name, getattr(module, name)))
            setattr(module, name, value)


def _not_dask(x: object) -> bool:
    """Nothing is a dask collection while dask is not imported."""
    return False


def _no_scheduler(*args, **kwargs) -> None:
    """No dask scheduler is active (distributed is not even imported)."""
    return None


def _dask_free(fn):
    """Run ``fn`` inside :class:`without_dask` unless it is given a dask ``scheduler``."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs.get("scheduler") is not None:
            return fn(*args, **kwargs)
        with without_dask():
            return fn(*args, **kwargs)

    return wrapper


def _engine() -> str:
    """NetCDF-3 through scipy: readable everywhere, and it stores the list-valued attributes that
    h5netcdf (NetCDF-4) cannot convert."""
    return "scipy"


def _definitions(definitions: str | Sequence[str]) -> tuple[str, ...]:
    defs = (definitions,) if isinstance(definitions, str) else tuple(definitions)
    if not defs:
        raise ValueError(f"definitions must name at least one of {DEFINITIONS}; got none")
    for d in defs:
        if d not in DEFINITIONS:
            raise ValueError(f"definition must be one of {DEFINITIONS}; got {d!r}")
    return defs


def descriptor_set(descriptors: str | Sequence[str] = DESCRIPTORS) -> tuple[str, ...]:
    """The descriptors asked for, in canonical order, from ``"si,ti"`` or ``["cf"]``.

    Example:
        >>> descriptor_set("cf, si")
        ('si', 'cf')
    """
    names = [d.strip() for d in descriptors.split(",")] if isinstance(descriptors, str) else list(descriptors)
    names = [d for d in names if d]
    bad = [d for d in names if d not in DESCRIPTORS]
    if bad or not names:
        raise ValueError(f"descriptors must be some of {DESCRIPTORS} (e.g. 'si,ti'); got {descriptors!r}")
    return tuple(d for d in DESCRIPTORS if d in names)


def _float_dtype(dtype) -> np.dtype:
    """float32 or float64 from a NumPy/torch dtype or its name (torch.float64 -> float64)."""
    name = "float32" if dtype is None else str(dtype).rsplit(".", 1)[-1]
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    return np.dtype(name)


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# ------------------------------------------------------------------ exact moments, merged by strips

def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product of two 1-D arrays in NumPy's own vectorised loop, not BLAS: a BLAS build may
    start its thread pool for it, which on a busy machine costs more than the product."""
    return np.einsum("i,i->", a, b)

class _Moments:
    """Count, mean and sum of squared deviations of values added in blocks (Chan et al.'s merge),
    each block centred on its own mean first: no cancellation, whatever the values' offset."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, block: np.ndarray) -> None:
        """Add a C-contiguous float block (it is overwritten with its deviations)."""
        n = block.size
        if not n:
            return
        mean = float(block.sum(dtype=block.dtype)) / n
        block -= block.dtype.type(mean)
        flat = block.reshape(-1)
        # Σ(x − m)² about the block's own (pairwise-summed) mean m: its error e adds only n·e²
        flat *= flat
        m2 = float(flat.sum(dtype=block.dtype))  # pairwise summation: accurate in float32 too
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += max(m2, 0.0) + delta * delta * self.n * n / total
        self.n = total

    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else math.nan


class _Signal:
    """What one definition makes of luma rows: ``signal(rows, out)``, times ``scale`` at the end.

    p910-2021 is affine in the code values and SI/TI are shift invariant: the raw values are used
    and ``255 / (white − black)`` scales the result. p910-2022 goes through the display model: a
    table built in float64 for integer luma, float64 arithmetic for float luma (from RGB)."""

    def __init__(self, definition: str, bit_depth: int, color_range: str, dt: np.dtype, integer: bool):
        self.lo, self.hi = code_range(bit_depth, color_range)
        self.dt, self.lut, self.direct, self.pair_lut = dt, None, False, None
        self.scale = 255.0 / (self.hi - self.lo) if definition == "p910-2021" else 1.0
        # Integer codes up to 12 bits: Sobel sums fit int16 exactly (|g| <= 4 * 4095), twice as
        # many values per vector instruction as float32; squares are taken in float32.
        self.small_int = (definition == "p910-2021" and integer and bit_depth <= 12 and dt == np.float32)
        self.work = np.dtype(np.int16) if self.small_int else dt
        if definition == "p910-2022":
            if integer:
                v = (np.arange(1 << bit_depth, dtype=np.float64) - self.lo) / (self.hi - self.lo)
                self.lut = (display_model(v) * 255.0).astype(dt)
                if bit_depth == 8:  # TI: one gather of L(now) - L(before) by the code pair
                    self.pair_lut = (self.lut[:, None] - self.lut[None, :]).reshape(-1)
            else:
                self.direct = True

    def __call__(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.lut is not None:  # codes above the table's end are clipped to white, as a display does
            return np.take(self.lut, rows, out=out, mode="clip")
        if self.direct:  # the PQ exponent (~79) amplifies float32 rounding: float64 first
            v = (rows.astype(np.float64) - self.lo) / (self.hi - self.lo)
            out[...] = display_model(v) * 255.0
            return out
        out[...] = rows
        return out


def _siti_frame(luma: np.ndarray, previous: np.ndarray | None, signal: _Signal, *, want_si: bool,
                want_ti: bool, rows: int = STRIP_ROWS) -> tuple[float, float]:
    """SI and TI (NaN without ``previous``) of one frame, strip by strip, as in
    :func:`ai4m_kit.video.descriptors.siti`: separable Sobel on the valid window, population std."""
    h, w = luma.shape
    dt, wt = signal.dt, signal.work
    x_buf = np.empty((rows + 2, w), wt)
    p_buf = np.empty((rows + 2, w), wt)
    d_buf = np.empty((rows + 2, w), dt)
    pair_buf = np.empty((rows + 2, w), np.uint16) if signal.pair_lut is not None else None
    s_buf = np.empty((rows, w), wt)
    gx_buf = np.empty((rows, w - 2), wt)
    gy_buf = np.empty((rows, w - 2), wt)
    fx_buf = np.empty((rows, w - 2), dt) if wt != dt else gx_buf
    fy_buf = np.empty((rows, w - 2), dt) if wt != dt else gy_buf
    si, ti = _Moments(), _Moments()
    want_ti = want_ti and previous is not None
    for r0 in range(1, h - 1, rows):
        r1 = min(r0 + rows, h - 1)
        n = r1 - r0
        x = signal(luma[r0 - 1:r1 + 1], x_buf[:n + 2])
        if want_ti:  # TI rows r0-1 .. r1-2; the last strip also takes the two bottom rows
            m = n + 2 if r1 == h - 1 else n
            d = d_buf[:m]
            if signal.pair_lut is not None:
                pair = pair_buf[:m]
                np.left_shift(luma[r0 - 1:r0 - 1 + m], 8, out=pair, dtype=np.uint16)
                pair |= previous[r0 - 1:r0 - 1 + m]
                np.take(signal.pair_lut, pair, out=d, mode="clip")
            else:
                p = signal(previous[r0 - 1:r0 - 1 + m], p_buf[:m])
                np.subtract(x[:m], p, out=d, dtype=dt)
            ti.add(d)
        if want_si:
            s, gx, gy = s_buf[:n], gx_buf[:n], gy_buf[:n]
            np.add(x[:-2], x[2:], out=s)  # smooth [1, 2, 1] down, then difference across
            s += x[1:-1]
            s += x[1:-1]
            np.subtract(s[:, 2:], s[:, :-2], out=gx)
            np.subtract(x[2:], x[:-2], out=s)  # difference down, then smooth across
            np.add(s[:, :-2], s[:, 2:], out=gy)
            gy += s[:, 1:-1]
            gy += s[:, 1:-1]
            fx, fy = fx_buf[:n], fy_buf[:n]
            np.multiply(gx, gx, out=fx, dtype=dt)
            np.multiply(gy, gy, out=fy, dtype=dt)
            fx += fy
            np.sqrt(fx, out=fx)
            si.add(fx)
    return si.std() * signal.scale, ti.std() * signal.scale


# ------------------------------------------------------------------ colourfulness from planes

def _block_min_max(y4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of luma over each chroma sample's block, ``y4`` shaped (hc, sy, wc, sx)."""
    hc, sy, wc, sx = y4.shape
    lo, hi = y4[:, 0], y4[:, 0]
    for k in range(1, sy):  # whole rows: contiguous, vectorised
        lo, hi = np.minimum(lo, y4[:, k]), np.maximum(hi, y4[:, k])
    if sx == 1:
        return lo.reshape(hc, wc), hi.reshape(hc, wc)
    if sx == 2 and y4.dtype.itemsize in (1, 2) and lo.flags.c_contiguous and hi.flags.c_contiguous:
        # two neighbours as one wider integer: its low and high halves, no strided access
        wide = np.dtype(f"<u{2 * y4.dtype.itemsize}")
        bits = 8 * y4.dtype.itemsize
        mask = wide.type((1 << bits) - 1)
        pairs = [a.reshape(hc, -1).view(wide) for a in (lo, hi)]
        if not np.little_endian:
            pairs = [p.byteswap() for p in pairs]
        lo = np.minimum(pairs[0] & mask, pairs[0] >> bits)
        hi = np.maximum(pairs[1] & mask, pairs[1] >> bits)
        return lo, hi
    return lo.min(axis=-1).reshape(hc, wc), hi.max(axis=-1).reshape(hc, wc)

def _cf_from_moments(n: float, sums: np.ndarray, gram: np.ndarray, a: np.ndarray, b: np.ndarray,
                     extra: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> float:
    """Hasler–Süsstrunk M of ``rg = a·c`` and ``yb = b·c`` from the channels' sums and Gram matrix
    (sums of products) over ``n`` pixels; ``extra`` adds to (Σrg, Σrg², Σyb, Σyb²) (clipping)."""
    s_rg, s_yb = float(a @ sums) + extra[0], float(b @ sums) + extra[2]
    q_rg, q_yb = float(a @ gram @ a) + extra[1], float(b @ gram @ b) + extra[3]
    m_rg, m_yb = s_rg / n, s_yb / n
    var = max(q_rg / n - m_rg * m_rg, 0.0) + max(q_yb / n - m_yb * m_yb, 0.0)
    return 255.0 * (math.sqrt(var) + 0.3 * math.hypot(m_rg, m_yb))


def _channel_moments(planes: Sequence[np.ndarray], offset: float = 0.0, rows: int = 64):
    """Sums and Gram matrix (float64, exact for integer code values) of same-shaped planes."""
    k = len(planes)
    sums, gram = np.zeros(k), np.zeros((k, k))
    h = planes[0].shape[0]
    for r0 in range(0, h, rows):
        x = np.stack([p[r0:r0 + rows] for p in planes]).reshape(k, -1).astype(np.float64)
        if offset:
            x -= offset
        sums += x.sum(axis=1)
        gram += np.einsum("in,jn->ij", x, x)
    return sums, gram


class _Colour:
    """Colourfulness of one clip's frames from its planes (see the module docstring)."""

    def __init__(self, kind: str, bit_depth: int, color_range: str, matrix: str, dt: np.dtype):
        self.kind, self.bit_depth, self.color_range = kind, bit_depth, color_range
        top = (1 << bit_depth) - 1
        if kind == "rgb":  # rg = R - G, yb = (R + G)/2 - B on 0..1
            self.a, self.b = np.array([1.0, -1.0, 0.0]) / top, np.array([0.5, 0.5, -1.0]) / top
            return
        kr, kb = MATRICES[matrix]
        kg = 1.0 - kr - kb
        self.lo, self.hi = code_range(bit_depth, color_range)
        self.mid = float(1 << (bit_depth - 1))
        self.span = float(224 << (bit_depth - 8)) if color_range == "limited" else float(top)
        # R' - Y' = ar·Cr', B' - Y' = ab·Cb', G' - Y' = gu·Cb' + gv·Cr'  (Cb', Cr' = (C - mid)/span)
        self.ar, self.ab = 2.0 * (1.0 - kr), 2.0 * (1.0 - kb)
        self.gu, self.gv = -kb * self.ab / kg, -kr * self.ar / kg
        self.a = np.array([-self.gu, self.ar - self.gv])  # rg, yb per (Cb', Cr')
        self.b = np.array([self.gu / 2.0 - self.ab, (self.ar + self.gv) / 2.0])
        self.bounds = self.pairs = None
        if bit_depth == 8:  # tables over every (Cb, Cr) pair, indexed by Cb·256 + Cr
            low, high = self._bound_table()
            self.bounds = low.astype(np.uint16) | (high.astype(np.uint16) << 8)  # low, high bytes
            cb, cr = np.divmod(np.arange(1 << 16, dtype=np.float64), 256.0)
            u, v = (cb - self.mid) / self.span, (cr - self.mid) / self.span
            rg, yb = self.a[0] * u + self.a[1] * v, self.b[0] * u + self.b[1] * v
            self.pairs = np.stack([rg, rg * rg, yb, yb * yb], axis=1)  # counts @ pairs: Σrg, Σrg², Σyb, Σyb²

    def _luma_bounds(self, cb: np.ndarray, cr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer luma codes [low, high] for which R'G'B' of (Y, Cb, Cr) stays in [0, 1]
        (low > high where none does)."""
        u, v = (cb - self.mid) / self.span, (cr - self.mid) / self.span
        k = np.stack([self.ar * v, self.gu * u + self.gv * v, self.ab * u])
        scale = self.hi - self.lo
        low = np.ceil(self.lo - scale * k.min(axis=0) - 1e-9)
        high = np.floor(self.lo + scale * (1.0 - k.max(axis=0)) + 1e-9)
        return low, high

    def _bound_table(self) -> tuple[np.ndarray, np.ndarray]:
        """8-bit: luma bounds for every (Cb, Cr) pair, indexed by Cb·256 + Cr, as uint8 (no luma
        code in range: low 255, high 0, so that every luma value is flagged)."""
        cb, cr = np.divmod(np.arange(1 << 16, dtype=np.float64), 256.0)
        low, high = self._luma_bounds(cb, cr)
        none = (low > high) | (low > 255) | (high < 0)
        low, high = np.clip(low, 0, 255), np.clip(high, 0, 255)
        low[none], high[none] = 255, 0
        return low.astype(np.uint8), high.astype(np.uint8)

    def __call__(self, kind: str, planes: Sequence[np.ndarray], luma: np.ndarray) -> float:
        if kind == "y":
            return 0.0  # grey: R' = G' = B'
        if kind == "rgb":
            n = planes[0].size
            sums, gram = _channel_moments(planes)
            return _cf_from_moments(n, sums, gram, self.a, self.b)
        y, cb, cr = planes
        hy, wy = y.shape
        hc, wc = cb.shape
        sy, sx = -(-hy // hc), -(-wy // wc)
        if hc * sy != hy or wc * sx != wy:  # odd size: chroma replicated and cropped to luma
            cb = np.repeat(np.repeat(cb, sy, 0), sx, 1)[:hy, :wy]
            cr = np.repeat(np.repeat(cr, sy, 0), sx, 1)[:hy, :wy]
            sy = sx = 1
            hc, wc = hy, wy
        weight = sy * sx  # each chroma sample stands for sy x sx luma pixels
        if self.pairs is not None:  # 8-bit: one histogram of (Cb, Cr) pairs gives every moment exactly
            idx = cb.astype(np.uint16) << 8
            idx |= cr
            linear = weight * np.einsum("p,pk->k", np.bincount(idx.reshape(-1), minlength=1 << 16), self.pairs)
            lohi = np.take(self.bounds, idx).view(np.uint8).reshape(hc, wc, 2)  # little-endian bytes
            low, high = (lohi[..., 0], lohi[..., 1]) if np.little_endian else (lohi[..., 1], lohi[..., 0])
        else:
            sums, gram = _channel_moments((cb, cr), offset=self.mid)
            a, b = self.a / self.span, self.b / self.span
            linear = weight * np.array([a @ sums, a @ gram @ a, b @ sums, b @ gram @ b])
            low, high = self._luma_bounds(cb.astype(np.float64), cr.astype(np.float64))
        s = linear + self._clipping(y.reshape(hc, sy, wc, sx), cb, cr, low, high)
        n = float(hy * wy)
        m_rg, m_yb = s[0] / n, s[2] / n
        var = max(s[1] / n - m_rg * m_rg, 0.0) + max(s[3] / n - m_yb * m_yb, 0.0)
        return 255.0 * (math.sqrt(var) + 0.3 * math.hypot(m_rg, m_yb))

    def _clipping(self, y4: np.ndarray, cb: np.ndarray, cr: np.ndarray, low: np.ndarray,
                  high: np.ndarray) -> np.ndarray:
        """Changes to (Σrg, Σrg², Σyb, Σyb²) from clipping R'G'B' to [0, 1]: only pixels whose luma
        leaves the in-gamut bounds ``[low, high]`` of their chroma pair change."""
        lo_min, hi_max = _block_min_max(y4)
        flag = lo_min < low  # chroma samples with a pixel out of gamut
        flag |= hi_max > high
        flat = np.flatnonzero(flag)
        if not flat.size:
            return np.zeros(4)
        ci, cj = np.divmod(flat, flag.shape[1])
        # float32 is plenty for these corrections (summed in float64): R'G'B' of the block's pixels,
        # how far clipping moves each channel, and what that does to rg and yb
        f = np.float32
        yv = (y4[ci, :, cj, :].reshape(ci.size, -1).astype(f) - f(self.lo)) * f(1.0 / (self.hi - self.lo))
        u = ((cb[ci, cj].astype(f) - f(self.mid)) * f(1.0 / self.span))[:, None]
        v = ((cr[ci, cj].astype(f) - f(self.mid)) * f(1.0 / self.span))[:, None]
        r = yv + f(self.ar) * v
        g = yv + (f(self.gu) * u + f(self.gv) * v)
        b = yv + f(self.ab) * u
        rg, yb = (r - g).ravel(), ((r + g) * f(0.5) - b).ravel()
        r -= np.clip(r, 0.0, 1.0)  # minus the change clipping makes
        g -= np.clip(g, 0.0, 1.0)
        b -= np.clip(b, 0.0, 1.0)
        d_rg = (g - r).ravel()
        d_yb = (b - (r + g) * f(0.5)).ravel()
        d_rg64, d_yb64 = d_rg.astype(np.float64), d_yb.astype(np.float64)
        return np.array([d_rg64.sum(), 2.0 * _dot(rg.astype(np.float64), d_rg64) + _dot(d_rg64, d_rg64),
                         d_yb64.sum(), 2.0 * _dot(yb.astype(np.float64), d_yb64) + _dot(d_yb64, d_yb64)])


# ------------------------------------------------------------------ streaming one clip

class _Frame:
    """One decoded frame: luma (decoder plane, or BT.709 luma of RGB) and the colour planes."""

    __slots__ = ("luma", "kind", "planes", "__weakref__")

    def __init__(self, kind: str, planes: tuple[np.ndarray, ...]):
        self.kind, self.planes = kind, planes
        if kind == "rgb":  # BT.709 luma in float32, as ai4m_kit.data.rgb_to_luma computes it
            r, g, b = (p.astype(np.float32) for p in planes)
            self.luma = np.float32(0.2126) * r + np.float32(0.7152) * g + np.float32(0.0722) * b
        else:
            self.luma = planes[0]


def _read_ahead(frames: Iterable, size: int):
    """Iterate ``frames`` in a reader thread, at most ``size`` items ahead (decode overlaps compute);
    the reader's exceptions are raised here."""
    import queue

    q: queue.Queue = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()
    done = object()

    def reader():
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            q.put(err)

    t = threading.Thread(target=reader, name="ai4m-decode", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while True:  # unblock the reader, drop what it read
            try:
                q.get_nowait()
            except queue.Empty:
                break


def _outside_limited(luma: np.ndarray, bit_depth: int) -> bool:
    """True when luma code values leave the limited range 16-235 (scaled to the bit depth)."""
    scale = 1 << (bit_depth - 8)
    return bool(luma.min() < 16 * scale or luma.max() > 235 * scale)


def _frame_values(frame: _Frame, previous: _Frame | None, signals: list[_Signal], colour: _Colour | None,
                  want: tuple[str, ...], check_range: int) -> tuple[list[float], list[float], float, bool]:
    si, ti = [], []
    for sig in signals:
        s, t = _siti_frame(frame.luma, None if previous is None else previous.luma, sig,
                           want_si="si" in want, want_ti="ti" in want)
        si.append(s)
        ti.append(t)
    cf = colour(frame.kind, frame.planes, frame.luma) if colour is not None else math.nan
    outside = bool(check_range) and _outside_limited(frame.luma, check_range)
    return si, ti, cf, outside


def analyse_clip(
    path: str | os.PathLike,
    *,
    definitions: str | Sequence[str] = DEFINITIONS,
    chunk: int = 8,
    device: str | None = None,
    dtype="float32",
    color_range: str | None = None,
    descriptors: str | Sequence[str] = DESCRIPTORS,
    threads: int | None = None,
) -> dict:
    """Per-frame SI and TI (for each definition) and colourfulness of one clip.

    The clip is decoded once, at most about ``2 × chunk`` frames held at a time (a reader thread
    ``chunk`` frames ahead, ``chunk`` frames being computed by ``threads`` workers). Colourfulness
    is that of the R'G'B' an exact conversion of the decoded Y'CbCr gives (the clip's matrix and
    range; chroma samples replicated over the pixels they cover; clipped to [0, 1]).

    Colour range: a video's tag is used, or ``color_range`` when given. An untagged YUV video
    whose first chunk of luma leaves 16-235 is taken as full range (``color_range_source``
    ``"detected"``); otherwise limited is assumed, and luma outside 16-235 later in the clip gives a
    warning naming the file (source ``"assumed, luma outside 16-235 from frame N"``).

    Args:
        path: a PNG frame folder or a video file (anything ``ai4m_kit.data.open_clip`` reads).
        definitions: one definition or several (the clip is decoded once for all).
        chunk: frames in flight (memory: about ``2 × chunk`` decoded frames).
        device: ``None``/``"cpu"``: NumPy on CPU threads; another torch device (``"cuda"``) runs
            the torch descriptors there.
        dtype: compute dtype, ``float32`` or ``float64`` (a name, NumPy or torch dtype).
        color_range: ``"limited"`` or ``"full"`` to override a video's range tag.
        descriptors: which of ``si``, ``ti``, ``cf`` to compute (others are NaN).
        threads: compute threads (default: the CPU count, at most 4).

    Returns:
        dict with ``si`` and ``ti`` (arrays ``(len(definitions), T)``, TI NaN at frame 0), ``cf``
        (``(T,)``), ``definitions``, ``descriptors`` and clip facts ``frames``, ``height``,
        ``width``, ``bit_depth``, ``color_range``, ``color_range_source``, ``matrix``.

    Example:
        >>> import tempfile, numpy as np
        >>> from ai4m_kit.data import write_png
        >>> d = tempfile.mkdtemp()
        >>> for i in range(3):  # the left half brightens by 40 per frame: TI = std = 20
        ...     f = np.zeros((8, 8, 3), np.uint8); f[:, :4] = 40 * i; write_png(f"{d}/f{i}.png", f)
        >>> r = analyse_clip(d, definitions="p910-2021")
        >>> r["ti"].round(3).tolist()
        [[nan, 20.0, 20.0]]
    """
    import warnings
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from ai4m_kit.data.loaders import open_clip

    defs = _definitions(definitions)
    want = descriptor_set(descriptors)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    dt = _float_dtype(dtype)
    threads = _default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    clip = open_clip(path, color_range=color_range)
    h, w = clip.size
    if h < 3 or w < 3:
        raise DataError(f"{path}: frames are {w}x{h}; SI needs at least 3x3")
    bit_depth = int(clip.bit_depth)
    matrix = getattr(clip, "matrix", "bt709")
    decoder_threads = 0 if threads == 1 else threads
    frames = _read_ahead((_Frame(k, p) for k, p in clip.iter_planes(threads=decoder_threads)), chunk)
    first: list[_Frame] = []
    for f in frames:
        first.append(f)
        if len(first) == chunk:
            break
    if not first:
        raise DataError(f"{path}: clip has no frames")
    kind = first[0].kind
    if clip.color_range_source == "assumed" and any(_outside_limited(f.luma, bit_depth) for f in first):
        clip.color_range, clip.color_range_source = "full", "detected"
    rng = str(clip.color_range)
    check = bit_depth if clip.color_range_source == "assumed" else 0
    if device is not None and str(device) != "cpu":
        values = _torch_values(first, frames, defs, want, bit_depth, rng, matrix, dt, device, check)
    else:
        integer = kind != "rgb"
        signals = [_Signal(d, bit_depth, rng, dt, integer) for d in defs] if {"si", "ti"} & set(want) else []
        colour = _Colour(kind, bit_depth, rng, matrix, dt) if "cf" in want else None
        values = []
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ai4m-coverage") as pool:
            pending: deque = deque()
            previous = None
            for frame in _chain(first, frames):
                pending.append(pool.submit(_frame_values, frame, previous, signals, colour, want, check))
                previous = frame
                while len(pending) >= chunk:
                    values.append(pending.popleft().result())
            while pending:
                values.append(pending.popleft().result())
    seen_outside = next((i for i, v in enumerate(values) if v[3]), None)
    if seen_outside is not None:
        start = seen_outside // chunk * chunk
        clip.color_range_source = f"assumed, luma outside 16-235 from frame {start}"
        warnings.warn(f"{path}: no colour-range tag and luma outside 16-235 from frame {start}, but "
                      "limited range was assumed; pass --color-range full if the source is full range",
                      stacklevel=2)
    t = len(values)
    nan = np.full((len(defs), t), np.nan)
    si = np.array([v[0] for v in values]).T.reshape(len(defs), t) if "si" in want else nan
    ti = np.array([v[1] for v in values]).T.reshape(len(defs), t) if "ti" in want else nan.copy()
    cf = np.array([v[2] for v in values], dtype=np.float64)
    return {
        "definitions": defs,
        "descriptors": want,
        "si": si,
        "ti": ti,
        "cf": cf,
        "frames": t,
        "height": int(h),
        "width": int(w),
        "bit_depth": bit_depth,
        "color_range": rng,
        "color_range_source": str(clip.color_range_source),
        "matrix": matrix if kind == "ycbcr" else "rgb",
    }


def _chain(first: list, rest: Iterable):
    """``first`` then ``rest``, dropping each item of ``first`` once handed out (bounded memory)."""
    while first:
        yield first.pop(0)
    yield from rest


def _torch_values(first, frames, defs, want, bit_depth, rng, matrix, dt, device, check):
    """Per-frame values with the torch descriptors on ``device`` (e.g. CUDA), one frame at a time."""
    import torch

    from .descriptors import colourfulness, siti

    tdt = torch.float64 if dt == np.float64 else torch.float32
    dev = torch.device(device)
    values, last = [], None
    for frame in _chain(first, frames):
        luma = torch.from_numpy(np.ascontiguousarray(frame.luma).astype(
            np.int32 if frame.kind != "rgb" else np.float32)).to(dev)
        si, ti = [], []
        for d in defs:
            s, t = siti(luma[None], definition=d, bit_depth=bit_depth, color_range=rng, dtype=tdt,
                        previous=last)
            si.append(float(s[0]))
            ti.append(float(t[0]))
        cf = math.nan
        if "cf" in want and frame.kind != "y":
            planes = [np.ascontiguousarray(p).astype(np.int32) for p in frame.planes]
            hy, wy = planes[0].shape
            full = [torch.from_numpy(p).to(dev).repeat_interleave(-(-hy // p.shape[0]), 0)
                    .repeat_interleave(-(-wy // p.shape[1]), 1)[:hy, :wy] for p in planes]
            space = "rgb" if frame.kind == "rgb" else "ycbcr"
            cf = float(colourfulness(torch.stack(full), bit_depth=bit_depth, colour_space=space,
                                     color_range=rng, dtype=tdt, matrix=matrix if space == "ycbcr" else "bt709"))
        elif "cf" in want:
            cf = 0.0
        values.append((si, ti, cf, bool(check) and _outside_limited(frame.luma, check)))
        last = luma
    return values


def _failed_result(defs: tuple[str, ...]) -> dict:
    """The record of a clip that could not be analysed (``--skip-bad``): no frames."""
    empty = np.zeros((len(defs), 0))
    return {"definitions": defs, "si": empty, "ti": empty, "cf": np.zeros(0), "frames": 0, "height": 0,
            "width": 0, "bit_depth": 0, "color_range": "", "color_range_source": "", "matrix": ""}


def clip_id(name: str, label: str) -> str:
    """Identifier of one recording in a corpus dataset: ``"<clip>/<resolution>"``.

    Example:
        >>> clip_id("people_astronaut", "4k")
        'people_astronaut/4k'
    """
    return f"{name}/{label}"


def _clip_dataset(result: dict, *, cid: str, name: str, label: str, path: str, meta: dict, key: str,
                  error: str = "") -> xr.Dataset:
    import xarray as xr

    t = result["frames"]
    return xr.Dataset(
        {
            "si": (("definition", "clip", "frame"), result["si"][:, None, :]),
            "ti": (("definition", "clip", "frame"), result["ti"][:, None, :]),
            "cf": (("clip", "frame"), result["cf"][None, :]),
        },
        coords={
            "definition": list(result["definitions"]),
            "clip": [cid],
            "frame": np.arange(t),
            "name": ("clip", [name]),
            "resolution": ("clip", [label]),
            "category": ("clip", [str(meta.get("category", "unknown"))]),
            "motion": ("clip", [str(meta.get("motion", "unknown"))]),
            "path": ("clip", [path]),
            "frames": ("clip", [t]),
            "height": ("clip", [result["height"]]),
            "width": ("clip", [result["width"]]),
            "bit_depth": ("clip", [result["bit_depth"]]),
            "color_range": ("clip", [result["color_range"]]),
            "color_range_source": ("clip", [result["color_range_source"]]),
            "matrix": ("clip", [result.get("matrix", "")]),
            "fingerprint": ("clip", [key]),
            "error": ("clip", [error]),
        },
    )


def _attrs(ds: xr.Dataset) -> xr.Dataset:
    from ai4m_kit import __version__

    ds.attrs.update(
        title=TITLE,
        si="ITU-T P.910 spatial information, 0-255 scale",
        ti="ITU-T P.910 temporal information, 0-255 scale; NaN at each clip's first frame",
        cf="Hasler-Suesstrunk colourfulness of gamma-encoded RGB (from Y'CbCr: the clip's matrix and range, "
           "chroma replicated, clipped to 0-1), 0-255 scale",
        pooling=", ".join(f"{d}: {p}" for d, p in DEFAULT_POOLING.items()),
        ai4m_kit_version=__version__,
        numpy_version=np.__version__,
    )
    notes = {"fingerprint": "key of the clip's files (path, size, mtime) and of the parameters",
             "error": "why the clip could not be analysed (--skip-bad); empty when it was",
             "matrix": "Y'CbCr matrix used for colourfulness (tag, or bt709 from 720 lines up, else bt601); "
                       "rgb for RGB sources"}
    for name, note in notes.items():
        if name in ds.coords:
            ds[name].attrs["description"] = note
    for v in ("si", "ti", "cf"):
        ds[v].attrs["units"] = "0-255 code-value scale"
    return ds


def merge(datasets: Iterable[xr.Dataset]) -> xr.Dataset:
    """Concatenate per-clip datasets along ``clip`` (shorter clips padded with NaN frames)."""
    import xarray as xr

    parts = [d for d in datasets if d.sizes.get("clip", 0)]
    if not parts:
        raise ValueError("datasets must hold at least one clip; got none")
    ds = xr.concat(parts, dim="clip", join="outer", coords="minimal", compat="override",
                   combine_attrs="drop_conflicts")
    # Integer coordinates pick up float dtype when padded; clip-wise ones are never padded.
    for c in ("frames", "height", "width", "bit_depth"):
        ds[c] = ds[c].astype(np.int64)
    return _attrs(ds)


TITLE = "Per-frame content descriptors (ai4m-kit coverage)"


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a coverage NetCDF fully into memory (the file is closed afterwards).

    Raises:
        DataError: the file is not a NetCDF written by ``ai4m coverage``.
    """
    import xarray as xr

    try:
        with xr.open_dataset(path, engine=_engine()) as ds:
            ds = ds.load()
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure means: not our file, or damaged
        raise DataError(f"{path}: not a coverage file written by ai4m coverage, or damaged "
                        f"({type(err).__name__}); nothing was changed") from err
    if ds.attrs.get("title") != TITLE:
        raise DataError(f"{path}: a NetCDF file not written by ai4m coverage; nothing was changed")
    for var in ds.variables.values():
        var.encoding = {}  # file-specific (string widths); a rewrite chooses its own
    return ds


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file, then rename) so an interrupted run never corrupts it.

    Example:
        >>> import tempfile, xarray as xr
        >>> ds = xr.Dataset({"cf": (("clip", "frame"), [[1.0, 2.0]])}, coords={"clip": ["a/native"]},
        ...                 attrs={"title": TITLE})
        >>> path = save(ds, Path(tempfile.mkdtemp()) / "c.nc")
        >>> load(path)["cf"].values.tolist()
        [[1.0, 2.0]]
    """
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=_engine())
    return Path(path)


def _clip_root(path: Path, label: str) -> Path:
    return path.parent if label != "native" else path


def _unique_names(found: list[tuple[str, Path, str]]) -> list[str]:
    """Clip names made unique: a name found in several folders is prefixed with its folder's name
    (and numbered if that is not enough), so that clips from different corpora never share an id."""
    count: dict[tuple[str, str], int] = {}
    for name, _, label in found:
        count[(name, label)] = count.get((name, label), 0) + 1
    names, used = [], set()
    for name, path, label in found:
        unique = name
        if count[(name, label)] > 1:
            unique = f"{_clip_root(path, label).resolve().parent.name}/{name}"
        k, candidate = 1, unique
        while (candidate, label) in used:
            k += 1
            candidate = f"{unique}~{k}"
        used.add((candidate, label))
        names.append(candidate)
    return names


def _manifest_row(clip_root: Path, cache: dict) -> dict:
    """Clip metadata (category, motion) from a ``manifest.csv`` beside the clip, if any."""
    from ai4m_kit.data import read_manifest

    folder = clip_root.resolve().parent
    if folder not in cache:
        cache[folder] = ({str(r.get("clip")): r for r in read_manifest(folder)}
                         if (folder / "manifest.csv").is_file() else {})
    return cache[folder].get(clip_root.name, {})


def _parameters(defs: tuple[str, ...], dtype, color_range: str | None, descriptors: tuple[str, ...]) -> dict:
    from ai4m_kit import __version__

    return {"definitions": list(defs), "dtype": str(_float_dtype(dtype)), "color_range": color_range or "tag",
            "descriptors": list(descriptors), "ai4m_kit_version": __version__}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that finished clips are saved before the exit."""


def _on_sigterm(signum, frame):
    raise _Terminated()


@_dask_free
def run_corpus(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike | None = None,
    definitions: str | Sequence[str] = DEFINITIONS,
    chunk: int = 8,
    device: str | None = None,
    dtype="float32",
    scheduler: str | None = None,
    progress: bool = True,
    save_every: float = 0.0,
    color_range: str | None = None,
    skip_bad: bool = False,
    replace: bool = False,
    descriptors: str | Sequence[str] = DESCRIPTORS,
    threads: int | None = None,
) -> xr.Dataset:
    """Per-frame SI, TI and CF of every clip found under ``paths`` (``ai4m_kit.data.find_clips``).

    Resumable and never stale: every clip carries a fingerprint of its files (path, size, mtime)
    and of the parameters; clips in ``out`` whose fingerprint matches are reused, others are
    recomputed; when every clip is done already, ``out`` is returned as it is (nothing decoded or
    written). ``out`` is rewritten atomically after each clip (or every ``save_every`` seconds),
    and on SIGINT/SIGTERM before the exit, so a killed run loses at most the clips since the last
    save. Clip pairs (``<clip>/4k``, ``<clip>/1080p``) are checked for equal frame counts, a 2x
    size ratio and aligned frame names before any work.

    Args:
        paths: frame folders, video files, BSC4K-style clip folders or folders of those.
        out: NetCDF file to resume and write. It must be new or written by this function for the
            same clips and parameters, unless ``replace``.
        definitions: SI/TI definitions to compute.
        chunk: frames in flight per clip (memory bound, see :func:`analyse_clip`).
        device: ``None``/``"cpu"`` (NumPy, CPU threads) or a torch device such as ``"cuda"``.
        dtype: compute dtype, float32 or float64.
        scheduler: address of a ``dask.distributed`` scheduler; each clip becomes one task.
        progress: show a tqdm progress bar.
        save_every: seconds between writes of ``out`` (0: after every clip).
        color_range: ``"limited"`` or ``"full"`` for every video, overriding range tags.
        skip_bad: record a clip that cannot be read (its ``error`` coordinate) and go on, instead
            of stopping.
        replace: let ``out`` hold other clips or parameters: they are dropped from it (clips
            whose files and parameters match are still reused).
        descriptors: which of ``si``, ``ti``, ``cf`` to compute (the others are NaN).
        threads: compute threads per clip (default: the CPU count, at most 4).

    Returns:
        The dataset of every clip found (in ``find_clips`` order); variables ``si``/``ti``
        ``(definition, clip, frame)``, ``cf`` ``(clip, frame)``; coordinates along ``clip`` include
        ``name``, ``resolution``, ``path``, ``fingerprint``, ``color_range`` and ``error``.

    Raises:
        DataError: bad input (with the file named), or an ``out`` that does not belong to this run.
    """
    import signal

    from tqdm.auto import tqdm

    from ai4m_kit.data import ClipPair, find_clips
    from ai4m_kit.data.loaders import COLOR_RANGES, HR_DIR

    defs = _definitions(definitions)
    want = descriptor_set(descriptors)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    if save_every < 0:
        raise ValueError(f"save_every must be >= 0 seconds; got {save_every}")
    if color_range is not None and color_range not in COLOR_RANGES:
        raise ValueError(f"color_range must be one of {COLOR_RANGES} or None; got {color_range!r}")
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("paths must name at least one folder or video file; got none")
    found = find_clips(paths)
    if not found:
        raise DataError(f"{', '.join(str(p) for p in paths)}: no frame folders or video files found")
    resolved = [str(p.resolve()) for _, p, _ in found]
    for i, r in enumerate(resolved):
        if resolved.index(r) != i:
            raise ValueError(f"{found[i][1]}: the paths name this clip more than once")
    names = _unique_names(found)
    params = _parameters(defs, dtype, color_range, want)
    manifests: dict = {}
    clips = []  # (id, unique name, path, label, fingerprint, metadata)
    for unique, (name, path, label) in zip(names, found):
        root = _clip_root(path, label)
        clips.append((clip_id(unique, label), unique, path, label,
                      fingerprint(path, params), _manifest_row(root, manifests)))
    bad: dict[str, str] = {}  # id -> error, found before any work
    for cid, unique, path, label, _, _ in clips:
        if label == HR_DIR:
            try:
                ClipPair(path.parent)
            except DataError as err:
                if not skip_bad:
                    raise
                bad[cid] = bad[clip_id(unique, "1080p")] = str(err)

    ids = [c[0] for c in clips]
    reuse: dict[str, xr.Dataset] = {}
    if out is not None and Path(out).exists():
        if Path(out).is_dir():
            raise DataError(f"{out}: is a folder; out must be a .nc file")
        old = load(out)
        old_params = old.attrs.get("parameters")
        old_ids = [str(c) for c in old["clip"].values]
        now = {c[0]: str(Path(c[2]).resolve()) for c in clips}
        # a clip is another one when its id is new or its id now names another file or folder
        foreign = [c for c, p in zip(old_ids, (str(p) for p in old["path"].values)) if now.get(c) != p]
        if not replace and old_params != json.dumps(params, sort_keys=True):
            try:
                was = json.loads(old_params)
            except (TypeError, ValueError):
                was = {}
            diff = ", ".join(f"{k} {was.get(k)} (now {v})" for k, v in params.items() if was.get(k) != v)
            raise DataError(f"{out}: computed with other parameters: {diff}; use another --out, "
                            "or --force to replace it")
        if not replace and foreign:
            raise DataError(f"{out}: holds {len(foreign)} clip(s) not among the paths given now (e.g. {foreign[0]} "
                            f"from {old['path'].sel(clip=foreign[0]).item()}); "
                            "use another --out, or --force to replace it")
        keys = dict(zip(old_ids, (str(k) for k in old["fingerprint"].values)))
        errors = dict(zip(old_ids, (str(e) for e in old["error"].values)))
        done = [cid for cid, *_, key, _ in clips if keys.get(cid) == key and not errors.get(cid)]
        if done == ids == old_ids and old_params == json.dumps(params, sort_keys=True):
            return old  # every clip is done already: nothing to decode, nothing to write
        for cid in done:  # clips whose files and parameters are unchanged
            reuse[cid] = old.sel(clip=[cid])
    todo = [c for c in clips if c[0] not in reuse]
    bar = tqdm(total=len(todo), desc="coverage", unit="clip", disable=not progress)
    new: dict[str, xr.Dataset] = {}
    last_save = time.monotonic()
    merged: list = [None]  # the dataset of the clips so far, while no clip came since

    def current() -> xr.Dataset:
        if merged[0] is None:
            parts = {**reuse, **new}
            merged[0] = merge([parts[c] for c in ids if c in parts])
            merged[0].attrs["parameters"] = json.dumps(params, sort_keys=True)
        return merged[0]

    unsaved = [False]

    def write() -> None:
        save(current(), out)
        unsaved[0] = False

    def collect(result: dict, cid: str, unique: str, path: Path, label: str, key: str, meta: dict,
                error: str = "") -> None:
        nonlocal last_save
        new[cid] = _clip_dataset(result, cid=cid, name=unique, label=label, path=str(Path(path).resolve()), meta=meta, key=key,
                                 error=error)
        merged[0], unsaved[0] = None, True
        bar.update(1)
        bar.set_postfix_str(cid)
        if out is not None and time.monotonic() - last_save >= save_every:
            write()
            last_save = time.monotonic()

    def analyse(cid, unique, path, label, key, meta) -> None:
        if cid in bad:
            collect(_failed_result(defs), cid, unique, path, label, key, meta, error=bad[cid])
            return
        try:
            result = analyse_clip(path, **kw)
        except DataError as err:
            if not skip_bad:
                raise
            collect(_failed_result(defs), cid, unique, path, label, key, meta, error=str(err))
            return
        collect(result, cid, unique, path, label, key, meta)

    kw = dict(definitions=defs, chunk=chunk, device=device, dtype=dtype, color_range=color_range, descriptors=want,
              threads=threads)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        if scheduler is None:
            for c in todo:
                analyse(*c)
        elif todo:
            from distributed import Client, as_completed

            by_id = {c[0]: c for c in todo}
            with Client(scheduler) as client:
                futures = {client.submit(analyse_clip, str(c[2]), key=f"ai4m-coverage-{c[4]}", pure=False, **kw): c[0]
                           for c in todo if c[0] not in bad}
                for c in todo:
                    if c[0] in bad:
                        analyse(*c)
                for fut in as_completed(futures):
                    c = by_id[futures[fut]]
                    try:
                        result = fut.result()
                    except DataError as err:
                        if not skip_bad:
                            raise
                        collect(_failed_result(defs), *c, error=str(err))
                        continue
                    collect(result, *c)
    finally:
        bar.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if out is not None and unsaved[0]:
            write()
    return current()


def _pool(values: np.ndarray, method: str) -> np.ndarray:
    """NaN-ignoring pooling over the last axis, as :func:`ai4m_kit.video.descriptors.pool` (the
    median is the lower one of an even count; all-NaN rows give NaN)."""
    if method not in POOLINGS:
        raise ValueError(f"method must be one of {POOLINGS}; got {method!r}")
    ok = ~np.isnan(values)
    count = ok.sum(axis=-1)
    if method == "median":
        ordered = np.sort(values, axis=-1)  # NaNs sort last
        k = np.maximum(count - 1, 0) // 2
        res = np.take_along_axis(ordered, k[..., None], axis=-1)[..., 0]
    elif method == "mean":
        res = np.where(ok, values, 0.0).sum(axis=-1) / np.maximum(count, 1)
    else:
        fill = -np.inf if method == "max" else np.inf
        filled = np.where(ok, values, fill)
        res = filled.max(axis=-1) if method == "max" else filled.min(axis=-1)
    return np.where(count > 0, res, np.nan)


def pooled(ds: xr.Dataset, *, pooling: str | None = None, cf_pooling: str = "mean") -> xr.Dataset:
    """Clip-level values: SI/TI pooled with each definition's default (or ``pooling``), CF by mean.

    Example:
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"si": (("definition", "clip", "frame"), [[[1.0, 3.0]]]),
        ...                  "ti": (("definition", "clip", "frame"), [[[np.nan, 2.0]]]),
        ...                  "cf": (("clip", "frame"), [[4.0, 6.0]])},
        ...                 coords={"definition": ["p910-2021"], "clip": ["a/native"]})
        >>> float(pooled(ds)["si"][0, 0]), float(pooled(ds)["cf"][0])
        (3.0, 5.0)
    """
    import xarray as xr

    out = {}
    for v in ("si", "ti"):
        per_def = []
        for d in ds["definition"].values:
            method = pooling or DEFAULT_POOLING[str(d)]
            per_def.append(_pool(np.asarray(ds[v].sel(definition=d).values, dtype=np.float64), method))
        out[v] = (("definition", "clip"), np.stack(per_def))
    out["cf"] = (("clip",), _pool(np.asarray(ds["cf"].values, dtype=np.float64), cf_pooling))
    keep = {k: v for k, v in ds.coords.items() if "frame" not in v.dims}
    res = xr.Dataset(out, coords=keep)
    res.attrs.update(ds.attrs, pooling_used=pooling or "definition default", cf_pooling=cf_pooling)
    return res


def hull_area(x: np.ndarray, y: np.ndarray) -> float:
    """Area of the convex hull of points (x, y); 0 for fewer than 3 points or collinear points.

    Example:
        >>> hull_area(np.array([0, 1, 0, 1, 0.5]), np.array([0, 0, 1, 1, 0.5]))
        1.0
    """
    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(np.unique(pts, axis=0)) < 3:
        return 0.0
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(pts).volume)  # in 2-D, "volume" is the area
    except QhullError:  # all points on a line
        return 0.0


def uniformity(values: np.ndarray, bins: int = 10, bounds: tuple[float, float] | None = None) -> float:
    """Histogram entropy over ``bins`` equal bins in ``bounds`` (default: min..max), / log(bins).

    Example:
        >>> round(uniformity(np.arange(10.0), bins=10), 6)
        1.0
        >>> round(uniformity(np.array([1.0, 1.0, 1.0, 9.0]), bins=4), 4)  # p = (3/4, 1/4)
        0.4056
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2; got {bins}")
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    lo, hi = (v.min(), v.max()) if bounds is None else bounds
    if hi <= lo:
        return 0.0
    counts, _ = np.histogram(v, bins=bins, range=(lo, hi))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(bins))


def coverage_measures(si: np.ndarray, ti: np.ndarray, cf: np.ndarray, *, bins: int = 10) -> dict[str, float]:
    """Winkler-style coverage of a set of clips from their pooled SI, TI and CF values.

    Returns range and uniformity of each descriptor and the convex-hull areas in the SI–TI and
    SI–CF planes.

    Example:
        >>> m = coverage_measures(np.array([0, 10, 0.]), np.array([0, 0, 5.]), np.array([1, 2, 3.]))
        >>> m["range_si"], round(m["hull_si_ti"], 6)
        (10.0, 25.0)
    """
    out: dict[str, float] = {}
    for k, v in (("si", si), ("ti", ti), ("cf", cf)):
        v = np.asarray(v, float)
        f = v[np.isfinite(v)]
        out[f"range_{k}"] = float(f.max() - f.min()) if f.size else math.nan
        out[f"uniformity_{k}"] = uniformity(f, bins=bins)
    out["hull_si_ti"] = hull_area(si, ti)
    out["hull_si_cf"] = hull_area(si, cf)
    return out


MEASURES = ("n_clips", "si_mean", "ti_mean", "cf_mean", "range_si", "range_ti", "range_cf",
            "uniformity_si", "uniformity_ti", "uniformity_cf", "hull_si_ti", "hull_si_cf")


def coverage_table(pooled_ds: xr.Dataset, *, bins: int = 10) -> xr.Dataset:
    """The category coverage table: measures per (definition, resolution, category), plus "all".

    Args:
        pooled_ds: output of :func:`pooled` (coords ``category`` and ``resolution`` along clip).
        bins: histogram bins for uniformity.

    Returns:
        Dataset with dims ``definition``, ``resolution``, ``category`` and one variable per measure
        (``n_clips``, means, ranges, uniformities, hull areas).
    """
    import xarray as xr

    cats = sorted(set(str(c) for c in pooled_ds["category"].values)) + ["all"]
    ress = list(dict.fromkeys(str(r) for r in pooled_ds["resolution"].values))
    defs = [str(d) for d in pooled_ds["definition"].values]
    data = {m: np.full((len(defs), len(ress), len(cats)), np.nan) for m in MEASURES}
    for i, d in enumerate(defs):
        for j, r in enumerate(ress):
            for k, c in enumerate(cats):
                sel = pooled_ds["resolution"].values == r
                if c != "all":
                    sel &= pooled_ds["category"].values == c
                if not sel.any():
                    continue
                si = pooled_ds["si"].sel(definition=d).values[sel]
                ti = pooled_ds["ti"].sel(definition=d).values[sel]
                cf = pooled_ds["cf"].values[sel]
                m = coverage_measures(si, ti, cf, bins=bins)
                m.update(n_clips=float(sel.sum()), si_mean=float(np.nanmean(si)),
                         ti_mean=float(np.nanmean(ti)), cf_mean=float(np.nanmean(cf)))
                for name in MEASURES:
                    data[name][i, j, k] = m[name]
    ds = xr.Dataset({m: (("definition", "resolution", "category"), v) for m, v in data.items()},
                    coords={"definition": defs, "resolution": ress, "category": cats})
    ds.attrs.update(bins=bins, uniformity="histogram entropy / log(bins), 1 = evenly spread",
                    hull="convex-hull area of pooled clip values in the descriptor plane")
    return ds


def resolution_comparison(pooled_ds: xr.Dataset, high: str = "4k", low: str = "1080p") -> xr.Dataset:
    """Pooled SI, TI and CF of clips recorded at both resolutions, and high/low ratios.

    Returns a dataset with dim ``name`` (clips present at both) and ``definition``; variables
    ``si_high``, ``si_low``, ``si_ratio`` (and the same for ``ti``; ``cf`` per name).
    """
    import xarray as xr

    res = pooled_ds["resolution"].values
    names = [str(n) for n in pooled_ds["name"].values]
    hi_names = {n for n, r in zip(names, res) if r == high}
    both = [n for n in dict.fromkeys(names) if n in hi_names and any(m == n and r == low for m, r in zip(names, res))]
    if not both:
        raise ValueError(f"pooled_ds has no clip recorded at both {high!r} and {low!r}")
    hi_ids = [clip_id(n, high) for n in both]
    lo_ids = [clip_id(n, low) for n in both]
    out = {}
    for v in ("si", "ti"):
        a = pooled_ds[v].sel(clip=hi_ids).values
        b = pooled_ds[v].sel(clip=lo_ids).values
        out[f"{v}_high"] = (("definition", "name"), a)
        out[f"{v}_low"] = (("definition", "name"), b)
        out[f"{v}_ratio"] = (("definition", "name"), a / b)
    a, b = pooled_ds["cf"].sel(clip=hi_ids).values, pooled_ds["cf"].sel(clip=lo_ids).values
    out.update(cf_high=(("name",), a), cf_low=(("name",), b), cf_ratio=(("name",), a / b))
    cats = pooled_ds["category"].sel(clip=hi_ids).values
    ds = xr.Dataset(out, coords={"definition": pooled_ds["definition"].values, "name": both,
                                 "category": ("name", cats)})
    ds.attrs.update(high=high, low=low)
    return ds
