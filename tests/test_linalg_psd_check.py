"""sqrtm / inv_sqrtm refuse what has no real root: indefinite input (every method used to return
its own wrong answer), singular input to the inverse root, NaN and inf; with one-line messages
that name the matrix, its smallest eigenvalue and the tolerance. check=False skips the test."""

from __future__ import annotations

import pytest
import torch

from ai4m_kit.linalg import sqrtm_auto
from ai4m_kit.linalg.checks import check_positive_semidefinite, eigenvalue_tolerance
from ai4m_kit.linalg.sqrtm import closed_form_grad, inv_sqrtm, reference_covariance, reference_root, sqrtm

METHODS = ("mtp", "mpa", "ns", "eig", "auto")
F64 = torch.float64
EPS64 = torch.finfo(F64).eps


@pytest.fixture(autouse=True)
def _private_auto_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))
    sqrtm_auto.clear_memory_cache()
    yield
    sqrtm_auto.clear_memory_cache()


def with_spectrum(*evals: float, seed: int = 0) -> torch.Tensor:
    """A symmetric float64 matrix with the given eigenvalues, in a random orthonormal basis."""
    Q, _ = torch.linalg.qr(torch.randn(len(evals), len(evals), generator=torch.Generator().manual_seed(seed), dtype=F64))
    return (Q * torch.tensor(evals, dtype=F64)) @ Q.T


def spd_batch(batch: int, n: int, dtype=F64) -> torch.Tensor:
    return reference_covariance(batch, n=n, dtype=dtype)


