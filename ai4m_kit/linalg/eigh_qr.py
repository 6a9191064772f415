"""Batched symmetric QR eigensolver: Householder tridiagonalisation, then implicit QR sweeps.

The published batched QR code lets one matrix's convergence drive every matrix's deflation. Here
every matrix deflates on its own: its negligible sub-diagonal entries are set to exactly zero,
which splits its tridiagonal matrix into unreduced blocks, and a sweep chases one bulge through
each block, from the block's top to its end. A rotation outside every block is the identity, so
converged matrices stay untouched, and the sweep range shrinks with the lowest unreduced entry
left in the batch (progressive shrinking). The ablation ``qr_eigh(..., deflation="shared")`` runs
the other scheme, one window for the whole batch: on a batch of random matrices with one zero
matrix among them, the zero matrix converges at once and collapses the window before the first
sweep, and every random matrix comes back wrong (see
:func:`ai4m_kit.studies.batched_eigh.run_deflation`).

Each iteration checks deflation, then chases one implicit QR sweep shifted by the Wilkinson shift
of each matrix's trailing 2×2 block (the bottom of its bottom unreduced block). The blocks above
get the same shift: any shift is an orthogonal similarity that only moves their convergence, and
one shift per matrix spares the check finding where the bottom block starts (the check costs 10
batched operations). ``double_shift=True`` chases two such sweeps per check (the second with the
shift of the updated block, skipped where that block has split off): fewer checks but more
positions, and slower overall on random matrices. Using both eigenvalues of the same trailing
block (a Francis double-shift step in exact arithmetic) needed more sweeps. Giving every
unreduced block the Wilkinson shift of its own trailing block changed nothing (blocks rarely split
above the bottom one before it converges), and chasing two bulges a few positions apart in one
pass took more steps than single positions: neither was adopted. A NumPy port of the eager
iterations was slower, so not adopted either.

Layout (on a CPU the cost is the number of tensor operations, not the arithmetic): the batch is
the last, contiguous dimension. The tridiagonal matrix of every batch member lives in one band
array ``T`` of shape ``(2n + 3, B)``: ``T[2i + 1] = d_i`` (diagonal), ``T[2i + 2] = e_i``
(sub-diagonal), so the 2×2 block at position ``k`` is a window of three consecutive rows, and
``T[0]`` and ``T[2n:]`` are zero pads. The eigenvector matrix is kept as ``Qᵀ`` ``(n, n, B)``: a
rotation mixes two contiguous rows. Without masks, a rotation is the exact identity where it must
not act:

- a block starts at ``k`` where ``e_k`` is not negligible and ``e_{k−1}`` is (or ``k = 0``); its
  first rotation reads ``x = e_{k−1} + (d_k − μ)``, with ``e_{k−1} = 0`` there, from a row added at
  position ``k``, and ``z = e_k`` from the bulge array, both written before the sweep through a
  mask of the block starts; the ``r`` it leaves in ``e_{k−1}`` is reset to 0 after the sweep;
- the bulge leaving a block meets an exactly zero ``e`` at the block's end, so it is exactly 0
  and no bulge leaks into the next block; the rotation of ``(x, 0)`` is then ``c = 1, s = 0``,
  because ``r`` takes the sign of ``x`` (``tiny`` added to ``x`` outside the starts makes
  ``(0, 0)`` give ``c = 1``; the ``r = tiny`` it leaves in a split entry is reset to 0 by the
  next deflation check, which counts anything up to ``2 tiny`` as negligible even in a zero
  matrix).

A position costs 12 batched operations (4 for the angle, 4 for the 2×2 block, 2 for the bulge, 2
for the eigenvectors, whose row k+1 is carried to the next position instead of written back; see
:class:`_Chase`), whatever the batch size; constants are 0-dim tensors, because a Python number
costs a conversion per call.

With ``compile=True`` the same algorithm, written entry by entry (every row of ``B`` numbers a
separate tensor), goes through :func:`torch.compile`: the Householder reduction and each
iteration (check and sweep over all positions) become one fused loop over the batch — a few
calls instead of thousands of PyTorch calls. The first call per ``n``, dtype and device compiles
(minutes on a small CPU), so it is offered up to ``COMPILE_MAX_N``; inductor caches the compiled
code on disk, and a new process loads it much faster. (A ``torch.while_loop`` over the iterations
would make the whole decomposition one call, but inductor does not cache graphs that contain it,
so every process would compile again.) On a GPU it does not pay: the compiled decomposition stays
far slower than ``torch.linalg.eigh``; use the one-kernel ``"triton"`` method there
(:mod:`ai4m_kit.linalg.eigh_triton`).
"""

