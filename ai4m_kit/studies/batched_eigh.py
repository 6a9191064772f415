"""Study 08: batched eigendecomposition of many small symmetric matrices (report §5.2).

``run`` measures, on the device it runs on, the time of every method against
``torch.linalg.eigh`` versus the batch size (4×4 matrices) and versus the matrix size (batch 512),
the reconstruction and orthogonality errors on adversarial batches, and the ``"auto"`` decision
map (Figures 12–13 analogues). ``run_deflation`` shows what a deflation window shared by the
whole batch does to the errors (the flaw of the published batched QR). ``run_dbn`` trains a small
classifier with decorrelated batch normalisation per eigensolver (Table 18 analogue);
``run_style_transfer`` does whitening-and-colouring style transfer between two scikit-image
photographs with channel groups (Table 20 analogue). ``plot`` turns the results into HoloViews
objects.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..bench.eigh import DTYPES, GPU_TARGET, GPU_TARGET_MAX_N, GPU_TARGET_MIN_BATCH, SOLVER_TARGETS
from ..linalg.matrices import adversarial_batch, decomposition_errors, random_symmetric
from ..profiles import pick, resolve_profile
from ..timing import interleaved_medians, set_threads
from .batched_eigh_ablations import (DEFLATION_SOLVERS, deflation_report, plot_deflation, plot_precision,
                                     precision_report, run_deflation, run_precision)
from .batched_eigh_applications import DBN_CONFIGS, load_photos, plot_images, run_dbn, run_style_transfer

METHODS = ("torch", "qr", "jacobi", "auto")  # and "triton" on CUDA with triton installed (methods_for)


def methods_for(device) -> tuple[str, ...]:
    """The methods the study times on a device: ``METHODS``, plus ``"triton"`` where ``"auto"``
    considers it (CUDA with the triton package)."""
    from ..linalg import eigh_auto

    return METHODS + (("triton",) if "triton" in eigh_auto.candidates(device) else ())


def _solvers(ds: xr.Dataset) -> list[str]:
    return [str(m) for m in ds.method.values if m not in ("torch", "auto")]


def time_point(
    A: torch.Tensor, methods=METHODS, *, repeats: int = 3, max_call_s: float = 2.0, device=None
) -> dict[str, float]:
    """Median seconds of ``eigh(A, method)`` per method, interleaved in the same rounds; ``"torch"``
    is ``torch.linalg.eigh`` itself. The first call of each is a warm-up; a method whose first
    call takes longer than ``max_call_s`` is not called again and that call's time is reported."""
    from ..linalg.eigh import eigh

    calls = {m: ((lambda: torch.linalg.eigh(A)) if m == "torch" else (lambda m=m: eigh(A, m))) for m in methods}
    # The first call doubles as warm-up; a slow method is not called again.
    out = interleaved_medians(calls, repeats=1, warmup=0, device=device)
    fast = {m: f for m, f in calls.items() if out[m] <= max_call_s}
    if fast:
        out.update(interleaved_medians(fast, repeats=repeats, warmup=0, device=device, min_time=0.005))
    return out


