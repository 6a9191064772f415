"""Oracles for the matrix square root: float64 roots and gradients from ``torch.linalg.eigh``,
and the reference covariances the methods are measured on.
"""

from __future__ import annotations

import torch

from ai4m_kit.linalg.sqrtm_series import _sym


def reference_covariance(
    *shape: int,
    n: int,
    samples_per_dim: float = 2.0,
    ridge: float = 1e-3,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Sample covariances ``X Xᵀ / N + ridge·I`` of ``N = samples_per_dim · n`` standard normal
    samples, shaped ``(*shape, n, n)``: full rank, condition number ≈ 30 for the defaults.
    ``samples_per_dim < 1`` gives rank-deficient matrices (with ``ridge=0``).

    Example:
        >>> reference_covariance(3, n=4).shape
        torch.Size([3, 4, 4])
    """
    gen = torch.Generator().manual_seed(seed)
    N = max(1, int(round(samples_per_dim * n)))
    X = torch.randn(*shape, n, N, generator=gen, dtype=torch.float64)
    C = X @ X.transpose(-2, -1) / N + ridge * torch.eye(n, dtype=torch.float64)
    return _sym(C).to(dtype=dtype, device=device)


def closed_form_grad(A: torch.Tensor, grad_out: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Float64 gradient of ``⟨grad_out, A^{±1/2}⟩`` w.r.t. ``A`` by the Daleckii–Krein formula
    from ``torch.linalg.eigh`` (the oracle for the Lyapunov backward).

    Example:
        >>> A = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
        >>> closed_form_grad(A, torch.ones(2, 2, dtype=torch.float64)).tolist()
        [[0.5, 0.3333333333333333], [0.3333333333333333, 0.25]]
    """
    A64 = _sym(A.detach().double())
    evals, U = torch.linalg.eigh(A64)
    s = evals.clamp_min(0).sqrt()
    si, sj = s.unsqueeze(-1), s.unsqueeze(-2)
    L = 1.0 / (si + sj)
    if inverse:
        L = -L / (si * sj)
    G = _sym(grad_out.detach().double())
    return U @ (L * (U.transpose(-2, -1) @ G @ U)) @ U.transpose(-2, -1)


def reference_root(A: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Float64 ``A^{±1/2}`` from ``torch.linalg.eigh`` (the forward oracle).

    Example:
        >>> reference_root(torch.eye(2) * 4).tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """
    evals, U = torch.linalg.eigh(_sym(A.detach().double()))
    f = evals.clamp_min(0).rsqrt() if inverse else evals.clamp_min(0).sqrt()
    return (U * f.unsqueeze(-2)) @ U.transpose(-2, -1)
