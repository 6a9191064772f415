"""What eigh reads of its input: every method the lower triangle, as torch.linalg.eigh does (so
an unchecked non-symmetric input gives one answer, not one per method), and empty batches that
stay on the autograd graph."""

from __future__ import annotations

import pytest
import torch

from ai4m_kit.linalg import eigh_auto, eigh_triton
from ai4m_kit.linalg.eigh import eigh
from ai4m_kit.linalg.eigh_solvers import symmetric_from_lower

TRITON = pytest.param("triton", marks=pytest.mark.skipif(
    not (eigh_triton.available() and eigh_triton.interpreted()),
    reason="CPU tensors: triton through its interpreter (TRITON_INTERPRET=1)"))
METHODS = ("qr", "jacobi", "torch", "auto", TRITON)


@pytest.fixture(autouse=True)
def _private_auto_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path))
    eigh_auto.clear_memo()
    yield
    eigh_auto.clear_memo()


def non_symmetric(batch: int, n: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(batch, n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [2, 5, 8])
def test_unchecked_non_symmetric_input_reads_the_lower_triangle(method, dtype, n):
    A = non_symmetric(6, n, dtype)
    expected = torch.linalg.eigh(A.double())[0]  # LAPACK reads the lower triangle
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    precisions = ("full", "mixed") if dtype == torch.float64 and method in ("qr", "jacobi") else ("auto",)
    for precision in precisions:
        for grad in (False, True):  # the differentiable path reads the same triangle
            X = A.clone().requires_grad_(grad)
            w, V = eigh(X, method, check=False, precision=precision)
            torch.testing.assert_close(w.double(), expected, rtol=0, atol=tol * 10)
            S = symmetric_from_lower(A).double()
            torch.testing.assert_close(V.double() @ torch.diag_embed(w.double()) @ V.double().mT, S, rtol=0, atol=tol * 10)


@pytest.mark.parametrize("method", METHODS)
def test_the_check_still_refuses_non_symmetric_input(method):
    with pytest.raises(ValueError, match=r"^A must be symmetric; got max \|A − Aᵀ\| / max \|A\|"):
        eigh(non_symmetric(2, 4, torch.float64), method)


def test_gradient_of_a_symmetric_input_is_symmetric_for_every_method():
    A = non_symmetric(3, 5, torch.float64)
    A = A + A.mT
    grads = []
    for method in ("qr", "jacobi", "torch"):
        X = A.clone().requires_grad_(True)
        w, V = eigh(X, method)
        (w.sum() + (V.abs() ** 3).sum()).backward()
        grads.append(X.grad)
        torch.testing.assert_close(X.grad, X.grad.mT, rtol=0, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[2], rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(grads[1], grads[2], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_empty_batches_stay_on_the_graph(method):
    A = torch.zeros(0, 4, 4, dtype=torch.float64, requires_grad=True)
    w, V = eigh(A, method)
    assert w.shape == (0, 4) and V.shape == (0, 4, 4)
    assert w.requires_grad and V.requires_grad
    (w.sum() + V.sum()).backward()
    assert A.grad.shape == (0, 4, 4)
    B = torch.zeros(3, 0, 0, requires_grad=True)  # n = 0: refused by the check, empty without it
    w, V = eigh(B, method, check=False)
    assert w.shape == (3, 0) and V.shape == (3, 0, 0) and w.requires_grad and V.requires_grad
    (w.sum() + V.sum()).backward()
    assert B.grad.shape == (3, 0, 0)
    with torch.no_grad():  # no graph wanted: none made
        w, V = eigh(A, method)
    assert not w.requires_grad and not V.requires_grad
