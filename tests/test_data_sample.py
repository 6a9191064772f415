"""Sample corpus: determinism, layout, sizes, the no-upsampling property, LR != bicubic(HR)."""

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ai4m_kit.cli import main as cli_main
from ai4m_kit.data import CATEGORIES, ClipPair, DataError, read_manifest, read_png
from ai4m_kit.data.sample import CLIPS, camera_path, generate_sample


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_sample(tmp_path_factory.mktemp("sample"), profile="smoke", seed=0, frames=4, progress=False)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_manifest_covers_every_category(corpus):
    rows = read_manifest(corpus)
    assert {r["category"] for r in rows} == set(CATEGORIES)
    for r in rows:
        assert (r["hr_width"], r["hr_height"]) == (384, 216)
        assert (r["lr_width"], r["lr_height"]) == (192, 108)
        assert r["frames"] == 4


def test_layout_and_pairs_validate(corpus):
    for r in read_manifest(corpus):
        pair = ClipPair(corpus / r["clip"])
        assert len(pair) == 4
        assert pair.hr.size == (216, 384) and pair.lr.size == (108, 192)
        assert pair.hr.read(0).dtype == torch.uint8


def test_same_seed_same_bytes_other_seed_differs(corpus, tmp_path):
    again = generate_sample(tmp_path / "a", profile="smoke", seed=0, frames=4, progress=False)
    other = generate_sample(tmp_path / "b", profile="smoke", seed=1, frames=4, progress=False)
    assert _digest(again) == _digest(corpus)
    assert _digest(other) != _digest(corpus)


def test_no_window_is_smaller_than_the_output(corpus):
    for r in read_manifest(corpus):
        meta = json.loads((corpus / r["clip"] / "camera.json").read_text())
        out_w, out_h = meta["hr_size"]
        scene_w, scene_h = meta["scene_size"]
        for f in meta["frames"]:
            x0, y0, x1, y1 = f["box"]
            assert x1 - x0 >= out_w - 1e-6 and y1 - y0 >= out_h - 1e-6, (r["clip"], f)
            assert x0 >= -1e-6 and y0 >= -1e-6 and x1 <= scene_w + 1e-6 and y1 <= scene_h + 1e-6


@pytest.mark.parametrize("motion", ["static", "pan", "zoom in", "zoom out", "handheld", "focus change"])
def test_camera_path_refuses_upsampling_and_keeps_aspect(motion):
    rng = np.random.default_rng(0)
    boxes = camera_path(motion, 16, 512, 512, 384, 216, rng)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (w >= 384 - 1e-9).all() and np.allclose(w / h, 384 / 216)
    with pytest.raises(ValueError, match="upsampling"):
        camera_path(motion, 4, 300, 150, 384, 216, rng)


def test_motion_is_real(corpus):
    # Consecutive frames differ for moving clips (temporal information is not zero).
    pair = ClipPair(corpus / "people_astronaut")
    a, b = pair.hr.read(0).float(), pair.hr.read(1).float()
    assert (a - b).abs().mean() > 1.0


def test_low_resolution_recording_is_not_bicubic_of_high(corpus):
    for r in read_manifest(corpus):
        pair = ClipPair(corpus / r["clip"])
        hr = pair.hr.read(1).float().unsqueeze(0)
        lr = pair.lr.read(1).float()
        bicubic = F.interpolate(hr, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)[0]
        diff = (lr - bicubic.clamp(0, 255)).abs().mean().item()
        # Same scene (correlated), but a different camera chain (noise, binning, sharpening, JPEG).
        assert diff > 0.5, r["clip"]
        assert diff < 25, r["clip"]


def test_stale_frames_and_clips_are_replaced(tmp_path):
    root = generate_sample(tmp_path, profile="demo", frames=3, progress=False)
    assert len(read_manifest(root)) == len(CLIPS)
    (root / "my_notes.txt").write_text("mine")  # the user's files in the corpus folder survive
    (root / CLIPS[1].clip / "4k" / "my_edit.png").write_bytes(b"mine")
    with pytest.raises(DataError, match="made earlier.*--force"):
        generate_sample(root, profile="smoke", frames=2, progress=False)
    generate_sample(root, profile="smoke", frames=2, progress=False, replace=True)
    rows = read_manifest(root)
    assert len(rows) < len(CLIPS)
    clip_dirs = {p.name for p in root.iterdir() if p.is_dir()}
    assert clip_dirs == {r["clip"] for r in rows} | {CLIPS[1].clip}  # kept: it holds the user's file
    assert (root / "my_notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (root / CLIPS[1].clip).rglob("*") if p.is_file()) == ["my_edit.png"]
    assert len(list((root / rows[0]["clip"] / "4k").glob("*.png"))) == 2


def test_uhd_procedural_clips_are_true_size(tmp_path):
    root = generate_sample(tmp_path, profile="smoke", size="uhd", frames=2, progress=False)
    rows = read_manifest(root)
    assert rows and all(r["source"].startswith("procedural:") for r in rows)
    hr = read_png(root / rows[0]["clip"] / "4k" / "frame_0000.png")
    lr = read_png(root / rows[0]["clip"] / "1080p" / "frame_0000.png")
    assert hr.shape == (2160, 3840, 3) and lr.shape == (1080, 1920, 3)


def test_cli_sample(tmp_path, capsys):
    assert cli_main(["sample", str(tmp_path / "s"), "--profile", "smoke", "--seed", "5"]) == 0
    assert "manifest" in capsys.readouterr().out
    assert json.loads((tmp_path / "s" / "corpus.json").read_text())["seed"] == 5
    stamp = (tmp_path / "s" / "manifest.csv").stat().st_mtime_ns
    assert cli_main(["sample", str(tmp_path / "s"), "--profile", "smoke", "--seed", "5", "--if-missing"]) == 0
    assert (tmp_path / "s" / "manifest.csv").stat().st_mtime_ns == stamp


def test_too_few_frames_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        generate_sample(tmp_path, profile="smoke", frames=1, progress=False)
