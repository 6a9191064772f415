"""Differentiable square root and inverse square root of batched symmetric PSD matrices.

Five methods, one signature (``A`` shaped ``(..., n, n)``):

- ``"mtp"``: matrix Taylor polynomial. With a scale ``c`` and ``Z = I − A/c``,
  ``A^{1/2} ≈ √c · Σ_{k≤K} a_k Z^k`` where ``a_k`` are the Taylor coefficients of
  ``√(1 − z)`` (for the inverse root: of ``(1 − z)^{−1/2}`` and ``1/√c``).
- ``"mpa"``: matrix Padé approximant ``[m/n]`` of ``√(1 − z)``: ``A^{1/2} ≈ √c · Q(Z)^{-1} P(Z)``
  and ``A^{-1/2} ≈ P(Z)^{-1} Q(Z) / √c``. The coefficients of ``P`` and ``Q`` are derived from
  the Taylor coefficients by :func:`pade_sqrt_coefficients`.
- The scale ``c`` (``normalisation``): ``"frobenius"`` is the published ``c = ‖A‖_F`` (spectrum
  of ``Z`` in [0, 1]); it overestimates ``λ_max`` by ≈ 3.5× on 64×64 sample covariances, so the
  small eigenvalues sit next to the branch point ``z = 1`` and [5/5] MPA is 2 % off there.
  ``"spectral"`` (default) uses the guaranteed bound ``u = ‖A⁴‖_F^{1/4} ≥ λ_max`` (two extra
  products, within ≈ 15 % of ``λ_max`` on such covariances; :func:`spectral_upper_bound`):
  MTP takes ``c = u/2`` (``Z`` in [−1, 1], where the Taylor series still converges absolutely)
  and MPA ``c = u/4`` (``Z`` in [−3, 1]: the Padé approximant of this Stieltjes-type function
  converges on the whole cut plane, ``Q(Z)`` stays positive definite, and the smallest
  eigenvalues move 4× away from the branch point). Measured on 64×64 covariances (condition
  ≈ 30) in float32: [5/5] MPA relative error 8e-5 instead of 2e-2.
- Both use the **Lyapunov backward**: the gradient of the exact root, ``X`` with
  ``S X + X S = Ḡ`` (``S = A^{1/2}``). ``lyapunov="accurate"`` (default) solves it to a
  tolerance, by default with the squared Smith iteration (:func:`lyapunov_smith`: three products
  per step, four steps and 3e-7 on condition-30 covariances in float32), or with
  ``lya_solver="newton-schulz"``, the Newton–Schulz iteration for the matrix sign of
  ``[[S, Ḡ], [0, −S]]`` of the published method (:func:`lyapunov_newton_schulz`; five products
  per step, Chen–Chow scaled steps when ``s_min`` is known). The gradient is only as accurate
  as ``S`` at the *smallest* eigenvalues, so the accurate mode first measures and polishes ``S``
  (:func:`refine_sqrt`: one inversion per step, each step a degree-5 binomial series that
  leaves ``≈ δ⁶/50`` of an error ``δ``; no step when ``S`` is already within 1e-3; at most 6,
  ``lya_polish`` overrides). The degree-8 Taylor root is ≈ 25 % off there (one step at
  condition ≈ 30, three at ≈ 1000), the [5/5] spectral MPA root 1e-4 at condition ≈ 30 and
  1e-2 at ≈ 150. The polish's ``S⁻¹`` also gives ``s_min`` (power iteration) for the solver.
  Measured gradient errors in float32 (64×64, batch 16) at condition 28 / 144 / 980 / 1410:
  MTP 1.6e-6 / 4.1e-7 / 3.8e-6 / 7.9e-6; MPA 5.3e-6 / 4.2e-5 / 3.1e-3 / 5.8e-3 (its rational
  root is not a polynomial in ``A`` to rounding, and the polish stalls); inverse roots: MTP
  1.5e-5 / 1.2e-6 / 1.2e-5 / 2.3e-5, MPA 1.9e-5 / 1.5e-4 / 1.0e-2 / 1.6e-2. ``"fast"`` runs 5
  Newton–Schulz iterations with spectral scaling on the forward's ``S``, unpolished (2e-2 for
  MPA, 5e-2 for MTP at condition 28); ``"published"`` runs 8 iterations with Frobenius scaling
  (the published setting, 5–7 % off on 64×64 sample covariances).
- ``"ns"``: the coupled Newton–Schulz iteration (Higham), differentiated by autograd.
- ``"eig"``: ``U diag(f(λ)) Uᵀ`` from ``torch.linalg.eigh``; gradient ``eig_grad="exact"``
  (Daleckii–Krein divided differences in closed form: ``1/(√λ_i + √λ_j)``), or ``"taylor"`` /
  ``"pade"`` (the eigenvector backward with the stable approximations of ``1/(λ_i − λ_j)`` of
  :mod:`ai4m_kit.linalg.eig_grad`).
- ``"auto"``: the fastest method meeting an accuracy ``tol`` for this shape, dtype and device,
  from cached measurements (:mod:`ai4m_kit.linalg.sqrtm_auto`).

float16 / bfloat16 inputs are computed in float32 and cast back. Eigenvalues below a small
floor (rank-deficient input) give finite values and gradients for ``eig``; the inverse root
of a singular matrix is regularised at that floor.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import torch

from ai4m_kit.linalg.checks import check_symmetric
from ai4m_kit.linalg.eig_grad import GRAD_MODES, symmetric_eig_backward

METHODS = ("auto", "mtp", "mpa", "ns", "eig")
LYAPUNOV_MODES = ("accurate", "fast", "published")
DEFAULT_MTP_DEGREE = 8
DEFAULT_MPA_DEGREE = (5, 5)
DEFAULT_NS_ITERATIONS = 5
FAST_LYAPUNOV_ITERATIONS = 5
PUBLISHED_LYAPUNOV_ITERATIONS = 8
REFINE_STEPS = 6  # at most; refine_sqrt stops once converged
POLISH_DEGREE = 5  # binomial-series degree of each refine_sqrt step
POLISH_RTOL = 1e-3  # root error bound at which the backward's polish stops
SMITH_TOL = 1e-5  # relative error bound at which the squared Smith iteration stops
LYAPUNOV_SOLVERS = ("smith", "newton-schulz")
SMITH_MAX_ITERATIONS = 12  # 2^12 terms: enough up to condition numbers ~1e9
NORMALISATIONS = ("spectral", "frobenius")
# c = u / divisor with u >= λ_max (see the module docstring for why each value).
SPECTRAL_DIVISOR = {"mtp": 2.0, "mpa": 4.0}
# The accurate Lyapunov iteration starts with ‖B_0‖ up to this factor (< √3, where the cubic
# Newton–Schulz sign iteration still converges): small eigenvalues start larger, saving steps.
LYAPUNOV_OVERSCALE = 1.5
# s_min from a power iteration on S⁻¹ is slightly over-estimated: the scaled Lyapunov iteration
# assumes 0.7 of it.
LYAPUNOV_LOWER_SAFETY = 0.7
ACCURATE_LYAPUNOV_TOL = 1e-3


# --------------------------------------------------------------------------- coefficients
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


def _parse_mpa_degree(degree: Any) -> tuple[int, int]:
    if degree is None:
        return DEFAULT_MPA_DEGREE
    if isinstance(degree, int) and not isinstance(degree, bool):
        return (degree, degree)
    if isinstance(degree, (tuple, list)) and len(degree) == 2 and all(isinstance(d, int) for d in degree):
        return (int(degree[0]), int(degree[1]))
    raise TypeError(f"degree for method 'mpa' must be an int m (for [m/m]) or a pair (m, n); got {degree!r}")


# --------------------------------------------------------------------------- validation
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
    which saves a pass over memory: on CPU such passes cost about half a 64×64 product)."""
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


