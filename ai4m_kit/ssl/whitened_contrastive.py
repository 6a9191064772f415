"""The contrastive loss on whitened features: the AI4Media report's Table 10 variants.

The embeddings are whitened in sub-batches exactly as W-MSE does (one random permutation, sub-batches
of ``w_size``, each view whitened on its own, Cholesky by default) and then NT-Xent is computed over
the whole batch, with (``l2=True``) or without (``l2=False``) L2 normalisation of the whitened
vectors. The report found that training with the contrastive loss on whitened, L2-normalised
features diverges. Nothing here guards against that: the loss is returned as computed (no clamping,
no NaN filtering), so a diverging run shows as a growing or non-finite loss.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ai4m_kit.ssl.nt_xent import nt_xent_views
from ai4m_kit.ssl.wmse import WHITENINGS, stack_views, whiten_sub_batches

__all__ = ["contrastive_on_whitened"]


def contrastive_on_whitened(
    views: Sequence[torch.Tensor] | torch.Tensor,
    w_size: int = 128,
    *,
    l2: bool = True,
    temperature: float = 0.5,
    whitening: str = "cholesky",
    eps: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """NT-Xent (mean over pairs of views) of the W-MSE-whitened views.

    Args:
        views: a list of ``(B, D)`` tensors or a ``(d, B, D)`` tensor; ``B`` a multiple of ``w_size``.
        w_size: whitening sub-batch size, larger than ``D``.
        l2: L2-normalise the whitened features before the similarities (Table 10 has both).
        temperature: NT-Xent temperature.
        whitening: ``"cholesky"`` or ``"zca"`` (``"none"`` gives plain NT-Xent).
        eps: covariance shrinkage, as in :func:`ai4m_kit.ssl.wmse.whiten`.
        generator: seeds the permutation.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> v = torch.randn(2, 64, 8, generator=g)
        >>> bool(torch.isfinite(contrastive_on_whitened(v, 32, generator=g)))
        True
    """
    if whitening not in WHITENINGS:
        raise ValueError(f"whitening must be one of {WHITENINGS}; got {whitening!r}")
    x = stack_views(views)
    d, batch, dim = x.shape
    if w_size <= dim:
        raise ValueError(f"w_size must exceed the embedding dimension D (about 2D recommended); got w_size={w_size}, D={dim}")
    if batch < w_size or batch % w_size:
        raise ValueError(f"the batch B={batch} must be a positive multiple of w_size={w_size}")
    z = x if whitening == "none" else whiten_sub_batches(x, w_size=w_size, method=whitening, eps=eps, generator=generator)
    return nt_xent_views(list(z), temperature, normalize=l2)
