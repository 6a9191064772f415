"""BYOL (Grill et al., NeurIPS 2020): the prediction loss and the target network's moving average.

The online network's prediction is pulled towards the target network's projection of the other
view with ``2 − 2 cos`` (the squared distance of the L2-normalised vectors); no gradient reaches the
target, whose weights follow the online ones as an exponential moving average whose momentum rises
from ``base`` to 1 on a cosine schedule: ``τ_k = 1 − (1 − base)·(cos(π k / K) + 1) / 2``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["byol_loss", "ema_momentum", "ema_update"]


def byol_loss(online_pred: torch.Tensor, target_proj: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``2 − 2 cos(online_pred, target_proj)``; the target is detached.

    Both shaped ``(B, D)``; symmetrise by calling it with the views swapped and adding.

    Example:
        >>> p = torch.tensor([[1.0, 0.0]])
        >>> byol_loss(p, torch.tensor([[0.0, 3.0]])).item()
        2.0
    """
    if online_pred.dim() != 2 or online_pred.shape != target_proj.shape:
        raise ValueError(f"online_pred and target_proj must both be (B, D); got {tuple(online_pred.shape)} "
                         f"and {tuple(target_proj.shape)}")
    cos = (F.normalize(online_pred, dim=-1) * F.normalize(target_proj.detach(), dim=-1)).sum(-1)
    return (2 - 2 * cos).mean()


def ema_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    """BYOL's target momentum at ``step`` of ``total_steps``: ``base`` at 0, 1 at the end.

    Example:
        >>> ema_momentum(0, 100), ema_momentum(50, 100), ema_momentum(100, 100)
        (0.99, 0.995, 1.0)
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1; got {total_steps}")
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must be in [0, total_steps={total_steps}]; got {step}")
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"base must be in [0, 1]; got {base}")
    tau = 1 - (1 - base) * (math.cos(math.pi * step / total_steps) + 1) / 2
    return round(tau, 15)  # cos(π/2) is 6e-17, not 0: keep the schedule's exact values exact


@torch.no_grad()
def ema_update(target_module: nn.Module, online_module: nn.Module, momentum: float) -> None:
    """In place: ``θ_target ← m·θ_target + (1 − m)·θ_online`` for every parameter.

    Parameters are matched by name and must have the same shapes; buffers (e.g. batch-norm running
    statistics) are left as they are: the target keeps its own.

    Example:
        >>> t, o = nn.Linear(2, 1), nn.Linear(2, 1)
        >>> _ = t.weight.data.fill_(1.0), o.weight.data.fill_(0.0)
        >>> ema_update(t, o, 0.75); t.weight.tolist()
        [[0.75, 0.75]]
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1]; got {momentum}")
    online = dict(online_module.named_parameters())
    target = dict(target_module.named_parameters())
    if online.keys() != target.keys():
        raise ValueError(f"target and online modules have different parameters: "
                         f"{sorted(set(online) ^ set(target))[:5]}")
    for name, t in target.items():
        o = online[name]
        if t.shape != o.shape:
            raise ValueError(f"parameter {name}: target shape {tuple(t.shape)} != online shape {tuple(o.shape)}")
        t.mul_(momentum).add_(o.detach().to(t.dtype), alpha=1 - momentum)