def run(profile: str = "demo", **overrides) -> xr.Dataset:
    """Timing, accuracy and ``"auto"`` map of the batched eigensolvers on this machine.

    Args:
        profile: ``smoke`` / ``demo`` / ``paper`` sizes.
        **overrides: ``device`` (default ``"cpu"``), ``dtype`` (``"float32"``), ``threads``,
            ``batches`` (time vs batch at n = 4), ``dims`` and ``dim_batch`` (time vs n),
            ``acc_dims``, ``acc_batch`` (accuracy), ``map_dims``, ``map_batches`` (auto map),
            ``repeats``, ``max_call_s``.

    Returns:
        Dataset with ``time_vs_batch (method, batch)``, ``time_vs_dim (method, dim)`` in seconds,
        ``reconstruction``/``orthogonality (method, precision, acc_dim)`` (max over an adversarial
        batch), ``map_time (candidate, map_dim, map_batch)`` and ``map_choice (map_dim, map_batch)``.

    Example:
        >>> ds = run("smoke", batches=(1, 4), dims=(4,), dim_batch=8, acc_dims=(3,), acc_batch=9,
        ...          map_dims=(4,), map_batches=(2,), repeats=1)
        >>> sorted(ds.data_vars)[:2]
        ['map_choice', 'map_time']
    """
    from ..linalg import eigh_auto
    from ..linalg.eigh import eigh

    profile = resolve_profile(profile)
    o = dict(overrides)
    device = torch.device(o.pop("device", "cpu"))
    dtype_name = o.pop("dtype", "float32")
    dtype = DTYPES[dtype_name]
    threads = set_threads(o.pop("threads", None))
    batches = tuple(o.pop("batches", pick(profile, smoke=(1, 16, 256, 4096),
                                          demo=(1, 4, 16, 64, 256, 1024, 4096, 16384),
                                          paper=tuple(2**k for k in range(15)))))
    dims = tuple(o.pop("dims", pick(profile, smoke=(4, 8, 16), demo=(4, 8, 16, 32, 64), paper=(4, 8, 16, 32, 48, 64))))
    dim_batch = o.pop("dim_batch", pick(profile, smoke=128, demo=512, paper=512))
    acc_dims = tuple(o.pop("acc_dims", pick(profile, smoke=(4, 8), demo=(4, 8, 16, 32), paper=(4, 8, 16, 32, 64))))
    acc_batch = o.pop("acc_batch", pick(profile, smoke=27, demo=90, paper=900))
    map_dims = tuple(o.pop("map_dims", pick(profile, smoke=(4, 8), demo=eigh_auto.DEFAULT_DIMS,
                                            paper=eigh_auto.DEFAULT_DIMS)))
    map_batches = tuple(o.pop("map_batches", pick(profile, smoke=(1, 64), demo=eigh_auto.DEFAULT_BATCHES,
                                                  paper=eigh_auto.DEFAULT_BATCHES)))
    repeats = o.pop("repeats", pick(profile, smoke=1, demo=3, paper=7))
    max_call_s = o.pop("max_call_s", pick(profile, smoke=1.0, demo=1.5, paper=30.0))
    if o:
        raise TypeError(f"unknown overrides for batched_eigh.run: {sorted(o)}")

    methods = methods_for(device)
    t_batch = np.zeros((len(methods), len(batches)))
    for j, b in enumerate(batches):
        med = time_point(random_symmetric(b, 4, dtype, device, seed=b), methods, repeats=repeats,
                         max_call_s=max_call_s, device=device)
        t_batch[:, j] = [med[m] for m in methods]
    t_dim = np.full((len(methods), len(dims)), np.nan)
    skipped: list[str] = []
    for j, n in enumerate(sorted(dims)):
        # A method over max_call_s at a smaller n is not timed at larger n (NaN), to bound the run;
        # "triton" is not timed beyond its largest n.
        live = [m for m in methods if m == "torch" or not any(m in x for x in skipped)]
        live = [m for m in live if eigh_auto.fits(m, n)]
        med = time_point(random_symmetric(dim_batch, n, dtype, device, seed=n), live, repeats=repeats,
                         max_call_s=max_call_s, device=device)
        for m in live:
            t_dim[methods.index(m), dims.index(n)] = med[m]
            if m != "torch" and med[m] > max_call_s:
                skipped.append(f"{m} (over {max_call_s:g} s at n={n})")

    precisions = tuple(DTYPES)
    rec = np.full((len(methods), len(precisions), len(acc_dims)), np.nan)
    orth = np.full_like(rec, np.nan)
    for k, pname in enumerate(precisions):
        for j, n in enumerate(acc_dims):
            A = adversarial_batch(acc_batch, n, dtype=DTYPES[pname], device=device, seed=n)
            for i, m in enumerate(methods):
                if not eigh_auto.fits(m, n):
                    continue
                w, V = torch.linalg.eigh(A) if m == "torch" else eigh(A, m)
                err = decomposition_errors(A, w, V)
                rec[i, k, j] = err["reconstruction"].max().item()
                orth[i, k, j] = err["orthogonality"].max().item()

    entry = eigh_auto.calibrate(device, dtype, dims=map_dims, batches=map_batches, repeats=max(repeats, 2), save=False)
    stored = eigh_auto.table(device, dtype)
    candidates = eigh_auto.candidates(device)
    map_time = np.array([entry["times"][m] for m in candidates])

    return xr.Dataset(
        {
            "time_vs_batch": (("method", "batch"), t_batch, {"units": "s", "dim": 4}),
            "time_vs_dim": (("method", "dim"), t_dim, {"units": "s", "batch": dim_batch}),
            "reconstruction": (("method", "precision", "acc_dim"), rec, {"long_name": "max ‖A − VΛVᵀ‖_F / ‖A‖_F"}),
            "orthogonality": (("method", "precision", "acc_dim"), orth, {"long_name": "max ‖VᵀV − I‖_F"}),
            "map_time": (("candidate", "map_dim", "map_batch"), map_time, {"units": "s"}),
            "map_choice": (("map_dim", "map_batch"), np.array(entry["choice"], dtype=object)),
        },
        coords={
            "method": list(methods), "batch": list(batches), "dim": list(dims), "precision": list(precisions),
            "acc_dim": list(acc_dims), "candidate": list(candidates), "map_dim": list(map_dims),
            "map_batch": list(map_batches),
        },
        attrs={
            "profile": profile, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "dtype": dtype_name, "threads": threads, "torch": torch.__version__, "repeats": repeats,
            "acc_batch": acc_batch, "max_call_s": max_call_s,
            "auto_source": "stored calibration" if stored is not None else "none stored: auto uses torch",
            "not_timed_at_larger_n": "; ".join(skipped) or "none",
        },
    )


