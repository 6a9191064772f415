"""The backward of the series roots: the Lyapunov equation ``S X + X S = G`` and the polish of
an approximate root that makes its solution accurate.

- :func:`lyapunov_smith`: the squared Smith iteration (three products per step);
- :func:`lyapunov_newton_schulz`: the Newton–Schulz iteration for the matrix sign of
  ``[[S, G], [0, −S]]`` of the published method (five products per step, Chen–Chow scaled steps
  when a lower bound of the spectrum is known);
- :func:`refine_sqrt`: polishes a root ``S`` of ``A`` by binomial-series steps, since the
  gradient is only as accurate as ``S`` at the smallest eigenvalues.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ai4m_kit.linalg.sqrtm_series import (
    _add_to_diagonal_,
    _eye_like,
    _fro,
    _powers,
    _spd_solve,
    _spectral_norm_estimate,
    _sym,
    paterson_stockmeyer,
    taylor_sqrt_coefficients,
)

POLISH_DEGREE = 5  # binomial-series degree of each refine_sqrt step
SMITH_TOL = 1e-5  # relative error bound at which the squared Smith iteration stops


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
    cubic allows (fewer steps); a bound that is too high only slows the eigenvalues below it
    down. Returns ``(X, iterations run)``.

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
    sign iteration (five products per step, :func:`lyapunov_newton_schulz`) it needs fewer and
    cheaper steps on sample covariances, and ends closer to the solution in float32. Returns
    ``(X, steps run)``.

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


def refine_sqrt(A: torch.Tensor, S: torch.Tensor, max_steps: int = 6, rtol: float | None = None,
                return_inverse: bool = False, degree: int = POLISH_DEGREE) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Polish an approximate root ``S`` of ``A`` that commutes with ``A`` (a polynomial or rational
    function of ``A``, as MTP and MPA give).

    Each step inverts ``S`` (Cholesky; LU where ``S`` is not numerically positive definite) and
    forms ``E = S⁻¹(S⁻¹A) − I``, so that ``A^{1/2} = S (I + E)^{1/2}``, and ``δ = ‖E‖_F`` (the
    largest over the batch), an upper bound of ``‖E‖₂``. (The largest entry of ``E`` is no such
    bound: on covariances it is much smaller than ``‖E‖₂``, whose eigenvectors are spread over all
    coordinates.) If ``δ < 1`` the binomial series of ``(I + E)^{1/2}`` to ``degree``
    converges, and ``S ← S + (S⁻¹A − S) Σ_{k=1}^{K} b_k E^{k−1}`` (``S E = S⁻¹A − S``; the sum by
    Paterson–Stockmeyer: degree 5 in 5 products with the inverse's one) leaves a relative error of
    at most ``|b_{K+1}| δ^{K+1} / (1 − δ)`` per eigenvalue. Otherwise it takes a Newton step
    ``S ← ½ (S + S⁻¹A)`` (the degree-1 series, which converges from any positive definite start;
    error about ``δ²/8``). One inversion then does the work of three Newton steps (degree 5 from
    ``δ = 0.5``: ``7e-4``, where Newton leaves ``3e-2``). Steps are symmetrised (plain steps drift
    off the symmetric matrices at high condition in float32); a matrix whose step is
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
