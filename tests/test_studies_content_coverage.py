"""Study 01 on a tiny user corpus: dataset, tables, reference check, plots, computed conclusion."""

from __future__ import annotations

import numpy as np
import pytest

from ai4m_kit.studies import content_coverage as cc

from ai4m_kit import data  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("own_corpus")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:48]
    for i, name in enumerate(["calm", "busy", "mid", "pale"]):
        hr = []
        for t in range(4):
            base = 128 + (30 + 25 * i) * np.sin((xx + 2 * i * t) / (2.0 + i)) * np.cos(yy / 4.0)
            rgb = np.stack([base, base * (1 - 0.2 * i), 255 - base], -1) + rng.normal(0, 2, (32, 48, 3))
            hr.append(np.clip(rgb, 0, 255).astype(np.uint8))
        for label, frames in (("4k", hr), ("1080p", [f[::2, ::2] for f in hr])):
            folder = root / name / label
            folder.mkdir(parents=True)
            for k, f in enumerate(frames):
                data.write_png(folder / f"frame_{k:04d}.png", f)
    return root


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.chdir(tmp_path_factory.mktemp("cwd"))  # the cache goes to ./.cache
    return cc.run("smoke", corpus=corpus, progress=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_run_returns_per_frame_and_pooled_values(result):
    assert result["si"].dims == ("definition", "clip", "frame")
    assert result.sizes["clip"] == 8 and result.sizes["frame"] == 4
    assert set(result["resolution"].values) == {"4k", "1080p"}
    assert set(result["category"].values) == {"unknown"}  # no manifest in a user's folder
    np.testing.assert_allclose(result["si_clip"].sel(definition="p910-2021"),
                               result["si"].sel(definition="p910-2021").max("frame"))
    np.testing.assert_allclose(result["ti_clip"].sel(definition="p910-2022"),
                               result["ti"].sel(definition="p910-2022").mean("frame", skipna=True))


def test_cached_rerun_is_identical(result, corpus):
    again = cc.run("smoke", corpus=corpus, progress=False)
    assert again[["si", "ti", "cf"]].identical(result[["si", "ti", "cf"]])


def test_tables_reference_check_and_conclusion(result):
    table = cc.coverage_table(result)
    assert table.loc[("p910-2021", "4k", "all"), "n_clips"] == 4
    assert table.loc[("p910-2021", "4k", "all"), "hull_si_ti"] > 0
    comp = cc.resolution_table(result)
    assert set(comp.index.get_level_values("name")) == {"calm", "busy", "mid", "pale"}
    check = cc.reference_check(result, n_clips=1)  # siti-tools is a test dependency: never None here
    assert check is not None and max(check.values()) < 1e-4
    text = cc.conclusion(result)
    ratio = comp.xs("p910-2021", level="definition")["si_ratio"].median()
    assert f"{ratio:.2f}x" in text and "4 clips" in text


def test_plot_returns_holoviews_objects(result):
    hv = pytest.importorskip("holoviews")
    pytest.importorskip("holoviews.plotting.bokeh")  # options need a loaded backend
    hv.Store.set_current_backend("bokeh")
    plots = cc.plot(result)
    assert set(plots) == {"scatter", "curves", "table", "resolution"}
    assert isinstance(plots["curves"], hv.HoloMap)
    assert set(plots["curves"].dimension_values("clip")) == set(result["clip"].values)
    assert isinstance(plots["table"], hv.Table)
    for obj in plots.values():
        hv.render(obj, backend="bokeh")  # every panel renders
