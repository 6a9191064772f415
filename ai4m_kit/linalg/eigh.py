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
batches in pieces (:func:`chunk_size`).

All methods are differentiable through one autograd function whose backward is the shared
:func:`ai4m_kit.linalg.eig_grad.symmetric_eig_backward`, with the eigenvector gradient in
``"exact"``, ``"taylor"`` or ``"pade"`` form (the last two stay finite for repeated eigenvalues).
"""

from __future__ import annotations

import torch

from ai4m_kit.linalg import eigh_auto
from ai4m_kit.linalg.checks import check_symmetric
from ai4m_kit.linalg.eig_grad import GRAD_MODES, symmetric_eig_backward
from ai4m_kit.linalg.eigh_jacobi import jacobi_eigh_batch_last
from ai4m_kit.linalg.eigh_mixed import mixed_eigh, mixed_pays
from ai4m_kit.linalg.eigh_qr import qr_eigh, qr_eigh_batch_last
from ai4m_kit.linalg.eigh_triton import triton_eigh

METHODS = ("auto", "qr", "jacobi", "triton", "torch")
PRECISIONS = ("auto", "mixed", "full")
# The tensor-operation solvers work on batch-last arrays and symmetrise their input themselves.
_BATCH_LAST = {"qr": qr_eigh_batch_last, "jacobi": jacobi_eigh_batch_last}
# On a CPU every operation of those solvers streams their batch-last work arrays through the
# caches, so a large batch runs faster in pieces of about CHUNK_BYTES[device type] of matrices,
# of CHUNK_MIN to CHUNK_MAX matrices. Measured on this project's 2-core CPU (1 thread, 65536
# matrices unless said, time / torch.linalg.eigh's, whole batch → best piece tried, and the
# piece this rule gives):
# - "qr": float32 n = 8 0.91 → 0.64 (8192 matrices; rule 8192); float64 n = 4 1.38 → 0.68
#   (8192; rule 16384: 0.72; 32768: 0.88); float64 n = 8 2.30 → 1.54 (4096; rule 4096); float64
#   n = 16, 16384 matrices 3.18 → 1.87 (2048; rule 1024: 1.91); float64 n = 32, 4096 matrices
#   4.97 → 3.14 (1024; rule 1024); float32 n = 2 0.29 → 0.26 (32768; rule 32768);
# - "jacobi": float32 n = 8 1.82 → 1.03 (8192); float64 n = 2 0.35 → 0.24 (32768).
# Devices without an entry (GPUs) get the whole batch in one call.
CHUNK_BYTES = {"cpu": 1 << 21}
CHUNK_MIN, CHUNK_MAX = 1024, 32768


def chunk_size(n: int, device: torch.device | str, dtype: torch.dtype) -> int | None:
    """Largest batch of ``n × n`` matrices that ``"qr"`` and ``"jacobi"`` decompose in one call on
    this device (larger batches are split into nearly equal pieces), or None: no limit.

    Example:
        >>> [chunk_size(n, "cpu", torch.float32) for n in (2, 8, 32)], chunk_size(8, "cpu", torch.float64)
        ([32768, 8192, 1024], 4096)
    """
    budget = CHUNK_BYTES.get(torch.device(device).type)
    if budget is None:
        return None
    itemsize = torch.finfo(dtype).bits // 8
    return min(CHUNK_MAX, max(CHUNK_MIN, budget // (n * n * itemsize)))


def _symmetric_batch_last(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A + Aᵀ)/2`` of a ``(B, n, n)`` batch as a new batch-last array ``(n, n, B)``, each matrix
    scaled by a power of two near its largest entry (exact in floating point, so that squares of
    entries neither overflow nor underflow in the iterations), and the factors ``(B,)`` that
    scale its eigenvalues back. One pass symmetrises and transposes (eigh's symmetrisation, the
    scaling and the solvers' transposition were three)."""
    B, n = A.shape[0], A.shape[-1]
    At = A.new_empty(n, n, B)
    torch.add(A.permute(1, 2, 0), A.permute(2, 1, 0), out=At)  # 2 (A + Aᵀ)/2
    amax = At.view(n * n, B).abs().amax(0)
    scale = torch.exp2(torch.round(torch.log2(torch.where(amax > 0, amax, 1.0))))
    return At.div_(scale), scale.mul_(0.5)


