"""Float64 eigendecomposition by a float32 solve and iterative refinement in float64.

On a CPU the tensor-operation solvers (:mod:`~ai4m_kit.linalg.eigh_qr`,
:mod:`~ai4m_kit.linalg.eigh_jacobi`) cost about twice as much per operation in float64 as in
float32 (the rotations stream the whole batch through memory, and float64 sin/cos/atan2 are
slower), and float64 needs more sweeps. So :func:`mixed_eigh` decomposes the float64 matrices in
float32 first and refines the float32 eigenvectors in float64 by the iteration of Ogita and
Aishima (2018, "Iterative refinement for symmetric eigenvalue decomposition"), which doubles the
number of correct digits per step:

- with ``X`` the current eigenvectors, ``G = XᵀX``, ``S = XᵀAX`` (three batched matrix products;
  ``S`` symmetrised, since its rounding asymmetry divided by a gap would cost orthogonality) and
  the Rayleigh quotients ``λᵢ = sᵢᵢ / gᵢᵢ``;
- ``X ← X + XE`` with ``Eᵢⱼ = (sᵢⱼ − λⱼ gᵢⱼ) / (λⱼ − λᵢ)`` for ``i ≠ j`` and
  ``Eᵢᵢ = (1 − gᵢᵢ)/2``: the symmetric part of ``E`` is ``(I − G)/2``, which restores
  orthogonality, and its antisymmetric part rotates towards the eigenvectors;
- pairs whose eigenvalues are closer than ``δ = max(2‖Mₒ‖_F, 1e-7 ‖A‖_F)`` (``Mₒ`` the
  numerators) are treated as a cluster and only orthogonalised (``Eᵢⱼ = −gᵢⱼ/2``): any
  orthonormal basis of an exactly repeated eigenvalue's eigenspace is correct, a first-order step
  could not resolve a near-repeated one, and the floor keeps rounding noise divided by small gaps
  out of the step (a first-order step of size κ costs κ² of orthogonality).

The float32 solve ("jacobi") stops at off-diagonal norms of 1e-5 ‖A‖_F (``FIRST_TOL``: float32
convergence would take about one more sweep of six at n = 8), and two steps take its
eigenvectors to float64 accuracy. Two more products check every matrix: it is accepted when
``‖AX − XΛ‖_F ≤ 4 √n ε ‖A‖_F`` and ``‖XᵀX − I‖_F ≤ n ε`` (the eigenvalues ``Λ`` are the last
step's Rayleigh quotients, accurate to the square of its eigenvector errors). A matrix that passes
the first test and misses the second by little gets up to two more steps (a small gap made its
last step large). The others — eigenvalues closer than float32 resolves, as in ill-conditioned
covariances — are finished in float64 by the method's own solver on ``S = QᵀAQ``, with ``Q = X``
(made orthonormal again by a QR factorisation where large steps cost orthonormality), and
``X ← Q W``: ``S`` is diagonal up to the unresolved clusters.

On a CPU mixed precision makes "jacobi" faster than full float64 on random matrices from n = 8,
the more so the larger ``n``; on ill-conditioned covariances (eigenvalues over many decades),
where nearly every matrix needs the float64 finish, it is slower at n = 8. For "qr" it does not
pay (its float64 finish is a whole QR solve), so ``precision="auto"`` uses mixed precision for
"jacobi" from n = 8 only (:data:`MIXED_SIZES`). The refined eigenvectors are orthonormal to
about ``√n ε``: errors on adversarial batches are below those of ``torch.linalg.eigh``.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import torch

from ai4m_kit.linalg.eigh_jacobi import jacobi_eigh_batch_last
from ai4m_kit.linalg.eigh_qr import qr_eigh_batch_last

STEPS = 2
# Gaps below FLOOR·‖A‖_F count as clusters: a step divides rounding noise (about √n ε ‖A‖_F) by
# such a gap, and its first-order update is orthogonal only to the square of that (≤ 1e-16 here).
FLOOR = 1e-7
# Matrices that pass the residual test after STEPS but miss orthonormality by less than NEAR (a
# small gap made the last step large, and a first-order step of size κ costs κ² of orthogonality)
# get up to EXTRA_STEPS more, which restore it quadratically; the others are finished in float64.
NEAR, EXTRA_STEPS = 1e-8, 2
FIRST_TOL = 1e-5  # where the float32 Jacobi solve stops (see the module docstring)
FIRST = {"jacobi": partial(jacobi_eigh_batch_last, tol=FIRST_TOL), "qr": qr_eigh_batch_last}
FULL = {"jacobi": jacobi_eigh_batch_last, "qr": qr_eigh_batch_last}


def refine(A: torch.Tensor, X: torch.Tensor, *, steps: int = STEPS) -> dict[str, torch.Tensor]:
    """Refine approximate eigenvectors ``X`` (columns, ``(B, n, n)``) of symmetric ``A`` in ``A``'s dtype.

    Args:
        A: symmetric ``(B, n, n)`` matrices (contiguous).
        X: approximate eigenvectors as columns ``(B, n, n)``, close to orthonormal (``‖XᵀX − I‖``
            well below 1).
        steps: refinement steps (at least one); two more products check the result.

    Returns:
        ``evals`` (the last step's Rayleigh quotients, ``(B, n)``, unsorted), ``evecs``
        (``(B, n, n)``), and per matrix ``(B,)``: ``accurate`` (the residual test of the module
        docstring), ``orthonormal`` (its orthogonality test), ``converged`` (both) and
        ``orthogonality`` (``‖XᵀX − I‖_F``).

    Example:
        >>> A = torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64)
        >>> X = torch.tensor([[[0.7, 0.7], [-0.7, 0.7]]], dtype=torch.float64)  # rough guess
        >>> out = refine(A, X, steps=4)
        >>> bool(out["converged"]), sorted(round(x, 12) for x in out["evals"][0].tolist())
        (True, [1.0, 3.0])
    """
    if steps < 1:
        raise ValueError(f"refine needs steps >= 1; got {steps}")
    n = A.shape[-1]
    eps = torch.finfo(A.dtype).eps
    norm_a = torch.linalg.vector_norm(A, dim=(1, 2))
    floor = FLOOR * norm_a
    orth_tol, residual_tol = n * eps, 4 * n**0.5 * eps
    for _ in range(steps):
        S = torch.bmm(X.mT, torch.bmm(A, X))
        # Symmetric to rounding only; its asymmetry divided by a gap would enter the symmetric part
        # of E and cost orthogonality.
        S = torch.add(S, S.mT).mul_(0.5)
        G = torch.bmm(X.mT, X)
        lam = S.diagonal(dim1=1, dim2=2) / G.diagonal(dim1=1, dim2=2)
        # E = (sᵢⱼ − λⱼ gᵢⱼ) / (λⱼ − λᵢ) off the clusters, −gᵢⱼ/2 in them, (1 − gᵢᵢ)/2 on the diagonal
        # (where the numerator is zero to rounding).
        M = torch.addcmul(S, G, lam.unsqueeze(1), value=-1.0)
        delta = torch.maximum(2 * torch.linalg.vector_norm(M, dim=(1, 2)), floor)
        gap = lam.unsqueeze(1) - lam.unsqueeze(2)  # λⱼ − λᵢ at (i, j)
        E = torch.where(gap.abs() > delta[:, None, None], M.div_(gap), G.mul_(-0.5))
        E.diagonal(dim1=1, dim2=2).add_(0.5)
        X = torch.baddbmm(X, X, E)  # X + XE: the product's rounding is relative to the small XE
    # The check: residuals A xⱼ − λⱼ xⱼ (the Rayleigh quotients of the last step are accurate to the
    # square of its eigenvector errors) and orthonormality.
    residual = torch.addcmul(torch.bmm(A, X), X, lam.unsqueeze(1), value=-1.0)
    G = torch.bmm(X.mT, X)
    G.diagonal(dim1=1, dim2=2).sub_(1.0)
    orthogonality = torch.linalg.vector_norm(G, dim=(1, 2))
    residual = torch.linalg.vector_norm(residual, dim=(1, 2)) / norm_a.clamp_min(torch.finfo(A.dtype).tiny)
    orthonormal, accurate = orthogonality <= orth_tol, residual <= residual_tol
    return {"evals": lam, "evecs": X, "converged": orthonormal & accurate, "orthonormal": orthonormal,
            "accurate": accurate, "orthogonality": orthogonality}


# Sizes n (from, to) where "mixed" beat "full" on random float64 batches of 512, per device type and
# method (see mixed_pays). Not measured on CUDA: there "auto" keeps "full".
MIXED_SIZES = {("cpu", "jacobi"): (8, math.inf)}


def mixed_pays(method: str, n: int, device: torch.device | str) -> bool:
    """Whether ``precision="auto"`` decomposes float64 ``n × n`` matrices by ``method`` on
    ``device`` in mixed precision (:data:`MIXED_SIZES`).

    Example:
        >>> mixed_pays("jacobi", 8, "cpu"), mixed_pays("jacobi", 4, "cpu"), mixed_pays("qr", 8, "cpu")
        (True, False, False)
    """
    lo, hi = MIXED_SIZES.get((torch.device(device).type, method), (0, -1))
    return lo <= n <= hi


def _columns(Vt: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Eigenvectors as contiguous columns ``(B, n, n)`` from the solvers' rows ``Vt`` ``(n, n, B)``."""
    n, B = Vt.shape[0], Vt.shape[-1]
    return torch.empty(B, n, n, dtype=dtype, device=Vt.device).copy_(Vt.permute(2, 1, 0))


