"""The one-kernel Triton Jacobi eigensolver (method "triton"). On a CPU the kernel runs through
Triton's interpreter (switched on in conftest), so sizes stay small; with AI4M_TEST_DEVICE=cuda the
same tests run the compiled kernel and add the larger sizes. The property-based test is in
test_linalg_eigh.py, beside the other methods' one."""

import json
import os
import subprocess
import sys

import pytest
import torch
from ai4m_kit.linalg import eigh_auto, eigh_triton
from ai4m_kit.linalg.eigh import eigh
from ai4m_kit.linalg.matrices import adversarial_batch, decomposition_errors

pytestmark = pytest.mark.skipif(not eigh_triton.available(), reason="triton not installed")
DTYPES = (torch.float32, torch.float64)


def _dims(device):
    return (2, 3, 5, 8) + ((13, 16, 24, 32) if device.type == "cuda" else ())


@pytest.mark.parametrize("dtype", DTYPES)
def test_adversarial_batches_within_10x_of_torch(dtype, device):
    """Two matrices of every adversarial kind per size (ill-conditioned, clustered, diagonal, zero,
    rank one, scaled by 1e-20, graded...), in blocks that mix them: a converged matrix must not disturb
    the others, and results come back in ascending order."""
    eps = torch.finfo(dtype).eps
    for n in _dims(device):
        A = adversarial_batch(18, n, dtype=dtype, device=device, seed=n)
        w, V = eigh(A, "triton")
        ours = decomposition_errors(A, w, V)
        ref = decomposition_errors(A, *torch.linalg.eigh(A))
        for key in ("reconstruction", "orthogonality"):
            bound = 10 * max(ref[key].max().item(), eps)
            assert ours[key].max().item() <= bound, (n, key, ours[key].max().item(), bound)
        assert torch.all(w[..., 1:] >= w[..., :-1])
        scale = A.double().flatten(-2).norm(dim=-1).clamp_min(1e-300)
        oracle = torch.linalg.eigh(A.double())[0]
        assert ((w.double() - oracle).abs().amax(-1) / scale).max().item() <= 10 * n * eps


@pytest.mark.parametrize("block", (1, 3, 4, 16))
def test_any_block_size_and_ragged_last_block(block, device):
    """Blocks of 1, 4 and 16 matrices on a batch of 7 (the last block partly masked) give the same
    decomposition; a block of 3 (not a power of two) gets a clear error."""
    X = torch.randn(7, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(block)).to(device)
    A = X + X.mT
    if block == 3:
        with pytest.raises(ValueError, match="power of two"):
            eigh_triton.triton_eigh(A, block=block)
        return
    w, V = eigh_triton.triton_eigh(A, block=block)
    torch.testing.assert_close(w, torch.linalg.eigh(A)[0], rtol=0, atol=1e-13)
    torch.testing.assert_close(V @ torch.diag_embed(w) @ V.mT, A, rtol=0, atol=1e-13)


def test_sweep_cap_warns(device):
    X = torch.randn(4, 6, 6, generator=torch.Generator().manual_seed(3)).to(device)
    with pytest.warns(RuntimeWarning, match="did not converge in 1 sweeps"):
        eigh_triton.triton_eigh(X + X.mT, max_sweeps=1)


def test_bad_input_gets_clear_error(device):
    with pytest.raises(ValueError, match="above MAX_N = 32"):
        eigh_triton.triton_eigh(torch.eye(33, device=device)[None])
    with pytest.raises(ValueError, match=r"\(B, n, n\)"):
        eigh_triton.triton_eigh(torch.eye(3, device=device))
    with pytest.raises(TypeError, match="float32 or float64"):
        eigh_triton.triton_eigh(torch.eye(3, dtype=torch.float16, device=device)[None])
    with pytest.raises(ValueError, match="above MAX_N"):
        eigh(torch.eye(40, device=device), "triton")


def test_cpu_without_the_interpreter_gets_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    code = ("import torch\nfrom ai4m_kit.linalg.eigh import eigh\n"
            "try:\n    eigh(torch.eye(3), 'triton')\nexcept RuntimeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "TRITON_INTERPRET=1" in out.stdout, out.stderr[-2000:]


def test_auto_offers_triton_only_where_it_can_win(tmp_path, monkeypatch):
    """On a CPU the interpreter is never a candidate, and a stored choice of "triton" that cannot
    run (forged here for the CPU) falls back to torch.linalg.eigh."""
    assert "triton" not in eigh_auto.candidates("cpu")
    assert eigh_auto.candidates("cuda") == eigh_auto.CANDIDATES + ("triton",)  # no GPU needed to ask
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path))
    eigh_auto.clear_memo()
    key = eigh_auto.device_key("cpu", torch.float32)
    table = {"dims": [8, 64], "batches": [512], "choice": [["triton"], ["triton"]], "times": {}}
    (tmp_path / "eigh_auto.json").write_text(json.dumps({key: table}))
    try:
        assert eigh_auto.choose(8, 512, "cpu", torch.float32) == "torch"
    finally:
        eigh_auto.clear_memo()


def test_kernel_compiles_for_hopper_without_a_gpu():
    """The interpreter accepts some code that Triton's compiler rejects: compile the kernel for
    sm_90 (H100/H200) at every padded size and dtype, in a process without the interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    code = """
import torch, triton
from triton.compiler import ASTSource
from triton.backends.compiler import GPUTarget
from ai4m_kit.linalg import eigh_triton as et
for ty, dt in (("fp32", torch.float32), ("fp64", torch.float64)):
    for n in (3, 8, 16, 32):
        N = et.padded(n)
        block, warps = et.default_block(n, dt)
        sig = {"A_ptr": "*" + ty, "W_ptr": "*" + ty, "V_ptr": "*" + ty, "S_ptr": "*i32", "B": "i32",
               "max_sweeps": "i32", "tol2": "fp32", "n": "constexpr", "N": "constexpr", "BLOCK": "constexpr",
               "F64": "constexpr"}
        src = ASTSource(fn=et._KERNEL, signature=sig, constexprs={"n": n, "N": N, "BLOCK": block, "F64": ty == "fp64"})
        k = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
        assert len(k.asm["cubin"]) > 1000
        print("compiled", ty, n)
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("compiled") == 8
