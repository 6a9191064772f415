"""Study 02: do deep features of an SR network tell recorded LR video from synthetic degradations?
(report §3.1.2.2, Figure 3).

Two small BasicVSR-family networks are trained here from the same initial weights on the corpus'
HR frames: ``blind`` on bicubic LR (as BasicVSR) and ``real`` on BSRGAN LR with a cleaning stage
(as RealBasicVSR). Each network then reads four kinds of LR input of every clip: the recorded LR
(``1080p/``), and bicubic, blur and BSRGAN degradations of the HR recording (``4k/``), one
parameter draw per clip. The mean activation per channel of chosen layers is a feature vector per
frame; a seeded UMAP embeds them in 2-D. Separability of the four kinds is measured by the
Calinski–Harabasz index (scikit-learn) on the embedding and on the raw features, with bootstrap
intervals over clips, and by the cross-validated k-NN accuracy of the kind (folds split by clip).
The report found the blind network separating the kinds (CHI 1049.57) and the real one not (60.37).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import xarray as xr

from ..profiles import pick, resolve_profile
from ..train.sr import SRConfig, config_for, evaluate, load_hr_clips, split_clips, super_resolve, train_sr
from ..viz import umap_embedding

KINDS = ("recorded", "bicubic", "blur", "bsrgan")
MODELS = ("blind", "real")
LAYERS = ("backward_out", "forward_out", "fusion", "upsample")  # shallow to deep
REPORT_CHI = {"blind": 1049.57, "real": 60.37}


def _clip_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def lr_inputs(root: str | os.PathLike, clip: str, hr: torch.Tensor, scale: int, seed: int) -> dict[str, torch.Tensor]:
    """The LR inputs of one clip: the recorded LR frames (when the clip has a ``1080p/`` recording)
    and bicubic, blur and BSRGAN degradations of ``hr`` ``(T, 3, H, W)`` in [0, 1]."""
    from ..data import open_clip
    from ..video.degrade import degrade

    out = {}
    rec = Path(root) / clip / "1080p"
    if rec.is_dir():
        lr = open_clip(rec)
        frames = torch.cat(list(lr.iter_chunks(chunk=8, mode="rgb", stop=hr.shape[0]))).float() / (2**lr.bit_depth - 1)
        out["recorded"] = frames
    for kind in ("bicubic", "blur", "bsrgan"):
        out[kind] = degrade(hr, kind, scale, seed=_clip_seed(seed, f"{clip}/{kind}"))[0]
    return out


def _sizes(profile: str) -> dict:
    return pick(profile,
                smoke=dict(frames=4, umap_layers=("fusion",), bootstrap=50, umap_epochs=100),
                demo=dict(frames=8, umap_layers=("fusion", "upsample"), bootstrap=200, umap_epochs=None),
                paper=dict(frames=48, umap_layers=LAYERS, bootstrap=1000, umap_epochs=None))


def run(profile: str = "demo", corpus: str | os.PathLike | None = None, *, seed: int = 0,
        layers: Sequence[str] = LAYERS, device: str | None = None, progress: bool = True, cache: bool = True,
        sr_config: SRConfig | None = None) -> xr.Dataset:
    """Train the two networks (cached), extract pooled features of every LR input kind, embed them.

    Args:
        profile: ``smoke`` / ``demo`` / ``paper`` (network size, training steps, frames per clip).
        corpus: a BSC4K-style corpus folder (``<clip>/4k``, ``<clip>/1080p``); default: the sample.
        seed: seed of the networks, the batches, the degradations and UMAP.
        layers: layers of :class:`~ai4m_kit.models.sr.CompactBasicVSR` to pool.
        device: torch device (default: CUDA when available, else CPU).
        progress: progress bars.
        cache: reuse trained networks (keyed by configuration, data and library version).
        sr_config: training configuration instead of the profile's.

    Returns:
        Dataset with ``features`` ``(model, layer, sample, channel)``, ``embedding``
        ``(model, layer, sample, axis)`` (NaN for layers not embedded at this profile), sample
        coordinates ``clip``, ``frame``, ``kind``, ``held_out``; ``psnr`` ``(upscaler)`` on held-out
        clips; attributes with the configuration.
    """
    from tqdm.auto import tqdm

    from ..data import ensure_sample
    from ..models.sr import pooled_features

    profile = resolve_profile(profile)
    sizes = _sizes(profile)
    cfg = sr_config or config_for(profile)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    root = Path(corpus) if corpus is not None else ensure_sample(profile=profile, seed=seed)
    clips = load_hr_clips(root, max_frames=max(cfg.max_frames, sizes["frames"]))
    result = _result_path(profile, cfg, clips, root, seed, layers, str(device)) if cache else None
    if result is not None and result.is_file():
        with xr.open_dataset(result, engine="scipy") as cached:
            return cached.load()
    train, held = split_clips(clips)
    nets = {kind: train_sr(kind, train, cfg, seed=seed, device=device, progress=progress, cache=cache)
            for kind in MODELS}
    models = {k: r.model for k, r in nets.items()}
    scores = evaluate(models, held, cfg.scale, max_frames=sizes["frames"])
    held_names = {c.name for c in held}

    feats: dict[tuple[str, str], list[np.ndarray]] = {(m, l): [] for m in MODELS for l in layers}
    meta = {"clip": [], "frame": [], "kind": [], "held_out": []}
    for clip in tqdm(clips, desc="features", disable=not progress):
        hr = clip.as_float(slice(0, sizes["frames"]))
        h, w = hr.shape[-2:]
        hr = hr[..., : h // cfg.scale * cfg.scale, : w // cfg.scale * cfg.scale]
        for kind, lr in lr_inputs(root, clip.name, hr, cfg.scale, seed).items():
            for m, net in models.items():
                pooled = pooled_features(net, lr.to(device), list(layers))
                for l in layers:
                    feats[(m, l)].append(pooled[l].numpy())
            t = lr.shape[0]
            meta["clip"] += [clip.name] * t
            meta["frame"] += list(range(t))
            meta["kind"] += [kind] * t
            meta["held_out"] += [clip.name in held_names] * t
    features = np.stack([np.stack([np.concatenate(feats[(m, l)]) for l in layers]) for m in MODELS])
    embedding = np.full(features.shape[:3] + (2,), np.nan)
    for i, m in enumerate(MODELS):
        for j, l in enumerate(layers):
            if l in sizes["umap_layers"]:
                embedding[i, j] = umap_embedding(features[i, j], seed=seed, n_epochs=sizes["umap_epochs"])
    ds = xr.Dataset(
        {"features": (("model", "layer", "sample", "channel"), features),
         "embedding": (("model", "layer", "sample", "axis"), embedding),
         "psnr": (("upscaler",), [scores[k] for k in ("bicubic", *MODELS)])},
        coords={"model": list(MODELS), "layer": list(layers), "sample": np.arange(features.shape[2]),
                "channel": np.arange(features.shape[3]), "axis": ["x", "y"], "upscaler": ["bicubic", *MODELS],
                **{k: ("sample", np.asarray(v)) for k, v in meta.items()}})
    ds["features"].attrs["long_name"] = "mean activation per channel of the layer, per LR frame"
    ds["embedding"].attrs["long_name"] = "UMAP 2-D embedding of the features (seeded)"
    ds["psnr"].attrs.update(units="dB", long_name=f"PSNR on held-out clips (bicubic LR x{cfg.scale}, RGB, "
                                                  f"{cfg.scale}-pixel border ignored)")
    ds.attrs.update(profile=profile, corpus=str(root), seed=seed, device=str(device),
                    sr_config=json.dumps(asdict(cfg), sort_keys=True), held_out_clips=", ".join(sorted(held_names)),
                    training_seconds=", ".join(f"{k}: {r.seconds:.0f} s{' (cached)' if r.cached else ''}"
                                               for k, r in nets.items()),
                    bootstrap=sizes["bootstrap"], simulated_data="yes" if corpus is None else "no")
    if result is not None:
        from ..files import atomic_path

        with atomic_path(result) as tmp:
            ds.to_netcdf(tmp, engine="scipy")
    return ds


def _result_path(profile: str, cfg: SRConfig, clips, root: Path, seed: int, layers, device: str) -> Path:
    """Cache file of a run: keyed by the configuration, every HR and recorded-LR file, the seed,
    layers, device and library version, so a changed input or setting never returns old results."""
    from ..files import fingerprint
    from ..train import cache_key, cache_root
    from ..train.sr import data_key

    recorded = ",".join(fingerprint(Path(root) / c.name / "1080p") for c in clips
                        if (Path(root) / c.name / "1080p").is_dir())
    key = cache_key({"study": "deep_feature_clustering", "profile": profile, "sr": asdict(cfg), "seed": seed,
                     "layers": list(layers), "device": device, **_sizes(profile)}, data_key(clips) + recorded)
    return cache_root().parent / "studies" / f"deep_feature_clustering-{key}.nc"


def calinski_harabasz(x: np.ndarray, labels: np.ndarray) -> float:
    """Calinski–Harabasz index: between-cluster over within-cluster dispersion, each divided by its
    degrees of freedom (``k − 1`` and ``n − k``), as scikit-learn's ``calinski_harabasz_score``.

    Example:
        >>> x = np.array([[0.0], [0.2], [5.0], [5.2]]); round(calinski_harabasz(x, np.array([0, 0, 1, 1])), 3)
        1250.0
    """
    x = np.asarray(x, float)
    labels = np.asarray(labels)
    kinds = np.unique(labels)
    n, k = len(x), len(kinds)
    if k < 2 or n <= k:
        raise ValueError(f"labels must name 2 to n-1 clusters; got {k} clusters for {n} samples")
    mean = x.mean(0)
    between = sum((labels == c).sum() * ((x[labels == c].mean(0) - mean) ** 2).sum() for c in kinds)
    within = sum(((x[labels == c] - x[labels == c].mean(0)) ** 2).sum() for c in kinds)
    return float("inf") if within == 0 else float(between * (n - k) / (within * (k - 1)))


def _bootstrap_chi(x: np.ndarray, labels: np.ndarray, clips: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the CHI over clips resampled with replacement."""
    rng = np.random.default_rng(seed)
    names = np.unique(clips)
    rows = {c: np.flatnonzero(clips == c) for c in names}
    values = []
    for _ in range(reps):
        pick_ = rng.choice(names, size=len(names), replace=True)
        idx = np.concatenate([rows[c] for c in pick_])
        if len(np.unique(labels[idx])) >= 2:
            values.append(calinski_harabasz(x[idx], labels[idx]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def knn_accuracy(x: np.ndarray, labels: np.ndarray, clips: np.ndarray, k: int = 5, folds: int = 4) -> float:
    """Cross-validated accuracy of a k-NN classifier of the input kind on standardised features,
    with folds split by clip (no clip in both training and test)."""
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(folds, len(np.unique(clips)))
    clf = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k))
    return float(cross_val_score(clf, x, labels, groups=clips, cv=GroupKFold(n_splits=folds)).mean())


