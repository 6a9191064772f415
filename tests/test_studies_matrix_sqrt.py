"""The matrix square-root study at a tiny size: structure of the Dataset, sanity of the numbers,
findings computed from them, plots build."""

from __future__ import annotations

import pytest
import torch
import xarray as xr

from ai4m_kit.models.resnet_small import ResNetSmall
from ai4m_kit.studies import matrix_sqrt

TINY = dict(batches=[1, 2], dims=[4, 8], dim=8, batch=2, degrees=[6, 12], lya_iterations=[2, 10],
            train_steps=2, train_batch=16, width=4, groups=2, repeats=1)


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> xr.Dataset:
    mp = pytest.MonkeyPatch()
    mp.setenv("AI4M_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.delenv("AI4M_PROFILE", raising=False)
    try:
        yield matrix_sqrt.run("smoke", **TINY)
    finally:
        mp.undo()


def test_dataset_layout(ds):
    assert set(ds["method"].values) == set(matrix_sqrt.METHODS)
    assert list(ds["batch"].values) == [1, 2] and list(ds["dim"].values) == [4, 8]
    assert ds["time_fwd_bwd_vs_batch"].dims == ("method", "batch")
    assert ds.attrs["profile"] == "smoke" and ds.attrs["device"] == "cpu"
    assert (ds["time_fwd_bwd_vs_dim"] > 0).all() and (ds["lya_time"] > 0).all()


def test_numbers_are_sane(ds):
    # higher degree and more Lyapunov iterations are more accurate
    assert (ds["err_vs_degree"].isel(degree=-1) < ds["err_vs_degree"].isel(degree=0)).all()
    assert float(ds["lya_grad_err"].sel(solver="newton-schulz (spectral)", lya_iterations=10)) < 1e-4
    assert float(ds["lya_grad_err"].sel(solver="smith", lya_iterations=10)) < 1e-6
    # eig is exact to float32 round-off, its gradient too; NS-5 is not
    assert float(ds["err_vs_dim"].sel({"method": "eig"}).max()) < 1e-5
    assert float(ds["grad_err_vs_dim"].sel({"method": "mpa-lya"}).max()) < 1e-3
    assert bool(ds["rankdef_finite"].sel({"method": "eig"}))
    # fewer samples per dimension: worse conditioned; the exact eig gradient stays accurate there
    cond = ds["grad_err_vs_condition"]["condition"].values
    assert cond[1] > cond[0] > 1
    assert float(ds["grad_err_vs_condition"].sel({"method": "eig"}).max()) < 1e-3
    assert ((ds["test_accuracy"] >= 0) & (ds["test_accuracy"] <= 1)).all()


def test_findings_and_plot(ds):
    facts = matrix_sqrt.findings(ds)
    assert [f["claim"] for f in facts][0].startswith("MPA-Lya")
    assert all(isinstance(f["holds"], bool) and f["evidence"] for f in facts)
    text = matrix_sqrt.summary_markdown(ds)
    assert text.count("hold") >= len(facts)
    import holoviews as hv

    hv.extension("bokeh", logo=False)
    layout = matrix_sqrt.plot(ds)
    assert len(layout) == 11
    hv.render(layout)


def test_unknown_override_rejected():
    with pytest.raises(ValueError, match="unknown overrides"):
        matrix_sqrt.run("smoke", epochs=3)


def test_resnet_with_whitening_trains_one_step():
    from ai4m_kit.linalg.layers import ZCAWhitening

    torch.manual_seed(0)
    net = ResNetSmall(num_classes=3, in_channels=1, width=4, whitening=lambda c: ZCAWhitening(c, groups=2, method="mpa"))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    assert torch.isfinite(net.stem.weight.grad).all() and net.stem.weight.grad.abs().sum() > 0
