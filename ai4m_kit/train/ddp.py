"""Data-parallel training with ``torchrun``: process-group set-up from the environment and the
slice of a global batch that belongs to this process. On one process everything is a no-op, so
the same training code runs unchanged with and without ``torchrun``.

Launch: ``torchrun --nproc_per_node 2 -m ai4m_kit.cli ssl train ...`` (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1);
    returns ``(rank, world_size)``; ``(0, 1)`` without ``torchrun``.

    Example:
        >>> import os; os.environ.pop("WORLD_SIZE", None) and None
        >>> init_from_env()
        (0, 1)
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shutdown() -> None:
    """Leave the process group cleanly: every process waits for the others, then the group is
    destroyed. A no-op without a process group."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def exit_worker(status: int = 0) -> None:
    """End a ``torchrun`` worker: leave the group, flush, and exit at once with ``status``, skipping
    the interpreter's teardown, where torch 2.13's CPU build sometimes aborts a worker that has
    finished ("terminate called without an active exception", seen in 2-3 of 10-15 two-process runs
    on a loaded 2-core machine). Returns without exiting when there is no process group."""
    import sys

    if not (dist.is_available() and dist.is_initialized()):
        return
    shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def local_slice(batch: torch.Tensor) -> torch.Tensor:
    """This process's equal share of a global batch (along dim 0), in rank order.

    Example:
        >>> local_slice(torch.arange(6)).tolist()
        [0, 1, 2, 3, 4, 5]
    """
    rank, world = rank_and_world()
    if batch.shape[0] % world:
        raise ValueError(f"batch of {batch.shape[0]} does not split evenly over {world} processes")
    return batch.reshape(world, -1, *batch.shape[1:])[rank]
