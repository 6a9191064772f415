"""Batched symmetric eigendecomposition ``A = V diag(λ) Vᵀ`` for many small and medium matrices.

Methods:

- ``"qr"``: Householder tridiagonalisation and implicit QR sweeps with Wilkinson shifts,
  per-matrix deflation and progressive shrinking (:mod:`ai4m_kit.linalg.eigh_qr`);
- ``"jacobi"``: cyclic Jacobi with the parallel round-robin ordering
  (:mod:`ai4m_kit.linalg.eigh_jacobi`);
- ``"triton"``: cyclic Jacobi in one Triton kernel for ``n ≤ 32``, the GPU method
  (:mod:`ai4m_kit.linalg.eigh_triton`; needs the ``triton`` package; CPU tensors only through
  Triton's interpreter);
- ``"torch"``: ``torch.linalg.eigh`` (LAPACK / cuSOLVER);
- ``"auto"``: the method measured fastest for the device, dtype and size
  (:mod:`ai4m_kit.linalg.eigh_auto`; ``"torch"`` until calibrated).

``"qr"`` and ``"jacobi"`` decompose ``2 × 2`` matrices in closed form (one exact rotation,
:func:`ai4m_kit.linalg.eigh_jacobi.symmetric_2x2_batch_last`), and on a CPU they take large
batches in pieces (:func:`ai4m_kit.linalg.eigh_solvers.chunk_size`). Every method reads the lower
triangle of its input only, as ``torch.linalg.eigh`` does (:mod:`ai4m_kit.linalg.eigh_solvers`).

All methods are differentiable through one autograd function whose backward is the shared
:func:`ai4m_kit.linalg.eig_grad.symmetric_eig_backward`, with the eigenvector gradient in
``"exact"``, ``"taylor"`` or ``"pade"`` form (the last two stay finite for repeated eigenvalues).
"""

from __future__ import annotations

import torch

from ai4m_kit.linalg import eigh_auto
from ai4m_kit.linalg.checks import check_symmetric
from ai4m_kit.linalg.eig_grad import GRAD_MODES, symmetric_eig_backward
from ai4m_kit.linalg.eigh_solvers import chunk_size, solve

__all__ = ["METHODS", "PRECISIONS", "chunk_size", "eigh", "resolve_method"]  # chunk_size: importable from here too

METHODS = ("auto", "qr", "jacobi", "triton", "torch")
PRECISIONS = ("auto", "mixed", "full")


class _Eigh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, method, grad_mode, degree, compile, precision):
        evals, evecs = solve(A, method, compile, precision)
        ctx.save_for_backward(evals, evecs)
        ctx.grad_mode, ctx.degree = grad_mode, degree
        return evals, evecs

    @staticmethod
    def backward(ctx, grad_evals, grad_evecs):
        evals, evecs = ctx.saved_tensors
        grad = symmetric_eig_backward(evals, evecs, grad_evals, grad_evecs, mode=ctx.grad_mode, degree=ctx.degree)
        return grad, None, None, None, None, None


def resolve_method(method: str, n: int, batch: int, device: torch.device, dtype: torch.dtype) -> str:
    """The concrete method that ``method`` stands for at this size (``"auto"`` looks it up).

    Example:
        >>> resolve_method("qr", 8, 512, torch.device("cpu"), torch.float32)
        'qr'
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if method == "auto":
        return eigh_auto.choose(n, batch, device, dtype)
    return method


def eigh(
    A: torch.Tensor,
    method: str = "auto",
    *,
    grad_mode: str = "exact",
    degree: int = 9,
    check: bool = True,
    sym_tol: float | None = None,
    compile: bool = False,
    precision: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices ``(..., n, n)``.

    Args:
        A: symmetric float32/float64 tensor ``(..., n, n)``. Every method reads its lower triangle
            only, as ``torch.linalg.eigh`` does: with ``check=False`` a matrix that is not
            symmetric is taken as the symmetric matrix of its lower triangle, by every method
            alike. Gradients are those of a symmetric input (symmetric matrices).
        method: ``"auto"``, ``"qr"``, ``"jacobi"``, ``"triton"`` or ``"torch"`` (see the module
            docstring).
        grad_mode: eigenvector gradient, ``"exact"``, ``"taylor"`` or ``"pade"``.
        degree: series degree of the ``"taylor"``/``"pade"`` gradients.
        check: validate dtype, shape, finiteness and symmetry first (one cheap pass); a matrix
            that is not symmetric within ``sym_tol`` raises a ValueError.
        sym_tol: allowed relative asymmetry (see :func:`check_symmetric`).
        compile: where the method is (or ``"auto"`` resolves to) ``"qr"``, run it through
            :func:`torch.compile` (see :func:`ai4m_kit.linalg.eigh_qr.qr_eigh`; the first call per
            size and dtype compiles, about 3 minutes at n = 8 on a 2-core CPU, and later processes
            load inductor's disk cache in about 10 s). Worth it when the same sizes are decomposed
            many times, as in a training loop.
        precision: how ``"qr"`` and ``"jacobi"`` decompose float64 matrices: ``"full"`` in
            float64 throughout; ``"mixed"`` in float32 first, then refined to float64 accuracy
            (:mod:`ai4m_kit.linalg.eigh_mixed`: faster when the eigenvalues are distinct at float32
            resolution, slower when many matrices have eigenvalues that differ by less than about
            1e-5 of their norm, as ill-conditioned covariances do, since those are finished by a
            float64 solve); ``"auto"``: ``"mixed"`` on the devices and sizes where it was measured
            faster on random matrices (:func:`ai4m_kit.linalg.eigh_mixed.mixed_pays`), else
            ``"full"``. Float32 input and the other methods ignore it.

    Returns:
        ``(evals, evecs)`` shaped ``(..., n)`` and ``(..., n, n)``, with
        ``A ≈ evecs @ diag(evals) @ evecsᵀ``.

    Example:
        >>> A = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
        >>> w, V = eigh(A, method="jacobi")
        >>> [round(x, 5) for x in w.tolist()]
        [1.0, 3.0]
        >>> torch.allclose(V @ torch.diag(w) @ V.T, A)
        True
    """
    if check:
        check_symmetric(A, sym_tol=sym_tol)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be one of {GRAD_MODES}; got {grad_mode!r}")
    n = A.shape[-1]
    concrete = resolve_method(method, n, A.numel() // max(n * n, 1), A.device, A.dtype)
    if A.numel() == 0:  # an empty batch (or n = 0 with check=False, which the check refuses)
        return A.sum(dim=-1) * 0, A * 0  # empty, and on A's graph when A requires grad
    differentiable = A.requires_grad and torch.is_grad_enabled()
    if concrete == "torch" and not differentiable:
        return torch.linalg.eigh(A)
    batch_shape = A.shape[:-2]
    A3 = A.reshape(-1, n, n)
    if differentiable:
        evals, evecs = _Eigh.apply(A3, concrete, grad_mode, degree, compile, precision)
    else:
        evals, evecs = solve(A3, concrete, compile, precision)
    return evals.reshape(*batch_shape, n), evecs.reshape(*batch_shape, n, n)
