"""``method="auto"`` for :func:`ai4m_kit.linalg.sqrtm`: pick the fastest configuration that meets an
accuracy, from measurements cached on disk.

For a call on ``(..., n, n)`` matrices the key is (root or inverse root, n, batch bucket (nearest
power of 4), compute dtype, device, thread count, forward-only or forward+backward). The first
call with a new key measures every candidate of :data:`CANDIDATES` on reference covariances
(:func:`ai4m_kit.linalg.sqrtm_reference.reference_covariance`: sample covariances of ``2n`` Gaussian
samples, condition number ≈ 30):

- error: relative Frobenius error of the value against the float64 ``eigh`` root, and for
  forward+backward keys also of the gradient against the float64 closed form (the larger counts);
- time: median seconds per call (forward, or forward+backward), timed in interleaved rounds.

The entry is written to ``$AI4M_CACHE/sqrtm_auto.json`` (default ``~/.cache/ai4m_kit``), so later
calls and later sessions only look it up; ``ai4m bench sqrtm --calibrate`` re-measures a grid.
The choice is the fastest candidate whose error is at most ``tol``; if none qualifies, the most
accurate one. Accuracy is that of the reference covariances: much worse conditioned inputs need
a smaller ``tol`` (or ``method="eig"``).

This module sits above the methods it chooses between and below :mod:`ai4m_kit.linalg.sqrtm`: it
runs them through :func:`ai4m_kit.linalg.sqrtm_methods.matrix_root`.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from ai4m_kit.files import write_text_atomic
from ai4m_kit.timing import interleaved_medians
from ai4m_kit.linalg.sqrtm_methods import matrix_root
from ai4m_kit.linalg.sqrtm_reference import closed_form_grad, reference_covariance, reference_root

CACHE_FILE = "sqrtm_auto.json"
CACHE_VERSION = 2  # bumped when the file's layout or the meaning of its entries changes

# name -> keyword arguments of sqrtm/inv_sqrtm (and of sqrtm_methods.matrix_root). Spans accuracy
# levels from cheap to exact.
CANDIDATES: dict[str, dict[str, Any]] = {
    "mtp-fast": {"method": "mtp", "lyapunov": "fast"},
    "mtp": {"method": "mtp"},
    "mpa-fast": {"method": "mpa", "lyapunov": "fast"},
    "mpa": {"method": "mpa"},
    "mpa8": {"method": "mpa", "degree": (8, 8)},
    "ns5": {"method": "ns", "iterations": 5},
    "ns7": {"method": "ns", "iterations": 7},
    "ns9": {"method": "ns", "iterations": 9},
    "eig": {"method": "eig"},
}

_DEFAULTS: dict[str, Any] = {
    "degree": None, "iterations": None, "lyapunov": "accurate", "normalisation": "spectral", "lya_iterations": None,
    "lya_tol": None, "eig_grad": "exact", "eig_degree": 9,
}

# Bumped when a method's implementation changes its speed or accuracy: older measurements are
# then not used.
IMPL_VERSION = 3
_memory: dict[str, dict[str, Any]] = {}
_loaded_from: Path | None = None
# (n, batch, dtype, device, inverse, grad, tol, threads, $AI4M_CACHE) -> chosen keyword arguments:
# keeps the per-call overhead of "auto" to one dictionary lookup.
_choices: dict[tuple, dict[str, Any]] = {}


def cache_path() -> Path:
    """``$AI4M_CACHE/sqrtm_auto.json``, else ``~/.cache/ai4m_kit/sqrtm_auto.json``.

    Example:
        >>> cache_path().name
        'sqrtm_auto.json'
    """
    root = os.environ.get("AI4M_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ai4m_kit")
    return Path(root) / CACHE_FILE


def batch_bucket(batch: int) -> int:
    """Nearest power of 4 (1, 4, 16, 64, 256, ...) on a log scale.

    Example:
        >>> [batch_bucket(b) for b in (1, 3, 10, 64, 200)]
        [1, 4, 16, 64, 256]
    """
    if batch <= 1:
        return 1
    return 4 ** int(round(math.log(batch, 4)))


def device_name(device: torch.device | str) -> str:
    """Device label for cache keys: ``cpu`` or the CUDA device's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return "cuda:" + torch.cuda.get_device_name(device)
    return device.type


