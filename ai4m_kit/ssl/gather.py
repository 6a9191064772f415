"""All-gather across ``torch.distributed`` processes with a gradient, a no-op on one process.

Contrastive and whitening losses see more samples when every process contributes its batch. The
gathered tensor keeps a gradient for the local part: in the backward pass the incoming gradients are
summed over processes (``all_reduce``) and each process keeps the slice of its own rows, which is the
gradient of the sum of all processes' losses with respect to its rows (DDP then averages).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["gather", "world_size"]


def world_size() -> int:
    """Processes in the default group; 1 when ``torch.distributed`` is unavailable or not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        ctx.rank = dist.get_rank()
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (same shape on every process) from all processes along dim 0, in rank order.

    Returns ``x`` itself when ``torch.distributed`` is not initialised or has one process.

    Example:
        >>> x = torch.ones(2, 3)
        >>> gather(x) is x
        True
    """
    if world_size() == 1:
        return x
    return _AllGather.apply(x)
