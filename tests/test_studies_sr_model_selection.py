"""Study 04: scores per upscaler and clip, class tables with t intervals, the recommendation rule,
the Pareto front, and the expert-viewing part on a simulated panel."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from ai4m_kit.data import write_png
from ai4m_kit.studies import sr_model_selection as study


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import skimage.data

    root = tmp_path_factory.mktemp("c")
    for k, name in enumerate(("astronaut", "chelsea", "coffee", "rocket", "camera", "brick")):
        img = getattr(skimage.data, name)()
        img = np.stack([img] * 3, -1) if img.ndim == 2 else img
        for t in range(4):
            hr = np.ascontiguousarray(img[40 + 3 * k * t: 104 + 3 * k * t, 40: 136])
            for label, frame in (("4k", hr), ("1080p", np.ascontiguousarray(hr[::2, ::2]))):
                (root / name / label).mkdir(parents=True, exist_ok=True)
                write_png(root / name / label / f"frame_{t:04d}.png", frame)
    return root


@pytest.fixture(scope="module")
def ds(corpus):
    return study.run("smoke", corpus=corpus, learned=False, vmaf=True, progress=False)


def test_scores_classes_and_costs(ds):
    assert set(ds.data_vars) >= {"psnr", "ssim", "vmaf", "ms_per_frame", "parameters"}
    assert ds["psnr"].shape == (4, 6, 4) and np.isfinite(ds["psnr"]).all() and np.isfinite(ds["vmaf"]).all()
    assert (ds["ms_per_frame"] > 0).all() and (ds["parameters"] == 0).all()
    assert set(ds["motion_class"].values) <= {"low", "medium", "high"} and set(ds["resolution_class"].values) == {"64p"}
    # nearest is the worst classical upscaler of natural photographs
    per = study.clip_scores(ds, "psnr").mean("clip")
    assert per.idxmin().item() == "nearest"


def test_class_table_interval_is_the_t_interval(ds):
    table = study.class_table(ds, by="motion_class", metric="psnr")
    cls = table.index.get_level_values(0)[0]
    v = study.clip_scores(ds, "psnr").sel(upscaler="bicubic").values[ds["motion_class"].values == cls]
    row = table.loc[(cls, "bicubic")]
    assert row["mean"] == pytest.approx(v.mean())
    if len(v) > 1:
        assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    with pytest.raises(ValueError, match="by must be one of"):
        study.class_table(ds, by="colour")
    with pytest.raises(ValueError, match="metric must be one of"):
        study.clip_scores(ds, "lpips")


def test_recommendation_takes_the_cheapest_within_delta(ds):
    fake = ds.copy()
    fake["ms_per_frame"] = ("upscaler", [1.0, 2.0, 3.0, 4.0])
    fake["psnr"] = xr.zeros_like(ds["psnr"]) + xr.DataArray([30.0, 31.9, 32.0, 31.0], dims="upscaler",
                                                               coords={"upscaler": ds.upscaler.values})
    rec = study.recommend(fake, by="resolution_class", metric="psnr", delta=0.2)
    row = rec.iloc[0]
    assert row["best"] == "bicubic" and row["recommended"] == "bilinear" and row["speed-up"] == 1.5
    assert study.recommend(fake, by="resolution_class", delta=0.05).iloc[0]["recommended"] == "bicubic"


def test_expert_viewing_on_a_simulated_panel(ds, tmp_path):
    from ai4m_kit.quality.subjective import analyse, compare_objective

    plan = study.plan_test(ds, seed=1)
    tests = [b for b in plan.btcs if b.phase == "test"]
    assert tests and all(a.src != b.src for a, b in zip(tests, tests[1:]) if a.session == b.session)
    panel = study.simulated_votes(ds, plan, seed=0)
    assert panel.simulated
    result = analyse(panel.scores)
    assert set(result.rejected["pearson"]) == set(panel.outliers)
    objective = study.objective_by_pvs(ds, list(result.mos.index))
    comparison = compare_objective(result, objective)
    assert comparison.table.loc["psnr", "srocc"] > 0.8  # the simulated quality follows PSNR
    timeline = study.session_timeline(plan)
    assert timeline["starts at"].iloc[0] == "0:00.0"
    rendered = study.render_example_btc(ds, plan, tmp_path / "btc.mp4")
    assert rendered.path.is_file() and rendered.frames > 0
