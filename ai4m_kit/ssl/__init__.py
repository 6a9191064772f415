"""Self-supervised losses, one module each, as pure functions of the projected features.

- :func:`wmse_loss` / :func:`whiten`: W-MSE (Ermolov et al. 2021), Cholesky or ZCA whitening of
  sub-batches, and the no-whitening control;
- :func:`nt_xent_loss` / :func:`nt_xent_views`: SimCLR's NT-Xent;
- :func:`byol_loss`, :func:`ema_momentum`, :func:`ema_update`: BYOL;
- :func:`drloc_loss`, :class:`DRLocHead`, :func:`sample_pairs`, :func:`pair_targets`, :func:`lambda_at`:
  DRLoc's dense relative localisation (Liu et al. 2021) on any ``(B, C, k, k)`` token grid;
- :func:`contrastive_on_whitened`: NT-Xent on whitened features (the report's Table 10, diverges);
- :func:`gather`: all-gather with gradient, a no-op on one process;
- :func:`collapse_diagnostics`, :func:`effective_rank`: is an embedding batch collapsed?
"""

from .byol import byol_loss, ema_momentum, ema_update
from .diagnostics import collapse_diagnostics, effective_rank
from .drloc import DRLocHead, drloc_loss, lambda_at, pair_targets, sample_pairs
from .gather import gather
from .nt_xent import nt_xent_loss, nt_xent_views
from .whitened_contrastive import contrastive_on_whitened
from .wmse import whiten, wmse_loss

__all__ = [
    "DRLocHead", "byol_loss", "collapse_diagnostics", "contrastive_on_whitened", "drloc_loss", "effective_rank",
    "ema_momentum", "ema_update", "gather", "lambda_at", "nt_xent_loss", "nt_xent_views", "pair_targets",
    "sample_pairs", "whiten", "wmse_loss",
]
