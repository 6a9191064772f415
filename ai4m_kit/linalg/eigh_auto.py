"""The ``"auto"`` choice of :func:`ai4m_kit.linalg.eigh`: measured crossovers, cached on disk.

``calibrate`` times every method against ``torch.linalg.eigh`` on a grid of sizes ``n`` and batch
sizes for one device and dtype (interleaved medians) and stores, per grid point, the fastest
method — a batched method is chosen only where it beats ``torch.linalg.eigh`` by a clear margin,
so ``"auto"`` is never meaningfully slower than it. ``choose`` looks the nearest grid point up (in
log₂ of ``n`` and of the batch size). Without a calibration for the device and dtype, or for ``n``
beyond 1.5× the largest calibrated size, ``"auto"`` means ``"torch"``. The cache is a JSON file
in ``$AI4M_CACHE`` (default ``~/.cache/ai4m_kit``); ``ai4m bench eigh --calibrate`` re-measures it.

This module sits above the solvers it chooses between: it times them through
:func:`ai4m_kit.linalg.eigh_solvers.solve` and never imports :mod:`ai4m_kit.linalg.eigh`.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import torch

from ai4m_kit.files import write_text_atomic
from ai4m_kit.timing import interleaved_medians
from ai4m_kit.linalg import eigh_triton
from ai4m_kit.linalg.eigh_solvers import solve
from ai4m_kit.linalg.eigh_triton import MAX_N as MAX_TRITON_N  # the kernel's largest n

CACHE_NAME = "eigh_auto.json"
CANDIDATES = ("torch", "jacobi", "qr")  # everywhere; "triton" joins them on CUDA (see candidates())
DEFAULT_DIMS = (2, 4, 8, 16, 32)
# Up to 8192, 4× apart from 128 on: on a CPU the batched methods beat LAPACK's loop over the batch
# only for large batches of small matrices. Larger batches are decomposed in pieces
# (ai4m_kit.linalg.eigh_solvers.chunk_size), so what wins at 8192 goes on winning beyond it.
DEFAULT_BATCHES = (1, 16, 128, 512, 2048, 8192)
# Bumped when a solver's implementation changes its speed: older calibrations are then not used.
IMPL_VERSION = 10


def candidates(device: torch.device | str) -> tuple[str, ...]:
    """Methods that ``calibrate`` times on a device: ``CANDIDATES``, plus ``"triton"`` on CUDA when
    the triton package is installed (on a CPU it runs only through Triton's slow interpreter).

    Example:
        >>> candidates("cpu")
        ('torch', 'jacobi', 'qr')
    """
    if torch.device(device).type == "cuda" and eigh_triton.available():
        return CANDIDATES + ("triton",)
    return CANDIDATES


def fits(method: str, n: int) -> bool:
    """Whether ``method`` decomposes matrices of size ``n`` (the Triton kernel holds at most
    ``MAX_TRITON_N``; the other methods any ``n``).

    Example:
        >>> fits("triton", 64), fits("qr", 64)
        (False, True)
    """
    return method != "triton" or n <= MAX_TRITON_N


def cache_path() -> Path:
    """Path of the calibration file: ``$AI4M_CACHE/eigh_auto.json`` (default ``~/.cache/ai4m_kit``)."""
    root = os.environ.get("AI4M_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ai4m_kit")
    return Path(root) / CACHE_NAME


def device_key(device: torch.device | str, dtype: torch.dtype) -> str:
    """Key of a calibration: device model, thread count (CPU) and dtype.

    Example:
        >>> device_key("cpu", torch.float32).endswith("float32")
        True
    """
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{device.type}:{platform.machine()}:{platform.processor() or 'cpu'}:threads={torch.get_num_threads()}"
    return f"{name}|torch={torch.__version__}|impl={IMPL_VERSION}|{str(dtype).replace('torch.', '')}"


def _load() -> dict:
    path = cache_path()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


_MEMO: dict[tuple, dict | None] = {}
# Choices made so far, per (n, batch, device, dtype, thread count): "auto" runs before every
# decomposition, and a lookup in a stored calibration (_lookup) costs a sizeable share of
# torch.linalg.eigh's time on one small matrix; a hit here costs a dictionary lookup.
# Bounded: emptied when it reaches _CHOICES_MAX entries.
_CHOICES: dict[tuple, str] = {}
_CHOICES_MAX = 4096


def table(device: torch.device | str, dtype: torch.dtype) -> dict | None:
    """The stored calibration ``{"dims", "batches", "choice", "times"}`` for a device and dtype, or None.

    Looked up once per process, device, dtype and thread count: after changing ``$AI4M_CACHE``
    call ``clear_memo()``.
    """
    memo_key = (device, dtype, torch.get_num_threads())  # cheap: runs on every "auto" call
    if memo_key not in _MEMO:
        _MEMO[memo_key] = _load().get(device_key(device, dtype))
    return _MEMO[memo_key]


def clear_memo() -> None:
    """Forget the calibrations read and the choices made so far (the next lookup reads the cache
    file again)."""
    _MEMO.clear()
    _CHOICES.clear()


def _nearest(values: list[int], x: int) -> int:
    lx = math.log2(max(x, 1))
    return min(range(len(values)), key=lambda i: abs(math.log2(values[i]) - lx))


def choose(n: int, batch: int, device: torch.device | str, dtype: torch.dtype) -> str:
    """Method for ``batch`` matrices of size ``n``: the calibrated winner of the nearest grid point
    (remembered per size, batch, device, dtype and thread count until :func:`clear_memo`).

    Example:
        >>> choose(8, 512, "cpu", torch.float64) in CANDIDATES
        True
    """
    key = (n, batch, device, dtype, torch.get_num_threads())
    chosen = _CHOICES.get(key)
    if chosen is None:
        if len(_CHOICES) >= _CHOICES_MAX:
            _CHOICES.clear()
        chosen = _CHOICES[key] = _lookup(n, batch, device, dtype)
    return chosen


def _lookup(n: int, batch: int, device: torch.device | str, dtype: torch.dtype) -> str:
    entry = table(device, dtype)
    # Beyond 1.5x the largest calibrated size nothing was measured: keep LAPACK / cuSOLVER.
    if entry is None or n > 1.5 * max(entry["dims"]):
        return "torch"
    i, j = _nearest(entry["dims"], n), _nearest(entry["batches"], batch)
    chosen = entry["choice"][i][j]
    if chosen == "triton" and not (fits(chosen, n) and chosen in candidates(device)):
        return "torch"  # beyond the kernel's size, or triton is no longer installed
    return chosen


def calibrate(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    dims: tuple[int, ...] = DEFAULT_DIMS,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    repeats: int = 3,
    margin: float = 0.8,
    save: bool = True,
    seed: int = 0,
) -> dict:
    """Time every method on a ``dims × batches`` grid and store the choice per grid point.

    A batched method wins a grid point only when its median time is below ``margin`` times that
    of ``torch.linalg.eigh`` measured in the same interleaved rounds.

    Returns:
        The calibration entry: ``dims``, ``batches``, ``choice[i][j]`` and ``times[method][i][j]``
        (median seconds).
    """
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    methods = candidates(device)
    times = {m: [[float("nan")] * len(batches) for _ in dims] for m in methods}
    choice = [["torch"] * len(batches) for _ in dims]
    for i, n in enumerate(dims):
        live = [m for m in methods if fits(m, n)]
        for j, b in enumerate(batches):
            X = torch.randn(b, n, n, generator=gen, dtype=torch.float64)
            A = (X + X.mT).to(device=device, dtype=dtype)
            # Screen: one call each (after one untimed call: Triton compiles a kernel per size);
            # a method over 3x torch's time cannot win and is not repeated (its single time is recorded).
            single = interleaved_medians({m: (lambda m=m: solve(A, m)) for m in live}, repeats=1,
                                         warmup=int("triton" in live), device=device)
            contenders = [m for m in live if m == "torch" or single[m] < 3 * single["torch"]]
            med = dict(single)
            if len(contenders) > 1:
                med.update(interleaved_medians(
                    {m: (lambda m=m: solve(A, m)) for m in contenders}, repeats=repeats, device=device, min_time=0.01
                ))
            for m in live:
                times[m][i][j] = med[m]
            best = min((m for m in live if m != "torch"), key=med.get)
            choice[i][j] = best if best in contenders and med[best] < margin * med["torch"] else "torch"
    entry = {"dims": list(dims), "batches": list(batches), "choice": choice, "times": times}
    if save:
        data = _load()
        data[device_key(device, dtype)] = entry
        write_text_atomic(cache_path(), json.dumps(data, indent=1))
        clear_memo()
    return entry
