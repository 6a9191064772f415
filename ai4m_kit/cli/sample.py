"""``ai4m sample OUT``: generate the embedded sample corpus."""

from __future__ import annotations

import argparse

from ai4m_kit.profiles import PROFILES

from . import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output folder, e.g. data/sample (new, empty, or a sample corpus made before)")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="corpus size (default: $AI4M_PROFILE, else demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--size", choices=("proxy", "uhd"), default="proxy",
                   help="proxy 384x216/192x108, or uhd: true 3840x2160/1920x1080 (procedural clips only)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default from the profile)")
    p.add_argument("--if-missing", action="store_true",
                   help="keep an existing corpus made with the same profile, seed and size (else replace it)")
    p.add_argument("--force", action="store_true",
                   help="replace a sample corpus made earlier in OUT (only its own files; never other files)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ai4m_kit.data.sample import ensure_sample, generate_sample, sample_settings

    if args.frames is not None and args.frames < 2:
        raise CommandError(f"--frames must be >= 2 (temporal information needs a previous frame); got {args.frames}", 2)
    if args.if_missing:
        if args.frames is not None:
            raise CommandError("--if-missing uses the profile's frame count; drop --frames", 2)
        root = ensure_sample(args.out, profile=args.profile, seed=args.seed, size=args.size)
    else:
        root = generate_sample(args.out, profile=args.profile, seed=args.seed, size=args.size, frames=args.frames,
                               replace=args.force)
    print(f"sample corpus {sample_settings(root)} in {root} (manifest: {root / 'manifest.csv'})")
    return 0
