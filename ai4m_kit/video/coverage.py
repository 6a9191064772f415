"""Content coverage of a video corpus: per-frame SI, TI and colourfulness, and how widely they spread.

``analyse_clip`` streams one clip (frame folder or video file) in chunks and returns per-frame
descriptors; ``run_corpus`` does that for every clip under some paths, writes an
``xarray.Dataset`` (dims ``definition``, ``clip``, ``frame``) to NetCDF as it goes, skips clips
already in the output (resumable) and can farm clips out to a ``dask.distributed`` cluster.

Coverage measures follow Winkler (2012, "Analysis of public image and video databases for
quality assessment"): the *range* of each descriptor over clips, its *uniformity* (entropy of a
``bins``-bin histogram over that range divided by ``log(bins)``: 1 = evenly spread, 0 = all in one
bin), and the *area of the convex hull* of the clips in the SI–TI and SI–CF planes.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import xarray as xr

from .descriptors import DEFAULT_POOLING, DEFINITIONS, colourfulness, pool, siti

DESCRIPTORS = ("si", "ti", "cf")


def _engine() -> str:
    """NetCDF-3 through scipy: readable everywhere, and it stores the list-valued attributes that
    h5netcdf (NetCDF-4) cannot convert."""
    return "scipy"


def _definitions(definitions: str | Sequence[str]) -> tuple[str, ...]:
    defs = (definitions,) if isinstance(definitions, str) else tuple(definitions)
    if not defs:
        raise ValueError(f"definitions must name at least one of {DEFINITIONS}; got none")
    for d in defs:
        if d not in DEFINITIONS:
            raise ValueError(f"definition must be one of {DEFINITIONS}; got {d!r}")
    return defs


def _luma_from_rgb(clip) -> bool:
    """True when the clip has no stored Y plane (PNG frames, RGB video): luma is BT.709 of RGB."""
    pix_fmt = getattr(clip, "pix_fmt", None)
    return pix_fmt is None or pix_fmt.startswith(("rgb", "bgr", "gbr"))


def _chunks(clip, chunk: int):
    """Yield (luma, rgb) chunks, decoding each frame once where luma derives from RGB."""
    from ai4m_kit.data import rgb_to_luma

    if _luma_from_rgb(clip):
        for rgb in clip.iter_chunks(chunk=chunk, mode="rgb"):
            yield rgb_to_luma(rgb), rgb
    else:
        yield from zip(clip.iter_chunks(chunk=chunk, mode="y"), clip.iter_chunks(chunk=chunk, mode="rgb"))


def analyse_clip(
    path: str | os.PathLike,
    *,
    definitions: str | Sequence[str] = DEFINITIONS,
    chunk: int = 8,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict:
    """Per-frame SI and TI (for each definition) and colourfulness of one clip.

    Args:
        path: a PNG frame folder or a video file (anything ``ai4m_kit.data.open_clip`` reads).
        definitions: one definition or several (the clip is decoded once for all).
        chunk: frames decoded and processed at a time (memory: a few frames of temporaries).
        device: torch device for the arithmetic (default CPU).
        dtype: compute dtype.

    Returns:
        dict with ``si`` and ``ti`` (arrays ``(len(definitions), T)``, TI NaN at frame 0), ``cf``
        (``(T,)``), ``definitions`` and clip facts ``frames``, ``height``, ``width``,
        ``bit_depth``, ``color_range``.

    Example:
        >>> import tempfile, numpy as np
        >>> from ai4m_kit.data import write_png
        >>> d = tempfile.mkdtemp()
        >>> for i in range(3):  # the left half brightens by 40 per frame: TI = std = 20
        ...     f = np.zeros((8, 8, 3), np.uint8); f[:, :4] = 40 * i; write_png(f"{d}/f{i}.png", f)
        >>> r = analyse_clip(d, definitions="p910-2021")
        >>> r["ti"].round(3).tolist()
        [[nan, 20.0, 20.0]]
    """
    from ai4m_kit.data import open_clip

    defs = _definitions(definitions)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    clip = open_clip(path)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    kw = dict(bit_depth=int(clip.bit_depth), color_range=clip.color_range, dtype=dtype)
    si: list[list[np.ndarray]] = [[] for _ in defs]
    ti: list[list[np.ndarray]] = [[] for _ in defs]
    cf: list[np.ndarray] = []
    last = None
    for luma, rgb in _chunks(clip, chunk):
        luma, rgb = luma.to(dev), rgb.to(dev)
        for k, d in enumerate(defs):
            s, t = siti(luma, definition=d, previous=last, **kw)
            si[k].append(s.double().cpu().numpy())
            ti[k].append(t.double().cpu().numpy())
        cf.append(colourfulness(rgb, bit_depth=kw["bit_depth"], dtype=dtype).double().cpu().numpy())
        last = luma[-1]
    if not cf:
        raise ValueError(f"path {str(path)!r}: clip has no frames")
    h, w = clip.size
    return {
        "definitions": defs,
        "si": np.stack([np.concatenate(v) for v in si]),
        "ti": np.stack([np.concatenate(v) for v in ti]),
        "cf": np.concatenate(cf),
        "frames": int(sum(len(c) for c in cf)),
        "height": int(h),
        "width": int(w),
        "bit_depth": int(clip.bit_depth),
        "color_range": str(clip.color_range),
    }


def clip_id(name: str, label: str) -> str:
    """Identifier of one recording in a corpus dataset: ``"<clip>/<resolution>"``.

    Example:
        >>> clip_id("people_astronaut", "4k")
        'people_astronaut/4k'
    """
    return f"{name}/{label}"


def _clip_dataset(result: dict, *, cid: str, name: str, label: str, path: str, meta: dict) -> xr.Dataset:
    t = result["frames"]
    return xr.Dataset(
        {
            "si": (("definition", "clip", "frame"), result["si"][:, None, :]),
            "ti": (("definition", "clip", "frame"), result["ti"][:, None, :]),
            "cf": (("clip", "frame"), result["cf"][None, :]),
        },
        coords={
            "definition": list(result["definitions"]),
            "clip": [cid],
            "frame": np.arange(t),
            "name": ("clip", [name]),
            "resolution": ("clip", [label]),
            "category": ("clip", [str(meta.get("category", "unknown"))]),
            "motion": ("clip", [str(meta.get("motion", "unknown"))]),
            "path": ("clip", [path]),
            "frames": ("clip", [t]),
            "height": ("clip", [result["height"]]),
            "width": ("clip", [result["width"]]),
            "bit_depth": ("clip", [result["bit_depth"]]),
            "color_range": ("clip", [result["color_range"]]),
        },
    )


def _attrs(ds: xr.Dataset) -> xr.Dataset:
    from ai4m_kit import __version__

    ds.attrs.update(
        title="Per-frame content descriptors (ai4m-kit coverage)",
        si="ITU-T P.910 spatial information, 0-255 scale",
        ti="ITU-T P.910 temporal information, 0-255 scale; NaN at each clip's first frame",
        cf="Hasler-Suesstrunk colourfulness of gamma-encoded RGB, 0-255 scale",
        pooling=", ".join(f"{d}: {p}" for d, p in DEFAULT_POOLING.items()),
        ai4m_kit_version=__version__,
        torch_version=torch.__version__,
    )
    for v in ("si", "ti", "cf"):
        ds[v].attrs["units"] = "0-255 code-value scale"
    return ds


def merge(datasets: Iterable[xr.Dataset]) -> xr.Dataset:
    """Concatenate per-clip datasets along ``clip`` (shorter clips padded with NaN frames)."""
    parts = [d for d in datasets if d.sizes.get("clip", 0)]
    if not parts:
        raise ValueError("datasets must hold at least one clip; got none")
    ds = xr.concat(parts, dim="clip", join="outer", coords="minimal", compat="override",
                   combine_attrs="drop_conflicts")
    # Integer coordinates pick up float dtype when padded; clip-wise ones are never padded.
    for c in ("frames", "height", "width", "bit_depth"):
        ds[c] = ds[c].astype(np.int64)
    return _attrs(ds)


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a coverage NetCDF fully into memory (the file is closed afterwards)."""
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    for var in ds.variables.values():
        var.encoding = {}  # file-specific (string widths); a rewrite chooses its own
    return ds


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file, then rename) so an interrupted run never corrupts it.

    Example:
        >>> import tempfile
        >>> ds = xr.Dataset({"cf": (("clip", "frame"), [[1.0, 2.0]])}, coords={"clip": ["a/native"]})
        >>> path = save(ds, Path(tempfile.mkdtemp()) / "c.nc")
        >>> load(path)["cf"].values.tolist()
        [[1.0, 2.0]]
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ds.to_netcdf(tmp, engine=_engine())
    os.replace(tmp, path)
    return path