from __future__ import annotations

import warnings

import torch

from ai4m_kit.linalg.eigh_jacobi import symmetric_2x2_batch_last


def _tridiagonalize_batch_last(M: torch.Tensor, Qt: torch.Tensor) -> torch.Tensor:
    """Householder reduction of symmetric batch-last matrices ``M`` ``(n, n, B)``, in place.

    Returns the band ``T`` ``(2n + 3, B)`` (see the module docstring; pads zero) and writes ``Qᵀ``
    into ``Qt`` ``(n, n, B)``, with ``A = Q T Qᵀ``; ``M`` is overwritten (its columns below the
    sub-diagonal hold the reflectors). The reflector of column ``k`` is ``I − u uᵀ`` with
    ``‖u‖² = 2``: ``u = v / √(‖x‖² + ‖x‖·|x₀|)``, ``v = x − α e₁`` and ``α = −sign(x₀)‖x‖`` (the
    denominator is ``‖v‖²/2``, so no second norm is taken).

    No scaling by ``max|x|``: the matrices have largest entries of order one, so a column whose
    ``‖x‖² + ‖x‖|x₀|`` is below ``tiny/eps²`` is negligible (``‖x‖`` below 1e-12 in float32 and
    1e-138 in float64), and its reflector is set to the identity (``u = 0``) before the underflow
    of its squares could make it non-orthogonal. Above that bound the squares that matter are
    normal numbers, accurate to rounding.

    ``Qᵀ = H_{n−3} ⋯ H_0`` is accumulated after the reduction, from the last reflector to the first:
    ``H_k`` then only touches the trailing ``(n − k − 1)²`` block (instead of ``n − k − 1`` full rows).
    """
    n, B = M.shape[0], M.shape[-1]
    T = M.new_zeros(2 * n + 3, B)
    safe = torch.finfo(M.dtype).tiny / torch.finfo(M.dtype).eps ** 2
    cols = [M[k + 1 :, k] for k in range(n - 2)]
    for k, x in enumerate(cols):  # x: (m, B), m = n − k − 1
        s2 = x.square().sum(0)
        alpha = torch.copysign(s2.sqrt(), x[0], out=T[2 * k + 2]).neg_()  # e_k
        den = torch.addcmul(s2, alpha, x[0], value=-1.0)  # ‖x‖² + ‖x‖|x₀| = ‖v‖²/2
        g = torch.mul(den >= safe, den.clamp(min=safe).rsqrt_())
        x[0].sub_(alpha)
        u = x.mul_(g)
        # Two-sided update of the trailing block: A22 − (u wᵀ + w uᵀ) with p = A22 u, w = p − ½ (pᵀu) u.
        A22 = M[k + 1 :, k + 1 :]
        p = (A22 * u).sum(1)
        w = p.addcmul_(u, (p * u).sum(0), value=-0.5)
        A22.addcmul_(u.unsqueeze(1), w.unsqueeze(0), value=-1.0)
        A22.addcmul_(w.unsqueeze(1), u.unsqueeze(0), value=-1.0)
    Qt.zero_()
    Qt.diagonal(0, 0, 1).fill_(1.0)
    for k in range(n - 3, -1, -1):  # Qᵀ ← Qᵀ H_k on the block of rows and columns k+1..
        u, Qs = cols[k], Qt[k + 1 :, k + 1 :]
        Qs.addcmul_((Qs * u).sum(1).unsqueeze(1), u.unsqueeze(0), value=-1.0)
    T[1 : 2 * n : 2] = M.diagonal(0, 0, 1).T
    if n >= 2:
        T[2 * n - 2] = M[n - 1, n - 2]
    return T


