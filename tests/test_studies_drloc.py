"""DRLoc training and study 06 at a tiny size: λ = 0 reproduces the baseline bit for bit, the study's
tables and conclusion, the result cache, data helpers and clear errors."""

import numpy as np
import pytest
import torch

from ai4m_kit.data.images import load_dataset
from ai4m_kit.studies import drloc as study
from ai4m_kit.train.drloc import DRLocConfig, config_for, localisation_map, train_drloc

TINY = config_for("smoke", steps=4, batch=16, head_hidden=16)


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def digits():
    s = load_dataset("digits")
    return study.to_format(s.images[:200], 1, 28), s.labels[:200]


@pytest.mark.parametrize("model", ["swin", "cvt"])
def test_lambda_zero_reproduces_the_baseline_bit_for_bit(digits, model):
    images, labels = digits
    runs = {}
    for lam in (None, 0.0, 0.5):
        cfg = config_for("smoke", model=model, lam=lam, steps=5, batch=16, head_hidden=16)
        runs[lam] = train_drloc(images, labels, 10, cfg, seed=3, progress=False, cache=False)
    base = runs[None].model.backbone.state_dict()
    zero = runs[0.0].model.backbone.state_dict()
    assert all(torch.equal(base[k], zero[k]) for k in base)
    assert [h["ce"] for h in runs[None].history] == [h["ce"] for h in runs[0.0].history]
    assert all(np.isfinite(h["loc"]) for h in runs[0.0].history)  # the head did run
    half = runs[0.5].model.backbone.state_dict()
    assert not all(torch.equal(base[k], half[k]) for k in base)  # with λ > 0 DRLoc changes the backbone


def test_finetuning_takes_every_weight_but_the_classifier(digits):
    images, labels = digits
    cfg = config_for("smoke", model="vit", lam=0.1, steps=2, batch=16, head_hidden=16)
    pre = train_drloc(images, labels, 10, cfg, seed=0, progress=False, cache=False).model
    fine = train_drloc(images, labels % 3, 3, config_for("smoke", model="vit", lam=0.1, steps=0, head_hidden=16),
                       seed=1, pretrained=pre, pretrained_key="x", progress=False, cache=False).model
    assert torch.equal(fine.backbone.pos, pre.backbone.pos)
    assert torch.equal(fine.head.mlp[0].weight, pre.head.mlp[0].weight)
    assert fine.backbone.head.weight.shape == (3, 16)
    out = localisation_map(fine, images[0])
    assert out["predicted"].shape == (2, 7, 7) and out["true"][:, 0, 0].tolist() == [3.0, 3.0]


def test_study_tables_conclusion_and_cache():
    kw = dict(dataset="digits", pretrain="lfw", models=("vit", "resnet"), seeds=(0, 1), config=TINY, progress=False)
    ds = study.run("smoke", **kw)
    assert ds.accuracy.shape == (2, 2, 2) and np.isfinite(ds.accuracy).all()
    assert ds.ce.sizes["step"] == 4 and np.isfinite(ds["loc"].sel(drloc="on")).all()
    assert ds["loc"].sel(drloc="off").isnull().all()
    assert ds.size_accuracy.shape == (2, 2, 2) and np.isfinite(ds.size_accuracy).all()
    assert ds.lambda_accuracy.shape == (1, 2, 1) and np.isfinite(ds.t15_accuracy).all()
    # λ = 0 in the sweep is the baseline run itself
    assert float(ds.lambda_accuracy.sel(transformer="vit", lam=0.0, sweep_seed=0)) == float(ds.accuracy.sel(backbone="vit", drloc="off", seed=0))
    table = study.table14(ds)
    assert list(table.index) == ["vit", "resnet"] and "paired t-test p" in table.columns
    r = study.paired(ds, "vit")
    diff = (ds.accuracy.sel(backbone="vit", drloc="on") - ds.accuracy.sel(backbone="vit", drloc="off")).values
    assert r["gain"] == pytest.approx(diff.mean()) and r["gain_std"] == pytest.approx(diff.std(ddof=1))
    text = study.conclusion(ds)
    for finding in ("Large gains", "grows as the training set shrinks", "fine-tuning after pretraining"):
        assert finding in text
    assert text.count("reproduced") >= 3
    assert set(study.sweep_tables(ds)) == {"data size", "m (pairs)", "lambda", "table 15"}
    assert study.run("smoke", **kw).identical(ds)  # from the result cache


