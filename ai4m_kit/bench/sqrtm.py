"""``ai4m bench sqrtm``: accuracy and speed of the matrix square-root methods, with ratios against
the 5-iteration coupled Newton–Schulz iteration measured in the same run, and the check that
``method="auto"`` is never much slower than the fastest method meeting its accuracy.
"""

from __future__ import annotations

import argparse

import torch

from ai4m_kit.timing import interleaved_medians, ratios, set_threads

DTYPES = {"float32": torch.float32, "float64": torch.float64}

# label -> (function name, keyword arguments): the configurations compared in section 1 and 2.
CONFIGS: dict[str, dict] = {
    "ns5": {"method": "ns", "iterations": 5},
    "ns7": {"method": "ns", "iterations": 7},
    "mpa-lya": {"method": "mpa"},
    "mpa-lya-nsign": {"method": "mpa", "lya_solver": "newton-schulz"},
    "mpa-lya-fast": {"method": "mpa", "lyapunov": "fast"},
    "mpa-lya-published": {"method": "mpa", "lyapunov": "published"},
    "mpa-lya-frobenius": {"method": "mpa", "normalisation": "frobenius"},
    "mtp-lya": {"method": "mtp"},
    "mtp-lya-nsign": {"method": "mtp", "lya_solver": "newton-schulz"},
    "mtp-lya-fast": {"method": "mtp", "lyapunov": "fast"},
    "mtp-lya-frobenius": {"method": "mtp", "normalisation": "frobenius"},
    "eig": {"method": "eig"},
    "eig-pade": {"method": "eig", "eig_grad": "pade"},
}


