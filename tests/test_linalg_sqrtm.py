"""Tests of ai4m_kit.linalg.sqrtm against float64 eigh, scipy and the closed-form gradient.

Tolerances are stated per method. Reference inputs are sample covariances of 2n Gaussian samples
(condition number ≈ 30), on which the Frobenius-normalised series converge slowly, and
well-conditioned matrices where every method must be close to the oracle.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.interpolate
import scipy.linalg
import torch

from ai4m_kit.linalg import sqrtm_auto
from ai4m_kit.linalg.sqrtm import (
    closed_form_grad,
    inv_sqrtm,
    lyapunov_newton_schulz,
    lyapunov_smith,
    pade_sqrt_coefficients,
    reference_covariance,
    reference_root,
    refine_sqrt,
    spectral_upper_bound,
    sqrtm,
    taylor_sqrt_coefficients,
)


def rel_err(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.detach().double().cpu(), y.detach().double().cpu()
    return float(((x - y).norm(dim=(-2, -1)) / y.norm(dim=(-2, -1))).max())


def well_conditioned(batch: int, n: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    """Spectrum in [0.5, 1]: every series and iteration converges fast."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(batch, n, n, generator=g, dtype=torch.float64))
    lam = 0.5 + 0.5 * torch.rand(batch, n, generator=g, dtype=torch.float64)
    return ((Q * lam.unsqueeze(-2)) @ Q.transpose(-2, -1)).to(dtype)


