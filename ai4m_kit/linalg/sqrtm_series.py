"""Matrix series for the square root: Taylor and Padé coefficients of ``√(1 − z)``, their
evaluation at a matrix (Paterson–Stockmeyer), bounds of the largest eigenvalue, and the small
batched helpers the methods of :mod:`ai4m_kit.linalg.sqrtm_methods` and the Lyapunov solvers of
:mod:`ai4m_kit.linalg.sqrtm_lyapunov` share.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=64)
def taylor_sqrt_coefficients(degree: int, inverse: bool = False) -> tuple[float, ...]:
    """Taylor coefficients ``a_0..a_K`` of ``√(1 − z)`` (or ``(1 − z)^{−1/2}`` if ``inverse``).

    ``(1 − z)^p = Σ_k binom(p, k) (−z)^k`` gives the recurrence ``a_k = a_{k−1} (k − 1 − p)/k``.

    Example:
        >>> taylor_sqrt_coefficients(3)
        (1.0, -0.5, -0.125, -0.0625)
        >>> taylor_sqrt_coefficients(2, inverse=True)
        (1.0, 0.5, 0.375)
    """
    if degree < 0:
        raise ValueError(f"degree must be >= 0; got {degree}")
    p = -0.5 if inverse else 0.5
    coeffs = [1.0]
    for k in range(1, degree + 1):
        coeffs.append(coeffs[-1] * (k - 1 - p) / k)
    return tuple(coeffs)


@lru_cache(maxsize=64)
def pade_sqrt_coefficients(m: int, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Coefficients ``(p, q)``, lowest order first, ``q_0 = 1``, of the ``[m/n]`` Padé
    approximant ``P(z)/Q(z)`` of ``√(1 − z)``.

    Matching the Taylor coefficients ``a_k`` up to order ``m + n``: ``Σ_j q_j a_{k−j} = 0`` for
    ``k = m+1..m+n`` (a linear system for ``q_1..q_n``), then ``p_k = Σ_{j≤min(k,n)} q_j a_{k−j}``.

    Example:
        >>> p, q = pade_sqrt_coefficients(1, 1)
        >>> [round(v, 6) for v in p], [round(v, 6) for v in q]
        ([1.0, -0.75], [1.0, -0.25])
    """
    if m < 0 or n < 0:
        raise ValueError(f"Padé orders must be >= 0; got [{m}/{n}]")
    a = torch.tensor(taylor_sqrt_coefficients(m + n), dtype=torch.float64)

    def coef(i: int) -> torch.Tensor:
        return a[i] if i >= 0 else a.new_zeros(())

    if n > 0:
        M = torch.stack([torch.stack([coef(k - j) for j in range(1, n + 1)]) for k in range(m + 1, m + n + 1)])
        rhs = -a[m + 1 : m + n + 1]
        q = torch.cat([a.new_ones(1), torch.linalg.solve(M, rhs)])
    else:
        q = a.new_ones(1)
    p = torch.stack([sum(q[j] * coef(k - j) for j in range(0, min(k, n) + 1)) for k in range(m + 1)])
    return tuple(p.tolist()), tuple(q.tolist())


# --------------------------------------------------------------------------- batched helpers
def _sym(X: torch.Tensor) -> torch.Tensor:
    return 0.5 * (X + X.transpose(-2, -1))


def _eye_like(A: torch.Tensor) -> torch.Tensor:
    return torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)


def _add_to_diagonal_(X: torch.Tensor, value: float) -> torch.Tensor:
    """``X += value·I`` in place (touches n entries per matrix, not n²)."""
    X.diagonal(dim1=-2, dim2=-1).add_(value)
    return X


def _baddbmm(C: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, beta: float = 1.0, alpha: float = 1.0) -> torch.Tensor:
    """``beta·C + alpha·X Y`` for any batch shape in one BLAS call (the sum is fused in the product,
    which saves a pass over memory)."""
    n = X.shape[-1]
    out = torch.baddbmm(C.reshape(-1, n, n), X.reshape(-1, n, n), Y.reshape(-1, n, n), beta=beta, alpha=alpha)
    return out.reshape(X.shape)


def _fro(A: torch.Tensor) -> torch.Tensor:
    """Frobenius norm per matrix, shape (..., 1, 1), floored away from zero."""
    c = torch.linalg.matrix_norm(A, ord="fro").unsqueeze(-1).unsqueeze(-1)
    return c.clamp_min(torch.finfo(A.dtype).tiny)