def summary(ds: xr.Dataset) -> dict[str, float]:
    """Headline numbers: ratios to ``torch.linalg.eigh`` and error ratios (for computed conclusions).

    Keys: ``ratio_<method>_n<d>`` (time / torch time at batch ``time_vs_dim.batch``), ``auto_worst``
    (largest auto / torch ratio over both timing sweeps), ``acc_worst_<method>`` (largest error
    divided by torch's, floored at machine epsilon, over dtypes, sizes and both error kinds).
    """
    out: dict[str, float] = {}
    t = ds.time_vs_dim
    for m in _solvers(ds) + ["auto"]:
        for d in ds.dim.values:
            out[f"ratio_{m}_n{int(d)}"] = float(t.sel({"method": m, "dim": d}) / t.sel({"method": "torch", "dim": d}))
    ratios = [ds.time_vs_batch.sel({"method": "auto"}) / ds.time_vs_batch.sel({"method": "torch"}),
              t.sel({"method": "auto"}) / t.sel({"method": "torch"})]
    out["auto_worst"] = float(max(float(r.max()) for r in ratios))
    for m in _solvers(ds) + ["auto"]:
        worst = 0.0
        for p in ds.precision.values:
            eps = float(torch.finfo(DTYPES[str(p)]).eps)
            for var in ("reconstruction", "orthogonality"):
                ref = np.maximum(ds[var].sel({"method": "torch", "precision": p}).values, eps)
                worst = max(worst, float(np.nanmax(ds[var].sel({"method": m, "precision": p}).values / ref)))
        out[f"acc_worst_{m}"] = worst
    return out


