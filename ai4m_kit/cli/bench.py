"""``ai4m bench coverage | sqrtm | eigh | degrade | upscale | quality``: benchmarks that print ratios against a baseline measured
in the same run. The timing code lives in :mod:`ai4m_kit.bench`; this module only parses options."""

from __future__ import annotations

import argparse

from . import CommandError
from .options import check_device, even_frame_size, frame_size, positive_float, positive_int, positive_ints

DTYPE_NAMES = ("float32", "float64")
COVERAGE_SIZES = ("360p", "1080p", "2160p")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", required=True, parser_class=type(p), metavar="BENCHMARK")
    _coverage_arguments(sub.add_parser("coverage", help="per-frame SI+TI time vs siti-tools (and FFmpeg's siti filter)"))
    _sqrtm_arguments(sub.add_parser("sqrtm", help="matrix square root: accuracy, speed vs NS-5, auto selection"))
    _eigh_arguments(sub.add_parser("eigh", help="batched eigh: speed vs torch.linalg.eigh, accuracy, auto choice"))
    _degrade_arguments(sub.add_parser("degrade", help="degradations per frame (bicubic, blur, BSRGAN) vs Pillow bicubic"))
    _upscale_arguments(sub.add_parser("upscale", help="nearest/bilinear/bicubic/Lanczos-3 upscaling time vs Pillow"))
    _quality_arguments(sub.add_parser("quality", help="PSNR+SSIM per 1080p frame vs torchmetrics; VMAF subprocess overhead"))
    _ssl_arguments(sub.add_parser("ssl", help="W-MSE whitening step (forward+backward) vs the official formulation"))
    _drloc_arguments(sub.add_parser("drloc", help="DRLoc's overhead per training step against the backbone's step"))


def _common(p: argparse.ArgumentParser, threads_default, threads_help: str) -> None:
    p.add_argument("--threads", type=positive_int, default=threads_default, help=threads_help)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--repeats", type=positive_int, default=7, help="interleaved timing rounds (median reported)")


def _coverage_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.video.descriptors import DEFINITIONS

    p.add_argument("--sizes", nargs="+", default=["1080p", "2160p"], choices=COVERAGE_SIZES)
    p.add_argument("--definition", default="both", choices=(*DEFINITIONS, "both"))
    p.add_argument("--frames", type=positive_int, default=None,
                   help="frames per timed clip (default 4; 48 with --end-to-end)")
    p.add_argument("--repeats", type=positive_int, default=5, help="interleaved timed rounds (median reported)")
    p.add_argument("--end-to-end", action="store_true",
                   help="time whole commands (process start included) on generated .y4m clips: ai4m coverage "
                        "(SI, TI, colourfulness) vs siti-tools and FFmpeg's siti filter")
    p.add_argument("--threads", type=positive_int, nargs="+", default=[1, 2],
                   help="torch intra-op thread counts to time (default: 1 2)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--float64", action="store_true")
    p.add_argument("--no-ffmpeg", action="store_true", help="skip FFmpeg's siti filter")
    p.set_defaults(run=_run_coverage)


def _run_coverage(args: argparse.Namespace) -> int:
    from ai4m_kit.bench import coverage

    if args.end_to_end:
        return coverage.run_end_to_end(args)
    check_device(args.device)
    if args.frames is None:
        args.frames = 4
    return coverage.run(args)


