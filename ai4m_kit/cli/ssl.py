"""``ai4m ssl train|eval``: self-supervised training (W-MSE, SimCLR, BYOL, controls) and evaluation.

Data-parallel: ``torchrun --nproc_per_node N -m ai4m_kit.cli ssl train ...`` (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path


from . import CommandError

MARK = "ai4m-kit ssl encoder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ai4m_kit.train.ssl import METHODS

    from .options import add_training_arguments

    sub = p.add_subparsers(dest="ssl", required=True, parser_class=type(p), metavar="ACTION")
    t = sub.add_parser("train", help="train an encoder; writes a checkpoint (cached runs load at once)")
    t.add_argument("--method", choices=METHODS, default="wmse2")
    add_training_arguments(t)
    t.set_defaults(run=_train)
    e = sub.add_parser("eval", help="linear-probe and 5-NN accuracy of a checkpoint's frozen encoder")
    e.add_argument("checkpoint", help="a file written by ai4m ssl train")
    e.add_argument("--data", default=None, help="default: the data it was trained on")
    e.set_defaults(run=_eval)


def _train(args: argparse.Namespace) -> int:
    import torch

    from ai4m_kit.studies.wmse import load_images
    from ai4m_kit.train.ddp import exit_worker, init_from_env
    from ai4m_kit.train.export import file_mark, save_marked
    from ai4m_kit.train.ssl import config_for, evaluate, train_ssl

    out = Path(args.out)
    if out.exists() and file_mark(out) != MARK:
        raise CommandError(f"--out {out}: exists and was not written by ai4m ssl train; choose another file")
    rank, world = init_from_env()
    if args.device is not None:
        from .options import check_device

        check_device(args.device)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = config_for(args.profile, **({"steps": args.steps} if args.steps else {}))
    train, test = load_images(args.data, seed=args.seed)
    res = train_ssl(args.method, train.images, cfg, seed=args.seed, data_key=f"{train.name}:{len(train)}",
                    device=device, progress=not args.no_progress)
    if rank == 0:
        ev = evaluate(res.model, train.images, train.labels, test.images, test.labels)
        save_marked(out, MARK, "ai4m ssl train", {
            "method": args.method, "config": asdict(cfg), "data": args.data, "seed": args.seed,
            "state_dict": res.model.state_dict(), "in_channels": int(train.images.shape[1]), "accuracy": ev,
            "diverged_at": res.diverged_at})
        how = "cached" if res.cached else f"{len(res.history)} steps on {world} process(es)"
        print(f"{args.method} on {train.name} ({how}) -> {out}: linear {ev['linear']:.4f}, 5-NN {ev['knn']:.4f}"
              + (f"; diverged at step {res.diverged_at}" if res.diverged_at is not None else ""))
    exit_worker(0)  # under torchrun: ends the process here; a no-op on one process
    return 0


def _eval(args: argparse.Namespace) -> int:
    from ai4m_kit.studies.wmse import load_images
    from ai4m_kit.train.export import load_marked
    from ai4m_kit.train.ssl import SSLConfig, SSLModel, evaluate

    path = Path(args.checkpoint)
    if not path.is_file():
        raise CommandError(f"{path}: no such checkpoint")
    state = load_marked(path, MARK, "ai4m ssl train", what="checkpoint")
    cfg = SSLConfig(**state["config"])
    model = SSLModel(cfg, state["in_channels"], byol=state["method"] == "byol")
    model.load_state_dict(state["state_dict"])
    train, test = load_images(args.data or state["data"], seed=state["seed"])
    ev = evaluate(model, train.images, train.labels, test.images, test.labels)
    print(f"{path} ({state['method']}) on {train.name}: linear {ev['linear']:.4f}, 5-NN {ev['knn']:.4f}")
    return 0