def spectral_upper_bound(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Guaranteed upper bound ``u = ‖A⁴‖_F^{1/4} ≥ λ_max`` of symmetric ``A`` (shape (..., 1, 1))
    and ``(A/‖A‖_F)²`` (reused by the forward for ``Z²``).

    ``‖A⁴‖_F = (Σ λ_i⁸)^{1/4} ≥ λ_max⁴``; computed on ``A/‖A‖_F`` so float32 cannot overflow.

    Example:
        >>> u, _ = spectral_upper_bound(torch.diag(torch.tensor([1.0, 2.0], dtype=torch.float64)))
        >>> round(float(u), 4)  # (1 + 2⁸)^{1/8}; the Frobenius norm is 2.2361
        2.001
    """
    f = _fro(A)
    Y = A / f
    Y2 = Y @ Y
    u = f * _fro(Y2 @ Y2) ** 0.25
    return u.clamp_min(torch.finfo(A.dtype).tiny), Y2


def _spectral_norm_estimate(S: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Power-iteration estimate of the largest eigenvalue of symmetric PSD S, shape (..., 1, 1).
    The iterate is a row vector (``vᵀS = (Sv)ᵀ``): on CPU a batched row-vector product is much
    faster than the column-vector one."""
    n = S.shape[-1]
    v = torch.ones(S.shape[:-2] + (1, n), dtype=S.dtype, device=S.device)
    v = v + 0.01 * torch.arange(n, dtype=S.dtype, device=S.device)
    tiny = torch.finfo(S.dtype).tiny
    for _ in range(steps):
        v = v @ S
        v = v / v.norm(dim=-1, keepdim=True).clamp_min(tiny)
    lam = ((v @ S) * v).sum(dim=-1, keepdim=True)
    return lam.clamp_min(tiny)


def _spd_solve(M: torch.Tensor, B: torch.Tensor | None = None) -> torch.Tensor:
    """``M^{-1} B`` (``M^{-1}`` when ``B`` is None) for symmetric positive definite ``M`` by Cholesky
    (inverse then one product: on CPU two batched triangular solves cost more); LU where Cholesky
    fails."""
    L, info = torch.linalg.cholesky_ex(M)
    if bool((info != 0).any()):
        return torch.linalg.inv(M) if B is None else torch.linalg.solve(M, B)
    inv = torch.cholesky_inverse(L)
    return inv if B is None else inv @ B


# --------------------------------------------------------------------------- polynomials of a matrix
def _poly_matrix(coeffs: tuple[float, ...], powers: list[torch.Tensor]) -> torch.Tensor:
    """Σ_k coeffs[k] Z^k given powers[k] = Z^k (powers[0] = I): one pass per non-constant term."""
    if len(coeffs) == 1:
        return coeffs[0] * powers[0]
    out = powers[1] * coeffs[1]
    for c, Zk in zip(coeffs[2:], powers[2:]):
        out.add_(Zk, alpha=c)
    return _add_to_diagonal_(out, coeffs[0])


def _powers(Z: torch.Tensor, degree: int) -> list[torch.Tensor]:
    powers = [_eye_like(Z)]
    if degree >= 1:
        powers.append(Z)
    for _ in range(2, degree + 1):
        powers.append(powers[-1] @ Z)
    return powers


def paterson_stockmeyer(coeffs: tuple[float, ...], powers: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_k coeffs[k] Z^k`` given ``powers = [I, Z, …, Z^s]``, by Horner's rule in ``Z^s`` with
    blocks of ``s`` terms: ``⌈K/s⌉ − 1`` products instead of the ``K − s`` of forming every power
    (degree 8 with ``s = 3``: 3 products in all instead of 7).

    Example:
        >>> Z = torch.tensor([[0.5, 0.1], [0.1, 0.2]], dtype=torch.float64)
        >>> powers = [torch.eye(2, dtype=torch.float64), Z, Z @ Z, Z @ Z @ Z]
        >>> direct = sum(c * torch.linalg.matrix_power(Z, k) for k, c in enumerate([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]))
        >>> torch.allclose(paterson_stockmeyer((1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0), powers), direct)
        True
    """
    s = len(powers) - 1
    K = len(coeffs) - 1
    if K <= s:
        return _poly_matrix(coeffs, powers[: K + 1])
    J = K // s
    blocks = [coeffs[j * s : (j + 1) * s] for j in range(J + 1)]
    if len(blocks[J]) == 1:  # top block a_K·I: (Z^s)·a_K I needs no product
        out = _poly_matrix(blocks[J - 1] + blocks[J], powers)
        J -= 1
    else:
        out = _poly_matrix(blocks[J], powers)
    for j in range(J - 1, -1, -1):
        out = _baddbmm(_poly_matrix(blocks[j], powers), powers[s], out)
    return out
