"""Study 05: whitening for self-supervised learning, W-MSE against SimCLR and BYOL (report §4.1).

Table 7 analogue: the same encoder trained by W-MSE with 2 and 4 positives, SimCLR, BYOL, the
no-whitening control (W-MSE's loss without whitening) and left at its random initialisation,
evaluated by a linear probe and 5-NN on frozen features, over several seeds. Training curves and
collapse diagnostics (effective rank and per-dimension spread of the embeddings) show what
whitening prevents. Table 10 analogue: the contrastive loss on whitened features, with and without
L2 normalisation, trained until it diverges (divergence is recorded and shown, not hidden).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import xarray as xr

from ..profiles import pick, resolve_profile
from ..train.ssl import METHODS, SSLConfig, config_for, embeddings, evaluate, features, train_ssl

TABLE7 = ("random", "nowhite", "simclr", "byol", "wmse2", "wmse4")
TABLE10 = ("contrastive-white-l2", "contrastive-white")
REPORT = {"wmse4": {"linear": 91.99, "knn": 89.87}}  # CIFAR-10, the report's best


def _sizes(profile: str) -> dict:
    return pick(profile, smoke=dict(seeds=(0,), table10_steps=10, umap=("wmse2", "nowhite")),
                demo=dict(seeds=(0, 1), table10_steps=100, umap=TABLE7),
                paper=dict(seeds=(0, 1, 2), table10_steps=2000, umap=TABLE7))


def load_images(dataset: str | os.PathLike, seed: int = 0):
    """Train and test :class:`~ai4m_kit.data.images.ImageSet` of an offline set name or a folder
    in a standard layout (CIFAR pickles, STL-10 binaries, Tiny ImageNet, ImageFolder)."""
    from ..data import images as im

    if isinstance(dataset, str) and dataset in im.DATASETS:
        return im.load_dataset(dataset, split="train", seed=seed), im.load_dataset(dataset, split="test", seed=seed)
    path = Path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"dataset {dataset!r}: neither an offline set ({', '.join(im.DATASETS)}) "
                                "nor an existing folder")
    return im.load_folder(path, split="train"), im.load_folder(path, split="test")


def run(profile: str = "demo", dataset: str | os.PathLike = "mnist5k", *, methods: Sequence[str] = TABLE7,
        seeds: Sequence[int] | None = None, device: str | None = None, progress: bool = True, cache: bool = True,
        ssl_config: SSLConfig | None = None) -> xr.Dataset:
    """Train and evaluate every method (cached); returns accuracies, curves and diagnostics.

    Returns:
        Dataset with ``accuracy`` ``(algorithm, seed, probe)`` (dims named ``algorithm``, not
        ``method``, which xarray's ``sel`` reserves) (probe: linear, knn), ``loss``
        ``(algorithm, seed, step)``, ``effective_rank`` ``(algorithm, seed, step)`` (NaN between
        diagnoses), ``test_effective_rank`` / ``test_mean_std`` / ``collapsed`` ``(method, seed)`` on
        the test set's encoder features, ``embedding`` ``(method, sample, axis)`` (UMAP of the test
        features of the first seed), Table 10's ``t10_loss`` ``(variant, t10_step)`` and
        ``t10_diverged_at`` ``(variant,)`` (-1: never).
    """
    from tqdm.auto import tqdm

    from ..files import fingerprint
    from ..ssl import collapse_diagnostics
    from ..viz import umap_embedding

    profile = resolve_profile(profile)
    sizes = _sizes(profile)
    seeds = tuple(seeds if seeds is not None else sizes["seeds"])
    cfg = ssl_config or config_for(profile)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"methods {bad} unknown; have {METHODS}")
    train, test = load_images(dataset)
    data_key = f"{train.name}:{len(train)}:{int(train.images.float().sum())}:{int(train.labels.sum())}"
    if not isinstance(dataset, str) or Path(dataset).exists():
        data_key += fingerprint(dataset)
    result = None
    if cache:  # the whole result, so that a rerun skips evaluation and UMAP too
        from ..train import cache_key, cache_root
        from ..train.ssl import RECIPE_VERSION

        key = cache_key({"study": "wmse", "recipe_version": RECIPE_VERSION, "cfg": asdict(cfg), "methods": list(methods),
                         "seeds": list(seeds), "device": str(device), **{k: list(v) if isinstance(v, tuple) else v
                                                                          for k, v in sizes.items()}}, data_key)
        result = cache_root().parent / "studies" / f"wmse-{key}.nc"
        if result.is_file():
            with xr.open_dataset(result, engine="scipy") as cached:
                return cached.load()
    acc = np.full((len(methods), len(seeds), 2), np.nan)
    loss = np.full((len(methods), len(seeds), cfg.steps), np.nan)
    rank = np.full_like(loss, np.nan)
    test_rank = np.full((len(methods), len(seeds)), np.nan)
    test_std = np.full_like(test_rank, np.nan)
    embed = np.full((len(methods), len(test), 2), np.nan)
    seconds = {}
    runs = [(i, m, j, s) for i, m in enumerate(methods) for j, s in enumerate(seeds)]
    for i, m, j, s in tqdm(runs, desc="methods x seeds", disable=not progress):
        res = train_ssl(m, train.images, cfg, seed=s, data_key=data_key, device=device, progress=False, cache=cache)
        seconds[f"{m}/{s}"] = res.seconds
        for k, h in enumerate(res.history):
            loss[i, j, k] = h["loss"]
            rank[i, j, k] = h.get("effective_rank", np.nan)
        ev = evaluate(res.model, train.images, train.labels, test.images, test.labels)
        acc[i, j] = ev["linear"], ev["knn"]
        feats = features(res.model, test.images)
        diag = collapse_diagnostics(embeddings(res.model, test.images))
        test_rank[i, j], test_std[i, j] = diag["effective_rank"], diag["mean_std"]
        if j == 0 and m in sizes["umap"]:
            embed[i] = umap_embedding(feats.numpy(), seed=s)
    t10_steps = sizes["table10_steps"]
    t10_cfg = SSLConfig(**{**asdict(cfg), "steps": t10_steps})
    t10_loss = np.full((len(TABLE10), t10_steps), np.nan)
    t10_div = []
    for v, variant in enumerate(TABLE10):
        res = train_ssl(variant, train.images, t10_cfg, seed=seeds[0], data_key=data_key, device=device,
                        progress=False, cache=cache)
        for k, h in enumerate(res.history):
            t10_loss[v, k] = h["loss"]
        t10_div.append(-1 if res.diverged_at is None else res.diverged_at)
    ds = xr.Dataset(
        {"accuracy": (("algorithm", "seed", "probe"), acc),
         "loss": (("algorithm", "seed", "step"), loss),
         "effective_rank": (("algorithm", "seed", "step"), rank),
         "test_effective_rank": (("algorithm", "seed"), test_rank),
         "test_mean_std": (("algorithm", "seed"), test_std),
         "embedding": (("algorithm", "sample", "axis"), embed),
         "t10_loss": (("variant", "t10_step"), t10_loss),
         "t10_diverged_at": (("variant",), np.asarray(t10_div))},
        coords={"algorithm": list(methods), "seed": list(seeds), "probe": ["linear", "knn"],
                "step": np.arange(cfg.steps), "sample": np.arange(len(test)), "axis": ["x", "y"],
                "label": ("sample", test.labels.numpy()), "variant": list(TABLE10), "t10_step": np.arange(t10_steps)})
    ds["accuracy"].attrs.update(long_name="top-1 accuracy on the test split, frozen encoder features",
                                probes="linear: logistic regression on standardised features; knn: 5-NN, Euclidean")
    ds["test_effective_rank"].attrs["long_name"] = "effective rank of the test-set embeddings (projector outputs; Roy & Vetterli)"
    ds["test_mean_std"].attrs["long_name"] = "mean per-dimension std of L2-normalised embeddings (1/sqrt(D) if spread)"
    ds.attrs.update(profile=profile, dataset=train.name, source=train.source, device=str(device),
                    ssl_config=str(asdict(cfg)), feature_dim=int(4 * cfg.width), embedding_dim=int(cfg.emb),
                    train_images=len(train), test_images=len(test),
                    training_seconds=round(float(sum(seconds.values())), 1))
    if result is not None:
        from ..files import atomic_path

        with atomic_path(result) as tmp:
            ds.to_netcdf(tmp, engine="scipy")
    return ds


def table7(ds: xr.Dataset):
    """Mean ± std over seeds of linear and 5-NN accuracy (%) per method, with the collapse
    diagnostics of the test-set embeddings (projector outputs, D = the embedding size)."""
    import pandas as pd

    rows = []
    for m in ds.algorithm.values:
        a = ds.accuracy.sel(algorithm=m) * 100
        rows.append({"method": str(m),
                     "linear %": f"{float(a.sel(probe='linear').mean()):.2f} ± {float(a.sel(probe='linear').std()):.2f}",
                     "5-NN %": f"{float(a.sel(probe='knn').mean()):.2f} ± {float(a.sel(probe='knn').std()):.2f}",
                     "embedding effective rank": f"{float(ds.test_effective_rank.sel(algorithm=m).mean()):.1f} / {ds.attrs['embedding_dim']}",
                     "mean std x sqrt(D)": f"{float(ds.test_mean_std.sel(algorithm=m).mean()) * np.sqrt(ds.attrs['embedding_dim']):.2f}"})
    return pd.DataFrame(rows).set_index("method")


def collapsed(ds: xr.Dataset, method: str) -> bool:
    """Collapse of a method's test features by the rule of :func:`ai4m_kit.ssl.collapse_diagnostics`
    (mean std below 0.1/sqrt(D), or effective rank below max(2, 1 % of D)), in every seed."""
    d = ds.attrs["embedding_dim"]
    std = ds.test_mean_std.sel(algorithm=method).values
    rank = ds.test_effective_rank.sel(algorithm=method).values
    return bool(np.all((std < 0.1 / np.sqrt(d)) | (rank < max(2.0, 0.01 * d))))


def conclusion(ds: xr.Dataset) -> str:
    """Which of the report's findings hold in this run."""
    lin = ds.accuracy.sel(probe="linear").mean("seed") * 100
    knn = ds.accuracy.sel(probe="knn").mean("seed") * 100
    spread = ds.accuracy.sel(probe="linear").std("seed") * 100
    methods = [str(m) for m in ds.algorithm.values]
    ssl = [m for m in methods if m not in ("random", "nowhite")]
    parts = [f"On {ds.attrs['dataset']} ({ds.attrs['train_images']} training images, {ds.sizes['seed']} seed(s)):"]
    if "random" in methods:
        gains = ", ".join(f"{m} {float(lin.sel(algorithm=m) - lin.sel(algorithm='random')):+.1f} "
                          f"(± {float(spread.sel(algorithm=m)):.1f})" for m in ssl)
        above = all(float(lin.sel(algorithm=m)) > float(lin.sel(algorithm="random")) for m in ssl)
        parts.append(f"linear accuracy against the random-init encoder ({float(lin.sel(algorithm='random')):.1f} %): "
                     f"{gains} points; every SSL method above it: {'reproduced' if above else 'not reproduced'}.")
    if "wmse4" in methods and len(ssl) > 1:
        best_lin, best_knn = str(lin.sel(algorithm=ssl).idxmax().item()), str(knn.sel(algorithm=ssl).idxmax().item())
        ok = best_lin == "wmse4" and best_knn == "wmse4"
        parts.append(f"W-MSE 4 best by linear and 5-NN (report, CIFAR-10: {REPORT['wmse4']['linear']} / "
                     f"{REPORT['wmse4']['knn']}): {'reproduced' if ok else 'not reproduced'} (best here: linear "
                     f"{best_lin} {float(lin.max()):.1f} %, 5-NN {best_knn} {float(knn.sel(algorithm=ssl).max()):.1f} %).")
    if "nowhite" in methods and "wmse2" in methods:
        c_now, c_w = collapsed(ds, "nowhite"), collapsed(ds, "wmse2")
        parts.append(f"Without whitening the embedding collapses and with whitening it does not: "
                     f"{'reproduced' if c_now and not c_w else 'not reproduced'} (effective rank of the test embeddings: "
                     f"no whitening {float(ds.test_effective_rank.sel(algorithm='nowhite').mean()):.1f}, W-MSE 2 "
                     f"{float(ds.test_effective_rank.sel(algorithm='wmse2').mean()):.1f} of {ds.attrs['embedding_dim']}).")
    div = {str(v): int(ds.t10_diverged_at.sel(variant=v)) for v in ds.variant.values}
    steps = ds.sizes["t10_step"]
    said = "; ".join(f"{v}: " + (f"diverged at step {s}" if s >= 0 else f"finite for all {steps} steps")
                     for v, s in div.items())
    parts.append(f"Contrastive loss on whitened features diverges (report, Table 10): "
                 f"{'reproduced' if all(s >= 0 for s in div.values()) else 'not reproduced'} ({said}).")
    return " ".join(parts)


