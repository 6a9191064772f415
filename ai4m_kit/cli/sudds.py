"""``ai4m sudds train|detect``: train a SUDDS detector of synthetic upscaling; detect upscaled video.

``train DATASET --out model.pt``: DATASET is a detection dataset folder
(``<root>/original/<clip>/frame_*.png``, ``<root>/<method>/<clip>/frame_*.png``); clips are split
into training and test clips (never frames), and the test accuracy is printed.
``detect VIDEO_OR_FOLDER... --model model.pt``: streams each video (or PNG frame folder) frame by
frame, votes per frame (majority of the top-k GLCM patches) and per video; prints the time per
frame and writes JSON (``--json``, default stdout) and per-frame CSV (``--csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ai4m_kit.profiles import PROFILES

from . import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .options import positive_int

    sub = p.add_subparsers(dest="sudds", required=True, parser_class=type(p), metavar="ACTION")
    t = sub.add_parser("train", help="train a detector on a detection dataset folder; writes model.pt")
    t.add_argument("dataset", help="detection dataset: <root>/original/<clip>/frame_*.png and <root>/<method>/<clip>/...")
    t.add_argument("--out", required=True, help="detector file to write (.pt)")
    t.add_argument("--binary", action="store_true", help="original vs upscaled (default: one class per method)")
    t.add_argument("--no-dct", action="store_true", help="without the global DCT features")
    t.add_argument("--no-staircase", action="store_true", help="without the staircase module")
    t.add_argument("--methods", default=None, help="comma-separated method folders to use (default: all)")
    t.add_argument("--profile", choices=PROFILES, default=None, help="sizes and schedule (default $AI4M_PROFILE, else demo)")
    t.add_argument("--steps", type=positive_int, default=None, help="training steps (default: the profile's)")
    t.add_argument("--checkpoint", default=None, help="torchvision-layout ResNet-18 file to start the backbone from")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(run=_train)
    d = sub.add_parser("detect", help="per-video verdict, probability and per-frame votes of videos or frame folders")
    d.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER")
    d.add_argument("--model", required=True, help="a file written by ai4m sudds train")
    d.add_argument("--json", default=None, help="write the results as JSON here (default: print to stdout)")
    d.add_argument("--csv", default=None, help="write per-frame votes as CSV here")
    d.add_argument("--frames", type=positive_int, default=None, help="first N frames only")
    d.add_argument("--quiet", action="store_true", help="no per-frame timing lines")
    d.set_defaults(run=_detect)


def _train(args: argparse.Namespace) -> int:
    from ai4m_kit.data.sudds import DetectionDataset, extract_patches, split_by_clip
    from ai4m_kit.models.sudds import aggregate_votes
    from ai4m_kit.files import fingerprint
    from ai4m_kit.train.export import check_overwrite
    from ai4m_kit.train.sudds import (EXPORT_MARK, build_detector, config_for, export_detector, predict, targets,
                                      train_end_to_end)

    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"--out {out}: is a folder; give a .pt file name", 2)
    try:
        check_overwrite(out, EXPORT_MARK, "ai4m sudds train")
    except ValueError as err:
        raise CommandError(f"--out {err}") from None
    cfg = config_for(args.profile, **({"backbone_steps": args.steps} if args.steps else {}))
    if args.checkpoint:  # the backbone's width is the checkpoint's (64 for torchvision's ImageNet weights)
        from dataclasses import replace

        from ai4m_kit.models.resnet import load_resnet18

        cfg = replace(cfg, width=load_resnet18(args.checkpoint).width)
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    ds = DetectionDataset(args.dataset, methods)
    split = split_by_clip(ds.clips)
    pk = dict(patch=cfg.patch, k=cfg.k, frames=cfg.frames, dct_bands=cfg.dct_bands)
    tr = extract_patches(ds, split["train"], **pk)
    te = extract_patches(ds, split["test"], **pk)
    y, classes = targets(tr.label, args.binary)
    model = build_detector(cfg, classes if args.binary else len(ds.methods), staircase=not args.no_staircase,
                           dct=not args.no_dct, seed=args.seed, checkpoint=args.checkpoint)
    data_key = ",".join(fingerprint(ds.frames(m, c).path) for m in ds.methods for c in split["train"])
    res = train_end_to_end(model, tr.patches, y, tr.dct[tr.frame], steps=cfg.backbone_steps, batch=cfg.batch,
                           lr=cfg.lr, seed=args.seed,
                           key_config={"checkpoint": fingerprint(args.checkpoint) if args.checkpoint else None},
                           data_key=data_key, progress=not args.no_progress, desc="SUDDS")
    probs = predict(res.model, te.patches, te.dct[te.frame])
    frames, _ = aggregate_votes(probs.argmax(1), te.frame, probs.shape[1])
    true = te.frame_label if not args.binary else (te.frame_label > 0).long()
    acc = float((frames == true).double().mean())
    export_detector(res.model, cfg, out, methods=ds.methods, binary=args.binary, test_accuracy=acc,
                    train_clips=split["train"], test_clips=split["test"])
    how = "cached" if res.cached else f"{len(res.history)} steps"
    print(f"SUDDS ({'binary' if args.binary else 'multiclass'}, staircase {not args.no_staircase}, DCT {not args.no_dct}; "
          f"{how}) on {len(split['train'])} training clips -> {out}: frame accuracy {acc:.4f} on {len(split['test'])} test clips")
    return 0


DETECT_MARK = "ai4m sudds detect"
CSV_FIELDS = ("video", "frame", "label", "upscaled_votes", "patches", "seconds")


def _check_report_file(path, option: str, ours) -> None:
    """An existing output file is replaced only when ``ai4m sudds detect`` wrote it (``ours(text)``)."""
    if path is None or not Path(path).exists():
        return
    try:
        mine = Path(path).is_file() and ours(Path(path).read_text())
    except (OSError, ValueError, AttributeError):
        mine = False
    if not mine:
        raise CommandError(f"{option} {path}: exists and was not written by ai4m sudds detect; choose another file")


def _detect(args: argparse.Namespace) -> int:
    import csv
    import json
    import sys
    import time

    import torch

    from ai4m_kit.data import open_clip
    from ai4m_kit.data.sudds import frame_luma, frame_patches
    from ai4m_kit.files import write_text_atomic
    from ai4m_kit.models.sudds import dct_features, video_verdict
    from ai4m_kit.train.sudds import SUDDSConfig, load_detector

    _check_report_file(args.json, "--json", lambda text: json.loads(text).get("made_by") == DETECT_MARK)
    _check_report_file(args.csv, "--csv", lambda text: text.split("\n", 1)[0].strip() == ",".join(CSV_FIELDS))
    model_path = Path(args.model)
    if not model_path.is_file():
        raise CommandError(f"--model {model_path}: no such file")
    model, meta = load_detector(model_path)
    cfg = SUDDSConfig(**meta["config"])
    classes = meta["methods"] if not meta["binary"] else ["original", "upscaled"]
    results, rows = [], []
    for inp in args.inputs:
        clip = open_clip(inp)
        labels, times = [], []
        for t, chunk in enumerate(clip.iter_chunks(chunk=1, mode="rgb", stop=args.frames)):
            t0 = time.perf_counter()
            rgb = chunk[0]
            if rgb.dtype != torch.uint8:
                rgb = (rgb.float() / (2**clip.bit_depth - 1) * 255).round().to(torch.uint8)
            luma = frame_luma(rgb)
            patches, _ = frame_patches(rgb, cfg.patch, cfg.k, luma=luma)
            dct = dct_features(luma, cfg.dct_bands)[None].expand(len(patches), -1) if model.use_dct else None
            with torch.no_grad():
                probs = model(patches.float() / 255, dct).softmax(1)
            votes = torch.bincount(probs.argmax(1), minlength=len(classes))
            label = int(votes.argmax())
            dt = time.perf_counter() - t0
            labels.append(label)
            times.append(dt)
            rows.append({"video": str(inp), "frame": t, "label": classes[label],
                         "upscaled_votes": int(votes[1:].sum()), "patches": len(patches), "seconds": round(dt, 4)})
            if not args.quiet:
                print(f"{Path(inp).name} frame {t}: {classes[label]} ({int(votes[1:].sum())}/{len(patches)} patches "
                      f"vote upscaled) {dt * 1000:.0f} ms", file=sys.stderr)
        verdict, prob = video_verdict(torch.tensor(labels))
        counts = {c: labels.count(i) for i, c in enumerate(classes)}
        results.append({"video": str(inp), "verdict": "upscaled" if verdict else "original", "probability_upscaled": prob,
                        "frames": len(labels), "frame_votes": counts,
                        "method": classes[max(range(1, len(classes)), key=lambda i: labels.count(i))] if verdict and not meta["binary"] else None,
                        "seconds_per_frame": sum(times) / max(1, len(times))})
        print(f"{inp}: {results[-1]['verdict']} (p upscaled {prob:.2f}, {len(labels)} frames, "
              f"{results[-1]['seconds_per_frame'] * 1000:.0f} ms/frame)", file=sys.stderr)
    text = json.dumps({"made_by": DETECT_MARK, "model": str(model_path), "videos": results}, indent=1)
    if args.json:
        write_text_atomic(args.json, text)
    else:
        print(text)
    if args.csv:
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)
        write_text_atomic(args.csv, buf.getvalue())
    return 0