def separability(ds: xr.Dataset) -> xr.Dataset:
    """CHI (embedding and raw features, with bootstrap intervals over clips) and k-NN accuracy
    per model and layer."""
    labels = ds["kind"].values.astype(str)
    clips = ds["clip"].values.astype(str)
    reps = int(ds.attrs.get("bootstrap", 200))
    seed = int(ds.attrs.get("seed", 0))
    names = ("chi_embedding", "chi_embedding_lo", "chi_embedding_hi", "chi_features", "chi_features_lo",
             "chi_features_hi", "knn_accuracy")
    out = {n: np.full((ds.sizes["model"], ds.sizes["layer"]), np.nan) for n in names}
    for i, m in enumerate(ds["model"].values):
        for j, l in enumerate(ds["layer"].values):
            f = ds["features"].sel(model=m, layer=l).values
            z = (f - f.mean(0)) / (f.std(0) + 1e-12)
            out["chi_features"][i, j] = calinski_harabasz(z, labels)
            out["chi_features_lo"][i, j], out["chi_features_hi"][i, j] = _bootstrap_chi(z, labels, clips, reps, seed)
            out["knn_accuracy"][i, j] = knn_accuracy(f, labels, clips)
            e = ds["embedding"].sel(model=m, layer=l).values
            if np.isfinite(e).all():
                out["chi_embedding"][i, j] = calinski_harabasz(e, labels)
                out["chi_embedding_lo"][i, j], out["chi_embedding_hi"][i, j] = _bootstrap_chi(e, labels, clips, reps, seed)
    res = xr.Dataset({n: (("model", "layer"), v) for n, v in out.items()},
                     coords={"model": ds["model"].values, "layer": ds["layer"].values})
    res["knn_accuracy"].attrs["chance"] = 1.0 / len(np.unique(labels))
    res.attrs.update(kinds=", ".join(np.unique(labels)), bootstrap=reps,
                     chi="Calinski-Harabasz index of the input kinds (features standardised per channel)")
    return res