def _sqrtm_arguments(p: argparse.ArgumentParser) -> None:
    _common(p, None, "torch intra-op threads (default: keep)")
    p.add_argument("--dtype", choices=DTYPE_NAMES, default="float32")
    p.add_argument("--dim", type=positive_int, default=64, help="matrix size of sections 1-2")
    p.add_argument("--batch", type=positive_int, default=64, help="batch of sections 1-2")
    p.add_argument("--tol", type=positive_float, default=1e-3, help="accuracy requested from auto")
    p.add_argument("--grid-batch", type=positive_ints, default=[1, 16, 256], help="auto grid batches")
    p.add_argument("--grid-dim", type=positive_ints, default=[16, 64, 128], help="auto grid sizes")
    p.add_argument("--sections", type=positive_ints, default=[1, 2, 3],
                   help="which sections to run: 1 accuracy, 2 speed vs NS-5, 3 auto on the grid, "
                        "4 auto's dispatch overhead")
    p.add_argument("--calibrate", action="store_true",
                   help="re-measure auto's cache (all candidates) at every grid point before timing")
    p.set_defaults(run=_run_sqrtm)


def _run_sqrtm(args: argparse.Namespace) -> int:
    bad = sorted(set(args.sections) - {1, 2, 3, 4})
    if bad:
        raise CommandError(f"--sections: no section {bad[0]} (have 1, 2, 3, 4)", 2)
    check_device(args.device)
    from ai4m_kit.bench import sqrtm

    return sqrtm.run(args)


def _eigh_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.linalg.eigh_auto import DEFAULT_BATCHES, DEFAULT_DIMS

    _common(p, 1, "torch intra-op threads (default 1: torch.linalg.eigh loops over a CPU batch on one "
                  "thread, and on a shared machine extra threads mostly add barrier waits)")
    p.add_argument("--dtype", choices=[*DTYPE_NAMES, "both"], default="both")
    p.add_argument("--dims", type=positive_ints, default=[4, 8, 16, 32], help="matrix sizes n")
    p.add_argument("--batch", type=positive_int, default=512, help="batch of section 1")
    p.add_argument("--grid-dims", type=positive_ints, default=list(DEFAULT_DIMS),
                   help="matrix sizes of section 2 (auto) and of --calibrate")
    p.add_argument("--grid-batch", type=positive_ints, default=list(DEFAULT_BATCHES),
                   help="batches of section 2 (auto) and of --calibrate")
    p.add_argument("--acc-batch", type=positive_int, default=90, help="adversarial matrices per size in section 3")
    p.add_argument("--skip-grid", action="store_true", help="skip section 2")
    p.add_argument("--skip-accuracy", action="store_true", help="skip section 3")
    p.add_argument("--skip-precision", action="store_true", help="skip section 4 (float64 full vs mixed precision)")
    p.add_argument("--calibrate", action="store_true", help="re-measure and store auto's crossovers first")
    p.add_argument("--compile", action="store_true",
                   help="section 1 also times qr with compile=True where n <= 8 (torch.compile: the first call per "
                        "n and dtype compiles, minutes on a 2-core CPU, and is reported apart)")
    p.set_defaults(run=_run_eigh)


def _run_eigh(args: argparse.Namespace) -> int:
    check_device(args.device)
    import torch

    from ai4m_kit.bench import eigh
    from ai4m_kit.linalg.eigh_mixed import MIXED_SIZES

    all_ok = eigh.run(args)
    if not args.skip_precision and args.dtype in ("float64", "both"):
        from ai4m_kit.studies.batched_eigh import precision_report, run_precision

        here = [f"{m} from n = {lo}" for (d, m), (lo, _) in MIXED_SIZES.items() if d == torch.device(args.device).type]
        print(f"\n[4] float64 in full and in mixed precision (float32 solve refined in float64); 'auto' precision, "
              f"used above, is mixed for: {', '.join(here) or 'nothing on this device'}")
        ds = run_precision(device=args.device, threads=torch.get_num_threads(), dims=tuple(args.dims),
                           batch=args.batch, repeats=args.repeats)
        print(precision_report(ds))
    print(f"\nall targets met: {all_ok}")
    return 0


