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

    ``torch.equal(A, A.mT)`` walks the transposed view element by element. On a CPU, for large
    batches of small matrices, comparing the entries above the diagonal with their mirrors, each
    picked by one ``index_select`` of the matrices flattened, is faster: in float32 up to
    ``n = 16``, in float64 only up to ``n = 3`` (``index_select`` of 8-byte entries is not
    vectorised); :data:`INDEX_SELECT_MAX_N` holds those limits. For small tensors the two index
    calls cost more than they save."""
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
    Ad = A.detach() if A.requires_grad else A  # a detached view costs a share of the fast path
    # Fast path, the common case (X + Xᵀ, X Xᵀ and torch.cov are exactly symmetric): one
    # comparison and one reduction; a sum that is not finite sends overflow, NaN and inf to the
    # full check below, which tells them apart. Kept cheap: this runs before every decomposition.
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
    _check_finite(Ad, name)
    scale = Ad.flatten(-2).abs().amax(-1)
    asym = (Ad - Ad.mT).abs_().flatten(-2).amax(-1)
    worst = (asym / scale.clamp_min(torch.finfo(Ad.dtype).tiny)).max()
    raise ValueError(f"{name} must be symmetric; got max |A − Aᵀ| / max |A| = {worst.item():.3g} (allowed {tol:.3g})")


def _matrix_index(flat_index: int, batch_shape: torch.Size) -> str:
    """Batch index of the ``flat_index``-th matrix, as printed in messages (``0`` for one matrix)."""
    if len(batch_shape) <= 1:
        return str(flat_index)
    index = []
    for size in reversed(batch_shape):
        flat_index, i = divmod(flat_index, size)
        index.append(i)
    return str(tuple(index[::-1]))


def _check_finite(A: torch.Tensor, name: str) -> None:
    """Raise a ValueError naming the first matrix of ``A`` (..., n, n) that holds NaN or inf."""
    finite = torch.isfinite(A).flatten(-2).all(dim=-1).reshape(-1)
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0, 0])
    matrix = A.reshape(-1, *A.shape[-2:])[first]
    what = "NaN" if bool(torch.isnan(matrix).any()) else "inf"
    raise ValueError(f"{name} must be finite; matrix {_matrix_index(first, A.shape[:-2])} holds {what} "
                     f"(batch shape {tuple(A.shape[:-2])})")


def eigenvalue_tolerance(evals: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Round-off level of the eigenvalues ``evals`` (..., n) of symmetric matrices stored in
    ``dtype``: ``n · ε · max |λ|`` per matrix (ε of ``dtype``).

    Rounding the entries of a matrix, or computing it as ``X Xᵀ``, moves its eigenvalues by about
    ``ε · max |λ|`` times a factor that grows with ``n``; an eigenvalue of a positive
    semi-definite matrix within this tolerance of zero is indistinguishable from zero, the floor
    that :func:`ai4m_kit.linalg.sqrtm` with ``method="eig"`` also lifts round-off eigenvalues to.

    Example:
        >>> eigenvalue_tolerance(torch.tensor([[-4.0, 1.0], [0.0, 1.0]]), torch.float32)
        tensor([9.5367e-07, 2.3842e-07])
    """
    return evals.shape[-1] * torch.finfo(dtype).eps * evals.abs().amax(dim=-1)


