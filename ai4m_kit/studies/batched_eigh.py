"""Study for notebook 08: batched eigendecomposition of many small symmetric matrices."""

from __future__ import annotations

import torch


def adversarial_batch(
    batch: int, n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu", seed: int = 0
) -> torch.Tensor:
    """Symmetric ``(batch, n, n)`` matrices that cycle through hard cases.

    Kinds, in turn: random well-conditioned; ill-conditioned (eigenvalues log-spaced over 12
    decades, or as many as the dtype resolves); eigenvalues repeated in two clusters; diagonal;
    all zero; rank one; a multiple of the identity; covariance of fewer samples than ``n``
    (singular); random with entries of magnitude 1e±20 (scaling).

    Example:
        >>> adversarial_batch(9, 4).shape
        torch.Size([9, 4, 4])
    """
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    decades = 12.0 if dtype == torch.float64 else 6.0
    out = []
    for i in range(batch):
        kind = i % 9
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
        else:
            X = torch.randn(n, n, generator=gen, dtype=f64)
            M = (X + X.T) * (1e20 if i % 2 else 1e-20)
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
