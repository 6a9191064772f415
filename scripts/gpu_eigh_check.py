"""GPU check of the batched eigensolvers (issue 5), for one short run on a CUDA machine.

Sections (``--sections``, in this order; each prints as it goes, so a run stopped early keeps what
it finished):
  accuracy  ``"triton"`` on adversarial batches (n = 2..32, both dtypes): error ratios to
            ``torch.linalg.eigh``, ascending order, warnings;
  sweep     ``triton_eigh`` for several ``(BLOCK, num_warps)`` per n and dtype at batch 512 and
            4096 against ``torch.linalg.eigh`` in the same interleaved rounds; prints the best
            configuration per size as a ``TUNED`` table and uses it for the later sections;
  bench     ``ai4m bench eigh --device cuda`` at batch 512 (with a fresh ``auto`` calibration, the
            accuracy section and float64 full against mixed precision, which decides whether
            ``eigh_mixed.MIXED_SIZES`` should list CUDA) and at batch 4096;
  checks    cost of ``eigh``'s input check on CUDA against ``torch.linalg.eigh``;
  grad      ``torch.autograd.gradcheck`` of ``eigh(A, "triton")`` in float64 on CUDA;
  study     the notebook's study at the ``smoke`` size on CUDA;
  tests     the eigh unit tests with ``AI4M_TEST_DEVICE=cuda`` (the compiled-qr test left out);
  compile   ``qr`` with ``compile=True`` at n = 8 (first call, then ratios for several
            ``CHECK_EVERY``); minutes of compiling.

Usage: ``python scripts/gpu_eigh_check.py --sections accuracy,sweep,bench,checks,grad,study,tests``
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from ai4m_kit.timing import interleaved_medians, ratios  # noqa: E402
from ai4m_kit.linalg import eigh_qr, eigh_triton  # noqa: E402
from ai4m_kit.linalg.checks import check_symmetric  # noqa: E402
from ai4m_kit.bench.eigh import DTYPES  # noqa: E402
from ai4m_kit.cli import main as cli_main  # noqa: E402
from ai4m_kit.linalg.matrices import random_symmetric  # noqa: E402
from ai4m_kit.linalg.eigh import eigh  # noqa: E402
from ai4m_kit.studies import batched_eigh as study  # noqa: E402

DEV = "cuda"


def accuracy() -> None:
    print("\n[accuracy] triton on adversarial batches: error / torch error (recon, orth), sorted, warnings", flush=True)
    for dtype in DTYPES.values():
        eps = torch.finfo(dtype).eps
        for n in (2, 3, 5, 8, 13, 16, 24, 32):
            A = study.adversarial_batch(90, n, dtype=dtype, device=DEV, seed=n)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                w, V = eigh(A, "triton")
            ref = study.decomposition_errors(A, *torch.linalg.eigh(A))
            got = study.decomposition_errors(A, w, V)
            r = [got[k].max().item() / max(ref[k].max().item(), eps) for k in ref]
            print(f"  {str(dtype)[6:]:>7} n={n:>2}: {r[0]:6.2f} {r[1]:6.2f} sorted={bool((w[:, 1:] >= w[:, :-1]).all())} "
                  f"finite={bool(torch.isfinite(V).all())} warnings={len(caught)}", flush=True)


def _configs(N: int) -> list[tuple[int, int]]:
    out = []
    for warps in (1, 2, 4, 8):
        for block in (1, 2, 4, 8, 16, 32, 64):
            per_thread = block * N * N / (32 * warps)
            if 2 <= per_thread <= 16 and warps <= {4: 2, 8: 2, 16: 4, 32: 8}[N] and not (N == 32 and warps == 1):
                out.append((block, warps))
    return out


def sweep(repeats: int) -> None:
    print("\n[sweep] triton_eigh(A, block, num_warps) / torch.linalg.eigh, batch 512 and 4096", flush=True)
    for dtype in DTYPES.values():
        for n in (4, 8, 16, 32):
            configs = _configs(n)
            scores = {c: 0.0 for c in configs}
            for b in (512, 4096):
                A = random_symmetric(b, n, dtype, DEV, seed=n + b)
                cands = {"baseline": lambda A=A: torch.linalg.eigh(A)}
                for blk, w in configs:
                    cands[f"{blk}/{w}"] = lambda A=A, blk=blk, w=w: eigh_triton.triton_eigh(A, block=blk, num_warps=w)
                t0 = time.perf_counter()
                med = interleaved_medians(cands, repeats=repeats, device=DEV, min_time=0.01)
                r = ratios(med, "baseline")
                for c in configs:
                    scores[c] += math.log(r[f"{c[0]}/{c[1]}"])
                print(f"  {str(dtype)[6:]:>7} n={n:>2} b={b:>4}: torch {med['baseline'] * 1e3:.3f} ms; "
                      + " ".join(f"{k} {v:.2f}" for k, v in r.items() if k != "baseline")
                      + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
            best = min(scores, key=scores.get)
            eigh_triton.TUNED[(n, torch.finfo(dtype).bits // 8)] = best
            print(f"  best for n={n} {str(dtype)[6:]}: block/warps {best[0]}/{best[1]}", flush=True)
    print(f"TUNED = {eigh_triton.TUNED}", flush=True)


def bench(repeats: int) -> None:
    cli_main(["bench", "eigh", "--device", DEV, "--batch", "512", "--calibrate", "--repeats", str(repeats)])
    cli_main(["bench", "eigh", "--device", DEV, "--batch", "4096", "--skip-grid", "--skip-accuracy", "--skip-precision",
                "--repeats", str(repeats)])


def checks(repeats: int) -> None:
    print("\n[checks] input check on CUDA: time / torch.linalg.eigh", flush=True)
    for b in (1, 512, 4096):
        A = random_symmetric(b, 8, torch.float32, DEV, seed=b)
        med = interleaved_medians({
            "baseline": lambda: torch.linalg.eigh(A),
            "check_symmetric": lambda: check_symmetric(A),
            "one-sync variant": lambda: torch.stack(((A != A.mT).any().to(A.dtype), A.sum())).tolist(),
            "triton verify=False": lambda: eigh_triton.triton_eigh(A, verify=False),
            "triton verify=True": lambda: eigh_triton.triton_eigh(A),
            "eigh triton check=False": lambda: eigh(A, "triton", check=False),
            "eigh triton": lambda: eigh(A, "triton"),
        }, repeats=repeats, device=DEV, min_time=0.01)
        print(f"  b={b:>4}: torch {med['baseline'] * 1e6:.1f} us; "
              + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in med.items() if k != "baseline"), flush=True)


def grad() -> None:
    X = torch.randn(3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(DEV)
    S = (X + X.mT).requires_grad_()
    for mode in ("exact",):  # the Taylor and Padé forms approximate this gradient on purpose
        def f(A, mode=mode):
            w, V = eigh(0.5 * (A + A.mT), "triton", grad_mode=mode)
            return w, (V.abs() ** 3).sum()  # invariant to the eigenvectors' signs
        ok = torch.autograd.gradcheck(f, (S,), eps=1e-6, atol=1e-5)
        print(f"\n[grad] gradcheck eigh(A, 'triton', grad_mode={mode!r}) on CUDA float64: {ok}", flush=True)


def run_study() -> None:
    t0 = time.perf_counter()
    ds = study.run("smoke", device=DEV)
    print(f"\n[study] smoke on CUDA: {time.perf_counter() - t0:.1f} s\n{study.speed_report(ds)}\n{study.conclusion(ds)}",
          flush=True)


def tests() -> None:
    import subprocess

    root = os.path.join(os.path.dirname(__file__), "..")
    env = dict(os.environ, AI4M_TEST_DEVICE="cuda")
    env.pop("TRITON_INTERPRET", None)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not compiled",
                          "tests/test_linalg_eigh.py", "tests/test_linalg_eigh_triton.py"],
                         cwd=root, env=env, capture_output=True, text=True)
    print("\n[tests] AI4M_TEST_DEVICE=cuda\n" + out.stdout[-3000:] + out.stderr[-1000:], flush=True)


def compiled(repeats: int) -> None:
    for dtype in DTYPES.values():
        A = random_symmetric(512, 8, dtype, DEV, seed=8)
        t0 = time.perf_counter()
        eigh(A, "qr", compile=True)
        torch.cuda.synchronize()
        print(f"\n[compile] n=8 {dtype}: first call {time.perf_counter() - t0:.1f} s", flush=True)
        for b in (512, 4096):
            A = random_symmetric(b, 8, dtype, DEV, seed=b)
            cands = {"baseline": lambda A=A: torch.linalg.eigh(A)}
            for every in (1, 4, 8):
                def call(A=A, every=every):
                    eigh_qr.CHECK_EVERY["cuda"] = every
                    return eigh(A, "qr", compile=True)
                cands[f"every={every}"] = call
            cands["eager qr"] = lambda A=A: eigh(A, "qr")
            r = ratios(interleaved_medians(cands, repeats=repeats, device=DEV, min_time=0.02), "baseline")
            print(f"  batch {b}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items() if k != "baseline"), flush=True)
        eigh_qr.CHECK_EVERY.pop("cuda", None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", default="accuracy,sweep,bench,checks,grad,study,tests")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    import triton

    print(f"torch {torch.__version__}, triton {triton.__version__}, {torch.cuda.get_device_name()}, "
          f"CUDA {torch.version.cuda}", flush=True)
    steps = {"accuracy": accuracy, "sweep": lambda: sweep(args.repeats), "bench": lambda: bench(args.repeats),
             "checks": lambda: checks(args.repeats), "grad": grad, "study": run_study, "tests": tests,
             "compile": lambda: compiled(args.repeats)}
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        try:
            steps[name]()
        except Exception as exc:  # keep going: one failing section must not lose the others' figures
            print(f"\n[{name}] FAILED: {type(exc).__name__}: {exc}", flush=True)
        print(f"[{name}] {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
