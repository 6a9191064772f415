"""Backward pass of the symmetric eigendecomposition, with stable approximations.

For ``A = U diag(λ) Uᵀ`` and upstream gradients ``λ̄``, ``Ū`` the gradient is

    Ā = U (diag(λ̄) + sym(K ∘ (Uᵀ Ū))) Uᵀ,   K_ij = 1 / (λ_j − λ_i)  (i ≠ j),  K_ii = 0,

with ``sym(X) = (X + Xᵀ)/2`` because ``A`` is symmetric. ``K`` explodes for close eigenvalues.
Writing ``1/(λ_j − λ_i) = (1/λ_b) · 1/(1 − x)`` with ``λ_b`` the eigenvalue of larger magnitude
and ``x = λ_s/λ_b`` (|x| ≤ 1), the stable variants replace ``1/(1 − x)``:

- ``"taylor"``: the truncated geometric series ``Σ_{k=0}^{K} x^k`` (finite at x = 1: K + 1);
- ``"pade"``: a least-squares Padé-type approximant of that truncated series, equal to it at
  x = 1 (finite) but about ten times closer to ``1/(1 − x)`` for |x| ≤ 1/2.

This module is shared by ``ai4m_kit.linalg.eigh`` and the eigendecomposition branch of the matrix
square root.
"""

from __future__ import annotations

from functools import lru_cache

import torch

GRAD_MODES = ("exact", "taylor", "pade")


