"""Batched cyclic Jacobi eigensolver in one Triton kernel (method ``"triton"`` of :func:`ai4m_kit.linalg.eigh`).

Why: on a GPU the eager batched solvers are bound by kernel launches, and were many times
slower than ``torch.linalg.eigh`` there, compiled or not (``scripts/gpu_eigh_check.py`` measures
them).

This kernel does the whole decomposition in one launch: each program holds ``BLOCK`` matrices,
padded to a power of two ``N ≥ n``, in registers; it scales each matrix by a power of two at its
largest entry, runs cyclic Jacobi sweeps (rotations in row order, the classic stable angle
``t = sign(θ) / (|θ| + √(θ² + 1))``, ``θ = (a_qq − a_pp) / 2a_pq``) until every matrix of the
block has ``off(A)² ≤ (ε ‖A‖_F)²`` or ``max_sweeps`` is reached, and writes the eigenvalues in
ascending order (ranked in the kernel, ties by index) with their eigenvectors. Triton has no
direct way to index a row or column of a register block, so a rotation reads columns ``p`` and
``q`` by masked sums over the block and writes rows and columns back by ``where``: O(n²) work per
rotation and matrix instead of O(n).

Status: correct on CPU tensors through Triton's interpreter (the tests), and it compiles for
sm_90 without a GPU (a test does; ptxas reports no register spills at the default blocks).
``"auto"`` picks it only where a calibration on the device measured it faster than
``torch.linalg.eigh``; ``scripts/gpu_eigh_check.py`` measures it.

The same kernel runs on CPU tensors through Triton's interpreter (NumPy; slow, for tests and
demonstrations; ``TRITON_INTERPRET=1`` before triton is imported): there is one implementation,
and the CPU test suite runs it. Triton is optional: without it the method raises a clear error
and ``"auto"`` does not offer it.
"""

from __future__ import annotations

import warnings

import torch

try:  # optional: the kernel is parsed by Triton, which resolves ``tl`` from this module
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the environment
    triton = tl = None

MAX_N = 32


def padded(n: int) -> int:
    """The kernel's block side for size ``n``: the power of two ``N ≥ max(n, 2)``.

    Example:
        >>> padded(5), padded(8)
        (8, 8)
    """
    return 1 << max(n - 1, 1).bit_length()


def available() -> bool:
    """Whether the triton package is installed (the kernel then runs on CUDA tensors, and on CPU
    tensors through Triton's interpreter when ``TRITON_INTERPRET=1`` was set before the import)."""
    return triton is not None