# ----------------------------------------------------------------- indefinite input
@pytest.mark.parametrize("method", METHODS)
def test_indefinite_1x1_is_refused_by_every_method(method):
    with pytest.raises(ValueError, match=r"^A must be positive semi-definite; matrix 0 has eigenvalue -4 "
                                         r"\(tolerance -4\.77e-07: n·eps relative to the largest \|eigenvalue\|, 4\)"):
        sqrtm(torch.tensor([[-4.0]]), method)
    with pytest.raises(ValueError, match=r"^A must be positive definite; matrix 0 has eigenvalue -4 \(tolerance"):
        inv_sqrtm(torch.tensor([[-4.0]]), method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("inverse", [False, True])
def test_indefinite_nxn_is_refused_by_every_method(method, inverse):
    A = with_spectrum(-1.0, 2.0, 3.0, 4.0)
    kind = "definite" if inverse else "semi-definite"
    tol = 4 * EPS64 * 4.0
    with pytest.raises(ValueError, match=rf"^A must be positive {kind}; matrix 0 has eigenvalue -1 "
                                         rf"\(tolerance {-tol:.3g}: n·eps relative to the largest \|eigenvalue\|, 4\)"):
        (inv_sqrtm if inverse else sqrtm)(A, method)


@pytest.mark.parametrize("inverse", [False, True])
def test_the_first_bad_matrix_of_a_batch_is_named(inverse):
    A = spd_batch(5, 4)
    A[2] = with_spectrum(1.0, 2.0, -0.5, 3.0)
    A[4] = with_spectrum(1.0, 2.0, -7.0, 3.0)
    fn = inv_sqrtm if inverse else sqrtm
    with pytest.raises(ValueError, match=r"matrix 2 has eigenvalue -0\.5 \("):
        fn(A, "eig")
    B = spd_batch(6, 3).reshape(2, 3, 3, 3)
    B[1, 0] = with_spectrum(-2.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"matrix \(1, 0\) has eigenvalue -2 \("):
        fn(B, "mtp")


def test_inv_sqrtm_refuses_singular_matrices_and_names_the_way_out():
    for method in METHODS:
        with pytest.raises(ValueError, match=r"^A must be positive definite; matrix 0 is singular to working precision: "
                                             r"its smallest eigenvalue 0 is within the tolerance ±0 of 0 .*"
                                             r"add a ridge first, inv_sqrtm\(A \+ eps·I\); check=False skips this test$"):
            inv_sqrtm(torch.zeros(3, 3), method)
    rank_deficient = reference_covariance(3, n=8, samples_per_dim=0.5, ridge=0.0)
    with pytest.raises(ValueError, match=r"matrix 0 is singular to working precision: its smallest eigenvalue \S+ is "
                                         r"within the tolerance ±\S+ of 0 \(n·eps relative to the largest \|eigenvalue\|"):
        inv_sqrtm(rank_deficient, "mpa")


def test_tolerance_is_n_eps_of_the_largest_eigenvalue():
    """Diagonal matrices (Cholesky and eigenvalues exact) on either side of t = n·ε·max|λ|."""
    t = 2 * EPS64
    sqrtm(torch.diag(torch.tensor([1.0, -0.5 * t], dtype=F64)), "eig")  # round-off: accepted
    with pytest.raises(ValueError, match="eigenvalue -8.88e-16 \\(tolerance -4.44e-16"):
        sqrtm(torch.diag(torch.tensor([1.0, -2 * t], dtype=F64)), "eig")
    inv_sqrtm(torch.diag(torch.tensor([1.0, 2 * t], dtype=F64)), "eig")  # small but resolved: accepted
    with pytest.raises(ValueError, match="singular to working precision: its smallest eigenvalue 2.22e-16 is within"):
        inv_sqrtm(torch.diag(torch.tensor([1.0, 0.5 * t], dtype=F64)), "eig")
    w = torch.tensor([[-4.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(eigenvalue_tolerance(w, torch.float32), torch.tensor([3 * 4 * 2.0**-23, 0.0]))


# ----------------------------------------------------------------- NaN and inf
@pytest.mark.parametrize("fn", [sqrtm, inv_sqrtm])
@pytest.mark.parametrize("value, word", [(float("nan"), "NaN"), (float("inf"), "inf"), (float("-inf"), "inf")])
def test_nan_and_inf_get_a_clear_error(fn, value, word):
    A = spd_batch(3, 4)
    A[1, 2, 2] = value
    with pytest.raises(ValueError, match=rf"^A must be finite; matrix 1 holds {word} \(batch shape \(3,\)\)$"):
        fn(A, "mtp")
    B = spd_batch(1, 4)[0]
    B[0, 3] = B[3, 0] = value  # symmetric, off the diagonal
    with pytest.raises(ValueError, match=rf"^A must be finite; matrix 0 holds {word}"):
        fn(B, "eig")


def test_the_psd_check_on_its_own_checks_its_argument():
    with pytest.raises(TypeError, match=r"^A must be a floating-point torch.Tensor shaped \(\.\.\., n, n\); got torch.int64"):
        check_positive_semidefinite(torch.eye(2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^A must be square matrices shaped \(\.\.\., n, n\); got shape \(2, 3\)"):
        check_positive_semidefinite(torch.zeros(2, 3))


def test_the_psd_check_on_its_own_reports_nan_in_the_batch():
    A = spd_batch(4, 3)
    A[3, 0, 1] = A[3, 1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^M must be finite; matrix 3 holds NaN"):
        check_positive_semidefinite(A, name="M")


# ----------------------------------------------------------------- what passes
@pytest.mark.parametrize("method", METHODS)
def test_check_false_skips_the_test(method):
    out = sqrtm(torch.tensor([[-4.0]], dtype=F64), method, check=False)  # a wrong answer, but no error
    assert out.shape == (1, 1)
    inv = inv_sqrtm(torch.zeros(2, 3, 3, dtype=F64), "eig", check=False)
    assert torch.isfinite(inv).all()  # "eig" regularises at its floor


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_singular_psd_matrices_are_accepted_by_sqrtm(method, dtype):
    """Rank-deficient covariances (the zero eigenvalues come out as ± round-off) and zeros."""
    rank_deficient = reference_covariance(4, n=8, samples_per_dim=0.5, ridge=0.0, dtype=dtype)
    A = torch.cat([rank_deficient, torch.zeros(1, 8, 8, dtype=dtype)])
    out = sqrtm(A, method)
    assert torch.isfinite(out).all()
    if method == "eig":
        torch.testing.assert_close(out.double(), reference_root(A), rtol=0, atol=1e-3 if dtype == torch.float32 else 1e-7)


def test_rounded_covariances_of_fewer_samples_than_dimensions_pass():
    """X Xᵀ computed in float32 from fewer samples than n: every null eigenvalue within the tolerance."""
    g = torch.Generator().manual_seed(3)
    for n in (2, 3, 4, 16, 64):
        X = torch.randn(200, n, max(1, n // 2), generator=g)
        check_positive_semidefinite(X @ X.mT)


def test_positive_definite_batches_take_no_eigenvalues(monkeypatch):
    """The screen is one Cholesky factorisation per matrix: eigenvalues only where it fails."""
    def no_eigenvalues(*args, **kwargs):
        raise AssertionError("the check computed eigenvalues of a positive definite batch")

    A = spd_batch(64, 16, dtype=torch.float32)
    monkeypatch.setattr(torch.linalg, "eigvalsh", no_eigenvalues)
    sqrtm(A, "mtp")
    inv_sqrtm(A, "mpa")
    check_positive_semidefinite(A, definite=True)


# ----------------------------------------------------------------- gradients
@pytest.mark.parametrize("fn", [sqrtm, inv_sqrtm])
@pytest.mark.parametrize("method", ["eig", "ns"])
def test_gradcheck_passes_with_the_check_on(fn, method):
    A = spd_batch(2, 4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda X: fn(X, method, sym_tol=1e-4), (A,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("method", ["mtp", "mpa", "eig"])
def test_the_check_leaves_gradients_unchanged(inverse, method):
    A = spd_batch(3, 6)
    G = torch.randn(A.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    fn = inv_sqrtm if inverse else sqrtm
    grads = []
    for check in (True, False):
        X = A.clone().requires_grad_(True)
        fn(X, method, check=check).backward(G)
        grads.append(X.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    ref = closed_form_grad(A, G, inverse)
    # within the accuracy of the Lyapunov backward (exact for "eig")
    assert float((grads[0] - ref).norm() / ref.norm()) < (1e-10 if method == "eig" else 1e-3)


# ----------------------------------------------------------------- empty batches
@pytest.mark.parametrize("fn", [sqrtm, inv_sqrtm])
@pytest.mark.parametrize("method", METHODS)
def test_empty_batches_stay_on_the_graph(fn, method):
    A = torch.zeros(0, 4, 4, dtype=F64, requires_grad=True)
    out = fn(A, method)
    assert out.shape == (0, 4, 4) and out.requires_grad
    out.sum().backward()
    assert A.grad.shape == (0, 4, 4)
    B = torch.zeros(2, 0, 0, requires_grad=True)  # n = 0: refused by the check, empty without it
    with pytest.raises(ValueError, match="n ≥ 1"):
        fn(B, method)
    out = fn(B, method, check=False)
    assert out.shape == (2, 0, 0) and out.requires_grad
    out.sum().backward()
    assert B.grad.shape == (2, 0, 0)
