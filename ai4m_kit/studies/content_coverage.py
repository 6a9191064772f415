"""Study 01: how diverse is a video corpus? SI, TI and colourfulness coverage (report §3.1.2.1).

``run`` computes per-frame SI/TI (both P.910 definitions) and colourfulness of every clip of the
corpus (the embedded sample by default, or the user's folder), with pooled clip values; results
are cached (resumable NetCDF in ``.cache/content_coverage``). ``coverage_table``,
``resolution_table`` and ``reference_check`` derive the evidence; ``plot`` returns HoloViews
objects (static widgets: they keep working in the HTML report).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import xarray as xr

from ..profiles import resolve_profile
from ..video import coverage as cov
from ..video.descriptors import DEFINITIONS, siti

CACHE_DIR = Path(".cache") / "content_coverage"


def _cache_file(paths: Sequence[Path], definitions: Sequence[str], dtype: torch.dtype) -> Path:
    """One cache file per corpus location and parameters; inside it every clip carries the
    fingerprint of its files, so replaced frames are recomputed, never served from the cache."""
    from .. import __version__

    key = json.dumps([[str(Path(p).resolve()) for p in paths], list(definitions), str(dtype), __version__],
                     sort_keys=True)
    return CACHE_DIR / f"coverage-{hashlib.sha1(key.encode()).hexdigest()[:16]}.nc"


def run(
    profile: str = "demo",
    corpus: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    seed: int = 0,
    definitions: Sequence[str] = DEFINITIONS,
    device: str | None = None,
    dtype: torch.dtype = torch.float32,
    chunk: int = 8,
    threads: int | None = 1,
    cache: bool = True,
    progress: bool = True,
) -> xr.Dataset:
    """Per-frame and pooled SI, TI, CF of every clip of the corpus.

    Args:
        profile: ``smoke`` / ``demo`` / ``paper`` size of the embedded sample.
        corpus: your own frame folders, video files or BSC4K-style folders (``None``: the sample).
        seed: seed of the embedded sample.
        definitions: SI/TI definitions to compute.
        device: torch device (default: CUDA when available, else CPU).
        dtype: compute dtype.
        chunk: frames per processing step.
        threads: torch intra-op threads while computing (restored afterwards; ``None`` keeps the
            current setting). One is fastest for this memory-bound work on a shared CPU.
        cache: reuse/extend a cached result for the same corpus and settings.
        progress: progress bar.

    Returns:
        Dataset with ``si``/``ti`` ``(definition, clip, frame)``, ``cf`` ``(clip, frame)`` and
        the pooled ``si_clip``/``ti_clip`` ``(definition, clip)``, ``cf_clip`` ``(clip,)``.
    """
    from ..data import ensure_sample

    profile = resolve_profile(profile)
    if corpus is None:
        paths = [ensure_sample(profile=profile, seed=seed)]
    else:
        paths = [Path(corpus)] if isinstance(corpus, (str, os.PathLike)) else [Path(p) for p in corpus]
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out = _cache_file(paths, definitions, dtype) if cache else None
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        ds = cov.run_corpus(paths, out=out, definitions=definitions, chunk=chunk, device=device, dtype=dtype,
                            progress=progress, replace=True)
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    p = cov.pooled(ds)
    ds = ds.assign(si_clip=p["si"], ti_clip=p["ti"], cf_clip=p["cf"])
    ds.attrs.update(profile=profile, corpus=", ".join(str(x) for x in paths), device=str(device),
                    dtype=str(dtype), torch_threads=used)
    return ds


def _pooled_view(ds: xr.Dataset) -> xr.Dataset:
    return ds[["si_clip", "ti_clip", "cf_clip"]].rename(si_clip="si", ti_clip="ti", cf_clip="cf")


def coverage_table(ds: xr.Dataset, bins: int = 10):
    """The category coverage table (Table 2 analogue) as a pandas DataFrame.

    Rows: (definition, resolution, category) including "all"; columns: clip count, mean SI/TI/CF,
    ranges, uniformities and convex-hull areas in the SI–TI and SI–CF planes.
    """
    table = cov.coverage_table(_pooled_view(ds), bins=bins)
    df = table.to_dataframe()
    df = df[df["n_clips"] > 0]
    df["n_clips"] = df["n_clips"].astype(int)
    return df


def resolution_table(ds: xr.Dataset):
    """Pooled SI/TI/CF of clips recorded at both 4K and 1080p, with 4K/1080p ratios (DataFrame).

    Returns ``None`` when no clip is present at both resolutions (e.g. a folder of single videos).
    """
    res = set(str(r) for r in ds["resolution"].values)
    if not {"4k", "1080p"} <= res:
        return None
    comp = cov.resolution_comparison(_pooled_view(ds), high="4k", low="1080p")
    return comp.to_dataframe()


def reference_check(ds: xr.Dataset, n_clips: int = 2) -> dict[str, float] | None:
    """Max |ours − siti-tools| per definition over the first ``n_clips`` clips (float32, 0–255).

    Recomputes SI/TI of those clips' luma with siti-tools' own operators (on float64 copies; it
    overflows on uint8). ``None`` when siti-tools is not installed.
    """
    try:
        from siti_tools.siti import ColorRange, SiTiCalculator
    except ImportError:
        return None
    from ..data import open_clip

    worst = {str(d): 0.0 for d in ds["definition"].values}
    for cid in ds["clip"].values[:n_clips]:
        clip = open_clip(str(ds["path"].sel(clip=cid).values))
        luma = torch.cat(list(clip.iter_chunks(chunk=16, mode="y")))
        frames = luma.double().numpy()
        for d in worst:
            calc = SiTiCalculator(legacy=d == "p910-2021", bit_depth=int(clip.bit_depth),
                                  color_range=ColorRange(clip.color_range))
            ref_si, ref_ti, prev = [], [np.nan], None
            for f in frames:
                x = calc.normalize_between_0_1(f)
                if d == "p910-2022":
                    x = calc.oetf_function(SiTiCalculator.apply_display_model(x, calc.eotf_function, calc.l_max,
                                                                              calc.l_min, calc.gamma))
                ref_si.append(calc.normalize_to_original_si_range(SiTiCalculator.si(x)))
                if prev is not None:
                    ref_ti.append(calc.normalize_to_original_si_range(SiTiCalculator.ti(x, prev)))
                prev = x
            si, ti = siti(luma, definition=d, bit_depth=int(clip.bit_depth), color_range=clip.color_range)
            err = max(np.nanmax(np.abs(si.double().numpy() - ref_si)), np.nanmax(np.abs(ti.double().numpy() - ref_ti)))
            worst[d] = max(worst[d], float(err))
    return worst


def plot(ds: xr.Dataset) -> dict:
    """HoloViews objects: ``scatter`` (SI–TI and SI–CF, by definition and resolution), ``curves``
    (per-frame SI/TI of a chosen clip), ``table`` (coverage table) and ``resolution`` (4K vs
    1080p SI, when the corpus has both)."""
    import holoviews as hv

    defs = [str(d) for d in ds["definition"].values]
    ress = list(dict.fromkeys(str(r) for r in ds["resolution"].values))
    cats = sorted(set(str(c) for c in ds["category"].values))
    from bokeh.palettes import Category10_10, Category20_20

    palette = Category20_20 if len(cats) > 10 else Category10_10
    cmap = {c: palette[i % len(palette)] for i, c in enumerate(cats)}
    vdims_common = ["category", "clip", "motion"]
    si_ti, si_cf = {}, {}
    for d in defs:
        for r in ress:
            sub = ds.sel(definition=d).isel(clip=np.flatnonzero(ds["resolution"].values == r))
            df = xr.Dataset({"SI": sub["si_clip"], "TI": sub["ti_clip"], "CF": sub["cf_clip"]}).to_dataframe()
            df = df.reset_index()[["SI", "TI", "CF", "category", "clip", "motion"]]
            si_ti[(d, r)] = hv.Scatter(df, "SI", ["TI", *vdims_common]).opts(color="category", cmap=cmap)
            si_cf[(d, r)] = hv.Scatter(df, "SI", ["CF", *vdims_common]).opts(color="category", cmap=cmap)
    kd = ["definition", "resolution"]
    scatter = (hv.HoloMap(si_ti, kdims=kd).opts(title="SI vs TI (pooled per clip)", show_legend=True)
               + hv.HoloMap(si_cf, kdims=kd).opts(title="SI vs colourfulness", show_legend=False))
    scatter = scatter.opts(hv.opts.Scatter(width=480, height=380, size=9, tools=["hover"],
                                           legend_position="right")).cols(2)

    curves = {}
    for cid in ds["clip"].values:
        n = int(ds["frames"].sel(clip=cid))
        for d in defs:
            sub = ds.sel(clip=cid, definition=d).isel(frame=slice(0, n))
            frame = np.arange(n)
            curves[(str(cid), d)] = (hv.Curve((frame, sub["si"].values), "frame", "value", label="SI")
                                     * hv.Curve((frame, sub["ti"].values), "frame", "value", label="TI"))
    curves = hv.HoloMap(curves, kdims=["clip", "definition"]).opts(
        hv.opts.Curve(width=640, height=300, tools=["hover"]),
        hv.opts.Overlay(title="per-frame SI and TI", legend_position="top_right"))

    table_df = coverage_table(ds).reset_index().round(2)
    table = hv.Table(table_df).opts(width=1000, height=320)

    out = {"scatter": scatter, "curves": curves, "table": table}
    comp = resolution_table(ds)
    if comp is not None:
        bars = {}
        for d in defs:
            sub = comp.xs(d, level="definition").reset_index()
            bars[d] = hv.Bars(sub, "name", ["si_ratio", "category"]).opts(
                xrotation=45, ylabel="SI(4K) / SI(1080p)", width=640, height=320, tools=["hover"],
                color="category", cmap=cmap)
        out["resolution"] = hv.HoloMap(bars, kdims=["definition"]).opts(
            hv.opts.Bars(title="SI of the 4K recording relative to the 1080p recording"))
    return out


def conclusion(ds: xr.Dataset) -> str:
    """A short computed summary of coverage and of the resolution effect (for the notebook)."""
    table = coverage_table(ds)
    lines = []
    for d in ds["definition"].values:
        for r in dict.fromkeys(str(x) for x in ds["resolution"].values):
            try:
                row = table.loc[(str(d), r, "all")]
            except KeyError:
                continue
            lines.append(
                f"{d}, {r}: {int(row['n_clips'])} clips span SI {row['range_si']:.1f}, TI {row['range_ti']:.1f}, "
                f"CF {row['range_cf']:.1f} (uniformity {row['uniformity_si']:.2f}/{row['uniformity_ti']:.2f}/"
                f"{row['uniformity_cf']:.2f}); hull areas SI–TI {row['hull_si_ti']:.0f}, SI–CF {row['hull_si_cf']:.0f}.")
    comp = resolution_table(ds)
    if comp is not None:
        for d in ds["definition"].values:
            ratio = comp.xs(str(d), level="definition")["si_ratio"]
            lines.append(
                f"{d}: the 4K recording's SI is {ratio.median():.2f}x the 1080p recording's (median over "
                f"{len(ratio)} clips, {ratio.min():.2f}–{ratio.max():.2f}): SI is "
                f"{'lower' if ratio.median() < 1 else 'higher'} at the finer sampling, so corpora of mixed "
                "resolution must be compared at one resolution.")
    return "\n".join(lines)