def speed_report(ds: xr.Dataset) -> str:
    """Time of each method relative to torch.linalg.eigh per matrix size, and the targets met or not."""
    s = summary(ds)
    dims = [int(d) for d in ds.dim.values]
    lines = [f"At batch {ds.time_vs_dim.attrs['batch']} on {ds.attrs['device_name']} ({ds.attrs['dtype']}, "
             f"{ds.attrs['threads']} threads), time relative to torch.linalg.eigh:"]
    for n in dims:
        lines.append(f"  n={n:>2}: " + ", ".join(f"{m} {s[f'ratio_{m}_n{n}']:.2f}x" for m in _solvers(ds) + ["auto"]))
    if ds.attrs["device"] == "cpu":  # the CPU targets of ai4m bench eigh
        for n, limit in SOLVER_TARGETS.items():
            if n in dims:
                for m in _solvers(ds):
                    r = s[f"ratio_{m}_n{n}"]
                    lines.append(f"  target {m} <= {limit:g}x torch at n={n}: {'met' if r <= limit else 'NOT met'} "
                                 f"({r:.2f}x)")
    elif "triton" in _solvers(ds) and ds.time_vs_dim.attrs["batch"] >= GPU_TARGET_MIN_BATCH:  # the GPU goal
        for n in dims:
            if n <= GPU_TARGET_MAX_N:
                r = s[f"ratio_triton_n{n}"]
                lines.append(f"  target triton <= {GPU_TARGET:g}x torch (2x faster) at n={n}: "
                             f"{'met' if r <= GPU_TARGET else 'NOT met'} ({r:.2f}x)")
    lines.append(f"  not timed at larger n (over the time cap): {ds.attrs['not_timed_at_larger_n']}")
    return "\n".join(lines)


def batch_crossover(ds: xr.Dataset) -> tuple[int | None, str, float]:
    """From the time-versus-batch sweep: the smallest batch from which the fastest batched solver
    beats ``torch.linalg.eigh`` at every larger batch measured (None: not at the largest), and that
    solver and its time ratio at the largest batch.

    Example:
        >>> t = np.array([[1.0, 1.0, 1.0], [2.0, 0.9, 1.2], [3.0, 1.1, 0.5]])
        >>> ds = xr.Dataset({"time_vs_batch": (("method", "batch"), t)},
        ...                 coords={"method": ["torch", "qr", "jacobi"], "batch": [1, 64, 4096]})
        >>> batch_crossover(ds)
        (64, 'jacobi', 0.5)
    """
    t, solvers = ds.time_vs_batch, _solvers(ds)
    ratio = t.sel({"method": solvers}) / t.sel({"method": "torch"})
    start = None
    for b, r in zip(reversed(t.batch.values), reversed(ratio.min("method").values)):
        if not r < 1:
            break
        start = int(b)
    last = ratio.isel(batch=-1).values
    return start, solvers[int(np.nanargmin(last))], float(np.nanmin(last))


def conclusion(ds: xr.Dataset, deflation: xr.Dataset | None = None) -> str:
    """The study's conclusion, computed from its measurements (and from :func:`run_deflation`'s
    where it is given)."""
    import math

    s = summary(ds)
    dims = [int(d) for d in ds.dim.values]
    solvers = _solvers(ds)
    timed = [n for n in dims if any(math.isfinite(s[f"ratio_{m}_n{n}"]) for m in solvers)]
    best = {n: min((m for m in solvers if math.isfinite(s[f"ratio_{m}_n{n}"])),
                   key=lambda m: s[f"ratio_{m}_n{n}"]) for n in timed}
    choices = set(ds.map_choice.values.ravel().tolist())
    return (
        f"On {ds.attrs['device_name']} the batched solvers are as accurate as LAPACK on adversarial batches "
        f"(worst error ratio {max(s[f'acc_worst_{m}'] for m in solvers):.2f}, target <= 10) "
        + ("and slower" if all(s[f"ratio_{best[n]}_n{n}"] > 1 for n in timed)
           else "and faster at some sizes" if any(s[f"ratio_{best[n]}_n{n}"] < 1 for n in timed) else "and as fast")
        + f": the best of them at batch {ds.time_vs_dim.attrs['batch']} takes "
        + ", ".join(f"{s[f'ratio_{best[n]}_n{n}']:.1f}x ({best[n]}, n={n})" for n in timed)
        + " the time of torch.linalg.eigh. "
        + ("So 'auto' keeps torch.linalg.eigh on this device" if choices == {"torch"}
           else f"'auto' picks {sorted(choices)} on the measured grid ({_best_map_win(ds)})")
        + f"; its worst measured overhead over torch was {s['auto_worst']:.2f}x ({_auto_worst_where(ds)}, input checks "
        "included). "
        + _crossover_sentence(ds)
        + ("" if deflation is None else " " + _deflation_sentence(deflation))
    )


