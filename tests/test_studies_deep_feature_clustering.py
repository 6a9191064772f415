"""Study 02 and ai4m train-sr on a tiny corpus: the pipeline end to end (shapes, coordinates,
cache), the training recipes, and the CLI round trip train-sr -> upscale."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

from ai4m_kit.cli import main
from ai4m_kit.data import write_png
from ai4m_kit.studies import deep_feature_clustering as study
from ai4m_kit.train.sr import (SRConfig, degrade_sequences, evaluate, load_hr_clips, load_model, split_clips,
                               train_sr)

TINY = SRConfig(channels=8, blocks=1, crop=16, seq=2, batch=2, steps=4, max_frames=3)


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def corpus(tmp_path):
    """Four BSC4K-style clips cut from scikit-image photographs, 3 frames of 32x48 panning."""
    import skimage.data

    root = tmp_path / "corpus"
    for k, name in enumerate(("astronaut", "chelsea", "coffee", "rocket")):
        img = getattr(skimage.data, name)()[:200, :200]
        for t in range(3):
            hr = img[40 + 2 * t: 72 + 2 * t, 50: 98]
            lr = hr[::2, ::2]
            for label, frame in (("4k", hr), ("1080p", lr)):
                (root / name / label).mkdir(parents=True, exist_ok=True)
                write_png(root / name / label / f"frame_{t:04d}.png", np.ascontiguousarray(frame))
    return root


def test_split_is_by_clip_and_recipes_degrade_as_documented(corpus):
    clips = load_hr_clips(corpus, max_frames=3)
    train, held = split_clips(clips)
    assert {c.name for c in held} == {"astronaut"} and len(train) == 3
    hr = clips[0].as_float()[None, :, :, :16, :16]
    g = torch.Generator().manual_seed(0)
    assert degrade_sequences(hr, "blind", 2, g).shape == (1, 3, 3, 8, 8)
    assert degrade_sequences(hr, "real", 2, g).shape == (1, 3, 3, 8, 8)
    with pytest.raises(ValueError, match="kind must be one of"):
        degrade_sequences(hr, "sharp", 2, g)


def test_both_networks_start_from_the_same_weights_and_are_cached(corpus):
    clips = load_hr_clips(corpus, max_frames=3)
    train, _ = split_clips(clips)
    first = {k: train_sr(k, train, TINY, progress=False) for k in ("blind", "real")}
    blind, real = first["blind"].model, first["real"].model
    assert set(real.state_dict()) - set(blind.state_dict()) == {k for k in real.state_dict() if k.startswith("clean.")}
    again = train_sr("blind", train, TINY, progress=False)
    assert again.cached and all(torch.equal(a, b) for a, b in zip(again.model.parameters(), blind.parameters()))
    scores = evaluate({"blind": blind}, clips[:1], 2, max_frames=2)
    assert set(scores) == {"bicubic", "blind"} and all(np.isfinite(v) for v in scores.values())


def test_a_trained_network_beats_bicubic_on_held_out_clips(tmp_path):
    """Textured photographs (frame folders of HR only): a tiny net trained for 300 steps must beat
    bicubic upscaling on clips it never saw (measured here: about +1.9 dB after 250 steps)."""
    import skimage.data

    for name in ("brick", "grass", "gravel", "text", "camera"):
        img = getattr(skimage.data, name)()
        img = np.stack([img] * 3, -1) if img.ndim == 2 else img
        (tmp_path / name).mkdir()
        for t in range(3):
            write_png(tmp_path / name / f"frame_{t:04d}.png", np.ascontiguousarray(img[20 + 2 * t: 84 + 2 * t, 20:116]))
    train, held = split_clips(load_hr_clips(tmp_path))
    assert [c.name for c in held] == ["brick", "text"]
    cfg = SRConfig(channels=16, blocks=1, crop=32, seq=2, batch=8, steps=300, lr=3e-3, max_frames=3)
    net = train_sr("blind", train, cfg, progress=False).model
    scores = evaluate({"blind": net}, held, 2)
    assert scores["blind"] > scores["bicubic"] + 0.5, scores


def test_run_separability_conclusion_and_strip(corpus):
    ds = study.run("smoke", corpus=corpus, sr_config=TINY, progress=False)
    n = 4 * 4 * 3  # clips x kinds x frames
    assert ds["features"].shape == (2, len(study.LAYERS), n, TINY.channels)
    assert sorted(set(ds["kind"].values)) == sorted(study.KINDS)
    assert ds["held_out"].values.sum() == 4 * 3  # one clip of four
    assert np.isfinite(ds["embedding"].sel(layer="fusion")).all()
    assert np.isnan(ds["embedding"].sel(layer="backward_out")).all()  # not embedded at smoke
    sep = study.separability(ds)
    f = ds["features"].sel(model="blind", layer="fusion").values
    z = (f - f.mean(0)) / (f.std(0) + 1e-12)
    assert float(sep["chi_features"].sel(model="blind", layer="fusion")) == pytest.approx(
        study.calinski_harabasz(z, ds["kind"].values))
    assert (sep["chi_features_lo"] <= sep["chi_features"]).all() and (sep["chi_features"] <= sep["chi_features_hi"]).all()
    text = study.conclusion(ds, sep)
    assert ("Reproduced" in text) != ("Not reproduced" in text) and "dB against bicubic" in text
    again = study.run("smoke", corpus=corpus, sr_config=TINY, progress=False)  # from the result cache
    xr.testing.assert_identical(again, ds)
    write_png(corpus / "coffee" / "1080p" / "frame_0001.png", np.zeros((16, 24, 3), np.uint8))  # the user edits
    changed = study.run("smoke", corpus=corpus, sr_config=TINY, progress=False)
    assert not np.allclose(changed["features"].values, ds["features"].values)
    strip = study.crop_strip(ds, clip="chelsea", size=16)
    assert list(strip) == ["HR (4k)", "LR recorded", "LR bicubic", "LR blur", "LR bsrgan", "blind network",
                           "real network"]
    assert all(img.shape == (16, 16, 3) and img.dtype == np.uint8 for img in strip.values())


def test_cli_train_sr_then_upscale_with_the_network(corpus, tmp_path, capsys):
    net = tmp_path / "blind.pt"
    assert main(["train-sr", str(corpus), "--out", str(net), "--profile", "smoke", "--steps", "2",
                 "--no-progress"]) == 0
    assert "held-out clips astronaut" in capsys.readouterr().out
    assert load_model(net).scale == 2
    dst = tmp_path / "up"
    assert main(["upscale", str(corpus / "chelsea" / "1080p"), str(dst), "--method", str(net)]) == 0
    assert len(list(dst.glob("frame_*.png"))) == 3
    assert json.loads((dst / "upscale.json").read_text())["method"] == str(net)
    assert main(["upscale", str(corpus / "chelsea" / "1080p"), str(tmp_path / "up3"), "--method", str(net),
                 "--scale", "3"]) == 2
    assert "upscales x2" in capsys.readouterr().err
    (tmp_path / "theirs.pt").write_bytes(b"x")
    assert main(["train-sr", str(corpus), "--out", str(tmp_path / "theirs.pt"), "--profile", "smoke", "--steps", "2",
                 "--no-progress"]) == 1
    assert "not written by ai4m train-sr" in capsys.readouterr().err
    assert (tmp_path / "theirs.pt").read_bytes() == b"x"
