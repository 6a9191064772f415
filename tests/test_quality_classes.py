"""Content classes: global motion by phase correlation, thresholds, labels of a corpus."""

import json

import numpy as np
import pytest
import torch

from ai4m_kit.data import write_png
from ai4m_kit.quality.classes import (class_index, global_motion, label_corpus, motion_class, resolution_class,
                                      terciles)


@pytest.mark.parametrize("shift", [(0, 0), (2, 0), (0, -5), (7, 3)])
def test_global_motion_recovers_a_known_translation(shift):
    rng = np.random.default_rng(0)
    scene = torch.from_numpy(rng.random((96, 128)))
    a = scene[16:80, 16:112]
    b = scene[16 - shift[0]:80 - shift[0], 16 - shift[1]:112 - shift[1]]
    assert global_motion(torch.stack([a, b])).item() == pytest.approx(np.hypot(*shift))


def test_thresholds_and_classes():
    assert terciles(np.arange(7.0)) == pytest.approx((2.0, 4.0))
    assert [class_index(v, (1.0, 2.0)) for v in (0.5, 1.5, 2.5)] == [0, 1, 2]
    th = {"ti": (10.0, 20.0), "global_motion": (0.01, 0.02)}
    assert motion_class(5.0, 0.005, th) == ("low", 0.0)
    assert motion_class(5.0, 0.015, th) == ("medium", 0.5)  # half rounds up
    assert motion_class(25.0, 0.015, th) == ("high", 1.5)
    assert resolution_class(2160) == "2160p (UHD)" and resolution_class(300) == "300p"


def _clip(root, name, step, seed):
    rng = np.random.default_rng(seed)
    scene = (rng.random((80, 160, 3)) * 255).astype(np.uint8)
    for t in range(4):
        write_png(root / name / f"frame_{t:04d}.png", np.ascontiguousarray(scene[8:56, 8 + step * t: 72 + step * t]))


def test_label_corpus_orders_motion_and_reuses_thresholds(tmp_path):
    root = tmp_path / "c"
    for k, step in enumerate((0, 1, 3, 6, 12, 20)):
        (root / f"clip{k}").mkdir(parents=True)
        _clip(root, f"clip{k}", step, k)
    ds = label_corpus(root)
    assert list(ds.motion_class.values[[0, -1]]) == ["low", "high"]
    assert np.all(np.diff(ds.global_motion.values) > 0)
    assert set(ds.genre.values) == {"unknown"} and set(ds.resolution_class.values) == {"48p"}
    th = json.loads(ds.attrs["motion_thresholds"])
    again = label_corpus(root, thresholds=th)
    assert list(again.motion_class.values) == list(ds.motion_class.values) and again.attrs["thresholds_from"] == "given"
    with pytest.raises(ValueError, match="at least 3 clips"):
        label_corpus(root / "clip0")