@lru_cache(maxsize=32)
def pade_coefficients(degree: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Coefficients (p, q), lowest order first, of the ``[m/m]`` Padé-type approximant of the
    degree-K truncated geometric series ``T_K(x) = Σ_{k=0}^{K} x^k``, with ``m = (K − 1) // 2``.

    A classical Padé approximant of ``T_K`` with ``2m < K`` would reproduce the pole of
    ``1/(1 − x)`` at ``x = 1``. Here the denominator is fitted in the linearised least-squares
    sense to the whole coefficient sequence of ``T_K`` (ones up to ``K``, then zeros up to
    ``2K + 2``), so the approximant keeps ``r(1) = K + 1`` like the Taylor series but follows
    ``1/(1 − x)`` much more closely for ``|x| < 1``. The denominator is checked to stay positive on
    ``[−1, 1]``.

    Example:
        >>> p, q = pade_coefficients(9)
        >>> round(_poly(p, torch.tensor(1.0, dtype=torch.float64)).item()
        ...       / _poly(q, torch.tensor(1.0, dtype=torch.float64)).item(), 6)
        10.0
    """
    if degree < 2:
        raise ValueError(f"Padé gradient needs degree >= 2; got {degree}")
    m = (degree - 1) // 2
    length = 2 * degree + 2
    c = torch.zeros(length + 1, dtype=torch.float64)
    c[: degree + 1] = 1.0
    rows = torch.stack([
        torch.stack([c[i - j] if i - j >= 0 else c.new_zeros(()) for j in range(1, m + 1)])
        for i in range(m + 1, length + 1)
    ])
    rhs = -c[m + 1 : length + 1].unsqueeze(-1)
    q = torch.cat([torch.ones(1, dtype=torch.float64), torch.linalg.lstsq(rows, rhs).solution.squeeze(-1)])
    p = torch.stack([sum(q[j] * c[i - j] for j in range(0, min(i, m) + 1)) for i in range(m + 1)])
    grid = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    if _poly(q.tolist(), grid).min() <= 0:
        raise ArithmeticError(f"Padé denominator for degree {degree} vanishes on [-1, 1]")
    return tuple(p.tolist()), tuple(q.tolist())


def _poly(coeffs, x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    for c in reversed(coeffs):
        out = out * x + c
    return out


def inverse_gap_matrix(evals: torch.Tensor, mode: str = "exact", degree: int = 9, eps: float | None = None) -> torch.Tensor:
    """``K_ij ≈ 1/(λ_j − λ_i)`` for ``i ≠ j`` and 0 on the diagonal, shape ``(..., n, n)``.

    Args:
        evals: eigenvalues ``(..., n)``.
        mode: ``"exact"`` (infinite for repeated eigenvalues), ``"taylor"`` or ``"pade"``
            (finite for repeated eigenvalues).
        degree: series degree K for ``"taylor"`` and ``"pade"`` (see :func:`pade_coefficients`).
        eps: floor on ``|λ_b|`` for the approximations (default: 10 × machine epsilon × max |λ|,
            at least the square root of the smallest normal number).

    Example:
        >>> K = inverse_gap_matrix(torch.tensor([1.0, 3.0]))
        >>> K.tolist()
        [[0.0, 0.5], [-0.5, 0.0]]
    """
    if mode not in GRAD_MODES:
        raise ValueError(f"mode must be one of {GRAD_MODES}; got {mode!r}")
    li = evals.unsqueeze(-1)  # λ_i along rows
    lj = evals.unsqueeze(-2)  # λ_j along columns
    n = evals.shape[-1]
    off = ~torch.eye(n, dtype=torch.bool, device=evals.device)
    if mode == "exact":
        K = 1.0 / (lj - li)
        return torch.where(off, K, torch.zeros((), dtype=evals.dtype, device=evals.device))
    if degree < 1:
        raise ValueError(f"degree must be >= 1 for mode {mode!r}; got {degree}")
    if eps is None:
        scale = evals.abs().amax(dim=-1, keepdim=True).unsqueeze(-1)
        # Relative floor, plus an absolute one that does not underflow (all-zero spectra).
        eps_t = (10 * torch.finfo(evals.dtype).eps * scale).clamp_min(torch.finfo(evals.dtype).tiny ** 0.5)
    else:
        eps_t = torch.as_tensor(eps, dtype=evals.dtype, device=evals.device)
    # Ties (repeated eigenvalues) are broken by index so that K stays antisymmetric.
    idx = torch.arange(n, device=evals.device)
    j_big = (lj.abs() > li.abs()) | ((lj.abs() == li.abs()) & (idx.unsqueeze(0) > idx.unsqueeze(1)))
    big = torch.where(j_big, lj, li)
    small = torch.where(j_big, li, lj)
    big_safe = torch.where(big.abs() < eps_t, torch.where(big < 0, -eps_t, eps_t), big)
    x = small / big_safe
    if mode == "taylor":
        series = _poly((1.0,) * (degree + 1), x)
    else:
        p, q = pade_coefficients(degree)
        series = _poly(p, x) / _poly(q, x)
    # 1/(λ_j − λ_i): when λ_j is the big one it is +(1/λ_j)·1/(1 − λ_i/λ_j); otherwise the sign flips.
    sign = torch.where(j_big, 1.0, -1.0).to(evals.dtype)
    K = sign * series / big_safe
    return torch.where(off, K, torch.zeros((), dtype=evals.dtype, device=evals.device))


def symmetric_eig_backward(
    evals: torch.Tensor,
    evecs: torch.Tensor,
    grad_evals: torch.Tensor | None,
    grad_evecs: torch.Tensor | None,
    mode: str = "exact",
    degree: int = 9,
) -> torch.Tensor:
    """Gradient w.r.t. a symmetric ``A`` of a loss on ``(evals, evecs) = eigh(A)``; symmetric output."""
    U = evecs
    inner = torch.zeros_like(U)
    if grad_evecs is not None:
        K = inverse_gap_matrix(evals, mode=mode, degree=degree)
        inner = K * (U.transpose(-2, -1) @ grad_evecs)
    if grad_evals is not None:
        inner = inner + torch.diag_embed(grad_evals)
    G = U @ inner @ U.transpose(-2, -1)
    return 0.5 * (G + G.transpose(-2, -1))