def _manifest_rows(paths: Sequence[str | os.PathLike]) -> dict[str, dict]:
    """Clip metadata (category, motion) from a ``manifest.csv`` in or above each given path."""
    from ai4m_kit.data import read_manifest

    rows: dict[str, dict] = {}
    for p in paths:
        p = Path(p).resolve()
        for folder in (p, *p.parents[:2]):
            if (folder / "manifest.csv").is_file():
                for row in read_manifest(folder):
                    rows.setdefault(str(row.get("clip")), row)
                break
    return rows


def run_corpus(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike | None = None,
    definitions: str | Sequence[str] = DEFINITIONS,
    chunk: int = 8,
    device: str | None = None,
    dtype: torch.dtype = torch.float32,
    scheduler: str | None = None,
    progress: bool = True,
    save_every: float = 30.0,
) -> xr.Dataset:
    """Per-frame SI, TI and CF of every clip found under ``paths`` (``ai4m_kit.data.find_clips``).

    Args:
        paths: frame folders, video files, BSC4K-style clip folders or folders of those.
        out: NetCDF file; clips already in it are skipped and it is rewritten (atomically) every
            ``save_every`` seconds and at the end, so an interrupted run resumes where it stopped.
        definitions: SI/TI definitions to compute; must match those of an existing ``out``.
        chunk: frames per processing step.
        device: torch device for the arithmetic.
        dtype: compute dtype.
        scheduler: address of a ``dask.distributed`` scheduler; each clip becomes one task.
        progress: show a tqdm progress bar.
        save_every: seconds between intermediate writes of ``out``.

    Returns:
        The dataset of every clip found (in ``find_clips`` order), including those loaded from
        ``out``; variables ``si``/``ti`` ``(definition, clip, frame)``, ``cf`` ``(clip, frame)``.
    """
    from tqdm.auto import tqdm

    from ai4m_kit.data import find_clips

    defs = _definitions(definitions)
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("paths must name at least one folder or video file; got none")
    found = find_clips(paths)
    if not found:
        raise ValueError(f"paths {[str(p) for p in paths]}: no frame folders or video files found")
    meta = _manifest_rows(paths)
    parts: list[xr.Dataset] = []
    done: set[str] = set()
    if out is not None and Path(out).is_file():
        old = load(out)
        have = tuple(str(d) for d in old["definition"].values)
        if have != defs:
            raise ValueError(
                f"out {str(out)!r} holds definitions {have}; got definitions {defs} "
                "(use another output file or the same definitions)"
            )
        parts.append(old)
        done = set(str(c) for c in old["clip"].values)
    todo = [(clip_id(n, lab), n, p, lab) for n, p, lab in found if clip_id(n, lab) not in done]
    bar = tqdm(total=len(todo), desc="coverage", unit="clip", disable=not progress)
    new: list[xr.Dataset] = []
    last_save = time.monotonic()

    def collect(result: dict, cid: str, name: str, path: Path, label: str) -> None:
        nonlocal last_save
        new.append(_clip_dataset(result, cid=cid, name=name, label=label, path=str(path), meta=meta.get(name, {})))
        bar.update(1)
        bar.set_postfix_str(cid)
        if out is not None and time.monotonic() - last_save > save_every:
            save(ordered(merge(parts + new)), out)
            last_save = time.monotonic()

    rank = {clip_id(n, lab): i for i, (n, _, lab) in enumerate(found)}

    def ordered(ds: xr.Dataset) -> xr.Dataset:
        """Clips in ``find_clips`` order (tasks finish in any order), others from ``out`` last."""
        ids = [str(c) for c in ds["clip"].values]
        return ds.isel(clip=sorted(range(len(ids)), key=lambda i: (rank.get(ids[i], len(rank)), i)))

    kw = dict(definitions=defs, chunk=chunk, device=device, dtype=dtype)
    try:
        if scheduler is None:
            for cid, name, path, label in todo:
                collect(analyse_clip(path, **kw), cid, name, path, label)
        elif todo:
            from distributed import Client, as_completed

            with Client(scheduler) as client:
                futures = {
                    client.submit(analyse_clip, str(path), key=f"ai4m-coverage-{cid}", pure=False, **kw): (cid, name, path, label)
                    for cid, name, path, label in todo
                }
                for fut in as_completed(futures):
                    collect(fut.result(), *futures[fut])
    finally:
        bar.close()
        if out is not None and new:
            save(ordered(merge(parts + new)), out)
    ds = merge(parts + new)
    return ds.sel(clip=[clip_id(n, lab) for n, _, lab in found])