def _scaled_powers(A: torch.Tensor, method: str, degree: int, normalisation: str):
    """Scale ``c``, powers ``[I, Z, …, Z^degree]`` of ``Z = I − A/c``, and the bound ``u ≥ λ_max``."""
    eye = _eye_like(A)
    if normalisation == "frobenius":
        c = _fro(A)
        return c, _powers(_add_to_diagonal_(A * (-1.0 / c), 1.0), degree), c
    u, Y2 = spectral_upper_bound(A)
    c = (u / SPECTRAL_DIVISOR[method]).clamp_min(torch.finfo(A.dtype).tiny)  # all-zero A: c = tiny
    Z = _add_to_diagonal_(A * (-1.0 / c), 1.0)  # I − A/c in one pass
    powers = [eye, Z] if degree >= 1 else [eye]
    if degree >= 2:  # Z² = 2Z − I + A²/c² without a product (A² = ‖A‖_F² Y2)
        powers.append(_add_to_diagonal_((Y2 * (_fro(A) / c) ** 2).add_(Z, alpha=2.0), -1.0))
    for k in range(3, degree + 1):
        half = k // 2
        powers.append(powers[half] @ powers[k - half])
    return c, powers, u


def _spd_solve(M: torch.Tensor, B: torch.Tensor | None = None) -> torch.Tensor:
    """``M^{-1} B`` (``M^{-1}`` when ``B`` is None) for symmetric positive definite ``M`` by Cholesky
    (inverse then one product: on CPU two batched triangular solves cost more); LU where Cholesky
    fails."""
    L, info = torch.linalg.cholesky_ex(M)
    if bool((info != 0).any()):
        return torch.linalg.inv(M) if B is None else torch.linalg.solve(M, B)
    inv = torch.cholesky_inverse(L)
    return inv if B is None else inv @ B


# --------------------------------------------------------------------------- forward kernels
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


def _mtp_forward(A: torch.Tensor, degree: int, want_sqrt: bool, want_inv: bool, normalisation: str = "spectral"):
    block = max(1, math.ceil(math.sqrt(degree)))
    c, powers, u = _scaled_powers(A, "mtp", block, normalisation)
    S = paterson_stockmeyer(taylor_sqrt_coefficients(degree), powers) * c.sqrt() if want_sqrt else None
    R = paterson_stockmeyer(taylor_sqrt_coefficients(degree, True), powers) / c.sqrt() if want_inv else None
    return S, R, u


def _mpa_forward(A: torch.Tensor, degree: tuple[int, int], want_sqrt: bool, want_inv: bool,
                 normalisation: str = "spectral"):
    m, n = degree
    c, powers, u = _scaled_powers(A, "mpa", max(m, n), normalisation)
    p, q = pade_sqrt_coefficients(m, n)
    P = _poly_matrix(p, powers[: m + 1])
    Q = _poly_matrix(q, powers[: n + 1])
    # P and Q are polynomials in the same Z, so they commute and Q^{-1}P = P Q^{-1}. Both are
    # positive definite for a PSD A (their zeros lie on the branch cut z > 1).
    S = _spd_solve(Q, P) * c.sqrt() if want_sqrt else None
    R = _spd_solve(P, Q) / c.sqrt() if want_inv else None
    return S, R, u


