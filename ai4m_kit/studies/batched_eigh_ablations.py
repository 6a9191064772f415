"""Study 08, ablations: float64 in full against mixed precision (``run_precision``), and what a
deflation window shared by the whole batch does to the errors (``run_deflation``, the flaw of the
published batched QR). Re-exported by :mod:`ai4m_kit.studies.batched_eigh`.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..bench.eigh import DTYPES
from ..linalg.matrices import adversarial_batch, decomposition_errors, ill_conditioned_covariances, random_symmetric
from ..profiles import pick, resolve_profile
from ..timing import interleaved_medians, set_threads


def run_precision(profile: str = "demo", **overrides) -> xr.Dataset:
    """Float64 ``"qr"`` and ``"jacobi"`` in full and in mixed precision
    (:mod:`ai4m_kit.linalg.eigh_mixed`) against ``torch.linalg.eigh``, on random matrices and on
    ill-conditioned covariances (eigenvalues over 12 decades, most of which mixed precision has to
    finish in float64).

    Overrides: ``device``, ``threads``, ``dims``, ``batch``, ``repeats``.

    Returns:
        Dataset over ``(input, dim, method, precision)`` with ``ratio`` (time / torch's time,
        interleaved in the same rounds) and ``error_ratio`` (the larger of the worst
        reconstruction and orthogonality errors over the batch, divided by torch's, floored at ε),
        and ``torch_time (input, dim)`` in seconds.

    Example:
        >>> ds = run_precision("smoke", dims=(4,), batch=8, repeats=1)
        >>> ds.ratio.dims
        ('input', 'dim', 'method', 'precision')
    """
    from ..linalg.eigh import eigh

    profile = resolve_profile(profile)
    o = dict(overrides)
    device = torch.device(o.pop("device", "cpu"))
    threads = set_threads(o.pop("threads", None))
    dims = tuple(o.pop("dims", pick(profile, smoke=(8,), demo=(8, 16), paper=(4, 8, 16, 32))))
    batch = o.pop("batch", pick(profile, smoke=64, demo=512, paper=512))
    repeats = o.pop("repeats", pick(profile, smoke=1, demo=5, paper=9))
    if o:
        raise TypeError(f"unknown overrides for batched_eigh.run_precision: {sorted(o)}")
    inputs, methods, precisions = ("random", "covariance"), ("qr", "jacobi"), ("full", "mixed")
    f64, eps = torch.float64, float(torch.finfo(torch.float64).eps)
    ratio = np.zeros((len(inputs), len(dims), len(methods), len(precisions)))
    err = np.zeros_like(ratio)
    base = np.zeros((len(inputs), len(dims)))
    for j, n in enumerate(dims):
        for i, kind in enumerate(inputs):
            A = (random_symmetric(batch, n, f64, device, seed=n) if kind == "random"
                 else ill_conditioned_covariances(batch, n, f64, device, seed=n))
            ref = decomposition_errors(A, *torch.linalg.eigh(A))
            calls = {"torch": lambda A=A: torch.linalg.eigh(A)}
            for m in methods:
                for p in precisions:
                    calls[f"{m} {p}"] = lambda A=A, m=m, p=p: eigh(A, m, precision=p)
                    ours = decomposition_errors(A, *eigh(A, m, precision=p))
                    err[i, j, methods.index(m), precisions.index(p)] = max(
                        ours[k].max().item() / max(ref[k].max().item(), eps) for k in ours)
            # Every call above ran once already (the error pass): no separate warm-up round.
            med = interleaved_medians(calls, repeats=repeats, warmup=0, device=device, min_time=0.005)
            base[i, j] = med["torch"]
            for k, m in enumerate(methods):
                for q, p in enumerate(precisions):
                    ratio[i, j, k, q] = med[f"{m} {p}"] / med["torch"]
    coords = {"input": list(inputs), "dim": list(dims), "method": list(methods), "precision": list(precisions)}
    return xr.Dataset(
        {"ratio": (("input", "dim", "method", "precision"), ratio, {"long_name": "time / torch.linalg.eigh time"}),
         "error_ratio": (("input", "dim", "method", "precision"), err, {"long_name": "max error / torch's"}),
         "torch_time": (("input", "dim"), base, {"units": "s"})},
        coords=coords,
        attrs={"profile": profile, "device": str(device), "threads": threads, "batch": batch, "repeats": repeats,
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"},
    )


def precision_report(ds: xr.Dataset) -> str:
    """Mixed against full precision per input, size and method, from :func:`run_precision`."""
    lines = [f"float64 at batch {ds.attrs['batch']} on {ds.attrs['device_name']} ({ds.attrs['threads']} threads): "
             "time relative to torch.linalg.eigh, full -> mixed precision (worst error ratio of mixed)"]
    for kind in ds.input.values:
        for n in ds.dim.values:
            cells = []
            for m in ds.method.values:
                r = ds.ratio.sel({"input": kind, "dim": n, "method": m})
                e = ds.error_ratio.sel({"input": kind, "dim": n, "method": m, "precision": "mixed"}).item()
                cells.append(f"{m} {r.sel(precision='full').item():.2f}x -> {r.sel(precision='mixed').item():.2f}x "
                             f"(errors {e:.2f}x torch's)")
            lines.append(f"  {kind:>10} n={int(n):>2}: " + "; ".join(cells))
    return "\n".join(lines)


def plot_precision(ds: xr.Dataset):
    """Grouped bars of the time ratios of :func:`run_precision`, one panel per input."""
    import holoviews as hv

    panels = []
    for kind in ds.input.values:
        data = [(f"{m} n={int(n)}", str(p), ds.ratio.sel({"input": kind, "dim": n, "method": m, "precision": p}).item())
                for n in ds.dim.values for m in ds.method.values for p in ds.precision.values]
        panels.append(hv.Bars(data, ["solver", "precision"], "time / torch").opts(
            width=420, height=300, title=f"float64, {kind} matrices", tools=["hover"], xrotation=30))
    return hv.Layout(panels).cols(2)


DEFLATION_SOLVERS = ("torch", "qr own", "qr shared")


def run_deflation(profile: str = "demo", **overrides) -> xr.Dataset:
    """Why every matrix must deflate on its own: the errors of ``"qr"`` as it is (``"qr own"``)
    and with one deflation window shared by the whole batch (``"qr shared"``, the ablation
    ``qr_eigh(..., deflation="shared")``: the batch deflates as soon as one matrix has converged),
    against ``torch.linalg.eigh``, on adversarial and on random batches.

    Both ``qr`` variants get each matrix divided by its largest entry (as :func:`eigh` scales it)
    and the eigenvalues scaled back.

    Overrides: ``device``, ``dims``, ``batch``, ``seed``.

    Returns:
        Dataset over ``(input, dtype, dim, solver)`` with the worst and the median reconstruction
        error and the worst orthogonality error over the batch (:func:`decomposition_errors`),
        and ``share_wrong``: the share of matrices whose reconstruction error exceeds 100 times
        the worst of ``torch.linalg.eigh`` on the same batch.

    Example:
        >>> ds = run_deflation("smoke", dims=(4,), batch=20)
        >>> bool(ds.worst_reconstruction.sel(solver="qr shared").min() > 1e-3)
        True
    """
    from ..linalg.eigh_qr import qr_eigh

    profile = resolve_profile(profile)
    o = dict(overrides)
    device = torch.device(o.pop("device", "cpu"))
    dims = tuple(o.pop("dims", pick(profile, smoke=(4, 8), demo=(4, 8, 16, 32), paper=(4, 8, 16, 32, 64))))
    batch = o.pop("batch", pick(profile, smoke=40, demo=200, paper=1000))
    seed = o.pop("seed", 0)
    if o:
        raise TypeError(f"unknown overrides for batched_eigh.run_deflation: {sorted(o)}")
    inputs = ("adversarial", "random")
    shape = (len(inputs), len(DTYPES), len(dims), len(DEFLATION_SOLVERS))
    worst, median, orth, wrong = (np.zeros(shape) for _ in range(4))
    for i, kind in enumerate(inputs):
        for t, dtype in enumerate(DTYPES.values()):
            for j, n in enumerate(dims):
                A = (adversarial_batch(batch, n, dtype=dtype, device=device, seed=seed) if kind == "adversarial"
                     else random_symmetric(batch, n, dtype, device, seed=seed + n))
                scale = A.abs().amax((-2, -1), keepdim=True).clamp_min(torch.finfo(dtype).tiny)
                results = {"torch": torch.linalg.eigh(A)}
                for solver in DEFLATION_SOLVERS[1:]:
                    w, V = qr_eigh(A / scale, deflation=solver.split()[1])
                    results[solver] = (w * scale[..., 0], V)
                errs = {k: decomposition_errors(A, *r) for k, r in results.items()}
                bound = 100 * float(errs["torch"]["reconstruction"].max())
                for k, solver in enumerate(DEFLATION_SOLVERS):
                    rec = errs[solver]["reconstruction"]
                    worst[i, t, j, k], median[i, t, j, k] = float(rec.max()), float(rec.median())
                    orth[i, t, j, k] = float(errs[solver]["orthogonality"].max())
                    wrong[i, t, j, k] = float((rec > bound).double().mean())
    dims_ = ("input", "dtype", "dim", "solver")
    return xr.Dataset(
        {"worst_reconstruction": (dims_, worst, {"long_name": "max ‖A − VΛVᵀ‖/‖A‖"}),
         "median_reconstruction": (dims_, median, {"long_name": "median ‖A − VΛVᵀ‖/‖A‖"}),
         "worst_orthogonality": (dims_, orth, {"long_name": "max ‖VᵀV − I‖"}),
         "share_wrong": (dims_, wrong, {"long_name": "share of matrices with error > 100× torch's worst"})},
        coords={"input": list(inputs), "dtype": list(DTYPES), "dim": list(dims), "solver": list(DEFLATION_SOLVERS)},
        attrs={"profile": profile, "device": str(device), "batch": batch, "seed": seed},
    )


def deflation_report(ds: xr.Dataset) -> str:
    """One line per input, dtype and size from :func:`run_deflation`: worst reconstruction errors
    and, for the shared window, the share of matrices it got wrong."""
    lines = [f"worst reconstruction error over {ds.attrs['batch']} matrices: torch / qr own deflation / "
             "qr shared deflation (share of matrices > 100x torch's worst, shared)"]
    for kind in ds.input.values:
        for dt in ds.dtype.values:
            for n in ds.dim.values:
                cell = ds.sel({"input": kind, "dtype": dt, "dim": n})
                w = [cell.worst_reconstruction.sel(solver=m).item() for m in DEFLATION_SOLVERS]
                share = cell.share_wrong.sel(solver="qr shared").item()
                lines.append(f"  {kind:>11} {dt:>7} n={int(n):>2}: {w[0]:.1e} / {w[1]:.1e} / {w[2]:.1e} ({share:.0%})")
    return "\n".join(lines)


def plot_deflation(ds: xr.Dataset):
    """Worst reconstruction error per size and solver (log scale), one panel per input and dtype."""
    import holoviews as hv

    panels = []
    for kind in ds.input.values:
        for dt in ds.dtype.values:
            cell = ds.worst_reconstruction.sel({"input": kind, "dtype": dt})
            floor = max(float(cell.min()), float(torch.finfo(DTYPES[str(dt)]).eps) / 100) / 4  # a log axis: above 0
            data = [(f"n={int(n)}", str(m), max(cell.sel({"dim": n, "solver": m}).item(), floor))
                    for n in ds.dim.values for m in ds.solver.values]
            panels.append(hv.Bars(data, ["size", "solver"], "worst reconstruction error").opts(
                width=420, height=280, logy=True, ylim=(floor, 2.0), title=f"{kind} batch, {dt}", tools=["hover"]))
    return hv.Layout(panels).cols(2)
