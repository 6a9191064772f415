"""``ai4m drloc train``: train a backbone from scratch with (or without) the DRLoc loss and report
its test accuracy; writes a checkpoint (a run with the same settings loads from the cache at once)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from . import CommandError

MARK = "ai4m-kit drloc model"


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"lambda must be >= 0; got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.models.transformers import MODELS
    from ai4m_kit.ssl.drloc import TARGETS

    from .options import add_training_arguments, positive_int

    sub = p.add_subparsers(dest="drloc", required=True, parser_class=type(p), metavar="ACTION")
    t = sub.add_parser("train", help="train a backbone with DRLoc (or the baseline) and print its test accuracy")
    t.add_argument("--model", choices=MODELS, default="swin")
    add_training_arguments(t)
    t.add_argument("--lambda", dest="lam", type=_non_negative, default=None,
                   help="DRLoc weight λ (default: the report's, 0.5 for swin, 0.1 for the others)")
    t.add_argument("--baseline", action="store_true", help="train without DRLoc (no localisation head)")
    t.add_argument("--pairs", type=positive_int, default=None, help="pairs m per image (default 64)")
    t.add_argument("--target", choices=TARGETS, default="abs", help="offset to predict (default: abs, the authors' code)")
    t.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    import torch

    from ai4m_kit.studies.drloc import load_split
    from ai4m_kit.train.drloc import DEFAULT_LAMBDA, accuracy, config_for, train_drloc
    from ai4m_kit.train.export import file_mark, save_marked

    out = Path(args.out)
    if out.exists() and file_mark(out) != MARK:
        raise CommandError(f"--out {out}: exists and was not written by ai4m drloc train; choose another file")
    if args.baseline and args.lam is not None:
        raise CommandError("--baseline trains without DRLoc; drop --lambda (or --baseline)", 2)
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    lam = None if args.baseline else (args.lam if args.lam is not None else DEFAULT_LAMBDA[args.model])
    over = {"model": args.model, "lam": lam, "target": args.target}
    if args.steps:
        over["steps"] = args.steps
    if args.pairs:
        over["pairs"] = args.pairs
    cfg = config_for(args.profile, **over)
    train, test = load_split(args.data, None, cfg.image_size)
    res = train_drloc(train.images, train.labels, len(train.classes), cfg, seed=args.seed,
                      data_key=f"{train.name}:{len(train)}:{int(train.images.float().sum())}", device=device,
                      progress=not args.no_progress)
    acc = accuracy(res.model, test.images, test.labels)
    save_marked(out, MARK, "ai4m drloc train", {
        "config": asdict(cfg), "data": str(args.data), "seed": args.seed, "classes": list(train.classes),
        "in_channels": int(train.images.shape[1]), "state_dict": res.model.state_dict(), "test_accuracy": acc})
    how = "cached" if res.cached else f"{len(res.history)} steps"
    what = "baseline (no DRLoc)" if lam is None else f"DRLoc λ={lam}, m={cfg.pairs}, target {cfg.target}"
    print(f"{args.model} on {train.name}, {what} ({how}) -> {out}: test accuracy {acc:.4f}")
    return 0

