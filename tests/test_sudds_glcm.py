"""GLCM texture scores against scikit-image, and patch selection inside the frame."""

import math

import numpy as np
import pytest
import torch

from ai4m_kit.video.glcm import PROPERTIES, crop_patches, glcm, glcm_property, quantize, select_patches, tile_grid, tile_scores

skimage_feature = pytest.importorskip("skimage.feature")

ANGLES = (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4)


@pytest.mark.parametrize("levels", [256, 32])
@pytest.mark.parametrize("angle", ANGLES)
def test_glcm_and_properties_equal_scikit_image(levels, angle):
    rng = np.random.default_rng(int(levels + 100 * angle))
    img = rng.integers(0, 256, (19, 23), dtype=np.uint8)
    q = quantize(torch.from_numpy(img), levels).numpy().astype(np.uint8)
    for distance in (1, 5):
        ref = skimage_feature.graycomatrix(q, [distance], [angle], levels=levels, symmetric=True, normed=True)
        P = glcm(torch.from_numpy(img), distance, angle, levels=levels)
        np.testing.assert_allclose(P.numpy(), ref[:, :, 0, 0], rtol=0, atol=1e-12)
        for prop in PROPERTIES:
            want = skimage_feature.graycoprops(ref, prop)[0, 0]
            got = float(glcm_property(P, prop))
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), prop


def test_glcm_not_symmetric_counts_equal_scikit_image():
    img = np.random.default_rng(1).integers(0, 8, (10, 12), dtype=np.uint8)
    ref = skimage_feature.graycomatrix(img, [2], [math.pi / 2], levels=8, symmetric=False, normed=False)
    P = glcm(torch.from_numpy(img * 32), 2, math.pi / 2, levels=8, symmetric=False, normed=False)
    np.testing.assert_array_equal(P.numpy(), ref[:, :, 0, 0])


@pytest.mark.parametrize("prop", PROPERTIES)
def test_tile_scores_equal_scikit_image_per_tile(prop):
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 56), dtype=np.uint8)
    img[:16, :16] = 7  # a flat tile (correlation 1 by scikit-image's rule)
    got = tile_scores(torch.from_numpy(img), 16, prop=prop, distance=5).numpy()
    corners = tile_grid(40, 56, 16).tolist()
    assert len(got) == len(corners) == 2 * 3
    for s, (y, x) in zip(got, corners):
        ref = skimage_feature.graycomatrix(img[y:y + 16, x:x + 16], [5], [0], levels=256, symmetric=True, normed=True)
        assert s == pytest.approx(skimage_feature.graycoprops(ref, prop)[0, 0], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("h,w,p", [(37, 53, 16), (16, 16, 16), (100, 31, 8), (2160, 3840, 224)])
def test_patches_never_cross_the_border(h, w, p):
    corners = tile_grid(h, w, p)
    assert len(corners) == (h // p) * (w // p)
    assert int(corners.min()) >= 0
    assert int((corners[:, 0] + p).max()) <= h and int((corners[:, 1] + p).max()) <= w
    if h * w < 1e6:
        grey = torch.randint(0, 256, (h, w), dtype=torch.uint8)
        sel, scores = select_patches(grey, p, k=1000)
        assert len(sel) == len(corners)
        assert bool((scores[:-1] >= scores[1:]).all())  # descending
        assert crop_patches(grey[None], sel, p).shape == (len(sel), 1, p, p)


def test_top_k_picks_the_textured_tile_and_errors():
    grey = torch.zeros(32, 48, dtype=torch.uint8)
    grey[16:, 32:] = torch.randint(0, 256, (16, 16), dtype=torch.uint8)
    corners, _ = select_patches(grey, 16, 1)
    assert corners.tolist() == [[16, 32]]
    with pytest.raises(ValueError, match="smaller than one 64x64 patch"):
        tile_grid(32, 48, 64)
    with pytest.raises(ValueError, match="crosses"):
        crop_patches(grey[None], torch.tensor([[20, 40]]), 16)
