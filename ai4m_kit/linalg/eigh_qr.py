"""Batched symmetric QR eigensolver: Householder tridiagonalisation, then implicit QR sweeps.

The published batched QR code lets one matrix's convergence drive every matrix's deflation. Here
every matrix keeps its own active window ``[lo, hi]`` (the bottom unreduced block of its
tridiagonal matrix): a sweep's Givens rotation at position ``k`` is the identity for the matrices
whose window does not contain ``k``, so converged matrices stay untouched, and the sweep range
shrinks with the largest window left in the batch (progressive shrinking).

Each iteration is a *double Wilkinson-shifted* step: two implicit QR sweeps per deflation check,
each shifted by the Wilkinson shift of the current trailing 2×2 block of the matrix's window (the
second is skipped for a matrix whose trailing entry has already converged). We first used both
eigenvalues of the same trailing block (a Francis double-shift step in exact arithmetic); on random
8×8 matrices that needed about twice as many sweeps, because the second eigenvalue is a poor shift
until that block has nearly split off.

Everything is a batched tensor operation; the Python loops run over positions ``k`` and
iterations, never over matrices.
"""

from __future__ import annotations

import warnings

import torch


def householder_tridiagonalize(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reduce symmetric ``(B, n, n)`` matrices to tridiagonal form: ``A = Q T Qᵀ``.

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
    B, n = A.shape[0], A.shape[-1]
    A = A.clone()
    Q = torch.eye(n, dtype=A.dtype, device=A.device).expand(B, n, n).clone()
    e = A.new_zeros(B, max(n - 1, 0))
    for k in range(n - 2):
        x = A[:, k + 1 :, k]
        # Work on x / max|x| so that squares neither underflow nor overflow.
        xmax = x.abs().amax(-1, keepdim=True)
        xs = x / torch.where(xmax > 0, xmax, 1.0)
        alpha = -torch.copysign((xs * xs).sum(-1).sqrt(), xs[:, 0])
        v = xs.clone()
        v[:, 0] -= alpha
        vnorm = (v * v).sum(-1, keepdim=True).sqrt()
        # Reflector I − 2uuᵀ with a unit u; x = 0 gives u = 0, the identity.
        u = v / torch.where(vnorm > 0, vnorm, 1.0)
        A22 = A[:, k + 1 :, k + 1 :]
        p = 2.0 * (A22 * u.unsqueeze(-2)).sum(-1)
        w = p - (p * u).sum(-1, keepdim=True) * u
        A22 -= u.unsqueeze(-1) * w.unsqueeze(-2) + w.unsqueeze(-1) * u.unsqueeze(-2)
        e[:, k] = alpha * xmax.squeeze(-1)
        Qs = Q[:, :, k + 1 :]
        Qs -= (2.0 * (Qs * u.unsqueeze(-2)).sum(-1)).unsqueeze(-1) * u.unsqueeze(-2)
    if n >= 2:
        e[:, n - 2] = A[:, n - 1, n - 2]
    return A.diagonal(dim1=-2, dim2=-1).clone(), e, Q


def _wilkinson_shift(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The eigenvalue of ``[[a, b], [b, c]]`` closer to ``c`` (Wilkinson shift)."""
    delta = 0.5 * (a - c)
    den = delta + torch.copysign(torch.hypot(delta, b), delta)
    mu1 = torch.where(den != 0, c - b * (b / torch.where(den != 0, den, 1.0)), c)
    return mu1


def _implicit_qr_sweep(d, e, q, mu, act, first, actnf, kmin: int, kmax: int) -> None:
    """One shifted implicit QR sweep (bulge chase) over positions ``kmin..kmax−1``, in place.

    ``d``, ``e`` and ``q`` are Python lists of ``(B,)`` / ``(B,)`` / ``(B, n)`` tensors (diagonal,
    sub-diagonal, columns of the eigenvector matrix); ``act[k]``, ``first[k]`` and ``actnf[k]``
    are boolean ``(B,)`` masks: position ``k`` inside the matrix's window, ``k`` is the window's
    first position, and inside but not first. The rotation at ``k`` is
    ``G = [[c, −s], [s, c]]`` in the plane ``(k, k+1)``, the identity outside a window.
    """
    n1 = len(e)
    bulge = torch.zeros_like(mu)
    # Adding the smallest normal number to x makes x = z = 0 give the identity (c = 1, s = 0)
    # instead of 0/0; the matrices are scaled to entries of order one, so it changes nothing else.
    tiny = torch.finfo(mu.dtype).tiny
    for k in range(kmin, kmax):
        dk, dk1, ek = d[k], d[k + 1], e[k]
        x = torch.where(first[k], dk - mu, torch.where(actnf[k], e[k - 1], 1.0) if k > 0 else 1.0) + tiny
        z = torch.where(first[k], ek, bulge)
        r = torch.hypot(x, z)
        c = x / r
        s = z / r
        if k > 0:
            e[k - 1] = torch.where(actnf[k], r, e[k - 1])
        # Gᵀ M G on the 2×2 block [[dk, ek], [ek, dk1]], using the trace for the last entry.
        p = torch.addcmul(c * dk, s, ek)
        t = torch.addcmul(c * ek, s, dk1)
        dk_new = torch.addcmul(c * p, s, t)
        e[k] = torch.addcmul(c * t, s, p, value=-1.0)
        d[k + 1] = dk + dk1 - dk_new
        d[k] = dk_new
        if k + 1 < n1:
            bulge = s * e[k + 1]
            e[k + 1] = c * e[k + 1]
        cc, ss = c.unsqueeze(-1), s.unsqueeze(-1)
        qk, qk1 = q[k], q[k + 1]
        q[k] = torch.addcmul(cc * qk, ss, qk1)
        q[k + 1] = torch.addcmul(cc * qk1, ss, qk, value=-1.0)


def qr_eigh(A: torch.Tensor, *, max_iter: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric ``(B, n, n)`` matrices by tridiagonal QR with per-matrix deflation.

    Args:
        A: symmetric matrices ``(B, n, n)`` (not checked here; see :func:`ai4m_kit.linalg.eigh`).
        max_iter: cap on double-shift iterations (default ``30 n``).

    Returns:
        ``(evals, evecs)``: unsorted eigenvalues ``(B, n)`` and eigenvectors as columns ``(B, n, n)``.

    Example:
        >>> A = torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64)
        >>> w, V = qr_eigh(A)
        >>> sorted(round(x, 6) for x in w[0].tolist())
        [1.0, 3.0]
    """
    B, n = A.shape[0], A.shape[-1]
    if n == 1:
        return A[..., 0].clone(), torch.ones_like(A)
    dtype, device = A.dtype, A.device
    D, E, Q = householder_tridiagonalize(A)
    d, e, q = list(D.unbind(-1)), list(E.unbind(-1)), list(Q.unbind(-1))
    eps = torch.finfo(dtype).eps
    # Off-diagonal entries below eps·‖T‖ are dropped (normwise backward error like LAPACK's).
    anorm = (D.abs().amax(-1) + 2 * E.abs().amax(-1)).unsqueeze(-1)
    idx = torch.arange(n - 1, device=device)
    max_iter = 30 * n if max_iter is None else max_iter
    for _ in range(max_iter):
        D, E = torch.stack(d, -1), torch.stack(e, -1)
        small = E.abs() <= eps * torch.maximum(D[:, :-1].abs() + D[:, 1:].abs(), 0.5 * anorm)
        E = E.masked_fill(small, 0.0)
        nz = ~small
        # Window of each matrix: the bottom unreduced block rows lo..hi (hi = 0: converged).
        last = torch.where(nz, idx, -1).amax(-1)
        lo = torch.where(~nz & (idx < last.unsqueeze(-1)), idx, -1).amax(-1) + 1
        hi = last + 1
        running = hi > 0
        kmin = int(torch.where(running, lo, n).amin())
        kmax = int(hi.amax())
        if kmax == 0:
            break
        e = list(E.unbind(-1))
        top = (hi - 1).clamp_min(0)
        a = D.gather(-1, top.unsqueeze(-1)).squeeze(-1)
        b = E.gather(-1, top.unsqueeze(-1)).squeeze(-1)
        cc = D.gather(-1, hi.unsqueeze(-1)).squeeze(-1)
        mu1 = _wilkinson_shift(a, b, cc)
        ACT = (idx >= lo.unsqueeze(-1)) & (idx < hi.unsqueeze(-1))
        FIRST = idx == lo.unsqueeze(-1)
        act, first, actnf = ACT.unbind(-1), (FIRST & ACT).unbind(-1), (ACT & ~FIRST).unbind(-1)
        _implicit_qr_sweep(d, e, q, mu1, act, first, actnf, kmin, kmax)
        # Second shift only where the trailing entry has not converged yet: shifting by an
        # eigenvalue that has already split off would make an arbitrary rotation there.
        D, E = torch.stack(d, -1), torch.stack(e, -1)
        a = D.gather(-1, top.unsqueeze(-1)).squeeze(-1)
        b = E.gather(-1, top.unsqueeze(-1)).squeeze(-1)
        cc = D.gather(-1, hi.unsqueeze(-1)).squeeze(-1)
        again = b.abs() > eps * torch.maximum(a.abs() + cc.abs(), 0.5 * anorm.squeeze(-1))
        ACT = ACT & again.unsqueeze(-1)
        act, first, actnf = ACT.unbind(-1), (FIRST & ACT).unbind(-1), (ACT & ~FIRST).unbind(-1)
        _implicit_qr_sweep(d, e, q, _wilkinson_shift(a, b, cc), act, first, actnf, kmin, kmax)
    else:
        warnings.warn(f"qr_eigh: some matrices did not converge in {max_iter} iterations", RuntimeWarning, stacklevel=2)
    return torch.stack(d, -1), torch.stack(q, -1)
