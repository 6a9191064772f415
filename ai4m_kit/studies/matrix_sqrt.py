"""Study for notebook 07: fast differentiable matrix square roots, measured on this machine.

``run(profile)`` measures, on sample covariances (``reference_covariance``: ``2n`` Gaussian
samples, condition number ≈ 30) and on a small image classifier:

- forward error vs MTP/MPA degree and NS iterations;
- Lyapunov backward time and gradient error vs its iteration count (spectral vs Frobenius scaling);
- forward and forward+backward time vs batch (at ``sweep_dim``) and vs dimension;
- forward error vs dimension, gradient error vs the float64 closed form;
- rank-deficient covariances: error and whether values and gradients stay finite;
- a Table 16 analogue: a small ResNet with ZCA whitening after the first convolution trained on
  scikit-learn's 8×8 digits, time per step (interleaved across methods) and test accuracy.

``findings(ds)`` turns the measurements into the report's claims, each marked as holding or not.
"""

from __future__ import annotations

import math
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ai4m_kit.timing import interleaved_medians, set_threads
from ai4m_kit.linalg.sqrtm import (
    closed_form_grad,
    lyapunov_newton_schulz,
    lyapunov_smith,
    reference_covariance,
    reference_root,
    sqrtm,
)
from ai4m_kit.profiles import pick, resolve_profile

# Methods compared in timings and accuracy tables: label -> sqrtm keyword arguments.
METHODS: dict[str, dict[str, Any]] = {
    "ns5": {"method": "ns", "iterations": 5},
    "mpa-lya": {"method": "mpa"},
    "mpa-lya-fast": {"method": "mpa", "lyapunov": "fast"},
    "mtp-lya": {"method": "mtp"},
    "mtp-lya-fast": {"method": "mtp", "lyapunov": "fast"},
    "eig": {"method": "eig"},
    "eig-pade": {"method": "eig", "eig_grad": "pade"},
}
# Whitening layers of the Table 16 analogue ("bn": plain batch norm, the baseline).
TRAIN_METHODS = ("bn", "ns5", "mpa-lya", "mpa-lya-fast", "mtp-lya-fast", "eig")


def _sizes(profile: str) -> dict[str, Any]:
    return {
        "dim": pick(profile, smoke=16, demo=64, paper=64),
        "batch": pick(profile, smoke=4, demo=16, paper=64),
        "degrees": pick(profile, smoke=[6, 10, 14, 18], demo=[6, 8, 10, 12, 14, 16, 18], paper=[6, 8, 10, 12, 14, 16, 18]),
        "ns_iterations": [3, 4, 5, 6, 7],
        "lya_iterations": pick(profile, smoke=[2, 4, 6, 8], demo=[2, 4, 6, 8, 10, 12, 14], paper=[2, 4, 6, 8, 10, 12, 14, 16]),
        "sweep_dim": pick(profile, smoke=16, demo=64, paper=64),
        "batches": pick(profile, smoke=[1, 8], demo=[1, 4, 16, 64, 256], paper=[1, 4, 16, 64, 256]),
        "dims": pick(profile, smoke=[8, 16], demo=[16, 32, 64, 128], paper=[16, 32, 64, 96, 128]),
        "dim_batch": pick(profile, smoke=4, demo=16, paper=64),
        # samples per dimension of the covariances: 2 gives condition ≈ 30, 1.05 about 1500 (n = 64)
        "samples_per_dim": pick(profile, smoke=[2.0, 1.2], demo=[2.0, 1.5, 1.2, 1.05], paper=[3.0, 2.0, 1.5, 1.2, 1.05]),
        "repeats": pick(profile, smoke=1, demo=3, paper=7),
        "train_steps": pick(profile, smoke=10, demo=100, paper=600),
        "train_batch": pick(profile, smoke=16, demo=64, paper=128),
        "width": pick(profile, smoke=8, demo=16, paper=32),
        "groups": pick(profile, smoke=2, demo=4, paper=4),
        "lr": 1e-2,
        "seed": 0,
        "threads": 1,  # one intra-op thread: much steadier timings on a shared, loaded CPU
        "device": "cpu",
        "dtype": "float32",
    }


