"""NT-Xent: SimCLR's normalised temperature-scaled cross entropy (Chen et al., ICML 2020).

For two views ``z1, z2`` of ``B`` images the ``2B`` embeddings are L2-normalised and compared by
cosine similarity over ``temperature``; each embedding's positive is the other view of its image,
its negatives the other ``2B − 2`` embeddings, and its own similarity is masked out. The loss is the
cross entropy averaged over the ``2B`` anchors.

More than two views (:func:`nt_xent_views`): the loss of every pair of views averaged over the
``d(d−1)/2`` pairs, as the official W-MSE repository trains its contrastive baseline (each pair
sees only its own ``2B`` embeddings as candidates).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["nt_xent_loss", "nt_xent_views"]


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, *, normalize: bool = True) -> torch.Tensor:
    """NT-Xent loss of two views shaped ``(B, D)``.

    Args:
        z1, z2: embeddings of the two views, row ``b`` of each from the same image.
        temperature: the softmax temperature ``τ > 0`` (0.5 as in the W-MSE paper's contrastive runs).
        normalize: L2-normalise the embeddings first (SimCLR); ``False`` uses raw dot products (the
            report's Table 10 variant without normalisation).

    Example:
        >>> z = torch.eye(4)
        >>> nt_xent_loss(z, z, temperature=0.1).item() < 0.01
        True
    """
    if not (isinstance(z1, torch.Tensor) and isinstance(z2, torch.Tensor)) or z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must be tensors of the same shape (B, D); got "
                         f"{tuple(getattr(z1, 'shape', ()))} and {tuple(getattr(z2, 'shape', ()))}")
    if z1.shape[0] < 2:
        raise ValueError(f"NT-Xent needs a batch of at least 2 (negatives); got B={z1.shape[0]}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    batch = z1.shape[0]
    z = torch.cat([z1, z2])
    if normalize:
        z = F.normalize(z, dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * batch, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    idx = torch.arange(batch, device=z.device)
    targets = torch.cat([idx + batch, idx])
    return F.cross_entropy(logits, targets)


def nt_xent_views(views: Sequence[torch.Tensor], temperature: float = 0.5, *, normalize: bool = True) -> torch.Tensor:
    """NT-Xent over ``d ≥ 2`` views: the mean of :func:`nt_xent_loss` over all pairs of views.

    Example:
        >>> v = [torch.eye(4)] * 3
        >>> torch.allclose(nt_xent_views(v), nt_xent_loss(v[0], v[1]))
        True
    """
    views = list(views)
    if len(views) < 2:
        raise ValueError(f"need at least 2 views; got {len(views)}")
    losses = [nt_xent_loss(views[i], views[j], temperature, normalize=normalize)
              for i in range(len(views)) for j in range(i + 1, len(views))]
    return torch.stack(losses).mean()
