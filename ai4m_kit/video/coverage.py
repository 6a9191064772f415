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

import json
import math
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import xarray as xr

from ..data.errors import DataError
from ..files import atomic_path, fingerprint
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


def _outside_limited(luma: torch.Tensor, bit_depth: int) -> bool:
    """True when luma code values leave the limited range 16-235 (scaled to the bit depth)."""
    scale = 1 << (bit_depth - 8)
    return bool(luma.min() < 16 * scale or luma.max() > 235 * scale)


def analyse_clip(
    path: str | os.PathLike,
    *,
    definitions: str | Sequence[str] = DEFINITIONS,
    chunk: int = 8,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    color_range: str | None = None,
) -> dict:
    """Per-frame SI and TI (for each definition) and colourfulness of one clip.

    Colour range: a video's tag is used, or ``color_range`` when given. An untagged YUV video
    whose first chunk of luma leaves 16-235 is taken as full range (``color_range_source``
    ``"detected"``); otherwise limited is assumed, and luma outside 16-235 later in the clip gives a
    warning naming the file (source ``"assumed, luma outside 16-235 from frame N"``).

    Args:
        path: a PNG frame folder or a video file (anything ``ai4m_kit.data.open_clip`` reads).
        definitions: one definition or several (the clip is decoded once for all).
        chunk: frames decoded and processed at a time (memory: a few frames of temporaries).
        device: torch device for the arithmetic (default CPU).
        dtype: compute dtype.
        color_range: ``"limited"`` or ``"full"`` to override a video's range tag.

    Returns:
        dict with ``si`` and ``ti`` (arrays ``(len(definitions), T)``, TI NaN at frame 0), ``cf``
        (``(T,)``), ``definitions`` and clip facts ``frames``, ``height``, ``width``,
        ``bit_depth``, ``color_range``, ``color_range_source``.

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
    import warnings

    from ai4m_kit.data import open_clip

    defs = _definitions(definitions)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    clip = open_clip(path, color_range=color_range)
    if clip.color_range_source == "assumed":
        first = next(clip.iter_chunks(chunk=chunk, mode="y"), None)
        if first is not None and _outside_limited(first, clip.bit_depth):
            clip.color_range, clip.color_range_source = "full", "detected"
    dev = torch.device(device) if device is not None else torch.device("cpu")
    kw = dict(bit_depth=int(clip.bit_depth), color_range=clip.color_range, dtype=dtype)
    si: list[list[np.ndarray]] = [[] for _ in defs]
    ti: list[list[np.ndarray]] = [[] for _ in defs]
    cf: list[np.ndarray] = []
    last = None
    seen = 0
    for luma, rgb in _chunks(clip, chunk):
        if clip.color_range_source == "assumed" and _outside_limited(luma, clip.bit_depth):
            clip.color_range_source = f"assumed, luma outside 16-235 from frame {seen}"
            warnings.warn(f"{path}: no colour-range tag and luma outside 16-235 from frame {seen}, but "
                          "limited range was assumed; pass --color-range full if the source is full range",
                          stacklevel=2)
        luma, rgb = luma.to(dev), rgb.to(dev)
        for k, d in enumerate(defs):
            s, t = siti(luma, definition=d, previous=last, **kw)
            si[k].append(s.double().cpu().numpy())
            ti[k].append(t.double().cpu().numpy())
        cf.append(colourfulness(rgb, bit_depth=kw["bit_depth"], dtype=dtype).double().cpu().numpy())
        last = luma[-1]
        seen += len(luma)
    if not cf:
        raise DataError(f"{path}: clip has no frames")
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
        "color_range_source": str(clip.color_range_source),
    }


def _failed_result(defs: tuple[str, ...]) -> dict:
    """The record of a clip that could not be analysed (``--skip-bad``): no frames."""
    empty = np.zeros((len(defs), 0))
    return {"definitions": defs, "si": empty, "ti": empty, "cf": np.zeros(0), "frames": 0, "height": 0,
            "width": 0, "bit_depth": 0, "color_range": "", "color_range_source": ""}


def clip_id(name: str, label: str) -> str:
    """Identifier of one recording in a corpus dataset: ``"<clip>/<resolution>"``.

    Example:
        >>> clip_id("people_astronaut", "4k")
        'people_astronaut/4k'
    """
    return f"{name}/{label}"


def _clip_dataset(result: dict, *, cid: str, name: str, label: str, path: str, meta: dict, key: str,
                  error: str = "") -> xr.Dataset:
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
            "color_range_source": ("clip", [result["color_range_source"]]),
            "fingerprint": ("clip", [key]),
            "error": ("clip", [error]),
        },
    )


def _attrs(ds: xr.Dataset) -> xr.Dataset:
    from ai4m_kit import __version__

    ds.attrs.update(
        title=TITLE,
        si="ITU-T P.910 spatial information, 0-255 scale",
        ti="ITU-T P.910 temporal information, 0-255 scale; NaN at each clip's first frame",
        cf="Hasler-Suesstrunk colourfulness of gamma-encoded RGB, 0-255 scale",
        pooling=", ".join(f"{d}: {p}" for d, p in DEFAULT_POOLING.items()),
        ai4m_kit_version=__version__,
        torch_version=torch.__version__,
    )
    notes = {"fingerprint": "key of the clip's files (path, size, mtime) and of the parameters",
             "error": "why the clip could not be analysed (--skip-bad); empty when it was"}
    for name, note in notes.items():
        if name in ds.coords:
            ds[name].attrs["description"] = note
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


TITLE = "Per-frame content descriptors (ai4m-kit coverage)"


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a coverage NetCDF fully into memory (the file is closed afterwards).

    Raises:
        DataError: the file is not a NetCDF written by ``ai4m coverage``.
    """
    try:
        with xr.open_dataset(path, engine=_engine()) as ds:
            ds = ds.load()
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure means: not our file, or damaged
        raise DataError(f"{path}: not a coverage file written by ai4m coverage, or damaged "
                        f"({type(err).__name__}); nothing was changed") from err
    if ds.attrs.get("title") != TITLE:
        raise DataError(f"{path}: a NetCDF file not written by ai4m coverage; nothing was changed")
    for var in ds.variables.values():
        var.encoding = {}  # file-specific (string widths); a rewrite chooses its own
    return ds


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file, then rename) so an interrupted run never corrupts it.

    Example:
        >>> import tempfile
        >>> ds = xr.Dataset({"cf": (("clip", "frame"), [[1.0, 2.0]])}, coords={"clip": ["a/native"]},
        ...                 attrs={"title": TITLE})
        >>> path = save(ds, Path(tempfile.mkdtemp()) / "c.nc")
        >>> load(path)["cf"].values.tolist()
        [[1.0, 2.0]]
    """
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=_engine())
    return Path(path)


def _clip_root(path: Path, label: str) -> Path:
    return path.parent if label != "native" else path


def _unique_names(found: list[tuple[str, Path, str]]) -> list[str]:
    """Clip names made unique: a name found in several folders is prefixed with its folder's name
    (and numbered if that is not enough), so that clips from different corpora never share an id."""
    count: dict[tuple[str, str], int] = {}
    for name, _, label in found:
        count[(name, label)] = count.get((name, label), 0) + 1
    names, used = [], set()
    for name, path, label in found:
        unique = name
        if count[(name, label)] > 1:
            unique = f"{_clip_root(path, label).resolve().parent.name}/{name}"
        k, candidate = 1, unique
        while (candidate, label) in used:
            k += 1
            candidate = f"{unique}~{k}"
        used.add((candidate, label))
        names.append(candidate)
    return names


def _manifest_row(clip_root: Path, cache: dict) -> dict:
    """Clip metadata (category, motion) from a ``manifest.csv`` beside the clip, if any."""
    from ai4m_kit.data import read_manifest

    folder = clip_root.resolve().parent
    if folder not in cache:
        cache[folder] = ({str(r.get("clip")): r for r in read_manifest(folder)}
                         if (folder / "manifest.csv").is_file() else {})
    return cache[folder].get(clip_root.name, {})


def _parameters(defs: tuple[str, ...], dtype: torch.dtype, color_range: str | None) -> dict:
    from ai4m_kit import __version__

    return {"definitions": list(defs), "dtype": str(dtype), "color_range": color_range or "tag",
            "ai4m_kit_version": __version__}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that finished clips are saved before the exit."""