def pooled(ds: xr.Dataset, *, pooling: str | None = None, cf_pooling: str = "mean") -> xr.Dataset:
    """Clip-level values: SI/TI pooled with each definition's default (or ``pooling``), CF by mean.

    Example:
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"si": (("definition", "clip", "frame"), [[[1.0, 3.0]]]),
        ...                  "ti": (("definition", "clip", "frame"), [[[np.nan, 2.0]]]),
        ...                  "cf": (("clip", "frame"), [[4.0, 6.0]])},
        ...                 coords={"definition": ["p910-2021"], "clip": ["a/native"]})
        >>> float(pooled(ds)["si"][0, 0]), float(pooled(ds)["cf"][0])
        (3.0, 5.0)
    """
    out = {}
    for v in ("si", "ti"):
        per_def = []
        for d in ds["definition"].values:
            method = pooling or DEFAULT_POOLING[str(d)]
            x = torch.from_numpy(np.ascontiguousarray(ds[v].sel(definition=d).values, dtype=np.float64))
            per_def.append(pool(x, method).numpy())
        out[v] = (("definition", "clip"), np.stack(per_def))
    cf = torch.from_numpy(np.ascontiguousarray(ds["cf"].values, dtype=np.float64))
    out["cf"] = (("clip",), pool(cf, cf_pooling).numpy())
    keep = {k: v for k, v in ds.coords.items() if "frame" not in v.dims}
    res = xr.Dataset(out, coords=keep)
    res.attrs.update(ds.attrs, pooling_used=pooling or "definition default", cf_pooling=cf_pooling)
    return res