def test_paired_test_against_scipy_on_known_numbers():
    import xarray as xr
    from scipy import stats

    on, off = np.array([80.0, 82.0, 85.0]), np.array([79.0, 80.0, 81.0])
    ds = xr.Dataset({"accuracy": (("backbone", "drloc", "seed"), np.stack([off, on])[None])},
                    coords={"backbone": ["swin"], "drloc": ["off", "on"], "seed": [0, 1, 2]})
    r = study.paired(ds, "swin")
    assert r["gain"] == pytest.approx(7 / 3) and r["p"] == pytest.approx(stats.ttest_rel(on, off).pvalue)
    t = np.mean(on - off) / (np.std(on - off, ddof=1) / np.sqrt(3))  # the t statistic by hand
    assert r["p"] == pytest.approx(2 * stats.t.sf(abs(t), 2))


def test_data_helpers():
    idx = study.subset(torch.tensor([0] * 10 + [1] * 30), 0.1)
    assert len(idx) == 4 and (torch.tensor([0] * 10 + [1] * 30)[idx] == 0).sum() == 1
    rgb = torch.full((1, 3, 8, 8), 100, dtype=torch.uint8)
    rgb[:, 0] = 200
    grey = study.to_format(rgb, 1, 4)
    assert grey.shape == (1, 1, 4, 4) and int(grey[0, 0, 0, 0]) == round(0.299 * 200 + 0.701 * 100)
    assert study.to_format(grey, 3, 4).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="fraction"):
        study.subset(torch.tensor([0, 1]), 0.0)


def test_clear_errors(digits):
    images, labels = digits
    with pytest.raises(ValueError, match="lam .* >= 0"):
        DRLocConfig(lam=-0.5)
    with pytest.raises(ValueError, match=r"pairs \(m\) must be an int >= 1; got 0"):
        DRLocConfig(lam=0.5, pairs=0)
    with pytest.raises(ValueError, match="model must be one of"):
        DRLocConfig(model="deit")
    with pytest.raises(ValueError, match=r"images must be \(N, C, 28, 28\)"):
        train_drloc(images[:, :, :20, :20], labels, 10, TINY, progress=False, cache=False)
    with pytest.raises(ValueError, match="unknown"):
        study.run("smoke", dataset="digits", models=("mlp",), config=TINY, progress=False)
    with pytest.raises(FileNotFoundError, match="neither an offline set"):
        study.run("smoke", dataset="no-such-set", config=TINY, progress=False)
    with pytest.raises(FileNotFoundError, match="'no-such-pretrain'"):  # before any training
        study.run("smoke", dataset="digits", pretrain="no-such-pretrain", config=TINY, progress=False)


def test_cli_train_and_bench(tmp_path, capsys):
    from ai4m_kit.cli import main

    out = tmp_path / "m.pt"
    assert main(["drloc", "train", "--model", "t2t", "--data", "digits", "--profile", "smoke", "--steps", "2",
                 "--pairs", "8", "--out", str(out), "--no-progress"]) == 0
    state = torch.load(out, weights_only=False)
    assert state["made_by"] == "ai4m-kit drloc model" and state["config"]["pairs"] == 8 and state["config"]["lam"] == 0.1
    assert "test accuracy" in capsys.readouterr().out
    assert main(["drloc", "train", "--model", "vit", "--lambda", "-1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "lambda must be >= 0" in capsys.readouterr().err
    (tmp_path / "foreign.pt").write_bytes(b"not ours")
    assert main(["drloc", "train", "--out", str(tmp_path / "foreign.pt"), "--profile", "smoke"]) == 1
    assert main(["bench", "drloc", "--size", "smoke", "--models", "vit", "resnet", "--batch", "4", "--repeats", "1",
                 "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert text.count("   overhead") == 2 and "target DRLoc overhead <= 5%" in text