def _on_sigterm(signum, frame):
    raise _Terminated()


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
    save_every: float = 0.0,
    color_range: str | None = None,
    skip_bad: bool = False,
    replace: bool = False,
) -> xr.Dataset:
    """Per-frame SI, TI and CF of every clip found under ``paths`` (``ai4m_kit.data.find_clips``).

    Resumable and never stale: every clip carries a fingerprint of its files (path, size, mtime)
    and of the parameters; clips in ``out`` whose fingerprint matches are reused, others are
    recomputed. ``out`` is rewritten atomically after each clip (or every ``save_every`` seconds),
    and on SIGINT/SIGTERM before the exit, so a killed run loses at most the clips since the last
    save. Clip pairs (``<clip>/4k``, ``<clip>/1080p``) are checked for equal frame counts, a 2x
    size ratio and aligned frame names before any work.

    Args:
        paths: frame folders, video files, BSC4K-style clip folders or folders of those.
        out: NetCDF file to resume and write. It must be new or written by this function for the
            same clips and parameters, unless ``replace``.
        definitions: SI/TI definitions to compute.
        chunk: frames per processing step.
        device: torch device for the arithmetic.
        dtype: compute dtype.
        scheduler: address of a ``dask.distributed`` scheduler; each clip becomes one task.
        progress: show a tqdm progress bar.
        save_every: seconds between writes of ``out`` (0: after every clip).
        color_range: ``"limited"`` or ``"full"`` for every video, overriding range tags.
        skip_bad: record a clip that cannot be read (its ``error`` coordinate) and go on, instead
            of stopping.
        replace: let ``out`` hold other clips or parameters: they are dropped from it (clips
            whose files and parameters match are still reused).

    Returns:
        The dataset of every clip found (in ``find_clips`` order); variables ``si``/``ti``
        ``(definition, clip, frame)``, ``cf`` ``(clip, frame)``; coordinates along ``clip`` include
        ``name``, ``resolution``, ``path``, ``fingerprint``, ``color_range`` and ``error``.

    Raises:
        DataError: bad input (with the file named), or an ``out`` that does not belong to this run.
    """
    import signal
    import threading

    from tqdm.auto import tqdm

    from ai4m_kit.data import ClipPair, find_clips
    from ai4m_kit.data.loaders import COLOR_RANGES, HR_DIR

    defs = _definitions(definitions)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    if save_every < 0:
        raise ValueError(f"save_every must be >= 0 seconds; got {save_every}")
    if color_range is not None and color_range not in COLOR_RANGES:
        raise ValueError(f"color_range must be one of {COLOR_RANGES} or None; got {color_range!r}")
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("paths must name at least one folder or video file; got none")
    found = find_clips(paths)
    if not found:
        raise DataError(f"{', '.join(str(p) for p in paths)}: no frame folders or video files found")
    resolved = [str(p.resolve()) for _, p, _ in found]
    for i, r in enumerate(resolved):
        if resolved.index(r) != i:
            raise ValueError(f"{found[i][1]}: the paths name this clip more than once")
    names = _unique_names(found)
    params = _parameters(defs, dtype, color_range)
    manifests: dict = {}
    clips = []  # (id, unique name, path, label, fingerprint, metadata)
    for unique, (name, path, label) in zip(names, found):
        root = _clip_root(path, label)
        clips.append((clip_id(unique, label), unique, path, label,
                      fingerprint(path, params), _manifest_row(root, manifests)))
    bad: dict[str, str] = {}  # id -> error, found before any work
    for cid, unique, path, label, _, _ in clips:
        if label == HR_DIR:
            try:
                ClipPair(path.parent)
            except DataError as err:
                if not skip_bad:
                    raise
                bad[cid] = bad[clip_id(unique, "1080p")] = str(err)

    ids = [c[0] for c in clips]
    reuse: dict[str, xr.Dataset] = {}
    if out is not None and Path(out).exists():
        if Path(out).is_dir():
            raise DataError(f"{out}: is a folder; out must be a .nc file")
        old = load(out)
        old_params = old.attrs.get("parameters")
        old_ids = [str(c) for c in old["clip"].values]
        now = {c[0]: str(Path(c[2]).resolve()) for c in clips}
        # a clip is another one when its id is new or its id now names another file or folder
        foreign = [c for c, p in zip(old_ids, (str(p) for p in old["path"].values)) if now.get(c) != p]
        if not replace and old_params != json.dumps(params, sort_keys=True):
            try:
                was = json.loads(old_params)
            except (TypeError, ValueError):
                was = {}
            diff = ", ".join(f"{k} {was.get(k)} (now {v})" for k, v in params.items() if was.get(k) != v)
            raise DataError(f"{out}: computed with other parameters: {diff}; use another --out, "
                            "or --force to replace it")
        if not replace and foreign:
            raise DataError(f"{out}: holds {len(foreign)} clip(s) not among the paths given now (e.g. {foreign[0]} "
                            f"from {old['path'].sel(clip=foreign[0]).item()}); "
                            "use another --out, or --force to replace it")
        keys = dict(zip(old_ids, (str(k) for k in old["fingerprint"].values)))
        errors = dict(zip(old_ids, (str(e) for e in old["error"].values)))
        for cid, *_, key, _ in clips:  # clips whose files and parameters are unchanged
            if keys.get(cid) == key and not errors.get(cid):
                reuse[cid] = old.sel(clip=[cid])
    todo = [c for c in clips if c[0] not in reuse]
    bar = tqdm(total=len(todo), desc="coverage", unit="clip", disable=not progress)
    new: dict[str, xr.Dataset] = {}
    last_save = time.monotonic()

    def current() -> xr.Dataset:
        parts = {**reuse, **new}
        ds = merge([parts[c] for c in ids if c in parts])
        ds.attrs["parameters"] = json.dumps(params, sort_keys=True)
        return ds

    def collect(result: dict, cid: str, unique: str, path: Path, label: str, key: str, meta: dict,
                error: str = "") -> None:
        nonlocal last_save
        new[cid] = _clip_dataset(result, cid=cid, name=unique, label=label, path=str(Path(path).resolve()), meta=meta, key=key,
                                 error=error)
        bar.update(1)
        bar.set_postfix_str(cid)
        if out is not None and time.monotonic() - last_save >= save_every:
            save(current(), out)
            last_save = time.monotonic()

    def analyse(cid, unique, path, label, key, meta) -> None:
        if cid in bad:
            collect(_failed_result(defs), cid, unique, path, label, key, meta, error=bad[cid])
            return
        try:
            result = analyse_clip(path, **kw)
        except DataError as err:
            if not skip_bad:
                raise
            collect(_failed_result(defs), cid, unique, path, label, key, meta, error=str(err))
            return
        collect(result, cid, unique, path, label, key, meta)

    kw = dict(definitions=defs, chunk=chunk, device=device, dtype=dtype, color_range=color_range)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        if scheduler is None:
            for c in todo:
                analyse(*c)
        elif todo:
            from distributed import Client, as_completed

            by_id = {c[0]: c for c in todo}
            with Client(scheduler) as client:
                futures = {client.submit(analyse_clip, str(c[2]), key=f"ai4m-coverage-{c[4]}", pure=False, **kw): c[0]
                           for c in todo if c[0] not in bad}
                for c in todo:
                    if c[0] in bad:
                        analyse(*c)
                for fut in as_completed(futures):
                    c = by_id[futures[fut]]
                    try:
                        result = fut.result()
                    except DataError as err:
                        if not skip_bad:
                            raise
                        collect(_failed_result(defs), *c, error=str(err))
                        continue
                    collect(result, *c)
    finally:
        bar.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if out is not None and new:
            save(current(), out)
    return current()


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
