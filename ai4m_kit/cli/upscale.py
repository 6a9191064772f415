"""``ai4m upscale SRC DST --method lanczos3 --scale 2``: upscale a clip into a new PNG frame folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import CommandError, check_output_folder


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .options import positive_float, positive_int

    p.description = ("Upscale every frame of SRC (a PNG frame folder or a video file) into the new folder DST as "
                     "frame_NNNN.png (8-bit, or 16-bit when SRC has more than 8 bits per channel) with upscale.json "
                     "recording the method, scale and source. Streams in chunks; never writes into SRC.")
    p.add_argument("src", metavar="SRC", help="PNG frame folder or video file")
    p.add_argument("dst", metavar="DST", help="output folder (created; an existing one must be empty)")
    p.add_argument("--method", default="lanczos3",
                   help="nearest, bilinear, bicubic, lanczos3 (default; as Pillow), a registered upscaler name, "
                        "or a network file written by `ai4m train-sr --out NET.pt`")
    p.add_argument("--scale", type=positive_float, default=2.0, help="upscaling factor > 1 (default 2)")
    p.add_argument("--chunk", type=positive_int, default=8, help="frames per processing step (default 8)")
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ai4m_kit import __version__
    from ai4m_kit.data import open_clip, write_png
    from ai4m_kit.files import write_text_atomic
    from ai4m_kit.video.upscale import available_upscalers, output_size, upscale

    src, dst = Path(args.src), Path(args.dst)
    if not args.scale > 1:
        raise CommandError(f"--scale must be > 1; got {args.scale:g}", 2)
    method = args.method
    if method.endswith(".pt"):
        from ai4m_kit.train.sr import load_model

        if not Path(method).is_file():
            raise CommandError(f"--method {method}: no such network file")
        method = load_model(method, args.device or "cpu")
        if method.scale != args.scale:
            raise CommandError(f"--scale {args.scale:g}: the network {args.method} upscales x{method.scale}", 2)
    elif method not in available_upscalers():
        raise CommandError(f"--method {args.method!r}: unknown; available: {', '.join(available_upscalers())}", 2)
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
    check_output_folder(src, dst)
    clip = open_clip(src)
    depth = clip.bit_depth
    peak_in = float(2 ** depth - 1)
    out_dtype, peak_out = (np.uint8, 255.0) if depth <= 8 else (np.uint16, 65535.0)
    n = len(clip)
    digits = max(4, len(str(n - 1)))
    out_h, out_w = output_size(clip.size, args.scale)
    dst.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        for codes in clip.iter_chunks(args.chunk, "rgb"):
            frames = codes.to(torch.float32).div_(peak_in).clamp_(0, 1)
            up = upscale(frames, method, args.scale, chunk=args.chunk, device=args.device).cpu()
            pixels = up.mul_(peak_out).round_().permute(0, 2, 3, 1).numpy().astype(out_dtype)
            for frame in pixels:
                write_png(dst / f"frame_{written:0{digits}d}.png", frame)
                written += 1
    except KeyboardInterrupt:
        raise CommandError(f"interrupted after {written} of {n} frames; {dst} holds them (no upscale.json)", 130) from None
    meta = {"method": args.method, "scale": args.scale, "source": str(src.resolve()), "frames": written,
            "source_size": [clip.size[1], clip.size[0]], "size": [out_w, out_h],
            "bit_depth": 8 if out_dtype is np.uint8 else 16, "ai4m_kit_version": __version__}
    write_text_atomic(dst / "upscale.json", json.dumps(meta, indent=2) + "\n")
    print(f"{written} frames {clip.size[1]}x{clip.size[0]} -> {out_w}x{out_h} ({args.method}, x{args.scale:g}) -> {dst}")
    return 0
