"""Batched cyclic Jacobi eigensolver with the parallel (round-robin) ordering.

One *sweep* visits every pair ``(p, q)`` once. The round-robin tournament schedule splits a sweep
into ``n − 1`` rounds of ``n/2`` disjoint pairs; the rotations of one round commute, so a round is
applied to every matrix of the batch at once. The rotation of pair ``(p, q)`` is
``J = [[c, s], [−s, c]]`` with the small angle ``θ = ½·atan(2a_pq / (a_qq − a_pp))``
(``|θ| ≤ π/4``), which zeroes ``a_pq`` of ``Jᵀ A J``. A matrix that has converged receives
rotations by angles that are zero to rounding, so it is not disturbed by the others that still
iterate, and it leaves the working set at the next convergence check (batch compaction).

Layout (what makes it fast on CPU, where the cost is the number of tensor operations, not the
arithmetic): the batch is the *last*, contiguous dimension, so every matrix entry is a row of
``B`` numbers and any permutation of entries is one ``index_select`` of whole rows. The state holds
the entries of ``A`` and of ``Vᵀ`` in the basis of the current round, ordered so that the rows
``p`` of all pairs form one block and the rows ``q`` the other. One round is then:

1. one gather that moves the state from the previous round's basis to this round's (and also
   picks the three entries that define each angle);
2. the angles: ``2θ = atan(2a_pq / (a_qq − a_pp))`` (a difference, one ``addcdiv``, one ``atan``,
   and a NaN from 0/0 set to 0), then the rows ``(−θ, θ)`` in one product and ``(−s, c, s)`` from
   them by one cosine and one sine (seven operations on ``(n/2, B)``);
3. the row rotation ``Jᵀ[A | Vᵀ]``: two operations that write both row blocks, with the
   coefficients ``(c, s)`` and ``(−s, c)`` as two windows of the rows ``(−s, c, s)``;
4. the column rotation ``(JᵀA)J`` of the p and q column blocks of ``A`` (the columns of ``A`` are
   ordered like its rows, p columns first): two operations into the rows after the state, where
   the next round's gather reads ``A`` (no copy back).

Every operation writes into buffers allocated once per working-set size, so a round is about
twelve calls into PyTorch whatever the batch size.
"""

from __future__ import annotations

import warnings
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


