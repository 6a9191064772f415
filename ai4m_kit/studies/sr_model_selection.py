"""Study 04: which super-resolution model for which content? (report §3.3).

Every upscaler (the classical ones and the two small networks trained in study 02) upscales the
recorded LR clip (``1080p/``) of every corpus clip, and is scored against the HR recording
(``4k/``) per frame by PSNR and SSIM on Y (and VMAF where FFmpeg's libvmaf is installed). Clips
are labelled by content class (genre, motion complexity, resolution: :mod:`ai4m_kit.quality.classes`).
Per class: mean scores with 95 % confidence intervals over clips, the quality–cost Pareto front
(cost = measured time per frame on this machine, and parameters), and the recommendation "the
cheapest model within ``delta`` of the best in this class". The expert-viewing part plans a BT.500
test on the same material and analyses a **simulated** panel (no panel can be run here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import xarray as xr

from ..profiles import pick, resolve_profile

CLASSICAL = ("nearest", "bilinear", "bicubic", "lanczos3")
LEARNED = ("blind", "real")
CLASS_DIMS = ("genre", "motion_class", "resolution_class")
METRICS = ("psnr", "ssim", "vmaf")


def _sizes(profile: str) -> dict:
    return pick(profile, smoke=dict(frames=4, repeats=2), demo=dict(frames=8, repeats=3),
                paper=dict(frames=48, repeats=7))


def learned_models(profile: str, root: Path, seed: int, device: str, progress: bool) -> dict[str, torch.nn.Module]:
    """The two networks of study 02 for this corpus and profile (trained there, cached; trained
    here if the cache is empty)."""
    from ..train.sr import config_for, load_hr_clips, split_clips, train_sr

    cfg = config_for(profile)
    train, _ = split_clips(load_hr_clips(root, max_frames=cfg.max_frames))
    return {k: train_sr(k, train, cfg, seed=seed, device=device, progress=progress).model for k in LEARNED}


def _vmaf_available() -> bool:
    from ..video.ffmpeg import ffmpeg_binary

    return ffmpeg_binary() is not None


def _vmaf_frames(ref: torch.Tensor, dist: torch.Tensor) -> np.ndarray:
    """Per-frame VMAF of two clips of frames in [0, 1] (written as lossless 8-bit y4m)."""
    import tempfile

    from ..data import write_video
    from ..quality.vmaf import vmaf_clip

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, x in (("ref", ref), ("dist", dist)):
            codes = (x.clamp(0, 1) * 255).round().to(torch.uint8)
            paths.append(write_video(Path(tmp) / f"{name}.y4m", codes, pix_fmt="yuv444p"))
        return np.asarray(vmaf_clip(*paths)["vmaf"].values, dtype=float)


def run(profile: str = "demo", corpus: str | os.PathLike | None = None, *, seed: int = 0,
        upscalers: Sequence[str] = CLASSICAL, learned: bool = True, vmaf: bool | None = None,
        device: str | None = None, progress: bool = True) -> xr.Dataset:
    """Score every upscaler on every clip of the corpus, with content classes and costs.

    Args:
        profile: ``smoke`` / ``demo`` / ``paper``.
        corpus: BSC4K-style folder (``<clip>/4k``, ``<clip>/1080p``); default: the sample corpus.
        seed: seed of the sample and the networks.
        upscalers: classical upscalers to compare.
        learned: also the two networks of study 02 (``blind``, ``real``).
        vmaf: compute VMAF (default: when FFmpeg with libvmaf is installed).
        device: torch device for the networks (default: CUDA when available).
        progress: progress bars.

    Returns:
        Dataset with ``psnr``, ``ssim`` (and ``vmaf``) ``(upscaler, clip, frame)``; per clip the
        class coordinates; per upscaler ``ms_per_frame`` (measured here, interleaved medians) and
        ``parameters``; attributes: conventions, device, thresholds of the motion classes.
    """
    from tqdm.auto import tqdm

    from ..data import ensure_sample, open_clip
    from ..quality.classes import label_corpus
    from ..quality.metrics import psnr, ssim
    from ..timing import interleaved_medians
    from ..video.upscale import upscale

    profile = resolve_profile(profile)
    sizes = _sizes(profile)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    root = Path(corpus) if corpus is not None else ensure_sample(profile=profile, seed=seed)
    vmaf = _vmaf_available() if vmaf is None else vmaf
    classes = label_corpus(root, max_frames=sizes["frames"])
    methods: dict[str, object] = {m: m for m in upscalers}
    params = {m: 0 for m in upscalers}
    if learned:
        nets = learned_models(profile, root, seed, device, progress)
        methods.update(nets)
        params.update({k: sum(p.numel() for p in n.parameters()) for k, n in nets.items()})
    names = [c for c in classes["clip"].values if (root / str(c) / "1080p").is_dir() and (root / str(c) / "4k").is_dir()]
    if not names:
        raise ValueError(f"{root}: no clip has both a 4k/ and a 1080p/ recording")
    scores = {m: np.full((len(methods), len(names), sizes["frames"]), np.nan) for m in METRICS}
    first_lr = None
    for j, name in enumerate(tqdm(names, desc="upscalers x clips", disable=not progress)):
        hr_clip, lr_clip = open_clip(root / name / "4k"), open_clip(root / name / "1080p")
        hr = torch.cat(list(hr_clip.iter_chunks(8, "rgb", stop=sizes["frames"]))).float() / (2**hr_clip.bit_depth - 1)
        lr = torch.cat(list(lr_clip.iter_chunks(8, "rgb", stop=sizes["frames"]))).float() / (2**lr_clip.bit_depth - 1)
        first_lr = lr if first_lr is None else first_lr
        scale = hr.shape[-1] / lr.shape[-1]
        for i, (m, method) in enumerate(methods.items()):
            sr = upscale(lr, method, scale, device=device).cpu()
            t = sr.shape[0]
            scores["psnr"][i, j, :t] = psnr(hr, sr, crop_border=int(scale)).numpy()
            scores["ssim"][i, j, :t] = ssim(hr, sr, crop_border=int(scale)).numpy()
            if vmaf:
                scores["vmaf"][i, j, :t] = _vmaf_frames(hr, sr)
    sample = first_lr[: min(4, first_lr.shape[0])]
    timing = interleaved_medians({m: (lambda method=method: upscale(sample, method, scale, device=device))
                                  for m, method in methods.items()}, repeats=sizes["repeats"], warmup=1,
                                 device=device)
    sel = classes.sel(clip=names)
    data = {m: (("upscaler", "clip", "frame"), v) for m, v in scores.items() if m != "vmaf" or vmaf}
    ds = xr.Dataset(
        {**data,
         "ms_per_frame": (("upscaler",), [1e3 * timing[m] / sample.shape[0] for m in methods]),
         "parameters": (("upscaler",), [params[m] for m in methods])},
        coords={"upscaler": list(methods), "clip": names, "frame": np.arange(sizes["frames"]),
                **{c: ("clip", sel[c].values.astype(str)) for c in CLASS_DIMS},
                "motion_score": ("clip", sel["motion_score"].values)})
    ds["psnr"].attrs.update(units="dB", convention=f"BT.601 limited-range Y, {int(scale)}-pixel border ignored "
                                                  "(BasicSR calculate_psnr, test_y_channel)")
    ds["ssim"].attrs.update(convention="Wang's ssim.m on BT.601 limited-range Y (with its downsampling)")
    if vmaf:
        ds["vmaf"].attrs.update(convention="libvmaf vmaf_v0.6.1 through FFmpeg, 8-bit 4:4:4")
    ds["ms_per_frame"].attrs.update(units="ms", long_name=f"time per frame on {device}, {torch.get_num_threads()} "
                                                          "threads (median of interleaved repeats)")
    ds.attrs.update(profile=profile, corpus=str(root), device=str(device), scale=float(scale),
                    motion_thresholds=classes.attrs["motion_thresholds"],
                    simulated_data="yes" if corpus is None else "no", seed=seed)
    return ds


def clip_scores(ds: xr.Dataset, metric: str = "psnr") -> xr.DataArray:
    """Per-clip mean over frames of a metric ``(upscaler, clip)``."""
    if metric not in ds:
        raise ValueError(f"metric must be one of {[m for m in METRICS if m in ds]}; got {metric!r}")
    return ds[metric].mean("frame", skipna=True)


def class_table(ds: xr.Dataset, by: str = "motion_class", metric: str = "psnr"):
    """Per class and upscaler: mean of the per-clip scores, 95 % t interval over clips, clip count."""
    import pandas as pd
    from scipy import stats

    if by not in CLASS_DIMS:
        raise ValueError(f"by must be one of {CLASS_DIMS}; got {by!r}")
    per_clip = clip_scores(ds, metric)
    rows = []
    for cls in sorted(set(ds[by].values.astype(str))):
        mask = ds[by].values == cls
        for m in ds.upscaler.values:
            v = per_clip.sel(upscaler=m).values[mask]
            v = v[np.isfinite(v)]
            half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
            rows.append({by: cls, "upscaler": str(m), "clips": len(v), "mean": float(v.mean()), "ci95": half,
                         "ms_per_frame": float(ds.ms_per_frame.sel(upscaler=m))})
    return pd.DataFrame(rows).set_index([by, "upscaler"])


def recommend(ds: xr.Dataset, by: str = "motion_class", metric: str = "psnr", delta: float = 0.2):
    """Per class: the best upscaler by mean ``metric`` and the cheapest (by measured time per frame)
    whose mean is within ``delta`` of the best's — the recommendation."""
    import pandas as pd

    table = class_table(ds, by, metric)
    rows = []
    for cls, part in table.groupby(level=0):
        part = part.droplevel(0)
        best = part["mean"].idxmax()
        good = part[part["mean"] >= part.loc[best, "mean"] - delta]
        pick_ = good["ms_per_frame"].idxmin()
        rows.append({by: cls, "clips": int(part.loc[best, "clips"]), "best": best,
                     f"best {metric}": round(float(part.loc[best, "mean"]), 3), "recommended": pick_,
                     f"recommended {metric}": round(float(part.loc[pick_, "mean"]), 3),
                     "speed-up": round(float(part.loc[best, "ms_per_frame"] / part.loc[pick_, "ms_per_frame"]), 2)})
    return pd.DataFrame(rows).set_index(by)


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names of the points not dominated in (lower cost, higher quality), cheapest first.

    Example:
        >>> pareto_front({"a": (1.0, 30.0), "b": (2.0, 29.0), "c": (3.0, 31.0)})
        ['a', 'c']
    """
    front = [n for n, (c, q) in points.items()
             if not any((c2 <= c and q2 >= q) and (c2 < c or q2 > q) for m, (c2, q2) in points.items() if m != n)]
    return sorted(front, key=lambda n: points[n][0])


def plot_pareto(ds: xr.Dataset, by: str = "motion_class", metric: str = "psnr"):
    """Quality against measured cost per class, with the Pareto front; a selector for the class."""
    import holoviews as hv

    table = class_table(ds, by, metric).reset_index()
    plots = {}
    for cls, part in table.groupby(by):
        pts = {r.upscaler: (r.ms_per_frame, r["mean"]) for _, r in part.iterrows()}
        front = pareto_front(pts)
        scatter = hv.Scatter(part, "ms_per_frame", ["mean", "upscaler", "ci95", "clips"]).opts(
            color="upscaler", cmap="Category10", size=9, logx=True, tools=["hover"], show_legend=True)
        err = hv.ErrorBars(part, "ms_per_frame", ["mean", "ci95"])
        line = hv.Curve([pts[n] for n in front], "ms_per_frame", "mean").opts(line_dash="dashed", color="gray")
        plots[cls] = (line * err * scatter).opts(xlabel="ms per frame (this machine)", ylabel=f"mean {metric}",
                                                  title=f"{by} = {cls}", width=600, height=380)
    return hv.HoloMap(plots, kdims=[by])


def conclusion(ds: xr.Dataset, rec, metric: str = "psnr", delta: float = 0.2) -> str:
    """Sentences computed from the run: where a cheaper model is good enough, where the best is needed."""
    cheaper = rec[rec["recommended"] != rec["best"]]
    text = (f"On {ds.sizes['clip']} clips ({'simulated sample corpus' if ds.attrs.get('simulated_data') == 'yes' else ds.attrs['corpus']}), "
            f"with {metric} and delta = {delta}: ")
    if len(cheaper):
        cases = "; ".join(f"{c}: {r['recommended']} instead of {r['best']}, {r['speed-up']}x faster"
                          for c, r in cheaper.iterrows())
        text += f"in {len(cheaper)} of {len(rec)} classes a cheaper model is within delta of the best ({cases}). "
    else:
        text += "in every class the best model is also the cheapest within delta. "
    best_overall = clip_scores(ds, metric).mean("clip").idxmax().item()
    text += f"Overall best by mean {metric}: {best_overall}. "
    text += ("The report's principle - favour a less complex model wherever it is good enough - "
             + ("is supported here" if len(cheaper) else "did not apply on this corpus") + ".")
    return text


# ------------------------------------------------------------------ expert viewing (BT.500)

def plan_test(ds: xr.Dataset, *, metric: str = "psnr", srcs: Sequence[str] | None = None,
              conditions: Sequence[str] | None = None, seed: int = 0):
    """A BT.500 plan on this corpus: SRCs (default: up to 6 clips, one per genre first) × the
    upscalers as conditions, stabilisation BTCs chosen by ``metric``."""
    from ..quality.subjective import plan_sessions, pvs_id

    per_clip = clip_scores(ds, metric)
    if srcs is None:  # up to 6 clips: one per genre first, then the others in corpus order
        clips = [str(c) for c in ds["clip"].values]
        seen, first = set(), []
        for clip, genre in zip(clips, ds["genre"].values):
            if genre not in seen:
                seen.add(genre)
                first.append(clip)
        srcs = (first + [c for c in clips if c not in first])[:6]
    conditions = [str(c) for c in (conditions or ds["upscaler"].values)]
    objective = {pvs_id(s_, c): float(per_clip.sel(upscaler=c, clip=s_)) for s_ in srcs for c in conditions}
    return plan_sessions(list(srcs), conditions, seed=seed, objective=objective)


def simulated_votes(ds: xr.Dataset, plan, *, metric: str = "psnr", viewers: int = 15, outliers: int = 2,
                    seed: int = 0):
    """SIMULATED votes on ``plan``'s PVS: the true quality is ``metric`` mapped linearly onto grades
    1-9 over its range, each viewer adds a bias and noise, ``outliers`` viewers are inattentive.
    Not data from people: it exercises the analysis."""
    from ..quality.subjective import simulate_panel, split_pvs_id

    per_clip = clip_scores(ds, metric)
    pvs = sorted({p for b in plan.btcs for p in b.pvs})
    values = {p: float(per_clip.sel(upscaler=split_pvs_id(p)[1], clip=split_pvs_id(p)[0])) for p in pvs}
    lo, hi = min(values.values()), max(values.values())
    quality = {p: 1 + 8 * (v - lo) / max(hi - lo, 1e-12) for p, v in values.items()}
    return simulate_panel(quality, viewers=viewers, outliers=outliers, seed=seed)


def objective_by_pvs(ds: xr.Dataset, pvs: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{metric: {pvs: per-clip mean}}`` for the metrics of ``ds``."""
    from ..quality.subjective import split_pvs_id

    out = {}
    for metric in [m for m in METRICS if m in ds]:
        per_clip = clip_scores(ds, metric)
        out[metric] = {p: float(per_clip.sel(upscaler=split_pvs_id(p)[1], clip=split_pvs_id(p)[0])) for p in pvs}
    return out


