"""Input checks shared by the linear-algebra functions."""

from __future__ import annotations

from typing import Any

import torch

FLOAT_DTYPES = (torch.float32, torch.float64)
HALF_DTYPES = (torch.float16, torch.bfloat16)


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
    dtypes = FLOAT_DTYPES + (HALF_DTYPES if allow_half else ())
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (..., n, n); got {type(A).__name__}")
    if A.dtype not in dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes[:-1]) + f" or {str(dtypes[-1]).replace('torch.', '')}"
        raise TypeError(f"{name} must be {names}; got {A.dtype}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2] or A.shape[-1] == 0:
        raise ValueError(f"{name} must be square matrices shaped (..., n, n); got shape {tuple(A.shape)}")
    if A.numel() == 0:
        return
    half = A.dtype in HALF_DTYPES
    tol = (1e-2 if half else 1000 * torch.finfo(A.dtype).eps) if sym_tol is None else sym_tol
    Ad = A.detach().float() if half else A.detach()
    scale = Ad.abs().amax(dim=(-2, -1))  # NaN or inf anywhere makes it non-finite
    asym = (Ad - Ad.mT).abs().amax(dim=(-2, -1))
    # One synchronisation for the common case; on failure find out which check failed.
    if bool(((asym <= tol * scale) & (scale <= torch.finfo(Ad.dtype).max)).all()):
        return
    if not bool(torch.isfinite(Ad).all()):
        raise ValueError(f"{name} must be finite; got NaN or inf in a tensor of shape {tuple(A.shape)}")
    worst = (asym / scale.clamp_min(torch.finfo(Ad.dtype).tiny)).max()
    raise ValueError(f"{name} must be symmetric; got max |A − Aᵀ| / max |A| = {worst.item():.3g} (allowed {tol:.3g})")
