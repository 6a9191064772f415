"""Mixed-precision float64 eigendecomposition: float32 solve, float64 refinement, float64 finish."""

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ai4m_kit.linalg.matrices import ill_conditioned_covariances
from ai4m_kit.linalg.eigh import eigh
from ai4m_kit.linalg.eigh_solvers import _symmetric_batch_last
from ai4m_kit.linalg.eigh_mixed import FIRST, _columns, mixed_eigh, mixed_pays, refine
from ai4m_kit.linalg.matrices import adversarial_batch, decomposition_errors

F64 = torch.float64
EPS = torch.finfo(F64).eps


def _within_10x_of_torch(A, w, V):
    ours = decomposition_errors(A, w, V)
    ref = decomposition_errors(A, *torch.linalg.eigh(A))
    for key in ("reconstruction", "orthogonality"):
        assert ours[key].max().item() <= 10 * max(ref[key].max().item(), EPS), (key, ours[key].max().item())
    oracle = torch.linalg.eigvalsh(A)
    scale = A.flatten(-2).norm(dim=-1).clamp_min(1e-300)
    assert ((w - oracle).abs().amax(-1) / scale).max().item() <= 10 * A.shape[-1] * EPS


def _near_pairs(batch, n, gap, seed=0):
    """Random eigenvectors, eigenvalues ``1, 1 + gap, 2, 3, ...``: a pair closer than float32 and
    than the refinement's cluster floor resolve."""
    Q, _ = torch.linalg.qr(torch.randn(batch, n, n, generator=torch.Generator().manual_seed(seed), dtype=F64))
    lam = torch.arange(n, dtype=F64)
    lam[0], lam[1] = 1.0, 1.0 + gap
    A = Q @ torch.diag(lam) @ Q.mT
    return 0.5 * (A + A.mT)


def _perturbed_eigenvectors(A, size, seed=0):
    """torch's eigenvectors times exp(size · skew) plus a non-orthogonal error of the same size."""
    _, V = torch.linalg.eigh(A)
    g = torch.Generator().manual_seed(seed)
    K = torch.randn(V.shape, generator=g, dtype=F64) * size
    return V @ torch.linalg.matrix_exp(K - K.mT) + size * torch.randn(V.shape, generator=g, dtype=F64)


def test_refine_doubles_digits_from_perturbed_eigenvectors():
    """Oracle: torch.linalg.eigh (float64). From errors of 1e-6, one step reaches about 1e-12 and
    two reach rounding level, where the check accepts every matrix."""
    X = torch.randn(64, 8, 8, generator=torch.Generator().manual_seed(1), dtype=F64)
    A = X + X.mT
    V0 = _perturbed_eigenvectors(A, 1e-6)
    one = refine(A, V0, steps=1)
    two = refine(A, V0, steps=2)
    err1 = decomposition_errors(A, one["evals"], one["evecs"])
    err2 = decomposition_errors(A, two["evals"], two["evecs"])
    assert 1e-14 < err1["reconstruction"].max() < 1e-9 and not one["converged"].all()
    assert err2["reconstruction"].max() < 20 * EPS and err2["orthogonality"].max() < 40 * EPS
    assert two["converged"].all()
    torch.testing.assert_close(two["evals"].sort(-1).values, torch.linalg.eigvalsh(A), rtol=0, atol=1e-13)


def test_refine_keeps_repeated_eigenvalues_orthonormal():
    """Exactly repeated eigenvalues: any orthonormal basis of the eigenspace is right, so the step
    must only orthogonalise there (a step that divided rounding noise by rounding-level gaps lost
    orthogonality at the second step)."""
    Q, _ = torch.linalg.qr(torch.randn(32, 8, 8, generator=torch.Generator().manual_seed(2), dtype=F64))
    lam = torch.tensor([1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0, -2.0], dtype=F64)
    A = Q @ torch.diag(lam) @ Q.mT
    A = 0.5 * (A + A.mT)
    out = refine(A, _perturbed_eigenvectors(A, 1e-6, seed=3))
    assert out["converged"].all()
    _within_10x_of_torch(A, out["evals"], out["evecs"])


@pytest.mark.parametrize("method", ("jacobi", "qr"))
def test_ill_conditioned_matrices_take_the_float64_finish(method):
    """Covariances over 12 decades: the float32 solve mixes the eigenvectors of the small
    eigenvalues, refinement cannot separate them (and its large steps cost orthonormality), and
    the float64 finish must. Pairs of eigenvalues 1e-9 apart (inside the cluster floor, outside the
    check's tolerance) stay orthonormal but unresolved.
    Both branches of the finish are exercised: S from X as it is, and from X made orthonormal."""
    A = torch.cat([ill_conditioned_covariances(40, 8, F64, "cpu"), adversarial_batch(40, 8, seed=7), _near_pairs(20, 8, 1e-9)])
    At, scale = _symmetric_batch_last(A)
    X32 = _columns(FIRST[method](At.float())[1], F64)
    first = refine(At.permute(2, 0, 1).contiguous(), X32)
    assert (~first["converged"] & first["orthonormal"]).any() and (~first["orthonormal"]).any()
    w, V = eigh(A, method, precision="mixed")
    _within_10x_of_torch(A, w, V)


def test_mixed_matches_full_precision_on_random_batches():
    X = torch.randn(300, 12, 12, generator=torch.Generator().manual_seed(4), dtype=F64)
    A = X + X.mT
    w_mixed, V_mixed = eigh(A, "jacobi", precision="mixed")
    w_full, _ = eigh(A, "jacobi", precision="full")
    torch.testing.assert_close(w_mixed, w_full, rtol=0, atol=1e-12)
    _within_10x_of_torch(A, w_mixed, V_mixed)


def test_mixed_arguments_get_clear_errors():
    A = torch.eye(3, dtype=F64).unsqueeze(-1)
    with pytest.raises(TypeError, match="float64"):
        mixed_eigh(A.float(), "jacobi")
    with pytest.raises(ValueError, match="method must be one of"):
        mixed_eigh(A, "torch")
    with pytest.raises(ValueError, match="steps >= 1"):
        refine(A.permute(2, 0, 1), A.permute(2, 0, 1), steps=0)


def test_auto_precision_follows_the_measured_sizes():
    assert mixed_pays("jacobi", 8, "cpu") and not mixed_pays("jacobi", 4, "cpu")
    assert not mixed_pays("qr", 16, "cpu") and not mixed_pays("jacobi", 8, "cuda")


@settings(max_examples=40, deadline=None)
@given(data=st.tuples(st.integers(1, 6), st.integers(1, 12)).flatmap(lambda bn: arrays(
           "float64", (bn[0], bn[1], bn[1]),
           # small integers and zeros: repeated and nearly repeated eigenvalues are common
           elements=st.one_of(st.just(0.0), st.integers(-3, 3).map(float),
                              st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False)))),
       method=st.sampled_from(("jacobi", "qr")))
def test_property_mixed_precision(data, method):
    """Backward errors within 10× torch's (floored at ε) and eigenvalues within 20 n ε ‖A‖ of the
    float64 oracle, whatever path each matrix takes (accepted, extra steps, finished in float64)."""
    A = torch.from_numpy(data)
    A = 0.5 * (A + A.mT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        w, V = eigh(A, method, precision="mixed")
    _within_10x_of_torch(A, w, V)
    assert torch.all(w[..., 1:] >= w[..., :-1])