def _jacobi_kernel(A_ptr, W_ptr, V_ptr, S_ptr, B, max_sweeps, tol2,
                   n: tl.constexpr, N: tl.constexpr, BLOCK: tl.constexpr, F64: tl.constexpr):
    pid = tl.program_id(0)
    b = pid * BLOCK + tl.arange(0, BLOCK)
    idx = tl.arange(0, N)
    b3 = b[:, None, None]
    rr = idx[None, :, None]  # row index of a (BLOCK, N, N) block
    cc = idx[None, None, :]  # column index
    rv = idx[None, :]  # index of a (BLOCK, N) vector
    inside = (b3 < B) & (rr < n) & (cc < n)
    A = tl.load(A_ptr + b3 * (n * n) + rr * n + cc, mask=inside, other=0.0)
    # Scale by the power of two at or below the largest entry (exact; the exponent bits of a normal
    # number), so squares neither overflow nor underflow and diagonal matrices come back exact.
    amax = tl.max(tl.max(tl.abs(A), axis=2), axis=1)
    if F64:
        pow2 = (amax.to(tl.int64, bitcast=True) & 0x7FF0000000000000).to(tl.float64, bitcast=True)
    else:
        pow2 = (amax.to(tl.int32, bitcast=True) & 0x7F800000).to(tl.float32, bitcast=True)
    scale = tl.where(pow2 > 0, pow2, tl.where(amax > 0, amax, 1.0))  # subnormal or zero maxima
    A = A / scale[:, None, None]
    V = tl.zeros([BLOCK, N, N], dtype=A.dtype) + (rr == cc).to(A.dtype)
    offdiag = rr != cc

    sq = A * A
    off2 = tl.sum(tl.sum(tl.where(offdiag, sq, 0.0), axis=2), axis=1)
    fro2 = tl.sum(tl.sum(sq, axis=2), axis=1)
    todo = tl.max((off2 > tol2 * fro2).to(tl.int32), axis=0)
    sweeps = 0
    while (todo > 0) & (sweeps < max_sweeps):
        for p in range(0, n - 1):
            for q in range(p + 1, n):
                colp = tl.sum(tl.where(cc == p, A, 0.0), axis=2)  # A[:, :, p] as (BLOCK, N)
                colq = tl.sum(tl.where(cc == q, A, 0.0), axis=2)
                app = tl.sum(tl.where(rv == p, colp, 0.0), axis=1)
                apq = tl.sum(tl.where(rv == q, colp, 0.0), axis=1)
                aqq = tl.sum(tl.where(rv == q, colq, 0.0), axis=1)
                # Entries are below 2 after scaling: |a_pq| ≤ 1e-30 changes no eigenvalue
                # (by a_pq² / gap) and is skipped, so that |θ| ≤ 1e30; beyond 1e15, θ² would
                # lose its meaning (and overflow in float32), and t = 1 / 2θ to rounding.
                skip = tl.abs(apq) <= 1e-30
                theta = (aqq - app) / (2.0 * tl.where(skip, 1.0, apq))
                huge = tl.abs(theta) > 1e15
                th = tl.where(huge, 0.0, theta)
                t = tl.where(th >= 0, 1.0, -1.0) / (tl.abs(th) + tl.sqrt(th * th + 1.0))
                t = tl.where(skip, 0.0, tl.where(huge, 0.5 / tl.where(huge, theta, 1.0), t))
                c = 1.0 / tl.sqrt(t * t + 1.0)
                s = t * c
                c2, s2 = c[:, None], s[:, None]
                # Column p of PᵀAP is c·A[:, p] − s·A[:, q] off the 2×2 block, column q is
                # s·A[:, p] + c·A[:, q]; the block is diag(a_pp − t a_pq, a_qq + t a_pq).
                newp = c2 * colp - s2 * colq
                newq = s2 * colp + c2 * colq
                newp = tl.where(rv == p, (app - t * apq)[:, None], tl.where(rv == q, 0.0, newp))
                newq = tl.where(rv == q, (aqq + t * apq)[:, None], tl.where(rv == p, 0.0, newq))
                A = tl.where(cc == p, newp[:, :, None], tl.where(cc == q, newq[:, :, None], A))
                A = tl.where(rr == p, newp[:, None, :], tl.where(rr == q, newq[:, None, :], A))
                vp = tl.sum(tl.where(cc == p, V, 0.0), axis=2)
                vq = tl.sum(tl.where(cc == q, V, 0.0), axis=2)
                V = tl.where(cc == p, (c2 * vp - s2 * vq)[:, :, None],
                             tl.where(cc == q, (s2 * vp + c2 * vq)[:, :, None], V))
        sweeps += 1
        sq = A * A
        off2 = tl.sum(tl.sum(tl.where(offdiag, sq, 0.0), axis=2), axis=1)
        fro2 = tl.sum(tl.sum(sq, axis=2), axis=1)
        todo = tl.max((off2 > tol2 * fro2).to(tl.int32), axis=0)

    w = tl.sum(tl.where(offdiag, 0.0, A), axis=2)  # the diagonal, (BLOCK, N)
    wi = w[:, :, None]
    wj = w[:, None, :]
    before = ((wj < wi) | ((wj == wi) & (cc < rr))) & (cc < n)
    rank = tl.sum(before.to(tl.int32), axis=2)  # ascending position of eigenvalue i
    b2 = b[:, None]
    tl.store(W_ptr + b2 * n + rank, w * scale[:, None], mask=(b2 < B) & (rv < n))
    tl.store(V_ptr + b3 * (n * n) + rr * n + rank[:, None, :], V, mask=inside)
    tl.store(S_ptr + pid, sweeps)


_KERNEL = triton.jit(_jacobi_kernel) if triton is not None else None


