"""The training loop: :func:`fit` (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..files import atomic_path


def cache_root() -> Path:
    """Where trained models are cached: ``$AI4M_CACHE/train`` (default ``~/.cache/ai4m_kit/train``)."""
    root = os.environ.get("AI4M_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ai4m_kit")
    return Path(root) / "train"


def cache_key(config: dict, data: str = "") -> str:
    """Hex key of a training run: its configuration (JSON-able), a key of its data and the library
    version.

    Example:
        >>> cache_key({"lr": 1e-3}) == cache_key({"lr": 1e-3}), cache_key({"lr": 1e-3}) == cache_key({"lr": 2e-3})
        (True, False)
    """
    from .. import __version__

    blob = json.dumps([config, data, __version__], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of one step's random draws: a pure function of ``(seed, step)``.

    Example:
        >>> a = torch.rand(2, generator=step_generator(0, 5)); b = torch.rand(2, generator=step_generator(0, 5))
        >>> bool((a == b).all())
        True
    """
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + step * 7_919 + 17) % (2**63 - 1))
    return g


@dataclass
class TrainResult:
    """A trained model and how it got there."""

    model: torch.nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    cached: bool = False
    path: Path | None = None
    seconds: float = 0.0
    diverged_at: int | None = None  # first step with a non-finite loss (allow_nonfinite=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that a checkpoint is written before the exit."""


def _raise_terminated(signum, frame):
    raise _Terminated()


def fit(
    model: torch.nn.Module,
    step: Callable[[torch.nn.Module, torch.Generator, int], dict[str, torch.Tensor]],
    *,
    steps: int,
    key: str,
    seed: int = 0,
    lr: float = 1e-3,
    optimizer: Callable[[Any], torch.optim.Optimizer] | None = None,
    schedule: Callable[[int], float] | None = None,
    checkpoint_every: float = 30.0,
    cache: bool = True,
    progress: bool = True,
    desc: str = "train",
    after_step: Callable[[torch.nn.Module, int], None] | None = None,
    allow_nonfinite: bool = False,
) -> TrainResult:
    """Train ``model`` for ``steps`` optimiser steps; resume or load from the cache under ``key``.

    Args:
        model: the module to train (its initial weights should be seeded by the caller).
        step: ``step(model, generator, i) -> {"loss": tensor, ...}``: draws the batch of step ``i``
            from ``generator`` (a pure function of ``(seed, i)``) and returns the loss to minimise
            and any other scalars to log.
        steps: optimiser steps.
        key: cache key (:func:`cache_key` of the configuration and data).
        seed: seed of the batches.
        lr: learning rate of the default optimiser (Adam).
        optimizer: ``optimizer(params) -> torch.optim.Optimizer`` instead of Adam.
        schedule: multiplier of the learning rate at step ``i`` (e.g. a warm-up).
        checkpoint_every: seconds between checkpoints (also written on Ctrl-C and SIGTERM).
        cache: load a finished run with the same key, resume an unfinished one, save results.
        progress: show a tqdm progress bar.
        desc: progress bar label.
        after_step: ``after_step(model, i)`` after each optimiser step (e.g. an EMA update).
        allow_nonfinite: a non-finite loss ends training early and is recorded
            (``diverged_at``), instead of raising: for studies that show divergence.

    Returns:
        The trained model (in eval mode), the logged history (one dict per step) and whether it
        came from the cache.
    """
    from tqdm.auto import tqdm

    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    path = cache_root() / f"{key}.pt" if cache else None
    device = next(model.parameters()).device
    opt = optimizer(model.parameters()) if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)
    base_lrs = [g["lr"] for g in opt.param_groups]
    start, history, diverged = 0, [], None
    if path is not None and path.is_file():
        try:
            state = torch.load(path, map_location=device, weights_only=False)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start, history = int(state["step"]), list(state["history"])
            diverged = state.get("diverged_at")
        except Exception as err:  # noqa: BLE001 - a damaged cache entry is retrained, never trusted
            raise ValueError(f"{path}: damaged training checkpoint ({type(err).__name__}: {err}); "
                             "delete it to train again") from err
        if start >= steps or diverged is not None:
            model.eval()
            return TrainResult(model, history, cached=True, path=path, diverged_at=diverged)

    def save(done_steps: int) -> None:
        if path is None:
            return
        with atomic_path(path) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done_steps,
                        "history": history, "key": key, "diverged_at": diverged}, tmp)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    model.train()
    t0 = last = time.monotonic()
    i = start
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress)
    try:
        while i < steps:
            if schedule is not None:
                for g, base in zip(opt.param_groups, base_lrs):
                    g["lr"] = base * schedule(i)
            out = step(model, step_generator(seed, i), i)
            loss = out["loss"]
            if not torch.isfinite(loss):
                if not allow_nonfinite:
                    raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {i}; lower the learning rate")
                diverged = i
                history.append({k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items()})
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(model, i)
            history.append({k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items()})
            i += 1
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.4g}")
            if time.monotonic() - last >= checkpoint_every:
                save(i)
                last = time.monotonic()
    except KeyboardInterrupt:
        save(i)
        raise
    finally:
        bar.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    save(i)
    model.eval()
    return TrainResult(model, history, cached=False, path=path, seconds=time.monotonic() - t0, diverged_at=diverged)
