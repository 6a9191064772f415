"""Small VSR network: shapes, alignment, the feature hook, export/load, and the clustering measures
against scikit-learn."""

import numpy as np
import pytest
import torch

from ai4m_kit.models.sr import CompactBasicVSR, flow_warp, pooled_features
from ai4m_kit.studies.deep_feature_clustering import calinski_harabasz, knn_accuracy


@pytest.mark.parametrize("scale", [2, 4])
def test_shapes_and_clean_stage(scale):
    net = CompactBasicVSR(channels=8, blocks=1, scale=scale, clean=True)
    out = net(torch.rand(2, 3, 3, 10, 12))
    assert out.shape == (2, 3, 3, 10 * scale, 12 * scale)


def test_untrained_net_starts_near_bilinear_and_flow_at_zero():
    torch.manual_seed(0)
    net = CompactBasicVSR(channels=8, blocks=1)
    x = torch.rand(1, 2, 3, 8, 8)
    assert torch.equal(net.flow(x[:, 0], x[:, 1]), torch.zeros(1, 2, 8, 8))


def test_flow_warp_shifts_by_whole_pixels():
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    flow = torch.zeros(1, 2, 5, 5)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out = flow_warp(x, flow)
    assert torch.allclose(out[..., :4], x[..., 1:])
    assert torch.allclose(out[..., 4], x[..., 4])  # border replicated


def test_bad_input_shapes():
    net = CompactBasicVSR(channels=8, blocks=1)
    with pytest.raises(ValueError, match=r"x must be \(B, T, 3, h, w\)"):
        net(torch.rand(3, 3, 8, 8))
    with pytest.raises(ValueError, match="scale must be 2 or 4"):
        CompactBasicVSR(scale=3)
    with pytest.raises(ValueError, match=r"layers \['nope'\] not in the model"):
        pooled_features(net, torch.rand(2, 3, 8, 8), ["nope"])
    with pytest.raises(ValueError, match=r"frames must be \(T, 3, h, w\)"):
        pooled_features(net, torch.rand(2, 8, 8), ["fusion"])


def test_pooled_features_are_per_frame_means_in_time_order():
    torch.manual_seed(0)
    net = CompactBasicVSR(channels=8, blocks=1).eval()
    frames = torch.rand(5, 3, 8, 8)
    f = pooled_features(net, frames, ["fusion", "backward_out", "upsample"], chunk=5)
    seen = {}
    net.fusion.register_forward_hook(lambda m, i, o: seen.setdefault("fusion", o))
    with torch.no_grad():
        net(frames[None])
    assert torch.allclose(f["fusion"], seen["fusion"].mean(dim=(-2, -1)))
    assert f["backward_out"].shape == (5, 8) and f["upsample"].shape == (5, 8)


def test_export_and_load_round_trip(tmp_path):
    from ai4m_kit.train.sr import SRConfig, export_model, load_model

    cfg = SRConfig(channels=8, blocks=1)
    torch.manual_seed(0)
    net = CompactBasicVSR(8, 1, 2).eval()
    path = export_model(net, cfg, "blind", tmp_path / "n.pt")
    x = torch.rand(1, 2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_model(path)(x), net(x))
    foreign = tmp_path / "theirs.pt"
    foreign.write_bytes(b"weights of someone else")
    with pytest.raises(ValueError, match="theirs.pt: exists and was not written by ai4m train-sr"):
        export_model(net, cfg, "blind", foreign)
    assert foreign.read_bytes() == b"weights of someone else"
    with pytest.raises(ValueError, match="theirs.pt: not a network file"):
        load_model(foreign)


def test_calinski_harabasz_equals_scikit_learn():
    from sklearn.metrics import calinski_harabasz_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 5)) + np.repeat(np.eye(3, 5) * 3, 30, axis=0)
    labels = np.repeat(["a", "b", "c"], 30)
    assert calinski_harabasz(x, labels) == pytest.approx(calinski_harabasz_score(x, labels), rel=1e-12)
    with pytest.raises(ValueError, match="2 to n-1 clusters"):
        calinski_harabasz(x, np.zeros(90))


def test_knn_accuracy_splits_by_clip():
    rng = np.random.default_rng(0)
    clips = np.repeat(np.arange(8), 20)
    labels = np.tile(np.repeat(["x", "y"], 10), 8)
    separable = rng.normal(size=(160, 3)) + (labels == "x")[:, None] * 5
    assert knn_accuracy(separable, labels, clips) > 0.95
    # features that identify the clip but not the label: no leak through shared clips
    by_clip = clips[:, None] + rng.normal(scale=0.01, size=(160, 3))
    assert knn_accuracy(by_clip, labels, clips) < 0.75
