"""``ai4m bench upscale``: per-frame upscaling time of :func:`ai4m_kit.video.upscale.upscale`
against Pillow's ``Image.resize`` measured in the same run, for every classical method.

Pillow works on the 8-bit ``PIL.Image``; ours on a float32 ``(3, H, W)`` tensor in [0, 1]
("ours"), and, stated apart, including the conversion from the 8-bit ``(H, W, 3)`` array to floats
and back to 8 bits ("ours+uint8"), which is what a caller holding 8-bit frames pays. The target:
Lanczos-3 faster than Pillow at the default threads (1).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from ai4m_kit.timing import interleaved_medians, ratios, set_threads, synchronize
from ai4m_kit.video.upscale import CLASSICAL, output_size, upscale

TARGET_METHOD = "lanczos3"


def _test_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An 8-bit RGB frame with edges, gradients and noise (the content does not change the time)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 128 + 80 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + 40 * ((xx // 48 + yy // 48) % 2) - 20
    rgb = base[..., None] + rng.normal(0, 8, size=(height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    """Time every classical method with the options of ``ai4m bench upscale``; prints per-frame
    medians, ratios ours/Pillow and whether the Lanczos-3 target is met. Returns 0."""
    from PIL import Image

    threads = set_threads(args.threads)
    width, height = args.size
    device = torch.device(args.device)
    out_h, out_w = output_size((height, width), args.scale)
    rgb = _test_image(height, width)
    image = Image.fromarray(rgb)
    frame = torch.from_numpy(rgb).permute(2, 0, 1).to(device=device, dtype=torch.float32).div(255).contiguous()
    filters = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
               "bicubic": Image.Resampling.BICUBIC, "lanczos3": Image.Resampling.LANCZOS}
    thp = os.environ.get("THP_MEM_ALLOC_ENABLE", "0")
    print(f"ai4m bench upscale: {width}x{height} RGB -> {out_w}x{out_h} (scale {args.scale:g}), torch {torch.__version__}, "
          f"{threads} thread(s), device {device}, Pillow {Image.__version__} (single-threaded, 8-bit), "
          f"median of {args.repeats} interleaved rounds; THP_MEM_ALLOC_ENABLE={thp}")
    print(f"{'method':<10} {'Pillow ms':>10} {'ours ms':>9} {'ours/Pillow':>12} {'ours+uint8 ms':>14} {'ratio':>7}")
    met = None
    for method in CLASSICAL:
        def ours(method=method):
            return upscale(frame, method, args.scale)

        def ours_uint8(method=method):
            x = torch.from_numpy(rgb).to(device).permute(2, 0, 1).to(torch.float32).div_(255)
            y = upscale(x, method, args.scale)
            return y.mul_(255).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()

        def pillow(method=method):
            return image.resize((out_w, out_h), filters[method])

        t = interleaved_medians({"pillow": pillow, "ours": ours, "ours+uint8": ours_uint8},
                                repeats=args.repeats, device=device)
        synchronize(device)
        r = ratios(t, "pillow")
        print(f"{method:<10} {t['pillow'] * 1e3:>10.2f} {t['ours'] * 1e3:>9.2f} {r['ours']:>12.2f} "
              f"{t['ours+uint8'] * 1e3:>14.2f} {r['ours+uint8']:>7.2f}")
        if method == TARGET_METHOD:
            met = r["ours"] < 1
            target = r["ours"]
    print(f"ratio ours/Pillow for {TARGET_METHOD} x{args.scale:g} at {width}x{height}, {threads} thread(s): {target:.2f} "
          f"(target: below 1) -> target {'met' if met else 'NOT met'}")
    return 0