def symmetric_2x2_batch_last(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric batch-last ``2 × 2`` matrices ``M`` ``(2, 2, B)`` by one
    Jacobi rotation, which is exact for ``n = 2`` (LAPACK's tridiagonal QR also finishes its
    ``2 × 2`` blocks in closed form): no iterations, no convergence checks, and the eigenvalues
    come out in ascending order (no sort).

    With ``a, b, c = M[0, 0], M[0, 1], M[1, 1]``, the rotation ``J = [[cs, sn], [−sn, cs]]`` with
    ``t = sn/cs = 2b / (δ + sign(δ)·hypot(δ, 2b))``, ``δ = c − a`` (the smaller of the two angles
    that zero ``b``, ``|t| ≤ 1``) gives ``JᵀMJ = diag(a − tb, c + tb)`` (Golub and Van Loan,
    ``symSchur2``); ``tb`` has the sign of ``δ``, so ``a − tb ≤ c + tb`` exactly when ``δ ≥ 0``,
    and where ``δ < 0`` the two eigenpairs swap (the second eigenvector negated: the columns of
    ``[[sn, −cs], [cs, sn]]``). ``tiny`` added to the hypotenuse makes ``δ = b = 0`` give ``t = 0``.
    Reads ``M`` (any strides); returns ``(D, Vt)`` like :func:`jacobi_eigh_batch_last`.

    Example:
        >>> M = torch.tensor([[[3.0], [1.0]], [[1.0], [3.0]]], dtype=torch.float64)
        >>> D, Vt = symmetric_2x2_batch_last(M)
        >>> D[:, 0].tolist()
        [2.0, 4.0]
    """
    a, b, c = M[0, 0], M[0, 1], M[1, 1]
    delta = c - a
    b2 = b + b
    den = torch.hypot(delta, b2).add_(torch.finfo(M.dtype).tiny).copysign_(delta).add_(delta)
    t = b2.div_(den)
    cs = torch.rsqrt(t * t + 1)
    sn = t * cs
    tb = t * b
    up = delta >= 0
    lo, hi = torch.where(up, a - tb, c + tb), torch.where(up, c + tb, a - tb)
    C, S = torch.where(up, cs, sn), torch.where(up, sn, -cs)
    return torch.stack((lo, hi)), torch.stack((torch.stack((C, -S)), torch.stack((S, C))))


def _row(m: int, r: int, c2: int) -> int:
    """State row of entry ``(r, c2)``: position ``r = 2k + j`` (pair ``k``, ``j = 0`` for its p
    and 1 for its q) in the round's basis; ``c2 < m`` is a column of ``A``, ``c2 ≥ m`` column
    ``c2 − m`` of ``Vᵀ``. Layout ``(j, k, c)`` where the ``A`` columns are themselves ordered
    ``(j_c, k_c)`` (p columns of all pairs, then q columns), so that the column rotation, like the
    row rotation, works on two contiguous blocks."""
    h = m // 2
    col = (c2 % 2) * h + c2 // 2 if c2 < m else c2
    return ((r % 2) * h + r // 2) * 2 * m + col


def _loc(m: int, r: int, c2: int) -> int:
    """Row of entry ``(r, c2)`` in the work store after a round: the rows of ``Vᵀ`` stay in the
    state (:func:`_row`), and the column rotation writes ``A`` to the ``m²`` rows after it, ordered
    ``(j, k, j_c, k_c)``."""
    if c2 >= m:
        return _row(m, r, c2)
    h = m // 2
    return 2 * m * m + ((r % 2) * h + r // 2) * m + (c2 % 2) * h + c2 // 2


@lru_cache(maxsize=32)
def _plan(m: int, device: torch.device) -> dict:
    """Index tensors of the gathers for an even size ``m`` (see the module docstring)."""
    h, E = m // 2, 2 * m * m
    orders = [[x for pq in zip(P, Q) for x in pq] for P, Q in round_robin_schedule(m)]

    def gather(source_of) -> torch.Tensor:
        # Rows of the gathered block: the state in the new basis, then a_pp, a_qq and a_pq of
        # every pair.
        perm = [0] * E
        for r in range(m):
            for c2 in range(2 * m):
                perm[_row(m, r, c2)] = source_of(r, c2)
        angles = [perm[_row(m, 2 * k + j, 2 * k + i)] for j, i in ((0, 0), (1, 1), (0, 1)) for k in range(h)]
        return torch.tensor(perm + angles, device=device)

    first = orders[0]
    # The first round reads A (rows 0..m²−1) and Vᵀ = I from a zero row (m²) and a one row (m² + 1).
    start = gather(lambda r, c2: first[r] * m + first[c2] if c2 < m else m * m + int(first[r] == c2 - m))
    steps = []
    for t in range(m - 1):  # round t from the basis of round t − 1 (the last round for t = 0)
        pos = {label: i for i, label in enumerate(orders[t - 1])}
        order = orders[t]
        steps.append(gather(lambda r, c2, o=order, p=pos: _loc(m, p[o[r]], p[o[c2]] if c2 < m else c2)))

    return {
        "start": start,
        "steps": steps,
        "off": torch.tensor([_loc(m, r, c) for r in range(m) for c in range(m) if r != c], device=device),
        "diag": torch.tensor([_loc(m, r, r) for r in range(m)], device=device),
        "vt": torch.tensor([_loc(m, r, m + c) for r in range(m) for c in range(m)], device=device),
    }


class _Buffers:
    """Work tensors and their views for a working set of ``B`` matrices of even size ``m``."""

    def __init__(self, plan: dict, m: int, B: int, dtype: torch.dtype, device: torch.device):
        h, E = m // 2, 2 * m * m
        kw = {"dtype": dtype, "device": device}
        # The work store: the state [A | Vᵀ] in the round's basis (E rows), then A after the column
        # rotation (m² rows), which the next round's gather reads from there.
        self.store = torch.empty(E + m * m, B, **kw)
        self.state = self.store[:E]
        self.rows = self.state.view(2, h, 2 * m, B)  # (p rows; q rows) of [A | Vᵀ]
        # The A columns as (j, k, j_c, k_c): p columns (j_c = 0) and q columns (j_c = 1) of every pair.
        self.cols = self.state.view(2, h, 2, m, B)[:, :, 0].view(2, h, 2, h, B)
        self.p_cols, self.q_cols = self.cols[:, :, 0:1], self.cols[:, :, 1:2]
        self.gathered = torch.empty(E + 3 * h, B, **kw)
        self.g_p, self.g_q = self.gathered[:E].view(2, h, 2 * m, B).unbind(0)
        self.app, self.aqq, self.apq = self.gathered[E:].view(3, h, B).unbind(0)
        self.rotated = self.store[E:].view(2, h, 2, h, B)  # (j, k, j_c, k_c), like self.cols
        self.diff = torch.empty(h, B, **kw)
        self.tan2 = torch.empty(h, B, **kw)  # tan 2θ, then 2θ
        self.zero = torch.zeros(h, B, **kw)
        # (−s, c, s): every coefficient pair of the rotations is a window of two rows, (c, s) =
        # trig[1:3] and (−s, c) = trig[0:2]. (The rational formulas t = tan θ, c = 1/√(1 + t²),
        # s = t·c need no transcendental function but take more operations and were no faster;
        # their rotations are further from orthogonal, which made float64 errors at n = 32 several
        # times larger.)
        self.trig = torch.empty(3, h, B, **kw)
        self.cos, self.sin = self.trig[1], self.trig[2]
        self.angles = self.trig[0::2]  # the rows −s and s, which hold −θ and θ before their sine
        self.cs_rows, self.sc_rows = self.trig[1:3].unsqueeze(2), self.trig[0:2].unsqueeze(2)  # (2, h, 1, B)
        self.cs_cols, self.sc_cols = self.trig[1:3], self.trig[0:2]  # (2, h, B): indexed by (j_c, k_c)
        self.halves = torch.tensor([-0.5, 0.5], **kw).view(2, 1, 1)  # 2θ → (−θ, θ)

    def round(self, source: torch.Tensor, index: torch.Tensor) -> None:
        """One parallel round: gather ``source`` rows by ``index`` and rotate; ``Vᵀ`` is left in the
        state and ``A`` in the rows after it (see :func:`_loc`)."""
        torch.index_select(source, 0, index, out=self.gathered)
        torch.sub(self.aqq, self.app, out=self.diff)
        # tan 2θ = 2 a_pq / (a_qq − a_pp) and 2θ = atan(tan 2θ), so |θ| ≤ π/4; a_pp = a_qq gives
        # ±∞ and θ = ±π/4, and 0/0 (a_pq = 0 too) NaN, set to θ = 0.
        torch.addcdiv(self.zero, self.apq, self.diff, value=2.0, out=self.tan2)
        self.tan2.atan_().nan_to_num_(0.0)
        torch.mul(self.halves, self.tan2, out=self.angles)
        torch.cos(self.sin, out=self.cos)
        self.angles.sin_()
        # Jᵀ [A | Vᵀ]: (p, q) rows → (c p − s q, s p + c q)
        torch.mul(self.cs_rows, self.g_p, out=self.rows)
        self.rows.addcmul_(self.sc_rows, self.g_q)
        # (Jᵀ A) J: the same rotation on the p and q column blocks of A, into the rows after the state.
        torch.mul(self.cs_cols, self.p_cols, out=self.rotated)
        self.rotated.addcmul_(self.sc_cols, self.q_cols)


def jacobi_eigh(
    A: torch.Tensor, *, max_sweeps: int | None = None, tol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric ``(B, n, n)`` matrices by parallel-ordered cyclic Jacobi.

    Args:
        A: symmetric matrices ``(B, n, n)`` (not checked here; see :func:`ai4m_kit.linalg.eigh`).
        max_sweeps: cap on sweeps (default 40).
        tol: a matrix is done when its off-diagonal norm is ``≤ tol · ‖A‖_F`` (default: the
            dtype's machine epsilon), or is ``≤ 4 tol · ‖A‖_F`` and shrank by less than 2× in the
            last sweep (the rounding floor, a few ε; a cluster of
            eigenvalues at the rounding level can converge only linearly above it, so the floor
            test is not trusted higher up). Done matrices leave the working set.

    Returns:
        ``(evals, evecs)``: unsorted eigenvalues ``(B, n)`` and eigenvectors as columns ``(B, n, n)``.

    Example:
        >>> A = torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64)
        >>> w, V = jacobi_eigh(A)
        >>> sorted(round(x, 6) for x in w[0].tolist())
        [1.0, 3.0]
    """
    evals, Vt = jacobi_eigh_batch_last(A.permute(1, 2, 0), max_sweeps=max_sweeps, tol=tol)
    return evals.T.contiguous(), Vt.permute(2, 1, 0).contiguous()


def jacobi_eigh_batch_last(
    M: torch.Tensor, *, max_sweeps: int | None = None, tol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`jacobi_eigh` of batch-last matrices ``M`` ``(n, n, B)`` (any strides; read, not written).

    Returns ``(evals, Vt)``: unsorted eigenvalues ``(n, B)`` and the eigenvectors as the rows of
    ``Vt`` ``(n, n, B)`` (``Vt[j, :, b]`` belongs to ``evals[j, b]``); possibly non-contiguous views.
    """
    n, B = M.shape[0], M.shape[-1]
    dtype, device = M.dtype, M.device
    if n == 1:
        return M[0].clone(), torch.ones_like(M)
    if n == 2:  # one rotation is exact
        return symmetric_2x2_batch_last(M)
    # Odd n: a zero row and column pairs with the others at angle 0 and is dropped at the end.
    m = n + n % 2
    plan = _plan(m, device)
    tol = torch.finfo(dtype).eps if tol is None else tol
    max_sweeps = 40 if max_sweeps is None else max_sweeps
    # The entries of A in natural order, batch last, then a zero row and a one row (Vᵀ = I).
    source = M.new_zeros(m * m + 2, B)
    source[: m * m].view(m, m, B)[:n, :n].copy_(M)
    source[m * m + 1].fill_(1.0)
    alive = torch.arange(B, device=device)
    # done: off ≤ lim, or off ≤ 4 lim while shrinking by less than 2× (tensors: a Python number in an
    # operation costs a conversion per call)
    lim = source[: m * m].square().sum(0).sqrt_().mul_(tol)
    lim4, half = 4 * lim, lim.new_tensor(0.5)
    prev_half = torch.full_like(lim, float("inf"))
    buf = _Buffers(plan, m, B, dtype, device)
    final = buf.store  # the full batch; a compacted working set is copied back into it
    steps = plan["steps"]
    for t in range(m - 1):
        buf.round(source if t == 0 else buf.store, plan["start"] if t == 0 else steps[t])
    for _ in range(max_sweeps - 1):
        off = buf.store.index_select(0, plan["off"]).square_().sum(0).sqrt_()
        done = (off <= lim) | ((off <= lim4) & (off > prev_half))
        n_done = int(done.sum())
        if n_done == len(alive):
            break
        if 4 * n_done >= len(alive):  # compact: finished matrices leave the working set
            if buf.store is not final:
                final.index_copy_(1, alive, buf.store)
            keep = (~done).nonzero().squeeze(1)
            store, alive, off = buf.store.index_select(1, keep), alive[keep], off[keep]
            lim, lim4 = lim[keep], lim4[keep]
            buf = _Buffers(plan, m, len(alive), dtype, device)
            buf.store.copy_(store)
        prev_half = off.mul_(half)
        for t in range(m - 1):
            buf.round(buf.store, steps[t])
    else:
        warnings.warn(f"jacobi_eigh: {len(alive)} matrices did not converge in {max_sweeps} sweeps", RuntimeWarning,
                      stacklevel=3)
    if buf.store is not final:
        final.index_copy_(1, alive, buf.store)
    evals = final.index_select(0, plan["diag"])
    Vt = final.index_select(0, plan["vt"]).view(m, m, B)
    if m != n:  # the padding's eigenpair is (0, e_n): drop it wherever it ended up
        keep = (Vt[:, n, :].abs() < 0.5).T  # (B, m)
        evals = evals.T[keep].view(B, n).T
        Vt = Vt.permute(2, 0, 1)[keep].view(B, n, m)[:, :, :n].permute(1, 2, 0)
    return evals, Vt
