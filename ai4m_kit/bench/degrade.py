"""``ai4m bench degrade``: per-frame time of the degradations (bicubic, blur, BSRGAN) at one frame size,
and of ``bicubic_down`` against Pillow's bicubic reduce on the same frame, measured in the same run."""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
import torch

BSRGAN_TARGET_S = 0.5  # per 1920x1080 RGB frame on one thread


def structured_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A structured ``(H, W, 3)`` uint8 frame: smooth gradients, a checkerboard of edges, fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.5 + 0.25 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    base += 0.15 * (((xx // 48) + (yy // 48)) % 2) - 0.075
    rgb = np.stack([base, 0.8 * base + 0.1, 1.0 - base], axis=-1) + rng.normal(0, 0.02, (height, width, 3))
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    """Time the degradations with the options of ``ai4m bench degrade``; prints times and ratios."""
    from PIL import Image

    from ai4m_kit.timing import interleaved_medians, set_threads
    from ai4m_kit.video.degrade import bicubic_down, blur_down, bsrgan, bsrgan_params, degrade_params

    threads = set_threads(args.threads)
    width, height = args.size
    dev = torch.device(args.device)
    frame8 = structured_frame(height, width)
    x = torch.from_numpy(frame8.transpose(2, 0, 1).copy()).to(dev, torch.float32).div_(255).unsqueeze(0)
    pil = Image.fromarray(frame8)
    blur = degrade_params("blur", 2, height=height, width=width, generator=torch.Generator().manual_seed(0))
    draws = [bsrgan_params(2, torch.Generator().manual_seed(s), height=height, width=width) for s in range(args.draws)]
    noise = torch.Generator().manual_seed(0)
    print(f"ai4m bench degrade: {width}x{height} RGB float32 frame, x2, device {dev}, torch threads {threads}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPU(s); median of {args.repeats} interleaved rounds, "
          f"weights cached (built once per clip and size)")
    cands = {
        "pillow": lambda: pil.resize((width // 2, height // 2), Image.BICUBIC, reducing_gap=None),
        "bicubic_down": lambda: bicubic_down(x, 2),
        "blur_down": lambda: blur_down(x, 2, kernel=blur["kernel"]),
    }
    for i, p in enumerate(draws):
        cands[f"bsrgan {i}"] = lambda p=p: bsrgan(x, 2, params=p, generator=noise)
    med = interleaved_medians(cands, repeats=args.repeats, warmup=1, device=dev)
    ms = {k: 1000 * v for k, v in med.items()}
    print(f"  bicubic_down (MATLAB imresize): {ms['bicubic_down']:.1f} ms/frame")
    print(f"  blur_down (Gaussian sigma {blur['sigma']:.2f}, 21x21): {ms['blur_down']:.1f} ms/frame")
    per_draw = [ms[f"bsrgan {i}"] for i in range(len(draws))]
    typical = statistics.median(per_draw)
    print(f"  bsrgan x2, {len(draws)} parameter draws: median {typical:.1f} ms/frame, fastest {min(per_draw):.1f}, "
          f"slowest {max(per_draw):.1f}")
    print(f"  Pillow Image.resize(BICUBIC, reducing_gap=None) on the same 8-bit frame {ms['pillow']:.1f} ms -> "
          f"bicubic_down / Pillow time ratio = {ms['bicubic_down'] / ms['pillow']:.2f}")
    if (width, height) == (1920, 1080):
        verdict = "met" if typical / 1000 <= BSRGAN_TARGET_S else "NOT met"
    else:
        verdict = "not assessed (the target is for 1920x1080; run with --size 1920x1080)"
    print(f"  target: BSRGAN <= {BSRGAN_TARGET_S} s per 1920x1080 frame on one thread: {verdict} "
          f"(median {typical / 1000:.3f} s at {width}x{height}, {threads} thread(s))")
    return 0
