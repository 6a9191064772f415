"""Collapse diagnostics of an embedding batch ``(N, D)``.

- the per-dimension standard deviation of the L2-normalised embeddings: about ``1/√D`` for
  embeddings spread over the sphere, 0 when they all coincide (the SimSiam paper's collapse monitor);
- the eigenvalues of the embeddings' covariance (float64 ``eigvalsh``, descending);
- the effective rank ``exp(H(p))`` with ``p = λ / Σλ`` the normalised eigenvalues (Roy & Vetterli,
  EUSIPCO 2007): ``D`` for an isotropic spectrum, 1 when one direction carries all the variance.

Rule for ``collapsed``: the mean standard deviation is below ``std_fraction / √D`` (complete collapse
to one point) or the effective rank is below ``max(min_rank, rank_fraction · D)`` (dimensional
collapse to about a line); defaults ``std_fraction = 0.1``, ``min_rank = 2``, ``rank_fraction = 0.01``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["collapse_diagnostics", "effective_rank"]


def effective_rank(eigenvalues: torch.Tensor) -> float:
    """``exp`` of the entropy of the normalised non-negative eigenvalues (negatives from round-off are 0).

    Example:
        >>> effective_rank(torch.ones(8))
        8.0
        >>> effective_rank(torch.tensor([1.0, 0.0, 0.0]))
        1.0
    """
    lam = eigenvalues.detach().to(torch.float64).clamp_min(0)
    total = lam.sum()
    if not total > 0:
        return 0.0
    p = lam / total
    entropy = -(p * torch.log(p.where(p > 0, torch.ones_like(p)))).sum()
    return round(math.exp(entropy.item()), 12)


def collapse_diagnostics(
    z: torch.Tensor,
    *,
    std_fraction: float = 0.1,
    min_rank: float = 2.0,
    rank_fraction: float = 0.01,
) -> dict:
    """Collapse measures of embeddings ``z`` shaped ``(N, D)`` (``N ≥ 2``); see the module docstring.

    Returns a dict: ``std`` (per-dimension std of the L2-normalised rows, float64 ``(D,)``),
    ``mean_std``, ``std_reference`` (``1/√D``), ``eigenvalues`` (covariance with ``N − 1``, float64,
    descending), ``effective_rank``, ``collapsed`` (bool) and ``rule`` (the rule in words).

    Example:
        >>> d = collapse_diagnostics(torch.randn(512, 16, generator=torch.Generator().manual_seed(0)))
        >>> d["collapsed"], d["effective_rank"] > 14
        (False, True)
        >>> collapse_diagnostics(torch.ones(512, 16))["collapsed"]
        True
    """
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"z must be a tensor shaped (N, D) with N >= 2; got {tuple(getattr(z, 'shape', ()))}")
    x = z.detach().to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("z contains non-finite values (NaN or inf)")
    n, dim = x.shape
    std = F.normalize(x, dim=1).std(dim=0)
    xc = x - x.mean(dim=0)
    eigenvalues = torch.linalg.eigvalsh(xc.T @ xc / (n - 1)).flip(0)
    erank = effective_rank(eigenvalues)
    mean_std = std.mean().item()
    rank_floor = max(min_rank, rank_fraction * dim)
    collapsed = mean_std < std_fraction / math.sqrt(dim) or erank < rank_floor
    return {
        "std": std, "mean_std": mean_std, "std_reference": 1 / math.sqrt(dim), "eigenvalues": eigenvalues,
        "effective_rank": erank, "collapsed": bool(collapsed),
        "rule": f"mean std of L2-normalised embeddings < {std_fraction:g}/sqrt(D) or effective rank < {rank_floor:g}",
    }