def _rel(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.detach().double().cpu(), y.detach().double().cpu()
    return float(((x - y).norm(dim=(-2, -1)) / y.norm(dim=(-2, -1)).clamp_min(1e-300)).max())


def _fwd_bwd_call(A: torch.Tensor, G: torch.Tensor, kw: dict[str, Any]):
    def call():
        X = A.clone().requires_grad_(True)
        sqrtm(X, **kw).backward(G)
    return call


def _fwd_call(A: torch.Tensor, kw: dict[str, Any]):
    def call():
        with torch.no_grad():
            sqrtm(A, **kw)
    return call


def _bwd_call(A: torch.Tensor, G: torch.Tensor, kw: dict[str, Any]):
    """Backward only: one forward graph, back-propagated again at every call."""
    X = A.clone().requires_grad_(True)
    out = sqrtm(X, **kw)

    def call():
        X.grad = None
        out.backward(G, retain_graph=True)
    return call


def _upstream(A: torch.Tensor, seed: int) -> torch.Tensor:
    G = torch.randn(A.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (G + G.transpose(-2, -1)).to(dtype=A.dtype, device=A.device)


def _series_errors(s: dict[str, Any], dtype, device) -> dict[str, xr.DataArray]:
    A64 = reference_covariance(s["batch"], n=s["dim"], seed=s["seed"])
    ref = reference_root(A64)
    A = A64.to(dtype=dtype, device=device)
    err = np.array([[_rel(sqrtm(A, m, degree=(d if m == "mtp" else (d // 2, d - d // 2))), ref)
                     for d in s["degrees"]] for m in ("mtp", "mpa")])
    ns = np.array([_rel(sqrtm(A, "ns", iterations=i), ref) for i in s["ns_iterations"]])
    return {
        "err_vs_degree": xr.DataArray(err, dims=("series", "degree"),
                                      coords={"series": ["mtp", "mpa"], "degree": s["degrees"]},
                                      attrs={"long_name": "forward relative error", "note": "MPA [d/2, d/2]"}),
        "err_vs_ns_iterations": xr.DataArray(ns, dims=("ns_iterations",), coords={"ns_iterations": s["ns_iterations"]},
                                             attrs={"long_name": "forward relative error of coupled NS"}),
    }


def _lyapunov_sweep(s: dict[str, Any], dtype, device) -> dict[str, xr.DataArray]:
    A64 = reference_covariance(s["batch"], n=s["dim"], seed=s["seed"])
    G64 = _upstream(A64, s["seed"] + 1)
    ref = closed_form_grad(A64, G64)
    S = reference_root(A64).to(dtype=dtype, device=device)
    G = G64.to(dtype=dtype, device=device)
    # Error vs steps of the two solvers (Newton–Schulz with the spectral scaling and with the
    # published Frobenius one; squared Smith, shift from power-iteration estimates), and time.
    solvers = {
        "newton-schulz (spectral)": lambda k: lyapunov_newton_schulz(S, G, iterations=k, scale="spectral"),
        "newton-schulz (fro)": lambda k: lyapunov_newton_schulz(S, G, iterations=k, scale="fro"),
        "smith": lambda k: lyapunov_smith(S, G, iterations=k),
    }
    err = np.array([[_rel(solve(k)[0], ref) for k in s["lya_iterations"]] for solve in solvers.values()])
    timed = ("newton-schulz (spectral)", "smith")
    calls = {f"{name}|{k}": (lambda name=name, k=k: solvers[name](k)) for name in timed for k in s["lya_iterations"]}
    t = interleaved_medians(calls, repeats=s["repeats"], device=device, min_time=0.01)
    return {
        "lya_grad_err": xr.DataArray(err, dims=("solver", "lya_iterations"),
                                     coords={"solver": list(solvers), "lya_iterations": s["lya_iterations"]},
                                     attrs={"long_name": "gradient relative error (exact S)"}),
        "lya_time": xr.DataArray([[t[f"{name}|{k}"] for k in s["lya_iterations"]] for name in timed],
                                 dims=("lya_solver", "lya_iterations"),
                                 coords={"lya_solver": list(timed), "lya_iterations": s["lya_iterations"]},
                                 attrs={"units": "s"}),
    }


def _timings(s: dict[str, Any], dtype, device, sweep: str) -> dict[str, xr.DataArray]:
    values = s["batches"] if sweep == "batch" else s["dims"]
    names = list(METHODS)
    fb = np.zeros((len(names), len(values)))
    fw = np.zeros_like(fb)
    bw = np.zeros_like(fb)
    for j, v in enumerate(values):
        b, n = (v, s["sweep_dim"]) if sweep == "batch" else (s["dim_batch"], v)
        A = reference_covariance(b, n=n, dtype=dtype, device=device, seed=s["seed"])
        G = _upstream(A, s["seed"] + 1)
        calls = {f"fb:{m}": _fwd_bwd_call(A, G, kw) for m, kw in METHODS.items()}
        calls.update({f"f:{m}": _fwd_call(A, kw) for m, kw in METHODS.items()})
        calls.update({f"b:{m}": _bwd_call(A, G, kw) for m, kw in METHODS.items()})
        t = interleaved_medians(calls, repeats=s["repeats"], device=device, min_time=0.01)
        fb[:, j] = [t[f"fb:{m}"] for m in names]
        fw[:, j] = [t[f"f:{m}"] for m in names]
        bw[:, j] = [t[f"b:{m}"] for m in names]
    coords = {"method": names, sweep: values}
    return {
        f"time_fwd_bwd_vs_{sweep}": xr.DataArray(fb, dims=("method", sweep), coords=coords, attrs={"units": "s"}),
        f"time_fwd_vs_{sweep}": xr.DataArray(fw, dims=("method", sweep), coords=coords, attrs={"units": "s"}),
        f"time_bwd_vs_{sweep}": xr.DataArray(bw, dims=("method", sweep), coords=coords, attrs={"units": "s"}),
    }


def _errors_vs_dim(s: dict[str, Any], dtype, device) -> dict[str, xr.DataArray]:
    names = list(METHODS)
    fwd = np.zeros((len(names), len(s["dims"])))
    grad = np.zeros_like(fwd)
    for j, n in enumerate(s["dims"]):
        A64 = reference_covariance(s["dim_batch"], n=n, seed=s["seed"])
        G64 = _upstream(A64, s["seed"] + 1)
        ref, ref_g = reference_root(A64), closed_form_grad(A64, G64)
        for i, m in enumerate(names):
            A = A64.to(dtype=dtype, device=device).requires_grad_(True)
            out = sqrtm(A, **METHODS[m])
            out.backward(G64.to(dtype=dtype, device=device))
            fwd[i, j], grad[i, j] = _rel(out, ref), _rel(A.grad, ref_g)
    coords = {"method": names, "dim": s["dims"]}
    return {
        "err_vs_dim": xr.DataArray(fwd, dims=("method", "dim"), coords=coords, attrs={"long_name": "forward relative error"}),
        "grad_err_vs_dim": xr.DataArray(grad, dims=("method", "dim"), coords=coords,
                                        attrs={"long_name": "gradient relative error vs float64 closed form"}),
    }


def _errors_vs_condition(s: dict[str, Any], dtype, device) -> dict[str, xr.DataArray]:
    """Gradient error of every method against the float64 closed form as the covariances get
    ill-conditioned (fewer samples per dimension); the coordinate is the median condition number."""
    names = list(METHODS)
    grad = np.zeros((len(names), len(s["samples_per_dim"])))
    conds = []
    for j, spd in enumerate(s["samples_per_dim"]):
        A64 = reference_covariance(s["dim_batch"], n=s["dim"], samples_per_dim=spd, seed=s["seed"])
        ev = torch.linalg.eigvalsh(A64)
        conds.append(float((ev[..., -1] / ev[..., 0]).median()))
        G64 = _upstream(A64, s["seed"] + 1)
        ref_g = closed_form_grad(A64, G64)
        for i, m in enumerate(names):
            A = A64.to(dtype=dtype, device=device).requires_grad_(True)
            sqrtm(A, **METHODS[m]).backward(G64.to(dtype=dtype, device=device))
            grad[i, j] = _rel(A.grad, ref_g)
    return {"grad_err_vs_condition": xr.DataArray(
        grad, dims=("method", "condition"), coords={"method": names, "condition": conds},
        attrs={"long_name": "gradient relative error vs float64 closed form", "dim": s["dim"]})}


def _rank_deficient(s: dict[str, Any], dtype, device) -> dict[str, xr.DataArray]:
    names = list(METHODS)
    A64 = reference_covariance(s["batch"], n=s["dim"], samples_per_dim=0.5, ridge=0.0, seed=s["seed"])
    ref = reference_root(A64)
    err, finite = [], []
    for m in names:
        A = A64.to(dtype=dtype, device=device).requires_grad_(True)
        out = sqrtm(A, **METHODS[m])
        out.backward(_upstream(A.detach(), s["seed"] + 1))
        err.append(_rel(out, ref))
        finite.append(bool(torch.isfinite(out).all() and torch.isfinite(A.grad).all()))
    return {
        "rankdef_err": xr.DataArray(err, dims=("method",), coords={"method": names},
                                    attrs={"long_name": "forward relative error, rank n/2 covariances"}),
        "rankdef_finite": xr.DataArray(finite, dims=("method",), coords={"method": names},
                                       attrs={"long_name": "values and gradients finite"}),
    }


def load_digits_tensors(seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn's 8×8 digits as ``(x_train, y_train, x_test, y_test)``, x in [0, 1], (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def _train(s: dict[str, Any], device) -> dict[str, xr.DataArray]:
    from ai4m_kit.linalg.layers import ZCAWhitening
    from ai4m_kit.models.resnet_small import ResNetSmall

    xtr, ytr, xte, yte = load_digits_tensors(s["seed"])
    xtr, ytr, xte, yte = (t.to(device) for t in (xtr, ytr, xte, yte))
    models, opts = {}, {}
    for m in TRAIN_METHODS:
        torch.manual_seed(s["seed"])  # identical initial weights for every method
        factory = None if m == "bn" else (lambda c, kw=METHODS[m]: ZCAWhitening(c, groups=s["groups"], **kw))
        models[m] = ResNetSmall(num_classes=10, in_channels=1, width=s["width"], whitening=factory).to(device)
        opts[m] = torch.optim.Adam(models[m].parameters(), lr=s["lr"])
    gen = torch.Generator().manual_seed(s["seed"] + 7)
    times: dict[str, list[float]] = {m: [] for m in TRAIN_METHODS}
    losses: dict[str, float] = {m: float("nan") for m in TRAIN_METHODS}
    bad: dict[str, bool] = {m: False for m in TRAIN_METHODS}
    for step in range(s["train_steps"]):
        idx = torch.randint(0, len(ytr), (s["train_batch"],), generator=gen).to(device)
        for m in TRAIN_METHODS:  # interleaved: every method sees the same machine load
            model, opt = models[m], opts[m]
            model.train()
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[m].append(time.perf_counter() - t0)
            losses[m] = float(loss.detach())
            bad[m] |= not math.isfinite(losses[m])
    acc = []
    for m in TRAIN_METHODS:
        models[m].eval()
        with torch.no_grad():
            pred = models[m](xte).argmax(dim=-1)
        acc.append(float((pred == yte).float().mean()))
    step_time = [statistics.median(times[m][1:] or times[m]) for m in TRAIN_METHODS]
    coords = {"train_method": list(TRAIN_METHODS)}
    return {
        "train_step_time": xr.DataArray(step_time, dims=("train_method",), coords=coords, attrs={"units": "s"}),
        "test_accuracy": xr.DataArray(acc, dims=("train_method",), coords=coords),
        "final_loss": xr.DataArray([losses[m] for m in TRAIN_METHODS], dims=("train_method",), coords=coords),
        "diverged": xr.DataArray([bad[m] for m in TRAIN_METHODS], dims=("train_method",), coords=coords),
    }


def run(profile: str = "demo", **overrides: Any) -> xr.Dataset:
    """Run every measurement of the study at ``profile`` sizes (keyword overrides replace sizes,
    e.g. ``device="cuda"``, ``threads=2``, ``train_steps=50``) and return one Dataset.

    Example:
        >>> ds = run("smoke", train_steps=1, batches=[1], dims=[8])  # doctest: +SKIP
    """
    profile = resolve_profile(profile)
    s = _sizes(profile)
    unknown = set(overrides) - set(s)
    if unknown:
        raise ValueError(f"unknown overrides {sorted(unknown)}; allowed: {sorted(s)}")
    s.update(overrides)
    threads = set_threads(s["threads"])
    device = torch.device(s["device"])
    dtype = {"float32": torch.float32, "float64": torch.float64}[s["dtype"]]
    torch.manual_seed(s["seed"])
    t0 = time.perf_counter()
    parts: dict[str, xr.DataArray] = {}
    spent: dict[str, float] = {}
    steps = [("series", lambda: _series_errors(s, dtype, device)),
             ("lyapunov", lambda: _lyapunov_sweep(s, dtype, device)),
             ("time_vs_batch", lambda: _timings(s, dtype, device, "batch")),
             ("time_vs_dim", lambda: _timings(s, dtype, device, "dim")),
             ("errors_vs_dim", lambda: _errors_vs_dim(s, dtype, device)),
             ("errors_vs_condition", lambda: _errors_vs_condition(s, dtype, device)),
             ("rank_deficient", lambda: _rank_deficient(s, dtype, device)),
             ("training", lambda: _train(s, device))]
    for name, step in tqdm(steps, desc="matrix_sqrt study", leave=False):
        t1 = time.perf_counter()
        parts.update(step())
        spent[name] = time.perf_counter() - t1
    ds = xr.Dataset(parts)
    ds.attrs.update({f"seconds_{k}": v for k, v in spent.items()})
    ds.attrs.update({
        "profile": profile, "device": str(device), "threads": threads, "dtype": s["dtype"],
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "dim": s["dim"], "batch": s["batch"], "sweep_dim": s["sweep_dim"], "dim_batch": s["dim_batch"],
        "train_steps": s["train_steps"], "train_batch": s["train_batch"], "width": s["width"], "groups": s["groups"],
        "seconds": time.perf_counter() - t0,
    })
    return ds


def findings(ds: xr.Dataset) -> list[dict[str, Any]]:
    """The report's claims, checked against this run: ``[{"claim", "holds", "evidence"}]``.

    Example:
        >>> findings.__name__
        'findings'
    """
    out = []
    # Ratios are taken per batch size and summarised by their median over the batch sweep, which
    # is more robust than one point on a shared, noisy machine.
    fb, fw, bw = ds["time_fwd_bwd_vs_batch"], ds["time_fwd_vs_batch"], ds["time_bwd_vs_batch"]

    def med_ratio(da: xr.DataArray, a: str, b: str) -> float:
        return float((da.sel({"method": a}) / da.sel({"method": b})).median())

    sweep = f"{ds.attrs['sweep_dim']}x{ds.attrs['sweep_dim']}, batches {list(map(int, ds['batch'].values))}"
    r_mpa, r_fast = med_ratio(fb, "mpa-lya", "ns5"), med_ratio(fb, "mpa-lya-fast", "ns5")
    out.append({
        "claim": "MPA-Lya (forward+backward) is faster than NS-5",
        "holds": r_fast < 1.0 or r_mpa < 1.0,
        "evidence": f"median time ratio to NS-5 over {sweep}: {r_mpa:.2f} (accurate default backward), "
                    f"{r_fast:.2f} (fast backward)",
    })
    rb, rb_acc = med_ratio(bw, "mpa-lya-fast", "ns5"), med_ratio(bw, "mpa-lya", "ns5")
    out.append({
        "claim": "the Lyapunov backward is faster than back-propagating through NS-5",
        "holds": rb < 1.0,
        "evidence": f"median backward-only time ratio to NS-5 over {sweep}: {rb:.2f} (fast, 5 iterations), "
                    f"{rb_acc:.2f} (accurate: iterated to a tolerance)",
    })
    rf = med_ratio(fw, "mpa-lya", "ns5")
    e_mpa = float(ds["err_vs_dim"].sel({"method": "mpa-lya"}).isel(dim=-1))
    e_ns = float(ds["err_vs_dim"].sel({"method": "ns5"}).isel(dim=-1))
    out.append({
        "claim": "MPA is more accurate than NS at the same cost",
        "holds": e_mpa < e_ns and rf <= 1.1,
        "evidence": f"forward error at n={int(ds['dim'][-1])}: MPA [5/5] {e_mpa:.2e} vs NS-5 {e_ns:.2e}; "
                    f"median forward time ratio MPA/NS-5 {rf:.2f} over {sweep}",
    })
    acc = ds["test_accuracy"]
    ok = [m for m in ds["train_method"].values if m != "bn" and not bool(ds["diverged"].sel(train_method=m))
          and float(acc.sel(train_method=m)) > 0.2]
    n_white = len(ds["train_method"]) - 1
    out.append({
        "claim": "whitening layers train with each method",
        "holds": len(ok) == n_white,
        "evidence": f"{len(ok)}/{n_white} whitening variants finite and above 2x chance after "
                    f"{ds.attrs['train_steps']} steps; test accuracy "
                    + ", ".join(f"{m} {float(acc.sel(train_method=m)):.3f}" for m in ds["train_method"].values),
    })
    return out


def summary_markdown(ds: xr.Dataset) -> str:
    """Findings as a Markdown list (for the notebook's conclusion)."""
    lines = [f"Measured on {ds.attrs['device']} ({ds.attrs['machine']}), {ds.attrs['threads']} threads, "
             f"{ds.attrs['dtype']}, profile `{ds.attrs['profile']}`:", ""]
    for f in findings(ds):
        lines.append(f"- **{f['claim']}**: {'holds' if f['holds'] else 'does not hold'} here ({f['evidence']}).")
    return "\n".join(lines)


def condition_summary(ds: xr.Dataset, tol: float = 1e-3) -> str:
    """One sentence from ``grad_err_vs_condition``: which methods keep their gradient within ``tol``
    at every measured condition number, and the worst error of the others.

    Example:
        >>> condition_summary.__name__
        'condition_summary'
    """
    g = ds["grad_err_vs_condition"]
    conds = [f"{c:.0f}" for c in g["condition"].values]
    worst = {str(m): float(g.sel({"method": m}).max()) for m in g["method"].values}
    ok = [m for m, v in worst.items() if v <= tol]
    bad = [f"{m} {v:.1e}" for m, v in worst.items() if v > tol]
    return (f"Covariances with condition numbers {', '.join(conds)} ({g.attrs['dim']}x{g.attrs['dim']}): "
            f"gradients within {tol:g} of the float64 closed form at all of them: {', '.join(ok) or 'none'}; "
            f"worst error of the others: {', '.join(bad) or 'none'}.")


def plot(ds: xr.Dataset):
    """HoloViews layout of every measurement."""
    import holoviews as hv

    floor = 1e-16  # exact zeros (e.g. float64 round-off) have no place on a log axis

    def curves(da: xr.DataArray, group_dim: str, x: str, ylabel: str, logx: bool = False):
        vals = da.clip(min=floor)
        items = {str(g): hv.Curve((da[x].values, vals.sel({group_dim: g}).values), x, ylabel).opts(logy=True, logx=logx)
                 for g in da[group_dim].values}
        return hv.NdOverlay(items, kdims=group_dim).opts(ylim=(float(vals.min()) / 2, None))

    err_deg = curves(ds["err_vs_degree"], "series", "degree", "forward rel. error").opts(title="Error vs degree (MTP, MPA)")
    err_ns = hv.Curve((ds["ns_iterations"].values, ds["err_vs_ns_iterations"].values), "ns_iterations",
                      "forward rel. error").opts(logy=True, title="Error vs NS iterations")
    lya_err = curves(ds["lya_grad_err"], "solver", "lya_iterations", "gradient rel. error").opts(
        title="Lyapunov solvers: error vs steps")
    lya_t = hv.NdOverlay({str(g): hv.Curve((ds["lya_iterations"].values, ds["lya_time"].sel(lya_solver=g).values * 1e3),
                                           "lya_iterations", "ms") for g in ds["lya_solver"].values},
                         kdims="lya_solver").opts(title="Lyapunov solvers: time vs steps")
    t_batch = curves(ds["time_fwd_bwd_vs_batch"] * 1e3, "method", "batch", "ms", logx=True).opts(
        title=f"Forward+backward time vs batch ({ds.attrs['sweep_dim']}x{ds.attrs['sweep_dim']})", legend_position="left")
    t_dim = curves(ds["time_fwd_bwd_vs_dim"] * 1e3, "method", "dim", "ms", logx=True).opts(
        title=f"Forward+backward time vs dimension (batch {ds.attrs['dim_batch']})", legend_position="left")
    e_dim = curves(ds["err_vs_dim"], "method", "dim", "forward rel. error", logx=True).opts(title="Forward error vs dimension")
    g_dim = curves(ds["grad_err_vs_dim"], "method", "dim", "gradient rel. error", logx=True).opts(
        title="Gradient error vs float64 closed form")
    g_cond = curves(ds["grad_err_vs_condition"], "method", "condition", "gradient rel. error", logx=True).opts(
        title=f"Gradient error vs condition number ({ds.attrs['dim']}x{ds.attrs['dim']})")
    rank_err = ds["rankdef_err"].clip(min=floor)
    rank = hv.Bars([(str(m), float(rank_err.sel({"method": m}))) for m in ds["method"].values], "method",
                   "forward rel. error").opts(logy=True, ylim=(float(rank_err.min()) / 2, None),
                                              title="Rank-deficient covariances (all finite: "
                                               f"{bool(ds['rankdef_finite'].all())})", xrotation=30)
    table = hv.Table(
        [(str(m), round(float(ds["train_step_time"].sel(train_method=m)) * 1e3, 2),
          round(float(ds["test_accuracy"].sel(train_method=m)), 3)) for m in ds["train_method"].values],
        ["whitening"], ["ms per step", "test accuracy"]).opts(title="Table 16 analogue (digits, ResNet)")
    return hv.Layout([err_deg, err_ns, lya_err, lya_t, t_batch, t_dim, e_dim, g_dim, g_cond, rank, table]).cols(2)
