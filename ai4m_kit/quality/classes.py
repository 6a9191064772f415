"""Content classes of a corpus: genre, motion complexity and resolution (report §3.3).

- **genre**: the ``genre`` column of the corpus manifest, else its ``category`` column, else
  ``"unknown"`` (the vocabulary is the manifest's own);
- **motion complexity**: ``low`` / ``medium`` / ``high`` from two measures, temporal information
  (ITU-T P.910, mean over frames) and global motion (camera translation per frame by phase
  correlation, relative to the frame width). Each measure has two thresholds, calibrated on a
  corpus (its terciles, in the measure's own units) and stored with the labels so that another
  corpus can be labelled with the same thresholds; a clip's class is the mean of its two class
  indices (0, 1, 2), rounded half up;
- **resolution**: from the HR frame height (``2160p (UHD)``, ``1080p (HD)``, ... or ``<h>p``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import xarray as xr

RESOLUTION_NAMES = {4320: "4320p (8K)", 2160: "2160p (UHD)", 1440: "1440p (QHD)", 1080: "1080p (HD)",
                    720: "720p (HD ready)", 576: "576p (SD)", 480: "480p (SD)"}
MOTION_CLASSES = ("low", "medium", "high")


def resolution_class(height: int) -> str:
    """Name of a frame height, e.g. ``resolution_class(2160) == "2160p (UHD)"``.

    Example:
        >>> resolution_class(1080), resolution_class(216)
        ('1080p (HD)', '216p')
    """
    return RESOLUTION_NAMES.get(int(height), f"{int(height)}p")


def global_motion(luma: torch.Tensor) -> torch.Tensor:
    """Global translation between consecutive frames of ``luma`` ``(T, H, W)``, in pixels, by
    phase correlation (the peak of the normalised cross-power spectrum, Hann-windowed);
    ``(T - 1,)`` magnitudes.

    Example:
        >>> x = torch.rand(64, 64)
        >>> clip = torch.stack([x, torch.roll(x, shifts=(3, -4), dims=(0, 1))])
        >>> global_motion(clip).round().tolist()
        [5.0]
    """
    if luma.ndim != 3 or luma.shape[0] < 2:
        raise ValueError(f"luma must be (T, H, W) with T >= 2; got shape {tuple(luma.shape)}")
    x = luma.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2:]
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=x.dtype, device=x.device),
                         torch.hann_window(w, periodic=False, dtype=x.dtype, device=x.device))
    f = torch.fft.rfft2(x * window)
    cross = f[1:] * f[:-1].conj()
    corr = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-12), s=(h, w))
    peak = corr.flatten(1).argmax(dim=1)
    dy, dx = peak // w, peak % w
    dy = torch.where(dy > h // 2, dy - h, dy).double()
    dx = torch.where(dx > w // 2, dx - w, dx).double()
    return torch.sqrt(dx**2 + dy**2)


def motion_measures(path: str | os.PathLike, *, max_frames: int | None = None, chunk: int = 8) -> dict[str, float]:
    """Mean TI (P.910 2021, 0-255 scale) and mean global motion (pixels per frame / frame width)
    of one clip (frame folder or video file)."""
    from ..data import open_clip, rgb_to_luma
    from ..video.descriptors import siti

    clip = open_clip(path)
    ti, motion, last = [], [], None
    for rgb in clip.iter_chunks(chunk=chunk, mode="rgb", stop=max_frames):
        luma = rgb_to_luma(rgb)
        _, t = siti(luma, definition="p910-2021", previous=last, bit_depth=clip.bit_depth, color_range="full")
        ti.append(t)
        seq = luma if last is None else torch.cat([last[None], luma])
        if seq.shape[0] >= 2:
            motion.append(global_motion(seq))
        last = luma[-1]
    ti_all = torch.cat(ti)
    if not motion:
        raise ValueError(f"{path}: motion needs at least two frames")
    width = clip.size[1]
    return {"ti": float(ti_all[torch.isfinite(ti_all)].mean()),
            "global_motion": float(torch.cat(motion).mean()) / width}


def terciles(values: np.ndarray) -> tuple[float, float]:
    """The two terciles of ``values``: the thresholds between low/medium and medium/high.

    Example:
        >>> terciles(np.array([0.0, 0.25, 0.5, 0.75, 1.0]))
        (0.3333333333333333, 0.6666666666666666)
    """
    lo, hi = np.quantile(np.asarray(values, float), [1 / 3, 2 / 3])
    return float(lo), float(hi)


def class_index(value: float, thresholds: tuple[float, float]) -> int:
    """0 below the first threshold, 2 above the second, else 1."""
    lo, hi = thresholds
    return 0 if value < lo else 2 if value > hi else 1


def motion_class(ti: float, motion: float, thresholds: dict[str, tuple[float, float]]) -> tuple[str, float]:
    """``(class, score)`` of a clip from its TI and global motion and the thresholds of each.

    Example:
        >>> motion_class(30.0, 0.001, {"ti": (10.0, 20.0), "global_motion": (0.002, 0.01)})
        ('medium', 1.0)
    """
    score = (class_index(ti, thresholds["ti"]) + class_index(motion, thresholds["global_motion"])) / 2
    return MOTION_CLASSES[int(np.floor(score + 0.5))], score


def label_corpus(root: str | os.PathLike, *, thresholds: dict[str, tuple[float, float]] | None = None,
                 max_frames: int | None = 16) -> xr.Dataset:
    """Genre, motion and resolution class of every clip of a BSC4K-style corpus (or of frame
    folders / video files), measured on the HR recording.

    Args:
        root: corpus folder.
        thresholds: ``{"ti": (lo, hi), "global_motion": (lo, hi)}``; default: calibrated on this
            corpus (terciles of each measure), stored in the result's attributes (JSON).
        max_frames: frames per clip used for the motion measures.

    Returns:
        Dataset along ``clip`` with ``genre``, ``motion_class``, ``resolution_class`` (strings),
        ``ti``, ``global_motion``, ``motion_score``; attributes ``motion_thresholds`` and how they
        were obtained.
    """
    from ..data import find_clips, open_clip, read_manifest

    root = Path(root)
    manifest = {str(r["clip"]): r for r in read_manifest(root)} if (root / "manifest.csv").is_file() else {}
    rows = []
    for name, path, label in find_clips(root):
        if label == "1080p":
            continue
        m = motion_measures(path, max_frames=max_frames)
        meta = manifest.get(name, {})
        genre = str(meta.get("genre") or meta.get("category") or "unknown")
        rows.append({"clip": name, "genre": genre, "height": open_clip(path).size[0], **m})
    if len(rows) < 3 and thresholds is None:
        raise ValueError(f"{root}: calibrating motion thresholds needs at least 3 clips; got {len(rows)} "
                         "(pass thresholds= from another corpus)")
    ti = np.array([r["ti"] for r in rows])
    gm = np.array([r["global_motion"] for r in rows])
    calibrated = thresholds is None
    if calibrated:
        thresholds = {"ti": terciles(ti), "global_motion": terciles(gm)}
    labels = [motion_class(a, b, thresholds) for a, b in zip(ti, gm)]
    ds = xr.Dataset(
        {"genre": ("clip", [r["genre"] for r in rows]),
         "motion_class": ("clip", [c for c, _ in labels]),
         "resolution_class": ("clip", [resolution_class(r["height"]) for r in rows]),
         "ti": ("clip", ti), "global_motion": ("clip", gm), "motion_score": ("clip", [v for _, v in labels])},
        coords={"clip": [r["clip"] for r in rows]})
    ds["ti"].attrs["long_name"] = "mean temporal information (P.910 2021), 0-255 scale"
    ds["global_motion"].attrs["long_name"] = "mean global translation per frame / frame width"
    ds["motion_score"].attrs["long_name"] = "mean of the TI and global-motion class indices (0 low, 2 high)"
    ds.attrs.update(motion_thresholds=json.dumps(thresholds),
                    thresholds_from="terciles of this corpus" if calibrated else "given",
                    genre_from="manifest genre, else category, else unknown")
    return ds