def interpreted() -> bool:
    """Whether Triton runs kernels through its interpreter (``TRITON_INTERPRET=1`` before import)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(_KERNEL, InterpretedFunction)


# (N, bytes per element) -> (BLOCK, num_warps), measured on CUDA (see scripts/gpu_eigh_check.py,
# section "sweep"); other sizes use the rule in default_block.
TUNED: dict[tuple[int, int], tuple[int, int]] = {}


def default_block(n: int, dtype: torch.dtype = torch.float32) -> tuple[int, int]:
    """``(BLOCK, num_warps)``: matrices per program and warps per program for size ``n`` (padded to
    a power of two ``N``): the measured ``TUNED`` entry, else about four elements per thread.

    Example:
        >>> default_block(8)  # two 8×8 matrices per program, one warp
        (2, 1)
    """
    N = padded(n)
    key = (N, torch.finfo(dtype).bits // 8)
    if key in TUNED:
        return TUNED[key]
    warps = 1 if N <= 8 else 2 if N <= 16 else 8
    return max(1, 4 * 32 * warps // (N * N)), warps


def triton_eigh(
    A: torch.Tensor, *, max_sweeps: int = 40, block: int | None = None, num_warps: int | None = None,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric ``(B, n, n)`` batch, one kernel.

    Args:
        A: symmetric float32/float64 ``(B, n, n)``, ``1 ≤ n ≤ 32``, on CUDA (or CPU: interpreter).
        max_sweeps: cap on the Jacobi sweeps (cyclic Jacobi converges quadratically; a few sweeps
            at these sizes).
        block, num_warps: matrices per program and warps per program (default: ``default_block``).
        verify: warn when a block stopped at ``max_sweeps`` (reads one number back: a
            synchronisation on a GPU).

    Returns:
        ``(W, V)``: eigenvalues ``(B, n)`` ascending and eigenvectors ``(B, n, n)`` (columns), with
        ``A ≈ V diag(W) Vᵀ``. On CUDA, ``eigh(A, "triton")`` is the usual entry point.
    """
    if not available():
        raise RuntimeError("method 'triton' needs the triton package (pip install triton); use 'jacobi' or 'torch'")
    if A.dim() != 3 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"triton_eigh: A must be (B, n, n); got shape {tuple(A.shape)}")
    if A.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"triton_eigh: A must be float32 or float64; got {A.dtype}")
    B, n = A.shape[0], A.shape[-1]
    if n > MAX_N:
        raise ValueError(f"triton_eigh: n = {n} is above MAX_N = {MAX_N} (the block is held in registers)")
    if A.device.type == "cpu" and not interpreted():
        raise RuntimeError("triton_eigh: CPU tensors run through Triton's interpreter, which must be switched on "
                           "before triton is imported (environment TRITON_INTERPRET=1; slow: for tests); "
                           "use method 'jacobi' or 'torch' on a CPU")
    if A.device.type not in ("cuda", "cpu"):
        raise ValueError(f"triton_eigh: runs on CUDA (or on CPU through the interpreter); got {A.device}")
    A = A.contiguous()
    W = torch.empty(B, n, dtype=A.dtype, device=A.device)
    V = torch.empty(B, n, n, dtype=A.dtype, device=A.device)
    if B == 0:
        return W, V
    if n == 1:
        return A[:, 0].clone(), torch.ones_like(A)
    N = padded(n)
    dblock, dwarps = default_block(n, A.dtype)
    if A.device.type == "cpu":  # the interpreter's cost is per operation: one wide block is fastest
        dblock = min(64, 1 << (B - 1).bit_length())
    block = block or dblock
    if block < 1 or block & (block - 1):
        raise ValueError(f"triton_eigh: block must be a power of two (a Triton block shape); got {block}")
    programs = -(-B // block)
    S = torch.empty(programs, dtype=torch.int32, device=A.device)
    eps = torch.finfo(A.dtype).eps
    _KERNEL[(programs,)](A, W, V, S, B, max_sweeps, eps * eps, n=n, N=N, BLOCK=block,
                         F64=A.dtype == torch.float64, num_warps=num_warps or dwarps)
    if verify and int(S.max()) >= max_sweeps:
        warnings.warn(f"triton_eigh: some matrices did not converge in {max_sweeps} sweeps", RuntimeWarning,
                      stacklevel=2)
    return W, V
