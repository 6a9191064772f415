"""Study 03: SUDDS, detecting synthetic upscaling (report §3.2, Figure 4, Tables 3-5).

A detection dataset is written once from the corpus (:mod:`ai4m_kit.data.sudds`): the original HR
frames, and the clip's LR (recorded or bicubic, alternating by clip) upscaled by the four classical
upscalers and by the two SR networks of notebook 02 (same configuration, hence the same cached
networks). Clips are split into training and test clips, and a separate evaluation corpus (the
procedural clips of the sample) is never trained on. Per seed, one ResNet-18 backbone (from scratch,
no ImageNet weights offline) is trained end to end on the multiclass task, and every detector head
(the staircase x DCT x binary/multiclass ablation; one method only, Table 5; all but one method,
leave-one-out) is trained on its frozen block maps, which makes the many trainings affordable.
Table 3's full models (staircase + DCT, binary and multiclass) are trained end to end, as
``ai4m sudds train`` does. Baselines: the parameter-free DCT spectrum detector and a small
CNN trained from scratch. Accuracies are per frame (majority vote of its patches).
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
from ..train.sudds import SUDDSConfig, config_for

CLASSICAL = ("nearest", "bilinear", "bicubic", "lanczos3")
SR = ("sr-blind", "sr-real")
DETECTORS = ("sudds", "sudds-multiclass", "small-cnn", "dct-spectrum")
REPORT = {"table4": "staircase and DCT help most in the multiclass task",
          "table5": "a detector trained on one method misses methods it has not seen"}


def _sizes(profile: str) -> dict:
    return pick(profile, smoke=dict(seeds=(0,), sr_frames=4), demo=dict(seeds=(0, 1), sr_frames=8),
                paper=dict(seeds=(0, 1, 2), sr_frames=48))


def sr_upscalers(root: Path, profile: str, *, device: str = "cpu", progress: bool = True, cache: bool = True):
    """The two SR networks of notebook 02 (same data, split and configuration: cached there) as
    upscaler callables, with their cache keys."""
    from ..train.sr import config_for as sr_config, load_hr_clips, split_clips, super_resolve, train_sr

    cfg = sr_config(profile)
    clips = load_hr_clips(root, max_frames=max(cfg.max_frames, _sizes(profile)["sr_frames"]))
    train, _ = split_clips(clips)
    ups, keys = {}, {}
    for kind in ("blind", "real"):
        res = train_sr(kind, train, cfg, seed=0, device=device, progress=progress, cache=cache)
        net = res.model.eval()
        ups[f"sr-{kind}"] = lambda lr, net=net: super_resolve(net, lr)
        keys[f"sr-{kind}"] = res.path.stem if res.path is not None else f"{kind}:{asdict(cfg)}"
    return ups, keys


def dataset_root(corpus: Path, cfg: SUDDSConfig, methods: Sequence[str], keys: dict, lr_source: str) -> Path:
    """Cache folder of the detection dataset, keyed by the corpus files, the parameters and the library."""
    from ..data import find_clips
    from ..files import fingerprint
    from ..train.loop import cache_key, cache_root

    data = ",".join(fingerprint(p) for _, p, _ in find_clips(corpus))
    key = cache_key({"sudds-data": 1, "frames": cfg.frames, "methods": list(methods), "keys": keys,
                     "lr_source": lr_source, "scale": 2}, data)
    return cache_root().parent / "sudds" / f"data-{key}"


def _evaluation_clips(corpus: Path, clips: Sequence[str]) -> list[str]:
    """The sample's procedural clips (a content family never trained on), when the corpus is the sample."""
    from ..data import read_manifest

    try:
        rows = read_manifest(corpus)
    except Exception:  # noqa: BLE001 - not the sample: no separate evaluation corpus
        return []
    return sorted(r["clip"] for r in rows if str(r.get("source", "")).startswith("procedural") and r["clip"] in clips)


