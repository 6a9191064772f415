"""Backbones for DRLoc: each returns its documented grid and logits, and trains a few steps; Swin's
windows, shift mask and the 2k → k pooling against direct computations; ResNet unchanged."""

import pytest
import torch
import torch.nn.functional as F

from ai4m_kit.models.resnet_small import ResNetSmall
from ai4m_kit.models.transformers import (MODELS, SIZES, SwinBlock, _pool_grid, _unwindows, _windows, build_model)

# (input size, k) for the smoke and demo sizes: patch 4 (ViT), patch 2 + one merge (Swin), stride 2 then
# pooled 2k -> k (CvT, T2T), two stride-2 stages (ResNet)
GRIDS = {28: 7, 32: 8}


@pytest.mark.parametrize("size", ["smoke", "demo"])
@pytest.mark.parametrize("name", MODELS)
def test_grid_and_logits_shapes(name, size):
    for image, k in GRIDS.items():
        torch.manual_seed(0)
        net = build_model(name, num_classes=5, in_channels=3, image_size=image, size=size)
        logits, grid = net.forward_with_grid(torch.randn(2, 3, image, image))
        assert logits.shape == (2, 5)
        assert grid.shape == (2, net.grid_channels, k, k)
        net.eval()
        x0 = torch.randn(1, 3, image, image)
        assert torch.equal(net(x0), net.forward_with_grid(x0)[0]) and torch.equal(net.grid(x0), net.forward_with_grid(x0)[1])


@pytest.mark.parametrize("name", MODELS)
def test_trains_a_few_steps(name):
    torch.manual_seed(0)
    net = build_model(name, num_classes=4, in_channels=1, image_size=28, size="smoke")
    x = torch.randn(16, 1, 28, 28)
    y = torch.arange(16) % 4
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        logits, grid = net.forward_with_grid(x)
        loss = F.cross_entropy(logits, y) + 0.1 * grid.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.75 * losses[0], losses[::5]
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_paper_sizes_give_the_reports_7x7_grid_at_224():
    counts = {}
    for name in ("swin", "cvt", "t2t"):
        net = build_model(name, num_classes=100, in_channels=3, image_size=224, size="paper")
        counts[name] = sum(p.numel() for p in net.parameters()) / 1e6
        with torch.no_grad():
            assert net.grid(torch.zeros(1, 3, 224, 224)).shape[-2:] == (7, 7)
    with torch.no_grad():
        assert build_model("resnet", num_classes=10, in_channels=3, image_size=64, size="paper").grid(
            torch.zeros(1, 3, 64, 64)).shape == (1, 256, 7, 7)  # 16x16 map pooled to 7x7
    assert 26 < counts["swin"] < 30  # Swin-T: 28 M
    assert 18 < counts["cvt"] < 22  # CvT-13: 20 M
    assert 20 < counts["t2t"] < 23  # T2T-ViT-14: 21.5 M


def test_windows_round_trip_and_shift_mask():
    x = torch.arange(2 * 8 * 8 * 3, dtype=torch.float32).reshape(2, 8, 8, 3)
    w = _windows(x, 4)
    assert w.shape == (8, 16, 3)
    assert torch.equal(w[1, :, 0], x[0, :4, 4:8, 0].reshape(-1))  # second window of image 0: top right
    assert torch.equal(_unwindows(w, 4, 2, 8, 8), x)
    blk = SwinBlock(dim=4, heads=1, window=4, shift=2, resolution=8)
    assert blk.mask.shape == (4, 16, 16)
    assert (blk.mask[0] == 0).all()  # the top-left window holds no wrapped cells
    # bottom-right window after the roll: cells from four regions, attention only within a region
    last = blk.mask[3]
    assert (last != 0).any() and torch.equal(last, last.T) and (last.diagonal() == 0).all()
    assert int((last == 0).sum()) == 4 * 4 * 4  # four regions of 2x2 cells, each attending to its own 4


def test_pooling_2k_to_k_is_average_3x3_stride_2_pad_1():
    x = torch.randn(1, 2, 14, 14)
    p = _pool_grid(x)
    assert p.shape == (1, 2, 7, 7)
    assert torch.allclose(p[0, :, 0, 0], x[0, :, :2, :2].sum((-2, -1)) / 9)  # zero padding counted
    assert torch.allclose(p[0, :, 3, 2], x[0, :, 5:8, 3:6].mean((-2, -1)))


def test_resnet_forward_unchanged_and_grid():
    torch.manual_seed(0)
    net = ResNetSmall(num_classes=3, in_channels=1, width=4).eval()
    x = torch.randn(2, 1, 28, 28)
    old = net.head(net.stages(torch.relu(net.norm(net.stem(x)))).mean(dim=(-2, -1)))  # the former forward
    assert torch.equal(net(x), old)
    assert net.feature_grid(x).shape == (2, 16, 7, 7)


def test_errors():
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("deit", num_classes=2, in_channels=1, image_size=28)
    with pytest.raises(ValueError, match="divisible by patch"):
        build_model("vit", num_classes=2, in_channels=1, image_size=30)
    with pytest.raises(ValueError, match="size must be one of"):
        build_model("vit", num_classes=2, in_channels=1, image_size=28, size="huge")
    assert set(SIZES["demo"]) == set(MODELS)
