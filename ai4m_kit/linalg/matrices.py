"""Symmetric test matrices for eigensolvers and their error measures.

Seeded inputs every device and dtype share (drawn in float64 on the CPU): random symmetric
batches, ill-conditioned sample covariances, and adversarial batches that cycle through the cases
that break batched solvers; ``decomposition_errors`` scores an eigendecomposition in float64.
"""

from __future__ import annotations

import torch


def random_symmetric(batch: int, n: int, dtype: torch.dtype, device, seed: int = 0) -> torch.Tensor:
    """``X + Xᵀ`` of a seeded standard normal ``(batch, n, n)`` batch (drawn in float64 on the CPU,
    so every device and dtype gets the same matrices): the benchmarks' input."""
    X = torch.randn(batch, n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (X + X.mT).to(device=device, dtype=dtype)


def ill_conditioned_covariances(batch: int, n: int, dtype: torch.dtype, device, *, decades: float = 12.0,
                                seed: int = 0) -> torch.Tensor:
    """Sample covariances ``XᵀX / (4n)`` of ``4n`` seeded normal samples whose axes are scaled over
    ``decades / 2`` orders of magnitude, so that the eigenvalues span about ``decades`` (drawn in
    float64 on the CPU): eigenvalues that differ by less than float32 resolves, as in whitening
    and decorrelated batch normalisation.

    Example:
        >>> C = ill_conditioned_covariances(2, 4, torch.float64, "cpu")
        >>> C.shape, bool(torch.linalg.eigvalsh(C)[:, 0].min() > 0)
        (torch.Size([2, 4, 4]), True)
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, 4 * n, n, generator=g, dtype=torch.float64) * torch.logspace(0, -decades / 2, n,
                                                                                         dtype=torch.float64)
    C = X.mT @ X / (4 * n)
    return (0.5 * (C + C.mT)).to(device=device, dtype=dtype)


def adversarial_batch(
    batch: int, n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu", seed: int = 0
) -> torch.Tensor:
    """Symmetric ``(batch, n, n)`` matrices that cycle through hard cases.

    Kinds, in turn: random well-conditioned; ill-conditioned (eigenvalues log-spaced over 12
    decades, or as many as the dtype resolves); eigenvalues repeated in two clusters; diagonal;
    all zero; rank one; a multiple of the identity; covariance of fewer samples than ``n``
    (singular); badly scaled, in turn random with entries of magnitude 1e-20, graded
    (``D (X + Xᵀ) D`` with ``D`` diagonal, log-uniform over 1e±4, so entries span 16 decades)
    and entries of magnitude 1e20; nearly block diagonal (two
    random halves coupled by entries 1e-5 to 1e-30 times smaller, and one row and column of the
    second half as small: splits that the solvers must find, with blocks that must converge on
    their own).

    Example:
        >>> adversarial_batch(9, 4).shape
        torch.Size([9, 4, 4])
    """
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    decades = 12.0 if dtype == torch.float64 else 6.0
    out = []
    for i in range(batch):
        kind = i % 10
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=f64))
        if kind == 0:
            X = torch.randn(n, n, generator=gen, dtype=f64)
            M = X + X.T
        elif kind == 1:
            lam = torch.logspace(-decades, 0, n, dtype=f64) * torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(f64)
            M = Q @ torch.diag(lam) @ Q.T
        elif kind == 2:
            lam = torch.where(torch.arange(n) < n // 2, 1.0, 3.0).to(f64)
            M = Q @ torch.diag(lam) @ Q.T
        elif kind == 3:
            M = torch.diag(torch.randn(n, generator=gen, dtype=f64))
        elif kind == 4:
            M = torch.zeros(n, n, dtype=f64)
        elif kind == 5:
            v = torch.randn(n, 1, generator=gen, dtype=f64)
            M = v @ v.T
        elif kind == 6:
            M = 2.5 * torch.eye(n, dtype=f64)
        elif kind == 7:
            X = torch.randn(n, max(1, n // 2), generator=gen, dtype=f64)
            M = X @ X.T
        elif kind == 8:  # in turn: entries near 1e-20, graded, entries near 1e20
            X = torch.randn(n, n, generator=gen, dtype=f64)
            M, variant = X + X.T, (i // 10) % 3
            if variant == 1:  # D M D, d log-uniform over 1e±4
                d = 10.0 ** (8 * torch.rand(n, generator=gen, dtype=f64) - 4)
                M = d[:, None] * M * d[None, :]
            else:
                M = M * (1e-20 if variant == 0 else 1e20)
        else:
            X = torch.randn(n, n, generator=gen, dtype=f64)
            M = X + X.T
            small, row = 10.0 ** (-5 * (1 + (i // 10) % 6)), n // 2 + (i // 60) % (n - n // 2)
            M[n // 2 :, : n // 2] *= small
            M[: n // 2, n // 2 :] *= small
            M[row] *= small
            M[:, row] *= small
        out.append(0.5 * (M + M.T))
    return torch.stack(out).to(device=device, dtype=dtype)


def decomposition_errors(A: torch.Tensor, evals: torch.Tensor, evecs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-matrix reconstruction ``‖A − V diag(λ) Vᵀ‖_F / max(‖A‖_F, tiny)`` and orthogonality ``‖VᵀV − I‖_F``.

    Computed in float64 so that the measurement adds no error of its own.

    Example:
        >>> A = torch.eye(3).expand(2, 3, 3)
        >>> decomposition_errors(A, torch.ones(2, 3), torch.eye(3).expand(2, 3, 3))["reconstruction"]
        tensor([0., 0.], dtype=torch.float64)
    """
    A64, w, V = A.double(), evals.double(), evecs.double()
    n = A.shape[-1]
    # divide by the largest entry first so that squares in the norms cannot underflow
    amax = A64.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    rec = ((V @ torch.diag_embed(w / amax.squeeze(-1)) @ V.mT - A64 / amax)).flatten(-2).norm(dim=-1)
    scale = (A64 / amax).flatten(-2).norm(dim=-1).clamp_min(torch.finfo(A.dtype).tiny)
    eye = torch.eye(n, dtype=torch.float64, device=A.device)
    orth = (V.mT @ V - eye).flatten(-2).norm(dim=-1)
    return {"reconstruction": rec / scale, "orthogonality": orth}