def _frame_pred(probs: torch.Tensor, ps) -> torch.Tensor:
    """Frame labels by majority vote of patch labels."""
    from ..models.sudds import aggregate_votes

    labels, _ = aggregate_votes(probs.argmax(1), ps.frame, probs.shape[1])
    return labels


def _per_method(frame_pred: torch.Tensor, ps, methods: Sequence[str], exact: bool) -> np.ndarray:
    """Frame accuracy per method: detection (called upscaled iff not original) or exact class."""
    true = ps.frame_label
    ok = (frame_pred == true) if exact else ((frame_pred > 0) == (true > 0))
    return np.array([float(ok[true == i].double().mean()) if bool((true == i).any()) else np.nan
                     for i in range(len(methods))])


def run(profile: str = "demo", corpus: str | os.PathLike | None = None, *, seeds: Sequence[int] | None = None,
        sr_networks: bool = True, eval_clips: Sequence[str] | None = None, lr_source: str = "mixed",
        checkpoint: str | None = None, device: str | None = None, progress: bool = True, cache: bool = True,
        config: SUDDSConfig | None = None) -> xr.Dataset:
    """Build the detection dataset, train every detector (cached), evaluate on held-out clips.

    Args:
        profile: ``smoke`` / ``demo`` / ``paper``.
        corpus: HR clips (BSC4K-style or frame folders / videos); default: the sample corpus (at ``paper``,
            whose 224-pixel patches need larger frames, its 3840x2160 procedural clips, with no evaluation split).
        seeds: seeds of the backbones and heads (default: the profile's).
        sr_networks: include the two SR networks of notebook 02 as upscaling methods.
        eval_clips: clips kept as a separate evaluation corpus (default for the sample: the procedural clips).
        lr_source: LR the upscalers start from: ``recorded``, ``synthetic`` or ``mixed``.
        checkpoint: a torchvision-layout ResNet-18 file (e.g. ImageNet weights, width 64) to start the backbone from.
        config: a :class:`~ai4m_kit.train.sudds.SUDDSConfig` instead of the profile's.

    Returns:
        Dataset with ``accuracy`` ``(detector, upscaler, split, seed)`` (Table 3), ``ablation``
        ``(task, staircase, dct, split, seed)`` (Table 4, balanced over methods), ``cross``
        ``(trained_on, upscaler, split, seed)`` (Table 5), ``lomo`` / ``lomo_seen`` ``(left_out, split, seed)``,
        ``confusion`` ``(true, predicted, seed)``, ``clip_accuracy`` ``(upscaler, wclip, seed)`` (full binary
        model per test clip) and the patch-vote data of the widget (``wclip``: the test clips).
    """
    from tqdm.auto import tqdm

    from ..data import ensure_sample
    from ..data.sudds import DetectionDataset, build_dataset, extract_patches, split_by_clip
    from ..models.sudds import DCTSpectrumDetector
    from ..train.loop import cache_key, cache_root
    from ..train.sudds import (block_maps, build_detector, predict, predict_blocks, targets, train_end_to_end,
                               train_head, train_small_cnn)

    profile = resolve_profile(profile)
    sizes = _sizes(profile)
    cfg = config or config_for(profile)
    seeds = tuple(seeds if seeds is not None else sizes["seeds"])
    device = device or "cpu"
    if corpus is not None:
        root = Path(corpus)
    elif cfg.patch > 216:  # the proxy sample's 384x216 frames hold no such patch: the true-4K procedural clips
        from ..data import default_sample_root

        uhd = default_sample_root()
        root = ensure_sample(uhd.with_name(uhd.name + "-uhd"), profile=profile, seed=0, size="uhd")
        eval_clips = [] if eval_clips is None else eval_clips
    else:
        root = ensure_sample(profile=profile, seed=0)
    upscalers: dict = {m: m for m in CLASSICAL}
    keys: dict = {}
    if sr_networks:
        ups, keys = sr_upscalers(root, profile, device=device, progress=progress, cache=cache)
        upscalers.update(ups)
    data_root = dataset_root(root, cfg, list(upscalers), keys, lr_source)
    from ..files import fingerprint

    ckpt_key = fingerprint(checkpoint) if checkpoint else None  # a replaced checkpoint file retrains
    result = None
    if cache:
        key = cache_key({"study": "sudds", "v": 4, "cfg": asdict(cfg), "seeds": list(seeds), "eval": list(eval_clips or []),
                         "checkpoint": ckpt_key}, data_root.name)
        result = cache_root().parent / "studies" / f"sudds-{key}.nc"
        if result.is_file():
            with xr.open_dataset(result, engine="scipy") as cached:
                return cached.load()
    build_dataset(root, data_root, upscalers, frames=cfg.frames, lr_source=lr_source, progress=progress)
    dset = DetectionDataset(data_root)
    methods = dset.methods
    ev = list(eval_clips) if eval_clips is not None else _evaluation_clips(root, dset.clips)
    split = split_by_clip(dset.clips, evaluation=ev)
    splits = ["test"] + (["evaluation"] if split["evaluation"] else [])
    pk = dict(patch=cfg.patch, k=cfg.k, frames=cfg.frames, dct_bands=cfg.dct_bands)
    ps = {s: extract_patches(dset, split[s], **pk) for s in ["train", *splits]}
    tr = ps["train"]
    dkey = f"{data_root.name}:{','.join(split['train'])}:{cfg.patch}:{cfg.k}"
    up = [m for m in methods if m != "original"]
    n_m, n_s, n_seed = len(methods), len(splits), len(seeds)
    acc = np.full((len(DETECTORS), n_m, n_s, n_seed), np.nan)
    abl = np.full((2, 2, 2, n_s, n_seed), np.nan)
    cross = np.full((len(up), n_m, n_s, n_seed), np.nan)
    lomo = np.full((len(up), n_s, n_seed), np.nan)
    lomo_seen = np.full_like(lomo, np.nan)
    conf = np.zeros((n_m, n_m, n_seed))
    wclips = split["test"]
    wcorner = np.zeros((n_m, len(wclips), cfg.k, 2), dtype=np.int64)
    wprob = np.full((n_m, len(wclips), cfg.k), np.nan)
    clip_acc = np.full((n_m, len(wclips), n_seed), np.nan)

    # Parameter-free baseline: one threshold on training frames (seed-independent).
    dct_det = DCTSpectrumDetector().fit(tr.dct, tr.frame_label > 0)
    for si, s in enumerate(splits):
        pred = dct_det.predict(ps[s].dct)
        acc[3, :, si, :] = _per_method(pred, ps[s], methods, exact=False)[:, None]
    runs = tqdm(seeds, desc="seeds", disable=not progress)
    for j, seed in enumerate(runs):
        yb, nb = targets(tr.label, True)
        ym, nm = targets(tr.label, False)
        pdct = {s: ps[s].dct[ps[s].frame] for s in ps}
        e2e = build_detector(cfg, nm, staircase=False, dct=False, seed=seed, checkpoint=checkpoint)
        train_end_to_end(e2e, tr.patches, ym, None, steps=cfg.backbone_steps, batch=cfg.batch, lr=cfg.lr, seed=seed,
                         key_config={"checkpoint": ckpt_key}, data_key=dkey, cache=cache, progress=progress,
                         desc=f"backbone seed {seed}")
        backbone = e2e.backbone.eval()
        blocks = {s: block_maps(e2e, ps[s].patches) for s in ps}

        def head(labels, classes, stair, use_dct, keep=None, tag=""):
            idx = slice(None) if keep is None else keep
            b = [x[idx] for x in blocks["train"]]
            return train_head(backbone, b, labels[idx], pdct["train"][idx], cfg, classes=classes, staircase=stair,
                              use_dct=use_dct, seed=seed, data_key=f"{dkey}:{tag}", cache=cache, progress=False)

        def frames_of(model, s):
            return _frame_pred(predict_blocks(model, blocks[s], pdct[s]), ps[s])

        for ti, binary in enumerate((True, False)):
            y, n = (yb, nb) if binary else (ym, nm)
            for a, stair in enumerate((False, True)):
                for b, use_dct in enumerate((False, True)):
                    model = head(y, n, stair, use_dct, tag=f"t4:{binary}")
                    for si, s in enumerate(splits):
                        fp = frames_of(model, s)
                        pm = _per_method(fp, ps[s], methods, exact=not binary)
                        abl[ti, a, b, si, j] = np.nanmean(pm)
        # Table 3 and the widget: the full models (staircase + DCT), trained end to end (as `ai4m sudds train`).
        for ti, binary in enumerate((True, False)):
            y, n = (yb, nb) if binary else (ym, nm)
            full = build_detector(cfg, n, staircase=True, dct=True, seed=seed, checkpoint=checkpoint)
            train_end_to_end(full, tr.patches, y, pdct["train"], steps=cfg.full_steps, batch=cfg.batch,
                             lr=cfg.lr, seed=seed, key_config={"full": asdict(cfg), "checkpoint": ckpt_key},
                             data_key=dkey, cache=cache, progress=progress,
                             desc=f"full {'binary' if binary else 'multiclass'} seed {seed}")
            for si, s in enumerate(splits):
                probs = predict(full, ps[s].patches, pdct[s])
                fp = _frame_pred(probs, ps[s])
                acc[0 if binary else 1, :, si, j] = _per_method(fp, ps[s], methods, exact=False)
                if s != "test":
                    continue
                if not binary:
                    np.add.at(conf[:, :, j], (ps[s].frame_label.numpy(), fp.numpy()), 1)
                    continue
                ok = (fp > 0) == (ps[s].frame_label > 0)
                for mi, m in enumerate(methods):
                    for ci, c in enumerate(wclips):
                        sel_f = torch.tensor([fm == m and fc == c for fm, fc in zip(ps[s].frame_method, ps[s].frame_clip)])
                        clip_acc[mi, ci, j] = float(ok[sel_f].double().mean())
                        if j == 0:
                            f = [i for i in range(len(ps[s].frame_method)) if ps[s].frame_method[i] == m
                                 and ps[s].frame_clip[i] == c and ps[s].frame_index[i] == 0]
                            sel = (ps[s].frame == f[0]).nonzero().flatten()
                            wcorner[mi, ci, :len(sel)] = ps[s].corner[sel].numpy()
                            wprob[mi, ci, :len(sel)] = probs[sel, 1].numpy()
        for ui, m in enumerate(up):  # Table 5: original vs one method
            keep = (tr.label == 0) | (tr.label == methods.index(m))
            model = head(yb, 2, True, True, keep=keep, tag=f"t5:{m}")
            for si, s in enumerate(splits):
                cross[ui, :, si, j] = _per_method(frames_of(model, s), ps[s], methods, exact=False)
        for ui, m in enumerate(up):  # leave one method out
            keep = tr.label != methods.index(m)
            model = head(yb, 2, True, True, keep=keep, tag=f"lomo:{m}")
            for si, s in enumerate(splits):
                pm = _per_method(frames_of(model, s), ps[s], methods, exact=False)
                lomo[ui, si, j] = pm[methods.index(m)]
                seen = [i for i in range(n_m) if i != methods.index(m)]
                lomo_seen[ui, si, j] = np.nanmean(pm[seen])
        cnn = train_small_cnn(tr.patches, yb, cfg, classes=2, seed=seed, data_key=dkey, cache=cache, progress=progress)
        for si, s in enumerate(splits):
            fp = _frame_pred(predict(cnn.model, ps[s].patches), ps[s])
            acc[2, :, si, j] = _per_method(fp, ps[s], methods, exact=False)
    trained = np.array([m in methods for m in methods])  # every method of the dataset is in training
    ds = xr.Dataset(
        {"accuracy": (("detector", "upscaler", "split", "seed"), acc),
         "ablation": (("task", "staircase", "dct", "split", "seed"), abl),
         "cross": (("trained_on", "upscaler", "split", "seed"), cross),
         "lomo": (("left_out", "split", "seed"), lomo),
         "lomo_seen": (("left_out", "split", "seed"), lomo_seen),
         "confusion": (("true", "predicted", "seed"), conf),
         "clip_accuracy": (("upscaler", "wclip", "seed"), clip_acc),
         "widget_corner": (("upscaler", "wclip", "patch", "yx"), wcorner),
         "widget_prob": (("upscaler", "wclip", "patch"), wprob)},
        coords={"detector": list(DETECTORS), "upscaler": methods, "split": splits, "seed": list(seeds),
                "task": ["binary", "multiclass"], "staircase": [False, True], "dct": [False, True],
                "trained_on": up, "left_out": up, "true": methods, "predicted": methods, "wclip": wclips,
                "patch": np.arange(cfg.k), "yx": ["y", "x"], "seen_in_training": ("upscaler", trained)})
    ds["accuracy"].attrs["long_name"] = "frame accuracy (patch majority vote): original called original, upscaled called upscaled"
    ds["ablation"].attrs["long_name"] = ("balanced frame accuracy (mean over methods); binary: detection, "
                                         "multiclass: exact method")
    ds.attrs.update(profile=profile, corpus=str(root), dataset_root=str(data_root), config=str(asdict(cfg)),
                    train_clips=",".join(split["train"]), test_clips=",".join(split["test"]),
                    evaluation_clips=",".join(split["evaluation"]), patch=cfg.patch, k=cfg.k, width=cfg.width,
                    initialisation=f"torchvision checkpoint {checkpoint}" if checkpoint else "from scratch (no ImageNet weights offline)",
                    regime="Table 3 full models (staircase + DCT + MLP) trained end to end per seed; for the ablation, "
                           "Table 5 and leave-one-out, a backbone trained end to end once per seed (multiclass, all "
                           "training methods) and heads (staircase / DCT / MLP) trained on its frozen block maps",
                    dct_threshold=float(dct_det.threshold), device=str(device),
                    train_patches=int(len(tr.label)), frames_per_clip=cfg.frames)
    if result is not None:
        from ..files import atomic_path

        with atomic_path(result) as tmp:
            ds.to_netcdf(tmp, engine="scipy")
    return ds


