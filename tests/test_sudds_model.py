"""SUDDS model: torchvision layout, feature sizes per switch, votes, baselines, learning a tiny task."""

import torch

from ai4m_kit.models.resnet import ResNet18, load_resnet18
from ai4m_kit.models.sudds import SUDDS, DCTSpectrumDetector, SmallCNN, aggregate_votes, dct_features, video_verdict


def torchvision_resnet18_keys() -> list[str]:
    """State-dict keys of torchvision's resnet18, written out from its documented layout."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["conv1.weight", *(f"bn1.{b}" for b in bn)]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *(f"{p}.bn1.{b}" for b in bn), f"{p}.conv2.weight", *(f"{p}.bn2.{b}" for b in bn)]
            if layer > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight", *(f"{p}.downsample.1.{b}" for b in bn)]
    return keys + ["fc.weight", "fc.bias"]


def test_state_dict_has_torchvision_keys_and_shapes():
    sd = ResNet18(64).state_dict()
    assert list(sd) == torchvision_resnet18_keys()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["layer4.0.downsample.0.weight"].shape == (512, 256, 1, 1)
    assert sd["layer3.1.conv2.weight"].shape == (256, 256, 3, 3)
    assert sd["fc.weight"].shape == (1000, 512)
    assert sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k) == 11_689_512


def test_checkpoint_round_trip_by_path(tmp_path):
    torch.manual_seed(0)
    net = ResNet18(16, num_classes=10).eval()
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    back = load_resnet18(path, width=16).eval()
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(net(x), back(x))
    try:
        load_resnet18(path, width=64)
    except ValueError as err:
        assert "width 16" in str(err)
    else:
        raise AssertionError("wrong width accepted")
    torch.save({"weight": torch.zeros(1)}, tmp_path / "bad.pt")
    try:
        load_resnet18(tmp_path / "bad.pt")
    except ValueError as err:
        assert "conv1.weight" in str(err)
    else:
        raise AssertionError("non-ResNet accepted")


def test_feature_size_per_switch():
    w = 8
    x, d = torch.rand(3, 3, 32, 32), torch.rand(3, 16)
    for stair in (False, True):
        for dct in (False, True):
            m = SUDDS(width=w, classes=4, staircase=stair, dct=dct).eval()
            want = 15 * w + (8 * w if stair else 0) + (16 if dct else 0)
            assert m.feature_size == want
            assert m.features(x, d if dct else None).shape == (3, want)
            assert m(x, d if dct else None).shape == (3, 4)


def test_votes_and_verdict():
    labels, frac = aggregate_votes(torch.tensor([2, 2, 1, 0, 0, 1, 1, 1]), torch.tensor([0, 0, 0, 1, 1, 2, 2, 2]), 3)
    assert labels.tolist() == [2, 0, 1]
    assert torch.allclose(frac.sum(1), torch.ones(3, dtype=torch.float64))
    assert video_verdict(torch.tensor([0, 1, 2])) == (True, 2 / 3)
    assert video_verdict(torch.tensor([0, 0, 3])) == (False, 1 / 3)


def test_dct_spectrum_detects_missing_high_band():
    from ai4m_kit.video.upscale import upscale

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(6, 1, 64, 64, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    up = upscale(lr, "bicubic", 2)
    feats = torch.stack([dct_features(x[0]) for x in torch.cat([hr, up])])
    y = torch.tensor([0] * 6 + [1] * 6)
    det = DCTSpectrumDetector().fit(feats, y)
    assert (det.predict(feats) == y).all()


def test_learns_original_vs_nearest_in_a_few_steps():
    """Flat-ish random textures vs their 2x nearest-neighbour upscaling, patch level."""
    from ai4m_kit.train.sudds import config_for, build_detector, predict, train_end_to_end
    from ai4m_kit.video.upscale import upscale

    g = torch.Generator().manual_seed(0)
    orig = torch.rand(64, 3, 16, 16, generator=g)
    near = upscale(torch.rand(64, 3, 8, 8, generator=g), "nearest", 2)
    x = (torch.cat([orig, near]) * 255).round().to(torch.uint8)
    y = torch.tensor([0] * 64 + [1] * 64)
    cfg = config_for("smoke")
    model = build_detector(cfg, 2, staircase=True, dct=False, seed=0)
    res = train_end_to_end(model, x, y, None, steps=40, batch=64, lr=2e-3, seed=0, cache=False, progress=False)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    test_o = torch.rand(32, 3, 16, 16, generator=g)
    test_n = upscale(torch.rand(32, 3, 8, 8, generator=g), "nearest", 2)
    xt = (torch.cat([test_o, test_n]) * 255).round().to(torch.uint8)
    acc = float((predict(res.model, xt).argmax(1) == torch.tensor([0] * 32 + [1] * 32)).float().mean())
    assert acc >= 0.9, acc
    cnn = SmallCNN(2)
    assert cnn(torch.rand(2, 3, 16, 16)).shape == (2, 2)