def cache_key(n: int, batch: int, dtype: torch.dtype, device: torch.device | str, *, inverse: bool, grad: bool) -> str:
    """Key of one measured configuration (the batch is bucketed, 16-bit dtypes count as float32).

    Example:
        >>> cache_key(64, 60, torch.float32, "cpu", inverse=False, grad=True).split("|")[:4]
        ['sqrtm', 'n=64', 'batch=64', 'float32']
    """
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    return "|".join([
        "inv_sqrtm" if inverse else "sqrtm", f"n={n}", f"batch={batch_bucket(batch)}", str(dtype).replace("torch.", ""),
        device_name(device), f"threads={torch.get_num_threads()}", "fwd+bwd" if grad else "fwd", f"impl={IMPL_VERSION}",
    ])


def _load() -> dict[str, dict[str, Any]]:
    global _loaded_from
    path = cache_path()
    if _loaded_from != path:
        _memory.clear()
        _loaded_from = path
        try:
            data = json.loads(path.read_text())
            if data.get("version") == CACHE_VERSION:
                _memory.update(data.get("entries", {}))
        except (OSError, ValueError):
            pass
    return _memory


def _save() -> None:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Merge with what another process may have written meanwhile, then replace atomically.
    entries: dict[str, Any] = {}
    try:
        data = json.loads(path.read_text())
        if data.get("version") == CACHE_VERSION:
            entries.update(data.get("entries", {}))
    except (OSError, ValueError):
        pass
    entries.update(_memory)
    write_text_atomic(path, json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True))


def clear_memory_cache() -> None:
    """Forget entries held in memory (the file is re-read on the next lookup)."""
    global _loaded_from
    _memory.clear()
    _choices.clear()
    _loaded_from = None


def candidate_call(name: str) -> dict[str, Any]:
    """Full keyword arguments (every option set) for candidate ``name``."""
    if name not in CANDIDATES:
        raise ValueError(f"candidate must be one of {sorted(CANDIDATES)}; got {name!r}")
    return {**_DEFAULTS, **CANDIDATES[name]}


def measure(
    n: int,
    batch: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    *,
    inverse: bool = False,
    grad: bool = True,
    repeats: int = 5,
    candidates: Iterable[str] | None = None,
    seed: int = 0,
    tol: float | None = None,
) -> dict[str, dict[str, float | None]]:
    """Measure error and median time of each candidate on ``batch`` reference ``n × n`` covariances.

    Returns ``{name: {"seconds": s, "error": e}}``. See the module docstring for the definitions.
    With ``tol`` only the candidates with error ≤ ``tol`` (or the most accurate one, if none) are
    timed (``seconds`` None for the others), which makes a first ``"auto"`` call cheaper.

    Example:
        >>> r = measure(4, 1, torch.float64, candidates=["eig", "ns5"], repeats=1)
        >>> r["eig"]["error"] < 1e-12 < r["ns5"]["error"]
        True
    """
    names = list(CANDIDATES if candidates is None else candidates)
    A64 = reference_covariance(batch, n=n, seed=seed)
    ref = reference_root(A64, inverse)
    gen = torch.Generator().manual_seed(seed + 1)
    G64 = torch.randn(A64.shape, generator=gen, dtype=torch.float64)
    G64 = G64 + G64.transpose(-2, -1)
    ref_grad = closed_form_grad(A64, G64, inverse) if grad else None
    A = A64.to(dtype=dtype, device=device)
    G = G64.to(dtype=dtype, device=device)

    def rel(x: torch.Tensor, y: torch.Tensor) -> float:
        x = x.detach().double().cpu()
        return float(((x - y).norm(dim=(-2, -1)) / y.norm(dim=(-2, -1))).max())

    calls = {}
    errors = {}
    for name in names:
        kwargs = candidate_call(name)
        if grad:
            X = A.clone().requires_grad_(True)
            out = matrix_root(X, inverse, **kwargs)
            out.backward(G)
            err = max(rel(out, ref), rel(X.grad, ref_grad))

            def call(kwargs=kwargs):
                X = A.clone().requires_grad_(True)
                matrix_root(X, inverse, **kwargs).backward(G)
        else:
            with torch.no_grad():
                err = rel(matrix_root(A, inverse, **kwargs), ref)

            def call(kwargs=kwargs):
                with torch.no_grad():
                    matrix_root(A, inverse, **kwargs)
        errors[name] = err if math.isfinite(err) else float("inf")
        calls[name] = call
    if tol is not None:
        timed = [k for k in names if errors[k] <= tol] or [min(names, key=lambda k: errors[k])]
        calls = {k: calls[k] for k in timed}
    times = interleaved_medians(calls, repeats=repeats, warmup=1, device=device, min_time=0.02)
    return {name: {"seconds": times.get(name), "error": errors[name]} for name in names}


