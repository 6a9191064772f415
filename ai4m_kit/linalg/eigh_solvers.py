"""The concrete methods of :func:`ai4m_kit.linalg.eigh` behind one call, :func:`solve`.

Shared by ``eigh`` and by the calibration of its ``"auto"`` choice
(:mod:`ai4m_kit.linalg.eigh_auto`), which times these methods against each other.

Every method decomposes the symmetric matrix whose lower triangle is that of the input, as
``torch.linalg.eigh`` does (it reads only that triangle): the same result from every method,
whatever the upper triangle holds.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ai4m_kit.linalg.eigh_jacobi import jacobi_eigh_batch_last
from ai4m_kit.linalg.eigh_mixed import mixed_eigh, mixed_pays
from ai4m_kit.linalg.eigh_qr import qr_eigh, qr_eigh_batch_last
from ai4m_kit.linalg.eigh_triton import triton_eigh

METHODS = ("qr", "jacobi", "triton", "torch")
# The tensor-operation solvers work on symmetric batch-last arrays (_symmetric_batch_last).
_BATCH_LAST = {"qr": qr_eigh_batch_last, "jacobi": jacobi_eigh_batch_last}
# On a CPU every operation of those solvers streams their batch-last work arrays through the
# caches, so a large batch runs faster in pieces of about CHUNK_BYTES[device type] of matrices,
# of CHUNK_MIN to CHUNK_MAX matrices (sizes chosen from timings on a 2-core CPU, one thread).
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


@lru_cache(maxsize=64)
def _lower_index(n: int, device: torch.device) -> torch.Tensor:
    """Flat index, per entry ``(i, j)`` of an ``n × n`` matrix, of the lower-triangle entry
    ``(max(i, j), min(i, j))``: gathering by it mirrors the lower triangle onto the upper one."""
    i = torch.arange(n, device=device)
    hi, lo = torch.maximum(i[:, None], i[None, :]), torch.minimum(i[:, None], i[None, :])
    return (hi * n + lo).reshape(-1)


def symmetric_from_lower(A: torch.Tensor) -> torch.Tensor:
    """The symmetric matrices ``(B, n, n)`` whose lower triangles are those of ``A`` (a new tensor).

    Example:
        >>> symmetric_from_lower(torch.tensor([[[1.0, 5.0], [2.0, 3.0]]]))
        tensor([[[1., 2.],
                 [2., 3.]]])
    """
    B, n = A.shape[0], A.shape[-1]
    return A.reshape(B, n * n).index_select(1, _lower_index(n, A.device)).view(B, n, n)


def _symmetric_batch_last(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The symmetric matrices of the lower triangles of a ``(B, n, n)`` batch as a new batch-last
    array ``(n, n, B)``, each scaled by a power of two near its largest entry (exact in floating
    point, so that squares of entries neither overflow nor underflow in the iterations), and the
    factors ``(B,)`` that scale its eigenvalues back. One gather mirrors, transposes and copies."""
    B, n = A.shape[0], A.shape[-1]
    At = A.reshape(B, n * n).T.index_select(0, _lower_index(n, A.device)).view(n, n, B)
    amax = At.view(n * n, B).abs().amax(0)
    scale = torch.exp2(torch.round(torch.log2(torch.where(amax > 0, amax, 1.0))))
    return At.div_(scale), scale


def solve(
    A: torch.Tensor, method: str, compile: bool = False, precision: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted ``(evals, evecs)`` of a ``(B, n, n)`` batch by a concrete method (one of
    :data:`METHODS`), of the symmetric matrices of ``A``'s lower triangles; float64 in mixed
    precision where ``precision`` says so (see :func:`ai4m_kit.linalg.eigh`), in pieces of at
    most :func:`chunk_size` matrices.

    Example:
        >>> w, V = solve(torch.tensor([[[2.0, 9.0], [1.0, 2.0]]]), "jacobi")  # the 9 is not read
        >>> w
        tensor([[1., 3.]])
    """
    if method == "torch":  # LAPACK / cuSOLVER read the lower triangle
        return torch.linalg.eigh(A)
    if method == "triton":  # scales, solves and sorts in its one kernel
        return triton_eigh(symmetric_from_lower(A))
    if method not in _BATCH_LAST:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    size = chunk_size(A.shape[-1], A.device, A.dtype)
    if size is not None and A.shape[0] > size:
        parts = [solve(piece, method, compile, precision) for piece in A.tensor_split(-(-A.shape[0] // size))]
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