def _ns_forward(A: torch.Tensor, iterations: int, inverse: bool) -> torch.Tensor:
    """Coupled Newton–Schulz: Y → (A/c)^{1/2}, W → (A/c)^{−1/2}; differentiable by autograd."""
    c = _fro(A)
    Y = A / c
    eye = _eye_like(A)
    W = None  # None stands for the identity (saves the first product)
    for k in range(iterations):
        # T = ½(3I − W Y), the sum fused into the product (one pass fewer, as in MTP/MPA)
        T = _add_to_diagonal_(-0.5 * Y, 1.5) if W is None else _baddbmm(eye, W, Y, beta=1.5, alpha=-0.5)
        if k == iterations - 1:  # the last step only updates the iterate that is returned
            if inverse:
                W = T if W is None else T @ W
            else:
                Y = Y @ T
            break
        Y, W = Y @ T, (T if W is None else T @ W)
    if inverse:
        return W / c.sqrt()
    return Y * c.sqrt()


# --------------------------------------------------------------------------- Lyapunov backward
def lyapunov_newton_schulz(
    S: torch.Tensor,
    G: torch.Tensor,
    *,
    iterations: int | None = None,
    tol: float | None = None,
    max_iterations: int = 100,
    scale: str | torch.Tensor = "spectral",
    lower: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Solve ``S X + X S = G`` for symmetric positive definite ``S`` (batched) by the
    Newton–Schulz iteration for ``sign([[S, G], [0, −S]]) = [[I, 2X], [0, −I]]``.

    With ``B_0 = S/s``, ``C_0 = G/s`` (``s`` a scale ≥ ‖S‖₂ so the spectrum lies in (0, 1]):

        B_{k+1} = ½ B_k (3I − B_k²),   C_{k+1} = ½ (3C_k − B_k² C_k − C_k B_k² + B_k C_k B_k),

    and ``X = C_∞ / 2``. ``iterations`` fixes the count; otherwise the loop stops when
    ``max |B_k² − I| < tol`` (default: 100 × machine epsilon of the dtype), after at most
    ``max_iterations``. ``scale="spectral"`` estimates ‖S‖₂ by power iteration (fewer iterations
    than ``"fro"``, the Frobenius scaling of the published code); a tensor (shape (..., 1, 1)) is
    used as ``s`` directly (``s`` down to ‖S‖₂/1.7 still converges, as the iteration does for a
    spectrum in (0, √3)). ``lower``: a lower bound of the spectrum of ``S/s`` (which must then lie
    in (0, 1]) turns on the scaled iteration of Chen and Chow: each step multiplies ``B`` and ``C``
    by ``α = √(3/(1 + l + l²))``, which maps ``[l, 1]`` onto ``[l', 1]`` with ``l'`` as large as a
    cubic allows (condition-30 covariances: 5 steps instead of 6–7); a bound that is too high only
    slows the eigenvalues below it down. Returns ``(X, iterations run)``.

    Example:
        >>> S = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
        >>> X, _ = lyapunov_newton_schulz(S, torch.ones(2, 2, dtype=torch.float64))
        >>> [[round(v, 6) for v in row] for row in X.tolist()]  # 1/(s_i + s_j)
        [[0.5, 0.2], [0.2, 0.125]]
    """
    if isinstance(scale, torch.Tensor):
        s = scale
    elif scale == "fro":
        s = _fro(S)
    elif scale == "spectral":
        s = _spectral_norm_estimate(S) * 1.01
    else:
        raise ValueError(f"scale must be 'spectral', 'fro' or a tensor; got {scale!r}")
    shape = S.shape
    n = shape[-1]
    # Batched products with fused scaled additions (baddbmm) need one batch dimension.
    B = (S / s).reshape(-1, n, n)
    C = (_sym(G) / s).reshape(-1, n, n)
    if tol is None:
        tol = 100 * torch.finfo(S.dtype).eps
    count = iterations if iterations is not None else max_iterations
    done = 0
    low = lower
    for k in range(count):
        B2 = B @ B
        # After one step every eigenvalue of B lies in [0, 1], so I − B² is positive semidefinite
        # and its largest entry is on its diagonal: max |B² − I| = max_i (1 − (B²)_ii), read from
        # n entries per matrix instead of a pass over all n².
        if iterations is None and k >= 2 and (1.0 - B2.diagonal(dim1=-2, dim2=-1)).abs().amax().item() < tol:
            break
        a = 1.0
        if low is not None:  # Chen–Chow scaling: B, C ← αB, αC before the step
            a = (3.0 / (1.0 + low + low * low)) ** 0.5
            low = min(1.0, 0.5 * a * low * (3.0 - a * a * low * low))
        a3 = a ** 3
        D = B @ C
        # K = ½(1.5 C − B² C + ½ B C B) (the ½ and the scaling folded into the products);
        # C ← K + Kᵀ = 1.5C − ½(B²C + CB²) + ½ BCB. Symmetrising explicitly keeps C exactly
        # symmetric: with B ≈ I an antisymmetric round-off part of C would otherwise double at
        # every step.
        K = torch.baddbmm(C, B2, C, beta=0.75 * a, alpha=-0.5 * a3)
        K = torch.baddbmm(K, D, B, alpha=0.25 * a3)
        C = K + K.transpose(-2, -1)
        B = torch.baddbmm(B, B, B2, beta=1.5 * a, alpha=-0.5 * a3)  # ½ αB (3I − α²B²)
        done = k + 1
    return (0.5 * C).reshape(shape), done


def lyapunov_smith(
    S: torch.Tensor,
    G: torch.Tensor,
    *,
    iterations: int | None = None,
    tol: float = SMITH_TOL,
    max_iterations: int = 12,
    upper: torch.Tensor | None = None,
    lower: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """Solve ``S X + X S = G`` for symmetric positive definite ``S`` (batched) by the squared
    Smith iteration (the ADI method with one shift, its terms summed by repeated squaring).

    With a shift ``p > 0``, ``K = (S + pI)⁻¹`` (one Cholesky inverse of a well-conditioned
    matrix), ``U = (S − pI) K = I − 2pK`` and ``W = 2p K G K``, the solution is
    ``X = Σ_{j≥0} Uʲ W Uʲ``: in the eigenbasis of ``S`` the terms sum to
    ``G_ij / (s_i + s_j)``. ``X ← X + U X U``, ``U ← U²`` doubles the number of terms per step
    (three products), and ``X − X_k = U_k X U_k`` exactly, so the relative error after a step
    with ``U_k`` is at most ``‖U_k‖₂⁴ ≤ ‖U_k‖_F⁴``: the loop stops once that is below ``tol``
    (default ``1e-5``), after ``iterations`` steps if given, when ``‖U_k‖_F`` stops decreasing
    (a singular ``S``, where no solution exists; the result stays finite), or after
    ``max_iterations``. Every ``|u| = |s − p|/(s + p) < 1``, so it converges for any ``p``;
    ``p = √(s_min s_max)`` minimises the largest ``|u|``, ``(√κ − 1)/(√κ + 1)`` for
    ``κ = s_max/s_min``. ``upper`` / ``lower`` (shape (..., 1, 1)) are estimates of ``s_max`` /
    ``s_min``; missing ones come from power iterations (on ``S`` and on ``s_max I − S``): their
    accuracy only changes the number of steps, not the result. Compared with the Newton–Schulz
    sign iteration (five products per step, :func:`lyapunov_newton_schulz`) it needs four steps
    instead of five to six on condition-30 covariances, and reaches 3e-7 instead of 3e-5
    (float32, measured). Returns ``(X, steps run)``.

    Example:
        >>> S = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
        >>> X, _ = lyapunov_smith(S, torch.ones(2, 2, dtype=torch.float64), tol=1e-14)
        >>> [[round(v, 10) for v in row] for row in X.tolist()]  # 1/(s_i + s_j)
        [[0.5, 0.2], [0.2, 0.125]]
    """
    shape = S.shape
    n = shape[-1]
    S = S.reshape(-1, n, n)
    tiny = torch.finfo(S.dtype).tiny

    def per_matrix(x: Any) -> torch.Tensor:  # a bound given for (..., 1, 1) as (batch, 1, 1)
        return torch.as_tensor(x, dtype=S.dtype, device=S.device).expand(shape[:-2] + (1, 1)).reshape(-1, 1, 1)

    upper = _spectral_norm_estimate(S) * 1.01 if upper is None else per_matrix(upper)
    if lower is None:  # s_max − λ_max(s_max I − S)
        lower = upper - _spectral_norm_estimate(upper * _eye_like(S) - S)
    else:
        lower = per_matrix(lower)
    p = (lower.clamp_min(upper * 1e-8) * upper).sqrt().clamp_min(tiny)
    K = _spd_solve(S + p * _eye_like(S))
    X = torch.bmm(K @ _sym(G).reshape(-1, n, n), K).mul_(2.0 * p)
    U = _add_to_diagonal_(K.mul_(-2.0 * p), 1.0)
    count = iterations if iterations is not None else max_iterations
    previous = float("inf")
    done = 0
    for k in range(count):
        if iterations is None:
            f = torch.linalg.matrix_norm(U).amax().item()
            if not f < 0.999 * previous:  # stalled (singular S) or NaN
                break
            previous = f
        X = torch.baddbmm(X, U @ X, U)
        done = k + 1
        if k == count - 1 or (iterations is None and f ** 4 <= tol):
            break
        U = U @ U
    return X.reshape(shape), done


def _spectral_norm_estimate(S: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Power-iteration estimate of the largest eigenvalue of symmetric PSD S, shape (..., 1, 1).
    The iterate is a row vector (``vᵀS = (Sv)ᵀ``): on CPU a batched row-vector product is ≈ 6×
    faster than the column-vector one (45 vs 300 µs for 64 matrices 64×64, measured)."""
    n = S.shape[-1]
    v = torch.ones(S.shape[:-2] + (1, n), dtype=S.dtype, device=S.device)
    v = v + 0.01 * torch.arange(n, dtype=S.dtype, device=S.device)
    tiny = torch.finfo(S.dtype).tiny
    for _ in range(steps):
        v = v @ S
        v = v / v.norm(dim=-1, keepdim=True).clamp_min(tiny)
    lam = ((v @ S) * v).sum(dim=-1, keepdim=True)
    return lam.clamp_min(tiny)


def _lyapunov_settings(lyapunov: str, iterations: int | None, tol: float | None,
                       normalisation: str = "spectral", polish: int | None = None,
                       solver: str | None = None) -> dict[str, Any]:
    if lyapunov not in LYAPUNOV_MODES:
        raise ValueError(f"lyapunov must be one of {LYAPUNOV_MODES}; got {lyapunov!r}")
    if solver is not None and solver not in LYAPUNOV_SOLVERS:
        raise ValueError(f"lya_solver must be one of {LYAPUNOV_SOLVERS}; got {solver!r}")
    if iterations is not None and (not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1):
        raise ValueError(f"lya_iterations must be a positive int; got {iterations!r}")
    if tol is not None and not tol > 0:
        raise ValueError(f"lya_tol must be > 0; got {tol!r}")
    if polish is not None and (not isinstance(polish, int) or isinstance(polish, bool) or polish < 0):
        raise ValueError(f"lya_polish must be an int >= 0; got {polish!r}")
    if lyapunov == "fast":
        return {"iterations": iterations or FAST_LYAPUNOV_ITERATIONS, "tol": None, "scale": "spectral",
                "refine": polish or 0, "solver": solver or "newton-schulz"}
    if lyapunov == "published":
        return {"iterations": iterations or PUBLISHED_LYAPUNOV_ITERATIONS, "tol": None, "scale": "fro",
                "refine": polish or 0, "solver": solver or "newton-schulz"}
    solver = solver or "smith"
    if tol is None:
        tol = SMITH_TOL if solver == "smith" else ACCURATE_LYAPUNOV_TOL
    # The gradient is only as accurate as the root at the smallest eigenvalues: the degree-8 Taylor
    # root is ≈ 25 % off there, the [5/5] spectral MPA root 1e-4 at condition ≈ 30 but 1e-2 at
    # condition ≈ 150 (gradient 1e-4 and 1.2e-2). The polish measures and fixes it (one inversion
    # when already within POLISH_RTOL), and its last S⁻¹ gives s_min for the Lyapunov solver.
    return {"iterations": iterations, "tol": tol, "scale": "bound" if normalisation == "spectral" else "spectral",
            "refine": REFINE_STEPS if polish is None else polish, "max_iterations": 50, "solver": solver}


def refine_sqrt(A: torch.Tensor, S: torch.Tensor, max_steps: int = 6, rtol: float | None = None,
                return_inverse: bool = False, degree: int = POLISH_DEGREE) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Polish an approximate root ``S`` of ``A`` that commutes with ``A`` (a polynomial or rational
    function of ``A``, as MTP and MPA give).

    Each step inverts ``S`` (Cholesky; LU where ``S`` is not numerically positive definite) and
    forms ``E = S⁻¹(S⁻¹A) − I``, so that ``A^{1/2} = S (I + E)^{1/2}``, and ``δ = ‖E‖_F`` (the
    largest over the batch), an upper bound of ``‖E‖₂``. (The largest entry of ``E`` is no such
    bound: on 64×64 covariances it is 5–10× smaller than ``‖E‖₂``, whose eigenvectors are spread
    over all coordinates.) If ``δ < 1`` the binomial series of ``(I + E)^{1/2}`` to ``degree``
    converges, and ``S ← S + (S⁻¹A − S) Σ_{k=1}^{K} b_k E^{k−1}`` (``S E = S⁻¹A − S``; the sum by
    Paterson–Stockmeyer: degree 5 in 5 products with the inverse's one) leaves a relative error of
    at most ``|b_{K+1}| δ^{K+1} / (1 − δ)`` per eigenvalue. Otherwise it takes a Newton step
    ``S ← ½ (S + S⁻¹A)`` (the degree-1 series, which converges from any positive definite start;
    error about ``δ²/8``). One inversion then does the work of three Newton steps (degree 5 from
    ``δ = 0.5``: ``7e-4``, where Newton leaves ``3e-2``). Steps are symmetrised (plain steps drift
    off the symmetric matrices at high condition in float32, measured); a matrix whose step is
    not finite keeps its ``S``.

    The loop stops before a step if ``S`` is already within ``rtol`` (relative error at most
    ``δ / (2(1 − δ))``; default ``rtol``: ``100 ε`` of the dtype), after the step whose error
    bound is at most ``rtol``, or once ``δ`` stops decreasing: zero eigenvalues of singular
    input (``E`` stays near ``−1`` there) or the rounding floor of an ill-conditioned ``A``, where
    these iterations are unstable (Higham) and would diverge. With ``return_inverse`` also
    returns the last ``S⁻¹`` computed (of the result itself when no step was needed; else of the
    iterate before the last step, whose smallest eigenvalues are within ``δ`` of the result's).

    Example:
        >>> A = torch.diag(torch.tensor([4.0, 9.0], dtype=torch.float64))
        >>> S = refine_sqrt(A, torch.diag(torch.tensor([2.2, 2.7], dtype=torch.float64)))
        >>> [round(v, 12) for v in S.diagonal().tolist()]
        [2.0, 3.0]
    """
    if not isinstance(degree, int) or isinstance(degree, bool) or degree < 1:
        raise ValueError(f"degree must be an int >= 1; got {degree!r}")
    if rtol is None:
        rtol = 100 * torch.finfo(S.dtype).eps
    # Σ_{k≥1} b_k E^{k−1} with b_k the coefficients of √(1 + e) = Σ_k a_k (−e)^k
    b = [a * (-1.0) ** k for k, a in enumerate(taylor_sqrt_coefficients(degree + 1))]
    series, next_coef = tuple(b[1:degree + 1]), abs(b[degree + 1])
    s = max(1, math.ceil(math.sqrt(degree - 1)))  # Paterson–Stockmeyer block size
    previous = float("inf")
    for _ in range(max_steps):
        L, info = torch.linalg.cholesky_ex(S)
        fallback = bool((info != 0).any())
        M = torch.linalg.inv_ex(S)[0] if fallback else torch.cholesky_inverse(L)
        MA = M @ A
        E = _add_to_diagonal_(M @ MA, -1.0)
        delta = torch.linalg.matrix_norm(E).amax().item()
        if delta < 1.0 and delta / (2.0 * (1.0 - delta)) <= rtol:  # S already within rtol
            break
        if delta < 1.0 and degree > 1:
            powers = _powers(E, s)
            step = S + (MA - S) @ paterson_stockmeyer(series, powers)
            bound = next_coef * delta ** (degree + 1) / (1.0 - delta)
        else:
            step = torch.add(S, MA).mul_(0.5)
            bound = delta * delta / 8.0 if delta < 1.0 else float("inf")
        step = _sym(step)
        if fallback:  # S not numerically positive definite: keep S where the step is not finite
            ok = torch.isfinite(step).flatten(-2).all(dim=-1)[..., None, None]
            step = torch.where(ok, step, S)
        S = step
        if bound <= rtol or not delta < previous:  # converged, stalled, or NaN
            break
        previous = delta
    return (S, M) if return_inverse else S


class _LyapunovRoot(torch.autograd.Function):
    """Forward by MTP or MPA; backward: gradient of the exact root through the Lyapunov equation."""

    @staticmethod
    def forward(ctx, A, method, degree, inverse, lya, normalisation):  # type: ignore[override]
        need_grad = ctx.needs_input_grad[0]
        kernel = _mtp_forward if method == "mtp" else _mpa_forward
        S, R, u = kernel(A, degree, want_sqrt=not inverse or need_grad, want_inv=inverse,
                         normalisation=normalisation)
        ctx.inverse, ctx.lya, ctx.method = inverse, lya, method
        if need_grad:
            ctx.save_for_backward(A if lya["refine"] else None, S, R if inverse else None, u)
        return R if inverse else S

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        A, S, R, u = ctx.saved_tensors
        G = _sym(grad)
        lya = dict(ctx.lya)
        refine, solver = lya.pop("refine"), lya.pop("solver")
        bound = lya["scale"] == "bound"
        inv_norm = None  # ‖S⁻¹‖₂ = 1/s_min, by power iteration on the polish's last inverse
        if refine:
            S, M = refine_sqrt(A, S, max_steps=refine, rtol=POLISH_RTOL, return_inverse=True)
            inv_norm = _spectral_norm_estimate(M, steps=4)
            if ctx.inverse:
                R = _spd_solve(S)
        if ctx.inverse:
            # d(S^{-1}) = −R dS R, so the upstream gradient on S is −R Ḡ R.
            G = -(R @ G @ R)
        if solver == "smith":
            upper = u.sqrt() if bound else None  # ‖S‖₂ ≤ √u
            lower = None if inv_norm is None else 1.0 / inv_norm
            X, _ = lyapunov_smith(S, G, iterations=lya["iterations"], tol=lya["tol"],
                                  max_iterations=SMITH_MAX_ITERATIONS, upper=upper, lower=lower)
            return _sym(X), None, None, None, None, None
        if bound:  # ‖S‖₂ ≤ √u: start with ‖B_0‖ ≤ LYAPUNOV_OVERSCALE < √3
            lya["scale"] = u.sqrt() / LYAPUNOV_OVERSCALE
            if inv_norm is not None and lya["iterations"] is None:
                # s_min (over-estimated a little: a safety factor) lets the iteration take the
                # scaled steps on [s_min/√u, 1].
                lower = float((LYAPUNOV_LOWER_SAFETY / (inv_norm * u.sqrt())).amin())
                if 0.0 < lower < 1.0:
                    lya["scale"], lya["lower"] = u.sqrt(), lower
        X, _ = lyapunov_newton_schulz(S, G, **lya)
        return _sym(X), None, None, None, None, None


# --------------------------------------------------------------------------- eigendecomposition
def _eig_floor(evals: torch.Tensor) -> torch.Tensor:
    """Eigenvalues below n·eps·max|λ| are round-off of a PSD matrix; the absolute √tiny term
    keeps the floor positive for an all-zero matrix."""
    info = torch.finfo(evals.dtype)
    top = evals.abs().amax(dim=-1, keepdim=True)
    return top * (evals.shape[-1] * info.eps) + info.tiny ** 0.5


class _EigRootExact(torch.autograd.Function):
    """``U diag(f(λ)) Uᵀ`` with the Daleckii–Krein backward in closed form (finite for ties)."""

    @staticmethod
    def forward(ctx, A, inverse):  # type: ignore[override]
        evals, U = torch.linalg.eigh(A)
        lam = torch.maximum(evals, _eig_floor(evals))
        s = lam.sqrt()
        fvals = 1.0 / s if inverse else torch.sqrt(evals.clamp_min(0))
        ctx.inverse = inverse
        ctx.save_for_backward(U, s)
        return (U * fvals.unsqueeze(-2)) @ U.transpose(-2, -1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        U, s = ctx.saved_tensors
        si, sj = s.unsqueeze(-1), s.unsqueeze(-2)
        L = 1.0 / (si + sj)  # divided difference of √λ: (√λi − √λj)/(λi − λj)
        if ctx.inverse:
            L = -L / (si * sj)  # of 1/√λ: −1/(√λi √λj (√λi + √λj))
        inner = L * (U.transpose(-2, -1) @ _sym(grad) @ U)
        return _sym(U @ inner @ U.transpose(-2, -1)), None


class _EighStableGrad(torch.autograd.Function):
    """``torch.linalg.eigh`` whose backward uses the stable ``1/(λi − λj)`` approximations."""

    @staticmethod
    def forward(ctx, A, mode, degree):  # type: ignore[override]
        evals, evecs = torch.linalg.eigh(A)
        ctx.mode, ctx.degree = mode, degree
        ctx.save_for_backward(evals, evecs)
        return evals, evecs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_evals, grad_evecs):  # type: ignore[override]
        evals, evecs = ctx.saved_tensors
        # Round-off eigenvalues of a PSD matrix (even all-zero ones) are lifted to the floor, so
        # the stable 1/(λi − λj) approximations stay finite.
        evals = torch.maximum(evals, _eig_floor(evals))
        gA = symmetric_eig_backward(evals, evecs, grad_evals, grad_evecs, mode=ctx.mode, degree=ctx.degree)
        return gA, None, None


def _eig_root(A: torch.Tensor, inverse: bool, eig_grad: str, eig_degree: int) -> torch.Tensor:
    if eig_grad == "exact":
        return _EigRootExact.apply(A, inverse)
    evals, U = _EighStableGrad.apply(A, eig_grad, eig_degree)
    lam = torch.maximum(evals, _eig_floor(evals).detach())
    fvals = lam.rsqrt() if inverse else lam.sqrt()
    return (U * fvals.unsqueeze(-2)) @ U.transpose(-2, -1)


# --------------------------------------------------------------------------- public API
def _root(
    A: torch.Tensor,
    inverse: bool,
    method: str,
    degree: Any,
    iterations: int | None,
    lyapunov: str,
    normalisation: str,
    lya_iterations: int | None,
    lya_tol: float | None,
    lya_polish: int | None,
    lya_solver: str | None,
    eig_grad: str,
    eig_degree: int,
    tol: float,
    check: bool,
    sym_tol: float | None,
) -> torch.Tensor:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if eig_grad not in GRAD_MODES:
        raise ValueError(f"eig_grad must be one of {GRAD_MODES}; got {eig_grad!r}")
    if check:
        check_symmetric(A, name="A", sym_tol=sym_tol, allow_half=True)
    elif not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a torch.Tensor shaped (..., n, n); got {type(A).__name__}")
    if method == "auto":
        from ai4m_kit.linalg.sqrtm_auto import choose_method

        need_grad = A.requires_grad and torch.is_grad_enabled()
        choice = choose_method(tuple(A.shape), A.dtype, A.device, inverse=inverse, grad=need_grad, tol=tol)
        return _root(A, inverse, check=False, sym_tol=None, tol=tol, **{"lya_polish": lya_polish, "lya_solver": lya_solver, **choice})
    orig_dtype = A.dtype
    if orig_dtype in (torch.float16, torch.bfloat16):
        A = A.float()
    A = _sym(A)
    if method in ("mtp", "mpa"):
        if method == "mtp":
            deg = DEFAULT_MTP_DEGREE if degree is None else degree
            if not isinstance(deg, int) or isinstance(deg, bool) or deg < 1:
                raise ValueError(f"degree for method 'mtp' must be an int >= 1; got {degree!r}")
        else:
            deg = _parse_mpa_degree(degree)
            if min(deg) < 0 or max(deg) < 1:
                raise ValueError(f"degree for method 'mpa' must have orders >= 0, not both 0; got {degree!r}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}; got {normalisation!r}")
        lya = _lyapunov_settings(lyapunov, lya_iterations, lya_tol, normalisation, lya_polish, lya_solver)
        out = _LyapunovRoot.apply(A, method, deg, inverse, lya, normalisation)
    elif method == "ns":
        its = DEFAULT_NS_ITERATIONS if iterations is None else iterations
        if not isinstance(its, int) or isinstance(its, bool) or its < 1:
            raise ValueError(f"iterations for method 'ns' must be an int >= 1; got {iterations!r}")
        out = _ns_forward(A, its, inverse)
    else:
        if not isinstance(eig_degree, int) or eig_degree < 1:
            raise ValueError(f"eig_degree must be an int >= 1; got {eig_degree!r}")
        out = _eig_root(A, inverse, eig_grad, eig_degree)
    return out.to(orig_dtype)


def sqrtm(
    A: torch.Tensor,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    iterations: int | None = None,
    lyapunov: str = "accurate",
    normalisation: str = "spectral",
    lya_iterations: int | None = None,
    lya_tol: float | None = None,
    lya_polish: int | None = None,
    lya_solver: str | None = None,
    eig_grad: str = "exact",
    eig_degree: int = 9,
    tol: float = 1e-3,
    check: bool = True,
    sym_tol: float | None = None,
) -> torch.Tensor:
    """Principal square root of symmetric PSD matrices ``A`` shaped ``(..., n, n)``.

    Args:
        A: symmetric positive semi-definite matrices, float16/bfloat16/float32/float64
            (16-bit inputs are computed in float32 and cast back).
        method: ``"auto"``, ``"mtp"``, ``"mpa"``, ``"ns"`` or ``"eig"`` (see the module docstring).
        degree: MTP degree K (default 8) or MPA orders ``(m, n)`` / ``m`` for ``[m/m]`` (default
            ``(5, 5)``).
        iterations: Newton–Schulz iterations for ``"ns"`` (default 5).
        lyapunov: backward of MTP/MPA: ``"accurate"`` (default: solves to ``lya_tol``;
            gradients within 1e-3 of the closed form), ``"fast"`` (5 Newton–Schulz iterations,
            spectral scaling, forward's root) or ``"published"`` (8 iterations, Frobenius scaling).
        normalisation: scale ``c`` of ``Z = I − A/c`` for MTP/MPA: ``"spectral"`` (default:
            from the bound ``‖A⁴‖_F^{1/4} ≥ λ_max``; [5/5] MPA within 1e-4 on condition-30
            covariances) or ``"frobenius"`` (``c = ‖A‖_F`` as published; percent-level MPA error, and the
            accurate backward's polish takes more steps).
        lya_iterations: fixed Lyapunov step count (overrides the mode's and ``lya_tol``).
        lya_tol: stopping tolerance of the accurate mode: for ``"smith"`` a bound on the relative
            error of the Lyapunov solution (default 1e-5), for ``"newton-schulz"`` on
            ``max |B² − I|`` (default 1e-3).
        lya_polish: at most this many polishing steps on the forward's root before the Lyapunov
            solve (:func:`refine_sqrt`), stopping once within 1e-3 (default: 6 in the accurate
            mode, 0 otherwise; ``0`` turns it off; see the module docstring for the measured
            effect on ill-conditioned covariances).
        lya_solver: Lyapunov solver: ``"smith"`` (default of the accurate mode; squared Smith
            iteration, :func:`lyapunov_smith`) or ``"newton-schulz"`` (the matrix-sign iteration
            of the published method, default of ``"fast"`` and ``"published"``;
            :func:`lyapunov_newton_schulz`).
        eig_grad: ``"exact"``, ``"taylor"`` or ``"pade"`` backward for ``"eig"``.
        eig_degree: series degree of the ``"taylor"``/``"pade"`` eigen-backward.
        tol: accuracy required by ``"auto"`` (relative Frobenius error of value and gradient on
            reference covariances; see :mod:`ai4m_kit.linalg.sqrtm_auto`).
        check: validate the input (square, finite, symmetric within ``sym_tol``).
        sym_tol: relative symmetry tolerance per matrix (default 1000 ε of the dtype, 1e-2 for 16-bit;
            see :func:`ai4m_kit.linalg.checks.check_symmetric`).

    Returns:
        ``A^{1/2}`` with the shape and dtype of ``A``.

    Example:
        >>> A = torch.diag(torch.tensor([4.0, 9.0], dtype=torch.float64))
        >>> sqrtm(A, method="eig").diagonal().tolist()
        [2.0, 3.0]
        >>> torch.allclose(sqrtm(A, method="mpa", degree=(8, 8)), sqrtm(A, method="eig"), atol=1e-6)
        True
    """
    return _root(A, False, method, degree, iterations, lyapunov, normalisation, lya_iterations, lya_tol, lya_polish, lya_solver, eig_grad,
                 eig_degree, tol, check, sym_tol)


def inv_sqrtm(
    A: torch.Tensor,
    method: str = "auto",
    *,
    degree: int | tuple[int, int] | None = None,
    iterations: int | None = None,
    lyapunov: str = "accurate",
    normalisation: str = "spectral",
    lya_iterations: int | None = None,
    lya_tol: float | None = None,
    lya_polish: int | None = None,
    lya_solver: str | None = None,
    eig_grad: str = "exact",
    eig_degree: int = 9,
    tol: float = 1e-3,
    check: bool = True,
    sym_tol: float | None = None,
) -> torch.Tensor:
    """Inverse principal square root ``A^{−1/2}`` of symmetric positive definite matrices.

    Same arguments as :func:`sqrtm`. MTP uses the Taylor series of ``(1 − z)^{−1/2}``, MPA the
    swapped approximant ``P(Z)^{-1} Q(Z)``, NS the second coupled iterate; MTP/MPA gradients go
    through ``d(S^{-1}) = −S^{-1} dS S^{-1}`` and the Lyapunov solver. Singular input: ``"eig"``
    regularises eigenvalues at ``n · eps · max λ``; the iterative methods return large values.

    Example:
        >>> A = torch.diag(torch.tensor([4.0, 16.0], dtype=torch.float64))
        >>> inv_sqrtm(A, method="eig").diagonal().tolist()
        [0.5, 0.25]
    """
    return _root(A, True, method, degree, iterations, lyapunov, normalisation, lya_iterations, lya_tol, lya_polish, lya_solver, eig_grad,
                 eig_degree, tol, check, sym_tol)


# --------------------------------------------------------------------------- oracles
def reference_covariance(
    *shape: int,
    n: int,
    samples_per_dim: float = 2.0,
    ridge: float = 1e-3,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Sample covariances ``X Xᵀ / N + ridge·I`` of ``N = samples_per_dim · n`` standard normal
    samples, shaped ``(*shape, n, n)``: full rank, condition number ≈ 30 for the defaults.
    ``samples_per_dim < 1`` gives rank-deficient matrices (with ``ridge=0``).

    Example:
        >>> reference_covariance(3, n=4).shape
        torch.Size([3, 4, 4])
    """
    gen = torch.Generator().manual_seed(seed)
    N = max(1, int(round(samples_per_dim * n)))
    X = torch.randn(*shape, n, N, generator=gen, dtype=torch.float64)
    C = X @ X.transpose(-2, -1) / N + ridge * torch.eye(n, dtype=torch.float64)
    return _sym(C).to(dtype=dtype, device=device)


def closed_form_grad(A: torch.Tensor, grad_out: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Float64 gradient of ``⟨grad_out, A^{±1/2}⟩`` w.r.t. ``A`` by the Daleckii–Krein formula
    from ``torch.linalg.eigh`` (the oracle for the Lyapunov backward).

    Example:
        >>> A = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
        >>> closed_form_grad(A, torch.ones(2, 2, dtype=torch.float64)).tolist()
        [[0.5, 0.3333333333333333], [0.3333333333333333, 0.25]]
    """
    A64 = _sym(A.detach().double())
    evals, U = torch.linalg.eigh(A64)
    s = evals.clamp_min(0).sqrt()
    si, sj = s.unsqueeze(-1), s.unsqueeze(-2)
    L = 1.0 / (si + sj)
    if inverse:
        L = -L / (si * sj)
    G = _sym(grad_out.detach().double())
    return U @ (L * (U.transpose(-2, -1) @ G @ U)) @ U.transpose(-2, -1)


def reference_root(A: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Float64 ``A^{±1/2}`` from ``torch.linalg.eigh`` (the forward oracle).

    Example:
        >>> reference_root(torch.eye(2) * 4).tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """
    evals, U = torch.linalg.eigh(_sym(A.detach().double()))
    f = evals.clamp_min(0).rsqrt() if inverse else evals.clamp_min(0).sqrt()
    return (U * f.unsqueeze(-2)) @ U.transpose(-2, -1)
