"""Batched cyclic Jacobi eigensolver with the parallel (round-robin) ordering.

One *sweep* visits every pair ``(p, q)`` once. The round-robin tournament schedule splits a sweep
into ``n − 1`` rounds of ``n/2`` disjoint pairs; the rotations of one round commute, so a round is
applied to every matrix of the batch at once with a handful of element-wise tensor operations
(gather the partner row, scale, add) instead of one rotation at a time. The same rounds update the
eigenvector matrix. A matrix that has converged receives rotations by angles that are zero to
rounding, so it is not disturbed by the others that still iterate.

The rotation of pair ``(p, q)`` is ``J = [[c, s], [−s, c]]`` with the small angle
``θ = ½·atan(2a_pq / (a_qq − a_pp))`` (``|θ| ≤ π/4``), which zeroes ``a_pq`` of ``Jᵀ A J``.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=64)
def round_robin_schedule(n: int) -> list[tuple[list[int], list[int]]]:
    """The ``n − 1`` rounds (``n`` even) of the round-robin ordering: ``[(P, Q), ...]``.

    Every unordered pair ``{p, q}`` appears in exactly one round, and the pairs of a round are
    disjoint.

    Example:
        >>> round_robin_schedule(4)
        [([0, 1], [3, 2]), ([0, 3], [2, 1]), ([0, 2], [1, 3])]
    """
    if n < 2 or n % 2:
        raise ValueError(f"round-robin schedule needs an even n >= 2; got {n}")
    players = list(range(n))
    rounds = []
    for _ in range(n - 1):
        P = [players[i] for i in range(n // 2)]
        Q = [players[n - 1 - i] for i in range(n // 2)]
        rounds.append((P, Q))
        players = [players[0], players[-1]] + players[1:-1]
    return rounds


@lru_cache(maxsize=64)
def _round_indices(n: int, device: torch.device, dtype: torch.dtype):
    """Per round: flat indices of (a_pp, a_qq, a_pq), each row's partner, and for every entry
    ``(i, j)`` of a matrix the pair of row ``i`` (flat) and the sign of its sine term."""
    out = []
    for P, Q in round_robin_schedule(n):
        Pt, Qt = torch.tensor(P), torch.tensor(Q)
        flat = torch.cat([Pt * n + Pt, Qt * n + Qt, Pt * n + Qt])
        partner = torch.empty(n, dtype=torch.long)
        partner[Pt], partner[Qt] = Qt, Pt
        pair = torch.empty(n, dtype=torch.long)
        pair[Pt] = pair[Qt] = torch.arange(n // 2)
        sign = torch.empty(n, dtype=dtype)
        sign[Pt], sign[Qt] = -1.0, 1.0
        pair_full = pair.repeat_interleave(n)
        sign_full = sign.repeat_interleave(n).reshape(n, n)
        out.append(tuple(t.to(device) for t in (flat, partner, pair_full, sign_full)))
    return out


def _rotate_rows(M: torch.Tensor, partner: torch.Tensor, C: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """Rows ``p, q`` of every matrix → ``c·row_p − s·row_q, s·row_p + c·row_q`` (that is ``Jᵀ M``).

    ``C`` and ``S`` hold the coefficients at full size ``(B, n, n)``: broadcasting a ``(B, n, 1)``
    factor along short rows is several times slower on CPU.
    """
    return torch.addcmul(M * C, M.index_select(-2, partner), S)


def jacobi_eigh(
    A: torch.Tensor, *, max_sweeps: int | None = None, tol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric ``(B, n, n)`` matrices by parallel-ordered cyclic Jacobi.

    Args:
        A: symmetric matrices ``(B, n, n)`` (not checked here; see :func:`ai4m_kit.linalg.eigh`).
        max_sweeps: cap on sweeps (default 40); the loop stops earlier when, for every matrix,
            the off-diagonal norm is ``≤ tol · ‖A‖_F``, or is ``≤ 10 n tol · ‖A‖_F`` and shrank
            by less than 2× in the last sweep (the rounding floor).
        tol: relative stopping threshold (default: the dtype's machine epsilon).

    Returns:
        ``(evals, evecs)``: unsorted eigenvalues ``(B, n)`` and eigenvectors as columns ``(B, n, n)``.

    Example:
        >>> A = torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64)
        >>> w, V = jacobi_eigh(A)
        >>> sorted(round(x, 6) for x in w[0].tolist())
        [1.0, 3.0]
    """
    B, n = A.shape[0], A.shape[-1]
    dtype, device = A.dtype, A.device
    if n == 1:
        return A[..., 0].clone(), torch.ones_like(A)
    odd = n % 2 == 1
    if odd:  # a zero row/column pairs with the others at angle 0 and is dropped at the end
        A = torch.nn.functional.pad(A, (0, 1, 0, 1))
    m = A.shape[-1]
    A = A.clone()
    Vt = torch.eye(m, dtype=dtype, device=device).expand(B, m, m).clone()
    rounds = _round_indices(m, device, dtype)
    eps = torch.finfo(dtype).eps if tol is None else tol
    scale = A.flatten(-2).norm(dim=-1)
    offmask = ~torch.eye(m, dtype=torch.bool, device=device)
    max_sweeps = 40 if max_sweeps is None else max_sweeps
    half = m // 2
    two = torch.full((B, half), 2.0, dtype=dtype, device=device)
    prev = torch.full_like(scale, float("inf"))
    for sweep in range(max_sweeps):
        off = (A * offmask).flatten(-2).norm(dim=-1)
        # Done: off-diagonal mass at machine precision, or near it (≤ 10 n ε‖A‖) and no longer
        # shrinking: the rounding floor of the rotations can sit just above ε‖A‖.
        done = (off <= eps * scale) | ((off <= 10 * m * eps * scale) & (off > 0.5 * prev))
        if bool(done.all()):
            break
        prev = off
        for flat, partner, pair_full, sign_full in rounds:
            app, aqq, apq = A.reshape(B, m * m).index_select(-1, flat).split(half, dim=-1)
            diff = aqq - app
            # tan 2θ = 2 a_pq / (a_qq − a_pp) with |θ| ≤ π/4; copysign keeps θ = ±π/4 at a_pp = a_qq.
            theta = 0.5 * torch.atan2(apq * torch.copysign(two, diff), diff.abs())
            C = torch.cos(theta).index_select(-1, pair_full).view(B, m, m)
            S = torch.sin(theta).index_select(-1, pair_full).view(B, m, m) * sign_full
            Vt = _rotate_rows(Vt, partner, C, S)
            A = _rotate_rows(A, partner, C, S)
            # A is symmetric, so (Jᵀ A) J = Jᵀ (Jᵀ A)ᵀ: a second row rotation of the transpose.
            # The result is laid out transposed; its transpose is the same symmetric matrix (to
            # rounding) and is contiguous again, which keeps the next round's gathers cheap.
            A = _rotate_rows(A.mT, partner, C, S).mT
    evals = A.diagonal(dim1=-2, dim2=-1)
    V = Vt.mT
    if odd:
        evals, V = evals[..., :n], V[..., :n, :n]
    return evals.contiguous(), V.contiguous()
