"""SUDDS detection dataset: layout, splits by clip, clear errors on bad input."""

import json
import shutil

import numpy as np
import pytest
import torch

from ai4m_kit.data import DataError, write_png
from ai4m_kit.data.sudds import DetectionDataset, build_dataset, extract_patches, split_by_clip


def _corpus(root, clips=("a", "b", "c", "d"), size=(48, 64), frames=2):
    rng = np.random.default_rng(0)
    for c in clips:
        for t in range(frames):
            write_png(root / c / f"frame_{t:04d}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return root


@pytest.fixture()
def dataset(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    root = build_dataset(corpus, tmp_path / "det", {"nearest": "nearest", "bicubic": "bicubic"}, frames=2, progress=False)
    return root


def test_layout_and_reuse(dataset):
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["methods"] == ["original", "nearest", "bicubic"]
    assert sorted(p.name for p in (dataset / "nearest").iterdir()) == ["a", "b", "c", "d"]
    assert len(list((dataset / "bicubic" / "c").glob("frame_*.png"))) == 2
    ds = DetectionDataset(dataset)
    assert ds.methods == ["original", "bicubic", "nearest"] and ds.size == (48, 64)
    before = (dataset / "nearest" / "a" / "frame_0000.png").stat().st_mtime_ns
    build_dataset(dataset.parent / "corpus", dataset, {"nearest": "nearest"}, progress=False)  # complete: kept
    assert (dataset / "nearest" / "a" / "frame_0000.png").stat().st_mtime_ns == before
    ps = extract_patches(ds, ["a"], patch=16, k=3, dct_bands=8)
    assert ps.patches.shape == (3 * 2 * 3, 3, 16, 16) and ps.dct.shape == (6, 8)
    assert ps.frame_label.tolist() == [0, 0, 1, 1, 2, 2]
    # nearest-upscaled patches are made of 2x2 blocks
    near = ps.patches[ps.label == ds.methods.index("nearest")]
    assert torch.equal(near[..., ::2, ::2], near[..., 1::2, 1::2])


def test_user_method_folder_is_picked_up(dataset):
    shutil.copytree(dataset / "bicubic", dataset / "my-sr")
    assert "my-sr" in DetectionDataset(dataset).methods
    assert DetectionDataset(dataset, ["my-sr"]).methods == ["original", "my-sr"]


def test_no_clip_in_two_splits():
    clips = [f"clip{i:02d}" for i in range(17)]
    for ev in ([], ["clip03", "clip11"]):
        s = split_by_clip(clips, evaluation=ev)
        sets = [set(v) for v in s.values()]
        assert sum(len(x) for x in sets) == len(clips)
        assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1:])
        assert s["test"] and s["train"]
    with pytest.raises(ValueError, match="at least 2 clips"):
        split_by_clip(["x", "y"], evaluation=["y"])


def test_frames_smaller_than_a_patch(dataset):
    with pytest.raises(DataError, match="smaller than one 128x128 patch"):
        extract_patches(DetectionDataset(dataset), ["a"], patch=128, k=2)


def test_mixed_sizes(dataset):
    write_png(dataset / "nearest" / "b" / "frame_0000.png", np.zeros((40, 64, 3), np.uint8))
    write_png(dataset / "nearest" / "b" / "frame_0001.png", np.zeros((40, 64, 3), np.uint8))
    with pytest.raises(DataError, match="mixed sizes"):
        DetectionDataset(dataset)
    write_png(dataset / "nearest" / "b" / "frame_0001.png", np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(DataError, match="mixed sizes"):
        DetectionDataset(dataset)


def test_corrupt_frame(dataset):
    (dataset / "bicubic" / "c" / "frame_0001.png").write_bytes(b"not a png at all, truncated")
    with pytest.raises(DataError, match="frame_0001.png"):
        extract_patches(DetectionDataset(dataset), ["c"], patch=16, k=2)


def test_unknown_method_folder(dataset):
    with pytest.raises(DataError, match="unknown method folder"):
        DetectionDataset(dataset, ["esrgan"])
    (dataset / "empty-method").mkdir()
    with pytest.raises(DataError, match="holds no <clip>/ frame folders"):
        DetectionDataset(dataset)
    (dataset / "empty-method").rmdir()
    shutil.copytree(dataset / "nearest" / "a", dataset / "nearest" / "zz")
    with pytest.raises(DataError, match="no original/ counterpart"):
        DetectionDataset(dataset)


def test_not_a_dataset(tmp_path):
    with pytest.raises(DataError, match="not a detection dataset"):
        DetectionDataset(tmp_path)
