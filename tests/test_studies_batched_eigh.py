"""Tests of the batched-eigh study (small sizes; timings are only checked for shape and sign)."""

import numpy as np
import pytest
import torch

from ai4m_kit.studies import batched_eigh as study


def test_run_small_dataset_and_summary():
    ds = study.run("smoke", batches=(1, 8), dims=(4, 6), dim_batch=8, acc_dims=(3, 5), acc_batch=18,
                   map_dims=(4,), map_batches=(2, 8), repeats=1)
    assert ds.time_vs_batch.dims == ("method", "batch") and (ds.time_vs_batch > 0).all()
    assert ds.time_vs_dim.sizes == {"method": 4, "dim": 2}
    assert set(np.unique(ds.map_choice.values)) <= {"torch", "qr", "jacobi"}
    s = study.summary(ds)
    assert s["acc_worst_qr"] <= 10 and s["acc_worst_jacobi"] <= 10
    expected = float(ds.time_vs_dim.sel({"method": "qr", "dim": 6}) / ds.time_vs_dim.sel({"method": "torch", "dim": 6}))
    assert s["ratio_qr_n6"] == pytest.approx(expected)
    import holoviews as hv

    hv.extension("bokeh")
    plots = study.plot(ds)
    assert set(plots) == {"time_vs_batch", "time_vs_dim", "accuracy", "auto_map"}
    report = study.speed_report(ds)
    assert f"qr {s['ratio_qr_n6']:.2f}x" in report and "n= 4" in report
    text = study.conclusion(ds)
    assert f"{max(s['acc_worst_qr'], s['acc_worst_jacobi']):.2f}" in text and "torch.linalg.eigh" in text
    start, winner, ratio = study.batch_crossover(ds)
    assert (f"from batch {start} on" if start else f"the best there, {winner}, took {ratio:.2f}x") in text


def test_conclusion_says_where_auto_was_slowest():
    import xarray as xr

    def sweeps(auto_batch, auto_dim):
        t_batch = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], auto_batch])  # torch, qr, jacobi, auto
        t_dim = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], auto_dim])
        return xr.Dataset({"time_vs_batch": (("method", "batch"), t_batch, {"dim": 4}),
                           "time_vs_dim": (("method", "dim"), t_dim, {"batch": 512})},
                          coords={"method": ["torch", "qr", "jacobi", "auto"], "batch": [1, 64], "dim": [8, 16]})

    assert study._auto_worst_where(sweeps([1.9, 1.0], [1.0, 1.2])) == "batch 1, n = 4"
    assert study._auto_worst_where(sweeps([1.0, 1.0], [1.0, 1.2])) == "batch 512, n = 16"


def test_auto_map_labels_give_the_chosen_methods_ratio():
    import xarray as xr

    times = np.array([[[1.0, 2.0]], [[0.5, 1.5]], [[3.0, 2.5]]])  # candidate, map_dim, map_batch
    ds = xr.Dataset({"map_time": (("candidate", "map_dim", "map_batch"), times),
                     "map_choice": (("map_dim", "map_batch"), np.array([["jacobi", "torch"]], dtype=object))},
                    coords={"candidate": ["torch", "jacobi", "qr"], "map_dim": [4], "map_batch": [16, 8192]})
    assert study._map_label(ds, 4, 16) == "jacobi 0.50×"
    assert study._map_label(ds, 4, 8192) == "torch"
    assert study._best_map_win(ds) == "largest gain: jacobi at 0.50x torch's time, n = 4, batch 16"


def test_run_with_the_triton_method_reports_the_gpu_goal(monkeypatch):
    """Where "auto" offers "triton" (CUDA), the study times it, checks its accuracy and reports the
    GPU goal instead of the CPU targets. Here the kernel runs through Triton's interpreter (CPU)
    and the dataset is then labelled as if measured on CUDA at batch 512, to exercise the report."""
    from ai4m_kit.linalg import eigh_auto, eigh_triton

    if not (eigh_triton.available() and eigh_triton.interpreted()):
        pytest.skip("runs triton on CPU tensors: needs triton and TRITON_INTERPRET=1")
    monkeypatch.setattr(eigh_auto, "candidates", lambda device: eigh_auto.CANDIDATES + ("triton",))
    ds = study.run("smoke", batches=(2,), dims=(4, 6), dim_batch=8, acc_dims=(3,), acc_batch=9,
                   map_dims=(4,), map_batches=(2,), repeats=1)
    assert list(ds.method.values) == ["torch", "qr", "jacobi", "auto", "triton"]
    assert list(ds.candidate.values) == ["torch", "jacobi", "qr", "triton"]
    s = study.summary(ds)
    assert 0 < s["acc_worst_triton"] <= 10
    assert "target qr <= 2x" not in study.speed_report(ds)  # n = 8 was not timed
    ds.attrs["device"] = "cuda:0"
    ds.time_vs_dim.attrs["batch"] = 512
    report = study.speed_report(ds)
    assert "target triton <= 0.5x torch (2x faster) at n=4: " in report and "target qr" not in report
    assert f"({s['ratio_triton_n6']:.2f}x)" in report