def _rel(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.detach().double().cpu(), y.detach().double().cpu()
    return float(((x - y).norm(dim=(-2, -1)) / y.norm(dim=(-2, -1))).max())


def accuracy_table(n: int, batch: int, dtype: torch.dtype, device: str, seed: int = 0,
                   samples_per_dim: float = 2.0) -> dict[str, dict[str, float]]:
    """Forward relative error, forward MAE and gradient relative error (vs the float64 closed
    form) of every configuration on reference covariances (``samples_per_dim`` 2: condition ≈ 30;
    1.3: ≈ 150)."""
    from ai4m_kit.linalg.sqrtm import closed_form_grad, reference_covariance, reference_root, sqrtm

    A64 = reference_covariance(batch, n=n, seed=seed, samples_per_dim=samples_per_dim)
    G64 = torch.randn(A64.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    G64 = G64 + G64.transpose(-2, -1)
    ref, ref_grad = reference_root(A64), closed_form_grad(A64, G64)
    out = {}
    for label, kw in CONFIGS.items():
        A = A64.to(dtype=dtype, device=device).requires_grad_(True)
        S = sqrtm(A, **kw)
        S.backward(G64.to(dtype=dtype, device=device))
        out[label] = {
            "forward_rel": _rel(S, ref),
            "forward_mae": float((S.detach().double().cpu() - ref).abs().mean()),
            "grad_rel": _rel(A.grad, ref_grad),
        }
    return out


def _fwd_bwd_factory(n: int, batch: int, dtype: torch.dtype, device: str):
    """Returns ``make(kwargs)`` -> a zero-argument call running sqrtm forward+backward on fixed
    reference covariances and upstream gradient (the same inputs for every configuration)."""
    from ai4m_kit.linalg.sqrtm import reference_covariance, sqrtm

    A = reference_covariance(batch, n=n, dtype=dtype, device=device)
    G = torch.randn(A.shape, generator=torch.Generator().manual_seed(1), dtype=dtype).to(device)

    def make(kw):
        def call():
            X = A.clone().requires_grad_(True)
            sqrtm(X, **kw).backward(G)
        return call

    return make


def speed_table(n: int, batch: int, dtype: torch.dtype, device: str, repeats: int, tol: float) -> dict[str, float]:
    """Median forward+backward seconds of every configuration and of auto (interleaved)."""
    fwd_bwd = _fwd_bwd_factory(n, batch, dtype, device)
    calls = {label: fwd_bwd(kw) for label, kw in CONFIGS.items()}
    calls["auto"] = fwd_bwd({"method": "auto", "tol": tol})
    calls["auto"]()  # measure/cache auto's choice outside the timed rounds
    return interleaved_medians(calls, repeats=repeats, warmup=1, device=device, min_time=0.02)


def auto_grid(batches: list[int], dims: list[int], dtype: torch.dtype, device: str, repeats: int, tol: float,
              calibrate: bool, log=print) -> list[dict]:
    """At every grid point: auto against every candidate meeting ``tol`` (timed in the same run)."""
    from ai4m_kit.linalg import sqrtm_auto

    rows = []
    for n in dims:
        for b in batches:
            if calibrate:
                sqrtm_auto.calibrate(n, b, dtype, device, grad=True, repeats=max(3, repeats // 2))
            sqrtm_auto.choose_method((b, n, n), dtype, device, grad=True, tol=tol)  # measures the entry if missing
            entry = sqrtm_auto._load()[sqrtm_auto.cache_key(n, b, dtype, device, inverse=False, grad=True)]
            chosen = sqrtm_auto.pick(entry, tol)
            qualified = [k for k, v in entry["candidates"].items() if v["error"] <= tol] or [chosen]
            fwd_bwd = _fwd_bwd_factory(n, b, dtype, device)
            calls = {name: fwd_bwd(sqrtm_auto.candidate_call(name)) for name in qualified}
            calls["auto"] = fwd_bwd({"method": "auto", "tol": tol})
            t = interleaved_medians(calls, repeats=repeats, warmup=1, device=device, min_time=0.05)
            fastest = min(qualified, key=t.get)
            row = {"n": n, "batch": b, "auto_choice": chosen, "fastest": fastest,
                   "auto_s": t["auto"], "fastest_s": t[fastest], "ratio": t["auto"] / t[fastest],
                   "qualified": ",".join(qualified)}
            rows.append(row)
            log(f"  n={n:4d} batch={b:4d}  auto={chosen:9s} fastest={fastest:9s}  auto/fastest={row['ratio']:.3f}"
                f"  ({t['auto'] * 1e3:.2f} ms vs {t[fastest] * 1e3:.2f} ms; meeting tol: {row['qualified']})")
    return rows


def run(args: argparse.Namespace) -> int:
    """The sections chosen in ``args.sections`` with the options of ``ai4m bench sqrtm``."""
    threads = set_threads(args.threads)
    dtype = DTYPES[args.dtype]
    dev = torch.device(args.device)
    print(f"ai4m bench sqrtm  device={dev} threads={threads} dtype={args.dtype} torch={torch.__version__}")
    print("inputs: sample covariances of 2n Gaussian samples + 1e-3 I (condition number about 30)\n")

    if 1 in args.sections:
        _section_accuracy(args, dtype, dev)
    if 2 in args.sections:
        _section_speed(args, dtype, dev)
    if 3 in args.sections:
        _section_grid(args, dtype, dev)
    if 4 in args.sections:
        _section_overhead(args, dtype, dev)
    return 0


def _section_overhead(args: argparse.Namespace, dtype: torch.dtype, dev: torch.device) -> None:
    """auto runs exactly the chosen method's code; its only extra cost is the lookup of the choice."""
    import time

    from ai4m_kit.linalg import sqrtm_auto

    print("4. auto's dispatch overhead (cached choice lookup), per call")
    for n in args.grid_dim:
        for b in args.grid_batch:
            shape = (b, n, n)
            sqrtm_auto.choose_method(shape, dtype, dev, grad=True, tol=args.tol)  # measured/cached before
            reps = 2000
            t0 = time.perf_counter()
            for _ in range(reps):
                sqrtm_auto.choose_method(shape, dtype, dev, grad=True, tol=args.tol)
            dt = (time.perf_counter() - t0) / reps
            print(f"  n={n:4d} batch={b:4d}  {dt * 1e6:7.2f} us")


def _section_accuracy(args: argparse.Namespace, dtype: torch.dtype, dev: torch.device) -> None:
    print(f"1. accuracy at {args.dim}x{args.dim}, batch {args.batch} (vs float64 eigh / closed-form gradient)")
    acc = accuracy_table(args.dim, args.batch, dtype, str(dev))
    print(f"  {'config':20s} {'fwd rel':>10s} {'fwd MAE':>10s} {'grad rel':>10s}")
    for label, r in acc.items():
        print(f"  {label:20s} {r['forward_rel']:10.2e} {r['forward_mae']:10.2e} {r['grad_rel']:10.2e}")
    g_default = max(acc["mpa-lya"]["grad_rel"], acc["mtp-lya"]["grad_rel"])
    print(f"  target default gradient rel. error < 1e-3: {g_default:.2e} -> {'met' if g_default < 1e-3 else 'NOT met'}")
    mae_ok = acc["mpa-lya"]["forward_mae"] < acc["ns5"]["forward_mae"]
    print(f"  target MPA forward MAE below NS-5: {acc['mpa-lya']['forward_mae']:.2e} vs {acc['ns5']['forward_mae']:.2e}"
          f" -> {'met' if mae_ok else 'NOT met'}")
    worse = accuracy_table(args.dim, args.batch, dtype, str(dev), samples_per_dim=1.3)
    print("  gradient rel. error on covariances of 1.3 samples per dimension (condition ≈ 150): "
          + ", ".join(f"{label} {worse[label]['grad_rel']:.1e}" for label in worse) + "\n")


def _section_speed(args: argparse.Namespace, dtype: torch.dtype, dev: torch.device) -> None:
    print(f"2. forward+backward time at {args.dim}x{args.dim}, batch {args.batch} (median of {args.repeats} interleaved rounds)")
    t = speed_table(args.dim, args.batch, dtype, str(dev), args.repeats, args.tol)
    r = ratios(t, "ns5")
    for label in t:
        print(f"  {label:20s} {t[label] * 1e3:9.2f} ms   ratio to ns5 {r[label]:6.3f}")
    for label in ("mpa-lya", "mtp-lya", "mpa-lya-nsign", "mtp-lya-nsign", "mpa-lya-fast", "mtp-lya-fast"):
        print(f"  target {label} at least as fast as ns5: ratio {r[label]:.3f} -> {'met' if r[label] <= 1.0 else 'NOT met'}")
    print(f"  MPA-Lya / eig: {t['mpa-lya'] / t['eig']:.3f}   MPA-Lya-fast / eig: {t['mpa-lya-fast'] / t['eig']:.3f}\n")


def _section_grid(args: argparse.Namespace, dtype: torch.dtype, dev: torch.device) -> None:
    print(f"3. auto (tol={args.tol:g}, forward+backward) vs the fastest method meeting tol, same run"
          f"{' (calibrated now)' if args.calibrate else ''}")
    rows = auto_grid(args.grid_batch, args.grid_dim, dtype, str(dev), max(3, args.repeats), args.tol, args.calibrate)
    worst = max(rows, key=lambda row: row["ratio"])
    print(f"  target auto never > 1.1x the fastest: worst {worst['ratio']:.3f} at n={worst['n']} batch={worst['batch']}"
          f" -> {'met' if worst['ratio'] <= 1.1 else 'NOT met'}")