def _solve(
    A: torch.Tensor, method: str, compile: bool = False, precision: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted ``(evals, evecs)`` of a ``(B, n, n)`` batch by a concrete method: ``"torch"`` and
    ``"triton"`` decompose ``A`` as it is (symmetric), ``"qr"`` and ``"jacobi"`` its symmetric
    part ``(A + Aᵀ)/2``, float64 in mixed precision where ``precision`` says so (see
    :func:`eigh`), in pieces of at most :func:`chunk_size` matrices."""
    if method == "torch":
        return torch.linalg.eigh(A)
    if method == "triton":  # scales, solves and sorts in its one kernel
        return triton_eigh(A)
    size = chunk_size(A.shape[-1], A.device, A.dtype)
    if size is not None and A.shape[0] > size:
        parts = [_solve(piece, method, compile, precision) for piece in A.tensor_split(-(-A.shape[0] // size))]
        return torch.cat([w for w, _ in parts]), torch.cat([V for _, V in parts])
    At, scale = _symmetric_batch_last(A)
    presorted = False
    if compile and method == "qr":
        evals, evecs = qr_eigh(At.permute(2, 0, 1), compile=True)
    elif A.dtype == torch.float64 and (
        precision == "mixed" or (precision == "auto" and mixed_pays(method, A.shape[-1], A.device))
    ):
        evals, evecs = mixed_eigh(At, method)
    else:
        D, Vt = _BATCH_LAST[method](At)
        evals, evecs = D.T, Vt.permute(2, 1, 0)  # eigenvectors as columns
        presorted = A.shape[-1] == 2  # both solve 2×2 matrices in closed form, in ascending order
    evals = evals * scale.unsqueeze(-1)
    if presorted:
        return evals, evecs
    evals, order = evals.sort(dim=-1)
    return evals, evecs.gather(-1, order.unsqueeze(-2).expand_as(evecs))


class _Eigh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, method, grad_mode, degree, compile, precision):
        evals, evecs = _solve(A, method, compile, precision)
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
        A: symmetric float32/float64 tensor ``(..., n, n)``; it is symmetrised as ``(A + Aᵀ)/2``.
        method: ``"auto"``, ``"qr"``, ``"jacobi"``, ``"triton"`` or ``"torch"`` (see the module
            docstring).
        grad_mode: eigenvector gradient, ``"exact"``, ``"taylor"`` or ``"pade"``.
        degree: series degree of the ``"taylor"``/``"pade"`` gradients.
        check: validate dtype, shape, finiteness and symmetry first (one cheap pass).
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
    differentiable = A.requires_grad and torch.is_grad_enabled()
    if concrete == "torch" and not differentiable:  # LAPACK reads one triangle: no symmetrising
        return torch.linalg.eigh(A)
    batch_shape = A.shape[:-2]
    if A.numel() == 0:  # an empty batch (or n = 0 with check=False, which the check refuses)
        return A.new_zeros(*batch_shape, n), A.new_zeros(*batch_shape, n, n)
    A3 = A.reshape(-1, n, n)
    if concrete in ("torch", "triton"):  # qr and jacobi symmetrise while they transpose (_solve)
        A3 = 0.5 * (A3 + A3.mT)
    if differentiable:
        evals, evecs = _Eigh.apply(A3, concrete, grad_mode, degree, compile, precision)
    else:
        evals, evecs = _solve(A3, concrete, compile, precision)
    return evals.reshape(*batch_shape, n), evecs.reshape(*batch_shape, n, n)
