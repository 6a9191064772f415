"""Tests of the eigh-based applications: decorrelated BN with groups and whitening-colouring transfer."""

import pytest
import torch

from ai4m_kit.linalg.eigh_layers import DecorrelatedBatchNorm, eigen_power, patch_style_transfer
from ai4m_kit.linalg.layers import whitening_coloring_transform


@pytest.mark.parametrize("method, precision", [("qr", "auto"), ("jacobi", "full"), ("jacobi", "mixed"), ("torch", "auto")])
def test_eigen_power_matches_float64_oracle(method, precision):
    X = torch.randn(3, 40, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    C = X.mT @ X / 40
    w, U = torch.linalg.eigh(C + 1e-5 * torch.eye(5, dtype=torch.float64))
    for p in (-0.5, 0.5):
        ref = U @ torch.diag_embed(w**p) @ U.mT
        torch.testing.assert_close(eigen_power(C, p, method=method, precision=precision), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method, precision", [("qr", "full"), ("jacobi", "full"), ("jacobi", "mixed")])
@pytest.mark.parametrize("groups", (1, 2, 4))
def test_dbn_whitens_each_group(method, precision, groups):
    torch.manual_seed(0)
    x = torch.randn(128, 8, 3, 3, dtype=torch.float64) * torch.linspace(0.1, 5, 8, dtype=torch.float64).view(1, 8, 1, 1)
    x = x + 0.8 * x[:, :1]  # correlate channels
    layer = DecorrelatedBatchNorm(8, groups=groups, method=method, eps=1e-8, precision=precision).double()
    y = layer(x)
    rows = y.transpose(0, 1).reshape(8, -1)
    cov = rows @ rows.T / rows.shape[1]
    c = 8 // groups
    for g in range(groups):
        block = cov[g * c : (g + 1) * c, g * c : (g + 1) * c]
        torch.testing.assert_close(block, torch.eye(c, dtype=torch.float64), rtol=0, atol=1e-6)
    assert rows.mean(1).abs().max() < 1e-10


def test_dbn_methods_agree_and_running_statistics():
    torch.manual_seed(1)
    x = torch.randn(64, 6) @ torch.randn(6, 6)
    outs = {}
    for method in ("torch", "qr", "jacobi"):
        layer = DecorrelatedBatchNorm(6, groups=2, method=method, momentum=1.0)
        outs[method] = layer(x)
        layer.eval()
        # with momentum 1 the running statistics are the batch ones: eval reproduces training output
        torch.testing.assert_close(layer(x), outs[method], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(outs["qr"], outs["torch"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(outs["jacobi"], outs["torch"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grad_mode", ("exact", "taylor", "pade"))
def test_dbn_gradcheck(grad_mode):
    torch.manual_seed(2)
    layer = DecorrelatedBatchNorm(4, groups=2, method="qr", grad_mode=grad_mode, eps=1e-3).double()
    x = (torch.randn(24, 4, dtype=torch.float64) * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)).requires_grad_()
    if grad_mode == "exact":
        assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-5)
    else:  # approximate eigenvector gradients: finite and close to the exact ones
        layer(x).pow(3).sum().backward()
        approx = x.grad.clone()
        x.grad = None
        layer.grad_mode = "exact"
        layer(x).pow(3).sum().backward()
        assert torch.isfinite(approx).all()
        assert (approx - x.grad).norm() / x.grad.norm() < 0.5


def test_dbn_bad_input():
    with pytest.raises(ValueError, match="groups must divide"):
        DecorrelatedBatchNorm(6, groups=4)
    with pytest.raises(ValueError, match=r"x must be shaped \(B, 6, ...\)"):
        DecorrelatedBatchNorm(6)(torch.randn(8, 5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        DecorrelatedBatchNorm(6)(torch.randn(1, 6))


@pytest.mark.parametrize("method", ("qr", "jacobi"))
def test_wct_eigh_solver_matches_style_statistics(method):
    """solver="eigh": one batched eigh call for the content and style covariances of every group."""
    gen = torch.Generator().manual_seed(3)
    content = torch.randn(6, 3000, dtype=torch.float64, generator=gen)
    style = torch.randn(6, 6, dtype=torch.float64, generator=gen) @ torch.randn(6, 4000, dtype=torch.float64, generator=gen) + 2

    def wct(c, s, **kw):
        return whitening_coloring_transform(c[None], s[None], method=method, solver="eigh", **kw)[0]

    out = wct(content, style, groups=2, eps=1e-10)
    torch.testing.assert_close(out.mean(1), style.mean(1), rtol=0, atol=1e-9)
    cov_o, cov_s = torch.cov(out), torch.cov(style)
    for g in range(2):
        s = slice(3 * g, 3 * g + 3)
        torch.testing.assert_close(cov_o[s, s], cov_s[s, s], rtol=1e-6, atol=1e-6)
    # the same transform as the matrix-root solver
    torch.testing.assert_close(out, whitening_coloring_transform(content[None], style[None], method="eig", groups=2, eps=1e-10)[0])
    torch.testing.assert_close(wct(content, style, alpha=0.0), content)
    with pytest.raises(ValueError, match="share"):
        wct(content, style[:4])
    with pytest.raises(ValueError, match="alpha"):
        wct(content, style, alpha=2.0)
    with pytest.raises(ValueError, match="divisor"):
        wct(content, style, groups=4)
    with pytest.raises(ValueError, match="solver"):
        whitening_coloring_transform(content[None], style[None], solver="svd")


def test_patch_style_transfer_moves_colours_towards_style():
    gen = torch.Generator().manual_seed(4)
    content = torch.rand(3, 24, 24, generator=gen) * 0.3  # dark
    style = 0.6 + 0.4 * torch.rand(3, 30, 30, generator=gen) * torch.tensor([1.0, 0.2, 0.2]).view(3, 1, 1)
    out = patch_style_transfer(content, style, patch=3, groups=3, method="jacobi")
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    err_before = (content.mean((1, 2)) - style.mean((1, 2))).abs().max()
    err_after = (out.mean((1, 2)) - style.mean((1, 2))).abs().max()
    assert err_after < 0.1 * err_before
    with pytest.raises(ValueError, match="content must be an image"):
        patch_style_transfer(content[0], style)
