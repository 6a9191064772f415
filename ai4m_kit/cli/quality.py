"""``ai4m quality REF DIST --out q.nc``: per-frame PSNR, SSIM, MS-SSIM and VMAF of a clip pair, to NetCDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.quality.vmaf import MODELS

    from .options import positive_int

    p.description = ("Measure the distorted clip DIST against the reference REF (PNG frame folders or video files), "
                     "frame by frame, streaming in chunks; write the per-frame values to a NetCDF file and print "
                     "their means. Defaults: PSNR-Y and SSIM-Y on BT.601 limited-range Y (BasicSR / SR papers), SSIM "
                     "with Wang's ssim.m automatic downsampling.")
    p.add_argument("ref", metavar="REF", help="reference: PNG frame folder or video file")
    p.add_argument("dist", metavar="DIST", help="distorted: PNG frame folder or video file")
    p.add_argument("--metrics", default="psnr,ssim", help="comma-separated: psnr, ssim, ms_ssim, vmaf (default psnr,ssim)")
    p.add_argument("--channel", choices=("y", "rgb"), default="y", help="luma (default) or every RGB channel")
    p.add_argument("--matrix", choices=("bt601", "bt709"), default="bt601", help="luma matrix (default bt601)")
    p.add_argument("--y-range", choices=("limited", "full"), default="limited",
                   help="limited: (16 + 219 Y)/255 as MATLAB rgb2ycbcr (default); full: Y")
    p.add_argument("--crop-border", type=int, default=0, metavar="N", help="pixels ignored on each side (SR papers: the scale)")
    p.add_argument("--no-downsample", action="store_true",
                   help="SSIM without ssim.m's automatic downsampling (as BasicSR, torchmetrics, scikit-image)")
    p.add_argument("--vmaf-model", choices=("auto", *MODELS), default="auto",
                   help="libvmaf model (auto: vmaf_4k_v0.6.1 from 2160 lines, else vmaf_v0.6.1)")
    p.add_argument("--scale-distorted", action="store_true",
                   help="upscale a smaller DIST to REF's size (bicubic; integer factor) instead of refusing the pair")
    p.add_argument("--threads", type=positive_int, default=1, help="libvmaf threads (default 1)")
    p.add_argument("--chunk", type=positive_int, default=8, help="frames per processing step (default 8)")
    p.add_argument("--device", default=None, help="torch device for PSNR/SSIM (default cpu)")
    p.add_argument("--out", required=True, help="output NetCDF file (an existing one must be an ai4m quality output)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ai4m_kit.data import DataError
    from ai4m_kit.quality.metrics import is_quality_file, measure_pair, parse_metrics, save

    out = Path(args.out)
    if args.crop_border < 0:
        raise CommandError(f"--crop-border must be >= 0; got {args.crop_border}", 2)
    try:
        metrics = parse_metrics(args.metrics)
    except ValueError as err:
        raise CommandError(f"--metrics: {err}", 2) from None
    for path in (args.ref, args.dist):
        if not Path(path).exists():
            raise CommandError(f"{path}: no such frame folder or video file")
    if out.is_dir():
        raise CommandError(f"--out {out}: is a folder; give a file name such as q.nc", 2)
    if out.exists() and not is_quality_file(out):
        raise CommandError(f"--out {out}: exists and is not an ai4m quality output; not overwritten (nothing was written)", 2)
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
    try:
        ds = measure_pair(args.ref, args.dist, metrics, chunk=args.chunk, channel=args.channel, matrix=args.matrix,
                          y_range=args.y_range, crop_border=args.crop_border, downsample=not args.no_downsample,
                          scale_to="ref" if args.scale_distorted else None, vmaf_model=args.vmaf_model,
                          threads=args.threads, device=args.device)
    except DataError as err:  # name the option, not the library argument
        raise CommandError(str(err).replace("pass scale_to='ref'", "pass --scale-distorted")
                           .replace("scale_to='ref' needs", "--scale-distorted needs")) from None
    save(ds, out)
    parts = []
    for name in metrics:
        mean = float(ds[name].mean())
        unit = " dB" if name == "psnr" else ""
        extra = (f" (libvmaf pooled {ds[name].attrs['libvmaf_pooled_mean']:.4f}, {ds.attrs['vmaf_model']})"
                 if name == "vmaf" else "")
        parts.append(f"{name} {mean:.4f}{unit}{extra}")
    print(f"{ds.sizes['frame']} frames, mean " + ", ".join(parts) + f" -> {out}")
    return 0
