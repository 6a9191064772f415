"""``ai4m subjective plan|render|sheet|analyse``: the BT.500 expert-viewing workflow (report §3.3.4)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from . import CommandError

VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".ts")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .options import positive_float, positive_int

    p.description = ("Plan the sessions of a pairwise expert-viewing test (reference, A, B; BT.500), render each "
                     "session as one video, print scoring sheets, and analyse the votes (MOS, CI95, Pearson and "
                     "BT.500 viewer screening). Outputs are written atomically and never over a file this command "
                     "did not write.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=type(p))

    q = sub.add_parser("plan", help="plan sessions (JSON; --csv for a table)")
    q.add_argument("--srcs", required=True, help="source clip ids, comma-separated")
    q.add_argument("--conditions", required=True, help="condition ids (e.g. upscalers), comma-separated")
    q.add_argument("--seed", type=int, required=True, help="seed of every random draw")
    q.add_argument("--out", required=True, help="plan JSON file")
    q.add_argument("--csv", default=None, help="also write the plan as CSV (one row per BTC)")
    q.add_argument("--objective", default=None,
                   help="CSV with columns pvs,score (PVS ids '<src>/<condition>'): chooses the stabilisation BTCs")
    q.add_argument("--lower-is-better", action="store_true", help="the objective score is lower for better quality")
    q.add_argument("--stabilisation", type=int, choices=(0, 4), default=4, help="stabilisation BTCs per session")
    q.add_argument("--max-session-s", type=positive_float, default=1200.0, help="longest session (default 1200 s)")
    q.add_argument("--timing", default=None, metavar="GREY,REF,LABEL,PVS,VOTE",
                   help="cell timing in seconds (default 0.5,10,0.5,10,5)")
    q.add_argument("--training-btcs", type=positive_int, default=None,
                   help="BTCs in training (default: all, the same material in another order)")
    q.set_defaults(run=run_plan)

    r = sub.add_parser("render", help="render each session as one video (FFmpeg)")
    r.add_argument("plan", metavar="PLAN", help="plan JSON written by `ai4m subjective plan`")
    r.add_argument("--clips", required=True,
                   help="folder with <src>/reference.<ext> and <src>/<condition>.<ext> (video files or PNG folders)")
    r.add_argument("--out", required=True, help="output folder: <session>.mp4 and <session>.json")
    r.add_argument("--width", type=positive_int, default=1920)
    r.add_argument("--height", type=positive_int, default=1080)
    r.add_argument("--fps", default="25", help="display frame rate (default 25; e.g. 50 or 30000/1001)")
    r.add_argument("--session", action="append", default=None, help="render only this session (repeatable)")
    r.add_argument("--crf", type=int, default=12, help="x264 CRF (default 12)")
    r.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    r.set_defaults(run=run_render)

    s = sub.add_parser("sheet", help="printable scoring sheets, one HTML page per session")
    s.add_argument("plan", metavar="PLAN")
    s.add_argument("--out", required=True, help="output folder: <session>.html")
    s.add_argument("--scale", choices=("0-10", "1-5"), default="0-10")
    s.set_defaults(run=run_sheet)

    a = sub.add_parser("analyse", help="MOS, CI95 and viewer screening from votes in long format")
    a.add_argument("scores", metavar="SCORES", help="CSV with columns viewer,pvs,score (one vote per row)")
    a.add_argument("--scale", choices=("0-10", "1-5"), default="0-10")
    a.add_argument("--threshold", type=float, default=0.75, help="Pearson rejection threshold (default 0.75)")
    a.add_argument("--plan", default=None, help="plan JSON: drops training and stabilisation votes (column btc)")
    a.add_argument("--pearson-reference", choices=("all", "others"), default="all")
    a.add_argument("--exclude", choices=("union", "pearson", "bt500", "none"), default="union",
                   help="viewers left out of the final MOS (default: rejected by either screening)")
    a.add_argument("--out", required=True, help="result JSON")
    a.set_defaults(run=run_analyse)


def _names(text: str, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CommandError(f"--{what}: give comma-separated names", 2)
    return names


def _read_objective(path: Path) -> dict[str, float]:
    if not path.is_file():
        raise CommandError(f"{path}: no such objective-score file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in reader.fieldnames or []]
        if "pvs" not in cols or "score" not in cols:
            raise CommandError(f"{path}: needs columns pvs,score; found {','.join(cols) or 'nothing'}")
        reader.fieldnames = cols
        out = {}
        for row in reader:
            try:
                out[row["pvs"].strip()] = float(row["score"])
            except (TypeError, ValueError):
                raise CommandError(f"{path}: row {reader.line_num}: score {row['score']!r} is not a number") from None
    return out


def _load_plan(path: str):
    from ai4m_kit.quality.subjective_plan import Plan

    if not Path(path).is_file():
        raise CommandError(f"{path}: no such plan file")
    return Plan.from_json(Path(path))


def _check_out_file(path: Path, what: str) -> None:
    from ai4m_kit.quality.subjective_plan import written_here

    if not written_here(path):
        raise CommandError(f"{path}: exists and was not written by {what}; nothing was written")


def run_plan(args: argparse.Namespace) -> int:
    from ai4m_kit.files import write_text_atomic
    from ai4m_kit.quality.subjective_plan import CellTiming, plan_sessions

    timing = None
    if args.timing:
        try:
            timing = CellTiming(*(float(v) for v in args.timing.split(",")))
        except (TypeError, ValueError) as err:
            raise CommandError(f"--timing {args.timing!r}: five positive seconds GREY,REF,LABEL,PVS,VOTE ({err})", 2)
    out = Path(args.out)
    _check_out_file(out, "ai4m subjective plan")
    csv_out = Path(args.csv) if args.csv else None
    if csv_out is not None and csv_out.exists():
        raise CommandError(f"{csv_out}: exists; give a new file for --csv (nothing was written)")
    objective = _read_objective(Path(args.objective)) if args.objective else None
    plan = plan_sessions(_names(args.srcs, "srcs"), _names(args.conditions, "conditions"), seed=args.seed,
                         objective=objective, higher_is_better=not args.lower_is_better,
                         stabilisation=args.stabilisation, max_session_s=args.max_session_s, timing=timing,
                         training_btcs=args.training_btcs)
    write_text_atomic(out, plan.to_json())
    if csv_out is not None:
        write_text_atomic(csv_out, plan.to_csv())
    for s in plan.sessions:
        print(f"{s.id} ({s.kind}): {len(s.btcs)} BTCs, {s.duration_s / 60:.1f} min")
    print(f"plan -> {out} (stabilisation: {plan.stabilisation_basis})")
    return 0


def _find_clip(folder: Path, name: str) -> Path | None:
    if (folder / name).is_dir():
        return folder / name
    for ext in VIDEO_EXTS:
        if (folder / f"{name}{ext}").is_file():
            return folder / f"{name}{ext}"
    return None


def run_render(args: argparse.Namespace) -> int:
    from ai4m_kit.files import write_text_atomic
    from ai4m_kit.quality.subjective_plan import split_pvs_id
    from ai4m_kit.quality.subjective_render import render_session, written_by_renderer

    plan = _load_plan(args.plan)
    clips_dir, out = Path(args.clips), Path(args.out)
    if not clips_dir.is_dir():
        raise CommandError(f"--clips {clips_dir}: no such folder")
    sessions = [plan.session(s) for s in args.session] if args.session else plan.sessions
    clips = {}
    for s in sessions:
        for b in s.btcs:
            for cid in (b.src, b.a, b.b):
                if cid in clips:
                    continue
                src, name = (cid, "reference") if cid == b.src else split_pvs_id(cid)
                found = _find_clip(clips_dir / src, name)
                if found is None:
                    raise CommandError(f"{clips_dir / src / name}.<{'|'.join(e[1:] for e in VIDEO_EXTS)}>: no such "
                                       f"{'reference' if name == 'reference' else 'PVS'} clip (for {cid})")
                clips[cid] = found
    for s in sessions:  # check every target before rendering anything
        video, manifest = out / f"{s.id}.mp4", out / f"{s.id}.json"
        if (video.exists() or video.is_symlink()) and not written_by_renderer(video):
            raise CommandError(f"{video}: exists and was not written by ai4m subjective render; nothing was written")
        _check_out_file(manifest, "ai4m subjective render")
    for s in sessions:
        res = render_session(s, clips, out / f"{s.id}.mp4", width=args.width, height=args.height, fps=args.fps,
                             timing=plan.timing, crf=args.crf, preset=args.preset)
        write_text_atomic(out / f"{s.id}.json", json.dumps(res.to_dict(), indent=2) + "\n")
        print(f"{s.id}: {res.frames} frames at {res.fps} fps -> {res.path}")
    return 0


def run_sheet(args: argparse.Namespace) -> int:
    from ai4m_kit.quality.subjective_scores import write_scoring_sheet

    plan = _load_plan(args.plan)
    out = Path(args.out)
    for s in plan.sessions:
        _check_out_file(out / f"{s.id}.html", "ai4m subjective sheet")
    for s in plan.sessions:
        write_scoring_sheet(s, out / f"{s.id}.html", scale=args.scale)
    print(f"{len(plan.sessions)} scoring sheets -> {out}")
    return 0


def run_analyse(args: argparse.Namespace) -> int:
    from ai4m_kit.files import write_text_atomic
    from ai4m_kit.quality.subjective_analysis import analyse
    from ai4m_kit.quality.subjective_scores import read_scores

    if not 0 < args.threshold <= 1:
        raise CommandError(f"--threshold must be in (0, 1]; got {args.threshold}", 2)
    scores = Path(args.scores)
    if not scores.is_file():
        raise CommandError(f"{scores}: no such scores file")
    out = Path(args.out)
    _check_out_file(out, "ai4m subjective analyse")
    plan = _load_plan(args.plan) if args.plan else None
    votes = read_scores(scores, args.scale, plan=plan)
    res = analyse(votes, threshold=args.threshold, scale=args.scale, plan=plan,
                  pearson_reference=args.pearson_reference, exclude=args.exclude)
    write_text_atomic(out, res.to_json())
    s = res.settings
    print(f"{s['votes']} votes, {s['viewers']} viewers, {s['pvs']} PVS; rejected by Pearson: "
          f"{', '.join(res.rejected['pearson']) or 'none'}; by BT.500: {', '.join(res.rejected['bt500']) or 'none'} "
          f"-> {out}")
    return 0