def test_deflation_ablation_shows_the_shared_window_fails():
    ds = study.run_deflation("smoke", dims=(4, 6), batch=30)
    assert ds.worst_reconstruction.dims == ("input", "dtype", "dim", "solver")
    own = ds.worst_reconstruction.sel(solver="qr own")
    torch_worst = ds.worst_reconstruction.sel(solver="torch")
    eps = {"float32": 1.2e-7, "float64": 2.3e-16}
    for dt in ds.dtype.values:
        assert (own.sel(dtype=dt) <= 10 * np.maximum(torch_worst.sel(dtype=dt), eps[dt])).all()
    shared = ds.sel(solver="qr shared")
    assert (shared.worst_reconstruction > 1e-2).all() and (shared.share_wrong > 0.5).all()
    assert (ds.share_wrong.sel(solver="torch") == 0).all()
    report = study.deflation_report(ds)
    cell = ds.sel({"input": "random", "dtype": "float64", "dim": 6})
    assert f"{cell.worst_reconstruction.sel(solver='qr shared').item():.1e}" in report
    assert f"({cell.share_wrong.sel(solver='qr shared').item():.0%})" in report
    sentence = study._deflation_sentence(ds)
    assert f"{ds.worst_reconstruction.sel(solver='qr own').max().item():.1e}" in sentence
    assert f"{shared.worst_reconstruction.max().item():.2g}" in sentence and f"{shared.share_wrong.max().item():.0%}" in sentence
    import holoviews as hv

    hv.extension("bokeh")
    assert len(study.plot_deflation(ds)) == 4
    with pytest.raises(TypeError, match="unknown overrides"):
        study.run_deflation("smoke", batches=3)


def test_run_rejects_unknown_override():
    with pytest.raises(TypeError, match="unknown overrides"):
        study.run("smoke", batchez=(1,))


def test_adversarial_batch_kinds():
    A = study.adversarial_batch(9, 5, dtype=torch.float64)
    assert torch.equal(A, A.mT)
    assert torch.count_nonzero(A[4]) == 0  # the zero matrix
    assert torch.equal(A[3], torch.diag(torch.diagonal(A[3])))  # diagonal
    w = torch.linalg.eigvalsh(A[2])
    assert torch.allclose(w, torch.tensor([1.0, 1.0, 3.0, 3.0, 3.0], dtype=torch.float64))  # repeated
    B = study.adversarial_batch(29, 5, dtype=torch.float64)  # the badly scaled kind, in its three turns
    assert 1e-22 < B[8].abs().max() < 1e-18 and 1e18 < B[28].abs().max() < 1e22
    assert 1e-4 < B[18].abs().max() < 1e10 and B[18].abs().max() / B[18].abs().min() > 1e6  # graded


def test_decomposition_errors_detect_wrong_vectors():
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0])).unsqueeze(0)
    good = study.decomposition_errors(A, torch.tensor([[1.0, 2.0, 3.0]]), torch.eye(3).unsqueeze(0))
    bad = study.decomposition_errors(A, torch.tensor([[1.0, 2.0, 3.0]]), 2 * torch.eye(3).unsqueeze(0))
    assert good["reconstruction"].item() == 0 and good["orthogonality"].item() == 0
    assert bad["reconstruction"].item() > 1 and bad["orthogonality"].item() > 1


def test_dbn_training_learns_digits():
    ds = study.run_dbn("smoke", epochs=3, configs=(("qr", "exact"), ("torch", "exact")), repeats=1)
    assert (ds.test_accuracy > 0.8).all()  # chance is 0.1
    # same initialisation and batches: the accurate solvers train the same network
    assert abs(ds.test_accuracy.values[0] - ds.test_accuracy.values[1]) < 0.03


def test_style_transfer_moves_statistics_towards_style():
    ds, images = study.run_style_transfer("smoke", size=32, groups=(1, 3), methods=("jacobi", "torch"), repeats=1)
    assert images["groups=1"].shape == (32, 32, 3)
    content, style = images["content"], images["style"]
    out = images["groups=1"]
    assert np.abs(out.mean((0, 1)) - style.mean((0, 1))).max() < 0.5 * np.abs(content.mean((0, 1)) - style.mean((0, 1))).max()
    np.testing.assert_allclose(ds.style_error.sel({"method": "jacobi"}), ds.style_error.sel({"method": "torch"}), atol=1e-3)
