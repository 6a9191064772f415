"""Differentiable square root and inverse square root of batched symmetric PSD matrices.

Five methods, one signature (``A`` shaped ``(..., n, n)``): ``"mtp"`` (matrix Taylor
polynomial), ``"mpa"`` (matrix Padé approximant), both with a Lyapunov backward; ``"ns"``
(coupled Newton–Schulz); ``"eig"`` (eigendecomposition); and ``"auto"``: the fastest method
meeting an accuracy ``tol`` for this shape, dtype and device, from cached measurements
(:mod:`ai4m_kit.linalg.sqrtm_auto`).

The modules, from the top down (each imports only those below it):

- this one: :func:`sqrtm` and :func:`inv_sqrtm`, which check their input and dispatch ``"auto"``;
- :mod:`ai4m_kit.linalg.sqrtm_auto`: the ``"auto"`` choice, measured on the oracles;
- :mod:`ai4m_kit.linalg.sqrtm_methods`: the methods (how each works, and why its defaults);
- :mod:`ai4m_kit.linalg.sqrtm_lyapunov`: the Lyapunov solvers and the root polish of the backward;
- :mod:`ai4m_kit.linalg.sqrtm_series`: Taylor / Padé coefficients and matrix polynomials;
- :mod:`ai4m_kit.linalg.sqrtm_reference`: float64 oracles (roots, gradients, test covariances).

The public names of those modules stay importable from here.

Input checks (``check=True``, the default): a finite symmetric ``(..., n, n)`` float tensor, and
positive semi-definite up to round-off (:func:`ai4m_kit.linalg.checks.check_positive_semidefinite`:
smallest eigenvalue at least ``−n · ε · max |λ|`` per matrix); :func:`inv_sqrtm` also refuses
matrices singular to that tolerance. Without the check, indefinite input gives a different wrong
answer from every method.
"""

from __future__ import annotations

from typing import Any

import torch

from ai4m_kit.linalg.checks import check_positive_semidefinite, check_symmetric
from ai4m_kit.linalg.eig_grad import GRAD_MODES
from ai4m_kit.linalg.sqrtm_auto import choose_method
from ai4m_kit.linalg.sqrtm_lyapunov import lyapunov_newton_schulz, lyapunov_smith, refine_sqrt
from ai4m_kit.linalg.sqrtm_methods import METHODS as CONCRETE_METHODS
from ai4m_kit.linalg.sqrtm_methods import matrix_root
from ai4m_kit.linalg.sqrtm_reference import closed_form_grad, reference_covariance, reference_root
from ai4m_kit.linalg.sqrtm_series import (
    pade_sqrt_coefficients,
    paterson_stockmeyer,
    spectral_upper_bound,
    taylor_sqrt_coefficients,
)

__all__ = [
    "METHODS", "closed_form_grad", "inv_sqrtm", "lyapunov_newton_schulz", "lyapunov_smith", "pade_sqrt_coefficients",
    "paterson_stockmeyer", "reference_covariance", "reference_root", "refine_sqrt", "spectral_upper_bound", "sqrtm",
    "taylor_sqrt_coefficients",
]

METHODS = ("auto",) + CONCRETE_METHODS
# Appended to the message when inv_sqrtm refuses a singular or indefinite matrix.
_INVERSE_HINT = ("inv_sqrtm has no regularisation argument: add a ridge first, inv_sqrtm(A + eps·I); "
                 "check=False skips this test")