def geometric_spectrum(n: int, ratio: float = 10.0, seed: int = 0) -> torch.Tensor:
    """Eigenvalues 1, ratio, ratio², ...: the Taylor/Padé eigen-backward is then exact to ~1e-10."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    lam = ratio ** torch.arange(n, dtype=torch.float64)
    return (Q * lam) @ Q.T


@pytest.fixture(autouse=True)
def _private_auto_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))
    sqrtm_auto.clear_memory_cache()
    yield
    sqrtm_auto.clear_memory_cache()


# ----------------------------------------------------------------- coefficients
def test_pade_coefficients_match_scipy():
    taylor = list(taylor_sqrt_coefficients(20))
    for m, n in [(1, 1), (3, 2), (5, 5), (8, 8)]:
        p_ref, q_ref = scipy.interpolate.pade(taylor[: m + n + 1], n, m)
        p, q = pade_sqrt_coefficients(m, n)
        scale = q_ref.coeffs[-1]  # numpy poly1d: highest order first; normalise q_0 = 1
        np.testing.assert_allclose(p, (p_ref.coeffs / scale)[::-1], rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(q, (q_ref.coeffs / scale)[::-1], rtol=1e-7, atol=1e-12)


def test_taylor_coefficients_reproduce_sqrt():
    z = 0.3
    approx = sum(c * z**k for k, c in enumerate(taylor_sqrt_coefficients(40)))
    assert abs(approx - (1 - z) ** 0.5) < 1e-14
    approx = sum(c * z**k for k, c in enumerate(taylor_sqrt_coefficients(40, inverse=True)))
    assert abs(approx - (1 - z) ** -0.5) < 1e-14


# ----------------------------------------------------------------- forward
@pytest.mark.parametrize(
    "method,kwargs,tol",
    [
        ("eig", {}, 1e-12),
        ("ns", {"iterations": 8}, 1e-10),
        ("mpa", {}, 1e-4),
        ("mtp", {"degree": 20}, 3e-3),
    ],
)
@pytest.mark.parametrize("inverse", [False, True])
def test_forward_well_conditioned(method, kwargs, tol, inverse):
    A = well_conditioned(3, 12)
    out = (inv_sqrtm if inverse else sqrtm)(A, method, **kwargs)
    assert rel_err(out, reference_root(A, inverse)) < tol


def test_forward_sample_covariances_ordering():
    """On 64×64 sample covariances: stated tolerances, and MPA [5/5] beats 5-iteration NS (MAE)."""
    A = reference_covariance(4, n=64, dtype=torch.float32)
    ref = reference_root(A)
    configs = {"eig": ("eig", {}), "mpa": ("mpa", {}), "ns5": ("ns", {"iterations": 5}),
               "ns9": ("ns", {"iterations": 9}), "mtp": ("mtp", {})}
    outs = {name: sqrtm(A, m, **kw) for name, (m, kw) in configs.items()}
    errs = {name: rel_err(out, ref) for name, out in outs.items()}
    assert errs["eig"] < 1e-5
    assert errs["ns9"] < 1e-3
    assert errs["mpa"] < 0.05
    assert errs["mtp"] < 0.25
    mae = {name: float((outs[name].double() - ref).abs().mean()) for name in ("mpa", "ns5")}
    assert mae["mpa"] < mae["ns5"]


def test_degree_improves_accuracy():
    A = reference_covariance(2, n=32)
    ref = reference_root(A)
    e_mtp = [rel_err(sqrtm(A, "mtp", degree=d), ref) for d in (6, 12, 18)]
    e_mpa = [rel_err(sqrtm(A, "mpa", degree=d), ref) for d in (3, 6, 9)]
    e_ns = [rel_err(sqrtm(A, "ns", iterations=i), ref) for i in (3, 5, 7)]
    for errs in (e_mtp, e_mpa, e_ns):
        assert errs[0] > errs[1] > errs[2]


# ----------------------------------------------------------------- gradients
@pytest.mark.parametrize("eig_grad", ["exact", "taylor", "pade"])
@pytest.mark.parametrize("inverse", [False, True])
def test_gradcheck_eig(eig_grad, inverse):
    A = geometric_spectrum(4).unsqueeze(0).repeat(2, 1, 1)
    fn = inv_sqrtm if inverse else sqrtm
    # the input is symmetrised inside, so check the map of the upper triangle
    A.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda X: fn(X, "eig", eig_grad=eig_grad, eig_degree=12, sym_tol=1e-4),
                                    (A,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("inverse", [False, True])
def test_gradcheck_ns(inverse):
    A = well_conditioned(2, 5).requires_grad_(True)
    fn = inv_sqrtm if inverse else sqrtm
    assert torch.autograd.gradcheck(lambda X: fn(X, "ns", iterations=4, sym_tol=1e-4), (A,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["mpa", "mtp"])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lyapunov_gradient_matches_closed_form(method, inverse, dtype):
    """Target: default gradients within 1e-3 relative of the float64 closed form (64×64)."""
    A64 = reference_covariance(2, n=64)
    G = torch.randn(A64.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    A = A64.to(dtype).requires_grad_(True)
    (inv_sqrtm if inverse else sqrtm)(A, method).backward(G.to(dtype))
    assert rel_err(A.grad, closed_form_grad(A64, G, inverse)) < 1e-3


@pytest.mark.parametrize("inverse", [False, True])
def test_mtp_gradient_stays_accurate_when_ill_conditioned(inverse):
    """MTP's Newton polish runs until converged (δ = max|S⁻²A − I| small), so its gradient stays within
    1e-3 at condition ≈ 270 in float32, where unpolished [5/5] MPA is 8e-2 off (measured)."""
    A64 = reference_covariance(4, n=64, samples_per_dim=1.2)
    ev = torch.linalg.eigvalsh(A64)
    assert (ev[:, -1] / ev[:, 0]).min() > 150
    G = torch.randn(A64.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    A = A64.float().requires_grad_(True)
    (inv_sqrtm if inverse else sqrtm)(A, "mtp").backward(G.float())
    assert rel_err(A.grad, closed_form_grad(A64, G, inverse)) < 1e-3


def test_lya_polish_option():
    """lya_polish=0 turns the polish of MPA's root off: at condition ≈ 70 its gradient is >= 5x further off."""
    A64 = reference_covariance(4, n=64, samples_per_dim=1.5)
    G = torch.randn(A64.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ref = closed_form_grad(A64, G)
    errs = []
    for polish in (0, 6):
        A = A64.float().requires_grad_(True)
        sqrtm(A, "mpa", lya_polish=polish).backward(G.float())
        errs.append(rel_err(A.grad, ref))
    assert errs[1] < 1e-3 < errs[0] and errs[1] * 5 < errs[0]  # measured 4.0e-3 -> 4.8e-4
    with pytest.raises(ValueError, match="lya_polish"):
        sqrtm(torch.eye(3), "mpa", lya_polish=-1)
    with pytest.raises(ValueError, match="lya_solver"):
        sqrtm(torch.eye(3), "mpa", lya_solver="bartels-stewart")


def test_spectral_upper_bound_is_guaranteed_and_tight():
    """u = ‖A⁴‖_F^{1/4} never falls below λ_max (eigvalsh oracle, incl. rank-deficient and
    repeated spectra) and is within 25 % of it on 64×64 sample covariances (‖A‖_F: ≈ 3.5×)."""
    cases = [reference_covariance(8, n=64), reference_covariance(4, n=16, samples_per_dim=0.5, ridge=0.0),
             well_conditioned(4, 12), 3.0 * torch.eye(5, dtype=torch.float64), torch.diag(torch.tensor([0.0, 2.0]))]
    for A in cases:
        lmax = torch.linalg.eigvalsh(A.double())[..., -1]
        u, _ = spectral_upper_bound(A)
        assert bool((u.squeeze(-1).squeeze(-1) >= lmax * (1 - 1e-12)).all())
    u, _ = spectral_upper_bound(cases[0])
    assert float((u.flatten() / torch.linalg.eigvalsh(cases[0])[..., -1]).max()) < 1.25


@pytest.mark.parametrize("inverse", [False, True])
def test_spectral_normalisation_forward_accuracy(inverse):
    """Spectral normalisation on condition-30 covariances in float32, vs float64 eigh: [5/5] MPA
    within 1e-4 (root) / 5e-4 (inverse root), Frobenius > 1e-2; degree-8 MTP within 3e-2 / 0.25,
    Frobenius > 0.1 / 0.4. On a spectrum in [0.5, 1] (float64, n = 16) spectral MPA is within 1e-5
    (λ_max sits at x ≈ 4 of √x, where [5/5] is ≈ 1e-6 off), Frobenius MPA within 1e-4, MTP within
    2e-3 (spectral; the inverse series converges slowly at z = −1) and 0.1 (Frobenius)."""
    A = reference_covariance(4, n=64, dtype=torch.float32)
    ref = reference_root(A, inverse)
    fn = inv_sqrtm if inverse else sqrtm
    assert rel_err(fn(A, "mpa"), ref) < (5e-4 if inverse else 1e-4)
    assert rel_err(fn(A, "mpa", normalisation="frobenius"), ref) > 1e-2
    assert rel_err(fn(A, "mtp"), ref) < (0.25 if inverse else 3e-2)
    assert rel_err(fn(A, "mtp", normalisation="frobenius"), ref) > (0.4 if inverse else 0.1)
    W = well_conditioned(3, 16)
    for method in ("mpa", "mtp"):
        for norm in ("spectral", "frobenius"):
            tol = {("mpa", "spectral"): 1e-5, ("mpa", "frobenius"): 1e-4, ("mtp", "spectral"): 2e-3,
                   ("mtp", "frobenius"): 0.1}[(method, norm)]
            assert rel_err(fn(W, method, normalisation=norm), reference_root(W, inverse)) < tol


@pytest.mark.parametrize("method", ["mpa", "mtp"])
@pytest.mark.parametrize("normalisation", ["spectral", "frobenius"])
def test_lyapunov_gradient_both_normalisations(method, normalisation):
    """The accurate backward is within 1e-3 of the float64 closed form with either normalisation
    (float32, 64×64, condition ≈ 30), for the root and the inverse root."""
    A64 = reference_covariance(2, n=64, seed=4)
    G = torch.randn(A64.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for inverse in (False, True):
        A = A64.float().requires_grad_(True)
        (inv_sqrtm if inverse else sqrtm)(A, method, normalisation=normalisation).backward(G.float())
        assert rel_err(A.grad, closed_form_grad(A64, G, inverse)) < 1e-3


def test_lyapunov_tensor_scale_matches_scipy():
    """A given scale s with ‖S‖₂/s up to 1.5 (< √3) still converges to the Lyapunov solution."""
    S = reference_root(reference_covariance(n=10, seed=6))
    G = torch.randn(10, 10, dtype=torch.float64)
    s = torch.linalg.matrix_norm(S, ord=2) / 1.5
    X, its = lyapunov_newton_schulz(S, G + G.T, scale=s)
    ref = scipy.linalg.solve_continuous_lyapunov(S.numpy(), (G + G.T).numpy())
    np.testing.assert_allclose(X.numpy(), ref, rtol=1e-8, atol=1e-10)
    assert its < 50


def test_scaled_lyapunov_iteration_matches_scipy_in_fewer_steps():
    """Chen–Chow scaling with a lower spectral bound: same solution, fewer Newton–Schulz steps; a
    bound that is too high still converges (the unscaled eigenvalues below it only go slower)."""
    S = reference_root(reference_covariance(2, n=16, seed=6))
    G = torch.randn(2, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    G = G + G.mT
    ref = np.stack([scipy.linalg.solve_continuous_lyapunov(S[i].numpy(), G[i].numpy()) for i in range(2)])
    ev = torch.linalg.eigvalsh(S)
    top = ev[..., -1:].unsqueeze(-1)
    low = float((ev[..., 0] / ev[..., -1]).min())
    X0, k0 = lyapunov_newton_schulz(S, G, scale=top)
    X1, k1 = lyapunov_newton_schulz(S, G, scale=top, lower=low)
    X2, k2 = lyapunov_newton_schulz(S, G, scale=top, lower=min(0.99, 3 * low))
    for X in (X0, X1, X2):
        np.testing.assert_allclose(X.numpy(), ref, rtol=1e-8, atol=1e-10)
    assert k1 < k0 and k2 < 100


def test_smith_lyapunov_matches_scipy_and_its_error_bound():
    """Squared Smith: float64 to 1e-9 of scipy at conditions 30 to 1e4 (of A); float32 within its
    stated bound (tol 1e-5) of the float64 closed form; fewer steps than Newton–Schulz; finite
    on a singular S, where no solution exists."""
    for spd, ridge in ((2.0, 1e-3), (1.05, 1e-4)):
        S = reference_root(reference_covariance(3, n=24, samples_per_dim=spd, ridge=ridge, seed=7))
        G = torch.randn(3, 24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        G = G + G.mT
        ref = np.stack([scipy.linalg.solve_continuous_lyapunov(S[i].numpy(), G[i].numpy()) for i in range(3)])
        X, steps = lyapunov_smith(S, G, tol=1e-15)
        np.testing.assert_allclose(X.numpy(), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
        X32, _ = lyapunov_smith(S.float(), G.float())
        assert rel_err(X32, torch.from_numpy(ref)) < 1e-5
        X_fixed, k = lyapunov_smith(S, G, iterations=9)  # a fixed count runs every step
        assert k == 9 and rel_err(X_fixed, torch.from_numpy(ref)) < 1e-12
    S = reference_root(reference_covariance(4, n=64))
    G = torch.randn(S.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    _, k_smith = lyapunov_smith(S, G, tol=1e-8)
    _, k_ns = lyapunov_newton_schulz(S, G, tol=1e-8)
    assert k_smith < k_ns  # measured 4 vs 8
    singular = reference_root(reference_covariance(2, n=8, samples_per_dim=0.5, ridge=0.0))
    X, steps = lyapunov_smith(singular, torch.eye(8, dtype=torch.float64).expand(2, 8, 8))
    assert torch.isfinite(X).all() and steps < 12


def test_refine_sqrt_series_step_meets_its_bound():
    """One binomial-series step from the degree-8 Taylor root (≈ 25 % off at the smallest
    eigenvalue): the eigenvalue-wise error is below |b_6| δ⁶/(1 − δ) with δ = ‖S⁻²A − I‖_F, and
    the default loop reaches float64 round-off."""
    A = reference_covariance(4, n=32, seed=8)
    ref = reference_root(A)
    S0 = sqrtm(A, "mtp", lyapunov="fast").detach()  # forward only: the unpolished Taylor root
    M = torch.linalg.inv(S0)
    delta = float(torch.linalg.matrix_norm(M @ M @ A - torch.eye(32, dtype=A.dtype)).max())
    assert 0.2 < delta < 1.0
    S1 = refine_sqrt(A, S0, max_steps=1)
    w, V = torch.linalg.eigh(A)
    err0 = ((V.mT @ S0 @ V).diagonal(dim1=-2, dim2=-1) / w.sqrt() - 1).abs().max()
    err1 = ((V.mT @ S1 @ V).diagonal(dim1=-2, dim2=-1) / w.sqrt() - 1).abs().max()
    b6 = abs(taylor_sqrt_coefficients(6)[6])
    assert err0 > 0.05 and err1 <= b6 * delta ** 6 / (1 - delta)
    assert rel_err(refine_sqrt(A, S0), ref) < 1e-12
    with pytest.raises(ValueError, match="degree"):
        refine_sqrt(A, S0, degree=0)


def test_published_lyapunov_setting_is_inaccurate():
    """The published 8-iteration Frobenius-scaled backward is percent-level off; ours is not."""
    A64 = reference_covariance(2, n=64)
    G = torch.randn(A64.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    S = reference_root(A64)
    X_pub, _ = lyapunov_newton_schulz(S, G, iterations=8, scale="fro")
    X_acc, its = lyapunov_newton_schulz(S, G)
    ref = closed_form_grad(A64, G)
    assert rel_err(X_pub, ref) > 1e-2
    assert rel_err(X_acc, ref) < 1e-10 and its < 50


def test_lyapunov_solver_matches_scipy():
    S = reference_root(reference_covariance(n=10, seed=5))
    G = torch.randn(10, 10, dtype=torch.float64)
    X, _ = lyapunov_newton_schulz(S, G + G.T)
    ref = scipy.linalg.solve_continuous_lyapunov(S.numpy(), (G + G.T).numpy())
    np.testing.assert_allclose(X.numpy(), ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method,kwargs", [("mpa", {}), ("mtp", {}), ("mpa", {"lyapunov": "fast"}), ("ns", {}),
                                           ("eig", {}), ("eig", {"eig_grad": "taylor"}), ("eig", {"eig_grad": "pade"})])
def test_gradients_are_symmetric(method, kwargs):
    A = reference_covariance(2, n=8).requires_grad_(True)
    G = torch.randn(2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    sqrtm(A, method, **kwargs).backward(G)  # non-symmetric upstream gradient
    assert torch.allclose(A.grad, A.grad.transpose(-2, -1), atol=1e-12)


def test_eig_variants_approximate_exact_gradient():
    """Exact is exact; the stable approximations (degree 9) err where eigenvalues are close
    (ratio near 1): on 16×16 sample covariances both are ~10 % off (measured 0.12 and 0.13)."""
    A = reference_covariance(2, n=16)
    G = torch.randn(A.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = closed_form_grad(A, G)
    errs = {}
    for mode in ("exact", "pade", "taylor"):
        X = A.clone().requires_grad_(True)
        sqrtm(X, "eig", eig_grad=mode).backward(G)
        errs[mode] = rel_err(X.grad, ref)
    assert errs["exact"] < 1e-10
    assert errs["pade"] < 0.3 and errs["taylor"] < 0.3


# ----------------------------------------------------------------- stability
STABLE = [("eig", {"eig_grad": "exact"}), ("eig", {"eig_grad": "taylor"}), ("eig", {"eig_grad": "pade"}),
          ("mpa", {}), ("mpa", {"lyapunov": "fast"}), ("mpa", {"lya_polish": 3}), ("mtp", {}), ("ns", {})]


@pytest.mark.parametrize("method,kwargs", STABLE)
@pytest.mark.parametrize("case", ["rank_deficient", "repeated", "zero"])
def test_no_nan_or_inf_on_degenerate_input(method, kwargs, case):
    if case == "rank_deficient":
        A = reference_covariance(2, n=16, samples_per_dim=0.5, ridge=0.0, dtype=torch.float32)
    elif case == "repeated":
        A = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0, 1.0, 0.5])).repeat(2, 1, 1)
    else:
        A = torch.zeros(2, 5, 5)
    A.requires_grad_(True)
    out = sqrtm(A, method, **kwargs)
    out.backward(torch.ones_like(out))
    assert torch.isfinite(out).all() and torch.isfinite(A.grad).all()


def test_rank_deficient_values_are_close_for_eig():
    A = reference_covariance(2, n=16, samples_per_dim=0.5, ridge=0.0)
    assert rel_err(sqrtm(A, "eig"), reference_root(A)) < 1e-7


# ----------------------------------------------------------------- shapes, dtypes, validation
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("method", ["mtp", "mpa", "ns", "eig", "auto"])
def test_batch_shapes(shape, method):
    A = well_conditioned(int(np.prod(shape)) if shape else 1, 6).reshape(*shape, 6, 6).requires_grad_(True)
    out = sqrtm(A, method)
    assert out.shape == A.shape and out.dtype == A.dtype
    out.sum().backward()
    assert A.grad.shape == A.shape
    tol = {"mtp": 5e-3}.get(method, 1e-3)  # default degree 8 on spectra in [0.5, 1]
    assert rel_err(out.reshape(-1, 6, 6), reference_root(A.reshape(-1, 6, 6))) < tol


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    A = well_conditioned(2, 8, dtype=torch.float32)
    out = sqrtm(A.to(dtype), "mpa")
    assert out.dtype == dtype
    assert rel_err(out, reference_root(A)) < 2e-2


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (torch.zeros(3, 4), ValueError, "square"),
        (torch.tensor([[1.0, 2.0], [0.0, 1.0]]), ValueError, "symmetric"),
        (torch.tensor([[float("nan"), 0.0], [0.0, 1.0]]), ValueError, "finite"),
        (torch.eye(2, dtype=torch.int64), TypeError, "float"),
        (np.eye(2), TypeError, "torch.Tensor"),
    ],
)
def test_validation(bad, exc, match):
    with pytest.raises(exc, match=match):
        sqrtm(bad, "eig")


def test_bad_options():
    A = torch.eye(3)
    with pytest.raises(ValueError, match="method"):
        sqrtm(A, "cholesky")
    with pytest.raises(ValueError, match="degree"):
        sqrtm(A, "mtp", degree=0)
    with pytest.raises(TypeError, match="degree"):
        sqrtm(A, "mpa", degree="5")
    with pytest.raises(ValueError, match="iterations"):
        sqrtm(A, "ns", iterations=0)
    with pytest.raises(ValueError, match="eig_grad"):
        sqrtm(A, "eig", eig_grad="svd")
    with pytest.raises(ValueError, match="lyapunov"):
        sqrtm(A, "mpa", lyapunov="slow")
    with pytest.raises(ValueError, match="normalisation"):
        sqrtm(A, "mpa", normalisation="spectrum")


# ----------------------------------------------------------------- auto
def test_auto_picks_fastest_accurate_from_cache(monkeypatch):
    key = sqrtm_auto.cache_key(8, 4, torch.float64, "cpu", inverse=False, grad=False)
    entry = {"candidates": {
        "ns5": {"seconds": 0.001, "error": 0.1},       # fastest but too inaccurate
        "mpa8": {"seconds": 0.002, "error": 1e-5},     # fastest accurate
        "eig": {"seconds": 0.003, "error": 1e-12},
    }}
    path = sqrtm_auto.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": sqrtm_auto.CACHE_VERSION, "entries": {key: entry}}))

    def no_measuring(*args, **kwargs):
        raise AssertionError("auto should use the cached measurement")

    monkeypatch.setattr(sqrtm_auto, "measure", no_measuring)
    assert sqrtm_auto.choose_method((4, 8, 8), torch.float64, "cpu", grad=False, tol=1e-3)["method"] == "mpa"
    assert sqrtm_auto.choose_method((4, 8, 8), torch.float64, "cpu", grad=False, tol=1e-9)["method"] == "eig"
    assert sqrtm_auto.choose_method((4, 8, 8), torch.float64, "cpu", grad=False, tol=0.5)["method"] == "ns"
    A = well_conditioned(4, 8)
    assert rel_err(sqrtm(A, "auto"), reference_root(A)) < 1e-3


def test_auto_measures_once_and_meets_tolerance():
    A = reference_covariance(3, n=8)
    out = sqrtm(A, tol=1e-6)
    assert rel_err(out, reference_root(A)) < 1e-6
    data = json.loads(sqrtm_auto.cache_path().read_text())
    (entry,) = data["entries"].values()
    assert set(entry["candidates"]) == set(sqrtm_auto.CANDIDATES)
