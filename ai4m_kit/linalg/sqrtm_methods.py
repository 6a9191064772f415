"""The methods of :func:`ai4m_kit.linalg.sqrtm` / :func:`~ai4m_kit.linalg.inv_sqrtm`, one
call each: :func:`matrix_root` (no input checks, no ``"auto"``: those are ``sqrtm``'s).

- ``"mtp"``: matrix Taylor polynomial. With a scale ``c`` and ``Z = I − A/c``,
  ``A^{1/2} ≈ √c · Σ_{k≤K} a_k Z^k`` where ``a_k`` are the Taylor coefficients of
  ``√(1 − z)`` (for the inverse root: of ``(1 − z)^{−1/2}`` and ``1/√c``).
- ``"mpa"``: matrix Padé approximant ``[m/n]`` of ``√(1 − z)``: ``A^{1/2} ≈ √c · Q(Z)^{-1} P(Z)``
  and ``A^{-1/2} ≈ P(Z)^{-1} Q(Z) / √c``. The coefficients of ``P`` and ``Q`` are derived from
  the Taylor coefficients by :func:`~ai4m_kit.linalg.sqrtm_series.pade_sqrt_coefficients`.
- The scale ``c`` (``normalisation``): ``"frobenius"`` is the published ``c = ‖A‖_F`` (spectrum
  of ``Z`` in [0, 1]); it overestimates ``λ_max`` several times on sample covariances, so the
  small eigenvalues sit next to the branch point ``z = 1``, where the series converge slowly.
  ``"spectral"`` (default) uses the guaranteed bound ``u = ‖A⁴‖_F^{1/4} ≥ λ_max`` (two extra
  products, much closer to ``λ_max``; :func:`~ai4m_kit.linalg.sqrtm_series.spectral_upper_bound`):
  MTP takes ``c = u/2`` (``Z`` in [−1, 1], where the Taylor series still converges absolutely)
  and MPA ``c = u/4`` (``Z`` in [−3, 1]: the Padé approximant of this Stieltjes-type function
  converges on the whole cut plane, ``Q(Z)`` stays positive definite, and the smallest
  eigenvalues move 4 times further from the branch point).
- Both use the **Lyapunov backward**: the gradient of the exact root, ``X`` with
  ``S X + X S = Ḡ`` (``S = A^{1/2}``; :mod:`ai4m_kit.linalg.sqrtm_lyapunov`).
  ``lyapunov="accurate"`` (default) solves it to a tolerance, by default with the squared Smith
  iteration, or with ``lya_solver="newton-schulz"``, the matrix-sign iteration of the published
  method. The gradient is only as accurate as ``S`` at the *smallest* eigenvalues, so the
  accurate mode first measures and polishes ``S`` (``refine_sqrt``: one inversion per step, each
  step a degree-5 binomial series; no step when ``S`` is already within 1e-3; at most 6,
  ``lya_polish`` overrides); the polish's ``S⁻¹`` also gives ``s_min`` for the solver. MPA's
  rational root is not a polynomial in ``A`` to rounding, so on ill-conditioned input its
  polish stalls earlier and its gradient is less accurate than MTP's. ``"fast"`` runs 5
  Newton–Schulz iterations with spectral scaling on the forward's ``S``, unpolished;
  ``"published"`` runs 8 iterations with Frobenius scaling (the published setting).
- ``"ns"``: the coupled Newton–Schulz iteration (Higham), differentiated by autograd.
- ``"eig"``: ``U diag(f(λ)) Uᵀ`` from ``torch.linalg.eigh``; gradient ``eig_grad="exact"``
  (Daleckii–Krein divided differences in closed form: ``1/(√λ_i + √λ_j)``), or ``"taylor"`` /
  ``"pade"`` (the eigenvector backward with the stable approximations of ``1/(λ_i − λ_j)`` of
  :mod:`ai4m_kit.linalg.eig_grad`).

float16 / bfloat16 inputs are computed in float32 and cast back. Eigenvalues below a small
floor (rank-deficient input) give finite values and gradients for ``eig``; the inverse root
of a singular matrix is regularised at that floor (``sqrtm`` refuses such input unless
``check=False``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ai4m_kit.linalg.eig_grad import GRAD_MODES, symmetric_eig_backward
from ai4m_kit.linalg.sqrtm_lyapunov import SMITH_TOL, lyapunov_newton_schulz, lyapunov_smith, refine_sqrt
from ai4m_kit.linalg.sqrtm_series import (
    _add_to_diagonal_,
    _baddbmm,
    _eye_like,
    _fro,
    _poly_matrix,
    _powers,
    _spd_solve,
    _spectral_norm_estimate,
    _sym,
    pade_sqrt_coefficients,
    paterson_stockmeyer,
    spectral_upper_bound,
    taylor_sqrt_coefficients,
)

METHODS = ("mtp", "mpa", "ns", "eig")
LYAPUNOV_MODES = ("accurate", "fast", "published")
DEFAULT_MTP_DEGREE = 8
DEFAULT_MPA_DEGREE = (5, 5)
DEFAULT_NS_ITERATIONS = 5
FAST_LYAPUNOV_ITERATIONS = 5
PUBLISHED_LYAPUNOV_ITERATIONS = 8
REFINE_STEPS = 6  # at most; refine_sqrt stops once converged
POLISH_RTOL = 1e-3  # root error bound at which the backward's polish stops
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


def _parse_mpa_degree(degree: Any) -> tuple[int, int]:
    if degree is None:
        return DEFAULT_MPA_DEGREE
    if isinstance(degree, int) and not isinstance(degree, bool):
        return (degree, degree)
    if isinstance(degree, (tuple, list)) and len(degree) == 2 and all(isinstance(d, int) for d in degree):
        return (int(degree[0]), int(degree[1]))
    raise TypeError(f"degree for method 'mpa' must be an int m (for [m/m]) or a pair (m, n); got {degree!r}")


# --------------------------------------------------------------------------- forward kernels
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
    # The gradient is only as accurate as the root at the smallest eigenvalues, where the series
    # roots are least accurate (the more so the worse the conditioning). The polish measures and
    # fixes it (one inversion when already within POLISH_RTOL), and its last S⁻¹ gives s_min for
    # the Lyapunov solver.
    return {"iterations": iterations, "tol": tol, "scale": "bound" if normalisation == "spectral" else "spectral",
            "refine": REFINE_STEPS if polish is None else polish, "max_iterations": 50, "solver": solver}


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


# --------------------------------------------------------------------------- one method
def matrix_root(
    A: torch.Tensor,
    inverse: bool,
    method: str,
    *,
    degree: Any = None,
    iterations: int | None = None,
    lyapunov: str = "accurate",
    normalisation: str = "spectral",
    lya_iterations: int | None = None,
    lya_tol: float | None = None,
    lya_polish: int | None = None,
    lya_solver: str | None = None,
    eig_grad: str = "exact",
    eig_degree: int = 9,
) -> torch.Tensor:
    """``A^{1/2}`` (``inverse``: ``A^{-1/2}``) of the symmetric parts ``(A + Aᵀ)/2`` of ``A``
    (..., n, n) by one of :data:`METHODS`, with the options of :func:`ai4m_kit.linalg.sqrtm`;
    the input is not checked (``sqrtm`` checks it).

    Example:
        >>> A = torch.diag(torch.tensor([4.0, 9.0], dtype=torch.float64))
        >>> matrix_root(A, True, "eig").diagonal().tolist()
        [0.5, 0.3333333333333333]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if eig_grad not in GRAD_MODES:
        raise ValueError(f"eig_grad must be one of {GRAD_MODES}; got {eig_grad!r}")
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a torch.Tensor shaped (..., n, n); got {type(A).__name__}")
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
    elif method == "ns":
        its = DEFAULT_NS_ITERATIONS if iterations is None else iterations
        if not isinstance(its, int) or isinstance(its, bool) or its < 1:
            raise ValueError(f"iterations for method 'ns' must be an int >= 1; got {iterations!r}")
    elif not isinstance(eig_degree, int) or eig_degree < 1:
        raise ValueError(f"eig_degree must be an int >= 1; got {eig_degree!r}")
    if A.numel() == 0:  # an empty batch: empty, and on A's graph when A requires grad
        return A * 0
    orig_dtype = A.dtype
    if orig_dtype in (torch.float16, torch.bfloat16):
        A = A.float()
    A = _sym(A)
    if method in ("mtp", "mpa"):
        out = _LyapunovRoot.apply(A, method, deg, inverse, lya, normalisation)
    elif method == "ns":
        out = _ns_forward(A, its, inverse)
    else:
        out = _eig_root(A, inverse, eig_grad, eig_degree)
    return out.to(orig_dtype)