def householder_tridiagonalize(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reduce symmetric ``(B, n, n)`` matrices (largest entries of order one) to tridiagonal form: ``A = Q T Qᵀ``.

    Returns:
        ``(d, e, Q)``: diagonal ``(B, n)``, sub-diagonal ``(B, n − 1)`` of ``T`` and the orthogonal
        ``Q`` ``(B, n, n)``.

    Example:
        >>> A = torch.tensor([[[4.0, 1, 2], [1, 3, 0], [2, 0, 1]]], dtype=torch.float64)
        >>> d, e, Q = householder_tridiagonalize(A)
        >>> T = torch.diag_embed(d) + torch.diag_embed(e, 1) + torch.diag_embed(e, -1)
        >>> torch.allclose(Q @ T @ Q.mT, A)
        True
    """
    n = A.shape[-1]
    Qt = A.new_empty(n, n, A.shape[0])
    T = _tridiagonalize_batch_last(A.permute(1, 2, 0).clone(memory_format=torch.contiguous_format), Qt)
    return T[1 : 2 * n : 2].T.contiguous(), T[2 : 2 * n : 2].T.contiguous(), Qt.permute(2, 1, 0).contiguous()


class _Chase:
    """Band, bulges, eigenvectors, work buffers and the per-position views of one batched QR run.

    A position costs 12 batched operations. The rotation's coefficients are computed once as the
    six rows ``R = (s, s, c, c, −s, −s)`` (one division of ``H = (z, z, x, x, −z, −z)`` by
    ``r = sign(x)·hypot(x, z)``), so that every coefficient vector an update needs is a window of three or
    two consecutive rows of ``R``: the 2×2 block ``Gᵀ M G`` is two operations for
    ``(p, t; p, t; u, w) = (c, c, −s)·(a, b) + (s, s, c)·(b, cc)`` and two for
    ``(a', b', cc') = (c, −s, −s)·(p, p, u) + (s, c, c)·(t, t, w)``, and the eigenvector rows two.
    """

    def __init__(self, T: torch.Tensor, W: torch.Tensor):
        n, B = W.shape[1], W.shape[-1]
        # H[k]: (z, z, x + x0, x + x0, −z, −z) of position k, where z is the bulge entering it.
        H = T.new_zeros(n + 1, 6, B)
        R = self.R = T.new_empty(6, B)  # (s, s, c, c, −s, −s)
        tmp = T.new_empty(3, 2, B)  # (p, t; p, t; u, w)
        # W[0] = Qᵀ; W[1] carries row k+1 of Qᵀ after the rotation at k into the rotation at k+1, so
        # that the output rows (Qᵀ[k], W[1, k+1]) of a position never overlap its inputs.
        self.Qt = W[0]
        self.tiny = T.new_tensor(torch.finfo(T.dtype).tiny)  # a tensor: a Python scalar costs a conversion per call
        # Per-position views, made by one unbind call per kind of view (one indexing call per view
        # would cost about as much as a sweep at n = 8).
        nB, m = n * B, n - 1

        def each(t: torch.Tensor, size, stride, offset: int = 0):  # the views t[offset + k·stride[0]], k < n − 1
            return t.as_strided((m,) + size, stride, t.storage_offset() + offset).unbind(0)

        self.qrows, self.carries = W[0].unbind(0), W[1].unbind(0)
        zs = H.view(n + 1, 3, 2, B)[:, 0::2]  # (z, z; −z, −z) of every position
        coef = (R[2:5].unsqueeze(1), R[0:3].unsqueeze(1), R[3:6], R[1:4], R.view(3, 2, B)[0::2], R[2],
                R[1:3].unsqueeze(1), R[3:5].unsqueeze(1))
        self.coef = coef
        self.views = list(zip(
            each(T, (2, B), (2 * B, 0, 1)),  # x = T[2k], twice
            each(H, (2, B), (6 * B, B, 1), 2 * B),  # its two rows in H[k]
            each(T, (B,), (2 * B, 1)),  # x
            each(H, (B,), (6 * B, 1), 2 * B),  # x + x0 in H[k]
            each(H, (B,), (6 * B, 1)),  # z in H[k]
            each(H, (6, B), (6 * B, B, 1)),  # H[k]
            each(T, (2, B), (2 * B, B, 1), B),  # (a, b) = T[2k + 1 : 2k + 3]
            each(T, (2, B), (2 * B, B, 1), 2 * B),  # (b, cc)
            each(T, (3, B), (2 * B, B, 1), B),  # (a, b, cc)
            each(T, (B,), (2 * B, 1), 4 * B),  # e_{k+1} = T[2k + 4]
            each(zs, (2, 2, B), (6 * B, 4 * B, B, 1), 6 * B),  # bulge rows of H[k + 1]
            self.qrows[1:],
            each(W, (2, n, B), (nB, n * nB + nB, B, 1)),  # (Qᵀ[k], W[1, k + 1])
            self.carries[1:],
        ))
        self.tmp, self.tmp_first, self.tmp_second = tmp, tmp[:, 0], tmp[:, 1]
        self.zs = zs  # the bulge entering each position, as (z, z; −z, −z)

    def sweep(self, kmin: int, kmax: int, x0: tuple[torch.Tensor, ...]) -> None:
        """Chase the bulges over positions ``kmin..kmax−1``: the row ``x0[k]`` ``(B,)`` is added to
        the ``x`` read at position ``k`` (``d_k − μ`` where a block starts, else ``tiny``), and ``H``
        holds the bulges that enter the blocks. (``x0`` comes as rows unbound once per
        decomposition: an unbind per sweep costs time.)"""
        R, tmp, first, second = self.R, self.tmp, self.tmp_first, self.tmp_second
        Xp, Yp, X, Y, s_signed, c, V, U = self.coef
        carry = self.carries[kmin]
        carry.copy_(self.qrows[kmin])  # row k of Qᵀ as rotated so far in this sweep
        for k in range(kmin, kmax):
            x2, x_pair, x, xt, z, h, block, below, trip, e_next, z_next, q1, out, carry_next = self.views[k]
            # Rotation G = [[c, −s], [s, c]] in the plane (k, k+1) that zeroes the bulge z under x.
            # r = sign(x)·hypot(x + x0, z) replaces x, so c ≥ 0: with z = 0 (no bulge) the rotation
            # is the identity, never a sign flip. (A flip of rows k and k+1 also flips e_{k+1}, and
            # where a block starts at k + 1 its z = e_{k+1} was read before the sweep: its shift
            # would be lost, and the block would not converge.) Outside a start x0 = tiny, which
            # makes (0, 0) give c = 1, s = 0; the r ≥ tiny it leaves behind is absorbed by any
            # non-negligible entry or reset to 0 by the next deflation check.
            torch.add(x2, x0[k], out=x_pair)
            torch.hypot(xt, z, out=x)
            x.copysign_(xt)
            torch.div(h, x, out=R)
            # Gᵀ [[a, b], [b, cc]] G (see the class docstring). No trace shortcut: c = 1, s = 0 leaves
            # the block bitwise unchanged.
            torch.mul(Xp, block, out=tmp)
            tmp.addcmul_(Yp, below)
            torch.mul(X, first, out=trip)
            trip.addcmul_(Y, second)
            # The rotation moves s·e_{k+1} into the bulge under e_k (and −s·e_{k+1} into its copies).
            z_next.addcmul_(s_signed, e_next)
            e_next.mul_(c)
            # Qᵀ rows: (q_k, q_{k+1}) ← (c q_k + s q_{k+1}, c q_{k+1} − s q_k), q_{k+1} carried on.
            torch.mul(V, q1, out=out)
            out.addcmul_(U, carry)
            carry = carry_next
        self.qrows[kmax].copy_(carry)


def _wilkinson_shift(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, tiny, half) -> torch.Tensor:
    """The eigenvalue of each trailing block ``[[a, b], [b, c]]`` closer to ``c`` (for the compiled
    iteration; ``tiny`` is the dtype's smallest normal number and ``half`` 0.5)."""
    b = b + tiny  # a finite shift for a split-off block (b = 0, a = c)
    delta = (a - c).mul_(half)
    return c - b * (b / (delta + torch.copysign(torch.hypot(delta, b), delta)))


def _tridiagonalize_by_rows(At: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Householder reduction of :func:`_tridiagonalize_batch_last` written entry by entry (lower
    triangle only) for :func:`torch.compile`: returns ``D`` ``(n, B)``, ``E`` ``(n − 1, B)``, ``Qᵀ``.
    The same reflectors, written ``I − u uᵀ`` with ``‖u‖² = 2`` (``u`` from ``‖x‖`` and ``|x₀|``
    alone, with no second norm)."""
    n = At.shape[0]
    tiny = torch.finfo(At.dtype).tiny
    rows = [list(row.unbind(0)) for row in At.unbind(0)]
    a = [[rows[i][j] for j in range(i + 1)] for i in range(n)]  # a[i][j], j <= i
    zero, one = torch.zeros_like(rows[0][0]), torch.ones_like(rows[0][0])
    q = [[one if i == j else zero for j in range(n)] for i in range(n)]
    e = []
    for k in range(n - 2):
        x = [a[i][k] for i in range(k + 1, n)]
        xmax = x[0].abs()
        for xi in x[1:]:
            xmax = torch.maximum(xmax, xi.abs())
        inv = 1.0 / xmax.clamp_min(tiny)
        v = [xi * inv for xi in x]
        xn = torch.sqrt(sum(vi * vi for vi in v))
        alpha = -torch.copysign(xn, v[0])
        scale = 1.0 / torch.sqrt(xn * (xn + v[0].abs())).clamp_min(tiny)
        v[0] = v[0] - alpha
        u = [vi * scale for vi in v]
        e.append(alpha * xmax)
        m, off = len(u), k + 1

        def entry(i, j):
            return a[off + max(i, j)][off + min(i, j)]

        p = [sum(entry(i, j) * u[j] for j in range(m)) for i in range(m)]
        half = 0.5 * sum(pi * ui for pi, ui in zip(p, u))
        w = [pi - half * ui for pi, ui in zip(p, u)]
        for i in range(m):
            for j in range(i + 1):
                a[off + i][off + j] = entry(i, j) - u[i] * w[j] - w[i] * u[j]
        for c in range(n):
            dot = sum(q[off + i][c] * u[i] for i in range(m))
            for i in range(m):
                q[off + i][c] = q[off + i][c] - u[i] * dot
    e.append(a[n - 1][n - 2])  # n >= 2: qr_eigh returns n = 1 before
    D = torch.stack([a[i][i] for i in range(n)])
    return D, torch.stack(e), torch.stack([torch.stack(row) for row in q])


def _iteration_by_rows(D: torch.Tensor, E: torch.Tensor, Qt: torch.Tensor, half_norm: torch.Tensor):
    """One iteration (deflation check, then one Wilkinson-shifted sweep) written entry by entry for
    :func:`torch.compile`, which fuses it into one loop over the batch.

    The iteration of the eager path of :func:`qr_eigh`, in functional form: ``D`` ``(n, B)``,
    ``E`` ``(n − 1, B)`` and ``Qᵀ`` ``(n, n, B)`` are split into rows of ``B`` numbers, and the
    sweep visits every position (outside a window the rotation is the identity or a sign flip).
    Two details differ from the eager path, where they save operations: only each matrix's bottom
    unreduced window is swept (eager: every unreduced block, with the bottom one's shift), and the
    shift is computed in the division form. Returns the new ``D, E, Qᵀ`` and, per matrix, the
    bottom non-negligible sub-diagonal index found by the check (−1: it had converged, and the
    sweep changed nothing).
    """
    n = D.shape[0]
    tiny, eps = torch.finfo(D.dtype).tiny, torch.finfo(D.dtype).eps
    d, e = list(D.unbind(0)), list(E.unbind(0))
    q = [list(row.unbind(0)) for row in Qt.unbind(0)]
    small = []
    last = torch.full_like(d[0], -1.0)
    for k in range(n - 1):
        sk = e[k].abs() <= eps * torch.maximum(d[k].abs() + d[k + 1].abs(), half_norm)
        e[k] = torch.where(sk, 0.0, e[k])
        small.append(sk)
        last = torch.where(sk, last, float(k))
    lo = torch.zeros_like(last)
    for k in range(n - 1):
        lo = torch.where(small[k] & (last > k), float(k + 1), lo)
    lo = torch.where(last < 0, float(n), lo)
    a, b, c = d[0], e[0], d[1]
    for k in range(1, n - 1):
        at = last == k
        a, b, c = torch.where(at, d[k], a), torch.where(at, e[k], b), torch.where(at, d[k + 1], c)
    mu = _wilkinson_shift(a, b, c, tiny, 0.5)
    x, g = torch.zeros_like(last), torch.zeros_like(last)
    for k in range(n - 1):
        start = lo == k
        xt = torch.where(start, d[k] - mu, x) + tiny
        z = torch.where(start, e[k], g)
        r = torch.hypot(xt, z)
        cs, sn = xt / r, z / r
        if k > 0:
            e[k - 1] = torch.where(start, e[k - 1], r - tiny)
        a, b, cc = d[k], e[k], d[k + 1]
        p, t = cs * a + sn * b, cs * b + sn * cc
        u, w = cs * b - sn * a, cs * cc - sn * b
        d[k], e[k], d[k + 1] = cs * p + sn * t, cs * u + sn * w, cs * w - sn * u
        if k < n - 2:
            g = sn * e[k + 1]
            e[k + 1] = cs * e[k + 1]
        x = e[k]
        q[k], q[k + 1] = ([cs * q0 + sn * q1 for q0, q1 in zip(q[k], q[k + 1])],
                          [cs * q1 - sn * q0 for q0, q1 in zip(q[k], q[k + 1])])
    return torch.stack(d), torch.stack(e), torch.stack([torch.stack(row) for row in q]), last


def _householder_by_rows(At: torch.Tensor):
    """The compiled Householder reduction: ``D, E, Qᵀ`` and the half norm of ``T`` for the checks."""
    D, E, Qt = _tridiagonalize_by_rows(At)
    return D, E, Qt, 0.5 * (D.abs().amax(0) + 2 * E.abs().amax(0))


def _step_by_rows(D: torch.Tensor, E: torch.Tensor, Qt: torch.Tensor, half_norm: torch.Tensor):
    """One compiled iteration; also returns the largest ``last`` (negative: every matrix had converged)."""
    D, E, Qt, last = _iteration_by_rows(D, E, Qt, half_norm)
    return D, E, Qt, last.amax()


# Largest n for compile=True: the unrolled graph grows like n³ (Householder) and n² per sweep, and
# so does the compile time; beyond n = 8 the compiled solver no longer beat torch.linalg.eigh on a
# CPU, so was not worth its compile time.
COMPILE_MAX_N = 8
# Compiled iterations between convergence checks, per device type. Reading the flag waits for the
# device: free on a CPU, a synchronisation on a GPU (where checking every 4th iteration was
# faster); an iteration after convergence changes nothing.
CHECK_EVERY = {"cpu": 1, "other": 4}
# "own": every matrix deflates on its own (the solver); "shared": the ablation (see qr_eigh).
DEFLATIONS = ("own", "shared")
_COMPILED: dict[str, tuple] = {}


def _qr_compiled(A: torch.Tensor, max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    B = A.shape[0]
    if B == 1:  # dynamic shapes specialise a batch of one: pad it with a zero matrix instead of recompiling
        A = torch.cat((A, torch.zeros_like(A)))
    kind = A.device.type
    if kind not in _COMPILED:
        # One fused loop per graph (inductor's default cap of 64 nodes per fusion would split it into
        # many loops with intermediate buffers); on CPU a C++ wrapper halves the per-call overhead.
        options = {"max_fusion_size": 1 << 20, "cpp_wrapper": kind == "cpu"}
        _COMPILED[kind] = tuple(torch.compile(f, dynamic=True, options=options)
                                for f in (_householder_by_rows, _step_by_rows))
    householder, step = _COMPILED[kind]
    # Every (n, dtype) is its own graph of the same functions: allow more than dynamo's default 8.
    every = CHECK_EVERY.get(kind, CHECK_EVERY["other"])
    with torch._dynamo.config.patch(recompile_limit=256, accumulated_recompile_limit=4096):
        D, E, Qt, half_norm = householder(A.permute(1, 2, 0).contiguous())
        done = 0
        while done < max_iter:
            for _ in range(min(every, max_iter - done)):
                D, E, Qt, last = step(D, E, Qt, half_norm)
                done += 1
            if last < 0:  # the only read of a result: on a GPU, a synchronisation
                break
        else:
            warnings.warn(f"qr_eigh: some matrices did not converge in {max_iter} iterations", RuntimeWarning,
                          stacklevel=3)
    return D[:, :B].T, Qt[..., :B].permute(2, 1, 0)


def qr_eigh(
    A: torch.Tensor, *, max_iter: int | None = None, double_shift: bool = False, compile: bool = False,
    deflation: str = "own",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric ``(B, n, n)`` matrices by tridiagonal QR with per-matrix deflation.

    Args:
        A: symmetric matrices ``(B, n, n)`` with largest entries of order one (not checked here;
            :func:`ai4m_kit.linalg.eigh` checks and scales).
        max_iter: cap on deflation checks (default ``30 n``).
        double_shift: two Wilkinson-shifted sweeps per deflation check instead of one (see the
            module docstring; the default was faster on CPU).
        compile: run the decomposition through :func:`torch.compile` (the Householder reduction
            and each iteration fused into one loop over the batch: one call per iteration) instead
            of one PyTorch call per operation, for ``n ≤ COMPILE_MAX_N`` (larger ``n`` warn and
            run eagerly). The first call for a new ``n``,
            dtype or device compiles (about 3 minutes at n = 8 on a 2-core CPU; inductor caches it
            on disk, and later processes load it in about 10 s). Not with ``double_shift``.
        deflation: ``"own"`` (every matrix deflates on its own: the solver) or ``"shared"``, an
            ablation that gives **wrong results by design**: the scheme the module docstring
            contrasts with, where one window spans the whole batch and shrinks as soon as the
            trailing sub-diagonal entry of any one matrix is negligible, cutting off that entry of
            every other matrix, converged or not (see :func:`qr_eigh_batch_last`). Eager only.

    Returns:
        ``(evals, evecs)``: unsorted eigenvalues ``(B, n)`` and eigenvectors as columns ``(B, n, n)``
        (views of the batch-last work arrays, not contiguous: :func:`ai4m_kit.linalg.eigh` sorts
        them into new tensors anyway).

    Example:
        >>> A = torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64)
        >>> w, V = qr_eigh(A)
        >>> sorted(round(x, 6) for x in w[0].tolist())
        [1.0, 3.0]
    """
    B, n = A.shape[0], A.shape[-1]
    if deflation not in DEFLATIONS:
        raise ValueError(f"qr_eigh: deflation must be one of {DEFLATIONS}; got {deflation!r}")
    if n == 1:
        return A[..., 0].clone(), torch.ones_like(A)
    if compile and double_shift:
        raise ValueError("qr_eigh: compile=True runs single-shift iterations; double_shift is not supported with it")
    if compile and deflation != "own":
        raise ValueError("qr_eigh: compile=True deflates every matrix on its own; deflation='shared' runs eagerly only")
    max_iter = max_iter or 30 * n
    if compile and n <= COMPILE_MAX_N:
        return _qr_compiled(A, max_iter)
    if compile:
        warnings.warn(f"qr_eigh: compile=True is used up to n = {COMPILE_MAX_N} (its compile time grows like n³); "
                      f"n = {n} runs the eager iterations", RuntimeWarning, stacklevel=2)
    M = A.permute(1, 2, 0).clone(memory_format=torch.contiguous_format)
    D, Qt = qr_eigh_batch_last(M, max_iter=max_iter, double_shift=double_shift, deflation=deflation)
    return D.T, Qt.permute(2, 1, 0)


def qr_eigh_batch_last(
    M: torch.Tensor, *, max_iter: int | None = None, double_shift: bool = False, deflation: str = "own"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The eager :func:`qr_eigh` of batch-last matrices ``M`` ``(n, n, B)`` (contiguous; overwritten).

    ``deflation="shared"`` (the ablation of :func:`qr_eigh`): the batch has one window of rows
    ``0..m−1`` (``m = n`` at first); after each check, while the entry ``e_{m−2}`` of some matrix
    is negligible, ``m`` shrinks by one and ``e_{m−1}`` is set to zero in every matrix; inside the
    window nothing splits, and every matrix is shifted by its trailing ``2×2`` block of the window.
    The easiest matrix of the batch sets the pace, so the others lose sub-diagonal entries that
    had not converged: their eigenvalues are those of a truncated matrix.

    Returns ``(D, Qt)``: unsorted eigenvalues ``(n, B)`` and the eigenvectors as the rows of ``Qt``
    ``(n, n, B)`` (``Qt[j, :, b]`` belongs to ``D[j, b]``), views of the work arrays.
    """
    if deflation not in DEFLATIONS:
        raise ValueError(f"qr_eigh_batch_last: deflation must be one of {DEFLATIONS}; got {deflation!r}")
    shared = deflation == "shared"
    n, B = M.shape[0], M.shape[-1]
    if n == 1:
        return M[0].clone(), torch.ones_like(M)
    if n == 2 and not shared:  # a 2×2 block in closed form, as LAPACK's steqr finishes its 2×2 blocks
        return symmetric_2x2_batch_last(M)
    max_iter = max_iter or 30 * n
    dtype, device = M.dtype, M.device
    W = M.new_empty(2, n, n, B)  # Qᵀ and the chase's carries (see _Chase)
    T = _tridiagonalize_batch_last(M, W[0])
    D, E = T[1 : 2 * n : 2], T[2 : 2 * n : 2]
    chase = _Chase(T, W)
    # The per-iteration work is done in floating point with masks (integer and boolean tensors,
    # gathers and scatters cost more per call on a CPU), and constants are tensors (a Python
    # number costs a conversion per call).
    eps = T.new_tensor(torch.finfo(dtype).eps)
    tiny = chase.tiny
    # Off-diagonal entries below eps·(|d_k| + |d_{k+1}|) + eps·‖T‖/2 are negligible (normwise
    # backward error like LAPACK's); the second term is at least 2 tiny, so that an r = tiny left by
    # the chase in a zero matrix counts as negligible.
    eps_norm = (D.abs().amax(0) + 2 * E.abs().amax(0)).mul_(0.5 * eps).clamp_min_(2 * tiny)
    band = T[1 : 2 * n]  # d0, e0, d1, ..., d_{n−1}
    absT = T.new_empty(2 * n - 1, B)
    absD0, absD1, absE = absT[0 : 2 * n - 3 : 2], absT[2::2], absT[1::2]  # |d_k|, |d_{k+1}|, |e_k|
    thr, bottom, start, x0 = (T.new_empty(n - 1, B) for _ in range(4))
    x0_rows = x0.unbind(0)
    big_pad = T.new_zeros(n, B)  # (0, big_0, ..., big_{n−2}): big_k = 1 where e_k is not negligible
    big, big_above = big_pad[1:], big_pad[:-1]
    last1 = T.new_empty(B)  # one past the bottom non-negligible e of each matrix (0: finished)
    idx1 = torch.arange(1, n, dtype=dtype, device=device).unsqueeze(-1)  # k + 1 for sub-diagonal k
    # (d_k, e_k, d_{k+1}) for every k, and their value at the bottom of each matrix
    blocks = T.as_strided((n - 1, 3, B), (2 * B, B, 1), B)
    abc = T.new_empty(3, B)
    a, b, c = abc.unbind(0)
    # The Wilkinson shift as mean − sign(δ)·hypot(δ, b) with (mean, δ) = ((a + c)/2, (a − c)/2) from
    # one matrix product: 4 operations instead of the 9 of the division form (_wilkinson_shift).
    # Where δ ≫ b it cancels to within eps·|a| of the division form, which moves no convergence test.
    half_sum_diff = T.new_tensor([[0.5, 0.0, 0.5], [0.5, 0.0, -0.5]])
    mean_delta, mu = T.new_empty(2, B), T.new_empty(B)
    mean, delta = mean_delta.unbind(0)
    slots = T[0 : 2 * n - 2 : 2]  # T[2k]: e_{k−1} above position k (T[0]: the pad)
    bottom_3 = bottom.unsqueeze(1)
    bulge, bulge_z = T.new_empty(n - 1, 1, 1, B), chase.zs[: n - 1]
    signs = T.new_tensor([[1.0, 1.0], [-1.0, -1.0]]).unsqueeze(-1)  # the bulge array holds (z, z; −z, −z)

    def read_trailing_block() -> None:  # (d, e, d') at the bottom of each matrix into a, b, c
        torch.sum(blocks * bottom_3, 0, out=abc)

    def sweep(kmax: int, skip: torch.Tensor | None = None) -> None:
        # Every unreduced block starts where e_k is not negligible and e_{k−1} is (or k = 0):
        # x = d_k − μ enters through x0 (added to the zero e_{k−1} at position k), z = e_k through
        # the bulge array. μ is the shift of the bottom block; the blocks above it get the same
        # shift (any shift is an orthogonal similarity: it only moves their convergence), which
        # spares finding the bottom block's top.
        read_trailing_block()
        torch.mm(half_sum_diff, abc, out=mean_delta)
        torch.hypot(delta, b, out=mu)
        torch.sub(mean, mu.copysign_(delta), out=mu)
        torch.addcmul(big, big, big_above, value=-1.0, out=start)
        if skip is not None:
            start.mul_(skip)
        torch.sub(D[:-1], mu, out=x0)
        torch.addcmul(tiny, start, x0, out=x0)
        torch.mul(start, E, out=bulge.view(n - 1, B))
        torch.mul(bulge, signs, out=bulge_z)
        chase.sweep(0, kmax, x0_rows)
        slots.addcmul_(start, slots, value=-1.0)  # r written above a start is not an e: back to 0

    window = n  # deflation="shared": rows 0..window−1 are still iterated, in every matrix
    for _ in range(max_iter):
        torch.abs(band, out=absT)
        torch.add(absD0, absD1, out=thr)
        torch.addcmul(eps_norm, thr, eps, out=thr)
        torch.gt(absE, thr, out=big)
        if shared:
            while window > 1 and not bool(big[window - 2].all()):  # one matrix converged there: all deflate
                window -= 1
            big.zero_()
            big[: window - 1] = 1.0
        E.mul_(big)
        torch.amax(torch.mul(big, idx1, out=thr), 0, out=last1)
        kmax = int(last1.max())
        if kmax == 0:
            break
        torch.eq(idx1, last1, out=bottom)
        sweep(kmax)
        if double_shift:
            # Second shift only where the trailing entry has not converged yet: shifting by an
            # eigenvalue that has already split off would make an arbitrary rotation there. The
            # splits found by the check must be exact zeros again (the chase left r = tiny there).
            E.mul_(big)
            read_trailing_block()
            keep = b.abs() > torch.addcmul(eps_norm, a.abs() + c.abs(), eps)
            sweep(kmax, keep)
    else:
        warnings.warn(f"qr_eigh: some matrices did not converge in {max_iter} iterations", RuntimeWarning, stacklevel=3)
    return D, chase.Qt
