"""``ai4m sample OUT``: generate the embedded sample corpus."""

from __future__ import annotations

import argparse


def _sample(args: argparse.Namespace) -> int:
    from .sample import ensure_sample, generate_sample

    if args.if_missing:
        if args.frames is not None:
            raise SystemExit("--if-missing uses the profile's frame count; drop --frames")
        root = ensure_sample(args.out, profile=args.profile, seed=args.seed, size=args.size)
    else:
        root = generate_sample(args.out, profile=args.profile, seed=args.seed, size=args.size, frames=args.frames)
    print(f"sample corpus written to {root} (manifest: {root / 'manifest.csv'})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sample", help="generate the embedded sample corpus (BSC4K layout: <clip>/4k, <clip>/1080p)")
    p.add_argument("out", help="output folder, e.g. data/sample")
    p.add_argument("--profile", choices=("smoke", "demo", "paper"), default=None,
                   help="corpus size (default: $AI4M_PROFILE or demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--size", choices=("proxy", "uhd"), default="proxy",
                   help="proxy 384x216/192x108, or uhd: true 3840x2160/1920x1080 (procedural clips only)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default from the profile)")
    p.add_argument("--if-missing", action="store_true",
                   help="keep an existing corpus made with the same profile, seed and size")
    p.set_defaults(func=_sample)