def _upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--repeats", type=positive_int, default=5, help="interleaved timed rounds (median reported)")
    p.add_argument("--size", type=frame_size, default=(1920, 1080), metavar="WxH", help="input frame size (default 1920x1080)")
    p.add_argument("--scale", type=positive_float, default=2.0, help="upscaling factor > 1 (default 2)")
    p.add_argument("--device", default="cpu", help="torch device for ours (Pillow runs on the CPU)")
    p.set_defaults(run=_run_upscale)


def _run_upscale(args: argparse.Namespace) -> int:
    if not args.scale > 1:
        raise CommandError(f"--scale must be > 1; got {args.scale:g}", 2)
    check_device(args.device)
    from ai4m_kit.bench import upscale

    return upscale.run(args)


def _degrade_arguments(p: argparse.ArgumentParser) -> None:
    def run(args: argparse.Namespace) -> int:
        check_device(args.device)
        from ai4m_kit.bench import degrade

        return degrade.run(args)

    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--repeats", type=positive_int, default=5, help="interleaved timing rounds (median reported)")
    p.add_argument("--size", type=even_frame_size, default=(1920, 1080), help="frame size WxH (default 1920x1080)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--draws", type=positive_int, default=8, help="BSRGAN parameter draws timed (default 8)")
    p.set_defaults(run=run)


def _quality_arguments(p: argparse.ArgumentParser) -> None:
    def run(args: argparse.Namespace) -> int:
        check_device(args.device)
        from ai4m_kit.bench import quality

        return quality.run(args)

    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op and libvmaf threads (default 1)")
    p.add_argument("--repeats", type=positive_int, default=5, help="interleaved timing rounds (median reported)")
    p.add_argument("--frames", type=positive_int, default=4, help="1080p frames per timed call (default 4)")
    p.add_argument("--device", default="cpu", help="torch device for PSNR/SSIM, e.g. cpu or cuda")
    p.add_argument("--no-vmaf", action="store_true", help="skip the VMAF section")
    p.set_defaults(run=run)


def _ssl_arguments(p: argparse.ArgumentParser) -> None:
    def run(args: argparse.Namespace) -> int:
        check_device(args.device)
        if args.w_size <= args.dim:
            raise CommandError(f"--w-size must exceed --dim (about 2x recommended); got {args.w_size} and {args.dim}", 2)
        if args.batch % args.w_size:
            raise CommandError(f"--batch must be a multiple of --w-size; got {args.batch} and {args.w_size}", 2)
        from ai4m_kit.bench import ssl

        return ssl.run(args)

    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--repeats", type=positive_int, default=20, help="interleaved timing rounds (median reported)")
    p.add_argument("--w-size", type=positive_int, default=128, help="whitening sub-batch size (default 128)")
    p.add_argument("--dim", type=positive_int, default=64, help="embedding dimension D (default 64)")
    p.add_argument("--batch", type=positive_int, default=256, help="images per view (default 256)")
    p.add_argument("--views", type=int, choices=range(2, 9), default=2, metavar="D_VIEWS", help="views d (default 2)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(run=run)


def _drloc_arguments(p: argparse.ArgumentParser) -> None:
    def run(args: argparse.Namespace) -> int:
        from ai4m_kit.bench import drloc

        check_device(args.device)
        return drloc.run(args)

    from ai4m_kit.models.transformers import MODELS

    _common(p, 2, "torch intra-op threads (default 2)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="backbones (default: all)")
    p.add_argument("--size", choices=("smoke", "demo", "paper"), default="demo",
                   help="model sizes: demo (tiny, 28 px) or paper (the report's models at 224 px)")
    p.add_argument("--batch", type=positive_int, default=32, help="images per step (default 32, as the demo training)")
    p.add_argument("--pairs", type=positive_int, default=64, help="DRLoc pairs m per image (default 64)")
    p.add_argument("--head-hidden", type=positive_int, default=None, help="head width (default: 128 demo, 512 paper)")
    p.add_argument("--image-size", type=positive_int, default=None, help="input px (default: 28 demo, 224 paper)")
    p.set_defaults(run=run)
