"""``ai4m degrade SRC DST --kind bicubic|blur|bsrgan --scale 2 --seed S``: degrade a clip into a new folder.

SRC is a PNG frame folder or a video file; DST a new (or empty) folder that receives ``frame_NNNN.png``
(8-bit) and ``degradation.json`` (the parameters, drawn once for the whole clip, the seed, the source and
the ai4m_kit version). The input is never overwritten: DST may not be SRC, lie inside SRC, or hold files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import CommandError, check_output_folder


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.video.degrade import KINDS

    from .options import positive_int

    p.add_argument("src", metavar="SRC", help="PNG frame folder or video file")
    p.add_argument("dst", metavar="DST", help="output folder (new or empty): frame_NNNN.png and degradation.json")
    p.add_argument("--kind", choices=KINDS, required=True, help="degradation model")
    p.add_argument("--scale", type=positive_int, default=2, help="downscaling factor (bsrgan: 2 or 4; default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the per-clip parameter draw (same seed, same bytes)")
    p.add_argument("--chunk", type=positive_int, default=8, help="frames per processing step")
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    import ai4m_kit
    from ai4m_kit.data import open_clip, write_png
    from ai4m_kit.files import write_text_atomic
    from ai4m_kit.video.degrade import degrade, degrade_params

    src, dst = Path(args.src), Path(args.dst)
    check_output_folder(src, dst)
    device = torch.device("cpu")
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
        device = torch.device(args.device)
    clip = open_clip(src)
    height, width = clip.size
    generator = torch.Generator().manual_seed(args.seed)
    try:  # one draw for the whole clip, before any frame is read or written
        params = degrade_params(args.kind, args.scale, height=height, width=width, generator=generator)
    except ValueError as err:
        raise CommandError(f"{src}: {err}") from None
    peak = float(2 ** clip.bit_depth - 1)
    dst.mkdir(parents=True, exist_ok=True)
    written = 0
    for chunk in clip.iter_chunks(args.chunk, "rgb"):
        frames = chunk.to(device=device, dtype=torch.float32) / peak
        lr, _ = degrade(frames, args.kind, args.scale, generator=generator, params=params)
        codes = (lr * 255).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()
        for frame in codes:
            write_png(dst / f"frame_{written:04d}.png", np.ascontiguousarray(frame.transpose(1, 2, 0)))
            written += 1
    record = {"params": params, "seed": args.seed, "source": str(src.resolve()), "frames": written,
              "source_size": [height, width], "source_bit_depth": clip.bit_depth,
              "ai4m_kit_version": ai4m_kit.__version__}
    write_text_atomic(dst / "degradation.json", json.dumps(record, indent=1) + "\n")
    lr_h, lr_w = codes.shape[-2:]
    print(f"{written} frames {width}x{height} -> {lr_w}x{lr_h} ({args.kind}, x{args.scale}, seed {args.seed}) in {dst}")
    return 0