def _pm(x: xr.DataArray) -> str:
    m, s = float(x.mean("seed")), float(x.std("seed"))
    return f"{100 * m:.1f} ± {100 * s:.1f}"


def table3(ds: xr.Dataset, split: str = "test"):
    """Frame accuracy (%) per upscaling method for each detector, mean ± std over seeds."""
    import pandas as pd

    rows = {}
    for d in ds.detector.values:
        rows[str(d)] = {f"{u}{'' if u == 'original' else ' (seen)'}": _pm(ds.accuracy.sel(detector=d, upscaler=u, split=split))
                        for u in ds.upscaler.values}
    return pd.DataFrame(rows).T


def table4(ds: xr.Dataset, split: str = "test"):
    """Balanced frame accuracy (%) of the staircase x DCT x binary/multiclass ablation."""
    import pandas as pd

    rows = []
    for t in ds.task.values:
        for st in (False, True):
            for d in (False, True):
                rows.append({"task": str(t), "staircase": st, "DCT": d,
                             "accuracy %": _pm(ds.ablation.sel(task=t, staircase=st, dct=d, split=split))})
    return pd.DataFrame(rows).set_index(["task", "staircase", "DCT"])


def table5(ds: xr.Dataset, split: str = "test"):
    """Binary detector trained on original vs one method (rows), frame accuracy on each method (columns)."""
    import pandas as pd

    return pd.DataFrame({str(u): [_pm(ds.cross.sel(trained_on=t, upscaler=u, split=split)) for t in ds.trained_on.values]
                         for u in ds.upscaler.values}, index=[f"trained on {t}" for t in ds.trained_on.values])


