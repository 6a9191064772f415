"""``ai4m coverage PATH... --out coverage.nc``: per-frame SI, TI and colourfulness of a corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.video.descriptors import DEFINITIONS

    from .options import descriptor_names, positive_int

    p.description = ("Per-frame SI/TI (ITU-T P.910) and colourfulness of every frame folder or video file under "
                     "PATH...; resumable: clips already in --out with the same files and parameters are kept.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="frame folders, video files or folders of them")
    p.add_argument("--out", required=True, help="output NetCDF file (created, or resumed if made by this command)")
    p.add_argument("--definition", default="p910-2021", choices=(*DEFINITIONS, "both"),
                   help="SI/TI definition (default p910-2021, the legacy one)")
    p.add_argument("--color-range", choices=("limited", "full"), default=None,
                   help="colour range of every video, overriding its tag (default: the tag; untagged videos whose "
                        "luma leaves 16-235 are taken as full range, others as limited, stated in the output)")
    p.add_argument("--skip-bad", action="store_true",
                   help="record a clip that cannot be read (coordinate 'error') and go on (exit status 1 if any)")
    p.add_argument("--save-every", type=float, default=0.0, metavar="SECONDS",
                   help="seconds between writes of --out (default 0: after every clip)")
    p.add_argument("--force", action="store_true",
                   help="let --out (made by this command) hold other clips or parameters: they are dropped, "
                        "matching clips kept")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address: one task per clip")
    p.add_argument("--descriptors", type=descriptor_names, default=("si", "ti", "cf"), metavar="LIST",
                   help="which descriptors to compute, comma-separated among si,ti,cf (default all; "
                        "the others are NaN)")
    p.add_argument("--chunk", type=positive_int, default=8,
                   help="frames in flight per clip (memory: about 2 x chunk decoded frames; default 8)")
    p.add_argument("--device", default=None,
                   help="default: NumPy on CPU threads; a torch device such as cuda runs the torch descriptors")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="compute threads per clip (default: the CPU count, at most 4); the file is decoded "
                        "in another thread meanwhile. Use --scheduler to spread clips over machines")
    p.add_argument("--float64", action="store_true", help="compute in float64 (reference accuracy)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ai4m_kit.video.coverage import without_dask

    if args.scheduler is not None:
        return _run(args)
    with without_dask():  # xarray would import dask (about a second) to test for dask arrays
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from ai4m_kit.data import DataError
    from ai4m_kit.video.coverage import DEFINITIONS, coverage_table, pooled, run_corpus

    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"--out {out}: is a folder; give a .nc file name", 2)
    if args.save_every < 0:
        raise CommandError(f"--save-every must be >= 0 seconds; got {args.save_every:g}", 2)
    for p in args.paths:
        if not Path(p).exists():
            raise CommandError(f"{p}: no such file or folder")
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
    defs = DEFINITIONS if args.definition == "both" else (args.definition,)
    dtype = "float64" if args.float64 else "float32"
    try:
        ds = run_corpus(args.paths, out=out, definitions=defs, chunk=args.chunk, device=args.device, dtype=dtype,
                        scheduler=args.scheduler, progress=not args.no_progress, save_every=args.save_every,
                        color_range=args.color_range, skip_bad=args.skip_bad, replace=args.force,
                        descriptors=args.descriptors, threads=args.threads)
    except KeyboardInterrupt:
        raise CommandError(f"interrupted; finished clips are saved in {out} and a rerun resumes", 130) from None
    except DataError as err:
        if out.exists() and "nothing was changed" not in str(err) and str(out) not in str(err):
            raise CommandError(f"{err} (finished clips are saved in {out}; a rerun resumes"
                               f"{'' if args.skip_bad else ', --skip-bad records bad clips and goes on'})") from err
        raise
    errors = ds["error"].values.astype(str)
    ok = ds.isel(clip=np.flatnonzero(errors == ""))
    print(f"{ok.sizes['clip']} clips, {int(ok['frames'].sum())} frames -> {out}")
    for cid, err in zip(ds["clip"].values, errors):
        if err:
            print(f"  skipped {cid}: {err}")
    shown = [str(c) for c, s in zip(ok["clip"].values, ok["color_range_source"].values) if str(s) != "tag"]
    for cid in shown:
        c = ok.sel(clip=cid)
        print(f"  {cid}: colour range {str(c['color_range'].values)} ({str(c['color_range_source'].values)})")
    if ok.sizes["clip"]:
        table = coverage_table(pooled(ok)).sel(category="all")
        for d in table["definition"].values:
            for r in table["resolution"].values:
                t = table.sel(definition=d, resolution=r)
                parts = [f"{k.upper()} range {float(t[f'range_{k}']):.1f}" for k in args.descriptors]
                if {"si", "ti"} <= set(args.descriptors):
                    parts.append(f"hull SI-TI {float(t['hull_si_ti']):.0f}")
                if {"si", "cf"} <= set(args.descriptors):
                    parts.append(f"hull SI-CF {float(t['hull_si_cf']):.0f}")
                print(f"  {d} {r}: {int(t['n_clips'])} clips, " + ", ".join(parts))
    return 1 if len(ok["clip"]) < len(ds["clip"]) else 0