def _root(
    A: torch.Tensor,
    inverse: bool,
    method: str,
    tol: float,
    check: bool,
    sym_tol: float | None,
    options: dict[str, Any],
) -> torch.Tensor:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if options["eig_grad"] not in GRAD_MODES:  # here too for "auto", which replaces it by its choice's
        raise ValueError(f"eig_grad must be one of {GRAD_MODES}; got {options['eig_grad']!r}")
    if check:
        check_symmetric(A, name="A", sym_tol=sym_tol, allow_half=True)
        check_positive_semidefinite(A, name="A", definite=inverse,
                                    hint=_INVERSE_HINT if inverse else "check=False skips this test")
    elif not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a torch.Tensor shaped (..., n, n); got {type(A).__name__}")
    if method == "auto":
        need_grad = A.requires_grad and torch.is_grad_enabled()
        choice = choose_method(tuple(A.shape), A.dtype, A.device, inverse=inverse, grad=need_grad, tol=tol)
        options = {"lya_polish": options["lya_polish"], "lya_solver": options["lya_solver"], **choice}
        method = options.pop("method")
    return matrix_root(A, inverse, method, **options)


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
        method: ``"auto"``, ``"mtp"``, ``"mpa"``, ``"ns"`` or ``"eig"`` (see
            :mod:`ai4m_kit.linalg.sqrtm_methods`).
        degree: MTP degree K (default 8) or MPA orders ``(m, n)`` / ``m`` for ``[m/m]`` (default
            ``(5, 5)``).
        iterations: Newton–Schulz iterations for ``"ns"`` (default 5).
        lyapunov: backward of MTP/MPA: ``"accurate"`` (default: polishes the root, then solves
            to ``lya_tol``), ``"fast"`` (5 Newton–Schulz iterations, spectral scaling, forward's
            root) or ``"published"`` (8 iterations, Frobenius scaling).
        normalisation: scale ``c`` of ``Z = I − A/c`` for MTP/MPA: ``"spectral"`` (default:
            from the bound ``‖A⁴‖_F^{1/4} ≥ λ_max``) or ``"frobenius"`` (``c = ‖A‖_F`` as
            published; less accurate MPA, and the accurate backward's polish takes more steps).
        lya_iterations: fixed Lyapunov step count (overrides the mode's and ``lya_tol``).
        lya_tol: stopping tolerance of the accurate mode: for ``"smith"`` a bound on the relative
            error of the Lyapunov solution (default 1e-5), for ``"newton-schulz"`` on
            ``max |B² − I|`` (default 1e-3).
        lya_polish: at most this many polishing steps on the forward's root before the Lyapunov
            solve (:func:`refine_sqrt`), stopping once within 1e-3 (default: 6 in the accurate
            mode, 0 otherwise; ``0`` turns it off).
        lya_solver: Lyapunov solver: ``"smith"`` (default of the accurate mode; squared Smith
            iteration, :func:`lyapunov_smith`) or ``"newton-schulz"`` (the matrix-sign iteration
            of the published method, default of ``"fast"`` and ``"published"``;
            :func:`lyapunov_newton_schulz`).
        eig_grad: ``"exact"``, ``"taylor"`` or ``"pade"`` backward for ``"eig"``.
        eig_degree: series degree of the ``"taylor"``/``"pade"`` eigen-backward.
        tol: accuracy required by ``"auto"`` (relative Frobenius error of value and gradient on
            reference covariances; see :mod:`ai4m_kit.linalg.sqrtm_auto`).
        check: validate the input first: square, finite, symmetric within ``sym_tol`` and
            positive semi-definite, that is every eigenvalue at least ``−n · ε · max |λ|`` of its
            matrix (ε of ``A``'s dtype; :func:`ai4m_kit.linalg.checks.check_positive_semidefinite`:
            one Cholesky factorisation per matrix, eigenvalues only where it fails), else a
            ValueError naming the first offending matrix. ``False`` skips all of it: the methods
            then give different wrong answers for indefinite input.
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
        >>> sqrtm(torch.tensor([[-4.0]]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: A must be positive semi-definite; matrix 0 has eigenvalue -4 (tolerance -4.77e-07: ...
    """
    return _root(A, False, method, tol, check, sym_tol,
                 {"degree": degree, "iterations": iterations, "lyapunov": lyapunov, "normalisation": normalisation,
                  "lya_iterations": lya_iterations, "lya_tol": lya_tol, "lya_polish": lya_polish, "lya_solver": lya_solver,
                  "eig_grad": eig_grad, "eig_degree": eig_degree})


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
    through ``d(S^{-1}) = −S^{-1} dS S^{-1}`` and the Lyapunov solver.

    The check (``check=True``) also refuses singular matrices: a smallest eigenvalue at most
    ``n · ε · max |λ|`` (zero to working precision, where the inverse root is unbounded). There is
    no regularisation argument: add a ridge, ``inv_sqrtm(A + eps·I)``, as the whitening layers do.
    With ``check=False`` singular input gives ``"eig"`` eigenvalues regularised at that floor, and
    large values from the iterative methods.

    Example:
        >>> A = torch.diag(torch.tensor([4.0, 16.0], dtype=torch.float64))
        >>> inv_sqrtm(A, method="eig").diagonal().tolist()
        [0.5, 0.25]
        >>> inv_sqrtm(torch.zeros(2, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: A must be positive definite; matrix 0 is singular to working precision: ...
    """
    return _root(A, True, method, tol, check, sym_tol,
                 {"degree": degree, "iterations": iterations, "lyapunov": lyapunov, "normalisation": normalisation,
                  "lya_iterations": lya_iterations, "lya_tol": lya_tol, "lya_polish": lya_polish, "lya_solver": lya_solver,
                  "eig_grad": eig_grad, "eig_degree": eig_degree})