def session_timeline(plan, session: str | None = None):
    """The BTCs of one session (default: the first test session) with their start times (pandas)."""
    import pandas as pd

    s = next(x for x in plan.sessions if x.kind == "test") if session is None else plan.session(session)
    rows = [{"vote": b.position, "btc": b.id, "phase": b.phase, "src": b.src, "A": b.a, "B": b.b,
             "starts at": f"{int(k * s.btc_s // 60)}:{k * s.btc_s % 60:04.1f}"} for k, b in enumerate(s.btcs)]
    return pd.DataFrame(rows).set_index("vote")


def render_example_btc(ds: xr.Dataset, plan, out: str | os.PathLike, *, fps: int = 25):
    """Render the first test BTC of the plan as a video at the HR size, with the report's cards
    (grey, "A", "B", "Vote N") and each clip shown for its whole length (the sample's clips are
    shorter than BT.500's 10 s, so the clip durations are shortened accordingly and stated)."""
    from ..data import open_clip, write_png
    from ..quality.subjective import CellTiming, Session, render_session, split_pvs_id
    from ..video.upscale import upscale

    out = Path(out)
    root = Path(ds.attrs["corpus"])
    btc = next(b for b in plan.btcs if b.phase == "test")
    clips_dir = out.parent / f"{out.stem}_clips"
    clips = {}
    hr_clip = open_clip(root / btc.src / "4k")
    frames = min(len(hr_clip), ds.sizes["frame"])
    clips[btc.src] = root / btc.src / "4k"
    lr_clip = open_clip(root / btc.src / "1080p")
    lr = torch.cat(list(lr_clip.iter_chunks(8, "rgb", stop=frames))).float() / (2**lr_clip.bit_depth - 1)
    for p in btc.pvs:
        cond = split_pvs_id(p)[1]
        method = cond
        if cond in LEARNED:
            method = learned_models(ds.attrs["profile"], root, int(ds.attrs["seed"]), "cpu", False)[cond]
        sr = upscale(lr, method, ds.attrs["scale"])
        folder = clips_dir / btc.src / cond
        for t, f in enumerate(sr):
            write_png(folder / f"frame_{t:04d}.png", (f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        clips[p] = folder
    seconds = frames / fps
    timing = CellTiming(grey=0.5, reference=seconds, label=0.5, pvs=seconds, vote=2.0)
    one = Session(id="example", kind="test", btcs=[btc], btc_s=timing.btc_s)
    h, w = hr_clip.size
    return render_session(one, clips, out, width=w + w % 2, height=h + h % 2, fps=fps, timing=timing)


def plot_objective_vs_mos(comparison, analysis, objective: dict[str, dict[str, float]]):
    """MOS (with CI95) against each metric, with the fitted monotonic mapping."""
    import holoviews as hv

    panels = []
    mos = analysis.mos
    for metric, values in objective.items():
        if metric not in comparison.mappings:
            continue
        pvs = [p for p in values if p in mos.index]
        x = np.array([values[p] for p in pvs])
        y = mos.loc[pvs, "mos"].to_numpy()
        e = mos.loc[pvs, "ci95"].to_numpy()
        fit = comparison.mappings[metric]
        xs = np.linspace(x.min(), x.max(), 100)
        row = comparison.table.loc[metric]
        panels.append((hv.ErrorBars((x, y, e), metric, ["MOS", "ci95"]) *
                       hv.Scatter({"x": x, "MOS": y, "pvs": pvs}, "x", ["MOS", "pvs"]).opts(size=6, tools=["hover"]) *
                       hv.Curve((xs, fit(xs)), metric, "MOS").opts(color="black")).opts(
            title=f"{metric}: PLCC {row['plcc']:.2f}, SROCC {row['srocc']:.2f} (SIMULATED panel)", width=420,
            height=340, xlabel=metric))
    return hv.Layout(panels).cols(3)


def screening_summary(result, panel) -> str:
    """One sentence: whom each screening rejected, against the inattentive viewers planted in the
    SIMULATED panel."""
    return (f"Screening of the SIMULATED panel: Pearson rejected {result.rejected['pearson']}, BT.500 rejected "
            f"{result.rejected['bt500']}; planted inattentive viewers {panel.outliers}.")