def chi_table(sep: xr.Dataset):
    """The CHI table (pandas) with 95 % bootstrap intervals, per model and layer."""
    import pandas as pd

    rows = []
    for m in sep["model"].values:
        for l in sep["layer"].values:
            s = sep.sel(model=m, layer=l)
            emb = (f"{float(s.chi_embedding):.1f} [{float(s.chi_embedding_lo):.1f}, {float(s.chi_embedding_hi):.1f}]"
                   if np.isfinite(float(s.chi_embedding)) else "not embedded")
            rows.append({"model": str(m), "layer": str(l), "CHI on UMAP": emb,
                         "CHI on features": f"{float(s.chi_features):.1f} [{float(s.chi_features_lo):.1f}, "
                                            f"{float(s.chi_features_hi):.1f}]",
                         "k-NN accuracy": f"{float(s.knn_accuracy):.2f}"})
    return pd.DataFrame(rows).set_index(["model", "layer"])


def conclusion(ds: xr.Dataset, sep: xr.Dataset, layer: str = "fusion") -> str:
    """Whether the report's direction (blind separates the kinds, real does not) is reproduced,
    from the CHI on the embedding of ``layer`` (on the raw features where it was not embedded)."""
    s = sep.sel(layer=layer)
    on = "chi_embedding" if np.isfinite(s["chi_embedding"]).all() else "chi_features"
    b, r = s.sel(model="blind"), s.sel(model="real")
    blind, real = float(b[on]), float(r[on])
    b_lo, r_hi = float(b[f"{on}_lo"]), float(r[f"{on}_hi"])
    where = "its UMAP embedding" if on == "chi_embedding" else "its standardised features"
    psnr = ds["psnr"]
    gain = float(psnr.sel(upscaler="blind")) - float(psnr.sel(upscaler="bicubic"))
    text = (f"On {ds.sizes['sample']} LR frames of {len(np.unique(ds['clip'].values))} clips "
            f"({'simulated sample corpus' if ds.attrs.get('simulated_data') == 'yes' else ds.attrs['corpus']}), "
            f"layer {layer}, {where}: CHI blind {blind:.1f} [{b_lo:.1f}, {float(b[f'{on}_hi']):.1f}] vs real "
            f"{real:.1f} [{float(r[f'{on}_lo']):.1f}, {r_hi:.1f}] (report: {REPORT_CHI['blind']} vs {REPORT_CHI['real']}); "
            f"k-NN accuracy of the input kind blind {float(b.knn_accuracy):.2f} vs real {float(r.knn_accuracy):.2f} "
            f"(chance {sep['knn_accuracy'].attrs['chance']:.2f}). ")
    chance = sep["knn_accuracy"].attrs["chance"]
    if blind > real and b_lo > r_hi:
        strength = ("clearly: a k-NN classifier recognises the kind of a frame's input from blind features"
                    if float(b.knn_accuracy) > chance + 0.25 else
                    "but weakly: frame by frame, a k-NN classifier barely recognises the kind of input "
                    "(content dominates the pooled features)")
        times = f"{blind / real:.1f}x more than" if real >= 0.05 * max(blind, 1e-12) else "far more than"
        text += (f"Reproduced: the blind network separates the four input kinds {times} the real one and the "
                 f"bootstrap intervals do not overlap; {strength}.")
    elif blind > real:
        text += ("Not reproduced: the blind network separates the kinds more, as in the report, but the bootstrap "
                 "intervals overlap, so the direction is not established on this corpus.")
    else:
        text += "Not reproduced: the real network separates the kinds at least as well as the blind one here."
    text += (f" The blind network is {gain:+.2f} dB against bicubic upscaling on held-out clips "
             f"({float(psnr.sel(upscaler='blind')):.2f} vs {float(psnr.sel(upscaler='bicubic')):.2f} dB).")
    return text