def plot_curves(ds: xr.Dataset):
    """Training loss and the effective rank of the batch features during training, per method."""
    import holoviews as hv

    loss, rank = [], []
    for m in ds.algorithm.values:
        if m == "random":
            continue
        l = ds.loss.sel(algorithm=m).mean("seed").values
        r = ds.effective_rank.sel(algorithm=m).mean("seed").values
        steps = ds.step.values
        loss.append(hv.Curve((steps, l), "step", "loss", label=str(m)))
        ok = np.isfinite(r)
        rank.append(hv.Curve((steps[ok], r[ok]), "step", "effective rank", label=str(m)))
    return (hv.Overlay(loss).opts(title="training loss (mean over seeds)", logy=False, legend_position="right") +
            hv.Overlay(rank).opts(title="effective rank of the batch embeddings", legend_position="right")).cols(1)


def plot_table10(ds: xr.Dataset):
    """The contrastive loss on whitened features over training, with the divergence marked."""
    import holoviews as hv

    curves = []
    for v in ds.variant.values:
        y = ds.t10_loss.sel(variant=v).values
        x = ds.t10_step.values
        ok = np.isfinite(y)
        curves.append(hv.Curve((x[ok], y[ok]), "step", "loss", label=str(v)))
        at = int(ds.t10_diverged_at.sel(variant=v))
        if at >= 0:
            curves.append(hv.VLine(at).opts(color="red", line_dash="dashed"))
    return hv.Overlay(curves).opts(title="Table 10: contrastive loss on whitened features (red: non-finite loss)",
                                   legend_position="right")


def plot_embedding(ds: xr.Dataset):
    """UMAP of the test features of each method (first seed), coloured by class."""
    import holoviews as hv

    panels = []
    for m in ds.algorithm.values:
        e = ds.embedding.sel(algorithm=m).values
        if not np.isfinite(e).all():
            continue
        panels.append(hv.Scatter({"x": e[:, 0], "y": e[:, 1], "label": ds.label.values.astype(str)}, "x",
                                 ["y", "label"]).opts(color="label", cmap="Category10", size=3, width=300,
                                                      height=280, title=str(m), xaxis=None, yaxis=None,
                                                      show_legend=False, tools=["hover"]))
    return hv.Layout(panels).cols(3)