def hull_area(x: np.ndarray, y: np.ndarray) -> float:
    """Area of the convex hull of points (x, y); 0 for fewer than 3 points or collinear points.

    Example:
        >>> hull_area(np.array([0, 1, 0, 1, 0.5]), np.array([0, 0, 1, 1, 0.5]))
        1.0
    """
    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(np.unique(pts, axis=0)) < 3:
        return 0.0
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(pts).volume)  # in 2-D, "volume" is the area
    except QhullError:  # all points on a line
        return 0.0


def uniformity(values: np.ndarray, bins: int = 10, bounds: tuple[float, float] | None = None) -> float:
    """Histogram entropy over ``bins`` equal bins in ``bounds`` (default: min..max), / log(bins).

    Example:
        >>> round(uniformity(np.arange(10.0), bins=10), 6)
        1.0
        >>> round(uniformity(np.array([1.0, 1.0, 1.0, 9.0]), bins=4), 4)  # p = (3/4, 1/4)
        0.4056
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2; got {bins}")
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    lo, hi = (v.min(), v.max()) if bounds is None else bounds
    if hi <= lo:
        return 0.0
    counts, _ = np.histogram(v, bins=bins, range=(lo, hi))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(bins))


def coverage_measures(si: np.ndarray, ti: np.ndarray, cf: np.ndarray, *, bins: int = 10) -> dict[str, float]:
    """Winkler-style coverage of a set of clips from their pooled SI, TI and CF values.

    Returns range and uniformity of each descriptor and the convex-hull areas in the SI–TI and
    SI–CF planes.

    Example:
        >>> m = coverage_measures(np.array([0, 10, 0.]), np.array([0, 0, 5.]), np.array([1, 2, 3.]))
        >>> m["range_si"], round(m["hull_si_ti"], 6)
        (10.0, 25.0)
    """
    out: dict[str, float] = {}
    for k, v in (("si", si), ("ti", ti), ("cf", cf)):
        v = np.asarray(v, float)
        f = v[np.isfinite(v)]
        out[f"range_{k}"] = float(f.max() - f.min()) if f.size else math.nan
        out[f"uniformity_{k}"] = uniformity(f, bins=bins)
    out["hull_si_ti"] = hull_area(si, ti)
    out["hull_si_cf"] = hull_area(si, cf)
    return out


MEASURES = ("n_clips", "si_mean", "ti_mean", "cf_mean", "range_si", "range_ti", "range_cf",
            "uniformity_si", "uniformity_ti", "uniformity_cf", "hull_si_ti", "hull_si_cf")


def coverage_table(pooled_ds: xr.Dataset, *, bins: int = 10) -> xr.Dataset:
    """The category coverage table: measures per (definition, resolution, category), plus "all".

    Args:
        pooled_ds: output of :func:`pooled` (coords ``category`` and ``resolution`` along clip).
        bins: histogram bins for uniformity.

    Returns:
        Dataset with dims ``definition``, ``resolution``, ``category`` and one variable per measure
        (``n_clips``, means, ranges, uniformities, hull areas).
    """
    cats = sorted(set(str(c) for c in pooled_ds["category"].values)) + ["all"]
    ress = list(dict.fromkeys(str(r) for r in pooled_ds["resolution"].values))
    defs = [str(d) for d in pooled_ds["definition"].values]
    data = {m: np.full((len(defs), len(ress), len(cats)), np.nan) for m in MEASURES}
    for i, d in enumerate(defs):
        for j, r in enumerate(ress):
            for k, c in enumerate(cats):
                sel = pooled_ds["resolution"].values == r
                if c != "all":
                    sel &= pooled_ds["category"].values == c
                if not sel.any():
                    continue
                si = pooled_ds["si"].sel(definition=d).values[sel]
                ti = pooled_ds["ti"].sel(definition=d).values[sel]
                cf = pooled_ds["cf"].values[sel]
                m = coverage_measures(si, ti, cf, bins=bins)
                m.update(n_clips=float(sel.sum()), si_mean=float(np.nanmean(si)),
                         ti_mean=float(np.nanmean(ti)), cf_mean=float(np.nanmean(cf)))
                for name in MEASURES:
                    data[name][i, j, k] = m[name]
    ds = xr.Dataset({m: (("definition", "resolution", "category"), v) for m, v in data.items()},
                    coords={"definition": defs, "resolution": ress, "category": cats})
    ds.attrs.update(bins=bins, uniformity="histogram entropy / log(bins), 1 = evenly spread",
                    hull="convex-hull area of pooled clip values in the descriptor plane")
    return ds


def resolution_comparison(pooled_ds: xr.Dataset, high: str = "4k", low: str = "1080p") -> xr.Dataset:
    """Pooled SI, TI and CF of clips recorded at both resolutions, and high/low ratios.

    Returns a dataset with dim ``name`` (clips present at both) and ``definition``; variables
    ``si_high``, ``si_low``, ``si_ratio`` (and the same for ``ti``; ``cf`` per name).
    """
    res = pooled_ds["resolution"].values
    names = [str(n) for n in pooled_ds["name"].values]
    hi_names = {n for n, r in zip(names, res) if r == high}
    both = [n for n in dict.fromkeys(names) if n in hi_names and any(m == n and r == low for m, r in zip(names, res))]
    if not both:
        raise ValueError(f"pooled_ds has no clip recorded at both {high!r} and {low!r}")
    hi_ids = [clip_id(n, high) for n in both]
    lo_ids = [clip_id(n, low) for n in both]
    out = {}
    for v in ("si", "ti"):
        a = pooled_ds[v].sel(clip=hi_ids).values
        b = pooled_ds[v].sel(clip=lo_ids).values
        out[f"{v}_high"] = (("definition", "name"), a)
        out[f"{v}_low"] = (("definition", "name"), b)
        out[f"{v}_ratio"] = (("definition", "name"), a / b)
    a, b = pooled_ds["cf"].sel(clip=hi_ids).values, pooled_ds["cf"].sel(clip=lo_ids).values
    out.update(cf_high=(("name",), a), cf_low=(("name",), b), cf_ratio=(("name",), a / b))
    cats = pooled_ds["category"].sel(clip=hi_ids).values
    ds = xr.Dataset(out, coords={"definition": pooled_ds["definition"].values, "name": both,
                                 "category": ("name", cats)})
    ds.attrs.update(high=high, low=low)
    return ds