def plot_embedding(ds: xr.Dataset, layer: str = "fusion"):
    """Figure 3 analogue: the UMAP of each network side by side, coloured by input kind; hover
    shows clip and frame."""
    import holoviews as hv

    panels = []
    for m in ds["model"].values:
        e = ds["embedding"].sel(model=m, layer=layer).values
        if not np.isfinite(e).all():
            raise ValueError(f"layer {layer!r} was not embedded at this profile; pick one of "
                             f"{[str(l) for l in ds.layer.values if np.isfinite(ds.embedding.sel(layer=l)).all()]}")
        table = {"x": e[:, 0], "y": e[:, 1], "kind": ds["kind"].values.astype(str),
                 "clip": ds["clip"].values.astype(str), "frame": ds["frame"].values}
        panels.append(hv.Scatter(table, "x", ["y", "kind", "clip", "frame"]).opts(
            color="kind", cmap="Category10", size=5, alpha=0.8, legend_position="right", width=460, height=400,
            title=f"{m} network, layer {layer}", xaxis=None, yaxis=None, tools=["hover"]))
    return hv.Layout(panels).cols(2)


def plot_chi_by_layer(sep: xr.Dataset):
    """CHI on the raw features per layer depth, both networks, with the bootstrap intervals."""
    import holoviews as hv

    curves = []
    for m in sep["model"].values:
        s = sep.sel(model=m)
        xs = list(range(sep.sizes["layer"]))
        curves.append(hv.Curve((xs, s.chi_features.values), "layer depth", "CHI (features)", label=str(m)))
        curves.append(hv.Spread((xs, s.chi_features.values, s.chi_features.values - s.chi_features_lo.values,
                                 s.chi_features_hi.values - s.chi_features.values), "layer depth",
                                ["CHI (features)", "lo", "hi"]).opts(alpha=0.2))
    labels = [(i, str(l)) for i, l in enumerate(sep["layer"].values)]
    return hv.Overlay(curves).opts(xticks=labels, logy=True, title="Separability of the input kinds per layer")


