"""Input checks shared by the linear-algebra functions."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import torch

FLOAT_DTYPES = (torch.float32, torch.float64)
HALF_DTYPES = (torch.float16, torch.bfloat16)
# Allowed max |A − Aᵀ| / max |A|: room for the rounding of covariance products.
_DEFAULT_TOL = {torch.float32: 1000 * torch.finfo(torch.float32).eps, torch.float64: 1000 * torch.finfo(torch.float64).eps,
                torch.float16: 1e-2, torch.bfloat16: 1e-2}


@lru_cache(maxsize=64)
def _pair_index(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices of the entries above the diagonal of an ``n × n`` matrix and of their mirrors."""
    i, j = torch.triu_indices(n, n, 1, device=device)
    return i * n + j, j * n + i


# Largest n for which the symmetry test of a large CPU batch compares the mirrored entries picked
# by index_select (see _exactly_symmetric), per dtype; others, and other devices, use torch.equal.
INDEX_SELECT_MAX_N = {torch.float32: 16, torch.float64: 3}


def _exactly_symmetric(A: torch.Tensor) -> bool:
    """``A == Aᵀ`` entry for entry (a NaN may make it False or not: the caller's finiteness test
    catches NaN and inf).

    ``torch.equal(A, A.mT)`` walks the transposed view element by element. On a CPU, from about
    2000 entries on, comparing the entries above the diagonal with their mirrors, each picked by
    one ``index_select`` of the matrices flattened, is faster in float32 up to ``n = 16`` and in
    float64 up to ``n = 3`` (:data:`INDEX_SELECT_MAX_N`): 1 thread, time / ``torch.equal``'s at
    batches 2048 and 8192, float32 0.57–0.64 at n = 8 and 0.85–0.88 at n = 16 (0.18 at n = 2 on
    8192); float64 0.31–0.38 at n = 2, 0.63–0.85 at n = 3, 1.00 at n = 4 and 2.0–2.5 from n = 6
    on (``index_select`` of 8-byte entries is not vectorised: it takes as long for int64, and
    3× longer for int32 than for float32). Below about 2000 entries the two index calls cost more
    than they save."""
    n = A.shape[-1]
    if A.device.type != "cpu" or A.numel() < 2048 or n > INDEX_SELECT_MAX_N.get(A.dtype, 0):
        return torch.equal(A, A.mT)
    up, low = _pair_index(n, A.device)
    flat = A.reshape(-1, n * n)
    return torch.equal(flat.index_select(1, up), flat.index_select(1, low))


def check_symmetric(A: Any, *, name: str = "A", sym_tol: float | None = None, allow_half: bool = False) -> None:
    """Raise a clear TypeError/ValueError unless ``A`` is a finite symmetric float ``(..., n, n)`` tensor.

    ``sym_tol`` is the allowed ``max |A − Aᵀ|`` relative to ``max |A|`` of each matrix (default
    ``1000 ε`` of the dtype, room for the rounding of covariance products; ``1e-2`` for half
    precision, accepted only with ``allow_half``).

    Example:
        >>> check_symmetric(torch.eye(3))
        >>> check_symmetric(torch.zeros(2, 3, 5))
        Traceback (most recent call last):
        ...
        ValueError: A must be square matrices shaped (..., n, n); got shape (2, 3, 5)
    """
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (..., n, n); got {type(A).__name__}")
    if A.dtype not in _DEFAULT_TOL or (A.dtype in HALF_DTYPES and not allow_half):
        dtypes = FLOAT_DTYPES + (HALF_DTYPES if allow_half else ())
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes[:-1]) + f" or {str(dtypes[-1]).replace('torch.', '')}"
        raise TypeError(f"{name} must be {names}; got {A.dtype}")
    shape = A.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name} must be square matrices shaped (..., n, n); got shape {tuple(shape)}")
    if shape[-1] == 0:
        raise ValueError(f"{name} must be matrices of size n ≥ 1; got shape {tuple(shape)} (n = 0)")
    if A.numel() == 0:
        return
    Ad = A.detach() if A.requires_grad else A  # a detached view costs about 1 µs, a fifth of the fast path
    # Fast path, the common case (X + Xᵀ, X Xᵀ and torch.cov are exactly symmetric): one
    # comparison and one reduction; a sum that is not finite sends overflow, NaN and inf to the
    # full check below, which tells them apart. A few µs: this runs before every decomposition.
    if _exactly_symmetric(Ad) and math.isfinite(Ad.sum().item()):
        return
    tol = _DEFAULT_TOL[A.dtype] if sym_tol is None else sym_tol
    if A.dtype in HALF_DTYPES:
        Ad = Ad.float()
    scale = Ad.flatten(-2).abs().amax(-1)
    asym = (Ad - Ad.mT).abs_().flatten(-2).amax(-1)
    # asym − tol·scale ≤ 0 fails for NaN anywhere and for inf (inf − inf is NaN): one sync.
    if bool((asym.sub_(scale, alpha=tol) <= 0).all()):
        return
    if not bool(torch.isfinite(Ad).all()):
        raise ValueError(f"{name} must be finite; got NaN or inf in a tensor of shape {tuple(A.shape)}")
    scale = Ad.flatten(-2).abs().amax(-1)
    asym = (Ad - Ad.mT).abs_().flatten(-2).amax(-1)
    worst = (asym / scale.clamp_min(torch.finfo(Ad.dtype).tiny)).max()
    raise ValueError(f"{name} must be symmetric; got max |A − Aᵀ| / max |A| = {worst.item():.3g} (allowed {tol:.3g})")
