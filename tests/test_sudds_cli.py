"""``ai4m sudds train`` and ``ai4m sudds detect`` end to end on a tiny dataset."""

import json

import numpy as np

from ai4m_kit.cli import main
from ai4m_kit.data import write_png, write_video
from ai4m_kit.data.sudds import build_dataset


def _dataset(tmp_path):
    rng = np.random.default_rng(0)
    for c in "abcde":
        for t in range(2):
            write_png(tmp_path / "corpus" / c / f"frame_{t:04d}.png", rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    return build_dataset(tmp_path / "corpus", tmp_path / "det", {"nearest": "nearest"}, frames=2, progress=False)


def test_train_then_detect(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))
    root = _dataset(tmp_path)
    model = tmp_path / "model.pt"
    assert main(["sudds", "train", str(root), "--out", str(model), "--binary", "--profile", "smoke", "--no-progress"]) == 0
    assert "frame accuracy" in capsys.readouterr().out
    video = tmp_path / "clip.mkv"
    write_video(video, np.random.default_rng(1).integers(0, 256, (3, 3, 64, 96), dtype=np.uint8))
    out, csv = tmp_path / "r.json", tmp_path / "votes.csv"
    assert main(["sudds", "detect", str(video), str(root / "nearest" / "a"), "--model", str(model), "--json", str(out),
                 "--csv", str(csv)]) == 0
    err = capsys.readouterr().err
    assert "frame 0:" in err and " ms" in err
    res = json.loads(out.read_text())["videos"]
    assert [r["frames"] for r in res] == [3, 2]
    assert all(r["verdict"] in ("original", "upscaled") and 0 <= r["probability_upscaled"] <= 1 for r in res)
    assert len(csv.read_text().strip().splitlines()) == 1 + 5
    # its own outputs are replaced on a rerun; a user's file of the same name never is
    assert main(["sudds", "detect", str(video), "--model", str(model), "--json", str(out), "--csv", str(csv),
                 "--quiet"]) == 0
    assert len(csv.read_text().strip().splitlines()) == 1 + 3
    theirs = tmp_path / "notes.csv"
    theirs.write_text("my,notes\n")
    assert main(["sudds", "detect", str(video), "--model", str(model), "--csv", str(theirs)]) == 1
    assert theirs.read_text() == "my,notes\n"
    assert "--csv" in capsys.readouterr().err
    # flags change the model; a file we did not write is never overwritten
    other = tmp_path / "other.pt"
    other.write_text("mine")
    assert main(["sudds", "train", str(root), "--out", str(other), "--profile", "smoke", "--no-progress"]) == 1
    assert other.read_text() == "mine"
    assert "not written by ai4m sudds train" in capsys.readouterr().err


def test_errors(tmp_path, capsys):
    assert main(["sudds", "detect", str(tmp_path / "none.mp4"), "--model", str(tmp_path / "m.pt")]) == 1
    assert "--model" in capsys.readouterr().err
    assert main(["sudds", "train", str(tmp_path), "--out", str(tmp_path / "m.pt")]) == 1
    assert "not a detection dataset" in capsys.readouterr().err


def test_train_from_a_torchvision_layout_checkpoint(tmp_path, monkeypatch, capsys):
    import torch

    from ai4m_kit.models.resnet import ResNet18
    from ai4m_kit.train.sudds import load_detector

    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))
    root = _dataset(tmp_path)
    torch.manual_seed(3)
    start = ResNet18(8).state_dict()
    torch.save(start, tmp_path / "resnet18.pth")
    model = tmp_path / "m.pt"
    assert main(["sudds", "train", str(root), "--out", str(model), "--checkpoint", str(tmp_path / "resnet18.pth"),
                 "--profile", "smoke", "--steps", "1", "--no-progress", "--no-dct", "--no-staircase"]) == 0
    det, meta = load_detector(model)
    assert det.backbone.width == 8 and not det.use_dct and det.staircase is None and meta["classes"] == 2
    # one Adam step moves the weights a little from the checkpoint, not to a fresh initialisation
    diff = (det.backbone.conv1.weight.detach() - start["conv1.weight"]).abs().max()
    assert 0 < float(diff) < 0.01
