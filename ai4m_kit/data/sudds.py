"""The SUDDS detection dataset: original frames and the same frames upscaled by each method.

Layout (documented, user-extensible)::

    <root>/original/<clip>/frame_0000.png      the HR recording, never upsampled
    <root>/<method>/<clip>/frame_0000.png      the clip's LR upscaled by <method>
    <root>/dataset.json                        how it was built (written last: marks it complete)

Add a method by dropping the frames an external SR tool made from the clips' LR into
``<root>/<your-method>/<clip>/`` (same frame names and size as ``original``). :func:`build_dataset`
writes a dataset once from a corpus of HR clips (BSC4K ``<clip>/4k`` + ``<clip>/1080p``, or plain
frame folders / videos, which get synthetic LR); :class:`DetectionDataset` reads and validates one;
:func:`split_by_clip` splits by clip, never by frame or patch; :func:`extract_patches` cuts the
GLCM-selected patches and the per-frame DCT features.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from .errors import DataError

ORIGINAL = "original"
INFO = "dataset.json"
LR_SOURCES = ("recorded", "synthetic", "mixed")


def _lr_frames(path_lr: Path | None, hr: torch.Tensor, scale: int, source: str) -> torch.Tensor:
    from ..video.degrade import bicubic_down
    from .loaders import open_clip

    if source == "recorded" and path_lr is not None:
        clip = open_clip(path_lr)
        lr = torch.cat(list(clip.iter_chunks(chunk=8, mode="rgb", stop=hr.shape[0]))).float() / (2**clip.bit_depth - 1)
        if lr.shape[-2:] != (hr.shape[-2] // scale, hr.shape[-1] // scale):
            raise DataError(f"{path_lr}: LR frames are {lr.shape[-1]}x{lr.shape[-2]}; expected 1/{scale} of the HR size")
        return lr
    return bicubic_down(hr, scale)


def build_dataset(corpus: str | os.PathLike, root: str | os.PathLike, upscalers: Mapping[str, str | Callable],
                  *, scale: int = 2, frames: int = 8, lr_source: str = "mixed", clips: Sequence[str] | None = None,
                  progress: bool = True) -> Path:
    """Write the detection dataset of ``corpus`` into ``root`` (skipped when ``root/dataset.json`` exists).

    Args:
        corpus: folder of HR clips (BSC4K-style ``<clip>/4k`` and ``<clip>/1080p``, frame folders, videos).
        root: where to write; the caller keys it by corpus and parameters (a folder per key), so a
            changed corpus or parameter never reuses stale frames.
        upscalers: method name -> a classical method name of :func:`ai4m_kit.video.upscale.upscale`, or a
            callable ``lr (T, 3, h, w) -> (T, 3, scale*h, scale*w)`` in [0, 1] (e.g. an SR network).
        scale: upscaling factor (HR sides are cropped to multiples of it).
        frames: first frames of each clip used.
        lr_source: ``"recorded"`` (the clip's ``1080p`` recording where it has one), ``"synthetic"``
            (bicubic downscaling of the HR frames) or ``"mixed"`` (alternating by clip in name order).
        clips: clip names to use (default all).
    """
    from tqdm.auto import tqdm

    from ..files import write_text_atomic
    from ..video.upscale import upscale
    from .loaders import find_clips, open_clip
    from .png import write_png

    if lr_source not in LR_SOURCES:
        raise ValueError(f"lr_source must be one of {LR_SOURCES}; got {lr_source!r}")
    if ORIGINAL in upscalers:
        raise ValueError(f"upscalers: {ORIGINAL!r} is reserved for the HR frames")
    root = Path(root)
    if (root / INFO).is_file():
        return root
    found = find_clips(Path(corpus))
    hr_paths = {n: p for n, p, lab in found if lab != "1080p"}
    lr_paths = {n: p for n, p, lab in found if lab == "1080p"}
    names = sorted(hr_paths) if clips is None else list(clips)
    missing = [n for n in names if n not in hr_paths]
    if missing or not names:
        raise DataError(f"{corpus}: clips {missing or 'none'} not found (have {sorted(hr_paths)})")
    sources = {}
    for i, name in enumerate(tqdm(names, desc="detection dataset", disable=not progress)):
        clip = open_clip(hr_paths[name])
        hr = torch.cat(list(clip.iter_chunks(chunk=8, mode="rgb", stop=frames))).float() / (2**clip.bit_depth - 1)
        h, w = hr.shape[-2:]
        hr = hr[..., : h // scale * scale, : w // scale * scale]
        src = lr_source if lr_source != "mixed" else ("recorded" if i % 2 == 0 else "synthetic")
        if src == "recorded" and name not in lr_paths:
            src = "synthetic"
        sources[name] = src
        lr = _lr_frames(lr_paths.get(name), hr, scale, src)
        outs = {ORIGINAL: hr}
        for method, up in upscalers.items():
            outs[method] = upscale(lr, up, scale) if isinstance(up, str) else up(lr)
        for method, x in outs.items():
            if x.shape != hr.shape:
                raise ValueError(f"upscaler {method!r} returned {tuple(x.shape)} for clip {name}; expected {tuple(hr.shape)}")
            q = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for t in range(q.shape[0]):
                write_png(root / method / name / f"frame_{t:04d}.png", q[t])
    info = {"layout": "<root>/<method>/<clip>/frame_NNNN.png", "corpus": str(Path(corpus).resolve()), "scale": scale,
            "frames": frames, "methods": [ORIGINAL, *upscalers], "clips": names, "lr_source": sources}
    write_text_atomic(root / INFO, json.dumps(info, indent=1))
    return root


@dataclass
class DetectionDataset:
    """A detection dataset folder, validated on opening: every method folder holds clip folders of
    PNG frames with the original's frame count and size (see the module docstring).

    ``methods`` selects method folders (default all, ``original`` first); naming a folder that is not
    there is an error, as is a folder under ``root`` that holds no clip folders of frames.
    """

    root: Path
    methods: list[str] = field(default_factory=list)
    clips: list[str] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)

    def __init__(self, root: str | os.PathLike, methods: Sequence[str] | None = None):
        from .loaders import FrameFolder

        self.root = Path(root)
        if not (self.root / ORIGINAL).is_dir():
            raise DataError(f"{self.root}: not a detection dataset (no {ORIGINAL}/ folder of clips)")
        present = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for m in present:
            if not any(c.is_dir() for c in (self.root / m).iterdir()):
                raise DataError(f"{self.root / m}: method folder holds no <clip>/ frame folders")
        if methods is None:
            methods = [ORIGINAL] + [m for m in present if m != ORIGINAL]
        unknown = [m for m in methods if m not in present]
        if unknown:
            raise DataError(f"{self.root}: unknown method folder(s) {unknown}; have {present}")
        if ORIGINAL not in methods:
            methods = [ORIGINAL, *methods]
        self.methods = [ORIGINAL] + [m for m in methods if m != ORIGINAL]
        self.clips = sorted(c.name for c in (self.root / ORIGINAL).iterdir() if c.is_dir())
        self._folders: dict[tuple[str, str], FrameFolder] = {}
        sizes = {}
        for m in self.methods:
            have = {c.name for c in (self.root / m).iterdir() if c.is_dir()}
            extra = have - set(self.clips)
            if extra:
                raise DataError(f"{self.root / m}: clip folder(s) {sorted(extra)} have no {ORIGINAL}/ counterpart")
            for c in self.clips:
                if c not in have:
                    raise DataError(f"{self.root / m}: clip {c!r} missing (every method needs every clip)")
                f = FrameFolder(self.root / m / c)
                ref = self._folders.get((ORIGINAL, c))
                if ref is not None and (f.size != ref.size or len(f) != len(ref)):
                    raise DataError(f"{f.path}: {len(f)} frames of {f.size[1]}x{f.size[0]}; {ORIGINAL}/{c} has "
                                    f"{len(ref)} of {ref.size[1]}x{ref.size[0]} (mixed sizes)")
                self._folders[(m, c)] = f
                sizes[f.size] = f.path
        self.size = next(iter(sizes))
        info = self.root / INFO
        self.info = json.loads(info.read_text()) if info.is_file() else {}

    def frames(self, method: str, clip: str):
        """The :class:`~ai4m_kit.data.FrameFolder` of one method and clip."""
        return self._folders[(method, clip)]

    def __repr__(self) -> str:
        return f"DetectionDataset({str(self.root)!r}, methods={self.methods}, clips={len(self.clips)})"


def split_by_clip(clips: Sequence[str], *, test_every: int = 3, evaluation: Sequence[str] = ()) -> dict[str, list[str]]:
    """``{"train", "test", "evaluation"}`` clip lists: ``evaluation`` clips (a separate corpus) are
    kept apart; of the rest, every ``test_every``-th in name order (starting at the second) is a test
    clip. No clip is ever in two splits.

    Example:
        >>> split_by_clip(list("abcdefg"), evaluation=["g"])
        {'train': ['a', 'c', 'd', 'f'], 'test': ['b', 'e'], 'evaluation': ['g']}
    """
    if test_every < 2:
        raise ValueError(f"test_every must be >= 2; got {test_every}")
    ev = sorted(set(evaluation))
    bad = [c for c in ev if c not in clips]
    if bad:
        raise ValueError(f"evaluation clips {bad} are not in the dataset")
    rest = sorted(c for c in set(clips) if c not in ev)
    test = rest[1::test_every]
    train = [c for c in rest if c not in test]
    if not train or not test:
        raise ValueError(f"clips: need at least 2 clips outside the evaluation set to split; got {len(rest)}")
    return {"train": train, "test": test, "evaluation": ev}


@dataclass
class PatchSet:
    """Patches of frames, with labels and provenance.

    ``patches`` ``(N, 3, P, P)`` uint8; ``label`` ``(N,)`` method index; ``frame`` ``(N,)`` index into the
    frame table (``frame_method``, ``frame_clip``, ``frame_index``, ``dct`` ``(F, bands)``); ``corner``
    ``(N, 2)`` (y, x) of each patch in its frame.
    """

    patches: torch.Tensor
    label: torch.Tensor
    frame: torch.Tensor
    corner: torch.Tensor
    dct: torch.Tensor
    frame_method: list[str]
    frame_clip: list[str]
    frame_index: list[int]
    methods: list[str]

    @property
    def frame_label(self) -> torch.Tensor:
        return torch.tensor([self.methods.index(m) for m in self.frame_method])

    def subset_methods(self, keep: Sequence[str]) -> "PatchSet":
        """The patches and frames of the methods ``keep`` only (labels still index ``self.methods``)."""
        fkeep = torch.tensor([m in keep for m in self.frame_method])
        remap = torch.full((len(fkeep),), -1, dtype=torch.long)
        remap[fkeep] = torch.arange(int(fkeep.sum()))
        pkeep = fkeep[self.frame]
        idx = [i for i, k in enumerate(fkeep.tolist()) if k]
        return PatchSet(self.patches[pkeep], self.label[pkeep], remap[self.frame[pkeep]], self.corner[pkeep],
                        self.dct[fkeep], [self.frame_method[i] for i in idx], [self.frame_clip[i] for i in idx],
                        [self.frame_index[i] for i in idx], self.methods)


def frame_luma(rgb: torch.Tensor) -> torch.Tensor:
    """BT.709 luma in [0, 1] of an RGB frame ``(3, H, W)`` (uint8 or float in [0, 1])."""
    from .loaders import rgb_to_luma

    x = rgb_to_luma(rgb)
    return x / 255.0 if rgb.dtype == torch.uint8 else x


def frame_patches(rgb: torch.Tensor, patch: int, k: int, *, prop: str = "contrast", distance: int = 5,
                  levels: int = 256, luma: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most textured patches ``(k, 3, P, P)`` of a uint8 frame ``(3, H, W)`` and their corners
    (``luma``: the frame's :func:`frame_luma`, when already computed)."""
    from ..video.glcm import crop_patches, select_patches

    h, w = rgb.shape[-2:]
    if h < patch or w < patch:
        raise DataError(f"frame of {w}x{h} is smaller than one {patch}x{patch} patch")
    grey = ((frame_luma(rgb) if luma is None else luma) * 255).round().clamp(0, 255).to(torch.uint8)
    corners, _ = select_patches(grey, patch, k, prop=prop, distance=distance, levels=levels)
    return crop_patches(rgb, corners, patch), corners


def extract_patches(dataset: DetectionDataset, clips: Sequence[str], *, patch: int, k: int, frames: int | None = None,
                    prop: str = "contrast", distance: int = 5, dct_bands: int = 16) -> PatchSet:
    """The GLCM top-``k`` patches and DCT features of the first ``frames`` frames of ``clips`` in every
    method of ``dataset``."""
    from ..models.sudds import dct_features

    h, w = dataset.size
    if h < patch or w < patch:
        raise DataError(f"{dataset.root}: frames of {w}x{h} are smaller than one {patch}x{patch} patch")
    pats, labels, fidx, corners, dcts = [], [], [], [], []
    fm, fc, fi = [], [], []
    for mi, m in enumerate(dataset.methods):
        for c in clips:
            folder = dataset.frames(m, c)
            n = len(folder) if frames is None else min(frames, len(folder))
            for t in range(n):
                rgb = folder.read(t)
                if rgb.dtype != torch.uint8:
                    rgb = (rgb.float() / (2**folder.bit_depth - 1) * 255).round().to(torch.uint8)
                luma = frame_luma(rgb)
                p, cor = frame_patches(rgb, patch, k, prop=prop, distance=distance, luma=luma)
                f = len(fm)
                pats.append(p)
                corners.append(cor)
                labels.append(torch.full((len(p),), mi))
                fidx.append(torch.full((len(p),), f))
                dcts.append(dct_features(luma, dct_bands))
                fm.append(m)
                fc.append(c)
                fi.append(t)
    if not pats:
        raise DataError(f"{dataset.root}: no frames for clips {list(clips)}")
    return PatchSet(torch.cat(pats), torch.cat(labels), torch.cat(fidx), torch.cat(corners), torch.stack(dcts),
                    fm, fc, fi, list(dataset.methods))