def check_positive_semidefinite(A: torch.Tensor, *, name: str = "A", definite: bool = False, hint: str = "") -> None:
    """Raise a ValueError unless every matrix of symmetric ``A`` (..., n, n) is positive
    semi-definite (``definite``: positive definite) up to round-off.

    With the tolerance ``t = n · ε · max |λ|`` of each matrix (:func:`eigenvalue_tolerance`, ε of
    ``A``'s dtype), a matrix passes if its smallest eigenvalue is at least ``−t`` (``definite``:
    above ``t``; within ``±t`` it is singular to working precision). The message names the first
    matrix that fails, its smallest eigenvalue and the tolerance; ``hint`` is appended to it.

    Cost: one Cholesky factorisation per matrix screens the batch, of ``A + δI`` with
    ``δ = n · ε · max |A_ii| ≤ t`` (``definite``: of ``A − δI`` with ``δ = n · ε · ‖A‖_F ≥ t``),
    so that a factorisation that succeeds proves the test passed (up to the rounding of the
    factorisation itself); only the matrices it does not pass, such as singular ones, have their
    eigenvalues computed. Runs without autograd on a detached view; NaN and inf get their own
    message. The symmetric part ``(A + Aᵀ)/2`` is tested; 16-bit input in float32.

    Example:
        >>> check_positive_semidefinite(torch.zeros(2, 3, 3))  # singular, but semi-definite
        >>> A = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[-4.0, 0.0], [0.0, 1.0]]])
        >>> check_positive_semidefinite(A)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: A must be positive semi-definite; matrix 1 has eigenvalue -4 (tolerance -9.54e-07: n·eps ...)
    """
    if not isinstance(A, torch.Tensor) or not A.is_floating_point():
        got = A.dtype if isinstance(A, torch.Tensor) else type(A).__name__
        raise TypeError(f"{name} must be a floating-point torch.Tensor shaped (..., n, n); got {got}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must be square matrices shaped (..., n, n); got shape {tuple(A.shape)}")
    if A.numel() == 0:
        return
    n = A.shape[-1]
    eps = torch.finfo(A.dtype).eps
    with torch.no_grad():
        Ad = A.detach()
        if Ad.dtype in HALF_DTYPES:
            Ad = Ad.float()
        S = Ad.reshape(-1, n, n)
        S = (S + S.mT).mul_(0.5)  # a new tensor: shifted in place below
        diag = S.diagonal(dim1=-2, dim2=-1)
        if definite:
            shift = torch.linalg.matrix_norm(S).mul_(-n * eps)  # ‖A‖_F ≥ max |λ|
        else:
            shift = diag.abs().amax(dim=-1).mul_(n * eps)  # max |A_ii| ≤ max |λ|
        diag.add_(shift.unsqueeze(-1))
        L, info = torch.linalg.cholesky_ex(S)
        # NaN can pass a factorisation (info 0) but reaches a diagonal entry of L.
        passed = (info == 0) & torch.isfinite(L.diagonal(dim1=-2, dim2=-1)).all(dim=-1)
        if bool(passed.all()):
            return
        suspects = (~passed).nonzero().squeeze(-1)
        M = Ad.reshape(-1, n, n)[suspects]
        if not bool(torch.isfinite(M).all()):
            _check_finite(Ad, name)  # names the first matrix of the batch with NaN or inf
        M = 0.5 * (M + M.mT)
        evals = torch.linalg.eigvalsh(M)
        tol = eigenvalue_tolerance(evals, A.dtype)
        smallest = evals[:, 0]
        bad = smallest <= tol if definite else smallest < -tol
        if not bool(bad.any()):
            return
        k = int(bad.nonzero()[0, 0])
    index = _matrix_index(int(suspects[k]), A.shape[:-2])
    lam, t, top = float(smallest[k]), float(tol[k]), float(evals[k].abs().amax())
    scale = f"n·eps relative to the largest |eigenvalue|, {top:.3g}"
    if lam < -t:
        kind = "definite" if definite else "semi-definite"
        message = f"{name} must be positive {kind}; matrix {index} has eigenvalue {lam:.3g} (tolerance {-t:.3g}: {scale})"
    else:
        message = (f"{name} must be positive definite; matrix {index} is singular to working precision: its smallest "
                   f"eigenvalue {lam:.3g} is within the tolerance ±{t:.3g} of 0 ({scale})")
    raise ValueError(message + (f"; {hint}" if hint else ""))
