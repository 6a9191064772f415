"""``ai4m train-sr CORPUS --kind blind|real --out net.pt``: train a small video SR network."""

from __future__ import annotations

import argparse
from pathlib import Path

from ai4m_kit.profiles import PROFILES

from . import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .options import positive_int

    p.add_argument("corpus", help="folder of HR clips: <clip>/4k frame folders, frame folders or video files")
    p.add_argument("--kind", choices=("blind", "real"), default="blind",
                   help="blind: bicubic LR (as BasicVSR); real: BSRGAN LR and a cleaning stage (as RealBasicVSR)")
    p.add_argument("--out", required=True, help="where to write the trained network (.pt)")
    p.add_argument("--profile", choices=PROFILES, default=None, help="network size and schedule (default: "
                                                                     "$AI4M_PROFILE, else demo)")
    p.add_argument("--steps", type=positive_int, default=None, help="training steps (default: the profile's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-cache", action="store_true", help="train again even if this run is cached")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ai4m_kit.train.sr import config_for, evaluate, export_model, load_hr_clips, split_clips, train_sr

    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"--out {out}: is a folder; give a .pt file name", 2)
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = config_for(args.profile, **({"steps": args.steps} if args.steps else {}))
    clips = load_hr_clips(args.corpus, max_frames=cfg.max_frames)
    if len(clips) < 2:
        raise CommandError(f"{args.corpus}: holds {len(clips)} clip; training needs at least two (one is held out "
                           "to measure PSNR against bicubic)")
    train, held = split_clips(clips)
    try:
        res = train_sr(args.kind, train, cfg, seed=args.seed, device=device, progress=not args.no_progress,
                       cache=not args.no_cache)
    except KeyboardInterrupt:
        raise CommandError("interrupted; the checkpoint is saved and a rerun resumes", 130) from None
    scores = evaluate({args.kind: res.model}, held, cfg.scale)
    export_model(res.model, cfg, args.kind, out, corpus=str(Path(args.corpus).resolve()),
                 held_out=[c.name for c in held], psnr=scores)
    print(f"{args.kind} network ({'cached' if res.cached else f'trained in {res.seconds:.0f} s'}) -> {out}")
    print(f"held-out clips {', '.join(c.name for c in held)}: PSNR {scores[args.kind]:.2f} dB, "
          f"bicubic {scores['bicubic']:.2f} dB ({scores[args.kind] - scores['bicubic']:+.2f} dB)")
    return 0