def _deflation_sentence(ds: xr.Dataset) -> str:
    """What one deflation window for the whole batch did, from :func:`run_deflation`."""
    shared, own = ds.sel(solver="qr shared"), ds.sel(solver="qr own")
    return (f"With one deflation window for the whole batch instead of per-matrix deflation, the same QR solver's "
            f"worst reconstruction error rose from at most {own.worst_reconstruction.max().item():.1e} to "
            f"{shared.worst_reconstruction.min().item():.2g}–{shared.worst_reconstruction.max().item():.2g}, "
            f"with {shared.share_wrong.min().item():.0%}–{shared.share_wrong.max().item():.0%} of each batch wrong.")


def _auto_worst_where(ds: xr.Dataset) -> str:
    """Where the largest auto / torch time ratio of the two sweeps was measured, e.g. "batch 1, n = 4"."""
    by_batch = (ds.time_vs_batch.sel({"method": "auto"}) / ds.time_vs_batch.sel({"method": "torch"})).values
    by_dim = (ds.time_vs_dim.sel({"method": "auto"}) / ds.time_vs_dim.sel({"method": "torch"})).values
    if np.nanmax(by_batch) >= np.nanmax(by_dim):
        return f"batch {int(ds.batch.values[int(np.nanargmax(by_batch))])}, n = {ds.time_vs_batch.attrs['dim']}"
    return f"batch {ds.time_vs_dim.attrs['batch']}, n = {int(ds.dim.values[int(np.nanargmax(by_dim))])}"


def _crossover_sentence(ds: xr.Dataset) -> str:
    start, winner, ratio = batch_crossover(ds)
    dim, largest = ds.time_vs_batch.attrs["dim"], int(ds.batch.values[-1])
    if start is None:
        return (f"At n = {dim} no batched solver beat torch.linalg.eigh up to batch {largest} "
                f"(the best there, {winner}, took {ratio:.2f}x its time).")
    return (f"At n = {dim} the batched solvers beat torch.linalg.eigh from batch {start} on: at batch {largest} "
            f"{winner} took {ratio:.2f}x its time.")