def lomo_table(ds: xr.Dataset, split: str = "test"):
    """Leave-one-method-out: detection rate of the unseen method and accuracy on the seen ones."""
    import pandas as pd

    return pd.DataFrame({"unseen method detected %": [_pm(ds.lomo.sel(left_out=m, split=split)) for m in ds.left_out.values],
                         "seen methods + original %": [_pm(ds.lomo_seen.sel(left_out=m, split=split)) for m in ds.left_out.values]},
                        index=[str(m) for m in ds.left_out.values])


def plot_confusion(ds: xr.Dataset):
    """Confusion matrix of the full multiclass detector on the test clips (frames, summed over seeds)."""
    import holoviews as hv

    c = ds.confusion.sum("seed")
    c = c / c.sum("predicted").clip(min=1)
    data = [(str(p), str(t), float(c.sel(true=t, predicted=p))) for t in ds.true.values for p in ds.predicted.values]
    return hv.HeatMap(data, ["predicted", "true"], "fraction").opts(
        cmap="Blues", colorbar=True, width=520, height=420, xrotation=45, tools=["hover"],
        title="multiclass SUDDS (staircase + DCT): fraction of each true method's frames")


def plot_patches(ds: xr.Dataset):
    """Widget: pick a test clip and a method; the first frame with its GLCM-selected patches, each
    coloured by its vote (green original, red upscaled) of the full binary detector, seed 0."""
    import holoviews as hv

    from ..data import open_clip

    root = Path(ds.attrs["dataset_root"])
    p = int(ds.attrs["patch"])

    def panel(clip, upscaler):
        rgb = open_clip(root / upscaler / clip).read(0).permute(1, 2, 0).numpy()
        h, w = rgb.shape[:2]
        step = -(-w // 960)  # keep the embedded image small (4K frames at paper)
        img = hv.RGB(rgb[::step, ::step], bounds=(0, 0, w, h)).opts(width=min(w, 640), height=int(min(w, 640) * h / w), xaxis=None,
                                                    yaxis=None)
        boxes = []
        for k in range(ds.sizes["patch"]):
            prob = float(ds.widget_prob.sel(upscaler=upscaler, wclip=clip).values[k])
            if not np.isfinite(prob):
                continue
            y, x = ds.widget_corner.sel(upscaler=upscaler, wclip=clip).values[k]
            boxes.append(hv.Bounds((x, h - y - p, x + p, h - y)).opts(color="red" if prob > 0.5 else "lime", line_width=2))
        votes = np.nanmean(ds.widget_prob.sel(upscaler=upscaler, wclip=clip).values > 0.5)
        return hv.Overlay([img, *boxes]).opts(title=f"{clip} / {upscaler}: {100 * votes:.0f} % of patches vote upscaled")

    keys = {(str(c), str(u)): panel(str(c), str(u)) for c in ds.wclip.values for u in ds.upscaler.values}
    return hv.HoloMap(keys, kdims=["clip", "upscaler"])


def conclusion(ds: xr.Dataset) -> str:
    """Which of the report's findings hold in this run (test clips; evaluation corpus where present)."""
    sp = "test"
    n = ds.sizes["seed"]
    classical = [u for u in CLASSICAL if u in ds.upscaler.values]
    full = ds.accuracy.sel(detector="sudds", split=sp)
    cls_acc = full.sel(upscaler=["original", *classical]).mean("upscaler")
    parts = [f"{n} seed(s), {ds.attrs['train_patches']} training patches of {ds.attrs['patch']} px, backbone "
             f"{ds.attrs['initialisation']}, width {ds.attrs['width']}."]
    ok = float(cls_acc.mean()) >= 0.9
    parts.append(f"Full binary SUDDS separates original from the classical upscalers on held-out clips with accuracy "
                 f"{_pm(cls_acc)} % (target ≥ 90 %): {'reproduced' if ok else 'not reproduced'}.")
    orig = ds.clip_accuracy.sel(upscaler="original").mean("seed")
    missed = [f"{c} ({100 * float(orig.sel(wclip=c)):.0f} %)" for c in ds.wclip.values if float(orig.sel(wclip=c)) < 0.5]
    if missed:
        parts.append(f"Test clips whose original frames are mostly called upscaled: {', '.join(missed)}"
                     " (a soft or defocused original carries no more detail than an upscaled one).")
    if "evaluation" in ds.split.values:
        ev = ds.accuracy.sel(detector="sudds", split="evaluation").sel(upscaler=["original", *classical]).mean("upscaler")
        parts.append(f"On the separate evaluation corpus (clips {ds.attrs['evaluation_clips']}): {_pm(ev)} %.")
    bal = {d: ds.accuracy.sel(detector=d, split=sp).mean("upscaler") for d in ds.detector.values}
    best_base = max(float(bal["small-cnn"].mean()), float(bal["dct-spectrum"].mean()))
    parts.append(f"SUDDS above both baselines (balanced accuracy {_pm(bal['sudds'])} % vs small CNN "
                 f"{_pm(bal['small-cnn'])} %, DCT spectrum {_pm(bal['dct-spectrum'])} %): "
                 f"{'reproduced' if float(bal['sudds'].mean()) > best_base else 'not reproduced'}.")
    ab = ds.ablation.sel(split=sp).mean("seed")
    for task in ("multiclass", "binary"):
        base = float(ab.sel(task=task, staircase=False, dct=False))
        fullv = float(ab.sel(task=task, staircase=True, dct=True))
        spread = float(ds.ablation.sel(split=sp, task=task).std("seed").max()) if n > 1 else float("nan")
        helps = fullv > base + (0 if not np.isfinite(spread) else spread)
        parts.append(f"Staircase + DCT help in the {task} task (Table 4; {100 * base:.1f} → {100 * fullv:.1f} %, "
                     f"largest seed std {100 * spread:.1f}): {'reproduced' if helps else 'not reproduced'}"
                     f"{' (report: yes)' if task == 'multiclass' else ''}.")
    c = ds.cross.sel(split=sp).mean("seed")
    diag = np.mean([float(c.sel(trained_on=t, upscaler=t)) for t in ds.trained_on.values])
    off = np.mean([float(c.sel(trained_on=t, upscaler=u)) for t in ds.trained_on.values for u in ds.trained_on.values
                   if u != t])
    parts.append(f"A detector trained on one method misses unseen methods (Table 5: seen {100 * diag:.1f} % vs unseen "
                 f"{100 * off:.1f} %): {'reproduced' if off < diag - 0.05 else 'not reproduced'}.")
    lo = ds.lomo.sel(split=sp).mean("seed")
    worst = str(lo.idxmin().item())
    parts.append(f"Leave-one-method-out: unseen methods detected at {100 * float(lo.mean()):.1f} % on average, "
                 f"worst {worst} at {100 * float(lo.min()):.1f} %. Caveat: the shared backbone saw every training "
                 "method, so Table 5 and leave-one-out measure the heads' generalisation only.")
    return " ".join(parts)


def clip_table(ds: xr.Dataset):
    """Frame accuracy (%) of the full binary detector per test clip and method (mean ± std over seeds)."""
    import pandas as pd

    return pd.DataFrame({str(u): [_pm(ds.clip_accuracy.sel(upscaler=u, wclip=c)) for c in ds.wclip.values]
                         for u in ds.upscaler.values}, index=[str(c) for c in ds.wclip.values])