def mixed_eigh(At: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of float64 batch-last symmetric matrices ``At`` ``(n, n, B)`` by
    ``method`` (``"qr"`` or ``"jacobi"``) in float32, refined in float64, the matrices left over
    finished by the method's float64 solver (see the module docstring).

    ``At`` should be scaled to entries of order one (as :func:`ai4m_kit.linalg.eigh` does), so
    that float32 neither overflows nor loses the matrix.

    Returns:
        ``(evals, evecs)``: unsorted eigenvalues ``(B, n)`` and eigenvectors as columns ``(B, n, n)``.

    Example:
        >>> A = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64).unsqueeze(-1)
        >>> w, V = mixed_eigh(A, "jacobi")
        >>> sorted(round(x, 12) for x in w[0].tolist())
        [1.0, 3.0]
    """
    if At.dtype != torch.float64:
        raise TypeError(f"mixed_eigh refines in float64 and needs float64 input; got {At.dtype}")
    if method not in FULL:
        raise ValueError(f"mixed_eigh: method must be one of {tuple(FULL)}; got {method!r}")
    with warnings.catch_warnings():  # a matrix the float32 solve leaves unconverged is finished below
        warnings.simplefilter("ignore", RuntimeWarning)
        _, Vt32 = FIRST[method](At.float())
    A = At.permute(2, 0, 1).contiguous()  # symmetric: (B, n, n) whichever way it is read
    out = refine(A, _columns(Vt32, torch.float64))
    for _ in range(EXTRA_STEPS):
        near = (out["accurate"] & (out["orthogonality"] <= NEAR) & ~out["orthonormal"]).nonzero().squeeze(1)
        if not len(near):
            break
        more = refine(A[near], out["evecs"][near], steps=1)
        for key, value in more.items():
            out[key][near] = value
    evals, evecs = out["evals"], out["evecs"]
    left = (~out["converged"]).nonzero().squeeze(1)
    if len(left):  # finish in float64 from S = QᵀAQ, Q = X made orthonormal: diagonal up to the clusters
        Q = evecs[left]
        lost = ~out["orthonormal"][left]
        if bool(lost.any()):
            Q[lost] = torch.linalg.qr(Q[lost]).Q
        S = torch.bmm(Q.mT, torch.bmm(A[left], Q))
        # (S + Sᵀ)/2 written batch-last in one pass, into a new contiguous array (qr works in place)
        St = torch.add(S.permute(1, 2, 0), S.permute(2, 1, 0), out=S.new_empty(S.shape[1:] + S.shape[:1]))
        D, Wt = FULL[method](St.mul_(0.5))
        evals[left] = D.T
        evecs[left] = torch.bmm(Q, _columns(Wt, torch.float64))
    return evals, evecs