def plot(ds: xr.Dataset) -> dict:
    """HoloViews objects: ``time_vs_batch``, ``time_vs_dim`` (log–log curves per method),
    ``accuracy`` (table) and ``auto_map`` (heat map of the chosen method, labelled with its time
    relative to torch's where it is not torch)."""
    import holoviews as hv
    import pandas as pd

    def curves(var, dim, title):
        return hv.Overlay([
            hv.Curve((ds[dim].values, ds[var].sel({"method": m}).values * 1e3), dim, "time (ms)", label=m)
            * hv.Scatter((ds[dim].values, ds[var].sel({"method": m}).values * 1e3), dim, "time (ms)", label=m)
            for m in ds.method.values
        ]).opts(hv.opts.Curve(logx=True, logy=True), hv.opts.Scatter(logx=True, logy=True, size=5),
                hv.opts.Overlay(title=title, legend_position="top_left", logx=True, logy=True))

    dev = f"{ds.attrs['device_name']}, {ds.attrs['dtype']}, {ds.attrs['threads']} threads"
    rows = []
    for p in ds.precision.values:
        for n in ds.acc_dim.values:
            for m in ds.method.values:
                r = ds.reconstruction.sel({"method": m, "precision": p, "acc_dim": n}).item()
                q = ds.orthogonality.sel({"method": m, "precision": p, "acc_dim": n}).item()
                r0 = ds.reconstruction.sel({"method": "torch", "precision": p, "acc_dim": n}).item()
                q0 = ds.orthogonality.sel({"method": "torch", "precision": p, "acc_dim": n}).item()
                eps = float(torch.finfo(DTYPES[str(p)]).eps)
                rows.append({"dtype": str(p), "n": int(n), "method": str(m), "reconstruction": f"{r:.2e}",
                             "÷ torch": round(r / max(r0, eps), 2), "orthogonality": f"{q:.2e}",
                             "÷ torch ": round(q / max(q0, eps), 2)})
    table = hv.Table(pd.DataFrame(rows)).opts(width=750, height=min(600, 30 + 25 * len(rows)),
                                              title=f"max errors over {ds.attrs['acc_batch']} adversarial matrices")
    codes = {m: i for i, m in enumerate(ds.candidate.values)}
    cells = [(str(b), str(n), codes[ds.map_choice.sel(map_dim=n, map_batch=b).item()], ds.map_choice.sel(map_dim=n, map_batch=b).item())
             for n in ds.map_dim.values for b in ds.map_batch.values]
    heat = hv.HeatMap(cells, ["batch", "n"], ["code", "method"]).opts(
        cmap=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(codes)], clim=(-0.5, len(codes) - 0.5), colorbar=False,
        tools=["hover"], width=500, height=300, title=f"auto's choice ({dev})")
    labels = hv.Labels([(b, n, _map_label(ds, int(n), int(b))) for b, n, _, _ in cells], ["batch", "n"], "method")
    return {
        "time_vs_batch": curves("time_vs_batch", "batch", f"4×4 matrices: time vs batch ({dev})"),
        "time_vs_dim": curves("time_vs_dim", "dim", f"batch {ds.time_vs_dim.attrs['batch']}: time vs n ({dev})"),
        "accuracy": table,
        "auto_map": heat * labels,
    }


def _map_win(ds: xr.Dataset, n: int, batch: int) -> tuple[str, float | None]:
    """The method the auto map chose at one grid point, and its time relative to torch's (None
    where it chose torch)."""
    point = {"map_dim": n, "map_batch": batch}
    chosen = str(ds.map_choice.sel(point).item())
    if chosen == "torch":
        return chosen, None
    return chosen, float(ds.map_time.sel({"candidate": chosen, **point}) / ds.map_time.sel({"candidate": "torch", **point}))


def _best_map_win(ds: xr.Dataset) -> str:
    """The auto map's largest win over torch, e.g. "largest gain: jacobi at 0.12x torch's time, n = 2, batch 8192"."""
    wins = [(ratio, chosen, int(n), int(b)) for n in ds.map_dim.values for b in ds.map_batch.values
            for chosen, ratio in [_map_win(ds, int(n), int(b))] if ratio is not None]
    ratio, chosen, n, b = min(wins)
    return f"largest gain: {chosen} at {ratio:.2f}x torch's time, n = {n}, batch {b}"


def _map_label(ds: xr.Dataset, n: int, batch: int) -> str:
    """The label of one cell of the auto map: the chosen method, and where it is not torch its
    measured time relative to torch's (e.g. ``"qr 0.41×"``)."""
    chosen, ratio = _map_win(ds, n, batch)
    return chosen if ratio is None else f"{chosen} {ratio:.2f}×"


__all__ = [
    "DBN_CONFIGS", "DEFLATION_SOLVERS", "METHODS", "adversarial_batch", "batch_crossover", "conclusion",
    "decomposition_errors", "deflation_report", "load_photos", "methods_for", "plot", "plot_deflation",
    "plot_images", "plot_precision", "precision_report", "run", "run_dbn", "run_deflation", "run_precision",
    "run_style_transfer", "speed_report", "summary", "time_point",
]