def calibrate(
    n: int,
    batch: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    *,
    inverse: bool = False,
    grad: bool = True,
    repeats: int = 5,
    tol: float | None = None,
) -> dict[str, Any]:
    """Measure one configuration (see :func:`measure`), store it in the cache and return the entry."""
    dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    key = cache_key(n, batch, dtype, device, inverse=inverse, grad=grad)
    results = measure(n, batch_bucket(batch), dtype, device, inverse=inverse, grad=grad, repeats=repeats, tol=tol)
    previous = _load().get(key, {}).get("candidates", {})
    for name, res in results.items():  # keep earlier timings of candidates not timed this time
        if res["seconds"] is None and previous.get(name, {}).get("seconds") is not None:
            res["seconds"] = previous[name]["seconds"]
    entry = {"measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "candidates": results}
    _load()[key] = entry
    _choices.clear()
    _save()
    return entry


def pick(entry: dict[str, Any], tol: float) -> str | None:
    """Fastest candidate of a cache entry with error ≤ ``tol``, else the most accurate one; None
    when a qualifying candidate was never timed (the entry must be re-measured for this ``tol``).

    Example:
        >>> pick({"candidates": {"eig": {"seconds": 1.0, "error": 1e-6}, "ns5": {"seconds": 0.5, "error": 0.1}}}, 1e-3)
        'eig'
    """
    cands = {k: v for k, v in entry["candidates"].items() if k in CANDIDATES}
    if not cands:
        return None
    ok = {k: v for k, v in cands.items() if v["error"] <= tol}
    if not ok:
        best = min(cands, key=lambda k: cands[k]["error"])
        return best
    if any(v["seconds"] is None for v in ok.values()):
        return None
    return min(ok, key=lambda k: ok[k]["seconds"])


def choose_method(
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device | str,
    *,
    inverse: bool = False,
    grad: bool = True,
    tol: float = 1e-3,
) -> dict[str, Any]:
    """Keyword arguments of the configuration ``"auto"`` uses for input ``shape`` (measuring and
    caching it on first use).

    Example:
        >>> choose_method((2, 3, 3), torch.float64, "cpu", grad=False)["method"] in ("mtp", "mpa", "ns", "eig")
        True
    """
    n = shape[-1]
    batch = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fast_key = (n, batch, dtype, str(device), inverse, grad, tol, torch.get_num_threads(), os.environ.get("AI4M_CACHE"))
    hit = _choices.get(fast_key)
    if hit is not None:
        return dict(hit)
    if not tol > 0:
        raise ValueError(f"tol must be > 0; got {tol!r}")
    if batch == 0:
        return candidate_call("eig")
    key = cache_key(n, batch, dtype, device, inverse=inverse, grad=grad)
    entry = _load().get(key)
    name = None if entry is None else pick(entry, tol)
    if name is None:
        entry = calibrate(n, batch, dtype, device, inverse=inverse, grad=grad, repeats=3, tol=tol)
        name = pick(entry, tol)
    _choices[fast_key] = candidate_call(name)
    return candidate_call(name)
