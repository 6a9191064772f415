"""Training the small video SR networks (:mod:`ai4m_kit.models.sr`) on any folder of HR frames.

Two recipes from the same initial weights and the same HR frames:

- ``"blind"``: LR = bicubic downscaling of the HR frames (MATLAB convention), as BasicVSR;
- ``"real"``: LR = the BSRGAN degradation model with one parameter draw per training sequence,
  and a cleaning stage trained to turn the LR frames into the bicubic LR, as RealBasicVSR.

Batches are random HR crops of ``seq`` consecutive frames (random flips), drawn as a pure function
of ``(seed, step)``; the loss is the Charbonnier distance to the HR crop (plus, for ``"real"``, the
L1 distance of the cleaned LR to the bicubic LR). Clips are split by name into training and
held-out clips: no frame of a held-out clip is ever trained on.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..files import fingerprint
from ..models.sr import CompactBasicVSR
from ..profiles import pick, resolve_profile
from .export import load_marked, save_marked
from .loop import TrainResult, cache_key, fit

KINDS = ("blind", "real")
RECIPE_VERSION = 1  # part of the cache key: bumped when a recipe's behaviour changes


@dataclass(frozen=True)
class SRConfig:
    """Network size and training schedule (see :func:`config_for` for the profiles)."""

    channels: int = 32
    blocks: int = 3
    scale: int = 2
    crop: int = 64  # HR crop side
    seq: int = 5  # frames per training sequence
    batch: int = 4
    steps: int = 400
    lr: float = 1e-3
    max_frames: int = 48  # HR frames loaded per clip (memory)


def config_for(profile: str | None = None, **overrides) -> SRConfig:
    """The training configuration of a profile: ``smoke`` (CI), ``demo`` (a few CPU minutes per
    network), ``paper`` (BasicVSR's width and depth and a longer schedule, for a GPU).

    Example:
        >>> config_for("smoke").steps < config_for("demo").steps
        True
    """
    p = resolve_profile(profile)
    cfg = pick(p, smoke=SRConfig(channels=16, blocks=1, crop=48, seq=3, batch=2, steps=30),
               demo=SRConfig(), paper=SRConfig(channels=64, blocks=15, crop=128, seq=15, batch=8, steps=300_000,
                                                lr=2e-4, max_frames=100))
    return replace(cfg, **overrides)


@dataclass
class Clip:
    """HR frames of one clip, ``(T, 3, H, W)`` uint8 (or int32 for 16-bit), and where they came from."""

    name: str
    path: Path
    frames: torch.Tensor
    bit_depth: int

    def as_float(self, sl=slice(None)) -> torch.Tensor:
        return self.frames[sl].float() / (2**self.bit_depth - 1)


def load_hr_clips(root: str | os.PathLike | Sequence[str | os.PathLike], *, max_frames: int = 48,
                  min_size: int = 16) -> list[Clip]:
    """The HR frames of every clip under ``root``: the ``4k/`` recording of BSC4K-style clips, or
    frame folders and video files as they are (at most ``max_frames`` frames each)."""
    from ..data import DataError, find_clips, open_clip

    found = find_clips(root if not isinstance(root, (str, os.PathLike)) else [root])
    clips = []
    for name, path, label in found:
        if label == "1080p":
            continue
        clip = open_clip(path)
        h, w = clip.size
        if min(h, w) < min_size:
            raise DataError(f"{path}: frames of {w}x{h} are smaller than the {min_size}-pixel training crop")
        frames = torch.cat(list(clip.iter_chunks(chunk=8, mode="rgb", stop=max_frames)))
        clips.append(Clip(name, Path(path), frames, int(clip.bit_depth)))
    if not clips:
        raise DataError(f"{root}: no HR clips found (frame folders, video files or <clip>/4k folders)")
    return clips


def split_clips(clips: list[Clip], holdout_every: int = 4) -> tuple[list[Clip], list[Clip]]:
    """Training and held-out clips, split by name: every ``holdout_every``-th clip in name order
    is held out (at least one clip each when there are two or more).

    Example:
        >>> cs = [Clip(n, Path(n), torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 8) for n in "abcdefgh"]
        >>> [c.name for c in split_clips(cs)[1]]
        ['a', 'e']
    """
    ordered = sorted(clips, key=lambda c: c.name)
    if len(ordered) < 2:
        raise ValueError(f"clips: need at least two clips to hold one out; got {len(ordered)}")
    held = ordered[::holdout_every]
    train = [c for c in ordered if c not in held]
    return train, held


def _sample(clips: list[Clip], cfg: SRConfig, g: torch.Generator) -> torch.Tensor:
    """A batch of HR sequences ``(B, seq, 3, crop, crop)`` in [0, 1]."""
    out = []
    for _ in range(cfg.batch):
        clip = clips[int(torch.randint(len(clips), (1,), generator=g))]
        t, _, h, w = clip.frames.shape
        seq = min(cfg.seq, t)
        s = int(torch.randint(t - seq + 1, (1,), generator=g))
        crop = min(cfg.crop, h, w) // cfg.scale * cfg.scale
        y = int(torch.randint(h - crop + 1, (1,), generator=g))
        x = int(torch.randint(w - crop + 1, (1,), generator=g))
        hr = clip.as_float(slice(s, s + seq))[..., y:y + crop, x:x + crop]
        if bool(torch.randint(2, (1,), generator=g)):
            hr = hr.flip(-1)
        if bool(torch.randint(2, (1,), generator=g)):
            hr = hr.flip(0)  # time reversal: motion the other way
        out.append(hr)
    return torch.stack(out)


def _charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def degrade_sequences(hr: torch.Tensor, kind: str, scale: int, g: torch.Generator) -> torch.Tensor:
    """LR of HR sequences ``(B, T, 3, H, W)``: bicubic (``"blind"``) or BSRGAN with one parameter
    draw per sequence (``"real"``)."""
    from ..video.degrade import bicubic_down, bsrgan

    b, t, c, h, w = hr.shape
    if kind == "blind":
        return bicubic_down(hr.reshape(b * t, c, h, w), scale).reshape(b, t, c, h // scale, w // scale)
    if kind == "real":
        return torch.stack([bsrgan(seq, scale, generator=g)[0] for seq in hr])
    raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def data_key(clips: list[Clip]) -> str:
    """Key of the training data: every clip's files (path, size, mtime) and frames used."""
    return ",".join(fingerprint(c.path, c.frames.shape[0]) for c in clips)


def initial_model(cfg: SRConfig, seed: int) -> CompactBasicVSR:
    """The network both recipes start from (same seed, same weights; the cleaning stage of
    ``"real"`` is initialised after the shared part, from its own seed)."""
    torch.manual_seed(seed)
    return CompactBasicVSR(cfg.channels, cfg.blocks, cfg.scale)


def build_model(kind: str, cfg: SRConfig, seed: int) -> CompactBasicVSR:
    net = initial_model(cfg, seed)
    if kind == "real":
        shared = net.state_dict()
        torch.manual_seed(seed + 1)
        net = CompactBasicVSR(cfg.channels, cfg.blocks, cfg.scale, clean=True)
        missing = net.load_state_dict(shared, strict=False).missing_keys
        assert all(k.startswith("clean.") for k in missing)
    return net


def train_sr(kind: str, clips: list[Clip], cfg: SRConfig, *, seed: int = 0, device: str | torch.device = "cpu",
             progress: bool = True, cache: bool = True) -> TrainResult:
    """Train the ``kind`` network (``"blind"`` or ``"real"``) on the HR ``clips``.

    Cached by the configuration, the data and the library version; resumable.
    """
    from ..video.degrade import bicubic_down

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    device = torch.device(device)
    model = build_model(kind, cfg, seed).to(device)
    key = cache_key({"recipe": "sr", "recipe_version": RECIPE_VERSION, "kind": kind, "seed": seed, **asdict(cfg)},
                    data_key(clips))

    def step(net, g, i):
        hr = _sample(clips, cfg, g)
        lr = degrade_sequences(hr, kind, cfg.scale, g).to(device)
        hr = hr.to(device)
        sr = net(lr)
        loss = _charbonnier(sr, hr)
        out = {"loss": loss}
        if kind == "real":
            b, t, c, h, w = lr.shape
            clean_target = bicubic_down(hr.reshape(b * t, c, *hr.shape[-2:]), cfg.scale)
            clean_loss = (net.cleaned(lr.reshape(b * t, c, h, w)) - clean_target).abs().mean()
            out = {"loss": loss + clean_loss, "sr_loss": loss, "clean_loss": clean_loss}
        return out

    def warm(i):  # short linear warm-up, then cosine decay to 10 %
        warm_steps = max(1, cfg.steps // 20)
        if i < warm_steps:
            return (i + 1) / warm_steps
        return 0.1 + 0.45 * (1 + np.cos(np.pi * (i - warm_steps) / max(1, cfg.steps - warm_steps)))

    return fit(model, step, steps=cfg.steps, key=key, seed=seed, lr=cfg.lr, schedule=warm, cache=cache,
               progress=progress, desc=f"SR {kind}")


def psnr(x: torch.Tensor, y: torch.Tensor, border: int = 0) -> float:
    """PSNR in dB of frames in [0, 1] (all channels), ignoring ``border`` pixels on each side.

    Example:
        >>> round(psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1)), 6)
        20.0
    """
    if border:
        x, y = x[..., border:-border, border:-border], y[..., border:-border, border:-border]
    mse = float(((x.double() - y.double()) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def super_resolve(model: torch.nn.Module, lr: torch.Tensor, *, chunk: int = 8) -> torch.Tensor:
    """Upscale a clip ``(T, 3, h, w)`` with a temporal model, in sequences of ``chunk`` frames."""
    outs = []
    with torch.no_grad():
        for s in range(0, lr.shape[0], chunk):
            outs.append(model(lr[None, s:s + chunk])[0].clamp(0, 1))
    return torch.cat(outs)


def evaluate(models: dict[str, torch.nn.Module], clips: list[Clip], scale: int = 2, *, max_frames: int = 16,
             degradation: str = "bicubic", seed: int = 0) -> dict[str, float]:
    """Mean PSNR (dB, RGB, ``scale``-pixel border ignored) over the frames of ``clips`` of each model
    and of bicubic upscaling, from LR made by ``degradation`` (``"bicubic"`` or ``"bsrgan"``, one
    draw per clip)."""
    from ..video.degrade import bicubic_down, bsrgan
    from ..video.upscale import upscale

    scores: dict[str, list[float]] = {name: [] for name in ("bicubic", *models)}
    for k, clip in enumerate(clips):
        hr = clip.as_float(slice(0, max_frames))
        h, w = hr.shape[-2:]
        hr = hr[..., : h // scale * scale, : w // scale * scale]
        if degradation == "bicubic":
            lr = bicubic_down(hr, scale)
        else:
            lr = bsrgan(hr, scale, generator=torch.Generator().manual_seed(seed + k))[0]
        scores["bicubic"].append(psnr(upscale(lr, "bicubic", scale), hr, scale))
        for name, model in models.items():
            dev = next(model.parameters()).device
            scores[name].append(psnr(super_resolve(model, lr.to(dev)).cpu(), hr, scale))
    return {name: float(np.mean(v)) for name, v in scores.items()}


EXPORT_MARK = "ai4m-kit sr network"


def export_model(model: CompactBasicVSR, cfg: SRConfig, kind: str, path: str | os.PathLike, **meta) -> Path:
    """Write a trained network with its configuration to ``path`` (atomically); a file there that
    this function did not write is never overwritten."""
    return save_marked(path, EXPORT_MARK, "ai4m train-sr", {
        "kind": kind, "config": asdict(cfg), "clean": model.has_clean, "state_dict": model.state_dict(), **meta})


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> CompactBasicVSR:
    """A network written by :func:`export_model` (or ``ai4m train-sr --out``), in eval mode."""
    state = load_marked(path, EXPORT_MARK, "ai4m train-sr", device)
    cfg = SRConfig(**state["config"])
    net = CompactBasicVSR(cfg.channels, cfg.blocks, cfg.scale, clean=state["clean"]).to(device)
    net.load_state_dict(state["state_dict"])
    return net.eval()
