"""Timing helpers for benchmarks: interleaved repeats, medians and ratios against a baseline.

Machines here are shared and noisy, so candidates are timed round-robin (A, B, C, A, B, C, ...)
and compared by the median of their repeats, always against a baseline measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping

import torch


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued CUDA work so that wall-clock timings are honest (no-op on CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(
    candidates: Mapping[str, Callable[[], object]],
    *,
    repeats: int = 7,
    warmup: int = 1,
    device: torch.device | str | None = None,
    min_time: float = 0.0,
) -> dict[str, float]:
    """Median seconds per call of each candidate, timed in interleaved rounds.

    Args:
        candidates: name -> zero-argument callable.
        repeats: timed rounds; each round calls every candidate once (or more, see ``min_time``).
        warmup: untimed rounds first (allocations, lazy initialisation).
        device: synchronised around each call when it is a CUDA device.
        min_time: a call shorter than this is repeated within its round, and the mean of those
            calls counts as that round's time (keeps very fast calls above timer resolution).

    Example:
        >>> t = interleaved_medians({"a": lambda: sum(range(100))}, repeats=3)
        >>> t["a"] > 0
        True
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    synchronize(device)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    inner = {name: 1 for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            synchronize(device)
            dt = (time.perf_counter() - t0) / inner[name]
            samples[name].append(dt)
            if min_time and dt * inner[name] < min_time:
                inner[name] = max(1, int(min_time / max(dt, 1e-9)))
    return {name: statistics.median(v) for name, v in samples.items()}


def ratios(medians: Mapping[str, float], baseline: str) -> dict[str, float]:
    """Time of each candidate divided by the baseline's (below 1: faster than the baseline).

    Example:
        >>> ratios({"base": 2.0, "fast": 0.5}, "base")
        {'base': 1.0, 'fast': 0.25}
    """
    if baseline not in medians:
        raise KeyError(f"baseline {baseline!r} not among {sorted(medians)}")
    return {name: t / medians[baseline] for name, t in medians.items()}


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (``None`` keeps it) and return the count in force."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1; got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()