def crop_strip(ds: xr.Dataset, clip: str | None = None, frame: int = 0, size: int = 64,
               models: dict | None = None) -> dict[str, np.ndarray]:
    """The same crop of one frame: HR, each LR input (nearest-upscaled to HR size for display) and
    each network's output from the recorded LR, as ``{label: (h, w, 3) uint8}``.

    ``models`` maps names to trained networks (default: the cached ones for ``ds``'s configuration).
    """
    from ..train.sr import SRConfig as _Cfg
    from ..video.upscale import upscale

    root = Path(ds.attrs["corpus"])
    cfg = _Cfg(**json.loads(ds.attrs["sr_config"]))
    clip = clip or str(ds["clip"].values[0])
    hr_clip = [c for c in load_hr_clips(root / clip, max_frames=frame + 1)][0]
    hr = hr_clip.as_float(slice(frame, frame + 1))
    h, w = hr.shape[-2:]
    hr = hr[..., : h // cfg.scale * cfg.scale, : w // cfg.scale * cfg.scale]
    inputs = lr_inputs(root, clip, hr, cfg.scale, int(ds.attrs["seed"]))
    s = min(size, hr.shape[-2], hr.shape[-1]) // cfg.scale * cfg.scale
    y, x = (hr.shape[-2] - s) // 2 // cfg.scale * cfg.scale, (hr.shape[-1] - s) // 2 // cfg.scale * cfg.scale
    ys, xs = slice(y, y + s), slice(x, x + s)
    lys, lxs = slice(y // cfg.scale, (y + s) // cfg.scale), slice(x // cfg.scale, (x + s) // cfg.scale)

    def img(t):
        return (t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

    strip = {"HR (4k)": img(hr[..., ys, xs])}
    for kind, lr in inputs.items():
        strip[f"LR {kind}"] = img(upscale(lr[..., lys, lxs], "nearest", cfg.scale))
    if models is None:
        clips = load_hr_clips(root, max_frames=cfg.max_frames)
        train, _ = split_clips(clips)
        models = {k: train_sr(k, train, cfg, seed=int(ds.attrs["seed"]), progress=False).model for k in MODELS}
    source = inputs.get("recorded", inputs["bicubic"])
    for name, net in models.items():
        out = super_resolve(net, source.to(next(net.parameters()).device)).cpu()
        strip[f"{name} network"] = img(out[..., ys, xs])
    return strip


def plot_strip(strip: dict[str, np.ndarray], size: int = 220):
    """The crops of :func:`crop_strip` side by side (HoloViews RGB panels, 4 per row)."""
    import holoviews as hv

    return hv.Layout([hv.RGB(img, label=name).opts(width=size, height=size, xaxis=None, yaxis=None)
                      for name, img in strip.items()]).cols(4)
